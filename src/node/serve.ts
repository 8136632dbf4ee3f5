import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

/** A running HTTP server: where it listens, and how to stop it. */
export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /**
   * Stops accepting connections and ends idle keep-alive sockets; requests in flight may finish for `graceMs`
   * (default 10,000), then every connection is closed (their handlers see their request's signal abort).
   * Resolves when closed. Calling it again shortens the grace period (`close(0)`: close everything now).
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Serves a web-standard `(Request) => Promise<Response>` handler (such as `createRerankHandler`) over
 * `node:http`: the thin Node adapter that lets one handler run on Node, Deno, Bun and Workers.
 *
 * @example
 * const server = await serveHandler(createRerankHandler({ scorer, embedder }), { port: 8080 });
 * console.log(`listening on ${server.url}`);
 */
export async function serveHandler(
  handler: (request: Request) => Promise<Response>,
  options: { port?: number; host?: string } = {},
): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    void respond(handler, req, res, host);
  });
  const { url, port } = await listen(server, options.port ?? 0, host);
  let closing: Promise<void> | undefined;
  let deadline = Number.POSITIVE_INFINITY;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    url,
    port,
    close: (graceMs = 10_000) => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        });
        server.closeIdleConnections();
      });
      // The grace period only ever shortens: a second Ctrl-C means now.
      const at = Date.now() + Math.max(0, graceMs);
      if (at < deadline) {
        deadline = at;
        clearTimeout(timer);
        timer = setTimeout(() => server.closeAllConnections(), Math.max(0, graceMs));
        timer.unref();
      }
      return closing;
    },
  };
}

/** Methods a web `Request` refuses to carry (fetch's forbidden methods): answered here, 405. */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

/**
 * The request's URL from its target and Host header, or undefined when either is malformed (a Host that is no
 * host[:port], a port out of range, a target that does not parse).
 */
function requestUrl(req: IncomingMessage, fallbackHost: string): URL | undefined {
  const hostHeader = req.headers.host ?? fallbackHost;
  try {
    const base = new URL(`http://${hostHeader}`);
    if (base.pathname !== '/' || base.search !== '' || base.hash !== '' || base.username !== '' || hostHeader === '') {
      return undefined;
    }
    return new URL(req.url ?? '/', base);
  } catch {
    // new URL throws on an invalid host or port: a client error, answered 400 by the caller.
    return undefined;
  }
}

function sendError(res: ServerResponse, status: number, type: string, message: string, headers = {}): void {
  const body = JSON.stringify({ error: { message, type, param: null, code: status } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

async function respond(
  handler: (request: Request) => Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
  host: string,
): Promise<void> {
  // The client going away (the response closing before it was sent, or the upload breaking off) aborts the
  // request's signal: the handler stops its work, and does not report the broken body read as its own failure.
  const controller = new AbortController();
  res.on('close', () => controller.abort());
  req.on('error', () => controller.abort());
  const method = req.method ?? 'GET';
  if (FORBIDDEN_METHODS.has(method)) {
    sendError(res, 405, 'Method Not Allowed', `${method} is not allowed`, { allow: 'GET, HEAD, POST, OPTIONS' });
    return;
  }
  const url = requestUrl(req, host);
  if (url === undefined) {
    sendError(res, 400, 'BadRequestError', 'malformed Host header or request target');
    return;
  }
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (Array.isArray(value)) for (const v of value) headers.append(name, v);
      else if (value !== undefined) headers.set(name, value);
    }
    const hasBody = method !== 'GET' && method !== 'HEAD';
    const request = new Request(url, {
      method,
      headers,
      signal: controller.signal,
      ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' } : {}),
    } as RequestInit);
    const response = await handler(request);
    res.statusCode = response.status;
    response.headers.forEach((value, name) => {
      res.setHeader(name, value);
    });
    if (response.body === null) {
      res.end();
      return;
    }
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch (err) {
    // The handler answers every expected failure itself; this is the last line for bugs, without leaking them.
    // A client that left is no failure of ours: nothing to report, nobody to answer.
    if (controller.signal.aborted) {
      res.destroy();
      return;
    }
    process.emitWarning(`webgpu-maxsim: request handler failed: ${err instanceof Error ? err.message : String(err)}`);
    if (!res.headersSent) {
      res.statusCode = 500;
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({ error: { message: 'internal error', type: 'InternalServerError', param: null, code: 500 } }),
      );
    } else {
      res.destroy();
    }
  }
}

/**
 * Starts `server` listening on `host:port` (port 0 picks a free one); resolves with the bound port and a base URL
 * (IPv6 hosts bracketed), or rejects with the listen error (e.g. EADDRINUSE).
 */
export async function listen(server: Server, port: number, host: string): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`, port: bound };
}
