// `index`, `search` and `serve --store` as users run them: dist/cli.js in child processes, against the local
// /pooling stand-in (which logs every request). A search from a new process returns the exact MaxSim top-k
// over the stored vectors and sends only the query to /pooling; re-running index updates by id and embeds only
// what changed; an interrupted index is completed by a re-run; two `serve --store` processes answer /search the
// same and both see a later index. `npm test` builds first, so dist/ is current.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float16BitsToFloat, float32ToFloat16Bits } from '../../src/core/float16.js';
import { maxsimReference } from '../../src/core/reference.js';
import { startPoolingServer, type PoolingServer } from '../../src/testing/pooling-server/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/cli.js');
const DIM = 48;
const TOPICS = ['river', 'mountain', 'harbour', 'violin', 'orchard', 'turbine'];
const WORDS = ['old', 'quiet', 'famous', 'green', 'busy', 'cold', 'bright', 'narrow', 'wooden', 'distant'];

interface Doc {
  id: string;
  text: string;
  metadata: { topic: string };
}

const DOCS: Doc[] = Array.from({ length: 30 }, (_, i) => {
  const topic = TOPICS[i % TOPICS.length]!;
  const a = WORDS[i % WORDS.length]!;
  const b = WORDS[(i * 7 + 3) % WORDS.length]!;
  return { id: `doc-${i}`, text: `the ${a} ${topic} by the ${b} ${topic}s, number ${i}`, metadata: { topic } };
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

const jsonl = (docs: readonly Doc[]): string => `${docs.map((d) => JSON.stringify(d)).join('\n')}\n`;
const f16 = (data: Float32Array): Float32Array => data.map((v) => float16BitsToFloat(float32ToFloat16Bits(v)));

let server: PoolingServer;
let dir: string;
let store: string;
const serverArgs = (): string[] => ['--host', server.host, '--port', String(server.port)];
const poolingBodies = (): { input: unknown; encoding_format?: string }[] =>
  server.requests
    .filter((r) => r.path === '/pooling')
    .map((r) => r.body as { input: unknown; encoding_format?: string });
/** Texts `index` embedded: its base64 batches (the client's one-text float width probe left out). */
const embeddedTexts = (): unknown[] =>
  poolingBodies()
    .filter((b) => b.encoding_format !== 'float')
    .flatMap((b) => b.input as unknown[]);

/** The exact top-k over `docs` as an f16 store keeps them, by the float64 reference. */
function reference(query: string, docs: readonly Doc[], k: number): { id: string; score: number }[] {
  const q = server.embedder.embedText(query);
  return docs
    .map((d) => {
      const m = server.embedder.embedText(d.text);
      return { id: d.id, score: maxsimReference(q, { ...m, data: f16(m.data) }) };
    })
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

beforeAll(async () => {
  expect(existsSync(CLI), 'dist/cli.js is missing: run `npm run build` (npm test does it first)').toBe(true);
  server = await startPoolingServer({ port: 0, dim: DIM });
  dir = await mkdtemp(join(tmpdir(), 'maxsim-store-cli-'));
  store = join(dir, 'store');
  await writeFile(join(dir, 'docs.jsonl'), jsonl(DOCS));
  const { code, stdout, stderr } = await cli([
    'index',
    '--store',
    store,
    '--docs-file',
    join(dir, 'docs.jsonl'),
    ...serverArgs(),
    '--commit-every',
    '8',
  ]);
  const [first, ...rest] = stderr.trim().split('\n');
  expect(first).toMatch(/^indexing 30 documents into .*store with BAAI\/bge-m3 at http:\/\/127\.0\.0\.1:\d+\/pooling$/);
  // Small work: silent unless it took over a second (a loaded machine), then cliProgress's plain lines.
  expect(
    rest.every((l) => /^indexing \d+\/30 documents \d+%$/.test(l)),
    stderr,
  ).toBe(true);
  expect(stdout).toMatch(/: 30 documents \(BAAI\/bge-m3, dim 48, f16\); this run inserted 30, updated 0, skipped 0/);
  expect(code).toBe(0);
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('webgpu-maxsim index + search', () => {
  it('a search from a new process returns the exact top-k over the stored vectors and sends only the query', async () => {
    server.clearRequests();
    const query = 'quiet river';
    const { code, stdout, stderr } = await cli([
      'search',
      '--store',
      store,
      '--query',
      query,
      ...serverArgs(),
      '--top-k',
      '5',
      '--json',
      '--backend',
      'cpu',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as { backend: string; results: { id: string; score: number; text: string }[] };
    expect(Object.keys(out)).toEqual(['backend', 'results']);
    expect(out.backend).toBe('cpu');
    const want = reference(query, DOCS, 5);
    expect(out.results.map((r) => r.id)).toEqual(want.map((w) => w.id));
    out.results.forEach((r, i) => {
      expect(Object.keys(r)).toEqual(['id', 'score', 'text']);
      expect(r.score).toBeCloseTo(want[i]!.score, 4);
      expect(r.text).toBe(DOCS.find((d) => d.id === r.id)!.text);
    });
    // One request, with the query and nothing else.
    expect(poolingBodies()).toEqual([expect.objectContaining({ input: [query], encoding_format: 'float' })]);
  });

  it('prints a ranked table, and honours --filter and the pooled first stage', async () => {
    const table = await cli(['search', '--store', store, '--query', 'famous violin', ...serverArgs(), '--top-k', '3']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/exact over 30 documents \(resident corpus [\d.]+ MiB, loaded in [\d.]+ s\)/);
    expect(table.stdout.split('\n').filter((l) => /^\s+\d+\s+-?\d+\.\d{4}\s+doc-\d+\s+the /.test(l))).toHaveLength(3);
    const filtered = await cli([
      'search',
      '--store',
      store,
      '--query',
      'famous violin',
      ...serverArgs(),
      '--json',
      '--filter',
      `metadata LIKE '%"topic":"orchard"%'`,
      '--first-stage',
      'pooled',
      '--candidates',
      '30',
    ]);
    expect(filtered.code).toBe(0);
    const ids = (JSON.parse(filtered.stdout) as { results: { id: string }[] }).results.map((r) => r.id);
    const orchard = DOCS.filter((d) => d.metadata.topic === 'orchard');
    expect(ids).toEqual(reference('famous violin', orchard, 10).map((w) => w.id));
  });

  it('re-running index updates by id and embeds only new or changed documents', async () => {
    const copy = join(dir, 'store-copy');
    const file = join(dir, 'docs-copy.jsonl');
    await writeFile(file, jsonl(DOCS.slice(0, 10)));
    expect((await cli(['index', '--store', copy, '--docs-file', file, ...serverArgs()])).code).toBe(0);
    const edited = DOCS.slice(0, 10).map((d) => (d.id === 'doc-3' ? { ...d, text: 'a completely new text' } : d));
    await writeFile(file, jsonl([...edited, { id: 'extra', text: 'one more document', metadata: { topic: 'x' } }]));
    server.clearRequests();
    const again = await cli(['index', '--store', copy, '--docs-file', file, ...serverArgs()]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/: 11 documents .*inserted 1, updated 1, skipped 9 unchanged/);
    expect(embeddedTexts()).toEqual(['a completely new text', 'one more document']);
    const found = await cli(['search', '--store', copy, '--query', 'completely new', ...serverArgs(), '--json']);
    expect(JSON.parse(found.stdout).results[0]).toMatchObject({ id: 'doc-3', text: 'a completely new text' });
  });

  it('an index interrupted by a failing /pooling leaves whole batches, its progress says how far; the re-run completes it', async () => {
    const target = join(dir, 'store-interrupted');
    const file = join(dir, 'docs-interrupted.jsonl');
    const many: Doc[] = Array.from({ length: 1200 }, (_, i) => ({
      id: `m-${i}`,
      text: `${WORDS[i % WORDS.length]} ${TOPICS[i % TOPICS.length]} number ${i}`,
      metadata: { topic: TOPICS[i % TOPICS.length]! },
    }));
    await writeFile(file, jsonl(many));
    const poison = many[900]!.text; // in the third batch of 400
    server.addFault({
      status: 400,
      match: (r) => r.path === '/pooling' && JSON.stringify(r.body).includes(poison),
    });
    const args = ['index', '--store', target, '--docs-file', file, ...serverArgs(), '--commit-every', '400'];
    const failed = await cli(args);
    expect(failed.code).toBe(1);
    // Not a terminal here: cliProgress's plain lines, one per committed batch (each a tenth or more of the work),
    // and the same line again when a batch takes over 5 s (a loaded machine): repeats are folded.
    const lines = failed.stderr
      .trim()
      .split('\n')
      .filter((line, i, all) => i === 0 || line !== all[i - 1]);
    expect(lines.slice(0, 4)).toEqual([
      expect.stringMatching(/^indexing 1,200 documents into .*store-interrupted with BAAI\/bge-m3 at /),
      'indexing 0/1,200 documents 0%',
      'indexing 400/1,200 documents 33%',
      'indexing 800/1,200 documents 66%',
    ]);
    expect(lines).toHaveLength(5);
    expect(lines.at(-1)).toMatch(/^webgpu-maxsim: .*400/);
    expect(failed.stderr).not.toMatch(/\n\s+at /);
    server.clearRequests();
    const rerun = await cli([...args, '--quiet']);
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).toBe('');
    expect(rerun.stdout).toMatch(/: 1200 documents .*inserted 400, updated 0, skipped 800 unchanged/);
    // Two batches are in flight at a time, so they may reach the stand-in in either order.
    const byText = (a: unknown, b: unknown): number => String(a).localeCompare(String(b));
    expect(embeddedTexts().sort(byText)).toEqual(
      many
        .slice(800)
        .map((d) => d.text)
        .sort(byText),
    );
  }, 120_000);

  it('--local indexes and searches with the built-in embedder at the store width', async () => {
    const local = join(dir, 'store-local');
    const file = join(dir, 'lines.txt');
    await writeFile(
      file,
      'Paris is the capital of France.\n\nBerlin is the capital of Germany.\nBananas are yellow.\n',
    );
    const indexed = await cli(['index', '--store', local, '--docs-file', file, '--local']);
    expect(indexed.stdout).toMatch(/: 3 documents \(hash-embedder-d128, dim 128, f16\)/);
    const found = await cli(['search', '--store', local, '--query', 'capital of France', '--local', '--json']);
    const out = JSON.parse(found.stdout) as { results: { id: string; text: string }[] };
    expect(out.results.map((r) => r.text)).toEqual([
      'Paris is the capital of France.',
      'Berlin is the capital of Germany.',
      'Bananas are yellow.',
    ]);
    expect(out.results[0]!.id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('bad input is one line on stderr, a non-zero exit, and nothing is created or lost', async () => {
    const missing = join(dir, 'no-such-store');
    const noStore = await cli(['search', '--store', missing, '--query', 'x', '--local']);
    expect(noStore.code).toBe(1);
    expect(noStore.stderr).toBe(
      `webgpu-maxsim: no store at ${missing}: the folder does not exist (create it with \`webgpu-maxsim index\`)\n`,
    );
    expect(existsSync(missing)).toBe(false);

    const other = await cli(['search', '--store', store, '--query', 'x', '--local']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(
      /^webgpu-maxsim: the store at .* holds model "BAAI\/bge-m3", dim 48; asked for model "hash-embedder-d48"\. /,
    );
    expect(other.stderr.trim().split('\n')).toHaveLength(1);

    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, '{"id": "a", "text": "fine"}\n{"id": "b", "txt": "typo"}\n');
    const badIndex = await cli(['index', '--store', store, '--docs-file', bad, ...serverArgs()]);
    expect(badIndex.code).toBe(2); // a usage error: the file the option names
    expect(badIndex.stderr).toBe(`webgpu-maxsim: --docs-file ${bad} line 2 has no non-empty string "text" field\n`);

    const badFilter = await cli(['search', '--store', store, '--query', 'x', ...serverArgs(), '--filter', 'nope ((']);
    expect(badFilter.code).toBe(1);
    expect(badFilter.stderr).toMatch(/^webgpu-maxsim: filter "nope \(\(" is not a valid predicate: .*\n$/);

    const precision = await cli([
      'index',
      '--store',
      store,
      '--docs-file',
      join(dir, 'docs.jsonl'),
      ...serverArgs(),
      '--precision',
      'f32',
    ]);
    expect(precision.stderr).toMatch(/keeps f16 vectors; --precision f32 applies only when creating a store/);

    const count = await cli([
      'search',
      '--store',
      store,
      '--query',
      'river',
      ...serverArgs(),
      '--json',
      '--top-k',
      '100',
    ]);
    expect(JSON.parse(count.stdout).results).toHaveLength(30);
  });

  it("the store's declarations never import LanceDB or Arrow types (they compile without the optional peers)", async () => {
    const { readFileSync } = await import('node:fs');
    const { dirname, resolve } = await import('node:path');
    const seen = new Set<string>();
    const offenders: string[] = [];
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const m of readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')));
        else if (/lancedb|apache-arrow/.test(spec)) offenders.push(`${file}: ${spec}`);
      }
    };
    visit(join(ROOT, 'dist/store.d.ts'));
    expect(seen.size).toBeGreaterThan(5);
    expect(offenders).toEqual([]);
  });

  it('webgpu-maxsim/store imports by its own name', async () => {
    const script = [
      "const s = await import('webgpu-maxsim/store');",
      'console.log(JSON.stringify(Object.keys(s).sort()));',
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    expect(JSON.parse(out)).toEqual(
      expect.arrayContaining(['openStore', 'Store', 'StoreNotFoundError', 'StoreMismatchError', 'createSearchHandler']),
    );
  });
});

describe('webgpu-maxsim serve --store', () => {
  function serve(args: string[]): { child: ChildProcess; url: Promise<string> } {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--backend', 'cpu', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      let err = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        err += chunk.toString();
      });
      child.once('exit', (code) => reject(new Error(`serve exited early with ${code}: ${out}${err}`)));
    });
    return { child, url };
  }

  async function stop(child: ChildProcess): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    return exited;
  }

  async function search(url: string, body: unknown, key = 'k-1'): Promise<{ status: number; json: any }> {
    const res = await fetch(`${url}/v1/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }

  it('two processes on one store answer /search like the CLI, in the /rerank envelope, and see a later index', async () => {
    const shared = join(dir, 'store-served');
    const file = join(dir, 'docs-served.jsonl');
    await writeFile(file, jsonl(DOCS.slice(0, 20)));
    expect((await cli(['index', '--store', shared, '--docs-file', file, ...serverArgs()])).code).toBe(0);
    const url = `http://${server.host}:${server.port}`;
    const a = serve(['--store', shared, '--pooling-url', url, '--api-key', 'k-1']);
    const b = serve(['--store', shared, '--pooling-url', url, '--api-key', 'k-1']);
    try {
      const [ua, ub] = await Promise.all([a.url, b.url]);
      const query = 'bright harbour';
      const want = reference(query, DOCS.slice(0, 20), 4);
      for (const u of [ua, ub]) {
        const { status, json } = await search(u, { query, top_n: 4 });
        expect(status).toBe(200);
        expect(json.model).toBe('BAAI/bge-m3');
        const tokens = server.embedder.encode(query).ids.length;
        expect(json.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
        expect(json.results.map((r: any) => r.id)).toEqual(want.map((w) => w.id));
        json.results.forEach((r: any, i: number) => {
          expect(Object.keys(r)).toEqual(['id', 'relevance_score', 'document']);
          expect(r.relevance_score).toBeCloseTo(want[i]!.score, 4);
          expect(r.document).toEqual({ text: DOCS.find((d) => d.id === r.id)!.text });
        });
      }
      // Same envelope, limits and key as /rerank.
      expect((await search(ua, { query }, 'wrong')).status).toBe(401);
      const badFilter = await search(ua, { query, filter: 'nope ((' });
      expect(badFilter.status).toBe(400);
      expect(badFilter.json.error).toMatchObject({ type: 'BadRequestError', param: 'filter', code: 400 });
      expect((await search(ua, { query: '' })).json.error.param).toBe('query');
      expect((await search(ua, { query, top_n: 5000 })).json.error.message).toMatch(/limit is 1000/);
      const filtered = await search(ua, { query, filter: `metadata LIKE '%"topic":"violin"%'`, top_n: 10 });
      expect(filtered.json.results.map((r: any) => r.id)).toEqual(
        reference(
          query,
          DOCS.slice(0, 20).filter((d) => d.metadata.topic === 'violin'),
          10,
        ).map((w) => w.id),
      );
      const rerank = await fetch(`${ua}/rerank`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k-1' },
        body: JSON.stringify({ query, documents: ['a bright harbour', 'nothing'] }),
      });
      expect((await rerank.json()).results[0].index).toBe(0);

      // A later index (another process) is seen by both servers on their next search.
      await writeFile(file, jsonl([{ id: 'late', text: 'a bright harbour at dawn', metadata: { topic: 'harbour' } }]));
      expect((await cli(['index', '--store', shared, '--docs-file', file, ...serverArgs()])).code).toBe(0);
      for (const u of [ua, ub]) {
        const { json } = await search(u, { query, top_n: 1 });
        expect(json.results[0].id).toBe('late');
      }
    } finally {
      expect(await stop(a.child)).toBe(0);
      expect(await stop(b.child)).toBe(0);
    }
  });

  it('a missing store is one line and a non-zero exit', async () => {
    const { code, stderr } = await cli(['serve', '--store', join(dir, 'nothing-here'), '--local', '--port', '0']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^webgpu-maxsim: no store at .*nothing-here: the folder does not exist/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});
