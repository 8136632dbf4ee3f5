// Corpus files across the language boundary, with numpy only (test/support/corpus_numpy.py: struct + json +
// np.frombuffer, the way a Python user without the `safetensors` package would do it): files numpy writes load
// here and score within 1e-3 of numpy's MaxSim; files written here read back in numpy with the same values,
// and int8 files hold exactly the integers numpy's own per-row quantization gives.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createScorer,
  maxsimReference,
  readCorpusFile,
  readCorpusFileStream,
  tokenMatrixFromNested,
  writeCorpusFile,
  type CorpusFile,
  type Scorer,
  type TokenMatrix,
} from '../../src/node.js';
import { randomDocs, seededRandom } from '../support/random.js';

const run = promisify(execFile);
const script = resolve(dirname(fileURLToPath(import.meta.url)), '../support/corpus_numpy.py');
const python = process.env.PYTHON ?? 'python3';

let dir: string;
let scorer: Scorer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'maxsim-corpus-numpy-'));
  scorer = await createScorer({ backend: 'cpu', cpu: { threads: 1 } });
});

afterAll(async () => {
  scorer?.destroy();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

interface Expected {
  dim: number;
  rows: number[];
  ids: string[];
  texts: string[];
  metadata: Record<string, string>;
  queries: number[][][];
  scores: Record<string, number[][]>;
}

describe('files numpy writes', () => {
  let expected: Expected;
  const names = ['f32', 'f16', 'bf16', 'int8', 'f64-plain'];

  beforeAll(async () => {
    const { stdout } = await run(python, [script, 'write', dir]);
    expect(JSON.parse(stdout).files).toEqual([...names].sort());
    expected = JSON.parse(await readFile(join(dir, 'expected.json'), 'utf8')) as Expected;
  }, 60_000);

  it.each(names)('%s: loads (in memory and streamed from disk) and scores within 1e-3 of numpy', async (name) => {
    const path = join(dir, `${name}.safetensors`);
    const file = readCorpusFile(await readFile(path));
    const streamed: CorpusFile = await readCorpusFileStream(createReadStream(path, { highWaterMark: 4093 }));
    expect(streamed.data).toEqual(file.data);
    expect(streamed.rowOffsets).toEqual(file.rowOffsets);
    expect(file.dim).toBe(expected.dim);
    expect(file.documents.map((d) => d.rows)).toEqual(expected.rows);
    expect(file.dtype).toBe(name === 'f64-plain' ? 'f64' : name);
    if (name === 'f64-plain') {
      expect(file.metadata).toEqual({});
    } else {
      expect(file.metadata).toEqual(expected.metadata);
    }
    if (name === 'f32') {
      expect(file.ids).toEqual(expected.ids);
      expect(file.texts).toEqual(expected.texts);
    } else {
      expect(file.ids).toBeUndefined();
    }
    const queries: TokenMatrix[] = expected.queries.map((q) => tokenMatrixFromNested(q));
    const scores = await scorer.score(queries, file.documents);
    let worst = 0;
    expected.scores[name]!.forEach((row, qi) => {
      row.forEach((want, d) => {
        const got = scores[qi]![d]!;
        if (want === null || !Number.isFinite(want)) {
          // numpy's -inf (a document with no rows) travels through JSON as null.
          expect(got).toBe(-Infinity);
          return;
        }
        worst = Math.max(
          worst,
          Math.abs(got - want),
          Math.abs(maxsimReference(queries[qi]!, file.documents[d]!) - want),
        );
      });
    });
    expect(worst).toBeLessThan(1e-3);
    // Tighter in fact: f32 kernels against float64 on the same stored values.
    expect(worst).toBeLessThan(2e-5);
  });

  it('the quantized files rank like the f32 one (top 5 of every query)', async () => {
    const top = (name: string, q: number): number[] =>
      expected.scores[name]![q]!.map((s, i) => [s ?? -Infinity, i] as const)
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, 5)
        .map(([, i]) => i);
    for (let q = 0; q < expected.queries.length; q++) {
      const reference = top('f32', q);
      for (const name of ['f16', 'bf16', 'int8']) {
        const overlap = top(name, q).filter((i) => reference.includes(i)).length;
        expect(overlap, `${name} query ${q}`).toBeGreaterThanOrEqual(4);
      }
    }
  });
});

describe('files this library writes, read back in numpy', () => {
  const rand = seededRandom(1606);
  const docs = [...randomDocs(rand, 12, 1, 30, 96), { data: new Float32Array(0), rows: 0, dim: 96 }];
  const ids = docs.map((_, i) => `id-${i}`);
  const texts = docs.map((_, i) => (i % 4 === 0 ? `text ${i} — naïve 東京 🚀` : `text ${i}`));

  async function checkInNumpy(dtype: 'f32' | 'f16' | 'int8'): Promise<Record<string, any>> {
    const sub = await mkdtemp(join(dir, `${dtype}-`));
    const bytes = writeCorpusFile(docs, { dtype, model: 'test/writer', ids, texts, metadata: { note: 'from node' } });
    const path = join(sub, 'corpus.safetensors');
    await writeFile(path, bytes);
    const decoded = readCorpusFile(bytes);
    await writeFile(
      join(sub, 'values.f32'),
      new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength),
    );
    const source = new Float32Array(decoded.data.length);
    let at = 0;
    for (const d of docs) {
      source.set(d.data, at);
      at += d.data.length;
    }
    await writeFile(join(sub, 'source.f32'), new Uint8Array(source.buffer));
    await writeFile(join(sub, 'texts.json'), JSON.stringify({ ids, texts }));
    const { stdout } = await run(python, [script, 'check', path, sub]);
    return JSON.parse(stdout) as Record<string, any>;
  }

  it('I8 embeddings + F32 scales + I64 offsets: same values, and exactly numpy’s own int8 rounding', async () => {
    const out = await checkInNumpy('int8');
    expect(out.problems).toEqual([]);
    expect(out.dtypes).toEqual({
      offsets: 'I64',
      id_offsets: 'I64',
      text_offsets: 'I64',
      scales: 'F32',
      embeddings: 'I8',
      ids: 'U8',
      texts: 'U8',
    });
    const rows = docs.reduce((n, d) => n + d.rows, 0);
    expect(out.shape).toEqual([rows, 96]);
    expect(out.offsets).toEqual([0, ...docs.map((_, i) => docs.slice(0, i + 1).reduce((n, d) => n + d.rows, 0))]);
    expect(out.value_mismatches).toBe(0);
    expect(out.requantized_mismatches).toEqual({ values: 0, scales: 0 });
    expect(out.strings_match).toBe(true);
    expect(out.metadata).toMatchObject({
      format: 'webgpu-maxsim.corpus',
      version: '1',
      model: 'test/writer',
      dim: '96',
      documents: String(docs.length),
      dtype: 'int8',
      note: 'from node',
    });
  });

  it('F16 and F32 read back with the same values', async () => {
    for (const dtype of ['f16', 'f32'] as const) {
      const out = await checkInNumpy(dtype);
      expect(out.problems).toEqual([]);
      expect(out.dtypes.embeddings).toBe(dtype.toUpperCase());
      expect(out.value_mismatches).toBe(0);
      expect(out.strings_match).toBe(true);
    }
  });
});
