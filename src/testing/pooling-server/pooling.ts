// POST /pooling (and /invocations): the request read and checked as vLLM's pydantic models and handlers do
// for the imitated version, its prompts rendered and truncated, each pooled by the task, and the answer
// written by encodings.ts.
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  EMBED_DTYPES,
  ENDIANNESSES,
  POOLING_ENCODINGS,
  type EmbedDtype,
  type Endianness,
  type PoolingEncoding,
} from '../../pooling/dtypes.js';
import {
  BOS_TOKEN_ID,
  EOS_TOKEN_ID,
  HASH_VOCAB_SIZE,
  UNK_TOKEN_ID,
  type HashEncoding,
} from '../../embed/hash-embedder.js';
import { writePoolingResponse, type PooledOutput } from './encodings.js';
import { HttpError } from './envelope.js';
import { TASKS, type PoolingTaskName, type ServerState } from './server.js';
import { integer, isRecord, literal, pyStr, typed, validationError, type FieldError } from './validation.js';

/** A /pooling request after validation: what the rest of the handler needs, typed. */
interface PoolingRequest {
  readonly encoding: PoolingEncoding;
  readonly embedDtype: EmbedDtype;
  readonly endianness: Endianness;
  readonly task: PoolingTaskName;
  readonly truncationSide: 'left' | 'right' | null | undefined;
  readonly truncate: number | null | undefined;
  readonly addSpecial: boolean | null | undefined;
  /** `use_activation` (older: `normalize`): the per-row L2 normalisation. */
  readonly activation: boolean;
  readonly input: unknown;
  /** The chat messages of a `messages` request; undefined for `input`. */
  readonly messages: readonly unknown[] | undefined;
  readonly body: Record<string, unknown>;
}

interface Prompt {
  /** Token ids and strings (null strings for token-id prompts). */
  encoding: HashEncoding;
  isText: boolean;
}

/** Whether a body is a pooling request at all (`/invocations` dispatches on this). */
export function isPoolingShaped(body: unknown): boolean {
  return isRecord(body) && ('input' in body || 'messages' in body || 'data' in body);
}

/**
 * Answers one /pooling request: validation (400/404 in vLLM's words), prompts, pooling, and the body in the
 * asked encoding.
 */
export async function pooling(
  state: ServerState,
  body: unknown,
  requestId: string | undefined,
  res: ServerResponse,
): Promise<void> {
  const request = readPoolingRequest(state, body);
  const prompts = renderPrompts(state, request);
  const outputs = prompts.map((p) => pool(state, request.task, p.encoding, request.activation));
  const modern = state.mode === 'newest' || state.mode === 'v0.21';
  await writePoolingResponse(res, {
    id: `${modern ? 'pooling' : 'pool'}-${requestId ?? randomBytes(16).toString('hex')}`,
    model: state.model,
    encoding: request.encoding,
    embedDtype: request.embedDtype,
    endianness: request.endianness,
    outputs,
    promptTokens: prompts.reduce((s, p) => s + p.encoding.ids.length, 0),
  });
}

/**
 * Answers `POST /v1/embeddings` as the imitated vLLM does: an `embed` server (config A) returns one pooled
 * `[dim]` vector per input in OpenAI's shape (`float`, `base64`, and `bytes`/`bytes_only` where the version has
 * them); a `token_embed` server (B, C) answers 501 in single-task versions (v0.21 on), while older multi-task
 * versions still return the dense (CLS) vector.
 */
export async function embeddings(
  state: ServerState,
  body: unknown,
  requestId: string | undefined,
  res: ServerResponse,
): Promise<void> {
  const modern = state.mode === 'newest' || state.mode === 'v0.21';
  if (modern && state.task !== 'embed') {
    throw new HttpError(501, 'NotImplementedError', 'The model does not support Embeddings API');
  }
  // `task` is no field of the embeddings request (ignored); `dimensions` has its own answer below.
  const fields = isRecord(body) ? { ...body } : body;
  let dimensions: unknown;
  if (isRecord(fields)) {
    delete fields['task'];
    dimensions = fields['dimensions'];
    delete fields['dimensions'];
  }
  const request = readPoolingRequest(state, fields);
  if (dimensions !== undefined && dimensions !== null) {
    throw new HttpError(
      400,
      'BadRequestError',
      `Model "${state.model}" does not support matryoshka representation, changing output dimensions will lead to ` +
        'poor results.',
      'dimensions',
    );
  }
  const prompts = renderPrompts(state, request);
  const outputs = prompts.map((p) => pool(state, 'embed', p.encoding, request.activation));
  await writePoolingResponse(res, {
    id: `embd-${requestId ?? randomBytes(16).toString('hex')}`,
    model: state.model,
    encoding: request.encoding,
    embedDtype: request.embedDtype,
    endianness: request.endianness,
    outputs,
    promptTokens: prompts.reduce((s, p) => s + p.encoding.ids.length, 0),
    item: { object: 'embedding', key: 'embedding' },
  });
}

