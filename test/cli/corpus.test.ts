// `export` and `search --corpus` as users run them: dist/cli.js in child processes. A store exported to a corpus
// file reads back (here and in numpy) with the store's vectors, f16 exactly and int8 within its rounding bound;
// `search --corpus` over files written by `export`, by writeCorpusFile and by numpy returns the float64
// reference ranking, embedding the query with the file's model (the built-in hashing embedder for
// hash-embedder-dN, the local /pooling stand-in otherwise) and refusing another model or width naming both.
// `npm test` builds first, so dist/ is current.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCorpusFile, writeCorpusFile, type CorpusFile } from '../../src/core/corpus-file.js';
import { maxsimReference } from '../../src/core/reference.js';
import type { TokenMatrix } from '../../src/core/token-matrix.js';
import { createHashEmbedder } from '../../src/embed/hash-embedder.js';
import { openStore } from '../../src/store/store.js';
import { startPoolingServer, type PoolingServer } from '../../src/testing/pooling-server/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/cli.js');
const NUMPY = resolve(dirname(fileURLToPath(import.meta.url)), '../support/corpus_numpy.py');
const python = process.env.PYTHON ?? 'python3';
const DIM = 48;
const TOPICS = ['river', 'mountain', 'harbour', 'violin', 'orchard', 'turbine'];
const WORDS = ['old', 'quiet', 'famous', 'green', 'busy', 'cold', 'bright', 'narrow', 'wooden', 'distant'];

