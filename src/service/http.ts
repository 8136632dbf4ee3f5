// Responses of the rerank service: JSON bodies and vLLM's error envelope.

/** A request the service refuses: its status, vLLM error type, message and the field at fault. */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly param: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** A 400 naming the field. */
export function badRequest(message: string, param: string | null): ServiceError {
  return new ServiceError(400, 'BadRequestError', message, param);
}

/** vLLM's error envelope: `{"error": {message, type, param, code}}` with `code` the HTTP status. */
export function errorResponse(err: ServiceError): Response {
  return jsonResponse(
    err.status,
    { error: { message: err.message, type: err.type, param: err.param, code: err.status } },
    err.headers,
  );
}

/** A JSON answer. */
export function jsonResponse(status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** A value as error messages show it: short, typed, never a whole document. */
export function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** Cuts text relayed from elsewhere (an upstream's error message) to a bounded size. */
export function bounded(text: string, max = 1000): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters in all)` : text;
}
