// The CPU backend's WASM SIMD kernel and worker threads: the shared shape grid and strict relative error
// against the float64 reference, bit-identical scores across thread counts, batching and permutation
// properties, the TypeScript fallback, a precompiled module, memory limits, and that workers never keep a
// process alive. Worker threads run dist/node/cpu-worker.js: `npm test` builds first.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createCpuEngine, splitByTokens } from '../../src/cpu/engine.js';
import type { CpuWorkerFactory } from '../../src/cpu/threads.js';
import { CPU_WORKER_PROTOCOL, createCpuWorkerHandler } from '../../src/cpu/worker-protocol.js';
import {
  createWasmCorpusSlice,
  compileMaxsimWasm,
  wasmRelaxedSimdSupported,
  wasmSimdSupported,
} from '../../src/cpu/wasm-kernel.js';
import { createScorer, maxsimReference, MaxsimError, type Scorer, type TokenMatrix } from '../../src/index.js';
import { packDocuments } from '../../src/core/packed-documents.js';
import { createScorer as createNodeScorer, nodeCpuOptions } from '../../src/node.js';
import { caseData, compareScores, expectedScores, F32_RELATIVE, KERNEL_CASES } from '../support/kernel-cases.js';
import { randomMatrix, seededRandom } from '../support/random.js';
// @ts-expect-error -- a plain .mjs build script without type declarations
import { assembleMaxsim } from '../../scripts/build-wasm.mjs';

const root = new URL('../../', import.meta.url);

/** A ragged corpus large enough (≥ 3 × 2^17 floats) that two and three threads each get a share. */
function raggedCorpus(rand: () => number, dim: number): TokenMatrix[] {
  const docs: TokenMatrix[] = [randomMatrix(rand, 0, dim), randomMatrix(rand, 1, dim)];
  const stride = Math.ceil(dim / 4) * 4;
  let floats = stride;
  while (floats < 3.2 * 2 ** 17) {
    // Lengths 0..600, mostly not multiples of the kernel's 2-token block, some empty.
    const rows = docs.length % 11 === 5 ? 0 : 1 + Math.floor(rand() * 600);
    docs.push(randomMatrix(rand, rows, dim));
    floats += rows * stride;
  }
  docs.push(randomMatrix(rand, 3, dim));
  return docs;
}

function strictCheck(actual: Float32Array, query: TokenMatrix, docs: readonly TokenMatrix[], label: string): void {
  let worst = 0;
  docs.forEach((doc, j) => {
    const ref = maxsimReference(query, doc);
    if (!Number.isFinite(ref) || ref === 0) {
      expect(actual[j], `${label}, doc ${j}`).toBe(ref);
      return;
    }
    worst = Math.max(worst, Math.abs(actual[j]! - ref) / Math.abs(ref));
  });
  expect(worst, `${label}: worst relative error`).toBeLessThanOrEqual(1e-5);
}

function expectBitIdentical(a: Float32Array, b: Float32Array, label: string): void {
  expect(a.length, label).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const bad = ua.findIndex((v, i) => v !== ub[i]);
  expect(bad, `${label}: first differing index (${a[bad]} vs ${b[bad]})`).toBe(-1);
}

