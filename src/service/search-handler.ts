// `POST /search` (and `/v1/search`): search a stored corpus for a query, as a web-standard
// `(Request) => Promise<Response>` handler with /rerank's error envelope, body and text limits, API key, CORS
// and failure statuses. It knows only the DocumentSearcher contract (a store opened with
// `webgpu-maxsim/store` fulfils it), so this layer stays free of LanceDB and Node APIs. Requests for other
// paths go to `next` (the /rerank handler in `serve`).
import { MaxsimError } from '../core/errors.js';
import { createCorsPolicy, type CorsOptions } from './cors.js';
import { badRequest, bounded, errorResponse, jsonResponse, ServiceError, shown } from './http.js';
import { laxInt } from './lax.js';
import { anySignal, constantTimeEqual, DEFAULT_RERANK_LIMITS, failure, withCors } from './rerank-handler.js';
import { readJsonBody, type RequestLimits } from './requests.js';

/** What `/search` searches: a store (`Store` from `webgpu-maxsim/store` fits), or anything shaped like it. */
export interface DocumentSearcher {
  /** The embedding model whose vectors are searched (a request's `model`, if given, must equal it). */
  readonly model: string;
  search(
    query: string,
    options: { topK: number; filter?: string; signal?: AbortSignal },
  ): Promise<{
    readonly results: readonly { readonly id: string; readonly score: number; readonly text: string }[];
    /** Query token rows, reported as usage. */
    readonly queryTokens: number;
  }>;
}

/** Options for {@link createSearchHandler}. */
export interface SearchServiceOptions {
  readonly searcher: DocumentSearcher;
  /** When set, `/search` needs `Authorization: Bearer <apiKey>` (give the /rerank handler the same key). */
  readonly apiKey?: string | undefined;
  /** /rerank's limits: body bytes, characters in the query (and filter); `maxDocuments` caps `top_n`. */
  readonly limits?: Partial<RequestLimits>;
  /** Per-request deadline in ms for embedding the query and searching. Default 30,000. */
  readonly timeoutMs?: number;
  /** Cross-origin access, as the /rerank handler's (give both the same). */
  readonly cors?: CorsOptions;
  /** Called with errors that become 5xx responses, for logs. */
  readonly onError?: (err: unknown) => void;
  /** Handles every other path (e.g. the /rerank handler); without it they get a 404 (and `/health` a 200). */
  readonly next?: (request: Request) => Promise<Response>;
}

/** One entry of a `/search` response, best first. */
export interface SearchResultJson {
  id: string;
  relevance_score: number | null;
  document: { text: string };
}

const PATHS = new Set(['/search', '/v1/search']);

/**
 * `POST /search` and `/v1/search`: `{"query", "top_n"?, "filter"?}` → `{"id", "model", "results": [{"id",
 * "relevance_score", "document": {"text"}}], "usage": {"prompt_tokens", "total_tokens"}}`, best first. `top_n`
 * defaults to 10; `filter` is the searcher's filter (for a store: an SQL predicate over `id`, `text`,
 * `metadata`).
 *
 * @example
 * const search = createSearchHandler({ searcher: store, apiKey, next: createRerankHandler({ scorer, embedder, apiKey }) });
 * await serveHandler(search, { port: 8080 });
 */
export function createSearchHandler(options: SearchServiceOptions): (request: Request) => Promise<Response> {
  const limits: RequestLimits = { ...DEFAULT_RERANK_LIMITS, ...options.limits };
  const timeoutMs = options.timeoutMs ?? 30_000;
  const { searcher, next, onError } = options;
  const expectedAuth = options.apiKey === undefined || options.apiKey === '' ? undefined : `Bearer ${options.apiKey}`;
  const cors = createCorsPolicy(options.cors);

  const route = async (request: Request, path: string): Promise<Response> => {
    if (
      expectedAuth !== undefined &&
      !(await constantTimeEqual(request.headers.get('authorization') ?? '', expectedAuth))
    ) {
      return jsonResponse(401, { error: 'Unauthorized' });
    }
    if (request.method !== 'POST') {
      throw new ServiceError(405, 'Method Not Allowed', `${request.method} ${path} is not allowed; use POST`, null, {
        allow: 'POST',
      });
    }
    const parsed = parseSearchRequest(await readJsonBody(request, limits), limits);
    if (parsed.model !== undefined && parsed.model !== '' && parsed.model !== searcher.model) {
      throw new ServiceError(404, 'NotFoundError', `The model \`${parsed.model}\` does not exist.`, 'model');
    }
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = anySignal([request.signal, deadline]);
    try {
      const found = await searcher.search(parsed.query, {
        topK: parsed.topN,
        signal,
        ...(parsed.filter === undefined ? {} : { filter: parsed.filter }),
      });
      const results: SearchResultJson[] = found.results.map((r) => ({
        id: r.id,
        relevance_score: Number.isFinite(r.score) ? r.score : null,
        document: { text: r.text },
      }));
      return jsonResponse(200, {
        id: `search-${crypto.randomUUID().replaceAll('-', '')}`,
        model: searcher.model,
        usage: { prompt_tokens: found.queryTokens, total_tokens: found.queryTokens },
        results,
      });
    } catch (err) {
      throw searchFailure(err, deadline.aborted, request.signal.aborted, onError);
    }
  };

  return async (request) => {
    const path = new URL(request.url).pathname.replace(/\/+$/, '') || '/';
    if (!PATHS.has(path)) {
      if (next !== undefined) return next(request);
      if (path === '/health') return new Response(null, { status: 200 });
      return errorResponse(new ServiceError(404, 'NotFoundError', `no route ${path}; use POST /search or GET /health`));
    }
    const verdict = cors.judge(request.method, (name) => request.headers.get(name));
    if (verdict.kind === 'preflight') {
      const headers = new Headers(verdict.headers as [string, string][]);
      headers.set('content-type', 'text/plain; charset=utf-8');
      return new Response(verdict.body, { status: verdict.status, headers });
    }
    let response: Response;
    try {
      response = await route(request, path);
    } catch (err) {
      if (err instanceof ServiceError) response = errorResponse(err);
      else {
        if (!request.signal.aborted) onError?.(err);
        response = errorResponse(new ServiceError(500, 'InternalServerError', 'internal error while searching'));
      }
    }
    return withCors(response, verdict);
  };
}

