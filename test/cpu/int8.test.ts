// int8 storage on the CPU (createScorer({ precision: 'int8' })): the derived error bound on the shared kernel case
// grid, the WASM SIMD and TypeScript kernels bit-identical on every thread count, no int32 overflow at extreme
// values up to the widest dim allowed, 1 byte per value resident, and issue 16's measured goal (top-10 overlap and
// score error against f32 on 1,000 unit-norm documents). Worker threads run dist/node/cpu-worker.js: build first.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuEngine } from '../../src/cpu/engine.js';
import { INT8_MAX_DIM, int8QueryLevels, quantizeDocuments, quantizeQuery } from '../../src/cpu/int8-kernel.js';
import { readCorpusFile, writeCorpusFile } from '../../src/core/corpus-file.js';
import { packDocuments } from '../../src/core/packed-documents.js';
import { createScorer, maxsimReference, type Scorer, type TokenMatrix } from '../../src/index.js';
import { createScorer as createNodeScorer, nodeCpuOptions } from '../../src/node.js';
import {
  caseData,
  compareScores,
  expectedScores,
  F32_RELATIVE,
  int8ErrorBound,
  KERNEL_CASES,
} from '../support/kernel-cases.js';
import { randomDocs, randomMatrix, seededRandom } from '../support/random.js';
import { expectBitIdentical, signMatrix } from '../support/int8.js';

const root = new URL('../../', import.meta.url);

/** A ragged corpus whose lengths hit the kernel's 2-token pairs and odd tails, with empty documents. */
function raggedCorpus(rand: () => number, dim: number, floats: number): TokenMatrix[] {
  const docs: TokenMatrix[] = [randomMatrix(rand, 0, dim), randomMatrix(rand, 1, dim)];
  let total = dim;
  while (total < floats) {
    const rows = docs.length % 11 === 5 ? 0 : 1 + Math.floor(rand() * 300);
    docs.push(randomMatrix(rand, rows, dim));
    total += rows * dim;
  }
  docs.push(randomMatrix(rand, 3, dim));
  return docs;
}