/** Every field checked as the imitated version's pydantic model and handler check it. */
function readPoolingRequest(state: ServerState, body: unknown): PoolingRequest {
  const { mode } = state;
  const legacy = mode === 'v0.10';
  if (!isRecord(body)) {
    throw validationError(state, [
      {
        type: 'model_attributes_type',
        loc: ['body'],
        msg: 'Input should be a valid dictionary or object to extract fields from',
        input: body,
      },
    ]);
  }
  const errors: FieldError[] = [];
  const encodings = POOLING_ENCODINGS.slice(0, legacy ? 2 : mode === 'v0.11' ? 3 : 4);
  const encoding = literal(body, 'encoding_format', encodings, errors) ?? 'float';
  const embedDtype = legacy ? 'float32' : (literal(body, 'embed_dtype', EMBED_DTYPES, errors) ?? 'float32');
  const endianness: Endianness = legacy ? 'native' : (literal(body, 'endianness', ENDIANNESSES, errors) ?? 'native');
  const modern = mode === 'newest' || mode === 'v0.21';
  // `encode`/`score` pass the literal check: newest versions explain their removal, older ones still ran them.
  const task = legacy ? undefined : literal(body, 'task', [...TASKS, 'encode', 'score'], errors);
  if (mode === 'newest') {
    literal(body, 'truncation_side', ['left', 'right'], errors);
    literal(body, 'padding', ['max_length', 'do_not_pad'], errors);
  }
  const truncationSide =
    mode === 'newest' ? (body['truncation_side'] as 'left' | 'right' | null | undefined) : undefined;
  const modelName = typed(body, 'model', 'string', errors);
  typed(body, 'user', 'string', errors);
  typed(body, 'request_id', 'string', errors);
  const truncate = integer(body, 'truncate_prompt_tokens', -1, errors);
  const dimensions = integer(body, 'dimensions', undefined, errors);
  const priority = integer(body, 'priority', undefined, errors);
  const addSpecial = typed(body, 'add_special_tokens', 'boolean', errors);
  const useActivation = legacy ? undefined : typed(body, 'use_activation', 'boolean', errors);
  const normalize = typed(body, 'normalize', 'boolean', errors);
  const hasInput = 'input' in body;
  const hasMessages = !hasInput && 'messages' in body;
  const hasData = !hasInput && !hasMessages && 'data' in body && !legacy;
  if (!hasInput && !hasMessages && !hasData) {
    errors.push({ type: 'missing', loc: ['body', 'input'], msg: 'Field required', input: body });
  }
  let messages: unknown[] | undefined;
  if (hasMessages) {
    if (!Array.isArray(body['messages'])) {
      errors.push({
        type: 'list_type',
        loc: ['body', 'messages'],
        msg: 'Input should be a valid list',
        input: body['messages'],
      });
    } else {
      messages = body['messages'];
    }
    typed(body, 'add_generation_prompt', 'boolean', errors);
    typed(body, 'continue_final_message', 'boolean', errors);
  }
  const input = hasInput ? body['input'] : undefined;
  if (hasInput && !isValidInput(input)) {
    errors.push({
      type: 'union_type',
      loc: ['body', 'input'],
      msg: 'Input should be a valid string, a list of strings, a list of integers or a list of lists of integers',
      input,
    });
  }
  if (errors.length > 0) throw validationError(state, errors);

  if (mode === 'newest' && normalize !== undefined && normalize !== null) {
    throw new HttpError(
      400,
      'BadRequestError',
      'Parameter `normalize` was removed; use `use_activation` instead.',
      'normalize',
    );
  }
  if (modern && (task === 'encode' || task === 'score')) {
    throw new HttpError(
      400,
      'BadRequestError',
      task === 'encode'
        ? '`encode` task was removed; use `token_embed` or `token_classify` instead.'
        : '`score` task was removed; use `classify` instead.',
      'task',
    );
  }
  if (typeof modelName === 'string' && modelName !== '' && modelName !== state.model) {
    throw new HttpError(404, 'NotFoundError', `The model \`${modelName}\` does not exist.`, 'model');
  }
  if (hasData) {
    throw new HttpError(
      400,
      'BadRequestError',
      'No IOProcessor plugin installed. Please refer to the documentation and install a plugin.',
    );
  }
  if (dimensions !== undefined && dimensions !== null) {
    throw new HttpError(400, 'BadRequestError', 'dimensions is currently not supported', 'dimensions');
  }
  if (priority !== undefined && priority !== null && priority !== 0) {
    throw new HttpError(
      400,
      'BadRequestError',
      `Got priority ${priority} but Priority scheduling is not enabled.`,
      'priority',
    );
  }
  const effectiveTask = resolveTask(state, task ?? null);

  // `use_activation` (older: `normalize`) switches the per-row L2 normalisation.
  const activation = useActivation ?? (mode === 'newest' ? undefined : normalize) ?? true;
  return {
    encoding,
    embedDtype,
    endianness,
    task: effectiveTask,
    truncationSide,
    truncate,
    addSpecial,
    activation: activation === true,
    input,
    messages: hasMessages ? (messages ?? []) : undefined,
    body,
  };
}

