// A local stand-in for vLLM's OpenAI-compatible server, limited to what a /pooling client touches: POST /pooling
// (and /invocations), /tokenize, /v1/models, /health. It speaks the wire format of ../shared/specs/vllm-pooling.md
// (request variants, validation errors, task rules per vLLM version, float/base64/bytes/bytes_only with every
// embed_dtype and endianness, error envelopes) and computes the vectors with the lexical hashing embedder. It is
// the test server for the client and a way to run the pipeline without a GPU. Node only (node:http).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { encodeEmbedDtype, type ByteOrder, type EmbedDtype } from '../pooling/encode.js';
import { InvalidArgumentError } from '../core/errors.js';
import {
  BOS_TOKEN_ID,
  EOS_TOKEN_ID,
  HASH_VOCAB_SIZE,
  UNK_TOKEN_ID,
  createHashEmbedder,
  type HashEmbedder,
  type HashEncoding,
} from '../embed/hash-embedder.js';
import { listen } from '../node/serve.js';

/**
 * Which vLLM release the server imitates (spec §0):
 * - `'newest'`: vLLM main. Nested errors, id prefix `pooling-`, float/base64/bytes/bytes_only, strict task rule
 *   (a task other than the server's → 400), `normalize` → 400, `encode`/`score` → removal message, at most
 *   `maxPrompts` (1024) prompts per request, `truncation_side`/`padding` fields.
 * - `'v0.21'`: v0.21 up to the newest validators: as `'newest'` but `normalize` is still an alias of
 *   `use_activation`, no prompt-count cap, no `truncation_side`/`padding`.
 * - `'v0.13'`: v0.13 – v0.18. Id prefix `pool-`; a missing task means `token_embed` (so config A answers like B,
 *   which is what vLLM's `multi_vector_retrieval_client.py` was written against); any supported task runs;
 *   `bytes_only` exists.
 * - `'v0.11'`: v0.11.1 – v0.12: as `'v0.13'` without `bytes_only`.
 * - `'v0.10'`: v0.10.0 and earlier: flat error envelope `{"object":"error",...}`, only float/base64, base64 always
 *   float32 in the server's (little-endian) order; `task`, `embed_dtype`, `endianness`, `use_activation` are
 *   unknown fields (ignored).
 */
export type PoolingServerMode = 'newest' | 'v0.21' | 'v0.13' | 'v0.11' | 'v0.10';

/**
 * Which `vllm serve BAAI/bge-m3 …` command the server imitates (spec §5.1):
 * - `'A'`: `vllm serve BAAI/bge-m3`: server task `embed`, one CLS vector `[dim]` per input (v0.21+; older modes
 *   answer a task-less request with every token, as B).
 * - `'B'`: `… --pooler-config.task token_embed`: every token's row, `<s>` and `</s>` included (rows ==
 *   prompt tokens).
 * - `'C'`: `… --hf-overrides '{"architectures":["BgeM3EmbeddingModel"]}' --pooler-config.task token_embed`:
 *   BGE-M3's ColBERT layout, the leading `<s>` row dropped, `</s>` kept (rows == prompt tokens − 1). The
 *   stand-in has no colbert_linear head: the rows are B's rows minus the first.
 */
export type PoolingServerConfig = 'A' | 'B' | 'C';

/** vLLM's pooling task names. */
export type PoolingTaskName = 'embed' | 'classify' | 'token_embed' | 'token_classify' | 'plugin' | 'embed&token_classify';

/** One request as the server saw it, for tests to assert what a client sent. */
export interface PoolingServerRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** Lower-cased header names; `authorization` is left out so keys never reach logs. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed JSON body; the raw text when it is not JSON; `undefined` when empty. */
  readonly body: unknown;
  /** Milliseconds since the epoch. */
  readonly receivedAt: number;
}

/**
 * A scripted failure for tests: the next `times` matching requests get this answer instead of the real one.
 * By default it matches POST /pooling and /invocations.
 */
