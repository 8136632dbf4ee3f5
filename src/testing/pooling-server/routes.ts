// Routing of the /pooling stand-in: request logging, scripted faults, the API key, then one handler per path,
// with FastAPI's answers for unknown paths and methods.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, methodNotAllowed, sendError, sendJson } from './envelope.js';
import { sendFault, takeFault } from './faults.js';
import { embeddings, isPoolingShaped, pooling } from './pooling.js';
import type { PoolingServerRequest, ServerState } from './server.js';
import { modelList, tokenize } from './tokenize.js';
import { checkJsonRequest, headerValue, validationError } from './validation.js';

/** Answers one request. */
export async function handle(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const method = req.method ?? 'GET';
  const raw = await readBody(req);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k === 'authorization' || v === undefined) continue;
    headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  let parsed: unknown;
  let jsonError: string | undefined;
  if (raw.length > 0) {
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      jsonError = err instanceof Error ? err.message : String(err);
      parsed = raw;
    }
  }
  const entry: PoolingServerRequest = { method, path, headers, body: parsed, receivedAt: Date.now() };
  if (state.logRequests) state.requests.push(entry);

  // vLLM's CORS middleware: preflights are answered before anything else (the API key middleware lets OPTIONS
  // through); other cross-origin answers get Access-Control-Allow-Origin, except the key middleware's 401.
  const cors = state.cors.judge(method, (name) => headerValue(req, name));
  if (cors.kind === 'preflight') {
    res.writeHead(cors.status, [
      ...cors.headers.flat(),
      'content-type',
      'text/plain; charset=utf-8',
      'content-length',
      String(Buffer.byteLength(cors.body)),
    ]);
    res.end(cors.body);
    return;
  }
  const corsNames: string[] = [];
  if (cors.kind === 'actual') {
    for (const [k, v] of cors.headers) {
      res.setHeader(k, v);
      corsNames.push(k);
    }
    if (cors.varyOrigin) {
      res.setHeader('vary', 'Origin');
      corsNames.push('vary');
    }
  }

  const fault = takeFault(state, entry);
  if (fault !== undefined) {
    if (fault.hang === true) return;
    if (fault.reset === true) {
      req.socket.destroy();
      return;
    }
    const delay = state.delayMs?.(entry) ?? 0;
    if (delay > 0) await sleep(delay);
    sendFault(state, res, fault);
    return;
  }
  const delay = state.delayMs?.(entry) ?? 0;
  if (delay > 0) await sleep(delay);

  if (state.apiKey !== undefined && path !== '/health' && path !== '/ping') {
    if (method !== 'OPTIONS' && req.headers.authorization !== `Bearer ${state.apiKey}`) {
      for (const name of corsNames) res.removeHeader(name);
      sendJson(res, 401, { error: 'Unauthorized' });
      return;
    }
  }
  const requestId = headerValue(req, 'x-request-id');
  if (requestId !== undefined) res.setHeader('X-Request-Id', requestId);

  try {
    switch (path) {
      case '/health':
        if (method !== 'GET') throw methodNotAllowed();
        res.writeHead(200, { 'content-length': '0' });
        res.end();
        return;
      case '/ping':
        if (method !== 'GET' && method !== 'POST') throw methodNotAllowed();
        res.writeHead(200, { 'content-length': '0' });
        res.end();
        return;
      case '/v1/models':
        if (method !== 'GET') throw methodNotAllowed();
        sendJson(res, 200, modelList(state));
        return;
      case '/v1/embeddings':
        if (method !== 'POST') throw methodNotAllowed();
        checkJsonRequest(state, req, jsonError);
        await embeddings(state, parsed, requestId, res);
        return;
      case '/tokenize':
        if (method !== 'POST') throw methodNotAllowed();
        checkJsonRequest(state, req, jsonError);
        sendJson(res, 200, tokenize(state, parsed));
        return;
      case '/pooling':
      case '/invocations': {
        if (method !== 'POST') throw methodNotAllowed();
        checkJsonRequest(state, req, jsonError);
        if (path === '/invocations' && !isPoolingShaped(parsed)) {
          throw validationError(state, [
            {
              type: 'value_error',
              loc: ['body'],
              msg:
                'Cannot find a suitable handler for the request: this server only serves pooling requests ' +
                '(a body with `input`, `messages` or `data`)',
              input: parsed,
            },
          ]);
        }
        await pooling(state, parsed, requestId, res);
        return;
      }
      default:
        sendJson(res, 404, { detail: 'Not Found' });
        return;
    }
  } catch (err) {
    if (err instanceof HttpError) {
      if (err.type === '__detail__') sendJson(res, err.status, { detail: err.message });
      else sendError(state, res, err);
      return;
    }
    throw err;
  }
}

/** The whole request body as text. */
async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
