import type { TextEmbedder } from '../embed/text-embedder.js';
import { MaxsimError } from '../core/errors.js';
import type { Scorer } from '../core/scorer.js';
import { topK } from '../core/top-k.js';
import { createCorsPolicy, varyWithOrigin, type CorsOptions, type CorsVerdict } from './cors.js';
import { bounded, errorResponse, jsonResponse, ServiceError } from './http.js';
import { InflightTokens, scoreTexts } from './pipeline.js';
import { parseRerankRequest, parseScoreRequest, readJsonBody, type RequestLimits } from './requests.js';

/** Limits on what one request may ask for; each breach is a 4xx in vLLM's error envelope. */
export interface RerankLimits extends RequestLimits {
  /**
   * Token vectors one request may embed and score, query included; past it, 413. Default 262,144 (2^18), about
   * 1,000 documents of 260 tokens. The built-in embedder counts tokens before embedding, so it refuses at once;
   * with a /pooling upstream the count is kept as chunks of documents come back.
   */
  readonly maxRequestTokens: number;
  /**
   * Token vectors every request in flight may hold together; past it, 429 with `Retry-After: 1`. Default
   * 524,288 (two of the largest requests).
   */
  readonly maxInflightTokens: number;
}

/** Default {@link RerankLimits}. */
export const DEFAULT_RERANK_LIMITS: RerankLimits = {
  maxBodyBytes: 4 << 20,
  maxDocuments: 1000,
  maxTextChars: 32768,
  maxRequestTokens: 1 << 18,
  maxInflightTokens: 1 << 19,
};

/** Options for {@link createRerankHandler}. */
export interface RerankServiceOptions {
  /** The one scorer every request shares. */
  readonly scorer: Scorer;
  /** Turns texts into token matrices (wrap it in `createEmbeddingCache` to reuse document embeddings). */
  readonly embedder: TextEmbedder;
  /** When set, every route but `GET /health` needs `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string | undefined;
  readonly limits?: Partial<RerankLimits>;
  /** Per-request deadline in ms (embedding and scoring). Default 30,000. */
  readonly timeoutMs?: number;
  /** Cross-origin access, with vLLM's options and defaults (every origin, method and header). */
  readonly cors?: CorsOptions;
  /** Called with errors that become 5xx responses, for logs (the response itself never carries stacks). */
  readonly onError?: (err: unknown) => void;
}

/** One entry of a `/rerank` response, best first. */
export interface RerankResultJson {
  index: number;
  /** The document as vLLM returns it; omitted when the request says `return_documents: false`. */
  document?: { text: string; multi_modal: null };
  /** MaxSim of the query against this document; `null` for a document with no token vectors (score -Infinity). */
  relevance_score: number | null;
}

const ROUTES: Readonly<Record<string, string>> = {
  '/health': 'GET, HEAD',
  '/rerank': 'POST',
  '/v1/rerank': 'POST',
  '/v2/rerank': 'POST',
  '/score': 'POST',
  '/v1/score': 'POST',
  '/v1/models': 'GET, HEAD',
};

