// POST /search as a web-standard handler, against a scripted searcher (no LanceDB): the response shape, the
// /rerank error envelope, limits and API key, what reaches the searcher, and how its failures map to statuses.
import { describe, expect, it } from 'vitest';
import { MaxsimError } from '../../src/core/errors.js';
import { PoolingHttpError } from '../../src/pooling/errors.js';
import { createSearchHandler, type DocumentSearcher } from '../../src/service/search-handler.js';

interface Call {
  query: string;
  options: { topK: number; filter?: string; signal?: AbortSignal };
}

function searcher(fail?: unknown): DocumentSearcher & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    model: 'm-1',
    calls,
    search: async (query, options) => {
      calls.push({ query, options });
      if (fail !== undefined) throw fail;
      return {
        results: [
          { id: 'b', score: 2.5, text: 'text b' },
          { id: 'a', score: 1.25, text: 'text a' },
        ].slice(0, options.topK),
        queryTokens: 7,
      };
    },
  };
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}): Request =>
  new Request(`http://x${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

async function answer(
  handler: (r: Request) => Promise<Response>,
  request: Request,
): Promise<{ status: number; json: any }> {
  const res = await handler(request);
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

describe('POST /search', () => {
  it('answers {id, model, results: [{id, relevance_score, document: {text}}], usage}, best first', async () => {
    const s = searcher();
    const handler = createSearchHandler({ searcher: s });
    const { status, json } = await answer(handler, post('/v1/search', { query: 'q', top_n: 2, filter: "id = 'a'" }));
    expect(status).toBe(200);
    expect(json).toEqual({
      id: expect.stringMatching(/^search-/),
      model: 'm-1',
      usage: { prompt_tokens: 7, total_tokens: 7 },
      results: [
        { id: 'b', relevance_score: 2.5, document: { text: 'text b' } },
        { id: 'a', relevance_score: 1.25, document: { text: 'text a' } },
      ],
    });
    expect(s.calls[0]).toMatchObject({ query: 'q', options: { topK: 2, filter: "id = 'a'" } });
    expect(s.calls[0]!.options.signal).toBeInstanceOf(AbortSignal);
    await answer(handler, post('/search', { query: 'q', filter: '  ' }));
    expect(s.calls[1]!.options).toMatchObject({ topK: 10 });
    expect(s.calls[1]!.options.filter).toBeUndefined();
  });

  it('refuses bad requests in the vLLM error envelope, before searching', async () => {
    const s = searcher();
    const handler = createSearchHandler({
      searcher: s,
      limits: { maxTextChars: 20, maxDocuments: 50, maxBodyBytes: 200 },
    });
    const cases: [Request, number, string | null, RegExp][] = [
      [post('/search', '{oops'), 400, 'body', /not valid JSON/],
      [post('/search', [1]), 400, 'body', /must be a JSON object, got an array of length 1/],
      [post('/search', { query: 3 }), 400, 'query', /"query" must be a string, got 3/],
      [post('/search', { query: ' ' }), 400, 'query', /"query" is empty/],
      [post('/search', { query: 'x'.repeat(21) }), 400, 'query', /21 characters; the limit is 20/],
      [post('/search', { query: 'q', top_n: 0 }), 400, 'top_n', /integer >= 1/],
      [post('/search', { query: 'q', top_n: 2.5 }), 400, 'top_n', /fractional part/],
      [post('/search', { query: 'q', top_n: 51 }), 400, 'top_n', /the limit is 50/],
      [post('/search', { query: 'q', filter: 1 }), 400, 'filter', /must be a string/],
      [post('/search', { query: 'q', filter: 'f'.repeat(21) }), 400, 'filter', /the limit is 20/],
      [post('/search', { query: 'q', model: 'other' }), 404, 'model', /`other` does not exist/],
      [post('/search', { query: 'q'.repeat(10), pad: 'p'.repeat(300) }), 413, 'body', /exceeds the limit of 200 bytes/],
      [post('/search', 'x', { 'content-type': 'text/plain' }), 400, 'content-type', /application\/json/],
      [new Request('http://x/search'), 405, null, /GET \/search is not allowed; use POST/],
    ];
    for (const [request, status, param, message] of cases) {
      const { status: got, json } = await answer(handler, request);
      expect(got, message.source).toBe(status);
      expect(json.error).toMatchObject({ code: status, param });
      expect(json.error.message).toMatch(message);
    }
    expect(s.calls).toHaveLength(0);
    // vLLM's lax integers: "3" is 3.
    await answer(handler, post('/search', { query: 'q', top_n: '3' }));
    expect(s.calls[0]!.options.topK).toBe(3);
  });

  it('needs the API key on /search; other paths go to next, or 404 without one', async () => {
    const s = searcher();
    const next = async (r: Request): Promise<Response> => new Response(`next ${new URL(r.url).pathname}`);
    const guarded = createSearchHandler({ searcher: s, apiKey: 'k', next });
    expect((await guarded(post('/search', { query: 'q' }))).status).toBe(401);
    expect((await guarded(post('/search', { query: 'q' }, { authorization: 'Bearer k' }))).status).toBe(200);
    expect(await (await guarded(post('/rerank', {}))).text()).toBe('next /rerank');
    const alone = createSearchHandler({ searcher: s });
    expect((await alone(new Request('http://x/health'))).status).toBe(200);
    expect((await answer(alone, post('/nope', {}))).json.error.message).toMatch(/use POST \/search/);
  });

  it('maps searcher failures: bad filter 400, upstream 502, store failure 500 without its message', async () => {
    const logged: unknown[] = [];
    const run = (err: unknown) =>
      answer(
        createSearchHandler({ searcher: searcher(err), onError: (e) => logged.push(e) }),
        post('/search', { query: 'q' }),
      );
    const filter = await run(new MaxsimError('E_STORE_FILTER', 'filter "x" is not a valid predicate'));
    expect(filter.status).toBe(400);
    expect(filter.json.error).toMatchObject({ param: 'filter', message: 'filter "x" is not a valid predicate' });
    const upstream = await run(
      new PoolingHttpError({ url: 'http://u/pooling', status: 503, statusText: 'Unavailable', serverMessage: 'busy' }),
    );
    expect(upstream.status).toBe(502);
    expect(upstream.json.error.message).toMatch(/embedding upstream failed \(503\): busy/);
    const mismatch = await run(new MaxsimError('E_STORE_MISMATCH', 'store holds dim 48; the embedder gave dim 64'));
    expect(mismatch.status).toBe(502);
    const store = await run(new MaxsimError('E_STORE', 'reading the store failed: /secret/path broke'));
    expect(store.status).toBe(500);
    expect(JSON.stringify(store.json)).not.toContain('secret');
    const bug = await run(new TypeError('x is undefined'));
    expect(bug.status).toBe(500);
    expect(logged).toHaveLength(4);
  });
});