describe('cpu int8 storage', () => {
  const scorers: Scorer[] = [];
  let wasm1: Scorer;
  let wasm2: Scorer;
  let wasm3: Scorer;
  let ts: Scorer;
  let f32: Scorer;
  beforeAll(async () => {
    wasm1 = await createScorer({ backend: 'cpu', precision: 'int8', cpu: { threads: 1 } });
    wasm2 = await createScorer({ backend: 'cpu', precision: 'int8', cpu: nodeCpuOptions({ threads: 2 }) });
    wasm3 = await createScorer({ backend: 'cpu', precision: 'int8', cpu: nodeCpuOptions({ threads: 3 }) });
    ts = await createScorer({ backend: 'cpu', precision: 'int8', cpu: { kernel: 'typescript' } });
    f32 = await createScorer({ backend: 'cpu', cpu: nodeCpuOptions({ threads: 2 }) });
    scorers.push(wasm1, wasm2, wasm3, ts, f32);
  });
  afterAll(() => {
    for (const s of scorers) s.destroy();
  });

  it('says what it runs: precision int8 in info and the summary, on both kernels', () => {
    expect(wasm2.info).toMatchObject({
      backend: 'cpu',
      kernel: 'wasm-simd',
      precision: 'int8',
      threads: 2,
      summary: 'cpu (wasm-simd, int8, 2 threads)',
    });
    expect(ts.info).toMatchObject({
      kernel: 'typescript',
      precision: 'int8',
      summary: 'cpu (typescript, int8, 1 thread)',
    });
    expect(f32.info).toMatchObject({ precision: 'f32', summary: 'cpu (wasm-simd, 2 threads)' });
  });

  it('the query levels keep every int32 dot product in range, and int8 takes dims up to 133,144', () => {
    expect(INT8_MAX_DIM).toBe(133_144);
    expect(INT8_MAX_DIM * 127 * 127).toBeLessThanOrEqual(2 ** 31 - 1);
    expect((INT8_MAX_DIM + 1) * 127 * 127).toBeGreaterThan(2 ** 31 - 1);
    expect([1, 128, 516, 517, 1024, 4096, INT8_MAX_DIM].map(int8QueryLevels)).toEqual([
      32_767, 32_767, 32_767, 32_706, 16_513, 4_128, 127,
    ]);
    for (const dim of [1, 3, 100, 516, 517, 768, 1024, 3000, 65_536, INT8_MAX_DIM]) {
      const q = int8QueryLevels(dim);
      expect(dim * q * 127, `dim ${dim}`).toBeLessThanOrEqual(2 ** 31 - 1);
      if (q < 32_767) expect(dim * (q + 1) * 127, `dim ${dim}: the largest Q`).toBeGreaterThan(2 ** 31 - 1);
    }
  });

  it('is within the derived int8 bound of the float64 reference on the shared kernel case grid, both kernels', async () => {
    let beyondF32 = 0;
    for (const scorer of [wasm1, ts]) {
      for (const c of KERNEL_CASES) {
        const { queries, docs } = caseData(c);
        const { expected, tolerance } = expectedScores(queries, docs, { queryLevels: int8QueryLevels(c.dim) });
        const f32Tolerance = expectedScores(queries, docs, F32_RELATIVE).tolerance;
        const scores = await scorer.score(queries, docs);
        scores.forEach((s, i) => {
          const label = `${scorer.info.kernel} ${c.name}, query ${i}`;
          const problem = compareScores(s, expected[i]!, tolerance[i]!, label);
          expect(problem, problem ?? '').toBeNull();
          s.forEach((v, j) => {
            if (Math.abs(v - expected[i]![j]!) > f32Tolerance[i]![j]!) beyondF32++;
          });
        });
      }
    }
    // The bound is exercised: int8 really rounds, beyond what f32 storage would.
    expect(beyondF32).toBeGreaterThan(20);
  });

  it('the bound is tight: values half a step off round the same way and reach it exactly', async () => {
    // Document row: one value 127 steps (the row's max, so the step is exactly 2^-10), the others 1.5 steps, which
    // round half to even up to 2 steps: each moves by exactly half a step. A query of equal values quantizes
    // (almost) exactly, so the document term of the bound is all that remains.
    const dim = 64;
    const step = 2 ** -10;
    const doc = new Float32Array(dim).fill(1.5 * step);
    doc[0] = 127 * step;
    const query: TokenMatrix = { data: new Float32Array(dim).fill(0.125), rows: 1, dim };
    const document: TokenMatrix = { data: doc, rows: 1, dim };
    const error = ((dim - 1) * 0.125 * step) / 2;
    const bound = int8ErrorBound(query, document, int8QueryLevels(dim));
    expect(bound).toBeGreaterThanOrEqual(error);
    expect(bound).toBeLessThan(error * 1.02); // the query and cross terms are ≤ 1 % here
    for (const scorer of [wasm1, ts]) {
      const [[score]] = (await scorer.score([query], [document])) as [Float32Array];
      const moved = score! - maxsimReference(query, document);
      expect(moved, scorer.info.summary).toBeGreaterThan(error * 0.999);
      expect(moved, scorer.info.summary).toBeLessThanOrEqual(bound + 1e-5);
    }
  });

  it('the WASM SIMD kernel, on 1, 2 and 3 threads, and the TypeScript kernel agree bit for bit (dims 1–1024)', async () => {
    const rand = seededRandom(61);
    for (const dim of [1, 3, 8, 9, 17, 128, 1024]) {
      const docs = raggedCorpus(rand, dim, 3.2 * 2 ** 17);
      const queries = [0, 1, 3, 4, 5, 32, 33].map((rows) => randomMatrix(rand, rows, dim));
      const corpora = await Promise.all([wasm1.upload(docs), wasm2.upload(docs), wasm3.upload(docs), ts.upload(docs)]);
      const [s1, s2, s3, sTs] = await Promise.all([
        wasm1.score(queries, corpora[0]!),
        wasm2.score(queries, corpora[1]!),
        wasm3.score(queries, corpora[2]!),
        ts.score(queries, corpora[3]!),
      ]);
      queries.forEach((_, i) => {
        expectBitIdentical(s1![i]!, s2![i]!, `d=${dim}, query ${i}, 1 vs 2 threads`);
        expectBitIdentical(s1![i]!, s3![i]!, `d=${dim}, query ${i}, 1 vs 3 threads`);
        expectBitIdentical(s1![i]!, sTs![i]!, `d=${dim}, query ${i}, WASM vs TypeScript`);
      });
      for (const c of corpora) c.destroy();
    }
    // The shares really went to worker threads (workers that fail to start leave the calling thread scoring).
    expect([wasm2.info.threads, wasm3.info.threads]).toEqual([2, 3]);
  });

  it('never overflows int32: all-±1 rows (every value ±127 and ±Q) score exactly, up to dim 133,144', async () => {
    for (const dim of [1024, 1031, 4096, INT8_MAX_DIM]) {
      // Tokens: all +1, all −1, alternating, and alternating the other way; the queries likewise.
      const doc = signMatrix(4, dim, (r, c) => [1, -1, c % 2 === 0 ? 1 : -1, c % 2 === 0 ? -1 : 1][r]!);
      const queries = [
        signMatrix(1, dim, () => 1), // best token: all +1, dot = dim
        signMatrix(1, dim, () => -1), // best token: all −1
        signMatrix(1, dim, (_, c) => (c % 2 === 0 ? 1 : -1)), // best: alternating the same way
        signMatrix(3, dim, (r, c) => (r === 1 ? (c % 2 === 0 ? -1 : 1) : 1)), // three rows: dim each
      ];
      const expected = [dim, dim, dim, 3 * dim];
      // The same tokens in another order, odd in number: the best +1 token is the kernel's odd last one.
      const odd = signMatrix(5, dim, (r, c) => [-1, c % 2 === 0 ? 1 : -1, c % 2 === 0 ? -1 : 1, -1, 1][r]!);
      for (const scorer of [wasm1, wasm2, ts]) {
        const scores = await scorer.score(queries, [doc, odd, signMatrix(1, dim, () => -1)]);
        scores.forEach((s, i) => {
          const label = `${scorer.info.summary}, dim ${dim}, query ${i}`;
          expect(Math.abs(s[0]! - expected[i]!), label).toBeLessThanOrEqual(1e-5 * expected[i]!);
          expect(Math.abs(s[1]! - expected[i]!), label).toBeLessThanOrEqual(1e-5 * expected[i]!);
        });
        // Against a document of all −1: query 0 sees −dim (the most negative dot product there is).
        expect(Math.abs(scores[0]![2]! + dim), `${scorer.info.summary}, dim ${dim}, −dim`).toBeLessThanOrEqual(
          1e-5 * dim,
        );
      }
    }
  });

  it('refuses rows wider than 133,144 values with E_INVALID_ARGUMENT, on every kernel', async () => {
    const dim = INT8_MAX_DIM + 1;
    const doc = signMatrix(1, dim, () => 1);
    for (const scorer of [wasm1, wasm2, ts]) {
      await expect(scorer.upload([doc]), scorer.info.summary).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
        message: expect.stringMatching(/int8 storage takes rows of at most 133,144 values, got dim 133,145.*'f32'/),
      });
    }
  });

  it('keeps 1 byte per value and a 4-byte scale per row resident, against 4 bytes per value for f32', async () => {
    const rand = seededRandom(71);
    for (const dim of [128, 1024, 100]) {
      const docs = randomDocs(rand, 20, 1, 60, dim);
      const rows = docs.reduce((n, d) => n + d.rows, 0);
      const int8 = await createCpuEngine({ threads: 1 }, 'int8');
      const plain = await createCpuEngine({ threads: 1 });
      const a = await int8.upload(packDocuments(docs));
      const b = await plain.upload(packDocuments(docs));
      if (a.kind !== 'wasm' || b.kind !== 'wasm') throw new Error('expected corpora in this thread');
      expect(a.slice.bytes, `dim ${dim}`).toBe(rows * (Math.ceil(dim / 8) * 8 + 4));
      expect(b.slice.bytes, `dim ${dim}`).toBe(rows * Math.ceil(dim / 4) * 16);
      if (dim % 8 === 0) expect(a.slice.bytes / b.slice.bytes).toBeCloseTo(0.25 + 1 / dim, 10);
      int8.release(a);
      plain.release(b);
      int8.destroy();
      plain.destroy();
    }
  });

  it("meets issue 16's goal: 1,000 unit-norm docs × 100 × 128, Lq 32: top-10 overlap ≥ 8/10, |error| ≤ 0.03", async () => {
    const rand = seededRandom(16);
    const dim = 128;
    const docs = randomDocs(rand, 1000, 100, 100, dim);
    const queries = Array.from({ length: 8 }, () => randomMatrix(rand, 32, dim));
    const [a, b] = await Promise.all([f32.upload(docs), wasm2.upload(docs)]);
    const [exact, quantized] = await Promise.all([f32.score(queries, a), wasm2.score(queries, b)]);
    let worstError = 0;
    let worstOverlap = 10;
    queries.forEach((_, i) => {
      const top = (s: Float32Array) =>
        Array.from(s.keys())
          .sort((x, y) => s[y]! - s[x]! || x - y)
          .slice(0, 10);
      const overlap = top(quantized[i]!).filter((d) => top(exact[i]!).includes(d)).length;
      worstOverlap = Math.min(worstOverlap, overlap);
      quantized[i]!.forEach((v, j) => {
        worstError = Math.max(worstError, Math.abs(v - exact[i]![j]!));
      });
    });
    expect(worstOverlap).toBeGreaterThanOrEqual(8);
    expect(worstError).toBeLessThanOrEqual(0.03);
    expect(worstError).toBeGreaterThan(1e-4); // int8 really scored this
    a.destroy();
    b.destroy();
  });

  it('quantizes a query per row to int16 with its own scale, each value within half a step', () => {
    const rand = seededRandom(73);
    const query = randomMatrix(rand, 5, 1024, false);
    const q = quantizeQuery(query);
    const levels = int8QueryLevels(1024);
    for (let r = 0; r < 5; r++) {
      const row = query.data.subarray(r * 1024, (r + 1) * 1024);
      const max = Math.max(...Array.from(row, Math.abs));
      expect(q.scales[r]).toBe(Math.fround(max / levels));
      for (let k = 0; k < 1024; k++) {
        expect(Math.abs(q.values[r * 1024 + k]!)).toBeLessThanOrEqual(levels);
        expect(Math.abs(q.values[r * 1024 + k]! * q.scales[r]! - row[k]!)).toBeLessThanOrEqual(
          q.scales[r]! / 2 + 1e-12,
        );
      }
    }
  });

  it('an int8 corpus file, decoded to float32, requantizes to its own integers', () => {
    const rand = seededRandom(89);
    const docs = [...randomDocs(rand, 30, 0, 40, 96), randomMatrix(rand, 3, 96, false)];
    const direct = quantizeDocuments(packDocuments(docs));
    const decoded = readCorpusFile(writeCorpusFile(docs, { dtype: 'int8' })).documents;
    const again = quantizeDocuments(packDocuments(decoded));
    expect(again.values).toEqual(direct.values);
    const drift = again.scales.map((s, r) => Math.abs(s - direct.scales[r]!) / Math.max(s, 2 ** -126));
    expect(Math.max(...drift)).toBeLessThanOrEqual(2 ** -23);
  });

  it('keeps its own copy, and scores plain packed documents (a host copy) the same as a resident corpus', async () => {
    const rand = seededRandom(79);
    const docs = raggedCorpus(rand, 32, 2 ** 15);
    const query = randomMatrix(rand, 6, 32);
    for (const kernel of ['wasm-simd', 'typescript'] as const) {
      const engine = await createCpuEngine({ threads: 1, kernel }, 'int8');
      const packed = packDocuments(docs);
      const corpus = await engine.upload(packed);
      const [resident] = await engine.score([query], corpus);
      const [direct] = await engine.score([query], packed);
      expectBitIdentical(direct!, resident!, `${kernel}: packed vs resident`);
      for (const d of docs) d.data.fill(0.25);
      const [after] = await engine.score([query], corpus);
      expectBitIdentical(after!, resident!, `${kernel}: after the documents changed`);
      engine.release(corpus);
      engine.destroy();
    }
  });

  it('takes the precompiled maxsim.wasm, and says so when a module has no int8 kernel', async () => {
    const wasmModule = new WebAssembly.Module(await readFile(new URL('dist/maxsim.wasm', root)));
    const s = await createScorer({ backend: 'cpu', precision: 'int8', cpu: { wasmModule, threads: 1 } });
    scorers.push(s);
    expect(s.info).toMatchObject({ kernel: 'wasm-simd', precision: 'int8' });
    const rand = seededRandom(83);
    const docs = [randomMatrix(rand, 9, 24), randomMatrix(rand, 0, 24)];
    const query = randomMatrix(rand, 3, 24);
    const [[scores], [reference]] = await Promise.all([s.score([query], docs), ts.score([query], docs)]);
    expectBitIdentical(scores!, reference!, 'precompiled module vs TypeScript');

    // The f32-only module of an older build: int8 falls back to TypeScript and says why.
    const exportsOnlyMaxsim = new WebAssembly.Module(
      // (module (func (export "maxsim")))
      new Uint8Array([
        0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 10, 1, 6, 109, 97, 120, 115, 105, 109, 0, 0, 10,
        4, 1, 2, 0, 11,
      ]),
    );
    const old = await createScorer({ backend: 'cpu', precision: 'int8', cpu: { wasmModule: exportsOnlyMaxsim } });
    scorers.push(old);
    expect(old.info.kernel).toBe('typescript');
    expect(old.info.summary).toMatch(/no 'maxsim_int8' export: pass webgpu-maxsim\/maxsim\.wasm/);
    const f32Old = await createScorer({ backend: 'cpu', cpu: { wasmModule: exportsOnlyMaxsim } });
    scorers.push(f32Old);
    expect(f32Old.info.kernel).toBe('wasm-simd');
  });

  it("the Node entry: 'cpu' and 'auto' store int8; bad precisions are E_INVALID_ARGUMENT", async () => {
    for (const backend of ['cpu', 'auto'] as const) {
      const s = await createNodeScorer({ backend, precision: 'int8' });
      scorers.push(s);
      expect(s.info, backend).toMatchObject({ backend: 'cpu', precision: 'int8', kernel: 'wasm-simd' });
    }
    await expect(createNodeScorer({ backend: 'cpu', precision: 'int4' as 'int8' })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/precision must be 'f32', 'f16' or 'int8', got "int4"/),
    });
  });
});