/**
 * A rerank service as a web-standard `(Request) => Promise<Response>` handler, so one implementation runs
 * in Node (through `serveHandler` in `webgpu-maxsim/node`), Deno, Bun and Workers. Speaks vLLM's API for a
 * late-interaction model: `POST /rerank`, `/v1/rerank` and `/v2/rerank` (vLLM, Jina, Cohere v1 and v2
 * clients), `POST /score` and `/v1/score`, `GET /v1/models`, `GET /health`, with vLLM's CORS behaviour.
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
  const cors = createCorsPolicy(options.cors);
  const inflight = new InflightTokens(limits.maxInflightTokens);
  const created = Math.floor(Date.now() / 1000);

  const route = async (request: Request, path: string): Promise<Response> => {
    const allowed = ROUTES[path];
    if (path === '/health' && allowed !== undefined && allowed.includes(request.method)) {
      return new Response(null, { status: 200 });
    }
    if (
      expectedAuth !== undefined &&
      path !== '/health' &&
      request.method !== 'OPTIONS' && // as vLLM: its auth middleware lets OPTIONS through
      !(await constantTimeEqual(request.headers.get('authorization') ?? '', expectedAuth))
    ) {
      return jsonResponse(401, { error: 'Unauthorized' });
    }
    if (allowed === undefined) {
      throw new ServiceError(
        404,
        'NotFoundError',
        `no route ${path}; use POST /rerank (/v1/rerank, /v2/rerank), POST /score (/v1/score), GET /v1/models or GET /health`,
      );
    }
    if (!allowed.split(', ').includes(request.method)) {
      throw new ServiceError(
        405,
        'Method Not Allowed',
        `${request.method} ${path} is not allowed; use ${allowed}`,
        null,
        {
          allow: allowed,
        },
      );
    }
    if (path === '/health') return new Response(null, { status: 200 });
    if (path === '/v1/models') return jsonResponse(200, modelList(embedder.model, created));

    const body = await readJsonBody(request, limits);
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = anySignal([request.signal, deadline]);
    try {
      if (path.endsWith('/score')) {
        const req = parseScoreRequest(body, limits);
        checkModel(req.model, embedder.model);
        const { scores, promptTokens } = await scoreTexts({
          embedder,
          scorer,
          queries: req.queries,
          documents: req.documents,
          signal,
          budgets: limits,
          inflight,
        });
        return jsonResponse(200, {
          id: responseId(request),
          object: 'list',
          created: Math.floor(Date.now() / 1000),
          model: embedder.model,
          data: Array.from(scores, (score, index) => ({ index, object: 'score', score: jsonScore(score) })),
          usage: {
            prompt_tokens: promptTokens,
            total_tokens: promptTokens,
            completion_tokens: 0,
            prompt_tokens_details: null,
          },
        });
      }
      const req = parseRerankRequest(body, limits);
      checkModel(req.model, embedder.model);
      const { scores, promptTokens } = await scoreTexts({
        embedder,
        scorer,
        queries: [req.query],
        documents: req.documents,
        signal,
        budgets: limits,
        inflight,
      });
      const results: RerankResultJson[] = topK(scores, req.topN).map(({ index, score }) => ({
        index,
        ...(req.returnDocuments ? { document: { text: req.documents[index]!, multi_modal: null } } : {}),
        relevance_score: jsonScore(score),
      }));
      return jsonResponse(200, {
        id: responseId(request),
        model: embedder.model,
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
        results,
      });
    } catch (err) {
      if (err instanceof ServiceError) throw err;
      throw failure(err, deadline.aborted, request.signal.aborted, options.onError);
    }
  };

  return async (request) => {
    const verdict = cors.judge(request.method, (name) => request.headers.get(name));
    if (verdict.kind === 'preflight') {
      const headers = new Headers(verdict.headers as [string, string][]);
      headers.set('content-type', 'text/plain; charset=utf-8');
      return new Response(verdict.body, { status: verdict.status, headers });
    }
    let response: Response;
    try {
      const path = new URL(request.url).pathname.replace(/\/+$/, '') || '/';
      response = await route(request, path);
    } catch (err) {
      if (err instanceof ServiceError) response = errorResponse(err);
      else {
        // Reading the body failed: the client went away mid-upload (nobody to answer, nothing to log), or a bug.
        if (!request.signal.aborted) options.onError?.(err);
        response = errorResponse(new ServiceError(500, 'InternalServerError', 'internal error while reranking'));
      }
    }
    return withCors(response, verdict);
  };
}

/** A typed failure of the work: the deadline (504), the client leaving, the upstream (502), or a bug (500). */
export function failure(
  err: unknown,
  deadlinePassed: boolean,
  clientGone: boolean,
  onError: ((err: unknown) => void) | undefined,
): ServiceError {
  const code = err instanceof MaxsimError ? err.code : undefined;
  if (clientGone && !deadlinePassed) {
    // Nobody reads this answer; a client that leaves is not a server error, so it is not logged.
    return new ServiceError(499, 'ClientClosedRequest', 'the client closed the request');
  }
  onError?.(err);
  if (deadlinePassed || code === 'E_POOLING_TIMEOUT') {
    return new ServiceError(504, 'GatewayTimeout', 'the embedding upstream did not answer in time');
  }
  if (code?.startsWith('E_POOLING')) {
    const upstream = (err as { serverMessage?: string }).serverMessage;
    const status = (err as { status?: number }).status;
    const said = bounded(upstream ?? (err as Error).message);
    return new ServiceError(502, 'BadGateway', `embedding upstream failed${status ? ` (${status})` : ''}: ${said}`);
  }
  if (code === 'E_INVALID_MATRIX' || code === 'E_DIM_MISMATCH') {
    return new ServiceError(
      502,
      'BadGateway',
      `embedding upstream returned unusable vectors: ${bounded((err as Error).message)}`,
    );
  }
  return new ServiceError(500, 'InternalServerError', 'internal error while reranking');
}

function checkModel(model: string | undefined, served: string): void {
  if (model !== undefined && model !== '' && model !== served) {
    throw new ServiceError(404, 'NotFoundError', `The model \`${model}\` does not exist.`, 'model');
  }
}

/** JSON has no -Infinity: a document with no token vectors scores `null`. */
function jsonScore(score: number): number | null {
  return Number.isFinite(score) ? score : null;
}

/** vLLM's id: `score-` and the caller's X-Request-Id, or a random one. */
function responseId(request: Request): string {
  const given = request.headers.get('x-request-id');
  if (given !== null && given !== '' && given.length <= 200) return `score-${given}`;
  return `score-${crypto.randomUUID().replaceAll('-', '')}`;
}

/** vLLM's `GET /v1/models` card for the one served model. */
function modelList(model: string, created: number): unknown {
  return {
    object: 'list',
    data: [
      {
        id: model,
        object: 'model',
        created,
        owned_by: 'webgpu-maxsim',
        root: model,
        parent: null,
        max_model_len: null,
        permission: [
          {
            id: `modelperm-${crypto.randomUUID().replaceAll('-', '')}`,
            object: 'model_permission',
            created,
            allow_create_engine: false,
            allow_sampling: false,
            allow_logprobs: false,
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

/** The response with the CORS headers the verdict asks for (on every answer, 401 included). */
export function withCors(response: Response, verdict: CorsVerdict): Response {
  if (verdict.kind !== 'actual') return response;
  const headers = new Headers(response.headers);
  for (const [k, v] of verdict.headers) headers.set(k, v);
  if (verdict.varyOrigin) headers.set('vary', varyWithOrigin(response.headers.get('vary')));
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** An AbortSignal that aborts when any of `signals` does (AbortSignal.any where the runtime lacks it). */
export function anySignal(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (any !== undefined) return any.call(AbortSignal, signals);
  const controller = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    s.addEventListener('abort', () => controller.abort(s.reason), { once: true });
  }
  return controller.signal;
}

/**
 * Compares two secrets in time independent of where they differ: both are hashed (SHA-256, Web Crypto, in
 * every runtime) and the digests compared with XOR, so neither content nor length leaks through timing.
 */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
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
