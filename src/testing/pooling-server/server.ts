// A local stand-in for vLLM's OpenAI-compatible server, limited to what a /pooling client touches: POST /pooling
// (and /invocations), /v1/embeddings, /tokenize, /v1/models, /health, with vLLM's CORS middleware. It speaks the wire format of docs/vllm-pooling.md
// (request variants, validation errors, task rules per vLLM version, float/base64/bytes/bytes_only with every
// embed_dtype and endianness, error envelopes) and computes the vectors with the lexical hashing embedder. It is
// the test server for the client and a way to run the pipeline without a GPU. Node only (node:http).
//
// The folder, by job: server.ts (options, state, start/stop), routes.ts (routing), envelope.ts (error
// envelopes), validation.ts (pydantic-shaped field checks), pooling.ts (the /pooling request and its prompts),
// encodings.ts (float/base64/bytes bodies), tokenize.ts (/tokenize, /v1/models), faults.ts (scripted failures).
import { createServer } from 'node:http';
import { InvalidArgumentError } from '../../core/errors.js';
import { createHashEmbedder, type HashEmbedder } from '../../embed/hash-embedder.js';
import { listen } from '../../node/serve.js';
import { createCorsPolicy, type CorsOptions, type CorsPolicy } from '../../service/cors.js';
import { HttpError, sendError } from './envelope.js';
import { handle } from './routes.js';

/**
 * Which vLLM release the server imitates (docs/vllm-pooling.md §0):
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
 * Which `vllm serve BAAI/bge-m3 …` command the server imitates (docs/vllm-pooling.md §5.1):
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
export type PoolingTaskName =
  | 'embed'
  | 'classify'
  | 'token_embed'
  | 'token_classify'
  | 'plugin'
  | 'embed&token_classify';

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
  /**
   * Cross-origin access as vLLM's `--allowed-origins`, `--allowed-methods`, `--allowed-headers` and
   * `--allow-credentials` give it. Default: vLLM's (every origin, method and header; no credentials).
   */
  readonly cors?: CorsOptions;
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

/** What every route reads: the server's configuration and its mutable logs and fault queue. */
export interface ServerState {
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
  readonly cors: CorsPolicy;
}

const MODES: readonly PoolingServerMode[] = ['newest', 'v0.21', 'v0.13', 'v0.11', 'v0.10'];
const CONFIGS: readonly PoolingServerConfig[] = ['A', 'B', 'C'];
export const TASKS: readonly PoolingTaskName[] = [
  'embed',
  'classify',
  'token_embed',
  'token_classify',
  'plugin',
  'embed&token_classify',
];

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
    throw new InvalidArgumentError(
      `startPoolingServer: mode is ${JSON.stringify(mode)}, expected one of ${MODES.join(', ')}`,
    );
  }
  if (!CONFIGS.includes(config)) {
    throw new InvalidArgumentError(`startPoolingServer: config is ${JSON.stringify(config)}, expected A, B or C`);
  }
  if (!Number.isInteger(maxModelLen) || maxModelLen < 1) {
    throw new InvalidArgumentError(
      `startPoolingServer: maxModelLen is ${String(maxModelLen)}, expected an integer >= 1`,
    );
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
    cors: createCorsPolicy(options.cors),
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
