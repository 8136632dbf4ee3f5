// int8 storage on WebGPU (createScorer({ backend: 'webgpu', precision: 'int8' })), in Node through Dawn on the
// Vulkan driver picked by MAXSIM_ICD ('lavapipe', the default, or 'swiftshader'): the dot4I8Packed and unpacked
// paths bit-identical, the documents' integers and scales the CPU's own, no int32 overflow up to the widest dim,
// chunking, typed errors, the device-lost fallback to the CPU's int8 engine, and issue 16's measured goal. The
// shared case grid runs in engine.test.ts (variantGrid).
const ICDS: Record<string, string> = {
  lavapipe: '/usr/share/vulkan/icd.d/lvp_icd.json',
  swiftshader: '/usr/lib/chromium/vk_swiftshader_icd.json',
};
const icdName = process.env.MAXSIM_ICD ?? 'lavapipe';
if (ICDS[icdName] === undefined) throw new Error(`MAXSIM_ICD must be one of ${Object.keys(ICDS).join(', ')}`);
process.env.VK_ICD_FILENAMES ??= ICDS[icdName];

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { INT8_MAX_DIM, writeInt8Rows } from '../../src/core/int8.js';
import { packDocuments } from '../../src/core/packed-documents.js';
import { createScorerFromEngine, type Scorer } from '../../src/core/scorer.js';
import { int8QueryLevels } from '../../src/cpu/int8-kernel.js';
import { createScorer, loadDawnGpu } from '../../src/node.js';
import { BUFFER_COPY_DST, BUFFER_MAP_READ, MAP_MODE_READ } from '../../src/webgpu/device.js';
import { adoptMaxsimDevice, createMaxsimDevice, type MaxsimDevice } from '../../src/webgpu/device.js';
import { createWebGpuEngine, type WebGpuEngineOptions } from '../../src/webgpu/engine.js';
import { GpuValidationError } from '../../src/webgpu/errors.js';
import { paddedRowWords } from '../../src/webgpu/variants.js';
import { caseData, compareScores, expectedScores, KERNEL_CASES } from '../support/kernel-cases.js';
import { randomDocs, randomMatrix, seededRandom } from '../support/random.js';
import { expectBitIdentical, signMatrix } from '../support/int8.js';

let md: MaxsimDevice;

beforeAll(async () => {
  md = await createMaxsimDevice(await loadDawnGpu());
});

afterAll(() => {
  md?.destroy();
});

async function int8Scorer(options: WebGpuEngineOptions = {}): Promise<Scorer> {
  return createScorerFromEngine(await createWebGpuEngine(md, { precision: 'int8', ...options }));
}

async function readBack(buffer: GPUBuffer): Promise<ArrayBuffer> {
  const staging = md.device.createBuffer({ size: buffer.size, usage: BUFFER_MAP_READ | BUFFER_COPY_DST });
  const encoder = md.device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
  md.device.queue.submit([encoder.finish()]);
  await staging.mapAsync(MAP_MODE_READ);
  const copy = staging.getMappedRange().slice(0);
  staging.destroy();
  return copy;
}

