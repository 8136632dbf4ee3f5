// The retrying HTTP exchange under the /pooling client: one POST with a per-attempt timeout, retries with
// exponential backoff and jitter (or the server's Retry-After) for connection errors, timeouts and retryable
// statuses, the caller's abort honoured at every step, and vLLM's error envelopes turned into typed errors.
// Universal: `fetch`, `AbortController`, timers.
import { describeCause, MaxsimError } from '../core/errors.js';
import {
  BodyStreamError,
  PoolingAbortedError,
  PoolingConnectionError,
  PoolingHttpError,
  PoolingResponseError,
  PoolingTimeoutError,
} from './errors.js';

/** What a {@link PoolingTransport} needs: where to post, how, and how patiently. */
export interface TransportOptions {
  /** Server root without a trailing slash. */
  readonly baseUrl: string;
  readonly fetch: typeof fetch;
  /** Sent as `Authorization: Bearer …`; never logged nor put in error messages. */
  readonly apiKey?: string | undefined;
  /** Per attempt, body included. */
  readonly timeoutMs: number;
  /** Retries after the first attempt. */
  readonly maxRetries: number;
  /** First backoff delay; doubles per retry, with jitter. */
  readonly retryDelayMs: number;
  /** Longest wait between attempts, `Retry-After` included. */
  readonly maxRetryDelayMs: number;
}

/** The cancellation state of one client call, shared by all its requests. */
export interface CallContext {
  readonly signal: AbortSignal;
  readonly callerAborted: () => AbortSignal | undefined;
  /** The call's total deadline (`deadlineMs`), as a `Date.now()` time and as given. */
  readonly deadline?: { readonly at: number; readonly ms: number } | undefined;
}

/** Raised inside a call when a sibling request failed: the sibling's error is the one reported. */
export class SiblingFailed extends Error {}

/** A failure worth another attempt; `cause` is what happened. */
class TransientFailure extends Error {
  constructor(cause: unknown) {
    super('transient', { cause });
  }
}

/** The error a cancelled call reports: the caller's abort, the deadline, or the sibling failure that cancelled it. */
function abortError(call: CallContext, url: string, attempt: number): Error {
  const s = call.callerAborted();
  if (s !== undefined) return new PoolingAbortedError(s.reason);
  if (call.deadline !== undefined && Date.now() >= call.deadline.at) {
    return new PoolingTimeoutError(url, call.deadline.ms, attempt, true);
  }
  return new SiblingFailed('a sibling request failed');
}

/** Milliseconds left before the call's deadline (Infinity without one). */
function remaining(call: CallContext): number {
  return call.deadline === undefined ? Number.POSITIVE_INFINITY : call.deadline.at - Date.now();
}

/**
 * POSTs JSON to one server with retries. Responses are handed to a reader; a reader's {@link MaxsimError} is
 * final, any other failure while reading (the body stopped arriving) is retried like a failed connection.
 *
 * @example
 * const transport = new PoolingTransport({ baseUrl, fetch, timeoutMs: 1000, maxRetries: 2, retryDelayMs: 100, maxRetryDelayMs: 1000 });
 * const json = await transport.exchange('/tokenize', body, call, (res) => res.json());
 */
export class PoolingTransport {
  readonly #o: TransportOptions;

  constructor(options: TransportOptions) {
    this.#o = options;
  }

