// The edge rerank service over real loopback HTTP: shape, ordering, scores equal to the scorer's, every
// bad-input case, upstream failures, API keys, and a bounded load test against the local /pooling server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEmbeddingCache,
  createHashEmbedder,
  createRerankHandler,
  createScorer,
  hashTextEmbedder,
  poolingTextEmbedder,
  serveHandler,
  startPoolingServer,
  type PoolingServer,
  PoolingAbortedError,
  type RunningServer,
  type Scorer,
  type TokenMatrix,
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

/** Prompt tokens of texts as the stand-in's tokenizer counts them (every text once). */
function promptTokens(texts: readonly string[]): number {
  return texts.reduce((n, t) => n + pooling.embedder.encode(t).ids.length, 0);
}

describe('POST /rerank', () => {
  it('answers in vLLM’s shape (id, model, usage, results), best first, with the scorer’s own scores', async () => {
    const { status, json } = await post('/rerank', { model: pooling.model, query: QUERY, documents: DOCS });
    expect(status).toBe(200);
    expect(Object.keys(json)).toEqual(['id', 'model', 'usage', 'results']);
    expect(json).toMatchObject({ id: expect.stringMatching(/^score-[0-9a-f]{32}$/), model: pooling.model });
    const tokens = promptTokens([QUERY, ...DOCS]);
    expect(json.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    const { matrices } = await client.embed([QUERY, ...DOCS]);
    const direct = await scorer.rerank(matrices[0]!, matrices.slice(1));
    // vLLM always returns the document, as {text, multi_modal: null}, between index and relevance_score.
    expect(json.results).toEqual(
      direct.map((r) => ({
        index: r.index,
        document: { text: DOCS[r.index], multi_modal: null },
        relevance_score: r.score,
      })),
    );
    expect(Object.keys(json.results[0])).toEqual(['index', 'document', 'relevance_score']);
    expect(json.results[0].index).toBe(1);
  });

  it('serves /rerank, /v1/rerank and /v2/rerank (Cohere v2) with one request and response shape', async () => {
    const body = { query: QUERY, documents: DOCS, top_n: 2 };
    const answers = await Promise.all(['/rerank', '/v1/rerank', '/v2/rerank'].map((p) => post(p, body)));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(Object.keys(a.json)).toEqual(['id', 'model', 'usage', 'results']);
    }
    expect(answers[1]!.json.results).toEqual(answers[0]!.json.results);
    expect(answers[2]!.json.results).toEqual(answers[0]!.json.results);
    // X-Request-Id names the response, as vLLM's `score-<request id>`.
    const named = await post('/v2/rerank', body, { headers: { 'x-request-id': 'abc-123' } });
    expect(named.json.id).toBe('score-abc-123');
  });

  it('usage counts prompt tokens, not vectors: with configuration C (one row fewer per text) they differ', async () => {
    const c = await startPoolingServer({ dim: DIM, config: 'C' });
    const cClient = new PoolingClient({ baseUrl: c.url, model: c.model, encoding: 'base64', retryDelayMs: 5 });
    const server = await serveHandler(createRerankHandler({ scorer, embedder: poolingTextEmbedder(cClient, c.model) }));
    try {
      const res = await fetch(`${server.url}/rerank`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: QUERY, documents: DOCS }),
      });
      const json = await res.json();
      const tokens = [QUERY, ...DOCS].reduce((n, t) => n + c.embedder.encode(t).ids.length, 0);
      const { matrices } = await cClient.embed([QUERY, ...DOCS]);
      expect(matrices.reduce((n, m) => n + m.rows, 0)).toBe(tokens - 1 - DOCS.length);
      expect(json.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    } finally {
      await server.close();
      await c.close();
    }
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
      expect(json.results.at(-1)).toEqual({
        index: 3,
        document: { text: '', multi_modal: null },
        relevance_score: null,
      });
      expect(
        json.results.slice(0, -1).every((r: { relevance_score: unknown }) => typeof r.relevance_score === 'number'),
      ).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('accepts Cohere v1 {text} documents and a single string; omits documents only for return_documents false', async () => {
    const docs = DOCS.map((text) => ({ text, title: 'T' }));
    const { status, json } = await post('/v1/rerank', { query: QUERY, documents: docs, top_n: 2 });
    expect(status).toBe(200);
    expect(json.results).toHaveLength(2);
    expect(json.results[0]).toEqual({
      index: 1,
      document: { text: DOCS[1], multi_modal: null },
      relevance_score: expect.any(Number),
    });
    const one = await post('/rerank', { query: QUERY, documents: DOCS[1] });
    expect(one.json.results).toEqual([
      { index: 0, document: { text: DOCS[1], multi_modal: null }, relevance_score: json.results[0].relevance_score },
    ]);
    // return_documents is Cohere's (vLLM ignores it and always returns documents): false, "false", "off", 0 omit.
    for (const off of [false, 'false', 'off', 0]) {
      const r = await post('/rerank', { query: QUERY, documents: DOCS, top_n: 1, return_documents: off });
      expect(r.json.results, JSON.stringify(off)).toEqual([
        { index: 1, relevance_score: json.results[0].relevance_score },
      ]);
    }
    // Cohere's v2 SDK passes an untyped returnDocuments through verbatim, camelCase: ignored, like vLLM.
    const camel = await post('/v2/rerank', { query: QUERY, documents: DOCS, top_n: 1, returnDocuments: false });
    expect(camel.json.results[0].document).toEqual({ text: DOCS[1], multi_modal: null });
  });

  it('top_n as vLLM reads it: ≤ 0 or absent means all; pydantic\'s lax integers ("2", 2.0, true)', async () => {
    const n = async (top: unknown): Promise<number> =>
      (await post('/rerank', { query: QUERY, documents: DOCS, top_n: top })).json.results.length;
    for (const all of [0, -1, -100, '0', ' -3 ', DOCS.length, 99, false])
      expect(await n(all), JSON.stringify(all)).toBe(DOCS.length);
    for (const two of [2, '2', ' +2 ', '2.0', '002', 2.0]) expect(await n(two), JSON.stringify(two)).toBe(2);
    expect(await n(true)).toBe(1);
    expect((await post('/rerank', { query: QUERY, documents: DOCS })).json.results).toHaveLength(DOCS.length);
    // Other names (Jina's top_k included) are unknown fields to vLLM: ignored.
    expect((await post('/rerank', { query: QUERY, documents: DOCS, top_k: 1 })).json.results).toHaveLength(DOCS.length);
  });

  it('serves GET /health without a body', async () => {
    const res = await fetch(`${service.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it.each([
    ['malformed JSON', '{"query": "x", ', 400, /not valid JSON/],
    ['a JSON array body', '[1, 2]', 400, /must be a JSON object/],
    ['a missing query', { documents: ['a'] }, 400, /"query": Input should be a valid string, got nothing/],
    [
      'a query of the wrong type',
      { query: 3, documents: ['a'] },
      400,
      /"query": Input should be a valid string, got 3/,
    ],
    [
      'multimodal content',
      { query: { content: [{ type: 'text', text: 'q' }] }, documents: ['a'] },
      400,
      /multimodal content is not supported/,
    ],
    ['an empty query', { query: '   ', documents: ['a'] }, 400, /"query" is empty/],
    [
      'documents of the wrong type',
      { query: 'q', documents: 5 },
      400,
      /"documents" must be a string or \{"text": string\}, got 5/,
    ],
    ['missing documents', { query: 'q' }, 400, /"documents": Field required/],
    [
      'no documents',
      { query: 'q', documents: [] },
      400,
      /"documents" is empty: At least one text_pair element must be given/,
    ],
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
    [
      'a fractional top_n',
      { query: 'q', documents: ['a'], top_n: '2.5' },
      400,
      /"top_n": Input should be a valid integer, unable to parse string as an integer, got "2.5"/,
    ],
    [
      'a null top_n',
      { query: 'q', documents: ['a'], top_n: null },
      400,
      /"top_n": Input should be a valid integer, got null/,
    ],
    [
      'a non-boolean return_documents',
      { query: 'q', documents: ['a'], return_documents: 'maybe' },
      400,
      /"return_documents": Input should be a valid boolean, unable to interpret input/,
    ],
    [
      'a model of the wrong type',
      { model: 7, query: 'q', documents: ['a'] },
      400,
      /"model": Input should be a valid string/,
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

  it('rejects a non-JSON content type with 400 (as newest vLLM), an unknown route and a wrong method', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', '']) {
      const wrongType = await fetch(`${service.url}/rerank`, {
        method: 'POST',
        headers: type === '' ? {} : { 'content-type': type },
        body: new Blob(['{}']),
      });
      expect(wrongType.status, type).toBe(400);
      expect((await wrongType.json()).error).toMatchObject({
        message: expect.stringMatching(/^Unsupported Media Type: Only 'application\/json' is allowed/),
        code: 400,
      });
    }
    const charset = await post(
      '/rerank',
      { query: QUERY, documents: DOCS },
      {
        headers: { 'content-type': 'Application/JSON; charset=utf-8' },
      },
    );
    expect(charset.status).toBe(200);
    expect((await post('/nope', {})).status).toBe(404);
    const wrong = await fetch(`${service.url}/rerank`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });
});

describe('POST /score and /v1/score (vLLM late interaction: MaxSim per pair)', () => {
  const scoreUsage = (tokens: number) => ({
    prompt_tokens: tokens,
    total_tokens: tokens,
    completion_tokens: 0,
    prompt_tokens_details: null,
  });

  it('1:N in every request form vLLM accepts, in pair order, with the same numbers as /rerank', async () => {
    const rerank = (await post('/rerank', { query: QUERY, documents: DOCS })).json.results as any[];
    const byIndex = new Map(rerank.map((r) => [r.index, r.relevance_score]));
    for (const [path, body] of [
      ['/score', { model: pooling.model, queries: QUERY, documents: DOCS }],
      ['/v1/score', { queries: [QUERY], documents: DOCS }],
      ['/score', { queries: QUERY, items: DOCS }],
      ['/score', { data_1: QUERY, data_2: DOCS }],
      ['/score', { text_1: QUERY, text_2: DOCS }],
      ['/v1/score', { text_1: [QUERY], text_2: DOCS }],
    ] as const) {
      const { status, json } = await post(path, body);
      expect(status, `${path} ${JSON.stringify(Object.keys(body))}`).toBe(200);
      expect(Object.keys(json)).toEqual(['id', 'object', 'created', 'model', 'data', 'usage']);
      expect(json).toMatchObject({ id: expect.stringMatching(/^score-/), object: 'list', model: pooling.model });
      expect(json.data).toEqual(DOCS.map((_, i) => ({ index: i, object: 'score', score: byIndex.get(i) })));
      expect(json.usage).toEqual(scoreUsage(promptTokens([QUERY, ...DOCS])));
    }
  });

  it('N:N pairs the i-th query with the i-th document (zip, not a cross product); 1:1 too', async () => {
    const queries = ['capital of Germany', 'river in France', 'potassium'];
    const docs = [DOCS[0]!, DOCS[2]!, DOCS[4]!];
    const { status, json } = await post('/score', { text_1: queries, text_2: docs });
    expect(status).toBe(200);
    const { matrices } = await client.embed([...queries, ...docs]);
    const expected = await Promise.all(
      queries.map(async (_, i) => (await scorer.score([matrices[i]!], [matrices[3 + i]!]))[0]![0]!),
    );
    expect(json.data).toEqual(expected.map((score, index) => ({ index, object: 'score', score })));
    // Each pair against its own document equals that pair scored by /rerank.
    const single = await post('/rerank', { query: queries[1], documents: [docs[1]] });
    expect(json.data[1].score).toBe(single.json.results[0].relevance_score);
    const one = await post('/score', { text_1: 'potassium', text_2: DOCS[4] });
    expect(one.json.data).toEqual([{ index: 0, object: 'score', score: json.data[2].score }]);
  });

  it.each([
    ['N:M pairing', { text_1: ['a', 'b'], text_2: ['a', 'b', 'c'] }, /Input lengths must be either 1:1, 1:N or N:N/],
    ['N:1 pairing', { queries: ['a', 'b'], documents: 'c' }, /Input lengths must be either 1:1, 1:N or N:N/],
    ['no queries', { queries: [], documents: ['a'] }, /At least one text element must be given/],
    ['no documents', { queries: 'q', documents: [] }, /At least one text_pair element must be given/],
    ['no pair of fields', { query: 'q', documents: ['a'] }, /Field required: send "queries" and "documents"/],
    ['a non-string text', { text_1: 'q', text_2: ['a', 5] }, /text_2\[1\] must be a string, got 5/],
    ['too many documents', { text_1: 'q', text_2: Array(51).fill('a') }, /51 entries; the limit is 50/],
  ])('rejects %s with 400 in vLLM’s envelope', async (_name, body, message) => {
    const { status, json } = await post('/score', body);
    expect(status).toBe(400);
    expect(json.error).toMatchObject({ message: expect.stringMatching(message), code: 400 });
  });
});

describe('GET /v1/models', () => {
  it('lists the served model as vLLM does, so SDKs and UIs can find its name', async () => {
    const res = await fetch(`${service.url}/v1/models`);
    expect(res.status).toBe(200);
    const json = await res.json();
    expect(json).toEqual({
      object: 'list',
      data: [expect.objectContaining({ id: pooling.model, object: 'model', root: pooling.model, parent: null })],
    });
    expect(json.data[0].created).toEqual(expect.any(Number));
    const local = await serveHandler(
      createRerankHandler({ scorer, embedder: hashTextEmbedder(createHashEmbedder({ dim: 32 })) }),
    );
    try {
      expect((await (await fetch(`${local.url}/v1/models`)).json()).data[0].id).toBe('hash-embedder-d32');
    } finally {
      await local.close();
    }
  });
});

describe('CORS (vLLM’s options and defaults)', () => {
  it('defaults: any origin; a preflight is answered as Starlette answers it; answers carry ACAO, 401 included', async () => {
    const guarded = await serveHandler(
      createRerankHandler({ scorer, embedder: poolingTextEmbedder(client, pooling.model), apiKey: 'k' }),
    );
    try {
      const pre = await fetch(`${guarded.url}/v1/rerank`, {
        method: 'OPTIONS',
        headers: {
          origin: 'http://localhost:5173',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
      expect(pre.status).toBe(200);
      expect(await pre.text()).toBe('OK');
      expect(Object.fromEntries(pre.headers)).toMatchObject({
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT',
        'access-control-max-age': '600',
        'access-control-allow-headers': 'authorization,content-type',
        'content-type': 'text/plain; charset=utf-8',
      });
      const body = JSON.stringify({ query: QUERY, documents: DOCS });
      const headers = { 'content-type': 'application/json', origin: 'http://localhost:5173' };
      const ok = await fetch(`${guarded.url}/v1/rerank`, {
        method: 'POST',
        headers: { ...headers, authorization: 'Bearer k' },
        body,
      });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('access-control-allow-origin')).toBe('*');
      // Deliberately unlike vLLM (whose 401 has no CORS headers): a page can read why it was refused.
      const denied = await fetch(`${guarded.url}/v1/rerank`, { method: 'POST', headers, body });
      expect(denied.status).toBe(401);
      expect(denied.headers.get('access-control-allow-origin')).toBe('*');
      const plain = await fetch(`${guarded.url}/health`, {
        method: 'OPTIONS',
        headers: { origin: 'http://x.example' },
      });
      expect(plain.status).toBe(405);
      expect((await fetch(`${guarded.url}/health`)).headers.has('access-control-allow-origin')).toBe(false);
    } finally {
      await guarded.close();
    }
  });

  it('listed origins only: echoed with Vary: Origin and credentials; others get a 400 preflight', async () => {
    const strict = await serveHandler(
      createRerankHandler({
        scorer,
        embedder: poolingTextEmbedder(client, pooling.model),
        cors: { allowedOrigins: ['http://app.example'], allowedHeaders: ['content-type'], allowCredentials: true },
      }),
    );
    try {
      const pre = (origin: string, headers = 'content-type') =>
        fetch(`${strict.url}/score`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
        });
      const good = await pre('http://app.example');
      expect(good.status).toBe(200);
      expect(good.headers.get('access-control-allow-origin')).toBe('http://app.example');
      expect(good.headers.get('access-control-allow-credentials')).toBe('true');
      expect(good.headers.get('vary')).toBe('Origin');
      const evil = await pre('http://evil.example', 'x-api-key');
      expect(evil.status).toBe(400);
      expect(await evil.text()).toBe('Disallowed CORS origin, headers');
      const res = await fetch(`${strict.url}/score`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
        body: JSON.stringify({ text_1: QUERY, text_2: DOCS }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.has('access-control-allow-origin')).toBe(false);
    } finally {
      await strict.close();
    }
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

/**
 * An embedder whose calls wait until the test releases them, and end at once with E_ABORTED when their signal
 * aborts, as the /pooling client does: the upstream of the shared-work tests.
 */
function gatedEmbedder() {
  const calls: { texts: string[]; signal: AbortSignal | undefined }[] = [];
  const hash = createHashEmbedder({ dim: DIM });
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const embedder = {
    model: 'gated',
    embed: (texts: readonly string[], options: { signal?: AbortSignal } = {}) => {
      calls.push({ texts: [...texts], signal: options.signal });
      return new Promise<TokenMatrix[]>((resolve, reject) => {
        options.signal?.addEventListener('abort', () => reject(new PoolingAbortedError(options.signal!.reason)));
        void gate.then(() => resolve(texts.map((t) => hash.embedText(t))));
      });
    },
  };
  return { embedder, calls, release: () => open() };
}

describe('shared in-flight embeddings (one request’s abort or deadline is not another’s)', () => {
  it('a caller that aborts leaves the shared call running for the other caller, who gets the result', async () => {
    const { embedder, calls, release } = gatedEmbedder();
    const cache = createEmbeddingCache(embedder);
    const a = new AbortController();
    const first = cache.embed(['shared doc', 'only A'], { signal: a.signal });
    const second = cache.embed(['shared doc'], { signal: new AbortController().signal });
    expect(calls.map((c) => c.texts)).toEqual([['shared doc', 'only A']]);
    a.abort(new Error('A’s deadline'));
    await expect(first).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect(calls[0]!.signal?.aborted).toBe(false); // B still waits on it
    release();
    const [m] = await second;
    expect(m!.rows).toBeGreaterThan(0);
    expect(cache.stats.entries).toBe(2); // the finished call is cached, A's text included
  });

  it('the upstream call is cancelled when every caller waiting on it has gone', async () => {
    const { embedder, calls } = gatedEmbedder();
    const cache = createEmbeddingCache(embedder);
    const a = new AbortController();
    const b = new AbortController();
    const first = cache.embed(['x'], { signal: a.signal });
    const second = cache.embed(['x'], { signal: b.signal });
    a.abort();
    await expect(first).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect(calls[0]!.signal?.aborted).toBe(false);
    b.abort();
    await expect(second).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect(calls[0]!.signal?.aborted).toBe(true);
    // A later caller is not handed the cancelled call: it starts a new one.
    void cache.embed(['x']).catch(() => undefined);
    expect(calls).toHaveLength(2);
  });

  it('over HTTP: request B, sharing a document with request A that timed out (504), still succeeds', async () => {
    const { embedder, calls, release } = gatedEmbedder();
    const shared = createEmbeddingCache(embedder);
    // Two services over one cache, so A's deadline passes while B's has time left, deterministically.
    const errors: unknown[] = [];
    const hasty = await serveHandler(
      createRerankHandler({ scorer, embedder: shared, timeoutMs: 200, onError: (e) => errors.push(e) }),
    );
    const patient = await serveHandler(createRerankHandler({ scorer, embedder: shared, timeoutMs: 20_000 }));
    try {
      const request = (server: RunningServer, query: string) =>
        fetch(`${server.url}/rerank`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query, documents: ['document X, shared by both requests'] }),
        });
      const a = request(hasty, 'query of A');
      await expect.poll(() => calls.length).toBe(1);
      const b = request(patient, 'query of B');
      await expect.poll(() => calls.length).toBe(2); // B's query; document X is shared with A's call
      expect((await a).status).toBe(504);
      release();
      const answer = await b;
      expect(answer.status).toBe(200);
      expect((await answer.json()).results).toHaveLength(1);
    } finally {
      release();
      await hasty.close();
      await patient.close();
    }
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
      expect((await res.json()).results).toEqual([
        { index: 1, document: { text: DOCS[1], multi_modal: null }, relevance_score: expect.any(Number) },
      ]);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
