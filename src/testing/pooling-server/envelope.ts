// vLLM's error envelopes: the nested `{"error": {message, type, param, code}}` of v0.10.1+, the flat
// `{"object": "error", ...}` before it, and FastAPI's own `{"detail": ...}` for routing errors.
import type { ServerResponse } from 'node:http';
import type { ServerState } from './server.js';

/** An error answer: rendered as vLLM's envelope for the server's mode (`type: '__detail__'`: FastAPI's). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

/** FastAPI's 405 for a known path with another method. */
export function methodNotAllowed(): HttpError {
  return new HttpError(405, '__detail__', 'Method Not Allowed');
}

/** vLLM's error `type` for a status. */
export function errorTypeFor(status: number): string {
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

/** Writes `err` in the envelope of the server's mode. */
export function sendError(state: ServerState, res: ServerResponse, err: HttpError): void {
  const info = { message: err.message, type: err.type, param: err.param, code: err.status };
  // v0.10.1 (PR #22099) nested the OpenAI error object; before that it was flat with `object: "error"`.
  sendJson(res, err.status, state.mode === 'v0.10' ? { object: 'error', ...info } : { error: info });
}

/** A JSON answer with its length. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}
