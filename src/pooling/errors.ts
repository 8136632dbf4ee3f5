// Errors of the vLLM /pooling client: HTTP failures, malformed responses, timeouts, connections and aborts.
import { MaxsimError, describeCause } from '../core/errors.js';

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
  /** Why the client stopped retrying, when that is not obvious (a Retry-After past the deadline). */
  readonly note?: string | undefined;
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
  /** What the error was made from (to restate it with a note). */
  readonly init: PoolingHttpErrorInit;

  constructor(init: PoolingHttpErrorInit) {
    const said = init.serverMessage === undefined || init.serverMessage === '' ? '(no message)' : init.serverMessage;
    const id = init.requestId === undefined ? '' : ` [request id ${init.requestId}]`;
    const tries = init.attempts !== undefined && init.attempts > 1 ? ` after ${init.attempts} attempts` : '';
    super(
      'E_POOLING_HTTP',
      `POST ${init.url} failed with ${init.status} ${init.statusText}${tries}: ${said}${id}${httpHint(init.status, said)}` +
        (init.note === undefined ? '' : ` ${init.note}`),
    );
    this.init = init;
    this.status = init.status;
    this.serverMessage = init.serverMessage;
    this.serverType = init.serverType;
    this.param = init.param;
    this.requestId = init.requestId;
    this.retryable = isRetryableStatus(init.status);
  }
}

/** HTTP statuses a client may retry: the request might succeed unchanged a moment later. */
function isRetryableStatus(status: number): boolean {
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

/**
 * A `/pooling` request took longer than `timeoutMs` (per attempt, body included), or the whole call passed
 * `deadlineMs` (retries and their waits included).
 */
export class PoolingTimeoutError extends MaxsimError {
  /** The bound that was passed: `timeoutMs`, or `deadlineMs` when {@link PoolingTimeoutError.deadline}. */
  readonly timeoutMs: number;
  /** True when the call's total `deadlineMs` passed, false for one attempt's `timeoutMs`. */
  readonly deadline: boolean;

  constructor(url: string, timeoutMs: number, attempts: number, deadline = false) {
    super(
      'E_POOLING_TIMEOUT',
      deadline
        ? `POST ${url} timed out: the call's deadline of ${timeoutMs} ms (deadlineMs) passed` +
            `${attempts > 1 ? ` during attempt ${attempts}` : ''}. Raise deadlineMs, or lower batchSize so each ` +
            'request does less work.'
        : `POST ${url} timed out after ${timeoutMs} ms${attempts > 1 ? ` (${attempts} attempts)` : ''}. ` +
            'Raise timeoutMs, or lower batchSize so each request does less work.',
    );
    this.timeoutMs = timeoutMs;
    this.deadline = deadline;
  }
}

/**
 * The `/pooling` server could not be reached (refused, reset, DNS, header overflow), or its answer stopped
 * arriving part way; retries exhausted.
 */
export class PoolingConnectionError extends MaxsimError {
  /**
   * @param bodyBytes when the status and headers arrived but the body broke off: the bytes received by then.
   */
  constructor(url: string, attempts: number, cause: unknown, bodyBytes?: number) {
    const why = describeCause(cause);
    const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
    super(
      'E_POOLING_CONNECTION',
      bodyBytes !== undefined
        ? `POST ${url} failed${tries}: the response body stopped arriving after ${bodyBytes} bytes (${why}). ` +
            'The server (or a proxy in between) closed the connection in the middle of its answer.'
        : `POST ${url} failed${tries}: ${why}. ` +
            (/HEADERS?_OVERFLOW|header/i.test(why)
              ? "The 'bytes' metadata header is too large for this client: lower batchSize, use encoding 'base64', " +
                'or in Node create the client with createNodePoolingClient() (it raises the header limit).'
              : 'Is the vLLM server running at that address (vllm serve ... --port)?'),
      { cause },
    );
  }
}

/** A response body stopped arriving (reset, abort mid-stream) after `received` bytes: worth another attempt. */
export class BodyStreamError extends Error {
  constructor(
    readonly received: number,
    cause: unknown,
  ) {
    super(`the response body stopped arriving after ${received} bytes`, { cause });
  }
}

/** The caller aborted an `embed` call through its `AbortSignal`; `cause` is the signal's reason. */
export class PoolingAbortedError extends MaxsimError {
  constructor(reason: unknown) {
    super('E_ABORTED', 'the /pooling request was aborted by the caller', { cause: reason });
  }
}
