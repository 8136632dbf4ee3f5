// /tokenize (what the client's bytes_only path counts rows with) and /v1/models (what SDKs ask for the name).
import { randomBytes } from 'node:crypto';
import { HttpError } from './envelope.js';
import { renderMessages } from './pooling.js';
import type { ServerState } from './server.js';
import { isRecord, typed, validationError, type FieldError } from './validation.js';

/** vLLM's `POST /tokenize` for a prompt or a chat: token ids, count and the model's context length. */
export function tokenize(state: ServerState, body: unknown): unknown {
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

/** vLLM's `GET /v1/models`: the one served model, with vLLM's fields. */
export function modelList(state: ServerState): unknown {
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
