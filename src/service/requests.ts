// Reading /rerank and /score requests as vLLM reads them (pydantic lax mode, unknown fields ignored), with the
// service's own limits. Every refusal is a ServiceError that names the field.
import { yieldToEventLoop } from '../core/time-slicer.js';
import { badRequest, ServiceError, shown } from './http.js';
import { laxBool, laxInt } from './lax.js';

/** Limits on what one request may ask for; each breach is a 4xx in vLLM's error envelope. */
export interface RequestLimits {
  /** Request body bytes. Default 4 MiB. */
  readonly maxBodyBytes: number;
  /** Documents per request (texts per side of a /score request). Default 1,000. */
  readonly maxDocuments: number;
  /** Characters in the query or any one document. Default 32,768. */
  readonly maxTextChars: number;
}

/** A checked `/rerank` request. */
export interface RerankRequest {
  readonly query: string;
  readonly documents: readonly string[];
  /** Results to return; undefined: all (vLLM: `top_n` ≤ 0 or absent). */
  readonly topN: number | undefined;
  /** Whether results carry `document` (vLLM always; Cohere's `return_documents: false` omits it). */
  readonly returnDocuments: boolean;
  readonly model: string | undefined;
}

/** A checked `/score` request: `queries` paired 1:N or N:N with `documents`. */
export interface ScoreRequest {
  readonly queries: readonly string[];
  readonly documents: readonly string[];
  readonly model: string | undefined;
}

