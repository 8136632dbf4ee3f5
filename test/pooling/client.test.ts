// The /pooling client against the local vLLM stand-in (src/testing/pooling-server) over real HTTP on port 0.
// Case numbers refer to docs/vllm-pooling.md §7.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMBED_DTYPES, type EmbedDtype, type Endianness } from '../../src/pooling/dtypes.js';
import { encodeEmbedDtype } from '../../src/pooling/encode.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import {
  PoolingAbortedError,
  PoolingConnectionError,
  PoolingEmbedTaskError,
  PoolingHttpError,
  PoolingResponseError,
  PoolingTimeoutError,
} from '../../src/pooling/errors.js';
import { createNodePoolingClient } from '../../src/node/pooling-client.js';
import { PoolingClient, type PoolingClientOptions } from '../../src/pooling/client.js';
import { decodeTensor } from '../../src/pooling/decode.js';
import {
  startPoolingServer,
  type PoolingServer,
  type PoolingServerOptions,
} from '../../src/testing/pooling-server/index.js';
import type { TokenMatrix } from '../../src/core/token-matrix.js';

const DIM = 16;
const TEXTS = [
  'Hello, my name is',
  'The president of the United States is',
  'The capital of France is',
  'The future of AI is',
];
const TOL: Record<EmbedDtype, number> = {
  float32: 0,
  float16: 2 ** -11,
  bfloat16: 2 ** -8,
  fp8_e4m3: 2 ** -4,
  fp8_e5m2: 2 ** -3,
};

async function withServer<T>(options: PoolingServerOptions, f: (server: PoolingServer) => Promise<T>): Promise<T> {
  const server = await startPoolingServer({ dim: DIM, ...options });
  try {
    return await f(server);
  } finally {
    await server.close();
  }
}

function client(server: PoolingServer, options: PoolingClientOptions = {}): PoolingClient {
  return new PoolingClient({ baseUrl: server.url, retryDelayMs: 10, ...options });
}

function poolingRequests(server: PoolingServer): Record<string, unknown>[] {
  return server.requests.filter((r) => r.path === '/pooling').map((r) => r.body as Record<string, unknown>);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the promise to reject');
}

