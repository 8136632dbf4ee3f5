/**
 * Every error this library throws on purpose is a {@link MaxsimError} with a stable `code`, so callers can
 * branch on `err.code` instead of parsing messages. Messages say what was wrong, with the values, and how to
 * fix it.
 *
 * @example
 * try { await createScorer({ backend: 'webgpu' }); }
 * catch (err) { if (err instanceof MaxsimError && err.code === 'E_BACKEND_UNAVAILABLE') useCpu(); }
 */
export class MaxsimError extends Error {
  /** Stable machine-readable code, e.g. `E_DIM_MISMATCH`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** A token matrix is malformed: wrong length, non-finite value, bad shape. Names the row and column. */
export class InvalidTokenMatrixError extends MaxsimError {
  /** Row of the first bad value, when the problem is a value. */
  readonly row: number | undefined;
  /** Column of the first bad value, when the problem is a value. */
  readonly column: number | undefined;

  constructor(message: string, where: { row?: number; column?: number } = {}) {
    super('E_INVALID_MATRIX', message);
    this.row = where.row;
    this.column = where.column;
  }
}

/** Query and document (or two documents) have different embedding widths. */
export class DimensionMismatchError extends MaxsimError {
  readonly expected: number;
  readonly actual: number;

  constructor(expected: number, actual: number, what: string) {
    super(
      'E_DIM_MISMATCH',
      `${what} has dim ${actual} but ${expected} was expected: every query and document must come from the same ` +
        `embedding model (same vector width). Re-embed with one model, or check that you did not mix up dims.`,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/** An argument outside what the API accepts (bad option value, wrong type). */
export class InvalidArgumentError extends MaxsimError {
  constructor(message: string) {
    super('E_INVALID_ARGUMENT', message);
  }
}

/** The requested backend cannot run here; the message says why and what to do instead. */
export class BackendUnavailableError extends MaxsimError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_BACKEND_UNAVAILABLE', message, options);
  }
}

/** A scorer or corpus was used after `destroy()`. */
export class DestroyedError extends MaxsimError {
  constructor(what: string) {
    super('E_DESTROYED', `${what} was used after destroy(). Create a new one with createScorer() / scorer.upload().`);
  }
}

/** A corpus was passed to a scorer other than the one that uploaded it. */
export class ForeignCorpusError extends MaxsimError {
  constructor() {
    super(
      'E_FOREIGN_CORPUS',
      'This corpus was uploaded by a different scorer. Upload the documents with the scorer you score with ' +
        '(scorer.upload(docs)), or pass the TokenMatrix[] directly.',
    );
  }
}

// ---- vLLM /pooling client errors (pooling-client.ts, pooling-decode.ts) ----

/** What {@link PoolingHttpError} knows about a failed HTTP exchange. */
export interface PoolingHttpErrorInit {
  readonly status: number;
  readonly statusText: string;
  readonly url: string;
  /** The server's own message (`error.message`, the flat `message`, or the `error` string of a 401). */
  readonly serverMessage?: string | undefined;
  /** The server's error type, e.g. `BadRequestError`, `NotFoundError`. */
  readonly serverType?: string | undefined;
  /** The request field the server blamed, e.g. `body.encoding_format`. */
  readonly param?: string | undefined;
  /** `X-Request-Id` of the exchange (the server's echo, else the one we sent). */
  readonly requestId?: string | undefined;
  /** How many attempts were made, retries included. */
  readonly attempts?: number;
}

/**
 * The `/pooling` server answered with an HTTP error status. Carries the status, the server's own message
 * (vLLM's nested `{"error": {...}}`, the flat pre-v0.10.1 envelope, and the `{"error": "Unauthorized"}` of
 * `--api-key` are all understood), the request id, and whether the failure is worth retrying.
 *
 * @example
 * catch (err) { if (err instanceof PoolingHttpError && err.status === 404) console.error(err.serverMessage); }
 */
export class PoolingHttpError extends MaxsimError {
  readonly status: number;
  readonly serverMessage: string | undefined;
  readonly serverType: string | undefined;
  readonly param: string | undefined;
  readonly requestId: string | undefined;
  /** True for 408, 409, 429 and 5xx except 501 (the server lacks the feature) and 505: the client retries these. */
  readonly retryable: boolean;