  /**
   * One request with retries: connection errors, timeouts and retryable statuses are retried with exponential
   * backoff and jitter (or the server's Retry-After); other 4xx, malformed bodies and aborts are not.
   */
  async exchange<T>(
    path: string,
    body: string,
    call: CallContext,
    read: (res: Response, ctx: { url: string }) => Promise<T>,
    onStatus?: (status: number, url: string) => MaxsimError | undefined,
  ): Promise<T> {
    const url = `${this.#o.baseUrl}${path}`;
    const requestId = newRequestId();
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      Accept: 'application/json, application/octet-stream',
      'X-Request-Id': requestId,
    };
    if (this.#o.apiKey !== undefined && this.#o.apiKey !== '') {
      headers.Authorization = `Bearer ${this.#o.apiKey}`;
    }
    for (let attempt = 1; ; attempt++) {
      if (call.signal.aborted) throw abortError(call, url, attempt);
      const left = remaining(call);
      if (left <= 0) throw new PoolingTimeoutError(url, call.deadline!.ms, attempt, true);
      const attemptController = new AbortController();
      const stopAttempt = (): void => attemptController.abort();
      call.signal.addEventListener('abort', stopAttempt, { once: true });
      let timedOut = false;
      // One attempt may take timeoutMs, but never past the call's deadline.
      const byDeadline = left < this.#o.timeoutMs;
      const timer = setTimeout(
        () => {
          timedOut = true;
          attemptController.abort();
        },
        Math.min(this.#o.timeoutMs, left),
      );
      let retryAfterMs: number | undefined;
      let lastError: unknown;
      try {
        let res: Response;
        try {
          res = await this.#o.fetch(url, { method: 'POST', headers, body, signal: attemptController.signal });
        } catch (cause) {
          throw new TransientFailure(cause);
        }
        if (!res.ok) {
          const special = onStatus?.(res.status, url);
          const error = special ?? (await httpError(res, url, requestId, attempt));
          if (error instanceof PoolingHttpError && error.retryable && attempt <= this.#o.maxRetries) {
            retryAfterMs = parseRetryAfter(res.headers);
            throw new TransientFailure(error);
          }
          throw error;
        }
        try {
          return await read(res, { url });
        } catch (err) {
          if (err instanceof MaxsimError) throw err;
          // The body stopped arriving (reset, abort mid-stream): as transient as a failed connect. Anything
          // else a reader throws is no network failure: report it as what it is, never as "is the server up?".
          if (err instanceof BodyStreamError || attemptController.signal.aborted) throw new TransientFailure(err);
          throw new PoolingResponseError(`${url}: reading the response failed: ${describeCause(err)}`, { cause: err });
        }
      } catch (err) {
        if (call.signal.aborted) throw abortError(call, url, attempt);
        if (!(err instanceof TransientFailure)) throw err;
        lastError = err.cause;
        if (timedOut && byDeadline) throw new PoolingTimeoutError(url, call.deadline!.ms, attempt, true);
        // A header too large for this HTTP stack fails the same way every time: not worth a retry.
        if (!timedOut && isHeaderOverflow(lastError)) throw new PoolingConnectionError(url, attempt, lastError);
        if (attempt > this.#o.maxRetries) throw finalError(lastError, url, attempt, timedOut, this.#o.timeoutMs);
      } finally {
        clearTimeout(timer);
        call.signal.removeEventListener('abort', stopAttempt);
      }
      const wait = this.#backoff(attempt, retryAfterMs);
      if (wait >= remaining(call)) {
        // Waiting would pass the deadline: stop now with what the server said, not after a pointless wait.
        const said =
          retryAfterMs === undefined
            ? `the next retry (in ${Math.round(wait)} ms) would start`
            : `the server's Retry-After (${Math.round(retryAfterMs)} ms) is`;
        const note = `Not retried: ${said} past the ${call.deadline!.ms} ms deadline (deadlineMs).`;
        if (lastError instanceof PoolingHttpError) throw new PoolingHttpError({ ...lastError.init, note });
        throw finalError(lastError, url, attempt, timedOut, this.#o.timeoutMs);
      }
      await sleep(wait, call, url, attempt);
    }
  }

  #backoff(attempt: number, retryAfterMs: number | undefined): number {
    const cap = this.#o.maxRetryDelayMs;
    if (retryAfterMs !== undefined) return Math.min(cap, retryAfterMs);
    const base = this.#o.retryDelayMs * 2 ** (attempt - 1);
    // "Equal jitter": at least half the exponential delay, so retries spread out but still back off.
    return Math.min(cap, base / 2 + Math.random() * (base / 2));
  }
}

/** Bytes of an error body read at most (the rest is dropped unread): enough for any real error message. */
const ERROR_BODY_BYTES = 64 * 1024;
/** Characters of the server's message kept in errors and logs. */
const SERVER_MESSAGE_CHARS = 2000;

/** The first `limit` bytes of a body as text (then the body is cancelled), and whether there was more. */
async function readHead(res: Response, limit: number): Promise<{ text: string; cut: boolean }> {
  if (res.body === null) return { text: '', cut: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let cut = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.byteLength;
    if (total >= limit) {
      cut = true;
      await reader.cancel();
      break;
    }
  }
  const bytes = new Uint8Array(Math.min(total, limit));
  let at = 0;
  for (const c of chunks) {
    const take = Math.min(c.byteLength, bytes.byteLength - at);
    bytes.set(c.subarray(0, take), at);
    at += take;
  }
  return { text: new TextDecoder().decode(bytes), cut };
}

/** A server's message cut to {@link SERVER_MESSAGE_CHARS}, saying how long it was. */
function boundedMessage(message: string | undefined, cut: boolean): string | undefined {
  if (message === undefined) return undefined;
  if (message.length <= SERVER_MESSAGE_CHARS && !cut) return message;
  const size = cut ? `more than ${ERROR_BODY_BYTES} bytes` : `${message.length} characters`;
  return `${message.slice(0, SERVER_MESSAGE_CHARS)}… (cut: the server's message was ${size})`;
}

async function httpError(res: Response, url: string, sentId: string, attempts: number): Promise<PoolingHttpError> {
  let text = '';
  let cut = false;
  try {
    ({ text, cut } = await readHead(res, ERROR_BODY_BYTES));
  } catch (cause) {
    // The status is the error; a body that fails to arrive only costs us the server's wording.
    text = `(error body unreadable: ${(cause as Error).message})`;
  }
  let message: string | undefined;
  let type: string | undefined;
  let param: string | undefined;
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const nested = json.error;
    if (typeof nested === 'string') {
      message = nested; // `{"error": "Unauthorized"}` from --api-key
    } else if (nested !== null && typeof nested === 'object') {
      const e = nested as Record<string, unknown>;
      message = typeof e.message === 'string' ? e.message : undefined;
      type = typeof e.type === 'string' ? e.type : undefined;
      param = typeof e.param === 'string' ? e.param : undefined;
    } else if (typeof json.message === 'string') {
      message = json.message; // the flat envelope of vLLM < 0.10.1
      type = typeof json.type === 'string' ? json.type : undefined;
      param = typeof json.param === 'string' ? json.param : undefined;
    } else if (typeof json.detail === 'string') {
      message = json.detail; // FastAPI's own `{"detail": "Not Found"}`
    }
  } catch {
    // Not JSON (or JSON cut off at the byte limit): the text itself is the message.
    message = text.trim() === '' ? undefined : text.trim();
    if (cut && message !== undefined) {
      const m = /"message"\s*:\s*"((?:[^"\\]|\\.)*)/.exec(message);
      if (m !== null) message = m[1];
    }
  }
  return new PoolingHttpError({
    status: res.status,
    statusText: res.statusText,
    url,
    serverMessage: boundedMessage(message, cut),
    serverType: type,
    param,
    requestId: res.headers.get('x-request-id') ?? sentId,
    attempts,
  });
}