/** The request's prompts, tokenised, truncated as asked and checked against the context length. */
function renderPrompts(state: ServerState, request: PoolingRequest): Prompt[] {
  const { mode } = state;
  const modern = mode === 'newest' || mode === 'v0.21';
  const { body, input, messages, addSpecial, truncate, truncationSide } = request;
  let textPrompts: string[] = [];
  let idPrompts: number[][] = [];
  let addSpecialTokens: boolean;
  if (messages !== undefined) {
    if (body['add_generation_prompt'] === true && body['continue_final_message'] === true) {
      throw new HttpError(
        400,
        'BadRequestError',
        'Cannot set both `continue_final_message` and `add_generation_prompt` to True.',
      );
    }
    if (body['chat_template'] !== undefined && body['chat_template'] !== null) {
      throw new HttpError(
        400,
        'BadRequestError',
        'Chat template is passed with request, but --trust-request-chat-template is not set. Refused request ' +
          'with untrusted chat template.',
      );
    }
    textPrompts = [renderMessages(messages)];
    addSpecialTokens = addSpecial ?? false;
  } else {
    addSpecialTokens = addSpecial ?? true;
    if (typeof input === 'string') textPrompts = [input];
    else if (Array.isArray(input)) {
      if (input.length === 0) throw new HttpError(400, 'BadRequestError', 'You must pass at least one prompt', 'input');
      if (typeof input[0] === 'number') idPrompts = [input as number[]];
      else {
        if (mode === 'newest' && input.length > state.maxPrompts) {
          throw new HttpError(
            400,
            'BadRequestError',
            `input list length ${input.length} exceeds the maximum allowed count of ${state.maxPrompts}. To ` +
              'increase this limit, set the VLLM_MAX_COMPLETION_PROMPTS environment variable.',
            'input',
          );
        }
        if (typeof input[0] === 'string') textPrompts = input as string[];
        else idPrompts = input as number[][];
      }
    }
  }

  if (truncate !== undefined && truncate !== null && truncate > state.maxModelLen) {
    throw new HttpError(
      400,
      'BadRequestError',
      'truncate_prompt_tokens value is greater than max_model_len. Please request a smaller truncation size.',
      'truncate_prompt_tokens',
    );
  }
  const keep = truncate === undefined || truncate === null ? undefined : truncate === -1 ? state.maxModelLen : truncate;
  const rendered: Prompt[] = [];
  for (const text of textPrompts) {
    rendered.push({ encoding: state.embedder.encode(text, { addSpecialTokens }), isText: true });
  }
  for (const ids of idPrompts) {
    for (const id of ids) {
      if (id >= HASH_VOCAB_SIZE) {
        throw new HttpError(400, 'BadRequestError', `Token id ${id} is out of vocabulary`, 'input');
      }
    }
    rendered.push({ encoding: { ids, tokens: ids.map(() => null) }, isText: false });
  }
  for (const p of rendered) {
    if (keep !== undefined)
      p.encoding = truncateEncoding(p.encoding, keep, truncationSide === 'left', p.isText && addSpecialTokens);
    const n = p.encoding.ids.length;
    if (n === 0) throw new HttpError(400, 'BadRequestError', 'The prompt cannot be empty', 'input');
    if (n > state.maxModelLen) {
      throw modern
        ? new HttpError(
            400,
            'BadRequestError',
            `You passed ${n} input tokens and requested 0 output tokens. However, the model's context length is ` +
              `only ${state.maxModelLen} tokens, resulting in a maximum input length of ${state.maxModelLen} ` +
              'tokens. Please reduce the length of the input prompt.',
            'input_tokens',
          )
        : new HttpError(
            400,
            'BadRequestError',
            `This model's maximum context length is ${state.maxModelLen} tokens. However, you requested ${n} ` +
              'tokens in the input for embedding generation. Please reduce the length of the input.',
          );
    }
  }
  return rendered;
}

/** The `input` union: a string, strings, token ids, or lists of token ids. */
function isValidInput(input: unknown): boolean {
  if (typeof input === 'string') return true;
  if (!Array.isArray(input)) return false;
  if (input.length === 0) return true;
  const isId = (x: unknown): boolean => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  if (input.every((x) => typeof x === 'string')) return true;
  if (input.every(isId)) return true;
  return input.every((x) => Array.isArray(x) && x.every(isId));
}

