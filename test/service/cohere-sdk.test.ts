// Cohere's own TypeScript SDK (cohere-ai, pinned) against `webgpu-maxsim serve` as users start it: the built
// dist/cli.js in a child process on loopback. CohereClientV2 posts to /v2/rerank, CohereClient to /v1/rerank;
// both must rank, read every field without the SDK's "Failed to validate" warnings, and see our errors as the
// typed errors the SDK throws for each status.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CohereClient, CohereClientV2 } from 'cohere-ai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const QUERY = 'What is the capital of the United States?';
const DOCS = [
  'Carson City is the capital city of the American state of Nevada.',
  'Washington, D.C. is the capital of the United States.',
  'Capital punishment has existed in the United States since before it was a country.',
];

interface Served {
  child: ChildProcess;
  url: string;
}

async function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--local', '--port', '0', '--backend', 'cpu', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve exited early with ${code}: ${out}`)));
  });
  return { child, url };
}

async function stop(s: Served | undefined): Promise<void> {
  if (s === undefined || s.child.exitCode !== null) return;
  const exited = new Promise((resolve) => s.child.once('exit', resolve));
  s.child.kill('SIGTERM');
  await exited;
}

async function raw(url: string, path: string, body: unknown, token?: string): Promise<any> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return res.json();
}

let open: Served;
let locked: Served;

beforeAll(async () => {
  expect(existsSync(CLI), 'dist/cli.js is missing: run `npm run build` (npm test does it first)').toBe(true);
  [open, locked] = await Promise.all([serve([]), serve(['--api-key', 'co-secret'])]);
}, 30_000);

afterAll(async () => {
  await Promise.all([stop(open), stop(locked)]);
});

describe('cohere-ai CohereClientV2 (POST /v2/rerank)', () => {
  it('ranks through serve, reading index and relevanceScore, and never warns', async () => {
    const warn = vi.spyOn(console, 'warn');
    try {
      const co = new CohereClientV2({ token: 'any', environment: open.url });
      const res = await co.rerank({ model: 'hash-embedder-d128', query: QUERY, documents: DOCS, topN: 2 });
      const direct = await raw(open.url, '/rerank', { query: QUERY, documents: DOCS, top_n: 2 });
      expect(res.results).toHaveLength(2);
      expect(res.results.map((r) => r.index)).toEqual(direct.results.map((r: any) => r.index));
      expect(res.results.map((r) => r.relevanceScore)).toEqual(direct.results.map((r: any) => r.relevance_score));
      expect(res.results[0]!.index).toBe(1);
      expect(res.id).toMatch(/^score-/);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('without topN ranks every document; the model name is the one GET /v1/models lists', async () => {
    const listed = await (await fetch(`${open.url}/v1/models`)).json();
    const co = new CohereClientV2({ token: 'any', environment: open.url });
    const res = await co.rerank({ model: listed.data[0].id, query: QUERY, documents: DOCS });
    expect(res.results.map((r) => r.index).sort()).toEqual([0, 1, 2]);
  });

  it('an unknown model, a refused request and a wrong key arrive as the SDK’s typed errors', async () => {
    const co = new CohereClientV2({ token: 'any', environment: open.url });
    await expect(co.rerank({ model: 'rerank-v3.5', query: QUERY, documents: DOCS })).rejects.toMatchObject({
      statusCode: 404,
      body: { error: { message: 'The model `rerank-v3.5` does not exist.', code: 404 } },
    });
    await expect(co.rerank({ model: 'hash-embedder-d128', query: QUERY, documents: [] })).rejects.toMatchObject({
      statusCode: 400,
      body: { error: { message: expect.stringMatching(/At least one text_pair element/) } },
    });
    const wrong = new CohereClientV2({ token: 'nope', environment: locked.url });
    await expect(wrong.rerank({ model: 'hash-embedder-d128', query: QUERY, documents: DOCS })).rejects.toMatchObject({
      statusCode: 401,
      body: { error: 'Unauthorized' },
    });
    const right = new CohereClientV2({ token: 'co-secret', environment: locked.url });
    expect((await right.rerank({ model: 'hash-embedder-d128', query: QUERY, documents: DOCS })).results).toHaveLength(
      3,
    );
  });
});

describe('cohere-ai CohereClient, v1 (POST /v1/rerank)', () => {
  it('ranks {text} and string documents, returning documents only when asked', async () => {
    const warn = vi.spyOn(console, 'warn');
    try {
      const co = new CohereClient({ token: 'any', environment: open.url });
      const withDocs = await co.rerank({
        query: QUERY,
        documents: [{ text: DOCS[0]! }, DOCS[1]!, { text: DOCS[2]! }],
        topN: 1,
        returnDocuments: true,
      });
      expect(withDocs.results).toHaveLength(1);
      expect(withDocs.results[0]!.index).toBe(1);
      expect(withDocs.results[0]!.document?.text).toBe(DOCS[1]);
      const bare = await co.rerank({ query: QUERY, documents: DOCS, returnDocuments: false });
      expect(bare.results).toHaveLength(3);
      expect(bare.results.every((r) => r.document === undefined)).toBe(true);
      expect(bare.results[0]!.relevanceScore).toBe(withDocs.results[0]!.relevanceScore);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });
});
