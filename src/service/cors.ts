// CORS exactly as vLLM answers it: vLLM passes --allowed-origins, --allowed-methods, --allowed-headers and
// --allow-credentials to Starlette's CORSMiddleware (0.47), whose rules are copied here: a request without
// Origin is untouched; a preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered by the
// policy itself (200 "OK", or 400 "Disallowed CORS origin, method, headers"); any other request with Origin
// gets Access-Control-Allow-Origin (and Vary: Origin when the origin is echoed). Pure logic over header
// lookups, so the web-standard rerank handler and the node:http /pooling stand-in share it.

/** vLLM's CORS options (`vllm serve --allowed-origins … --allowed-methods … --allowed-headers … --allow-credentials`). */
export interface CorsOptions {
  /** Origins allowed to call, or `['*']` (vLLM's default) for every origin. */
  readonly allowedOrigins?: readonly string[];
  /** Methods a preflight may ask for; `['*']` (default) means DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT. */
  readonly allowedMethods?: readonly string[];
  /** Request headers a preflight may ask for; `['*']` (default) allows (echoes) whatever is asked. */
  readonly allowedHeaders?: readonly string[];
  /** Send `Access-Control-Allow-Credentials: true`. Default false. */
  readonly allowCredentials?: boolean;
}

/** vLLM's defaults: every origin, method and header; no credentials. */
export const DEFAULT_CORS_OPTIONS: Required<CorsOptions> = {
  allowedOrigins: ['*'],
  allowedMethods: ['*'],
  allowedHeaders: ['*'],
  allowCredentials: false,
};

const ALL_METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'];
const SAFELISTED_HEADERS = ['Accept', 'Accept-Language', 'Content-Language', 'Content-Type'];

/** What the policy makes of one request. */
export type CorsVerdict =
  /** No Origin header: not a CORS request, leave it alone. */
  | { readonly kind: 'none' }
  /** A preflight, answered by the policy: send exactly this. */
  | {
      readonly kind: 'preflight';
      readonly status: 200 | 400;
      readonly headers: readonly (readonly [string, string])[];
      readonly body: string;
    }
  /** An actual request: run it, then add these headers to its response (appending `vary`). */
  | { readonly kind: 'actual'; readonly headers: readonly (readonly [string, string])[]; readonly varyOrigin: boolean };

/** A CORS policy built once from {@link CorsOptions}; `judge` classifies each request. */
export interface CorsPolicy {
  readonly options: Required<CorsOptions>;
  judge(method: string, header: (name: string) => string | null | undefined): CorsVerdict;
}

/**
 * Builds the policy (Starlette's CORSMiddleware with vLLM's settings: `expose_headers` empty, `max_age` 600).
 *
 * @example
 * const cors = createCorsPolicy({ allowedOrigins: ['http://localhost:5173'] });
 * const verdict = cors.judge(request.method, (name) => request.headers.get(name));
 */
export function createCorsPolicy(options: CorsOptions = {}): CorsPolicy {
  const o: Required<CorsOptions> = {
    allowedOrigins: options.allowedOrigins ?? DEFAULT_CORS_OPTIONS.allowedOrigins,
    allowedMethods: options.allowedMethods ?? DEFAULT_CORS_OPTIONS.allowedMethods,
    allowedHeaders: options.allowedHeaders ?? DEFAULT_CORS_OPTIONS.allowedHeaders,
    allowCredentials: options.allowCredentials ?? DEFAULT_CORS_OPTIONS.allowCredentials,
  };
  const methods = o.allowedMethods.includes('*') ? ALL_METHODS : [...o.allowedMethods];
  const allowAllOrigins = o.allowedOrigins.includes('*');
  const allowAllHeaders = o.allowedHeaders.includes('*');
  const explicitOrigin = !allowAllOrigins || o.allowCredentials;
  const allowHeaders = [...new Set([...SAFELISTED_HEADERS, ...o.allowedHeaders])].sort();
  const allowHeadersLower = allowHeaders.map((h) => h.toLowerCase());

  const simple: [string, string][] = [];
  if (allowAllOrigins) simple.push(['access-control-allow-origin', '*']);
  if (o.allowCredentials) simple.push(['access-control-allow-credentials', 'true']);

  const preflight: [string, string][] = [];
  if (explicitOrigin) preflight.push(['vary', 'Origin']);
  else preflight.push(['access-control-allow-origin', '*']);
  preflight.push(['access-control-allow-methods', methods.join(', ')], ['access-control-max-age', '600']);
  if (!allowAllHeaders) preflight.push(['access-control-allow-headers', allowHeaders.join(', ')]);
  if (o.allowCredentials) preflight.push(['access-control-allow-credentials', 'true']);

  const allowedOrigin = (origin: string): boolean => allowAllOrigins || o.allowedOrigins.includes(origin);

  return {
    options: o,
    judge(method, header) {
      const origin = header('origin');
      if (origin === null || origin === undefined) return { kind: 'none' };
      const requestedMethod = header('access-control-request-method');
      if (method === 'OPTIONS' && requestedMethod !== null && requestedMethod !== undefined) {
        const headers = [...preflight];
        const failures: string[] = [];
        if (allowedOrigin(origin)) {
          if (explicitOrigin) headers.push(['access-control-allow-origin', origin]);
        } else {
          failures.push('origin');
        }
        if (!methods.includes(requestedMethod)) failures.push('method');
        const requestedHeaders = header('access-control-request-headers');
        if (allowAllHeaders && requestedHeaders !== null && requestedHeaders !== undefined) {
          headers.push(['access-control-allow-headers', requestedHeaders]);
        } else if (requestedHeaders !== null && requestedHeaders !== undefined) {
          for (const h of requestedHeaders.toLowerCase().split(',')) {
            if (!allowHeadersLower.includes(h.trim())) {
              failures.push('headers');
              break;
            }
          }
        }
        return failures.length > 0
          ? { kind: 'preflight', status: 400, headers, body: `Disallowed CORS ${failures.join(', ')}` }
          : { kind: 'preflight', status: 200, headers, body: 'OK' };
      }
      const headers = [...simple];
      // With every origin allowed, a request carrying cookies still needs its own origin echoed, not `*`.
      const echo = (allowAllOrigins && header('cookie') != null) || (!allowAllOrigins && allowedOrigin(origin));
      if (echo) {
        const at = headers.findIndex(([k]) => k === 'access-control-allow-origin');
        if (at >= 0) headers.splice(at, 1);
        headers.unshift(['access-control-allow-origin', origin]);
      }
      return { kind: 'actual', headers, varyOrigin: echo };
    },
  };
}

/**
 * Parses a JSON list flag as vLLM does (`type=json.loads`), e.g. `--allowed-origins '["http://a.com"]'`.
 * Returns an error message instead of throwing, so each CLI words its own error.
 *
 * @example
 * parseJsonList('--allowed-origins', '["*"]'); // ['*']
 */
export function parseJsonList(flag: string, value: string): readonly string[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return `${flag} takes a JSON list, as vLLM does (e.g. ${flag} '["http://localhost:5173"]'), got ${JSON.stringify(value)}`;
  }
  if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string')) {
    return `${flag} must be a JSON list of strings, got ${value}`;
  }
  return parsed as string[];
}

/** Adds `Origin` to a `Vary` value as Starlette's `add_vary_header` does. */
export function varyWithOrigin(existing: string | null | undefined): string {
  return existing === null || existing === undefined || existing === '' ? 'Origin' : `${existing}, Origin`;
}