describe('PoolingClient against the stand-in (config B, newest)', () => {
  let server: PoolingServer;
  let reference: TokenMatrix[];

  beforeAll(async () => {
    server = await startPoolingServer({ dim: DIM });
    reference = TEXTS.map((t) => server.embedder.embedText(t));
  });
  afterAll(async () => {
    await server.close();
  });

  it('float JSON: one matrix per input, in order, equal to the embedder, rows L2-normalised (cases 1, 11, 12)', async () => {
    server.clearRequests();
    const { matrices, usage, requests } = await client(server, { encoding: 'float' }).embed(TEXTS);
    expect(requests).toBe(1);
    expect(matrices.map((m) => [m.rows, m.dim])).toEqual(reference.map((m) => [m.rows, DIM]));
    matrices.forEach((m, i) => {
      expect(m.data).toEqual(reference[i]!.data);
    });
    for (const m of matrices) {
      for (let r = 0; r < m.rows; r++) {
        const row = m.data.subarray(r * DIM, (r + 1) * DIM);
        expect(Math.hypot(...row)).toBeCloseTo(1, 3);
      }
    }
    const tokens = reference.reduce((a, m) => a + m.rows, 0);
    expect(usage).toEqual({ promptTokens: tokens, totalTokens: tokens });
    // What went on the wire: explicit encoding, no task, no model, no dtype/endianness for float.
    const [body] = poolingRequests(server);
    expect(body).toEqual({ input: TEXTS, encoding_format: 'float' });
  });

  it('token-id prompts are sent as int[][] and come back one row per id (case 1)', async () => {
    const ids = TEXTS.map((t) => server.embedder.encode(t).ids);
    const { matrices } = await client(server, { encoding: 'float' }).embed(ids);
    matrices.forEach((m, i) => {
      expect(m.data).toEqual(server.embedder.embedTokenIds(ids[i]!).data);
    });
  });

  it('base64 float32 little-endian is exactly Math.fround of the float JSON (case 15); dim learned once', async () => {
    server.clearRequests();
    const c = client(server, { encoding: 'base64' });
    expect(c.dim).toBeUndefined();
    const { matrices } = await c.embed(TEXTS);
    expect(c.dim).toBe(DIM);
    matrices.forEach((m, i) => {
      expect(m.data).toEqual(reference[i]!.data);
    });
    const bodies = poolingRequests(server);
    // A one-input float probe learns the width (base64 carries no shape), then the real request.
    expect(bodies[0]).toMatchObject({ input: [TEXTS[0]], encoding_format: 'float' });
    expect(bodies[1]).toMatchObject({
      input: TEXTS,
      encoding_format: 'base64',
      embed_dtype: 'float32',
      endianness: 'little',
    });
    await c.embed(TEXTS);
    expect(poolingRequests(server)).toHaveLength(3);
  });

  for (const encoding of ['base64', 'bytes'] as const) {
    it(`${encoding}: every embed_dtype × endianness decodes to the float values within the dtype's rounding (cases 16, 19, 22)`, async () => {
      for (const embedDtype of EMBED_DTYPES) {
        for (const endianness of ['little', 'big', 'native'] as Endianness[]) {
          const { matrices } = await client(server, { encoding, embedDtype, endianness, dim: DIM }).embed(TEXTS);
          matrices.forEach((m, i) => {
            const ref = reference[i]!;
            expect([m.rows, m.dim]).toEqual([ref.rows, DIM]);
            // Exactly what the server's cast produces (the decode adds no error of its own)...
            const wire = encodeEmbedDtype(ref.data, embedDtype, 'little');
            expect(m.data).toEqual(decodeTensor(wire, embedDtype, 'little'));
            // ...which is within the dtype's rounding of the float values.
            for (let k = 0; k < m.data.length; k++) {
              const v = ref.data[k]!;
              const bound = TOL[embedDtype] * Math.abs(v) + (embedDtype.startsWith('fp8') ? 2 ** -9 : 0);
              if (Math.abs(m.data[k]! - v) > bound) {
                throw new Error(
                  `${encoding} ${embedDtype} ${endianness}: item ${i} value ${k} is ${m.data[k]}, float is ${v}`,
                );
              }
            }
          });
        }
      }
    });
  }

  it('bytes_only: row counts from /tokenize (texts) or the ids themselves (case 21)', async () => {
    server.clearRequests();
    const c = client(server, { encoding: 'bytes_only', embedDtype: 'float16', dim: DIM });
    const { matrices } = await c.embed(TEXTS);
    const f16 = (m: TokenMatrix): Float32Array =>
      decodeTensor(encodeEmbedDtype(m.data, 'float16', 'little'), 'float16', 'little');
    matrices.forEach((m, i) => {
      expect(m.data).toEqual(f16(reference[i]!));
    });
    expect(server.requests.filter((r) => r.path === '/tokenize')).toHaveLength(TEXTS.length);
    server.clearRequests();
    const ids = TEXTS.map((t) => server.embedder.encode(t).ids);
    const fromIds = await c.embed(ids);
    fromIds.matrices.forEach((m, i) => {
      expect(m.rows).toBe(ids[i]!.length);
    });
    expect(server.requests.filter((r) => r.path === '/tokenize')).toHaveLength(0);
  });

  it('bytes_only refuses clearly when the server has no /tokenize (case 21)', async () => {
    server.addFault({ status: 404, body: { detail: 'Not Found' }, match: (r) => r.path === '/tokenize', times: 4 });
    const err = await rejection(client(server, { encoding: 'bytes_only', dim: DIM, maxRetries: 0 }).embed(TEXTS));
    expect(err).toBeInstanceOf(PoolingResponseError);
    expect((err as PoolingResponseError).code).toBe('E_POOLING_ROW_COUNTS');
    expect(err.message).toMatch(/no per-input shapes.*\/tokenize.*Use encoding "bytes" or "base64"/);
  });

  it('splits into batches with bounded concurrency and restores order when batches finish out of order', async () => {
    const inputs = Array.from({ length: 10 }, (_, i) => `document number ${i} about ${i % 2 ? 'cats' : 'dogs'}`);
    let inFlight = 0;
    let peak = 0;
    const slow = await startPoolingServer({
      dim: DIM,
      // The first batch answers last: arrival order is the reverse of input order.
      delayMs: (r) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        const first = ((r.body as { input?: string[] }).input ?? [])[0] ?? '';
        const n = Number(/number (\d+)/.exec(first)?.[1] ?? 0);
        setTimeout(() => inFlight--, 200 - n * 15);
        return 200 - n * 15;
      },
    });
    try {
      const progress: number[] = [];
      const { matrices, requests } = await client(slow, { encoding: 'float', batchSize: 2, concurrency: 3 }).embed(
        inputs,
        {
          onProgress: (p) => progress.push(p.completed),
        },
      );
      expect(requests).toBe(5);
      expect(peak).toBeLessThanOrEqual(3);
      expect(peak).toBeGreaterThan(1);
      matrices.forEach((m, i) => {
        expect(m.data).toEqual(slow.embedder.embedText(inputs[i]!).data);
      });
      expect(progress).toEqual([2, 4, 6, 8, 10]);
      const order = poolingRequests(slow).map((b) => (b.input as string[])[0]);
      expect(order).toHaveLength(5);
    } finally {
      await slow.close();
    }
  });

  it('never returns a partial result: one failing batch fails the call', async () => {
    server.addFault({ status: 400, match: (r) => r.path === '/pooling' && JSON.stringify(r.body).includes('France') });
    const err = await rejection(client(server, { encoding: 'float', batchSize: 1 }).embed(TEXTS));
    expect(err).toBeInstanceOf(PoolingHttpError);
    expect((err as PoolingHttpError).status).toBe(400);
  });

  it('dropLeadingToken on config B reproduces config C (BGE-M3 ColBERT rows: <s> dropped, </s> kept)', async () => {
    await withServer({ config: 'C' }, async (c) => {
      const fromC = await client(c, { encoding: 'float' }).embed(TEXTS);
      const fromB = await client(server, { encoding: 'float', dropLeadingToken: true }).embed(TEXTS);
      fromC.matrices.forEach((m, i) => {
        expect(m.rows).toBe(reference[i]!.rows - 1);
        expect(fromB.matrices[i]!.rows).toBe(m.rows);
        expect(fromB.matrices[i]!.data).toEqual(m.data);
      });
      // case 12: usage counts every prompt token, one more per input than C's rows.
      expect(fromC.usage.promptTokens).toBe(fromC.matrices.reduce((a, m) => a + m.rows + 1, 0));
      // bytes_only against C: /tokenize counts every token, the body one fewer per input; the client sees which.
      const only = await client(c, { encoding: 'bytes_only', dim: DIM }).embed(TEXTS);
      only.matrices.forEach((m, i) => {
        expect(m.data).toEqual(fromC.matrices[i]!.data);
      });
    });
  });

  it('addSpecialTokens and truncatePromptTokens are sent and shape the rows (case 10)', async () => {
    const long = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    await withServer({ maxModelLen: 32 }, async (s) => {
      const over = await rejection(client(s, { encoding: 'float' }).embed([long]));
      expect(over).toBeInstanceOf(PoolingHttpError);
      expect((over as PoolingHttpError).param).toBe('input_tokens');
      const kept = await client(s, { encoding: 'float', truncatePromptTokens: -1 }).embed([long]);
      expect(kept.matrices[0]!.rows).toBe(32);
      const eight = await client(s, { encoding: 'bytes_only', dim: DIM, truncatePromptTokens: 8 }).embed([
        long,
        'short',
      ]);
      expect(eight.matrices.map((m) => m.rows)).toEqual([8, s.embedder.encode('short').ids.length]);
      const bare = await client(s, { encoding: 'float', addSpecialTokens: false }).embed(['capital of France']);
      expect(bare.matrices[0]!.rows).toBe(
        s.embedder.encode('capital of France', { addSpecialTokens: false }).ids.length,
      );
      expect(s.requests.at(-1)!.body).toMatchObject({ add_special_tokens: false });
    });
  });

  it('more inputs than the 1024-prompt cap go out in several requests (case 5)', async () => {
    server.clearRequests();
    const inputs = Array.from({ length: 1100 }, (_, i) => `t${i}`);
    const { matrices, requests } = await client(server, { encoding: 'bytes', batchSize: 1024 }).embed(inputs);
    expect(matrices).toHaveLength(1100);
    expect(requests).toBeGreaterThan(1);
    expect(() => new PoolingClient({ batchSize: 1025 })).toThrow(InvalidArgumentError);
  });

  it('X-Request-Id is sent and reported on errors (case 14); wrong model is a 404 with the server message (case 4)', async () => {
    server.clearRequests();
    const err = (await rejection(
      client(server, { model: 'nope', encoding: 'float' }).embed(['x']),
    )) as PoolingHttpError;
    expect(err).toBeInstanceOf(PoolingHttpError);
    expect(err.status).toBe(404);
    expect(err.serverMessage).toBe('The model `nope` does not exist.');
    expect(err.retryable).toBe(false);
    const sent = server.requests[0]!.headers['x-request-id'];
    expect(sent).toMatch(/^maxsim-/);
    expect(err.requestId).toBe(sent);
    expect(err.message).toContain(sent!);
    expect(server.requests).toHaveLength(1); // never retried
  });
});