export interface PoolingServerFault {
  /** HTTP status. Default 503. */
  readonly status?: number;
  /** Response body: an object is sent as JSON, a string as is. Default: vLLM's error envelope for `status`. */
  readonly body?: string | object;
  readonly headers?: Readonly<Record<string, string>>;
  /** Value of a `Retry-After` header (seconds, or an HTTP date). */
  readonly retryAfter?: number | string;
  /** How many requests it applies to. Default 1. */
  readonly times?: number;
  /** Never answer (for timeout and abort tests); the socket is closed by `close()`. */
  readonly hang?: boolean;
  /** Destroy the connection without an answer (a connection error for the client). */
  readonly reset?: boolean;
  /** Which requests it applies to. Default: POST to /pooling or /invocations. */
  readonly match?: (request: PoolingServerRequest) => boolean;
}

/** Options for {@link startPoolingServer}. */
export interface PoolingServerOptions {
  /** TCP port; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Embedding width. Default 1024 (BGE-M3). */
  readonly dim?: number;
  /** Served model name (what `model` must equal, and what responses name). Default `BAAI/bge-m3`. */
  readonly model?: string;
  /** Default `'newest'`. */
  readonly mode?: PoolingServerMode;
  /** Default `'B'` (every token's row, the layout multi-vector clients expect). */
  readonly config?: PoolingServerConfig;
  /** Longest prompt in tokens (vLLM's max_model_len). Default 8192. */
  readonly maxModelLen?: number;
  /** When set, every route but /health and /ping needs `Authorization: Bearer <apiKey>` (401 otherwise). */
  readonly apiKey?: string;
  /** vLLM's `VLLM_MAX_COMPLETION_PROMPTS`, enforced in `'newest'` mode. Default 1024. */
  readonly maxPrompts?: number;
  /** Seed of the hashing embedder. Default 0. */
  readonly seed?: number;
  /** Use this embedder instead of a hashing embedder of width `dim`. */
  readonly embedder?: HashEmbedder;
  /** Failures to serve first, in order (more can be added with `server.addFault`). */
  readonly faults?: readonly PoolingServerFault[];
  /** Milliseconds to wait before answering a request (e.g. by its first input, to reorder batch completions). */
  readonly delayMs?: (request: PoolingServerRequest) => number;
  /** Keep every request in `server.requests`. Default true. */
  readonly logRequests?: boolean;
}

/** A running server made by {@link startPoolingServer}. */
export interface PoolingServer {
  /** Base URL, e.g. `http://127.0.0.1:41235` (no trailing slash; POST `${url}/pooling`). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly model: string;
  readonly dim: number;
  readonly mode: PoolingServerMode;
  readonly config: PoolingServerConfig;
  readonly maxModelLen: number;
  /** The pooling task the server was "started with" (`embed` for config A, else `token_embed`). */
  readonly task: PoolingTaskName;
  readonly embedder: HashEmbedder;
  /** Requests received so far (when `logRequests` is on), oldest first. */
  readonly requests: PoolingServerRequest[];
  /** Queues a scripted failure after those already queued. */
  addFault(fault: PoolingServerFault): void;
  /** Empties `requests`. */
  clearRequests(): void;
  /** Stops listening and drops open connections (including hung ones). Idempotent. */
  close(): Promise<void>;
}

/** What `vllm serve` command each configuration stands for (for logs and the CLI banner). */
export const POOLING_SERVER_CONFIG_COMMANDS: Readonly<Record<PoolingServerConfig, string>> = {
  A: 'vllm serve BAAI/bge-m3',
  B: 'vllm serve BAAI/bge-m3 --pooler-config.task token_embed',
  C:
    'vllm serve BAAI/bge-m3 --hf-overrides \'{"architectures":["BgeM3EmbeddingModel"]}\' ' +
    '--pooler-config.task token_embed',
};