describe(`WebGPU int8 storage on ${icdName}`, { timeout: 180_000 }, () => {
  it('says what it runs: precision int8 and the dot-product path, in info and the summary', async () => {
    const auto = await int8Scorer();
    const path = md.features.packedDot4x8 ? 'dot4I8Packed' : 'unpacked';
    expect(auto.info).toMatchObject({ backend: 'webgpu', precision: 'int8', int8Dot: path });
    expect(auto.info.summary).toContain(`int8 document storage (int8 queries, ${path} integer dot products)`);
    const unpacked = await int8Scorer({ int8Dot: 'unpacked' });
    expect(unpacked.info.int8Dot).toBe('unpacked');
    // Both software adapters here offer the WGSL language feature (Dawn's GPU object lists it).
    expect(md.features.packedDot4x8).toBe(true);
    console.log(`[int8] ${icdName}: auto path ${auto.info.int8Dot}`);
    auto.destroy();
    unpacked.destroy();
  });

  it('a device adopted without navigator.gpu unpacks; insisting on dot4I8Packed there is E_INVALID_ARGUMENT', async () => {
    const device = await (await (await loadDawnGpu()).requestAdapter())!.requestDevice();
    const adopted = adoptMaxsimDevice(device);
    expect(adopted.features.packedDot4x8).toBe(false); // Node has no navigator.gpu to ask
    const engine = await createWebGpuEngine(adopted, { precision: 'int8' });
    expect(engine.info.int8Dot).toBe('unpacked');
    const { queries, docs } = caseData(KERNEL_CASES[5]!);
    const scorer = createScorerFromEngine(engine);
    const scores = await scorer.score(queries, docs);
    const { expected, tolerance } = expectedScores(queries, docs, { queryLevels: 127 });
    const problem = compareScores(scores[0]!, expected[0]!, tolerance[0]!, 'adopted, unpacked');
    expect(problem, problem ?? '').toBeNull();
    await expect(createWebGpuEngine(adopted, { precision: 'int8', int8Dot: 'dot4I8Packed' })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/packed_4x8_integer_dot_product/),
    });
    scorer.destroy();
    device.destroy();
  });

  it('dot4I8Packed and the unpacked path give bit-identical scores (dims 1–1024, ragged, two tile configs)', async () => {
    const rand = seededRandom(161);
    for (const variant of ['q32', 'q32t32']) {
      const packed = await int8Scorer({ variant, int8Dot: 'dot4I8Packed' });
      const unpacked = await int8Scorer({ variant, int8Dot: 'unpacked' });
      expect([packed.info.int8Dot, unpacked.info.int8Dot]).toEqual(['dot4I8Packed', 'unpacked']);
      for (const dim of [1, 3, 17, 128, 1024]) {
        const docs = randomDocs(rand, 16, 0, 90, dim);
        const queries = [0, 1, 5, 33].map((rows) => randomMatrix(rand, rows, dim));
        const [a, b] = await Promise.all([packed.score(queries, docs), unpacked.score(queries, docs)]);
        for (let i = 0; i < queries.length; i++) expectBitIdentical(a[i]!, b[i]!, `${variant} d=${dim}, query ${i}`);
        const { expected, tolerance } = expectedScores(queries, docs, { queryLevels: 127 });
        a.forEach((row, i) => {
          const problem = compareScores(row, expected[i]!, tolerance[i]!, `${variant} d=${dim}, query ${i}`);
          expect(problem, problem ?? '').toBeNull();
        });
      }
      packed.destroy();
      unpacked.destroy();
    }
  });

  it("stores the CPU's own integers and scales (src/core/int8.ts), rows padded to 16 values", async () => {
    const rand = seededRandom(163);
    for (const dim of [5, 128, 100]) {
      const docs = [...randomDocs(rand, 12, 0, 40, dim), signMatrix(2, dim, () => 0)];
      const engine = await createWebGpuEngine(md, { precision: 'int8' });
      const packed = packDocuments(docs);
      const corpus = await engine.upload(packed);
      const chunk = corpus.gpu!.chunks[0]!;
      const rowWords = paddedRowWords('int8', dim);
      expect(rowWords).toBe(Math.ceil(dim / 16) * 4);
      const rows = packed.totalRows;
      const values = new Int8Array(rows * rowWords * 4);
      const scales = new Float32Array(rows);
      const all = new Float32Array(rows * dim);
      for (let r = 0, at = 0; at < docs.length; at++) {
        all.set(docs[at]!.data.subarray(0, docs[at]!.rows * dim), r * dim);
        r += docs[at]!.rows;
      }
      writeInt8Rows(all, dim, 0, values, rowWords * 4, scales);
      const stored = new Int8Array(await readBack(chunk.docs)).subarray(0, values.length);
      const storedScales = new Float32Array(await readBack(chunk.scales!)).subarray(0, rows);
      expect(stored).toEqual(values);
      expect(storedScales).toEqual(scales);
      expect(corpus.gpu!.bytes).toBeLessThanOrEqual(
        Math.max(16, rows * rowWords * 4) + (docs.length + 1) * 4 + rows * 4,
      );
      engine.release(corpus);
      engine.destroy();
    }
  });

  it('never overflows int32: all-±1 rows (every value ±127) score exactly, up to dim 133,144, both paths', async () => {
    for (const int8Dot of ['dot4I8Packed', 'unpacked'] as const) {
      const scorer = await int8Scorer({ int8Dot });
      for (const dim of [1024, 4099, INT8_MAX_DIM]) {
        const doc = signMatrix(4, dim, (r, c) => [1, -1, c % 2 === 0 ? 1 : -1, c % 2 === 0 ? -1 : 1][r]!);
        const queries = [
          signMatrix(1, dim, () => 1),
          signMatrix(1, dim, () => -1),
          signMatrix(1, dim, (_, c) => (c % 2 === 0 ? 1 : -1)),
          signMatrix(3, dim, (r, c) => (r === 1 ? (c % 2 === 0 ? -1 : 1) : 1)),
        ];
        const expected = [dim, dim, dim, 3 * dim];
        const scores = await scorer.score(queries, [doc, signMatrix(1, dim, () => -1)]);
        scores.forEach((s, i) => {
          const label = `${int8Dot}, dim ${dim}, query ${i}`;
          expect(Math.abs(s[0]! - expected[i]!), label).toBeLessThanOrEqual(1e-5 * expected[i]!);
        });
        // dim × 127 × 127 = 2,147,479,576 at the widest dim: the most negative dot product, still in range.
        expect(Math.abs(scores[0]![1]! + dim), `${int8Dot}, dim ${dim}, −dim`).toBeLessThanOrEqual(1e-5 * dim);
      }
      scorer.destroy();
    }
  });

  it('refuses rows wider than 133,144 values at upload with E_INVALID_ARGUMENT', async () => {
    const scorer = await int8Scorer();
    await expect(scorer.upload([signMatrix(1, INT8_MAX_DIM + 1, () => 1)])).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/int8 storage takes rows of at most 133,144 values/),
    });
    scorer.destroy();
  });

  it('gives bitwise the same scores however the corpus is chunked (a scale buffer per chunk)', async () => {
    const { queries, docs } = caseData({
      name: 'chunks',
      dim: 24,
      queryRows: [5, 9],
      docRows: [7, 0, 30, 1, 12, 64, 3],
    });
    const whole = await int8Scorer();
    const chunked = await int8Scorer({ chunkBytes: 70 * 32 }); // rows of 32 bytes: one to three documents a chunk
    const a = await whole.score(queries, docs);
    const b = await chunked.score(queries, docs);
    for (let i = 0; i < queries.length; i++) expectBitIdentical(a[i]!, b[i]!, `query ${i}`);
    whole.destroy();
    chunked.destroy();
  });

  it('refuses the baseline kernel for int8 with a reason', async () => {
    await expect(createWebGpuEngine(md, { precision: 'int8', variant: 'baseline' })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/baseline kernel has no int8 storage/),
    });
  });

  it('surfaces an invalid scale buffer as GpuValidationError, never as zeros', async () => {
    const engine = await createWebGpuEngine(md, { precision: 'int8' });
    const { queries, docs } = caseData(KERNEL_CASES[5]!);
    const corpus = await engine.upload(packDocuments(docs));
    corpus.gpu!.chunks[0]!.scales!.destroy(); // the resident scales disappear behind the engine's back
    const err = await engine.score(queries, corpus).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuValidationError);
    expect((err as GpuValidationError).code).toBe('E_GPU_VALIDATION');
    engine.release(corpus);
    engine.destroy();
  });

  it("falls back to the CPU's int8 engine after a device loss (fallback: 'cpu')", async () => {
    const device = await (await (await loadDawnGpu()).requestAdapter())!.requestDevice();
    const scorer = await createScorer({ backend: 'webgpu', device, fallback: 'cpu', precision: 'int8' });
    const cpuInt8 = await createScorer({ backend: 'cpu', precision: 'int8', cpu: { threads: 1 } });
    const { queries, docs } = caseData(KERNEL_CASES[5]!);
    const corpus = await scorer.upload(docs);
    const before = await scorer.score(queries, corpus);
    expect(scorer.info).toMatchObject({ backend: 'webgpu', precision: 'int8', int8Dot: 'unpacked' });
    device.destroy();
    await vi.waitFor(() => expect(scorer.info.summary).toMatch(/device lost; scoring on the CPU/), { timeout: 5000 });
    expect(scorer.info).toMatchObject({ backend: 'cpu', precision: 'int8' });
    const after = await scorer.score(queries, corpus);
    const [direct] = await cpuInt8.score(queries, docs);
    expectBitIdentical(after[0]!, direct!, 'after the loss vs the CPU int8 engine');
    const cpuBound = expectedScores(queries, docs, { queryLevels: int8QueryLevels(docs[0]!.dim) });
    const gpuBound = expectedScores(queries, docs, { queryLevels: 127 });
    for (const [scores, bound, label] of [
      [after, cpuBound, 'cpu'],
      [before, gpuBound, 'gpu'],
    ] as const) {
      const problem = compareScores(scores[0]!, bound.expected[0]!, bound.tolerance[0]!, label);
      expect(problem, problem ?? '').toBeNull();
    }
    scorer.destroy();
    cpuInt8.destroy();
  });

  it("createScorer: 'webgpu' stores int8 on the GPU; 'auto' keeps the CPU on a software adapter", async () => {
    const gpu = await createScorer({ backend: 'webgpu', precision: 'int8' });
    expect(gpu.info).toMatchObject({ backend: 'webgpu', precision: 'int8' });
    expect(['dot4I8Packed', 'unpacked']).toContain(gpu.info.int8Dot);
    gpu.destroy();
    const auto = await createScorer({ backend: 'auto', precision: 'int8' });
    expect(auto.info).toMatchObject({ backend: 'cpu', precision: 'int8' });
    auto.destroy();
  });

  it("meets issue 16's goal on the GPU: 1,000 unit-norm docs × 100 × 128, Lq 32: top-10 overlap ≥ 8/10, |error| ≤ 0.03", async () => {
    const rand = seededRandom(16);
    const dim = 128;
    const docs = randomDocs(rand, 1000, 100, 100, dim);
    const queries = Array.from({ length: 8 }, () => randomMatrix(rand, 32, dim));
    const f32 = await createScorer({ backend: 'cpu', cpu: { threads: 1 } });
    const int8 = await int8Scorer();
    const [exact, quantized] = await Promise.all([f32.score(queries, docs), int8.score(queries, docs)]);
    let worstError = 0;
    let worstOverlap = 10;
    let overlapSum = 0;
    const top = (s: Float32Array) =>
      Array.from(s.keys())
        .sort((x, y) => s[y]! - s[x]! || x - y)
        .slice(0, 10);
    queries.forEach((_, i) => {
      const overlap = top(quantized[i]!).filter((d) => top(exact[i]!).includes(d)).length;
      worstOverlap = Math.min(worstOverlap, overlap);
      overlapSum += overlap;
      quantized[i]!.forEach((v, j) => {
        worstError = Math.max(worstError, Math.abs(v - exact[i]![j]!));
      });
    });
    console.log(
      `[int8] ${icdName} ${int8.info.int8Dot}: top-10 overlap worst ${worstOverlap}/10, mean ` +
        `${(overlapSum / queries.length).toFixed(2)}/10; max |score error| ${worstError.toExponential(3)}`,
    );
    expect(worstOverlap).toBeGreaterThanOrEqual(8);
    expect(worstError).toBeLessThanOrEqual(0.03);
    expect(worstError).toBeGreaterThan(1e-4); // int8 really scored this
    f32.destroy();
    int8.destroy();
  });
});
