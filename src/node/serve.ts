import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

/** A running HTTP server: where it listens, and how to stop it. */
export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections, ends idle keep-alive sockets, resolves when closed. */
  close(): Promise<void>;
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
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

async function respond(
  handler: (request: Request) => Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
  host: string,
): Promise<void> {
  const controller = new AbortController();
  res.on('close', () => controller.abort());
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (Array.isArray(value)) for (const v of value) headers.append(name, v);
      else if (value !== undefined) headers.set(name, value);
    }
    const method = req.method ?? 'GET';
    const hasBody = method !== 'GET' && method !== 'HEAD';
    const request = new Request(new URL(req.url ?? '/', `http://${req.headers.host ?? host}`), {
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
