// The edge rerank service over real loopback HTTP: shape, ordering, scores equal to the scorer's, every
// bad-input case, upstream failures, API keys, and a bounded load test against the local /pooling server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEmbeddingCache,
  createHashEmbedder,
  createRerankHandler,
  createScorer,
  poolingTextEmbedder,
  serveHandler,
  startPoolingServer,
  type PoolingServer,
  type RunningServer,
  type Scorer,
} from '../../src/node.js';
import { PoolingClient } from '../../src/pooling/client.js';

const DIM = 64;
const QUERY = 'capital of France';
const DOCS = [
  'Berlin is the capital of Germany.',
  'Paris is the capital and largest city of France.',
  'The Loire is the longest river in France.',
  '',
  'Bananas are rich in potassium.',
];

let pooling: PoolingServer;
let scorer: Scorer;
let service: RunningServer;
let client: PoolingClient;
let cache: ReturnType<typeof createEmbeddingCache>;

async function post(path: string, body: unknown, init: RequestInit = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(`${service.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

beforeAll(async () => {
  pooling = await startPoolingServer({ dim: DIM, config: 'B' });
  client = new PoolingClient({
    baseUrl: pooling.url,
    model: pooling.model,
    encoding: 'base64',
    retryDelayMs: 5,
    timeoutMs: 5000,
  });
  scorer = await createScorer({ backend: 'cpu' });
  cache = createEmbeddingCache(poolingTextEmbedder(client, pooling.model), { maxBytes: 8 << 20 });
  const handler = createRerankHandler({
    scorer,
    embedder: cache,
    limits: { maxDocuments: 50, maxTextChars: 2000, maxBodyBytes: 64 * 1024 },
    timeoutMs: 2000,
    onError: () => undefined,
  });
  service = await serveHandler(handler);
});

afterAll(async () => {
  await service?.close();
  scorer?.destroy();
  await pooling?.close();
});

describe('POST /rerank', () => {
  it('answers in the vLLM/Jina/Cohere shape, best first, with the scorer’s own scores', async () => {
    const { status, json } = await post('/rerank', {
      model: pooling.model,
      query: QUERY,
      documents: DOCS,
      return_documents: true,
    });
    expect(status).toBe(200);
    expect(json).toMatchObject({ id: expect.stringMatching(/^rerank-/), model: pooling.model });
    expect(json.usage.total_tokens).toBeGreaterThan(0);
    const { matrices } = await client.embed([QUERY, ...DOCS]);
    const direct = await scorer.rerank(matrices[0]!, matrices.slice(1));
    expect(json.results).toEqual(
      direct.map((r) => ({
        index: r.index,
        relevance_score: Number.isFinite(r.score) ? r.score : null,
        document: { text: DOCS[r.index] },
      })),
    );
    expect(json.results[0].index).toBe(1);
  });

  it('reports an empty document (no token rows) with relevance_score null, ranked last', async () => {
    const hash = createHashEmbedder({ dim: DIM });
    const embedder = {
      model: 'empty-aware',
      embed: async (texts: readonly string[]) =>
        texts.map((t) => (t === '' ? { data: new Float32Array(0), rows: 0, dim: DIM } : hash.embedText(t))),
    };
    const server = await serveHandler(createRerankHandler({ scorer, embedder }));
    try {
      const res = await fetch(`${server.url}/rerank`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: QUERY, documents: DOCS }),
      });
      const json = await res.json();
      expect(json.results).toHaveLength(DOCS.length);
      expect(json.results.at(-1)).toEqual({ index: 3, relevance_score: null });
      expect(
        json.results.slice(0, -1).every((r: { relevance_score: unknown }) => typeof r.relevance_score === 'number'),
      ).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('accepts {text} documents, top_n, and the /v1/rerank alias; omits documents unless asked', async () => {
    const docs = DOCS.map((text) => ({ text }));
    const { status, json } = await post('/v1/rerank', { query: QUERY, documents: docs, top_n: 2 });
    expect(status).toBe(200);
    expect(json.results).toHaveLength(2);
    expect(json.results[0]).toEqual({ index: 1, relevance_score: expect.any(Number) });
    const all = await post('/rerank', { query: QUERY, documents: DOCS, top_n: 0 });
    expect(all.json.results).toHaveLength(DOCS.length);
  });

  it('serves GET /health without a body', async () => {
    const res = await fetch(`${service.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it.each([
    ['malformed JSON', '{"query": "x", ', 400, /not valid JSON/],
    ['a JSON array body', '[1, 2]', 400, /must be a JSON object/],
    ['a missing query', { documents: ['a'] }, 400, /"query" must be a string, got undefined/],
    ['a query of the wrong type', { query: 3, documents: ['a'] }, 400, /"query" must be a string, got number/],
    ['an empty query', { query: '   ', documents: ['a'] }, 400, /"query" is empty/],
    ['documents not an array', { query: 'q', documents: 'a' }, 400, /"documents" must be an array/],
    ['no documents', { query: 'q', documents: [] }, 400, /"documents" is empty/],
    [
      'a bad document entry',
      { query: 'q', documents: ['a', { txt: 'b' }] },
      400,
      /documents\[1\] must be a string or \{"text": string\}/,
    ],
    ['too many documents', { query: 'q', documents: Array(51).fill('a') }, 400, /51 entries; the limit is 50/],
    [
      'a document too long',
      { query: 'q', documents: ['a'.repeat(2001)] },
      400,
      /documents\[0\] has 2001 characters; the limit is 2000/,
    ],
    ['a query too long', { query: 'q'.repeat(2001), documents: ['a'] }, 400, /"query" has 2001 characters/],
    ['a negative top_n', { query: 'q', documents: ['a'], top_n: -1 }, 400, /"top_n" must be an integer >= 0, got -1/],
    [
      'a non-boolean return_documents',
      { query: 'q', documents: ['a'], return_documents: 'yes' },
      400,
      /"return_documents" must be a boolean/,
    ],
    ['an unknown model', { model: 'nope', query: 'q', documents: ['a'] }, 404, /The model `nope` does not exist/],
    [
      'a body over the limit',
      { query: 'q', documents: ['a'.repeat(1000)], pad: 'x'.repeat(70_000) },
      413,
      /exceeds the limit of 65536 bytes/,
    ],
  ])('rejects %s in vLLM’s error envelope', async (_name, body, status, message) => {
    const res = await post('/rerank', body);
    expect(res.status).toBe(status);
    expect(res.json).toEqual({
      error: {
        message: expect.stringMatching(message),
        type: expect.any(String),
        param: expect.anything(),
        code: status,
      },
    });
    expect(JSON.stringify(res.json)).not.toMatch(/\bat .*\(|\/work\/|node_modules|\.ts:/);
  });

  it('rejects a non-JSON content type, an unknown route and a wrong method', async () => {
    const wrongType = await fetch(`${service.url}/rerank`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(wrongType.status).toBe(415);
    expect((await post('/nope', {})).status).toBe(404);
    expect((await fetch(`${service.url}/rerank`)).status).toBe(405);
  });
});

describe('upstream failures', () => {
  it('retries an upstream 503 and then succeeds', async () => {
    pooling.addFault({ status: 503, times: 1 });
    const { status, json } = await post('/rerank', {
      query: 'fresh query about rivers',
      documents: ['fresh doc about rivers'],
    });
    expect(status).toBe(200);
    expect(json.results).toHaveLength(1);
  });

  it('maps a persistent upstream error to 502 with the upstream message', async () => {
    pooling.addFault({
      status: 400,
      body: { error: { message: 'upstream says no', type: 'BadRequestError', param: null, code: 400 } },
    });
    const { status, json } = await post('/rerank', { query: 'another fresh query', documents: ['another fresh doc'] });
    expect(status).toBe(502);
    expect(json.error.message).toMatch(/embedding upstream failed \(400\): upstream says no/);
  });

  it('maps an upstream that never answers to 504 within the deadline, and keeps serving others', async () => {
    pooling.addFault({ hang: true, times: 1 });
    const started = Date.now();
    const slow = post('/rerank', { query: 'hanging query', documents: ['hanging doc'] });
    // Another request meanwhile is not blocked by the hanging one.
    const other = await post('/rerank', { query: QUERY, documents: DOCS });
    expect(other.status).toBe(200);
    const { status, json } = await slow;
    expect(status).toBe(504);
    expect(json.error.message).toMatch(/did not answer in time/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('embedding cache', () => {
  it('embeds a repeated document once', async () => {
    const docs = ['cache test document one', 'cache test document two'];
    await post('/rerank', { query: 'cache test query', documents: docs });
    const before = pooling.requests.length;
    const { status } = await post('/rerank', { query: 'cache test query', documents: [...docs].reverse() });
    expect(status).toBe(200);
    expect(pooling.requests.length).toBe(before);
  });
});

describe('createEmbeddingCache', () => {
  it('evicts least recently used entries to stay under maxBytes, and shares in-flight work', async () => {
    const calls: string[][] = [];
    const inner = {
      model: 'm',
      embed: async (texts: readonly string[]) => {
        calls.push([...texts]);
        await new Promise((r) => setTimeout(r, 5));
        return texts.map(() => ({ data: new Float32Array(250), rows: 1, dim: 250 }));
      },
    };
    // Each entry costs 1000 data bytes + key + 64 overhead: room for two, not three.
    const lru = createEmbeddingCache(inner, { maxBytes: 2300 });
    await Promise.all([lru.embed(['a', 'b']), lru.embed(['b', 'a'])]);
    expect(calls).toEqual([['a', 'b']]);
    await lru.embed(['a']);
    await lru.embed(['c']);
    expect(lru.stats.entries).toBe(2);
    expect(lru.stats.bytes).toBeLessThanOrEqual(2300);
    await lru.embed(['a', 'b']);
    expect(calls.at(-1)).toEqual(['b']);
  });

  it('does not cache failures', async () => {
    let fail = true;
    const inner = {
      model: 'm',
      embed: async (texts: readonly string[]) => {
        if (fail) throw new Error('upstream down');
        return texts.map(() => ({ data: new Float32Array(2), rows: 1, dim: 2 }));
      },
    };
    const lru = createEmbeddingCache(inner);
    await expect(lru.embed(['x'])).rejects.toThrow('upstream down');
    fail = false;
    expect(await lru.embed(['x'])).toHaveLength(1);
  });
});

describe('API key', () => {
  it('requires the bearer key on every route but /health, and accepts the right one', async () => {
    const handler = createRerankHandler({
      scorer,
      embedder: poolingTextEmbedder(client, pooling.model),
      apiKey: 's3cret',
    });
    const guarded = await serveHandler(handler);
    try {
      const body = JSON.stringify({ query: QUERY, documents: DOCS });
      const headers = { 'content-type': 'application/json' };
      const none = await fetch(`${guarded.url}/rerank`, { method: 'POST', headers, body });
      expect(none.status).toBe(401);
      expect(await none.json()).toEqual({ error: 'Unauthorized' });
      const wrong = await fetch(`${guarded.url}/rerank`, {
        method: 'POST',
        headers: { ...headers, authorization: 'Bearer s3cre' },
        body,
      });
      expect(wrong.status).toBe(401);
      const right = await fetch(`${guarded.url}/v1/rerank`, {
        method: 'POST',
        headers: { ...headers, authorization: 'Bearer s3cret' },
        body,
      });
      expect(right.status).toBe(200);
      expect((await fetch(`${guarded.url}/health`)).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});

describe('bounded load', () => {
  it('32 concurrent clients × 20 requests: every answer identical to the sequential one, no errors', async () => {
    const topics = ['capital of France', 'longest river', 'potassium in bananas', 'capital of Germany'];
    const requests = topics.map((query, i) => ({
      query,
      documents: DOCS.map((d, j) => `${d} #${(i + j) % 3}`),
      return_documents: false,
    }));
    const expected = await Promise.all(requests.map(async (r) => (await post('/rerank', r)).json.results));
    const latencies: number[] = [];
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async (_, client) => {
        for (let k = 0; k < 20; k++) {
          const which = (client + k) % requests.length;
          const t0 = performance.now();
          const res = await post('/rerank', requests[which]);
          latencies.push(performance.now() - t0);
          expect(res.status).toBe(200);
          expect(res.json.results).toEqual(expected[which]);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const p95 = latencies[Math.floor(latencies.length * 0.95)]!;
    expect(latencies).toHaveLength(640);
    expect(cache.stats.bytes).toBeLessThanOrEqual(8 << 20);
    console.log(
      `rerank load: 640 requests in ${seconds.toFixed(2)} s = ${(640 / seconds).toFixed(0)} req/s, p95 ${p95.toFixed(1)} ms`,
    );
  });
});

describe('webgpu-maxsim serve (CLI)', () => {
  it('serves /rerank with the built-in embedder, and stops cleanly on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const cli = new URL('../../dist/cli.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [cli, 'serve', '--local', '--port', '0', '--backend', 'cpu', '--dim', '32'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`serve exited early with ${code}: ${out}`)));
      });
      const res = await fetch(`${url}/rerank`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: QUERY, documents: DOCS, top_n: 1 }),
      });
      expect(res.status).toBe(200);
      expect((await res.json()).results).toEqual([{ index: 1, relevance_score: expect.any(Number) }]);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