/** Reads the body (bounded), checks the content type as vLLM's `validate_json_request` does, parses JSON. */
export async function readJsonBody(request: Request, limits: RequestLimits): Promise<Record<string, unknown>> {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    // vLLM (newest) answers a RequestValidationError: 400, not 415.
    throw new ServiceError(
      400,
      'Bad Request',
      `Unsupported Media Type: Only 'application/json' is allowed (got content-type ${shown(request.headers.get('content-type') ?? undefined)})`,
      'content-type',
    );
  }
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (declared > limits.maxBodyBytes) throw tooLarge(declared, limits);
  const text = await readBodyWithLimit(request, limits.maxBodyBytes);
  if (text === undefined) throw tooLarge(undefined, limits);
  // Parsing the body is a turn of the event loop of its own, apart from reading its last chunks and from the work
  // it asks for: for a 3.2 MB body, the three together took 55-60 ms of one turn on a loaded 2-core VM.
  await yieldToEventLoop();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`, 'body');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest(`request body must be a JSON object, got ${shown(body)}`, 'body');
  }
  await yieldToEventLoop();
  return body as Record<string, unknown>;
}

/**
 * Reads the body as UTF-8, giving up (undefined) as soon as it passes `limit` bytes. Each chunk is decoded as it
 * arrives (a streaming decoder gives the same text as decoding the whole body at once), so the body is never
 * gathered into one buffer and decoded in one go, both in the turn of its last chunk (that copy alone allocates, and
 * first touches, as many fresh bytes as the body has).
 */
async function readBodyWithLimit(request: Request, limit: number): Promise<string | undefined> {
  if (request.body === null) return '';
  const reader = request.body.getReader();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const parts: string[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      return undefined;
    }
    parts.push(decoder.decode(value, { stream: true }));
  }
  parts.push(decoder.decode());
  return parts.join('');
}

function tooLarge(declared: number | undefined, limits: RequestLimits): ServiceError {
  return new ServiceError(
    413,
    'Payload Too Large',
    `request body${declared === undefined ? '' : ` (${declared} bytes)`} exceeds the limit of ${limits.maxBodyBytes} bytes (maxBodyBytes, serve --max-body-bytes)`,
    'body',
  );
}

/** `model`: optional string (null is absent). */
function readModel(b: Record<string, unknown>): string | undefined {
  const m = b['model'];
  if (m === undefined || m === null) return undefined;
  if (typeof m !== 'string') throw badRequest(`"model": Input should be a valid string, got ${shown(m)}`, 'model');
  return m;
}

/** One text of a request: a string. vLLM's multimodal `{"content": [...]}` is refused, as a text model does. */
function text(v: unknown, param: string, limits: RequestLimits, allowTextObject: boolean): string {
  let t: unknown = v;
  if (allowTextObject && v !== null && typeof v === 'object' && !Array.isArray(v) && 'text' in v) {
    t = (v as { text: unknown }).text;
  }
  if (typeof t !== 'string') {
    if (v !== null && typeof v === 'object' && 'content' in v) {
      throw badRequest(`${param}: multimodal content is not supported: this service embeds text only`, param);
    }
    const expected = allowTextObject ? 'a string or {"text": string}' : 'a string';
    throw badRequest(`${param} must be ${expected}, got ${shown(v)}`, param);
  }
  if (t.length > limits.maxTextChars) {
    throw badRequest(
      `${param} has ${t.length} characters; the limit is ${limits.maxTextChars} (maxTextChars, serve --max-text-chars)`,
      param,
    );
  }
  return t;
}

/** `str | list[str]` (vLLM's `ScoreInput | list[ScoreInput]`): a scalar is one text. */
function texts(
  v: unknown,
  name: string,
  limits: RequestLimits,
  allowTextObject: boolean,
  emptyMessage: string,
): string[] {
  if (v === undefined || v === null) throw badRequest(`"${name}": Field required`, name);
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) throw badRequest(`"${name}" is empty: ${emptyMessage}`, name);
  if (list.length > limits.maxDocuments) {
    throw badRequest(
      `"${name}" has ${list.length} entries; the limit is ${limits.maxDocuments} (maxDocuments, serve --max-documents)`,
      name,
    );
  }
  return list.map((d, i) => text(d, Array.isArray(v) ? `${name}[${i}]` : `"${name}"`, limits, allowTextObject));
}

/**
 * A `/rerank` body (also `/v1/rerank`, `/v2/rerank`: vLLM takes one shape on all three). `documents` may be
 * strings or Cohere v1's `{"text": …}` objects; `top_n` is a lax integer (≤ 0: all); unknown fields are ignored.
 */
export function parseRerankRequest(b: Record<string, unknown>, limits: RequestLimits): RerankRequest {
  const model = readModel(b);
  const q = b['query'];
  if (typeof q !== 'string') {
    if (q !== null && typeof q === 'object' && 'content' in q) {
      throw badRequest('"query": multimodal content is not supported: this service embeds text only', 'query');
    }
    throw badRequest(`"query": Input should be a valid string, got ${shown(q)}`, 'query');
  }
  if (q.trim() === '') throw badRequest('"query" is empty: pass the text to rank the documents against', 'query');
  const query = text(q, '"query"', limits, false);
  const documents = texts(b['documents'], 'documents', limits, true, 'At least one text_pair element must be given');
  let topN: number | undefined;
  if ('top_n' in b) {
    const r = laxInt(b['top_n']);
    if (!r.ok) throw badRequest(`"top_n": ${r.error.msg}, got ${shown(r.error.input)}`, 'top_n');
    topN = r.value > 0 ? r.value : undefined;
  }
  let returnDocuments = true;
  const rd = b['return_documents'];
  if (rd !== undefined && rd !== null) {
    const r = laxBool(rd);
    if (!r.ok) throw badRequest(`"return_documents": ${r.error.msg}, got ${shown(rd)}`, 'return_documents');
    returnDocuments = r.value;
  }
  return { query, documents, topN, returnDocuments, model };
}

/** The four request forms of vLLM's `ScoreRequest` union, in the order vLLM documents them. */
const SCORE_FORMS: readonly (readonly [string, string])[] = [
  ['queries', 'documents'],
  ['queries', 'items'],
  ['data_1', 'data_2'],
  ['text_1', 'text_2'],
];

/**
 * A `/score` body: `queries` + `documents` (or `queries` + `items`, `data_1` + `data_2`, `text_1` + `text_2`),
 * each a string or a list of strings, paired 1:1, 1:N or N:N as vLLM pairs them.
 */
export function parseScoreRequest(b: Record<string, unknown>, limits: RequestLimits): ScoreRequest {
  const model = readModel(b);
  const form = SCORE_FORMS.find(([a, c]) => b[a] !== undefined && b[c] !== undefined);
  if (form === undefined) {
    throw badRequest(
      'Field required: send "queries" and "documents" (or "queries" + "items", "data_1" + "data_2", ' +
        '"text_1" + "text_2"), each a string or a list of strings',
      'queries',
    );
  }
  const [first, second] = form;
  const queries = texts(b[first], first, limits, false, 'At least one text element must be given');
  const documents = texts(b[second], second, limits, false, 'At least one text_pair element must be given');
  if (queries.length > 1 && queries.length !== documents.length) {
    throw badRequest(
      `Input lengths must be either 1:1, 1:N or N:N (got ${queries.length} "${first}" and ${documents.length} "${second}")`,
      first,
    );
  }
  for (const [i, q] of queries.entries()) {
    if (q.trim() === '') throw badRequest(`${first}[${i}] is empty: pass a text to score against`, first);
  }
  return { queries, documents, model };
}