const DOCS = Array.from({ length: 40 }, (_, i) => {
  const topic = TOPICS[i % TOPICS.length]!;
  const a = WORDS[i % WORDS.length]!;
  const b = WORDS[(i * 7 + 3) % WORDS.length]!;
  return {
    id: `doc-${i}`,
    text: `the ${a} ${topic} by the ${b} ${topic}s, number ${i} — ${i % 5 === 0 ? 'café 東京' : 'plain'}`,
  };
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

interface SearchJson {
  backend: string;
  results: { id: string; score: number; text: string }[];
}

let server: PoolingServer;
let dir: string;
let store: string;
/** The store's documents as it keeps them (f16-rounded), by id. */
let stored: Map<string, { text: string; matrix: TokenMatrix }>;
const serverArgs = (s: PoolingServer = server): string[] => ['--host', s.host, '--port', String(s.port)];
const poolingInputs = (s: PoolingServer): unknown[] =>
  s.requests.filter((r) => r.path === '/pooling').map((r) => (r.body as { input: unknown }).input);

/** The float64 reference ranking of a corpus file's documents for a query matrix, best first. */
function reference(q: TokenMatrix, file: CorpusFile, k: number): { id: string; score: number; text: string }[] {
  return file.documents
    .map((d, i) => ({ id: file.ids?.[i] ?? String(i), score: maxsimReference(q, d), text: file.texts?.[i] ?? '' }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

function expectRanking(out: SearchJson, want: { id: string; score: number; text: string }[]): void {
  expect(out.results.map((r) => r.id)).toEqual(want.map((w) => w.id));
  out.results.forEach((r, i) => {
    expect(Object.keys(r)).toEqual(['id', 'score', 'text']);
    expect(r.score).toBeCloseTo(want[i]!.score, 4);
    expect(r.text).toBe(want[i]!.text);
  });
}

beforeAll(async () => {
  expect(existsSync(CLI), 'dist/cli.js is missing: run `npm run build` (npm test does it first)').toBe(true);
  server = await startPoolingServer({ port: 0, dim: DIM });
  dir = await mkdtemp(join(tmpdir(), 'maxsim-corpus-cli-'));
  store = join(dir, 'store');
  // The store as `index --port` would fill it from this server: its model, its vectors, f16.
  const s = await openStore(store, { create: true, model: 'BAAI/bge-m3' });
  try {
    await s.add(
      DOCS.map((d) => ({ ...d, matrix: server.embedder.embedText(d.text) })),
      { batchSize: 16 },
    );
    stored = new Map(
      (await s.get(DOCS.map((d) => d.id))).map((d) => [d.id, { text: d.text, matrix: d.matrix }] as const),
    );
  } finally {
    s.close();
  }
  expect(stored.size).toBe(DOCS.length);
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('webgpu-maxsim export', () => {
  it("f16 (the store's own precision, the default): the file holds exactly the stored vectors, ids and texts", async () => {
    const out = join(dir, 'store-f16.safetensors');
    const run = await cli(['export', '--store', store, '--out', out, '--quiet']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /store-f16\.safetensors: 40 documents, [\d,]+ token rows of dim 48 \(BAAI\/bge-m3\) as f16, /,
    );
    const file = readCorpusFile(await readFile(out));
    expect(file.dtype).toBe('f16');
    expect(file.metadata).toMatchObject({
      format: 'webgpu-maxsim.corpus',
      model: 'BAAI/bge-m3',
      dim: '48',
      documents: '40',
      dtype: 'f16',
      source: 'webgpu-maxsim export',
    });
    expect([...file.ids!].sort()).toEqual(DOCS.map((d) => d.id).sort());
    file.ids!.forEach((id, i) => {
      const want = stored.get(id)!;
      expect(file.texts![i]).toBe(want.text);
      expect(file.documents[i]!.rows).toBe(want.matrix.rows);
      expect(Array.from(file.documents[i]!.data), id).toEqual(Array.from(want.matrix.data));
    });
    // No temporary file is left beside it.
    expect((await readdir(dir)).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('int8: every value within its row’s rounding bound (max|row| / 254), at about a quarter of f32’s size', async () => {
    const int8 = join(dir, 'store-int8.safetensors');
    const f32 = join(dir, 'store-f32.safetensors');
    expect((await cli(['export', '--store', store, '--out', int8, '--dtype', 'int8', '-q'])).code).toBe(0);
    expect((await cli(['export', '--store', store, '--out', f32, '--dtype', 'f32', '-q'])).code).toBe(0);
    const file = readCorpusFile(await readFile(int8));
    const exact = readCorpusFile(await readFile(f32));
    expect(file.dtype).toBe('int8');
    expect(exact.dtype).toBe('f32');
    let worst = 0;
    file.ids!.forEach((id, i) => {
      const want = stored.get(id)!.matrix;
      const got = file.documents[i]!;
      expect(got.rows).toBe(want.rows);
      expect(Array.from(exact.documents[exact.ids!.indexOf(id)]!.data)).toEqual(Array.from(want.data));
      for (let r = 0; r < want.rows; r++) {
        const row = want.data.subarray(r * DIM, (r + 1) * DIM);
        // scale = max|x| / 127 in float32; |x − q × scale| ≤ scale / 2 (plus float32 rounding of q × scale).
        const bound = Math.fround(Math.max(...row.map(Math.abs)) / 127) / 2 + 1e-7;
        for (let c = 0; c < DIM; c++) {
          const err = Math.abs(got.data[r * DIM + c]! - row[c]!);
          expect(err, `${id} row ${r} column ${c}`).toBeLessThanOrEqual(bound);
          worst = Math.max(worst, err / bound);
        }
      }
    });
    expect(worst).toBeGreaterThan(0.5); // the bound is tight: rounding does reach it
    expect(file.byteLength / exact.byteLength).toBeLessThan(0.35);
  });

  it('the exported files read in numpy (np.frombuffer): the same values and strings, int8 exactly numpy’s rounding', async () => {
    for (const dtype of ['f16', 'int8'] as const) {
      const path = join(dir, `store-${dtype}.safetensors`);
      const file = readCorpusFile(await readFile(path));
      const sub = join(dir, `numpy-${dtype}`);
      await mkdir(sub);
      // What numpy must see: the decoded values, and (int8) the store's values it must requantize to the same ints.
      await writeFile(
        join(sub, 'values.f32'),
        new Uint8Array(file.data.buffer, file.data.byteOffset, file.data.byteLength),
      );
      const source = new Float32Array(file.data.length);
      file.ids!.forEach((id, i) => {
        source.set(stored.get(id)!.matrix.data, file.rowOffsets[i]! * DIM);
      });
      await writeFile(join(sub, 'source.f32'), new Uint8Array(source.buffer));
      await writeFile(join(sub, 'texts.json'), JSON.stringify({ ids: file.ids, texts: file.texts }));
      const { stdout } = await promisify(execFile)(python, [NUMPY, 'check', path, sub]);
      const out = JSON.parse(stdout) as Record<string, any>;
      expect(out.problems, dtype).toEqual([]);
      expect(out.dtypes.embeddings).toBe(dtype === 'f16' ? 'F16' : 'I8');
      expect(out.dtypes.offsets).toBe('I64');
      expect(out.shape).toEqual([file.rowOffsets[40], DIM]);
      expect(out.metadata).toMatchObject({ model: 'BAAI/bge-m3', dim: '48', documents: '40', dtype });
      expect(out.value_mismatches).toBe(0);
      expect(out.strings_match).toBe(true);
      if (dtype === 'f16') {
        // numpy's float16 → float32 of the file is the store's values, bit for bit.
        expect(Array.from(file.data)).toEqual(Array.from(source));
      } else {
        expect(out.requantized_mismatches).toEqual({ values: 0, scales: 0 });
      }
    }
  }, 60_000);

  it('shows progress on stderr for a large store (plain lines here), and --quiet silences it', async () => {
    const big = join(dir, 'store-big');
    const embedder = createHashEmbedder({ dim: 16 });
    const s = await openStore(big, { create: true, model: 'hash-embedder-d16' });
    try {
      const docs = Array.from({ length: 1200 }, (_, i) => ({ id: `b${i}`, text: `document ${i} on ${TOPICS[i % 6]}` }));
      await s.add(
        docs.map((d) => ({ ...d, matrix: embedder.embedText(d.text) })),
        { batchSize: 600 },
      );
    } finally {
      s.close();
    }
    const out = join(dir, 'big.safetensors');
    const loud = await cli(['export', '--store', big, '--out', out]);
    expect(loud.code, loud.stderr).toBe(0);
    const lines = loud.stderr.trim().split('\n');
    expect(lines[0]).toBe('reading 0/1,200 documents 0%');
    expect(lines).toContain('reading 1,200/1,200 documents 100%');
    expect(lines.every((l) => /^(reading [\d,]+\/1,200 documents|writing [\d.,]+\/[\d.,]+ MiB) \d+%$/.test(l))).toBe(
      true,
    );
    expect(readCorpusFile(await readFile(out)).documents).toHaveLength(1200);
    const quiet = await cli(['export', '--store', big, '--out', out, '--force', '--quiet']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  }, 120_000);

  it('bad input is one line on stderr, a non-zero exit, and no file is written or lost', async () => {
    const out = join(dir, 'kept.safetensors');
    await writeFile(out, 'precious');
    const exists = await cli(['export', '--store', store, '--out', out]);
    expect(exists.code).toBe(2);
    expect(exists.stderr).toBe(
      `webgpu-maxsim: --out ${out} already exists: pass --force to replace it, or another path\n`,
    );
    expect(await readFile(out, 'utf8')).toBe('precious');
    const forced = await cli(['export', '--store', store, '--out', out, '--force', '--dtype', 'int8', '-q']);
    expect(forced.code).toBe(0);
    expect(readCorpusFile(await readFile(out)).dtype).toBe('int8');

    const missing = join(dir, 'no-such-store');
    const noStore = await cli(['export', '--store', missing, '--out', join(dir, 'x.safetensors')]);
    expect(noStore.code).toBe(1);
    expect(noStore.stderr).toBe(
      `webgpu-maxsim: no store at ${missing}: the folder does not exist (create it with \`webgpu-maxsim index\`)\n`,
    );
    expect(existsSync(missing)).toBe(false);
    expect(existsSync(join(dir, 'x.safetensors'))).toBe(false);

    const noDir = join(dir, 'no-such-dir', 'x.safetensors');
    const unwritable = await cli(['export', '--store', store, '--out', noDir]);
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toBe(
      `webgpu-maxsim: --out ${noDir}: cannot write in ${dirname(noDir)}: no such directory (create it first)\n`,
    );
    const isDir = await cli(['export', '--store', store, '--out', dir]);
    expect(isDir.code).toBe(2);
    expect(isDir.stderr).toMatch(/^webgpu-maxsim: --out .* is a directory: pass a file path/);

    const dtype = await cli(['export', '--store', store, '--out', join(dir, 'y.safetensors'), '--dtype', 'bf16']);
    expect(dtype.code).toBe(2);
    expect(dtype.stderr).toBe('webgpu-maxsim: --dtype is "bf16", expected f16, int8 or f32\n');
    const noOut = await cli(['export', '--store', store]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/^webgpu-maxsim: --out FILE is required/);
    const typo = await cli(['export', '--store', store, '--out', join(dir, 'z.safetensors'), '--froce']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown option --froce; did you mean --force\?/);
    for (const r of [exists, noStore, unwritable, isDir, dtype, noOut, typo]) {
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect((await readdir(dir)).filter((f) => f.includes('partial'))).toEqual([]);
  });
});

describe('webgpu-maxsim search --corpus', () => {
  it('an exported file (a non-hash model): the reference ranking, the query alone sent to the stand-in', async () => {
    const path = join(dir, 'store-f16.safetensors');
    const file = readCorpusFile(await readFile(path));
    for (const query of ['quiet river', 'famous violin café']) {
      server.clearRequests();
      const run = await cli(['search', '--corpus', path, '--query', query, ...serverArgs(), '--top-k', '7', '--json']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const out = JSON.parse(run.stdout) as SearchJson;
      expect(Object.keys(out)).toEqual(['backend', 'results']);
      expect(['cpu', 'webgpu']).toContain(out.backend);
      expectRanking(out, reference(server.embedder.embedText(query), file, 7));
      expect(poolingInputs(server)).toEqual([[query]]);
    }
    // The same answer as `search --store` over the store it came from.
    const fromStore = await cli(['search', '--store', store, '--query', 'quiet river', ...serverArgs(), '--json']);
    const fromFile = await cli(['search', '--corpus', path, '--query', 'quiet river', ...serverArgs(), '--json']);
    const ids = (r: Run): string[] => (JSON.parse(r.stdout) as SearchJson).results.map((x) => x.id);
    expect(ids(fromFile)).toEqual(ids(fromStore));

    const table = await cli(['search', '--corpus', path, '--query', 'quiet river', ...serverArgs(), '--top-k', '3']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^Query: "quiet river", embedded by BAAI\/bge-m3 at http:\/\/127\.0\.0\.1:\d+\/pooling\n/,
    );
    expect(table.stdout).toMatch(/: 40 documents, [\d,]+ token rows of dim 48 \(BAAI\/bge-m3, f16\), read in/);
    expect(table.stdout.split('\n').filter((l) => /^\s+\d+\s+\d+\.\d{4}\s+doc-\d+\s+the /.test(l))).toHaveLength(3);
  });

  it('a file written by writeCorpusFile with a hash-embedder model: the built-in embedder, no server', async () => {
    const embedder = createHashEmbedder({ dim: 64 });
    const documents = DOCS.map((d) => embedder.embedText(d.text));
    const path = join(dir, 'hash.safetensors');
    await writeFile(
      path,
      writeCorpusFile(documents, {
        dtype: 'int8',
        model: 'hash-embedder-d64',
        ids: DOCS.map((d) => d.id),
        texts: DOCS.map((d) => d.text),
      }),
    );
    const file = readCorpusFile(await readFile(path));
    server.clearRequests();
    const run = await cli(['search', '--corpus', path, '--query', 'bright harbour', '--top-k', '5', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expectRanking(JSON.parse(run.stdout) as SearchJson, reference(embedder.embedText('bright harbour'), file, 5));
    expect(server.requests).toEqual([]);
    // --local says the same thing explicitly.
    const local = await cli([
      'search',
      '--corpus',
      path,
      '--query',
      'bright harbour',
      '--top-k',
      '5',
      '--json',
      '--local',
    ]);
    expect(local.stdout).toBe(run.stdout);
  });

  it('files numpy wrote (f32 with ids and texts, int8, f64 without metadata): the reference ranking', async () => {
    const sub = join(dir, 'from-numpy');
    await mkdir(sub);
    await promisify(execFile)(python, [NUMPY, 'write', sub]);
    // The model numpy's files name, served by the stand-in at their width.
    const numpyServer = await startPoolingServer({ port: 0, dim: 64, model: 'numpy/random' });
    try {
      for (const name of ['f32', 'int8', 'f64-plain']) {
        const path = join(sub, `${name}.safetensors`);
        const file = readCorpusFile(await readFile(path));
        const query = 'capital of a quiet country';
        // f64-plain records no model: the server's is named with --model.
        const model = name === 'f64-plain' ? ['--model', 'numpy/random'] : [];
        numpyServer.clearRequests();
        const run = await cli([
          'search',
          '--corpus',
          path,
          '--query',
          query,
          ...serverArgs(numpyServer),
          ...model,
          '--top-k',
          '6',
          '--json',
          '--backend',
          'cpu',
        ]);
        expect(run.stderr, name).toBe('');
        expect(run.code).toBe(0);
        const out = JSON.parse(run.stdout) as SearchJson;
        expect(out.backend).toBe('cpu');
        expectRanking(out, reference(numpyServer.embedder.embedText(query), file, 6));
        if (name === 'f32') expect(out.results[0]!.id).toMatch(/^passage-\d{3}$/);
        if (name === 'f64-plain') expect(out.results.every((r) => /^\d+$/.test(r.id) && r.text === '')).toBe(true);
        expect(poolingInputs(numpyServer)).toEqual([[query]]);
      }
    } finally {
      await numpyServer.close();
    }
  }, 60_000);

  it('another model or width is refused naming both; bad files and options are one line', async () => {
    const path = join(dir, 'store-f16.safetensors');
    const otherModel = await cli([
      'search',
      '--corpus',
      path,
      '--query',
      'x',
      ...serverArgs(),
      '--model',
      'other/model',
    ]);
    expect(otherModel.code).toBe(2);
    expect(otherModel.stderr).toMatch(
      /^webgpu-maxsim: the corpus file .*store-f16\.safetensors holds model "BAAI\/bge-m3", dim 48; asked for model "other\/model"\. /,
    );
    const local = await cli(['search', '--corpus', path, '--query', 'x', '--local']);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(
      /holds model "BAAI\/bge-m3", dim 48; --local embeds with model "hash-embedder-d48"\. /,
    );

    const narrow = await startPoolingServer({ port: 0, dim: 32 });
    try {
      const width = await cli(['search', '--corpus', path, '--query', 'x', ...serverArgs(narrow)]);
      expect(width.code).toBe(2);
      expect(width.stderr).toMatch(
        /holds model "BAAI\/bge-m3", dim 48; BAAI\/bge-m3 at http:\/\/127\.0\.0\.1:\d+\/pooling gave model "BAAI\/bge-m3", dim 32\. /,
      );
    } finally {
      await narrow.close();
    }

    const both = await cli(['search', '--corpus', path, '--store', store, '--query', 'x', '--local']);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe(
      'webgpu-maxsim: --store and --corpus exclude each other: search a store or a corpus file, not both\n',
    );
    const neither = await cli(['search', '--query', 'x', '--local']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/^webgpu-maxsim: --store DIR or --corpus FILE is required/);
    const storeOnly = await cli(['search', '--corpus', path, '--query', 'x', '--first-stage', 'pooled']);
    expect(storeOnly.code).toBe(2);
    expect(storeOnly.stderr).toMatch(/^webgpu-maxsim: --first-stage applies to --store only/);

    const missing = await cli(['search', '--corpus', join(dir, 'nope.safetensors'), '--query', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^webgpu-maxsim: --corpus .*nope\.safetensors: no such file/);
    const folder = await cli(['search', '--corpus', store, '--query', 'x']);
    expect(folder.stderr).toMatch(
      /is a directory: pass a \.safetensors corpus file \(a store's folder goes to --store\)/,
    );
    const junk = join(dir, 'junk.safetensors');
    await writeFile(junk, 'this is not a safetensors file at all');
    const bad = await cli(['search', '--corpus', junk, '--query', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^webgpu-maxsim: --corpus .*junk\.safetensors: .*header/);
    const cut = join(dir, 'cut.safetensors');
    const whole = await readFile(path);
    await writeFile(cut, whole.subarray(0, whole.byteLength - 100));
    const truncated = await cli(['search', '--corpus', cut, '--query', 'quiet', ...serverArgs()]);
    expect(truncated.code).toBe(2);
    expect(truncated.stderr).toMatch(/^webgpu-maxsim: --corpus .*cut\.safetensors: .*truncated/);
    for (const r of [otherModel, local, both, neither, storeOnly, missing, folder, bad, truncated]) {
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
  });
});