/** `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`, in milliseconds. */
function parseRetryAfter(headers: Headers): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (value.trim() !== '' && Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function isHeaderOverflow(err: unknown): boolean {
  for (let c = err, depth = 0; c !== null && c !== undefined && depth < 4; depth++) {
    const code = (c as { code?: unknown }).code;
    if (code === 'UND_ERR_HEADERS_OVERFLOW' || code === 'HPE_HEADER_OVERFLOW') return true;
    c = (c as { cause?: unknown }).cause;
  }
  return false;
}

/** The error of the last failed attempt once retries are spent. */
function finalError(lastError: unknown, url: string, attempt: number, timedOut: boolean, timeoutMs: number): Error {
  if (timedOut) return new PoolingTimeoutError(url, timeoutMs, attempt);
  if (lastError instanceof PoolingHttpError) return lastError;
  if (lastError instanceof BodyStreamError) {
    return new PoolingConnectionError(url, attempt, lastError.cause, lastError.received);
  }
  return new PoolingConnectionError(url, attempt, lastError);
}

function sleep(ms: number, call: CallContext, url: string, attempt: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (call.signal.aborted) {
      reject(abortError(call, url, attempt));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(call, url, attempt));
    };
    const timer = setTimeout(() => {
      call.signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    call.signal.addEventListener('abort', onAbort, { once: true });
  });
}

function newRequestId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID !== undefined) return `maxsim-${c.randomUUID()}`;
  return `maxsim-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}