describe('cpu wasm kernel', () => {
  const scorers: Scorer[] = [];
  let one: Scorer;
  let two: Scorer;
  let three: Scorer;
  beforeAll(async () => {
    one = await createScorer({ backend: 'cpu', cpu: { threads: 1 } });
    two = await createScorer({ backend: 'cpu', cpu: nodeCpuOptions({ threads: 2 }) });
    three = await createScorer({ backend: 'cpu', cpu: nodeCpuOptions({ threads: 3 }) });
    scorers.push(one, two, three);
  });
  afterAll(() => {
    for (const s of scorers) s.destroy();
  });

  it('the committed embedded modules are what wasm/maxsim.wat assembles to (standard and relaxed SIMD)', async () => {
    const { ts, relaxedTs } = (await assembleMaxsim()) as { ts: string; relaxedTs: string };
    const committed = await readFile(new URL('src/cpu/maxsim-wasm-bytes.ts', root), 'utf8');
    expect(committed === ts, 'src/cpu/maxsim-wasm-bytes.ts is stale: run `npm run build:wasm`').toBe(true);
    const relaxed = await readFile(new URL('src/cpu/maxsim-relaxed-wasm-bytes.ts', root), 'utf8');
    expect(relaxed === relaxedTs, 'src/cpu/maxsim-relaxed-wasm-bytes.ts is stale: run `npm run build:wasm`').toBe(true);
    // Every multiply-add of the kernel's two inner loops (8 for token pairs, 4 for an odd last token).
    expect(relaxedTs).toContain('12 f32x4.relaxed_madd');
  });

  it('keeps the standard SIMD kernel where relaxed SIMD does not validate (Node 20 without its flag)', () => {
    if (Number(process.versions.node.split('.')[0]) === 20) expect(wasmRelaxedSimdSupported()).toBe(false);
    if (!wasmRelaxedSimdSupported()) expect(one.info.kernel).toBe('wasm-simd');
  });

  it('relaxed SIMD (f32x4.relaxed_madd) where it validates: chosen by auto, on the shared grid within the f32 bound of the reference and of the standard kernel, on 1 and 2 threads', async () => {
    // A child Node with the flag (so this process keeps the default): it scores the grid with 'auto' and with
    // 'wasm-simd', on 1 and 2 threads, and prints the scores; the comparison happens here.
    const code = `
      import { createScorer } from './dist/node.js';
      let input = '';
      for await (const chunk of process.stdin) input += chunk;
      const cases = JSON.parse(input);
      const out = {};
      for (const [name, cpu] of [['auto-1', { threads: 1 }], ['auto-2', { threads: 2 }], ['simd-1', { threads: 1, kernel: 'wasm-simd' }]]) {
        const s = await createScorer({ backend: 'cpu', cpu });
        out[name] = { kernel: s.info.kernel, summary: s.info.summary, cases: [] };
        for (const c of cases) {
          const m = (x) => ({ data: Float32Array.from(x.data), rows: x.rows, dim: x.dim });
          const scores = await s.score(c.queries.map(m), c.docs.map(m));
          out[name].cases.push(scores.map((row) => Array.from(row, (v) => (Number.isFinite(v) ? v : String(v)))));
        }
        s.destroy();
      }
      process.stdout.write(JSON.stringify(out));`;
    // A large ragged corpus too, so two threads each get a share.
    const rand = seededRandom(77);
    const big = { queries: [randomMatrix(rand, 32, 64)], docs: raggedCorpus(rand, 64) };
    const inputs = [...KERNEL_CASES.map((c) => caseData(c)), big];
    const plain = (m: TokenMatrix) => ({ data: Array.from(m.data), rows: m.rows, dim: m.dim });
    const arg = JSON.stringify(inputs.map((c) => ({ queries: c.queries.map(plain), docs: c.docs.map(plain) })));
    const child = spawn(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e', code], {
      cwd: new URL('.', root),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.end(arg);
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const exit = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(exit, err).toBe(0);
    const got = JSON.parse(out) as Record<string, { kernel: string; summary: string; cases: (number | string)[][][] }>;
    expect(got['auto-1']!.kernel).toBe('wasm-relaxed-simd');
    expect(got['auto-2']!.summary).toBe('cpu (wasm-relaxed-simd, 2 threads)');
    expect(got['simd-1']!.kernel).toBe('wasm-simd');
    inputs.forEach(({ queries, docs }, k) => {
      const { expected, tolerance } = expectedScores(queries, docs, F32_RELATIVE);
      queries.forEach((_, i) => {
        const decode = (name: string) => got[name]!.cases[k]![i]!.map((v) => (typeof v === 'number' ? v : Number(v)));
        for (const name of ['auto-1', 'auto-2', 'simd-1']) {
          const problem = compareScores(decode(name), expected[i]!, tolerance[i]!, `${name} case ${k} query ${i}`);
          expect(problem, problem ?? '').toBeNull();
        }
        // The two kernels agree within the same bound (FMA rounds once where mul + add rounds twice).
        const same = compareScores(
          decode('auto-1'),
          decode('simd-1'),
          tolerance[i]!,
          `relaxed vs simd, case ${k} query ${i}`,
        );
        expect(same, same ?? '').toBeNull();
        // Threads do not change the result: each document is scored whole by one thread.
        expect(decode('auto-2')).toEqual(decode('auto-1'));
      });
    });
  }, 60_000);

  it('runs WASM SIMD here and says so', () => {
    expect(wasmSimdSupported()).toBe(true);
    expect(one.info).toMatchObject({
      backend: 'cpu',
      kernel: 'wasm-simd',
      threads: 1,
      summary: 'cpu (wasm-simd, 1 thread)',
    });
    expect(two.info).toMatchObject({ kernel: 'wasm-simd', threads: 2, summary: 'cpu (wasm-simd, 2 threads)' });
  });

  it('the Node entry defaults to one worker thread per core', async () => {
    const { availableParallelism } = await import('node:os');
    const s = await createNodeScorer({ backend: 'cpu' });
    scorers.push(s);
    expect(s.info.kernel).toBe('wasm-simd');
    expect(s.info.threads).toBe(availableParallelism());
  });

  it('matches the float64 reference on the shared kernel case grid: WASM SIMD and TypeScript kernels', async () => {
    const ts = await createScorer({ backend: 'cpu', cpu: { kernel: 'typescript' } });
    scorers.push(ts);
    for (const scorer of [one, ts]) {
      for (const c of KERNEL_CASES) {
        const { queries, docs } = caseData(c);
        const { expected, tolerance } = expectedScores(queries, docs, F32_RELATIVE);
        const scores = await scorer.score(queries, docs);
        scores.forEach((s, i) => {
          const problem = compareScores(s, expected[i]!, tolerance[i]!, `${scorer.info.kernel} ${c.name}, query ${i}`);
          expect(problem, problem ?? '').toBeNull();
        });
      }
    }
  });

  it('is within relative 1e-5 of the reference, and bit-identical on 1, 2 and 3 threads (ragged, dims 1–1024)', async () => {
    const rand = seededRandom(5);
    for (const dim of [1, 3, 5, 128, 1024]) {
      const docs = raggedCorpus(rand, dim);
      const queries = [0, 1, 3, 5, 32, 33].map((rows) => randomMatrix(rand, rows, dim));
      const corpora = await Promise.all([one.upload(docs), two.upload(docs), three.upload(docs)]);
      const [s1, s2, s3] = await Promise.all([
        one.score(queries, corpora[0]!),
        two.score(queries, corpora[1]!),
        three.score(queries, corpora[2]!),
      ]);
      queries.forEach((q, i) => {
        strictCheck(s1![i]!, q, docs, `d=${dim}, ${q.rows} query rows`);
        expectBitIdentical(s1![i]!, s2![i]!, `d=${dim}, query ${i}, 1 vs 2 threads`);
        expectBitIdentical(s1![i]!, s3![i]!, `d=${dim}, query ${i}, 1 vs 3 threads`);
      });
      for (const c of corpora) c.destroy();
    }
  });

  it('batching queries, splitting the corpus and permuting documents or tokens never change a score', async () => {
    const rand = seededRandom(8);
    const dim = 128;
    const docs = raggedCorpus(rand, dim);
    const queries = [randomMatrix(rand, 32, dim), randomMatrix(rand, 7, dim), randomMatrix(rand, 1, dim)];
    const batch = await two.score(queries, docs);
    for (let i = 0; i < queries.length; i++) {
      const [alone] = await two.score([queries[i]!], docs);
      expectBitIdentical(alone!, batch[i]!, `query ${i} alone vs in a batch`);
    }
    const half = docs.length >> 1;
    const [head] = await two.score([queries[0]!], docs.slice(0, half));
    const [tail] = await one.score([queries[0]!], docs.slice(half));
    expectBitIdentical(new Float32Array([...head!, ...tail!]), batch[0]!, 'corpus split in two uploads');

    const order = docs.map((_, i) => i).reverse();
    const [reversed] = await two.score(
      [queries[0]!],
      order.map((i) => docs[i]!),
    );
    expectBitIdentical(
      Float32Array.from(order, (i) => batch[0]![i]!),
      reversed!,
      'documents reversed',
    );

    const shuffled = docs.map((doc) => {
      const rows = Array.from({ length: doc.rows }, (_, r) => r).sort(() => rand() - 0.5);
      const data = new Float32Array(doc.data.length);
      rows.forEach((from, to) => {
        data.set(doc.data.subarray(from * dim, (from + 1) * dim), to * dim);
      });
      return { data, rows: doc.rows, dim };
    });
    const [permuted] = await two.score([queries[0]!], shuffled);
    expectBitIdentical(permuted!, batch[0]!, 'document tokens permuted');
  });

  it("the TypeScript kernel ('typescript', and the fallback) ranks the same", async () => {
    const ts = await createScorer({ backend: 'cpu', cpu: { kernel: 'typescript' } });
    scorers.push(ts);
    expect(ts.info).toMatchObject({ kernel: 'typescript', threads: 1, summary: 'cpu (typescript, 1 thread)' });
    const rand = seededRandom(13);
    const docs = Array.from({ length: 300 }, () => randomMatrix(rand, 1 + Math.floor(rand() * 200), 128));
    const query = randomMatrix(rand, 32, 128);
    const [a, b] = await Promise.all([ts.rerank(query, docs), two.rerank(query, docs)]);
    expect(b.map((r) => r.index)).toEqual(a.map((r) => r.index));
  });

  it('accepts a precompiled WebAssembly.Module (what Cloudflare Workers import), and refuses a wrong one', async () => {
    const bytes = await readFile(new URL('dist/maxsim.wasm', root));
    const wasmModule = new WebAssembly.Module(bytes);
    const s = await createScorer({ backend: 'cpu', cpu: { wasmModule, threads: 1 } });
    scorers.push(s);
    expect(s.info.kernel).toBe('wasm-simd');
    const rand = seededRandom(21);
    const docs = [randomMatrix(rand, 9, 6), randomMatrix(rand, 0, 6)];
    const query = randomMatrix(rand, 3, 6);
    const [scores] = await s.score([query], docs);
    strictCheck(scores!, query, docs, 'precompiled module');

    const wrong = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    const fallback = await createScorer({ backend: 'cpu', cpu: { wasmModule: wrong } });
    scorers.push(fallback);
    expect(fallback.info.kernel).toBe('typescript');
    expect(fallback.info.summary).toMatch(/no 'maxsim' export/);
    await expect(
      createScorer({ backend: 'cpu', cpu: { wasmModule: wrong, kernel: 'wasm-simd' } }),
    ).rejects.toMatchObject({
      code: 'E_BACKEND_UNAVAILABLE',
    });
  });

  it('float32 overflow: E_SCORE_OVERFLOW on every CPU kernel and thread count, exactly at the documented bound', async () => {
    // Before, the CPU scored -Infinity here (and WebGPU -3.4e38): one behaviour now, checked before any work.
    const q: TokenMatrix = { data: new Float32Array([1e20, 1e20]), rows: 2, dim: 1 };
    const d: TokenMatrix = { data: new Float32Array([-1e20]), rows: 1, dim: 1 };
    const atBound: TokenMatrix = { data: new Float32Array([2 ** 63, 2 ** 63]), rows: 2, dim: 1 }; // Σ|q| = 2^64
    const doc: TokenMatrix = { data: new Float32Array([2 ** 63]), rows: 1, dim: 1 }; // × 2^63 = 2^127
    const under: TokenMatrix = { data: new Float32Array([2 ** 62, 2 ** 62]), rows: 2, dim: 1 }; // 2^126
    for (const cpu of [{ kernel: 'typescript' as const }, { kernel: 'wasm-simd' as const }, { threads: 2 }]) {
      const scorer = await createNodeScorer({ backend: 'cpu', cpu });
      await expect(scorer.score([q], [d]), JSON.stringify(cpu)).rejects.toMatchObject({ code: 'E_SCORE_OVERFLOW' });
      await expect(scorer.rerank(atBound, await scorer.upload([doc]))).rejects.toMatchObject({
        code: 'E_SCORE_OVERFLOW',
      });
      const [[score]] = (await scorer.score([under], [doc])) as [Float32Array];
      expect(score).toBe(2 ** 126); // 2 rows × 2^62 × 2^63: finite, exact
      scorer.destroy();
    }
  });

  it('rejects bad cpu options', async () => {
    await expect(createCpuEngine({ threads: 0 })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(createCpuEngine({ kernel: 'gpu' as 'auto' })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
  });

  it('says clearly when a corpus exceeds the wasm32 4 GiB memory', async () => {
    const module = await compileMaxsimWasm();
    const huge = { data: new Float32Array(0), rowOffsets: new Uint32Array([0, 2 ** 31]), count: 1, dim: 4 };
    let error: unknown;
    try {
      createWasmCorpusSlice(module, huge);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MaxsimError);
    expect(error).toMatchObject({ code: 'E_CPU_MEMORY_LIMIT' });
    expect((error as Error).message).toMatch(/4096 MiB/);
  });

  it('uploads without a packed copy of the corpus: rows go to the workers (or this thread) in chunks', async () => {
    const rand = seededRandom(41);
    const dim = 1024; // 8 MiB chunks hold 2,048 rows: this corpus takes several per worker
    const docs = Array.from({ length: 120 }, (_, i) => randomMatrix(rand, i % 9 === 4 ? 0 : 40 + (i % 50), dim));
    const query = randomMatrix(rand, 6, dim);
    for (const threads of [1, 2]) {
      const engine = await createCpuEngine(nodeCpuOptions({ threads }));
      const packed = packDocuments(docs);
      Object.defineProperty(packed, 'data', {
        get: () => {
          throw new Error('the CPU engine packed the whole corpus');
        },
      });
      const corpus = await engine.upload(packed);
      expect(corpus.kind).toBe(threads === 1 ? 'wasm' : 'threads');
      const [scores] = await engine.score([query], corpus);
      strictCheck(scores!, query, docs, `${threads} thread(s)`);
      engine.release(corpus);
      engine.destroy();
    }
  });

  it('sends a small share in a buffer of about its size, and later uploads refill the buffers handed back', async () => {
    // A fresh buffer costs a page fault per 4 KiB on the calling thread (an 8 MiB one blocked a server's event loop
    // for 25-90 ms); the rerank service uploads one small corpus per chunk of documents, so they must be reused.
    const sent: Float32Array[] = [];
    const returned = new Set<Float32Array>();
    // The real worker body, on this thread: buffers come back as the same objects, so reuse can be seen.
    const inProcess: CpuWorkerFactory = (events) => {
      const handle = createCpuWorkerHandler((reply) =>
        queueMicrotask(() => {
          if ('data' in reply && reply.data !== undefined) returned.add(reply.data);
          events.message(reply);
        }),
      );
      return {
        postMessage: (message) => {
          if (message.op === 'write') sent.push(message.data);
          queueMicrotask(() => handle(message));
        },
        terminate: () => undefined,
      };
    };
    const engine = await createCpuEngine({ threads: 2, workers: inProcess });
    const rand = seededRandom(43);
    const dim = 128;
    const query = randomMatrix(rand, 5, dim);
    for (let upload = 0; upload < 4; upload++) {
      // ~3,000 rows per worker: far under a chunk (16,384 rows of 128 floats).
      const docs = Array.from({ length: 32 }, (_, i) => randomMatrix(rand, 150 + ((i * 37 + upload * 11) % 90), dim));
      const packed = packDocuments(docs);
      const before = sent.length;
      const corpus = await engine.upload(packed);
      expect(corpus.kind).toBe('threads');
      const writes = sent.slice(before);
      expect(writes).toHaveLength(2);
      for (const data of writes) expect(data.length).toBeLessThanOrEqual(2 * (packed.totalRows / 2 + 240) * dim);
      if (upload > 0) for (const data of writes) expect(returned.has(data), `upload ${upload}`).toBe(true);
      const [scores] = await engine.score([query], corpus);
      strictCheck(scores!, query, docs, `upload ${upload}`);
      engine.release(corpus);
    }
    expect(new Set(sent).size).toBeLessThanOrEqual(4);
    engine.destroy();
  });

  it('upload() reports { done, total } documents as they become resident, from 0 to all, never backwards', async () => {
    const rand = seededRandom(43);
    const docs = Array.from({ length: 150 }, (_, i) => randomMatrix(rand, i % 11 === 3 ? 0 : 30 + (i % 40), 1024));
    for (const scorer of [one, two, three]) {
      const seen: { done: number; total: number }[] = [];
      const corpus = await scorer.upload(docs, { onProgress: (p) => seen.push(p) });
      const label = scorer.info.summary;
      expect(seen[0], label).toEqual({ done: 0, total: 150 });
      expect(seen.at(-1), label).toEqual({ done: 150, total: 150 });
      expect(seen.length, `${label}: reports in between`).toBeGreaterThan(3);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!.done, label).toBeGreaterThanOrEqual(seen[i - 1]!.done);
      expect(
        seen.filter((p) => p.done === 150),
        `${label}: the end once`,
      ).toHaveLength(1);
      corpus.destroy();
    }
    await expect(one.upload(docs, { onProgress: 5 as never })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
  });

  it('keeps its own copy: changing the documents after upload() changes no score', async () => {
    const rand = seededRandom(47);
    const ts = await createScorer({ backend: 'cpu', cpu: { kernel: 'typescript' } });
    scorers.push(ts);
    for (const scorer of [one, two, ts]) {
      const docs = raggedCorpus(rand, 16);
      const query = randomMatrix(rand, 4, 16);
      const corpus = await scorer.upload(docs);
      const [before] = await scorer.score([query], corpus);
      for (const d of docs) d.data.fill(0.5);
      const [after] = await scorer.score([query], corpus);
      expectBitIdentical(after!, before!, scorer.info.summary);
      corpus.destroy();
    }
  });

  it('splits ragged corpora across threads by tokens, not by document count', () => {
    const rows = [...Array.from({ length: 10 }, () => 1000), ...Array.from({ length: 990 }, () => 10)];
    const docs = rows.map((r) => ({ data: new Float32Array(r), rows: r, dim: 1 }));
    const packed = packDocuments(docs);
    const ranges = splitByTokens(packed, 2);
    expect(ranges.map((r) => r.first + r.count)).toContain(1000);
    expect(ranges[0]!.first).toBe(0);
    const tokens = ranges.map((r) => packed.rowOffsets[r.first + r.count]! - packed.rowOffsets[r.first]!);
    // The first 10 documents hold about half the tokens: a split by count would cut at 500, ours near 50.
    expect(ranges[0]!.count).toBeLessThanOrEqual(60);
    expect(Math.abs(tokens[0]! - tokens[1]!)).toBeLessThanOrEqual(2 * (1000 + 1));
  });

  it('a worker that crashes after starting fails the call with E_CPU_WORKER instead of hanging', async () => {
    const s = await createScorer({
      backend: 'cpu',
      cpu: {
        threads: 2,
        // Answers init like a real worker, then dies on the first upload.
        workers: (events) => ({
          postMessage: (message) => {
            if (message.op === 'init') events.message({ job: message.job, ok: true, protocol: CPU_WORKER_PROTOCOL });
            else events.error(new Error('boom'));
          },
          terminate: () => undefined,
        }),
      },
    });
    scorers.push(s);
    const rand = seededRandom(2);
    const docs = raggedCorpus(rand, 128);
    await expect(s.score([randomMatrix(rand, 4, 128)], docs)).rejects.toMatchObject({
      code: 'E_CPU_WORKER',
      message: expect.stringMatching(/^CPU worker \d failed: boom\. /),
    });
  });

  it('workers that cannot start leave the calling thread scoring, and info says why (never a raw error)', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const rand = seededRandom(3);
      const docs = raggedCorpus(rand, 64);
      const query = randomMatrix(rand, 5, 64);
      const [expected] = await one.score([query], docs);
      const refused = Object.assign(new TypeError('Initiated Worker with invalid execArgv flags: --x'), {
        code: 'ERR_WORKER_INVALID_EXEC_ARGV',
      });
      const factories: [string, CpuWorkerFactory, RegExp][] = [
        [
          'throws',
          () => {
            throw refused;
          },
          /did not start: CPU worker 0: Initiated Worker with invalid execArgv flags: --x$/,
        ],
        [
          'fails to load, with no message',
          (events) => ({ postMessage: () => events.error(new Error('')), terminate: () => undefined }),
          /CPU worker 0: no reason given \(the worker script may be missing or failed to load\)$/,
        ],
      ];
      for (const [label, workers, reason] of factories) {
        const s = await createScorer({ backend: 'cpu', cpu: { threads: 2, workers } });
        scorers.push(s);
        expect(s.info.threads, label).toBe(2); // workers start on the first corpus that needs them
        const [scores] = await s.score([query], docs);
        expectBitIdentical(scores!, expected!, label);
        expect(s.info, label).toMatchObject({ threads: 1, kernel: 'wasm-simd' });
        expect(s.info.threadsReason, label).toMatch(/^2 asked for, but the worker threads did not start: /);
        expect(s.info.threadsReason, label).toMatch(reason);
        expect(s.info.summary, label).toMatch(/^cpu \(wasm-simd, 1 thread; 2 asked for, but the worker threads/);
        expect(s.info.fallbackReason, label).toBe("backend: 'cpu' was asked for");
      }
      expect(warn).toHaveBeenCalledTimes(2);
      expect(warn.mock.calls[0]![0]).toMatch(/^webgpu-maxsim: the CPU worker threads did not start, so scoring runs/);
    } finally {
      warn.mockRestore();
    }
  });

  it('a Web Worker whose script fails to load (a bundler dropped it) is named, not "failed: ."', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    // A browser's Worker for a missing script: it fires a plain Event (no message, no error) at onerror.
    class MissingScriptWorker {
      onerror: ((event: Event) => void) | null = null;
      onmessage: unknown = null;
      onmessageerror: unknown = null;
      postMessage(): void {
        queueMicrotask(() => this.onerror?.(new Event('error')));
      }
      terminate(): void {}
    }
    vi.stubGlobal('Worker', MissingScriptWorker);
    try {
      const s = await createScorer({ backend: 'cpu', cpu: { threads: 2 } });
      scorers.push(s);
      const rand = seededRandom(4);
      const docs = raggedCorpus(rand, 32);
      const [scores] = await s.score([randomMatrix(rand, 3, 32)], docs);
      expect(scores).toHaveLength(docs.length);
      expect(s.info.threads).toBe(1);
      expect(s.info.threadsReason).toMatch(
        /did not start: CPU worker 0: the worker script file:\/\/.*\/worker\.js could not be loaded \(a bundler may not have emitted it/,
      );
    } finally {
      vi.unstubAllGlobals();
      warn.mockRestore();
    }
  });

  it('worker threads never keep the process alive: after destroy(), and while idle without it', async () => {
    const script = (destroy: boolean) => `
      import { createScorer } from './dist/node.js';
      const scorer = await createScorer({ backend: 'cpu', cpu: { threads: 2 } });
      const docs = Array.from({ length: 40 }, (_, i) => ({ data: new Float32Array(300 * 128).fill(0.01 * (i + 1)), rows: 300, dim: 128 }));
      const [scores] = await scorer.score([{ data: new Float32Array(128).fill(1), rows: 1, dim: 128 }], docs);
      console.log(scorer.info.summary, scores.length);
      ${destroy ? 'scorer.destroy();' : ''}`;
    for (const destroy of [true, false]) {
      const started = performance.now();
      const child = spawn(process.execPath, ['--input-type=module', '-e', script(destroy)], {
        cwd: new URL('.', root),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      clearTimeout(timer);
      expect(code, `destroy=${destroy}: exit code; output:\n${out}`).toBe(0);
      expect(out).toContain('cpu (wasm-simd, 2 threads) 40');
      expect(performance.now() - started).toBeLessThan(20_000);
    }
  });
});