/** The stand-in's "chat template": the text parts of every message, one per line (BGE-M3 itself has none). */
export function renderMessages(messages: readonly unknown[]): string {
  const lines: string[] = [];
  for (const m of messages) {
    if (!isRecord(m)) {
      throw new HttpError(
        400,
        'BadRequestError',
        'Each message must be an object with `role` and `content`',
        'messages',
      );
    }
    const content = m['content'];
    if (typeof content === 'string') lines.push(content);
    else if (Array.isArray(content)) {
      for (const part of content) {
        if (isRecord(part) && part['type'] === 'text' && typeof part['text'] === 'string') lines.push(part['text']);
        else if (isRecord(part) && typeof part['type'] === 'string' && part['type'] !== 'text') {
          throw new HttpError(
            400,
            'BadRequestError',
            `Content part type '${part['type']}' is not supported by this text-only model`,
            'messages',
          );
        }
      }
    }
  }
  return lines.join('\n');
}

/** The task that runs: the request's, checked against the server's by the imitated version's rule. */
function resolveTask(state: ServerState, task: string | null): PoolingTaskName {
  const { mode, supported } = state;
  const unsupported = (t: string): HttpError =>
    new HttpError(
      400,
      'BadRequestError',
      `Unsupported task: ${pyStr(t)} Supported tasks: (${supported.map(pyStr).join(', ')})`,
      'task',
    );
  if (mode === 'v0.10') return 'token_embed'; // the old `encode` behaviour: one row per token
  if (mode === 'v0.11' || mode === 'v0.13') {
    // v0.11.1-era rule: no task → token_embed if supported; any supported task runs.
    if (task === null || task === 'encode') return 'token_embed';
    if (task === 'plugin') throw noPlugin();
    if ((supported as readonly string[]).includes(task)) return task as PoolingTaskName;
    throw unsupported(task);
  }
  if (task === null || task === state.task) return state.task;
  if (task === 'plugin') throw noPlugin();
  if ((supported as readonly string[]).includes(task)) {
    throw new HttpError(
      400,
      'BadRequestError',
      `Try switching the model's pooling_task via --pooler-config.task ${task}.`,
      'task',
    );
  }
  throw unsupported(task);
}

function noPlugin(): HttpError {
  return new HttpError(
    400,
    'BadRequestError',
    'No IOProcessor plugin installed. Please refer to the documentation and install a plugin.',
    'task',
  );
}

/** Keeps `keep` tokens from the left or the right, specials kept. */
function truncateEncoding(enc: HashEncoding, keep: number, left: boolean, specials: boolean): HashEncoding {
  const n = enc.ids.length;
  if (n <= keep) return enc;
  // Like a Hugging Face tokenizer with truncation: specials stay, the text between them is cut.
  if (specials && keep >= 2) {
    const inner = keep - 2;
    const from = left ? n - 1 - inner : 1;
    const pick = <T>(a: readonly T[]): T[] => [a[0]!, ...a.slice(from, from + inner), a[n - 1]!];
    return { ids: pick(enc.ids), tokens: pick(enc.tokens) };
  }
  const from = left ? n - keep : 0;
  return { ids: enc.ids.slice(from, from + keep), tokens: enc.tokens.slice(from, from + keep) };
}

/** One prompt's output for the task: CLS vector, per-token rows, or sparse weights. */
function pool(state: ServerState, task: PoolingTaskName, enc: HashEncoding, activation: boolean): PooledOutput {
  const { embedder } = state;
  const m = embedder.embedEncoding(enc, { normalize: activation });
  const dim = m.dim;
  switch (task) {
    case 'embed':
      // CLS pooling: the first token's row (`<s>` when specials were added).
      return { values: m.data.slice(0, dim), shape: [dim] };
    case 'token_classify': {
      // BGE-M3's sparse head: one ReLU weight per token, `<s>` and `</s>` filtered.
      const probe = embedder.embedTokenIds([UNK_TOKEN_ID]).data;
      const weights: number[] = [];
      for (let r = 0; r < m.rows; r++) {
        const id = enc.ids[r]!;
        if (id === BOS_TOKEN_ID || id === EOS_TOKEN_ID) continue;
        let dot = 0;
        for (let c = 0; c < dim; c++) dot += m.data[r * dim + c]! * probe[c]!;
        weights.push(Math.max(0, dot));
      }
      return { values: Float32Array.from(weights), shape: [weights.length, 1] };
    }
    default: {
      // token_embed. Config C (BgeM3EmbeddingModel) filters only the leading BOS row.
      const skip = state.config === 'C' && enc.ids[0] === BOS_TOKEN_ID ? 1 : 0;
      return { values: m.data.slice(skip * dim), shape: [m.rows - skip, dim] };
    }
  }
}