describe('server configurations and versions', () => {
  it('config A (embed task) is refused with the fix, for every encoding (case 13)', async () => {
    await withServer({ config: 'A' }, async (s) => {
      for (const options of [
        { encoding: 'float' },
        { encoding: 'base64' },
        { encoding: 'base64', dim: DIM },
        { encoding: 'bytes' },
        { encoding: 'bytes_only', dim: DIM },
      ] as PoolingClientOptions[]) {
        const err = await rejection(client(s, options).embed(TEXTS));
        expect(err, JSON.stringify(options)).toBeInstanceOf(PoolingEmbedTaskError);
        expect(err.message).toMatch(/--pooler-config\.task token_embed/);
      }
      // Asking for token_embed on a v0.21+ embed server is the server's own 400 (case 9).
      const err = (await rejection(
        client(s, { encoding: 'float', task: 'token_embed' }).embed(TEXTS),
      )) as PoolingHttpError;
      expect(err.status).toBe(400);
      expect(err.serverMessage).toMatch(/Try switching the model's pooling_task via --pooler-config\.task token_embed/);
    });
    // Before ≈v0.19 a task-less /pooling request on the same plain server returned every token (the seed's case).
    await withServer({ config: 'A', mode: 'v0.13' }, async (s) => {
      const { matrices } = await client(s, { encoding: 'float' }).embed(TEXTS);
      expect(matrices[0]!.rows).toBe(s.embedder.encode(TEXTS[0]!).ids.length);
    });
  });

  it('task is sent only when set (case 9)', async () => {
    await withServer({}, async (s) => {
      await client(s, { encoding: 'float', task: 'token_embed' }).embed(['a']);
      await client(s, { encoding: 'float' }).embed(['a']);
      const [withTask, without] = poolingRequests(s);
      expect(withTask).toMatchObject({ task: 'token_embed' });
      expect(without).not.toHaveProperty('task');
    });
  });

  it('v0.10 server: flat error envelope parsed; base64 float32 works (cases 8, 23)', async () => {
    await withServer({ mode: 'v0.10' }, async (s) => {
      const ok = await client(s, { encoding: 'base64' }).embed(TEXTS);
      expect(ok.matrices[1]!.data).toEqual(s.embedder.embedText(TEXTS[1]!).data);
      const err = (await rejection(client(s, { encoding: 'bytes', maxRetries: 3 }).embed(TEXTS))) as PoolingHttpError;
      expect(err).toBeInstanceOf(PoolingHttpError);
      expect(err.status).toBe(400);
      expect(err.serverMessage).toMatch(/literal_error/);
      expect(err.serverMessage).toMatch(/bytes/);
      expect(poolingRequests(s).filter((b) => b.encoding_format === 'bytes')).toHaveLength(1); // no retry on 400
    });
  });

  it('401 {"error": "Unauthorized"} is parsed; the key never appears in errors (case 23)', async () => {
    await withServer({ apiKey: 'sekret-key-123' }, async (s) => {
      const err = (await rejection(
        client(s, { encoding: 'float', apiKey: 'wrong-key-456' }).embed(['x']),
      )) as PoolingHttpError;
      expect(err.status).toBe(401);
      expect(err.serverMessage).toBe('Unauthorized');
      expect(err.message).toMatch(/--api-key/);
      expect(err.message).not.toContain('wrong-key-456');
      expect(JSON.stringify(err)).not.toContain('wrong-key-456');
      const ok = await client(s, { encoding: 'float', apiKey: 'sekret-key-123' }).embed(['x']);
      expect(ok.matrices).toHaveLength(1);
    });
  });

  it('bytes with 500 inputs: batched under the 16 KiB header limit, or one request through the Node client (case 20)', async () => {
    const inputs = Array.from({ length: 500 }, (_, i) => `passage ${i}: the quick brown fox ${i % 7}`);
    await withServer({}, async (s) => {
      const expected = inputs.map((t) => s.embedder.embedText(t).data);
      const core = await client(s, { encoding: 'bytes', batchSize: 500 }).embed(inputs);
      expect(core.requests).toBeGreaterThan(1);
      core.matrices.forEach((m, i) => {
        expect(m.data).toEqual(expected[i]);
      });

      const node = createNodePoolingClient({ baseUrl: s.url, encoding: 'bytes', batchSize: 500 });
      try {
        s.clearRequests();
        const one = await node.embed(inputs);
        expect(one.requests).toBe(1);
        one.matrices.forEach((m, i) => {
          expect(m.data).toEqual(expected[i]);
        });
      } finally {
        await node.close();
      }
      // The limit is real: claiming a big header budget on Node's default fetch overflows, with a clear error.
      const err = await rejection(
        client(s, { encoding: 'bytes', batchSize: 500, maxHeaderSize: 1 << 20 }).embed(inputs),
      );
      expect(err).toBeInstanceOf(PoolingConnectionError);
      expect(err.message).toMatch(/metadata header is too large/);
    });
  });
});

describe('retries, timeouts, aborts', () => {
  it('retries 503 then succeeds; 500 and 429 are retried, 501 is not (case 24)', async () => {
    await withServer({ faults: [{ status: 503, times: 2 }] }, async (s) => {
      const { matrices } = await client(s, { encoding: 'float', maxRetries: 2 }).embed(['a']);
      expect(matrices).toHaveLength(1);
      expect(poolingRequests(s)).toHaveLength(3);
      s.clearRequests();
      s.addFault({ status: 500 });
      s.addFault({ status: 429 });
      await client(s, { encoding: 'float', maxRetries: 2 }).embed(['a']);
      expect(poolingRequests(s)).toHaveLength(3);
      s.clearRequests();
      s.addFault({ status: 501 });
      const err = (await rejection(client(s, { encoding: 'float', maxRetries: 2 }).embed(['a']))) as PoolingHttpError;
      expect(err.status).toBe(501);
      expect(err.retryable).toBe(false);
      expect(poolingRequests(s)).toHaveLength(1);
    });
  });

  it('gives up after maxRetries with the last HTTP error, marked retryable', async () => {
    await withServer({ faults: [{ status: 503, times: 5 }] }, async (s) => {
      const err = (await rejection(client(s, { encoding: 'float', maxRetries: 1 }).embed(['a']))) as PoolingHttpError;
      expect(err.status).toBe(503);
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/after 2 attempts/);
      expect(poolingRequests(s)).toHaveLength(2);
    });
  });

  it('honours Retry-After', async () => {
    await withServer({ faults: [{ status: 429, retryAfter: 1 }] }, async (s) => {
      const t0 = performance.now();
      await client(s, { encoding: 'float', retryDelayMs: 1 }).embed(['a']);
      const waited = s.requests[1]!.receivedAt - s.requests[0]!.receivedAt;
      expect(waited).toBeGreaterThanOrEqual(950);
      expect(performance.now() - t0).toBeLessThan(5000);
    });
  });

  it('never retries a 400', async () => {
    await withServer({ faults: [{ status: 400 }] }, async (s) => {
      const err = (await rejection(client(s, { encoding: 'float', maxRetries: 5 }).embed(['a']))) as PoolingHttpError;
      expect(err.status).toBe(400);
      expect(err.serverMessage).toBe('Injected failure (HTTP 400)');
      expect(poolingRequests(s)).toHaveLength(1);
    });
  });

  it('a connection reset is retried; a closed port is a connection error', async () => {
    await withServer({ faults: [{ reset: true }] }, async (s) => {
      const { matrices } = await client(s, { encoding: 'float' }).embed(['a']);
      expect(matrices).toHaveLength(1);
    });
    const s = await startPoolingServer({ dim: DIM });
    const url = s.url;
    await s.close();
    const err = await rejection(new PoolingClient({ baseUrl: url, maxRetries: 1, retryDelayMs: 1 }).embed(['a']));
    expect(err).toBeInstanceOf(PoolingConnectionError);
    expect(err.message).toMatch(/after 2 attempts.*ECONNREFUSED/);
  });

  it('times out a hung request, and retries it', async () => {
    await withServer({ faults: [{ hang: true }] }, async (s) => {
      const t0 = performance.now();
      const err = await rejection(client(s, { encoding: 'float', timeoutMs: 200, maxRetries: 0 }).embed(['a']));
      expect(err).toBeInstanceOf(PoolingTimeoutError);
      expect(err.message).toMatch(/timed out after 200 ms/);
      expect(performance.now() - t0).toBeLessThan(2000);
      s.addFault({ hang: true });
      const { matrices } = await client(s, { encoding: 'float', timeoutMs: 200, maxRetries: 1 }).embed(['a']);
      expect(matrices).toHaveLength(1);
    });
  });

  it('an abort stops the call at once and is never retried', async () => {
    await withServer({ faults: [{ hang: true, times: 3 }] }, async (s) => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('user cancelled')), 100);
      const t0 = performance.now();
      const err = await rejection(
        client(s, { encoding: 'float', maxRetries: 5 }).embed(['a'], { signal: controller.signal }),
      );
      expect(err).toBeInstanceOf(PoolingAbortedError);
      expect((err.cause as Error).message).toBe('user cancelled');
      expect(performance.now() - t0).toBeLessThan(2000);
      expect(poolingRequests(s)).toHaveLength(1);
      const already = await rejection(client(s, { signal: AbortSignal.abort() }).embed(['a']));
      expect(already).toBeInstanceOf(PoolingAbortedError);
      expect(poolingRequests(s)).toHaveLength(1);
    });
  });
});