  constructor(init: PoolingHttpErrorInit) {
    const said = init.serverMessage === undefined || init.serverMessage === '' ? '(no message)' : init.serverMessage;
    const id = init.requestId === undefined ? '' : ` [request id ${init.requestId}]`;
    const tries = init.attempts !== undefined && init.attempts > 1 ? ` after ${init.attempts} attempts` : '';
    super(
      'E_POOLING_HTTP',
      `POST ${init.url} failed with ${init.status} ${init.statusText}${tries}: ${said}${id}${httpHint(init.status, said)}`,
    );
    this.status = init.status;
    this.serverMessage = init.serverMessage;
    this.serverType = init.serverType;
    this.param = init.param;
    this.requestId = init.requestId;
    this.retryable = isRetryableStatus(init.status);
  }
}

/** HTTP statuses a client may retry: the request might succeed unchanged a moment later. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

function httpHint(status: number, said: string): string {
  if (status === 401) return '. The server runs with --api-key: pass the same key (apiKey / --api-key).';
  if (status === 404 && /model/i.test(said)) return '. Pass the served model name (see GET /v1/models), or omit it.';
  if (status === 404) return '. Is this a vLLM server with a pooling model? It has no /pooling route.';
  if (status === 501) return '. The served model has no pooling support: serve an embedding model such as BAAI/bge-m3.';
  return '';
}

/**
 * A `/pooling` response that cannot be turned into token matrices: ragged rows, wrong nesting, non-finite
 * values, truncated binary, invalid base64, metadata offsets out of range, missing items. Nothing partial is
 * ever returned alongside it.
 */
export class PoolingResponseError extends MaxsimError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'E_POOLING_MALFORMED', message, options);
  }
}

/**
 * The server returned one `[dim]` vector per input instead of `[tokens, dim]`: it runs the `embed` task
 * (plain `vllm serve BAAI/bge-m3` from vLLM ≈0.19 on), which pools each text into one vector.
 */
export class PoolingEmbedTaskError extends PoolingResponseError {
  constructor(detail: string) {
    super(
      `${detail}: the server returned one pooled vector per input, not one vector per token, so it runs the ` +
        "'embed' task. Restart vLLM with the token-level task, e.g. `vllm serve BAAI/bge-m3 --pooler-config.task " +
        'token_embed` (add `--hf-overrides \'{"architectures": ["BgeM3EmbeddingModel"]}\'` for BGE-M3\'s ColBERT ' +
        'vectors).',
      { code: 'E_POOLING_EMBED_TASK' },
    );
  }
}

/** A `/pooling` request took longer than `timeoutMs` (per attempt, body included). */
export class PoolingTimeoutError extends MaxsimError {
  readonly timeoutMs: number;

  constructor(url: string, timeoutMs: number, attempts: number) {
    super(
      'E_POOLING_TIMEOUT',
      `POST ${url} timed out after ${timeoutMs} ms${attempts > 1 ? ` (${attempts} attempts)` : ''}. ` +
        'Raise timeoutMs, or lower batchSize so each request does less work.',
    );
    this.timeoutMs = timeoutMs;
  }
}

/** The `/pooling` server could not be reached (refused, reset, DNS, header overflow), retries exhausted. */
export class PoolingConnectionError extends MaxsimError {
  constructor(url: string, attempts: number, cause: unknown) {
    const why = describeCause(cause);
    super(
      'E_POOLING_CONNECTION',
      `POST ${url} failed${attempts > 1 ? ` after ${attempts} attempts` : ''}: ${why}. ` +
        (/HEADERS?_OVERFLOW|header/i.test(why)
          ? "The 'bytes' metadata header is too large for this client: lower batchSize, use encoding 'base64', " +
            "or in Node create the client with createNodePoolingClient() (it raises the header limit)."
          : 'Is the vLLM server running at that address (vllm serve ... --port)?'),
      { cause },
    );
  }
}

/** The caller aborted an `embed` call through its `AbortSignal`; `cause` is the signal's reason. */
export class PoolingAbortedError extends MaxsimError {
  constructor(reason: unknown) {
    super('E_ABORTED', 'the /pooling request was aborted by the caller', { cause: reason });
  }
}