const MODES: readonly PoolingServerMode[] = ['newest', 'v0.21', 'v0.13', 'v0.11', 'v0.10'];
const CONFIGS: readonly PoolingServerConfig[] = ['A', 'B', 'C'];
const TASKS: readonly PoolingTaskName[] = [
  'embed',
  'classify',
  'token_embed',
  'token_classify',
  'plugin',
  'embed&token_classify',
];
const DTYPES: readonly EmbedDtype[] = ['float32', 'float16', 'bfloat16', 'fp8_e4m3', 'fp8_e5m2'];
const ENDIANNESS = ['native', 'big', 'little'] as const;
type Endianness = (typeof ENDIANNESS)[number];
type Encoding = 'float' | 'base64' | 'bytes' | 'bytes_only';
const NATIVE_ORDER: ByteOrder = 'little';

/**
 * Starts a local HTTP server that answers like vLLM's `/pooling` for BGE-M3, computing vectors with the
 * lexical hashing embedder (so scores reward word overlap; it is not a neural model). Resolves once it listens.
 *
 * @example
 * const server = await startPoolingServer({ dim: 128, config: 'C' });
 * const res = await fetch(`${server.url}/pooling`, {
 *   method: 'POST', headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ input: ['Hello, my name is'] }),
 * });
 * const body = await res.json(); // body.data[0].data: [rows][128], rows = usage.prompt_tokens - 1
 * await server.close();
 */