describe('malformed bodies are typed errors, never partial results', () => {
  const ok = (data: unknown[]): object => ({
    id: 'pooling-x',
    object: 'list',
    created: 1,
    model: 'BAAI/bge-m3',
    data: data.map((d, index) => ({ index, object: 'pooling', data: d })),
    usage: { prompt_tokens: 6, total_tokens: 6, completion_tokens: 0 },
  });
  const b64 = (values: number[]): string => Buffer.from(new Float32Array(values).buffer).toString('base64');

  it.each([
    ['ragged rows', 'float', ok([[[1, 0], [1]]]), /row 1 has 1 values but row 0 has 2 \(ragged rows\)/],
    ['wrong nesting', 'float', ok([[[[1, 0]], [[0, 1]]]]), /wrong nesting/],
    ['a non-finite value', 'float', ok([[[1, 1e39]]]), /not a finite float32/],
    ['a [dim] embed vector', 'float', ok([[0.6, 0.8]]), /--pooler-config\.task token_embed/],
    ['invalid base64', 'base64', ok(['AAAA$AAA']), /invalid base64: character "\$" .* at position 4/],
    [
      'truncated base64 data',
      'base64',
      ok([b64([1, 0, 0]).slice(0, 8)]),
      /6 bytes is not a whole number of rows of 2 float32/,
    ],
    ['too few items', 'float', ok([]), /0 items for 1 inputs/],
    [
      'a bad index',
      'float',
      { ...ok([[[1, 0]]]), data: [{ index: 3, data: [[1, 0]] }] },
      /index 3; expected each of 0..0/,
    ],
    ['a body that is not JSON', 'float', 'Internal error<html>', /not JSON/],
  ])('%s', async (_what, encoding, body, pattern) => {
    await withServer({ dim: 2, faults: [{ status: 200, body }] }, async (s) => {
      const err = await rejection(client(s, { encoding: encoding as 'float', dim: 2, maxRetries: 3 }).embed(['x']));
      expect(err).toBeInstanceOf(PoolingResponseError);
      expect(err.message).toMatch(pattern);
      expect(poolingRequests(s)).toHaveLength(1); // a bad body is not retried
    });
  });

  it.each([
    ['metadata offsets out of range', 8, { start: 0, end: 64, shape: [8, 2] }, /out of range for a 8-byte body/],
    [
      'a truncated binary body',
      12,
      { start: 0, end: 12, shape: [2, 2] },
      /holds 12 bytes but shape \[2, 2\] of float32 needs 16/,
    ],
    ['a [dim] shape', 8, { start: 0, end: 8, shape: [2] }, /--pooler-config\.task token_embed/],
  ])('bytes with %s', async (_what, length, item, pattern) => {
    const metadata = JSON.stringify({
      id: 'x',
      created: 1,
      model: 'm',
      data: [{ index: 0, embed_dtype: 'float32', endianness: 'little', ...item }],
    });
    await withServer(
      {
        dim: 2,
        faults: [
          { status: 200, body: 'x'.repeat(length), headers: { 'content-type': 'application/octet-stream', metadata } },
        ],
      },
      async (s) => {
        const err = await rejection(client(s, { encoding: 'bytes' }).embed(['x']));
        expect(err).toBeInstanceOf(PoolingResponseError);
        expect(err.message).toMatch(pattern);
      },
    );
  });

  it('a body cut off mid-stream is a connection failure, retried, never a short matrix', async () => {
    // A purpose-built server: the first answer promises 64 bytes of float JSON and sends 20, then closes.
    let calls = 0;
    const payload = JSON.stringify({
      data: [{ index: 0, data: [[1, 0]] }],
      usage: { prompt_tokens: 1, total_tokens: 1 },
    });
    const raw: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        calls++;
        if (calls === 1) {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(payload.length + 40) });
          res.write(payload.slice(0, 20));
          setTimeout(() => res.destroy(), 20);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(payload);
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
      const { matrices } = await new PoolingClient({ baseUrl: url, encoding: 'float', retryDelayMs: 1 }).embed(['x']);
      expect(calls).toBe(2);
      expect([...matrices[0]!.data]).toEqual([1, 0]);
    } finally {
      raw.closeAllConnections();
      await new Promise<void>((r) => raw.close(() => r()));
    }
  });
});