/** The store's own failures first (a bad filter is the caller's; the store itself a 500), then /rerank's. */
function searchFailure(
  err: unknown,
  deadlinePassed: boolean,
  clientGone: boolean,
  onError: ((err: unknown) => void) | undefined,
): ServiceError {
  const code = err instanceof MaxsimError ? err.code : undefined;
  if (code === 'E_STORE_FILTER') return badRequest(bounded((err as Error).message), 'filter');
  if (code === 'E_INVALID_ARGUMENT') return badRequest(bounded((err as Error).message), 'query');
  if (!deadlinePassed && !clientGone) {
    if (code === 'E_STORE_MISMATCH') {
      onError?.(err);
      return new ServiceError(
        502,
        'BadGateway',
        `embedding upstream returned unusable vectors: ${bounded((err as Error).message)}`,
      );
    }
    if (code?.startsWith('E_STORE')) {
      onError?.(err);
      return new ServiceError(500, 'InternalServerError', 'internal error while searching the store');
    }
  }
  const mapped = failure(err, deadlinePassed, clientGone, onError);
  return mapped.status === 500
    ? new ServiceError(500, 'InternalServerError', 'internal error while searching', null, mapped.headers)
    : mapped;
}

interface SearchRequest {
  readonly query: string;
  readonly topN: number;
  readonly filter: string | undefined;
  readonly model: string | undefined;
}

function parseSearchRequest(b: Record<string, unknown>, limits: RequestLimits): SearchRequest {
  if (typeof b.query !== 'string') throw badRequest(`"query" must be a string, got ${shown(b.query)}`, 'query');
  if (b.query.trim() === '') throw badRequest('"query" is empty', 'query');
  if (b.query.length > limits.maxTextChars) {
    throw badRequest(`"query" has ${b.query.length} characters; the limit is ${limits.maxTextChars}`, 'query');
  }
  const topRaw = b.top_n ?? b.top_k;
  let topN = 10;
  if (topRaw !== undefined && topRaw !== null) {
    const r = laxInt(topRaw);
    if (!r.ok) throw badRequest(`"top_n": ${r.error.msg}, got ${shown(r.error.input)}`, 'top_n');
    if (r.value < 1) throw badRequest(`"top_n" must be an integer >= 1, got ${shown(topRaw)}`, 'top_n');
    topN = r.value;
  }
  if (topN > limits.maxDocuments) {
    throw badRequest(`"top_n" is ${topN}; the limit is ${limits.maxDocuments}`, 'top_n');
  }
  const f = b.filter;
  if (f !== undefined && f !== null && typeof f !== 'string') {
    throw badRequest(`"filter" must be a string (an SQL predicate), got ${shown(f)}`, 'filter');
  }
  if (typeof f === 'string' && f.length > limits.maxTextChars) {
    throw badRequest(`"filter" has ${f.length} characters; the limit is ${limits.maxTextChars}`, 'filter');
  }
  if (b.model !== undefined && b.model !== null && typeof b.model !== 'string') {
    throw badRequest(`"model" must be a string, got ${shown(b.model)}`, 'model');
  }
  return {
    query: b.query,
    topN,
    filter: typeof f === 'string' && f.trim() !== '' ? f : undefined,
    model: typeof b.model === 'string' ? b.model : undefined,
  };
}
