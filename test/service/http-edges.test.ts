// The node:http adapter (serveHandler) and `serve` at the edges of HTTP: malformed Host headers and request
// targets, methods a web Request cannot carry (TRACE), clients that leave mid-upload, upstream errors of any
// size, and shutdown with requests still in flight.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createHashEmbedder,
  createRerankHandler,
  createScorer,
  hashTextEmbedder,
  PoolingClient,
  poolingTextEmbedder,
  serveHandler,
  startPoolingServer,
  type RunningServer,
  type Scorer,
} from '../../src/node.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** Sends raw bytes over TCP; resolves with what came back before the server closed or `ms` passed. */
function raw(port: number, request: string, ms = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(got);
    }, ms);
    socket.on('data', (d) => {
      got += d.toString('latin1');
      if (/\r\n\r\n/.test(got)) {
        const length = /content-length: (\d+)/i.exec(got);
        const body = got.slice(got.indexOf('\r\n\r\n') + 4);
        if (length !== null && body.length >= Number(length[1])) {
          clearTimeout(timer);
          socket.destroy();
          resolve(got);
        }
      }
    });
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.on('error', reject);
    socket.write(request);
  });
}

const status = (reply: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);

let scorer: Scorer;
let service: RunningServer;
const errors: unknown[] = [];
const warnings: Error[] = [];
const onWarning = (w: Error): void => {
  warnings.push(w);
};

beforeAll(async () => {
  scorer = await createScorer({ backend: 'cpu' });
  service = await serveHandler(
    createRerankHandler({
      scorer,
      embedder: hashTextEmbedder(createHashEmbedder({ dim: 16 })),
      onError: (e) => errors.push(e),
    }),
  );
  process.on('warning', onWarning);
});

afterAll(async () => {
  process.off('warning', onWarning);
  await service?.close();
  scorer?.destroy();
});

describe('malformed requests get 4xx, never 500', () => {
  it.each(['a b', '[::', 'a:99999', 'a/b?c', '%zz'])('Host: %s → 400', async (host) => {
    const body = '{"query":"q","documents":["a"]}';
    const reply = await raw(
      service.port,
      `POST /rerank HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(status(reply), reply).toBe(400);
    expect(reply).toMatch(/"code":400/);
  });

  it('a well-formed Host (name, IPv6, port) is served', async () => {
    for (const host of ['example.org', '[::1]:8080', 'localhost:80']) {
      const reply = await raw(service.port, `GET /health HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(status(reply), host).toBe(200);
    }
  });

  it('TRACE → 405 (a web Request cannot carry it), not 500; an unknown method is Node’s own 400', async () => {
    const trace = await raw(service.port, 'TRACE /rerank HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(status(trace), trace).toBe(405);
    const track = await raw(service.port, 'TRACK /rerank HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(status(track), track).toBe(400);
    expect(errors).toEqual([]);
  });
});

describe('a client that leaves', () => {
  it('mid-upload is not logged as a server error', async () => {
    const before = errors.length;
    await new Promise<void>((resolve) => {
      const socket = connect(service.port, '127.0.0.1', () => {
        socket.write(
          'POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"query": "q", "docu',
        );
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 100);
      });
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(errors.slice(before)).toEqual([]);
    expect(warnings.filter((w) => /webgpu-maxsim/.test(w.message))).toEqual([]);
  });
});

describe('upstream errors of any size', () => {
  it('a 5 MB upstream error becomes a bounded 502 (and a bounded log line)', async () => {
    const pooling = await startPoolingServer({ dim: 16 });
    const logged: string[] = [];
    const proxy = await serveHandler(
      createRerankHandler({
        scorer,
        embedder: poolingTextEmbedder(new PoolingClient({ baseUrl: pooling.url, maxRetries: 0 }), pooling.model),
        onError: (e) => logged.push((e as Error).message),
      }),
    );
    try {
      const huge = 'x'.repeat(5 << 20);
      pooling.addFault({
        status: 400,
        body: { error: { message: huge, type: 'BadRequestError', param: null, code: 400 } },
        times: 2,
      });
      const res = await fetch(`${proxy.url}/rerank`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"q","documents":["a"]}',
      });
      const text = await res.text();
      expect(res.status).toBe(502);
      expect(text.length).toBeLessThan(4096);
      expect(JSON.parse(text).error.message).toMatch(
        /embedding upstream failed \(400\): x+… \(\d+ characters in all\)/,
      );
      expect(logged).toHaveLength(1);
      expect(logged[0]!.length).toBeLessThan(4096);
    } finally {
      await proxy.close();
      await pooling.close();
    }
  });
});

describe('shutdown', () => {
  let pooling: Awaited<ReturnType<typeof startPoolingServer>>;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    expect(existsSync(CLI), 'dist/cli.js is missing: run `npm run build` (npm test does it first)').toBe(true);
    // The upstream answers "slow" documents 600 ms late.
    pooling = await startPoolingServer({
      dim: 16,
      delayMs: (r) => (JSON.stringify(r.body).includes('is slow') ? 600 : 0),
    });
  });

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    await pooling?.close();
  });

  it('after SIGINT, requests in flight get a grace period, then the server closes and exits 0', async () => {
    child = spawn(
      process.execPath,
      [CLI, 'serve', '--pooling-url', pooling.url, '--port', '0', '--backend', 'cpu', '--shutdown-grace-ms', '1500'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child!.once('exit', (code) => reject(new Error(`serve exited early with ${code}: ${out}`)));
    });
    const sent = (text: string) => pooling.requests.some((r) => JSON.stringify(r.body).includes(text));
    const rerank = (doc: string) =>
      fetch(`${url}/rerank`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'q', documents: [doc] }),
      }).then(
        (r) => r.status,
        (e: Error) => e.message,
      );
    // One request whose upstream never answers, one whose upstream answers a little after the signal.
    pooling.addFault({ hang: true, times: 1, match: (r) => JSON.stringify(r.body).includes('hangs forever') });
    const hung = rerank('this one hangs forever');
    await expect.poll(() => sent('hangs forever')).toBe(true);
    const slow = rerank('this one is slow');
    await expect.poll(() => sent('is slow')).toBe(true);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
    child.kill('SIGINT');
    // The slow one finishes inside the grace period; the hung one is cut off when it ends; the process exits 0
    // (before this change it waited for the hung request for ever: this test timed out).
    expect(await slow).toBe(200);
    expect(await exited).toBe(0);
    expect(await hung).not.toBe(200);
    expect(out).toMatch(/stopping: .*up to 1500 ms/);
  }, 30_000);
});