describe('a response that lies is a typed error, and never poisons the client', () => {
  const bytesFault = (items: object[], body: Buffer, usage = { prompt_tokens: 2, total_tokens: 2 }) => ({
    status: 200,
    body: body.toString('latin1'),
    headers: {
      'content-type': 'application/octet-stream',
      metadata: JSON.stringify({ id: 'x', created: 1, model: 'm', data: items, usage }),
    },
  });
  const f32 = (values: number[]): Buffer => Buffer.from(new Float32Array(values).buffer);
  const b64 = (values: number[]): string => f32(values).toString('base64');
  const jsonFault = (data: unknown[], promptTokens: number) => ({
    status: 200,
    body: {
      id: 'x',
      object: 'list',
      data: data.map((d, index) => ({ index, object: 'pooling', data: d })),
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    },
  });

  it('bytes: a response whose items disagree on width is rejected, and the next call still works', async () => {
    const lie = bytesFault(
      [
        { index: 0, embed_dtype: 'float32', endianness: 'little', start: 0, end: 16, shape: [1, 4] },
        { index: 1, embed_dtype: 'float32', endianness: 'little', start: 16, end: 24, shape: [1, 2] },
      ],
      f32([1, 0, 0, 0, 1, 0]),
    );
    await withServer({ dim: 2, faults: [lie] }, async (s) => {
      const c = createNodePoolingClient({ baseUrl: s.url, encoding: 'bytes', retryDelayMs: 1 });
      try {
        const err = await rejection(c.embed(['x', 'y']));
        expect(err).toBeInstanceOf(PoolingResponseError);
        expect(c.dim).toBeUndefined(); // not learned from a response that failed its checks
        const { matrices } = await c.embed(['x', 'y']);
        expect(matrices.map((m) => m.dim)).toEqual([2, 2]);
        expect(c.dim).toBe(2);
      } finally {
        await c.close();
      }
    });
  });

  it('base64 vectors of another width (read as twice the rows) disagree with usage: E_POOLING_ROW_COUNTS', async () => {
    // The client knows dim 2; the server sends one 4-wide vector for a 1-token prompt.
    await withServer({ dim: 2, faults: [jsonFault([b64([1, 0, 0, 1])], 1)] }, async (s) => {
      const err = (await rejection(client(s, { encoding: 'base64', dim: 2 }).embed([[5]]))) as PoolingResponseError;
      expect(err).toBeInstanceOf(PoolingResponseError);
      expect(err.code).toBe('E_POOLING_ROW_COUNTS');
      expect(err.message).toMatch(/2 rows .* usage counts 1 prompt token/);
    });
  });

  it('items with 0 rows while usage counts tokens are refused, not scored 0', async () => {
    await withServer({ dim: 2, faults: [jsonFault(['', ''], 6)] }, async (s) => {
      const err = (await rejection(
        client(s, { encoding: 'base64', dim: 2 }).embed(['a b', 'c d']),
      )) as PoolingResponseError;
      expect(err.code).toBe('E_POOLING_ROW_COUNTS');
    });
    // The totals fit (3 rows, 4 prompt tokens: one <s> dropped each), but a text cannot give 0 rows.
    await withServer({ dim: 2, faults: [jsonFault([b64([1, 0, 0, 1, 1, 0]), ''], 4)] }, async (s) => {
      const err = (await rejection(
        client(s, { encoding: 'base64', dim: 2 }).embed(['a b', 'c']),
      )) as PoolingResponseError;
      expect(err.code).toBe('E_POOLING_ROW_COUNTS');
      expect(err.message).toMatch(/item 1 has no rows/);
    });
  });

  it('bytes: overlapping byte ranges are refused', async () => {
    const lie = bytesFault(
      [
        { index: 0, embed_dtype: 'float32', endianness: 'little', start: 0, end: 8, shape: [1, 2] },
        { index: 1, embed_dtype: 'float32', endianness: 'little', start: 0, end: 8, shape: [1, 2] },
      ],
      f32([1, 0]),
    );
    await withServer({ dim: 2, faults: [lie] }, async (s) => {
      const err = await rejection(client(s, { encoding: 'bytes', dim: 2 }).embed([[5], [6]]));
      expect(err).toBeInstanceOf(PoolingResponseError);
      expect(err.message).toMatch(/overlap/);
    });
  });

  it('a response larger than maxResponseBytes is refused (declared or streamed), naming the option', async () => {
    expect(new PoolingClient({}).maxResponseBytes).toBe(256 * 1024 * 1024);
    await withServer({ dim: 2, faults: [{ status: 200, body: 'x'.repeat(3 << 20), times: 2 }] }, async (s) => {
      const err = (await rejection(
        client(s, { encoding: 'float', dim: 2, maxResponseBytes: 1 << 20 }).embed(['x']),
      )) as PoolingResponseError;
      expect(err.code).toBe('E_POOLING_TOO_LARGE');
      expect(err.message).toMatch(/more than 1048576 bytes.*maxResponseBytes/);
      expect(poolingRequests(s)).toHaveLength(1); // not retried
    });
    // A bytes body streamed without Content-Length is cut off at the cap too.
    await withServer({ dim: 64 }, async (s) => {
      const texts = Array.from({ length: 64 }, (_, i) => `text number ${i} with a few words`);
      const err = (await rejection(
        client(s, { encoding: 'bytes', maxResponseBytes: 16 * 1024 }).embed(texts),
      )) as PoolingResponseError;
      expect(err.code).toBe('E_POOLING_TOO_LARGE');
    });
  });

  it('a body that stops arriving names that, not "is the vLLM server running?"', async () => {
    const raw: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"data": [');
        setTimeout(() => res.destroy(), 10);
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
      const err = await rejection(
        new PoolingClient({ baseUrl: url, encoding: 'float', retryDelayMs: 1, maxRetries: 1 }).embed(['x']),
      );
      expect(err).toBeInstanceOf(PoolingConnectionError);
      expect(err.message).toMatch(/the response body stopped arriving after 10 bytes/);
      expect(err.message).not.toMatch(/Is the vLLM server running/);
    } finally {
      raw.closeAllConnections();
      await new Promise<void>((r) => raw.close(() => r()));
    }
  });
});