function describeCause(cause: unknown): string {
  const parts: string[] = [];
  let c: unknown = cause;
  for (let depth = 0; depth < 4 && c !== undefined && c !== null; depth++) {
    const e = c as { message?: unknown; code?: unknown; cause?: unknown };
    const text = [typeof e.code === 'string' ? e.code : '', typeof e.message === 'string' ? e.message : String(c)]
      .filter((s) => s !== '')
      .join(' ');
    if (text !== '' && !parts.includes(text)) parts.push(text);
    c = e.cause;
  }
  return parts.length === 0 ? 'unknown network error' : parts.join(' ← ');
}

/** The GPU rejected a command as invalid (captured by a `validation` error scope); no scores were returned. */
export class GpuValidationError extends MaxsimError {
  constructor(what: string, gpuMessage: string) {
    super(
      'E_GPU_VALIDATION',
      `WebGPU validation error while ${what}: ${gpuMessage.trim()}. No scores were returned. This is a bug in ` +
        "webgpu-maxsim or a device limit it did not respect: please report it with scorer.info; backend: 'cpu' " +
        'works meanwhile.',
    );
  }
}

/** The GPU ran out of memory (captured by an `out-of-memory` error scope). */
export class GpuOutOfMemoryError extends MaxsimError {
  constructor(what: string, gpuMessage: string) {
    super(
      'E_GPU_OUT_OF_MEMORY',
      `The GPU ran out of memory while ${what}: ${gpuMessage.trim()}. Destroy corpora you no longer need, use ` +
        "precision: 'f16' (half the memory), upload fewer documents at a time, or use backend: 'cpu'.",
    );
  }
}

/** The GPU device was lost (driver reset, another owner destroyed it, ...); calls on it cannot complete. */
export class DeviceLostError extends MaxsimError {
  /** `GPUDeviceLostInfo.reason`: `'destroyed'` or `'unknown'`. */
  readonly reason: string;

  constructor(reason: string, gpuMessage: string) {
    super(
      'E_DEVICE_LOST',
      `The WebGPU device was lost (reason: ${reason}${gpuMessage.trim() === '' ? '' : `, ${gpuMessage.trim()}`}). ` +
        "Create a new scorer; to have scoring continue on the CPU automatically, use backend: 'auto' or " +
        "fallback: 'cpu'.",
    );
    this.reason = reason;
  }
}

/** Work does not fit a device limit even after splitting (e.g. one document larger than a storage binding). */
export class GpuLimitError extends MaxsimError {
  constructor(message: string) {
    super('E_GPU_LIMIT', message);
  }
}

/**
 * The CPU kernel's WebAssembly memory cannot hold the documents (plus the queries and scores of one call):
 * a wasm32 memory holds at most 4 GiB, and a runtime may refuse less.
 */
export class CpuMemoryLimitError extends MaxsimError {
  /** Bytes the kernel asked for. */
  readonly bytes: number;

  constructor(bytes: number, documentBytes: number, documents: number, cause?: unknown) {
    const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
    super(
      'E_CPU_MEMORY_LIMIT',
      `The CPU kernel needs ${mib(bytes)} of WebAssembly memory for ${documents} documents ` +
        `(${mib(documentBytes)} of token vectors), but one wasm32 memory holds at most 4096 MiB` +
        `${cause === undefined ? '' : ' and this runtime refused the allocation'}. Upload the corpus in ` +
        `smaller parts, use more worker threads (cpu: { threads }: each holds its share of the documents), ` +
        `score fewer queries per call, or use the WebGPU backend.`,
      { cause },
    );
    this.bytes = bytes;
  }
}

/** A CPU worker thread failed (crashed, could not start, or answered with an error). */
export class CpuWorkerError extends MaxsimError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CPU_WORKER', message, options);
  }
}

// ---- benchmark harness errors (bench-*.ts, cli-bench.ts) ----

/**
 * The benchmark harness could not run a backend or check a result: a missing tool (python3 with numpy,
 * puppeteer-core, a browser), a failed subprocess, or scores that disagree. `code` says which
 * (`E_BENCH_DEPENDENCY`, `E_BENCH_SUBPROCESS`, `E_BENCH_KERNEL`, `E_BENCH_MISMATCH`).
 */
export class BenchmarkError extends MaxsimError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
