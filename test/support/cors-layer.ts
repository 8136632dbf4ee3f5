// A CORS layer in front of a local server (the /pooling stand-in), for browser tests of pages that call a vLLM
// server from another origin.
import { createServer, request as httpRequest, type Server } from 'node:http';

/**
 * What vLLM's CORS middleware does with its default `--allowed-origins '["*"]'`: answer preflights and add
 * Access-Control-Allow-Origin to every response. Everything else is passed through to the stand-in.
 */
export async function startCorsLayer(targetPort: number): Promise<Server> {
  const corsHeaders = {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET, POST, OPTIONS',
    'access-control-allow-headers': '*',
    'access-control-expose-headers': '*',
  };
  const server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(200, { ...corsHeaders, 'access-control-max-age': '600' }).end();
      return;
    }
    const upstream = httpRequest(
      { host: '127.0.0.1', port: targetPort, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, { ...up.headers, ...corsHeaders });
        up.pipe(res);
      },
    );
    upstream.on('error', (err) => res.writeHead(502, corsHeaders).end(String(err)));
    req.pipe(upstream);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return server;
}