describe('deadlineMs: one bound on the whole call, retries and Retry-After included', () => {
  it('a Retry-After beyond the deadline ends the call with the server’s error instead of waiting', async () => {
    await withServer({ faults: [{ status: 503, retryAfter: 100_000, times: 5 }] }, async (s) => {
      const err = (await rejection(
        client(s, { encoding: 'float', timeoutMs: 3000, deadlineMs: 1000, maxRetries: 5 }).embed(['a']),
      )) as PoolingHttpError;
      expect(err).toBeInstanceOf(PoolingHttpError);
      expect(err.status).toBe(503);
      expect(err.message).toMatch(/Retry-After .* past the 1000 ms deadline/);
      expect(poolingRequests(s)).toHaveLength(1);
    });
  });

  it('a hung server is given up at the deadline, sooner than timeoutMs, as a timeout naming the deadline', async () => {
    await withServer({ faults: [{ hang: true, times: 3 }] }, async (s) => {
      const err = (await rejection(
        client(s, { encoding: 'float', timeoutMs: 60_000, deadlineMs: 300 }).embed(['a']),
      )) as PoolingTimeoutError;
      expect(err).toBeInstanceOf(PoolingTimeoutError);
      expect(err.message).toMatch(/deadline of 300 ms/);
    });
  });

  it('rejects a bad deadlineMs', () => {
    expect(() => new PoolingClient({ deadlineMs: 0 })).toThrow(/deadlineMs is 0/);
  });
});

describe('options', () => {
  it('rejects bad options before sending anything', () => {
    expect(() => new PoolingClient({ encoding: 'xml' as 'float' })).toThrow(/encoding is "xml"/);
    expect(() => new PoolingClient({ embedDtype: 'int8' as 'float32' })).toThrow(/embedDtype is "int8"/);
    expect(() => new PoolingClient({ port: 70000 })).toThrow(/port is 70000/);
    expect(() => new PoolingClient({ truncatePromptTokens: 0 })).toThrow(/truncatePromptTokens/);
    expect(new PoolingClient({ host: 'example.org', port: 9000 }).baseUrl).toBe('http://example.org:9000');
    expect(new PoolingClient({ baseUrl: 'http://h:1/' }).baseUrl).toBe('http://h:1');
  });

  it('an empty input list makes no request', async () => {
    await withServer({}, async (s) => {
      const result = await client(s).embed([]);
      expect(result).toEqual({
        matrices: [],
        usage: { promptTokens: 0, totalTokens: 0 },
        promptTokens: [],
        requests: 0,
      });
      expect(s.requests).toHaveLength(0);
    });
  });
});
