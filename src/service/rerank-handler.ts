import type { TextEmbedder } from '../embed/text-embedder.js';
import { MaxsimError } from '../core/errors.js';
import type { Scorer } from '../core/scorer.js';

/** Limits on what one `/rerank` request may ask for; each breach is a 4xx in vLLM's error envelope. */
export interface RerankLimits {
  /** Request body bytes. Default 4 MiB. */
  readonly maxBodyBytes: number;
  /** Documents per request. Default 1,000. */
  readonly maxDocuments: number;
  /** Characters in the query or any one document. Default 32,768. */
  readonly maxTextChars: number;
}

/** Default {@link RerankLimits}. */
export const DEFAULT_RERANK_LIMITS: RerankLimits = { maxBodyBytes: 4 << 20, maxDocuments: 1000, maxTextChars: 32768 };

/** Options for {@link createRerankHandler}. */
export interface RerankServiceOptions {
  /** The one scorer every request shares. */
  readonly scorer: Scorer;
  /** Turns texts into token matrices (wrap it in `createEmbeddingCache` to reuse document embeddings). */
  readonly embedder: TextEmbedder;
  /** When set, every route but `GET /health` needs `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string | undefined;
  readonly limits?: Partial<RerankLimits>;
  /** Per-request upstream deadline in ms (embedding included). Default 30,000. */
  readonly timeoutMs?: number;
  /** Called with errors that become 5xx responses, for logs (the response itself never carries stacks). */
  readonly onError?: (err: unknown) => void;
}

/** One entry of a `/rerank` response, best first. */
export interface RerankResultJson {
  index: number;
  /** MaxSim of the query against this document; `null` for an empty document (score -Infinity). */
  relevance_score: number | null;
  document?: { text: string };
}

/**
 * A `/rerank` service as a web-standard `(Request) => Promise<Response>` handler, so one implementation runs
 * in Node (through `serveHandler` in `webgpu-maxsim/node`), Deno, Bun and Workers. Speaks the request shape
 * vLLM, Jina and Cohere rerank clients send (`query`, `documents` as strings or `{text}`, `top_n`,
 * `return_documents`) on `POST /rerank` and `POST /v1/rerank`, with `GET /health`.
 *
 * @example
 * const handler = createRerankHandler({ scorer, embedder: createEmbeddingCache(embedder) });
 * Deno.serve(handler);
 */
export function createRerankHandler(options: RerankServiceOptions): (request: Request) => Promise<Response> {
  const limits: RerankLimits = { ...DEFAULT_RERANK_LIMITS, ...options.limits };
  const timeoutMs = options.timeoutMs ?? 30_000;
  const { scorer, embedder } = options;
  const expectedAuth = options.apiKey === undefined || options.apiKey === '' ? undefined : `Bearer ${options.apiKey}`;
  let counter = 0;

  return async (request) => {
    const url = new URL(request.url);
    let deadline: AbortSignal | undefined;
    const path = url.pathname.replace(/\/+$/, '') || '/';
    try {
      if (path === '/health') {
        return request.method === 'GET' || request.method === 'HEAD'
          ? new Response(null, { status: 200 })
          : errorResponse(405, 'Method Not Allowed', `${request.method} ${path} is not allowed; use GET`);
      }
      if (
        expectedAuth !== undefined &&
        !(await constantTimeEqual(request.headers.get('authorization') ?? '', expectedAuth))
      ) {
        return jsonResponse(401, { error: 'Unauthorized' });
      }
      if (path !== '/rerank' && path !== '/v1/rerank') {
        return errorResponse(
          404,
          'NotFoundError',
          `no route ${path}; use POST /rerank, POST /v1/rerank or GET /health`,
        );
      }
      if (request.method !== 'POST') {
        return errorResponse(405, 'Method Not Allowed', `${request.method} ${path} is not allowed; use POST`);
      }
      const parsed = await readRequest(request, limits);
      if (parsed instanceof Response) return parsed;
      const { query, documents, topN, returnDocuments, model } = parsed;
      if (model !== undefined && model !== '' && model !== embedder.model) {
        return errorResponse(404, 'NotFoundError', `The model \`${model}\` does not exist.`, 'model');
      }

      deadline = AbortSignal.timeout(timeoutMs);
      const [queryMatrix, ...docMatrices] = await embedder.embed([query, ...documents], { signal: deadline });
      const ranked = await scorer.rerank(queryMatrix!, docMatrices, topN === undefined ? {} : { topK: topN });
      const results: RerankResultJson[] = ranked.map(({ index, score }) => ({
        index,
        relevance_score: Number.isFinite(score) ? score : null,
        ...(returnDocuments ? { document: { text: documents[index]! } } : {}),
      }));
      const totalTokens = docMatrices.reduce((n, m) => n + m.rows, queryMatrix!.rows);
      counter = (counter + 1) % 1e9;
      return jsonResponse(200, {
        id: `rerank-${Date.now().toString(36)}${counter.toString(36)}`,
        model: embedder.model,
        usage: { total_tokens: totalTokens },
        results,
      });
    } catch (err) {
      return upstreamErrorResponse(err, deadline?.aborted === true, options.onError);
    }
  };
}

interface ParsedRerankRequest {
  query: string;
  documents: string[];
  topN: number | undefined;
  returnDocuments: boolean;
  model: string | undefined;
}