export async function startPoolingServer(options: PoolingServerOptions = {}): Promise<PoolingServer> {
  const mode = options.mode ?? 'newest';
  const config = options.config ?? 'B';
  const host = options.host ?? '127.0.0.1';
  const model = options.model ?? 'BAAI/bge-m3';
  const maxModelLen = options.maxModelLen ?? 8192;
  const maxPrompts = options.maxPrompts ?? 1024;
  if (!MODES.includes(mode)) {
    throw new InvalidArgumentError(`startPoolingServer: mode is ${JSON.stringify(mode)}, expected one of ${MODES.join(', ')}`);
  }
  if (!CONFIGS.includes(config)) {
    throw new InvalidArgumentError(`startPoolingServer: config is ${JSON.stringify(config)}, expected A, B or C`);
  }
  if (!Number.isInteger(maxModelLen) || maxModelLen < 1) {
    throw new InvalidArgumentError(`startPoolingServer: maxModelLen is ${String(maxModelLen)}, expected an integer >= 1`);
  }
  if (!Number.isInteger(maxPrompts) || maxPrompts < 1) {
    throw new InvalidArgumentError(`startPoolingServer: maxPrompts is ${String(maxPrompts)}, expected an integer >= 1`);
  }
  if (model === '') throw new InvalidArgumentError('startPoolingServer: model must be a non-empty name');
  const embedder =
    options.embedder ??
    createHashEmbedder({
      dim: options.dim ?? 1024,
      ...(options.seed === undefined ? {} : { seed: options.seed }),
    });
  if (options.embedder !== undefined && options.dim !== undefined && options.dim !== embedder.dim) {
    throw new InvalidArgumentError(
      `startPoolingServer: dim ${options.dim} differs from the given embedder's dim ${embedder.dim}; pass one`,
    );
  }
  const state: ServerState = {
    mode,
    config,
    model,
    maxModelLen,
    maxPrompts,
    embedder,
    task: config === 'A' ? 'embed' : 'token_embed',
    supported: config === 'C' ? ['embed', 'token_embed', 'token_classify'] : ['embed', 'token_embed'],
    apiKey: options.apiKey,
    faults: (options.faults ?? []).map((f) => ({ fault: f, left: f.times ?? 1 })),
    delayMs: options.delayMs,
    logRequests: options.logRequests ?? true,
    requests: [],
    created: Math.floor(Date.now() / 1000),
  };

  const server = createServer((req, res) => {
    handle(state, req, res).catch((err: unknown) => {
      // A bug in the stand-in must still answer like vLLM's catch-all (500), never hang the client.
      if (!res.headersSent) {
        sendError(state, res, new HttpError(500, 'InternalServerError', `Internal server error: ${String(err)}`));
      } else {
        res.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
  const { url, port } = await listen(server, options.port ?? 0, host);
  let closing: Promise<void> | undefined;
  return {
    url,
    host,
    port,
    model,
    dim: embedder.dim,
    mode,
    config,
    maxModelLen,
    task: state.task,
    embedder,
    requests: state.requests,
    addFault: (fault) => {
      state.faults.push({ fault, left: fault.times ?? 1 });
    },
    clearRequests: () => {
      state.requests.length = 0;
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

interface ServerState {
  readonly mode: PoolingServerMode;
  readonly config: PoolingServerConfig;
  readonly model: string;
  readonly maxModelLen: number;
  readonly maxPrompts: number;
  readonly embedder: HashEmbedder;
  readonly task: PoolingTaskName;
  readonly supported: readonly PoolingTaskName[];
  readonly apiKey: string | undefined;
  readonly faults: { fault: PoolingServerFault; left: number }[];
  readonly delayMs: ((request: PoolingServerRequest) => number) | undefined;
  readonly logRequests: boolean;
  readonly requests: PoolingServerRequest[];
  readonly created: number;
}

/** An error answer: rendered as vLLM's envelope for the server's mode. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

async function handle(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const method = req.method ?? 'GET';
  const raw = await readBody(req);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k === 'authorization' || v === undefined) continue;
    headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  let parsed: unknown;
  let jsonError: string | undefined;
  if (raw.length > 0) {
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      jsonError = err instanceof Error ? err.message : String(err);
      parsed = raw;
    }
  }
  const entry: PoolingServerRequest = { method, path, headers, body: parsed, receivedAt: Date.now() };
  if (state.logRequests) state.requests.push(entry);

  const fault = takeFault(state, entry);
  if (fault !== undefined) {
    if (fault.hang === true) return;
    if (fault.reset === true) {
      req.socket.destroy();
      return;
    }
    const delay = state.delayMs?.(entry) ?? 0;
    if (delay > 0) await sleep(delay);
    sendFault(state, res, fault);
    return;
  }
  const delay = state.delayMs?.(entry) ?? 0;
  if (delay > 0) await sleep(delay);

  if (state.apiKey !== undefined && path !== '/health' && path !== '/ping') {
    if (req.headers.authorization !== `Bearer ${state.apiKey}`) {
      sendJson(res, 401, { error: 'Unauthorized' });
      return;
    }
  }
  const requestId = headerValue(req, 'x-request-id');
  if (requestId !== undefined) res.setHeader('X-Request-Id', requestId);

  try {
    switch (path) {
      case '/health':
        if (method !== 'GET') throw methodNotAllowed();
        res.writeHead(200, { 'content-length': '0' });
        res.end();
        return;
      case '/ping':
        if (method !== 'GET' && method !== 'POST') throw methodNotAllowed();
        res.writeHead(200, { 'content-length': '0' });
        res.end();
        return;
      case '/v1/models':
        if (method !== 'GET') throw methodNotAllowed();
        sendJson(res, 200, modelList(state));
        return;
      case '/tokenize':
        if (method !== 'POST') throw methodNotAllowed();
        checkJsonRequest(state, req, jsonError);
        sendJson(res, 200, tokenize(state, parsed));
        return;
      case '/pooling':
      case '/invocations': {
        if (method !== 'POST') throw methodNotAllowed();
        checkJsonRequest(state, req, jsonError);
        if (path === '/invocations' && !isPoolingShaped(parsed)) {
          throw validationError(state, [
            {
              type: 'value_error',
              loc: ['body'],
              msg: 'Cannot find a suitable handler for the request: this server only serves pooling requests ' +
                '(a body with `input`, `messages` or `data`)',
              input: parsed,
            },
          ]);
        }
        await pooling(state, parsed, requestId, res);
        return;
      }
      default:
        sendJson(res, 404, { detail: 'Not Found' });
        return;
    }
  } catch (err) {
    if (err instanceof HttpError) {
      if (err.type === '__detail__') sendJson(res, err.status, { detail: err.message });
      else sendError(state, res, err);
      return;
    }
    throw err;
  }
}

function methodNotAllowed(): HttpError {
  return new HttpError(405, '__detail__', 'Method Not Allowed');
}

function takeFault(state: ServerState, entry: PoolingServerRequest): PoolingServerFault | undefined {
  for (let i = 0; i < state.faults.length; i++) {
    const slot = state.faults[i]!;
    const matches =
      slot.fault.match?.(entry) ??
      (entry.method === 'POST' && (entry.path === '/pooling' || entry.path === '/invocations'));
    if (!matches) continue;
    slot.left--;
    if (slot.left <= 0) state.faults.splice(i, 1);
    return slot.fault;
  }
  return undefined;
}

function sendFault(state: ServerState, res: ServerResponse, fault: PoolingServerFault): void {
  const status = fault.status ?? 503;
  const headers: Record<string, string> = { ...fault.headers };
  if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
  if (fault.body === undefined) {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    sendError(state, res, new HttpError(status, errorTypeFor(status), `Injected failure (HTTP ${status})`));
    return;
  }
  const text = typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
  const hasType = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
  if (!hasType) headers['content-type'] = typeof fault.body === 'string' ? 'text/plain' : 'application/json';
  headers['content-length'] = String(Buffer.byteLength(text));
  res.writeHead(status, headers);
  res.end(text);
}

function errorTypeFor(status: number): string {
  switch (status) {
    case 400:
      return 'BadRequestError';
    case 404:
      return 'NotFoundError';
    case 422:
      return 'UnprocessableEntityError';
    case 501:
      return 'NotImplementedError';
    case 503:
      return 'ServiceUnavailableError';
    default:
      return status >= 500 ? 'InternalServerError' : 'BadRequestError';
  }
}

function sendError(state: ServerState, res: ServerResponse, err: HttpError): void {
  const info = { message: err.message, type: err.type, param: err.param, code: err.status };
  // v0.10.1 (PR #22099) nested the OpenAI error object; before that it was flat with `object: "error"`.
  sendJson(res, err.status, state.mode === 'v0.10' ? { object: 'error', ...info } : { error: info });
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------------------------
// Validation errors, shaped like vLLM's RequestValidationError handler: status 400, message
// "<n> validation error(s):\n  {python repr of each pydantic error}", param = dotted location.

interface FieldError {
  readonly type: string;
  readonly loc: readonly (string | number)[];
  readonly msg: string;
  readonly input: unknown;
  readonly ctx?: Readonly<Record<string, string>>;
}

function validationError(state: ServerState, errors: readonly (FieldError | string)[]): HttpError {
  const shown = errors.slice(0, 10).map((e) => {
    const text = typeof e === 'string' ? e : pyRepr(errorRecord(e));
    return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
  });
  const n = errors.length;
  const message = `${n} validation error${n === 1 ? '' : 's'}:\n  ${shown.join('\n  ')}`;
  const first = errors[0];
  const param = first === undefined || typeof first === 'string' ? null : first.loc.join('.');
  return new HttpError(400, state.mode === 'newest' ? 'Bad Request' : 'BadRequestError', message, param);
}

function errorRecord(e: FieldError): PyValue {
  const input = typeof e.input === 'string' && e.input.length > 200 ? `${e.input.slice(0, 200)}…` : e.input;
  const rec: Record<string, PyValue> = {
    type: e.type,
    loc: { tuple: e.loc.map((x) => x) },
    msg: e.msg,
    input: toPy(input),
  };
  if (e.ctx !== undefined) rec['ctx'] = { ...e.ctx };
  return rec;
}

type PyValue = string | number | boolean | null | PyValue[] | { tuple: PyValue[] } | { [k: string]: PyValue };

function toPy(v: unknown): PyValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.slice(0, 20).map(toPy);
  if (typeof v === 'object') {
    const out: Record<string, PyValue> = {};
    for (const [k, x] of Object.entries(v as object).slice(0, 20)) out[k] = toPy(x);
    return out;
  }
  return String(v);
}

/** Python's `repr` for the values pydantic errors hold (str quotes, True/False/None, tuples). */
function pyRepr(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyFloat(v);
  if (typeof v === 'string') return pyStr(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if ('tuple' in v && Array.isArray(v['tuple'])) {
    const items = (v['tuple'] as PyValue[]).map(pyRepr);
    return `(${items.join(', ')}${items.length === 1 ? ',' : ''})`;
  }
  return `{${Object.entries(v)
    .map(([k, x]) => `${pyStr(k)}: ${pyRepr(x)}`)
    .join(', ')}}`;
}

function pyFloat(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  return String(v);
}

function pyStr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch < ' ') out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** Pydantic's wording for a literal set: `'a', 'b' or 'c'`. */
function expectedLiterals(values: readonly string[]): string {
  const quoted = values.map((v) => `'${v}'`);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]!}`;
}

function checkJsonRequest(state: ServerState, req: IncomingMessage, jsonError: string | undefined): void {
  const type = (headerValue(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw validationError(state, ["Unsupported Media Type: Only 'application/json' is allowed"]);
  }
  if (jsonError !== undefined) {
    throw validationError(state, [
      { type: 'json_invalid', loc: ['body'], msg: 'JSON decode error', input: {}, ctx: { error: jsonError } },
    ]);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// /pooling

interface Prompt {
  /** Token ids and strings (null strings for token-id prompts). */
  encoding: HashEncoding;
  isText: boolean;
}

function isPoolingShaped(body: unknown): boolean {
  return isRecord(body) && ('input' in body || 'messages' in body || 'data' in body);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function pooling(
  state: ServerState,
  body: unknown,
  requestId: string | undefined,
  res: ServerResponse,
): Promise<void> {
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
  const encodings: Encoding[] = legacy
    ? ['float', 'base64']
    : mode === 'v0.11'
      ? ['float', 'base64', 'bytes']
      : ['float', 'base64', 'bytes', 'bytes_only'];
  const encoding = literal(body, 'encoding_format', encodings, errors) ?? 'float';
  const embedDtype = legacy ? 'float32' : (literal(body, 'embed_dtype', DTYPES, errors) ?? 'float32');
  const endianness: Endianness = legacy ? 'native' : (literal(body, 'endianness', ENDIANNESS, errors) ?? 'native');
  const modern = mode === 'newest' || mode === 'v0.21';
  // `encode`/`score` pass the literal check: newest versions explain their removal, older ones still ran them.
  const task = legacy ? undefined : literal(body, 'task', [...TASKS, 'encode', 'score'], errors);
  if (mode === 'newest') {
    literal(body, 'truncation_side', ['left', 'right'], errors);
    literal(body, 'padding', ['max_length', 'do_not_pad'], errors);
  }
  const truncationSide = mode === 'newest' ? (body['truncation_side'] as 'left' | 'right' | null | undefined) : undefined;
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
      errors.push({ type: 'list_type', loc: ['body', 'messages'], msg: 'Input should be a valid list', input: body['messages'] });
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
    throw new HttpError(400, 'BadRequestError', 'Parameter `normalize` was removed; use `use_activation` instead.', 'normalize');
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
    throw new HttpError(400, 'BadRequestError', `Got priority ${priority} but Priority scheduling is not enabled.`, 'priority');
  }
  const effectiveTask = resolveTask(state, task ?? null);

  // Prompts.
  let textPrompts: string[] = [];
  let idPrompts: number[][] = [];
  let addSpecialTokens: boolean;
  if (hasMessages) {
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
    textPrompts = [renderMessages(messages ?? [])];
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
    if (keep !== undefined) p.encoding = truncateEncoding(p.encoding, keep, truncationSide === 'left', p.isText && addSpecialTokens);
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

  // Pooling. `use_activation` (older: `normalize`) switches the per-row L2 normalisation.
  const activation = useActivation ?? (mode === 'newest' ? undefined : normalize) ?? true;
  const outputs = rendered.map((p) => pool(state, effectiveTask, p.encoding, activation === true));
  const promptTokens = rendered.reduce((s, p) => s + p.encoding.ids.length, 0);
  const id = `${modern ? 'pooling' : 'pool'}-${requestId ?? randomBytes(16).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);
  const order: ByteOrder = endianness === 'native' ? NATIVE_ORDER : endianness;

  if (encoding === 'float' || encoding === 'base64') {
    const usage = { prompt_tokens: promptTokens, total_tokens: promptTokens, completion_tokens: 0, prompt_tokens_details: null };
    const parts: string[] = [];
    outputs.forEach((out, index) => {
      const data =
        encoding === 'float'
          ? floatJson(out)
          : JSON.stringify(Buffer.from(encodeEmbedDtype(out.values, embedDtype, order)).toString('base64'));
      parts.push(`{"index":${index},"object":"pooling","data":${data}}`);
    });
    const head = JSON.stringify({ id, object: 'list', created, model: state.model });
    const text = `${head.slice(0, -1)},"data":[${parts.join(',')}],"usage":${JSON.stringify(usage)}}`;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
    return;
  }

  const chunks = outputs.map((out) => encodeEmbedDtype(out.values, embedDtype, order));
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (encoding === 'bytes') {
    let start = 0;
    const items = outputs.map((out, index) => {
      const end = start + chunks[index]!.byteLength;
      const item = { index, embed_dtype: embedDtype, endianness, start, end, shape: out.shape };
      start = end;
      return item;
    });
    headers['metadata'] = pythonJsonDumps({
      id,
      created,
      model: state.model,
      data: items,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
  }
  // Like vLLM's StreamingResponse: one write per prompt, no Content-Length, so the body is chunked.
  res.writeHead(200, headers);
  for (const chunk of chunks) {
    if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve));
  }
  res.end();
}

function literal<T extends string>(
  body: Record<string, unknown>,
  key: string,
  values: readonly T[],
  errors: FieldError[],
): T | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
  const expected = expectedLiterals(values);
  errors.push({ type: 'literal_error', loc: ['body', key], msg: `Input should be ${expected}`, input: v, ctx: { expected } });
  return undefined;
}

function typed(body: Record<string, unknown>, key: string, type: 'string', errors: FieldError[]): string | null | undefined;
function typed(body: Record<string, unknown>, key: string, type: 'boolean', errors: FieldError[]): boolean | null | undefined;
function typed(
  body: Record<string, unknown>,
  key: string,
  type: 'string' | 'boolean',
  errors: FieldError[],
): string | boolean | null | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === type) return v as string | boolean;
  errors.push(
    type === 'string'
      ? { type: 'string_type', loc: ['body', key], msg: 'Input should be a valid string', input: v }
      : { type: 'bool_type', loc: ['body', key], msg: 'Input should be a valid boolean', input: v },
  );
  return undefined;
}

function integer(
  body: Record<string, unknown>,
  key: string,
  min: number | undefined,
  errors: FieldError[],
): number | null | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    errors.push({ type: 'int_type', loc: ['body', key], msg: 'Input should be a valid integer', input: v });
    return undefined;
  }
  if (min !== undefined && v < min) {
    errors.push({
      type: 'greater_than_equal',
      loc: ['body', key],
      msg: `Input should be greater than or equal to ${min}`,
      input: v,
      ctx: { ge: String(min) },
    });
    return undefined;
  }
  return v;
}

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
function renderMessages(messages: readonly unknown[]): string {
  const lines: string[] = [];
  for (const m of messages) {
    if (!isRecord(m)) {
      throw new HttpError(400, 'BadRequestError', 'Each message must be an object with `role` and `content`', 'messages');
    }
    const content = m['content'];
    if (typeof content === 'string') lines.push(content);
    else if (Array.isArray(content)) {
      for (const part of content) {
        if (isRecord(part) && part['type'] === 'text' && typeof part['text'] === 'string') lines.push(part['text']);
        else if (isRecord(part) && typeof part['type'] === 'string' && part['type'] !== 'text') {
          throw new HttpError(400, 'BadRequestError', `Content part type '${part['type']}' is not supported by this text-only model`, 'messages');
        }
      }
    }
  }
  return lines.join('\n');
}

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

interface PooledOutput {
  values: Float32Array;
  /** `[rows, dim]` for token tasks, `[dim]` for embed. */
  shape: number[];
}

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

function floatJson(out: PooledOutput): string {
  const { values, shape } = out;
  if (shape.length === 1) return JSON.stringify(Array.from(values));
  const cols = shape[1]!;
  const rows: string[] = [];
  for (let r = 0; r < shape[0]!; r++) rows.push(JSON.stringify(Array.from(values.subarray(r * cols, (r + 1) * cols))));
  return `[${rows.join(',')}]`;
}

/**
 * Python's `json.dumps` with default arguments: `", "` and `": "` separators and `ensure_ascii` escapes. This is
 * how vLLM writes the `metadata` header of `bytes` responses.
 */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : value > 0 ? 'Infinity' : Number.isNaN(value) ? 'NaN' : '-Infinity';
  if (typeof value === 'string') {
    return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  return `{${Object.entries(value as object)
    .map(([k, v]) => `${pythonJsonDumps(k)}: ${pythonJsonDumps(v)}`)
    .join(', ')}}`;
}

// ---------------------------------------------------------------------------------------------------------------
// /tokenize and /v1/models

function tokenize(state: ServerState, body: unknown): unknown {
  if (!isRecord(body)) {
    throw validationError(state, [
      { type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: body },
    ]);
  }
  const errors: FieldError[] = [];
  const modelName = typed(body, 'model', 'string', errors);
  const addSpecial = typed(body, 'add_special_tokens', 'boolean', errors);
  const wantStrs = typed(body, 'return_token_strs', 'boolean', errors);
  let text: string | undefined;
  if (typeof body['prompt'] === 'string') text = body['prompt'];
  else if (Array.isArray(body['messages'])) text = renderMessages(body['messages']);
  else errors.push({ type: 'missing', loc: ['body', 'prompt'], msg: 'Field required', input: body });
  if (errors.length > 0 || text === undefined) throw validationError(state, errors);
  if (typeof modelName === 'string' && modelName !== '' && modelName !== state.model) {
    throw new HttpError(404, 'NotFoundError', `The model \`${modelName}\` does not exist.`, 'model');
  }
  const isChat = !('prompt' in body);
  const enc = state.embedder.encode(text, { addSpecialTokens: addSpecial ?? !isChat });
  return {
    count: enc.ids.length,
    max_model_len: state.maxModelLen,
    tokens: enc.ids,
    token_strs: wantStrs === true ? enc.tokens : null,
  };
}

function modelList(state: ServerState): unknown {
  return {
    object: 'list',
    data: [
      {
        id: state.model,
        object: 'model',
        created: state.created,
        owned_by: 'vllm',
        root: state.model,
        parent: null,
        max_model_len: state.maxModelLen,
        permission: [
          {
            id: `modelperm-${randomBytes(16).toString('hex')}`,
            object: 'model_permission',
            created: state.created,
            allow_create_engine: false,
            allow_sampling: true,
            allow_logprobs: true,
            allow_search_indices: false,
            allow_view: true,
            allow_fine_tuning: false,
            organization: '*',
            group: null,
            is_blocking: false,
          },
        ],
      },
    ],
  };
}