async function readRequest(request: Request, limits: RerankLimits): Promise<ParsedRerankRequest | Response> {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    return errorResponse(415, 'Unsupported Media Type', "Only 'application/json' is allowed", 'content-type');
  }
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > limits.maxBodyBytes) return tooLarge(declared, limits);
  const text = await readBodyWithLimit(request, limits.maxBodyBytes);
  if (text === undefined) return tooLarge(undefined, limits);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return badRequest(`request body is not valid JSON: ${(err as Error).message}`, 'body');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return badRequest('request body must be a JSON object with "query" and "documents"', 'body');
  }
  const b = body as Record<string, unknown>;
  if (typeof b.query !== 'string') return badRequest(`"query" must be a string, got ${typeName(b.query)}`, 'query');
  if (b.query.trim() === '') return badRequest('"query" is empty', 'query');
  if (b.query.length > limits.maxTextChars) {
    return badRequest(`"query" has ${b.query.length} characters; the limit is ${limits.maxTextChars}`, 'query');
  }
  if (!Array.isArray(b.documents)) {
    return badRequest(
      `"documents" must be an array of strings or {"text": string}, got ${typeName(b.documents)}`,
      'documents',
    );
  }
  if (b.documents.length === 0) return badRequest('"documents" is empty: pass at least one document', 'documents');
  if (b.documents.length > limits.maxDocuments) {
    return badRequest(
      `"documents" has ${b.documents.length} entries; the limit is ${limits.maxDocuments}`,
      'documents',
    );
  }
  const documents: string[] = [];
  for (let i = 0; i < b.documents.length; i++) {
    const d: unknown = b.documents[i];
    const t = typeof d === 'string' ? d : isTextObject(d) ? d.text : undefined;
    if (t === undefined) {
      return badRequest(`documents[${i}] must be a string or {"text": string}, got ${typeName(d)}`, `documents.${i}`);
    }
    if (t.length > limits.maxTextChars) {
      return badRequest(
        `documents[${i}] has ${t.length} characters; the limit is ${limits.maxTextChars}`,
        `documents.${i}`,
      );
    }
    documents.push(t);
  }
  const topRaw = b.top_n ?? b.top_k;
  if (
    topRaw !== undefined &&
    topRaw !== null &&
    (typeof topRaw !== 'number' || !Number.isInteger(topRaw) || topRaw < 0)
  ) {
    return badRequest(`"top_n" must be an integer >= 0, got ${JSON.stringify(topRaw)}`, 'top_n');
  }
  // vLLM and Cohere treat top_n 0 / absent as "all documents".
  const topN = typeof topRaw === 'number' && topRaw > 0 ? topRaw : undefined;
  const rd = b.return_documents;
  if (rd !== undefined && rd !== null && typeof rd !== 'boolean') {
    return badRequest(`"return_documents" must be a boolean, got ${typeName(rd)}`, 'return_documents');
  }
  if (b.model !== undefined && b.model !== null && typeof b.model !== 'string') {
    return badRequest(`"model" must be a string, got ${typeName(b.model)}`, 'model');
  }
  return {
    query: b.query,
    documents,
    topN,
    returnDocuments: rd === true,
    model: typeof b.model === 'string' ? b.model : undefined,
  };
}

/** Reads the body as UTF-8, giving up (undefined) as soon as it passes `limit` bytes. */
async function readBodyWithLimit(request: Request, limit: number): Promise<string | undefined> {
  if (request.body === null) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

function upstreamErrorResponse(
  err: unknown,
  deadlinePassed: boolean,
  onError: ((err: unknown) => void) | undefined,
): Response {
  const code = err instanceof MaxsimError ? err.code : undefined;
  if (deadlinePassed || code === 'E_POOLING_TIMEOUT') {
    onError?.(err);
    return errorResponse(504, 'GatewayTimeout', 'the embedding upstream did not answer in time', null);
  }
  if (code?.startsWith('E_POOLING')) {
    onError?.(err);
    const upstream = (err as { serverMessage?: string }).serverMessage;
    const status = (err as { status?: number }).status;
    const said = upstream ?? (err as Error).message;
    return errorResponse(502, 'BadGateway', `embedding upstream failed${status ? ` (${status})` : ''}: ${said}`, null);
  }
  if (err instanceof MaxsimError && (code === 'E_INVALID_MATRIX' || code === 'E_DIM_MISMATCH')) {
    onError?.(err);
    return errorResponse(502, 'BadGateway', `embedding upstream returned unusable vectors: ${err.message}`, null);
  }
  onError?.(err);
  return errorResponse(500, 'InternalServerError', 'internal error while reranking', null);
}

function tooLarge(declared: number | undefined, limits: RerankLimits): Response {
  return errorResponse(
    413,
    'Payload Too Large',
    `request body${declared === undefined ? '' : ` (${declared} bytes)`} exceeds the limit of ${limits.maxBodyBytes} bytes`,
    'body',
  );
}

function badRequest(message: string, param: string): Response {
  return errorResponse(400, 'BadRequestError', message, param);
}

/** vLLM's error envelope: `{"error": {message, type, param, code}}` with `code` the HTTP status. */
function errorResponse(status: number, type: string, message: string, param: string | null = null): Response {
  return jsonResponse(status, { error: { message, type, param, code: status } });
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function isTextObject(v: unknown): v is { text: string } {
  return v !== null && typeof v === 'object' && typeof (v as { text?: unknown }).text === 'string';
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/**
 * Compares two secrets in time independent of where they differ: both are hashed (SHA-256, Web Crypto, in
 * every runtime) and the digests compared with XOR, so neither content nor length leaks through timing.
 */
async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [da, db] = await Promise.all([
    crypto.subtle.digest('SHA-256', enc.encode(a)),
    crypto.subtle.digest('SHA-256', enc.encode(b)),
  ]);
  const x = new Uint8Array(da);
  const y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}
