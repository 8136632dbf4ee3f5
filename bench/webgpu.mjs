#!/usr/bin/env node
// First WebGPU benchmark: W0 and W1 (docs/benchmarks.md) end to end (query upload, kernel,
// readback of scores) on the current adapter, beside the CPU path in the same run, plus the readback
// measurement behind "top-k on the CPU". Usage: npm run bench:webgpu  (RUNS=n, PRECISION=f16, WORKLOADS=W0,W1)
// Software adapters (lavapipe, SwiftShader) are said to be software: their numbers mean nothing for GPUs.
import { createScorer, loadDawnGpu, maxsimReference, topK } from '../dist/node.js';
import { createMaxsimDevice } from '../dist/webgpu/device.js';
import { seededRandom } from '../dist/core/seeded-random.js';

const WORKLOADS = {
  W0: { lq: 32, ld: 180, dim: 128, docs: 100 },
  W1: { lq: 32, ld: 300, dim: 128, docs: 1000 },
};
const wanted = (process.env.WORKLOADS ?? 'W0,W1').split(',');
const precision = process.env.PRECISION ?? 'f32';

function matrix(rows, dim, random) {
  const data = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let c = 0; c < dim; c++) sq += (data[r * dim + c] = random() * 2 - 1) ** 2;
    const inv = 1 / Math.sqrt(sq);
    for (let c = 0; c < dim; c++) data[r * dim + c] *= inv;
  }
  return { data, rows, dim };
}
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function measure(scorer, query, corpus, runs) {
  const t0 = performance.now();
  const [first] = await scorer.score([query], corpus);
  const firstMs = performance.now() - t0;
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await scorer.score([query], corpus);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { firstMs, p50: pct(times, 50), p95: pct(times, 95), scores: first };
}

const gpuScorer = await createScorer({ backend: 'webgpu', precision });
const cpuScorer = await createScorer({ backend: 'cpu' });
const software = gpuScorer.info.adapter?.isFallbackAdapter === true;
const runs = Number(process.env.RUNS ?? (software ? 3 : 20));
console.log(`adapter: ${gpuScorer.info.summary}`);
if (software)
  console.log('NOTE: software adapter: numbers measure correctness and relative kernel changes, not GPU speed.');
console.log(`cpu: ${cpuScorer.info.summary}`);
console.log(
  `timed runs: ${runs} after one first (compile/warm-up) run; end to end per query (upload of the query, kernel, readback)\n`,
);
console.log('workload backend   first ms   p50 ms   p95 ms     docs/s   GFLOP/s    GB/s   max|err| (first 50 docs)');

for (const name of wanted) {
  const w = WORKLOADS[name];
  const random = seededRandom(42);
  const docs = Array.from({ length: w.docs }, () => matrix(w.ld, w.dim, random));
  const query = matrix(w.lq, w.dim, random);
  const flop = 2 * w.lq * w.ld * w.dim * w.docs;
  const bytes = w.ld * w.dim * w.docs * (precision === 'f16' ? 2 : 4);
  const ref = docs.slice(0, 50).map((d) => maxsimReference(query, d));
  for (const [label, scorer] of [
    ['webgpu', gpuScorer],
    ['cpu', cpuScorer],
  ]) {
    const corpus = await scorer.upload(docs);
    const r = await measure(scorer, query, corpus, runs);
    const err = Math.max(...ref.map((e, i) => Math.abs(r.scores[i] - e)));
    const s = r.p50 / 1000;
    console.log(
      `${name.padEnd(8)} ${label.padEnd(8)} ${r.firstMs.toFixed(2).padStart(8)} ${r.p50.toFixed(2).padStart(8)} ` +
        `${r.p95.toFixed(2).padStart(8)} ${(w.docs / s).toFixed(0).padStart(10)} ${(flop / s / 1e9).toFixed(2).padStart(9)} ` +
        `${label === 'webgpu' ? (bytes / s / 1e9).toFixed(2).padStart(7) : '      -'}   ${err.toExponential(2)}`,
    );
    corpus.destroy();
  }
}

// Readback: what a GPU top-k could save is the size of the copy, not the round trip. Time map round trips of
// 4 bytes (a top-1) vs 4·N bytes (all scores) for N = 1,000 and 100,000, and the CPU top-10 over N scores.
const md = await createMaxsimDevice(await loadDawnGpu());
const { device } = md;
async function roundTrip(bytes) {
  const src = device.createBuffer({ size: bytes, usage: 0x80 | 0x4 | 0x8 });
  const dst = device.createBuffer({ size: bytes, usage: 0x1 | 0x8 });
  const times = [];
  for (let i = 0; i < 11; i++) {
    const t = performance.now();
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
    device.queue.submit([enc.finish()]);
    await dst.mapAsync(1);
    new Float32Array(dst.getMappedRange().slice(0));
    dst.unmap();
    times.push(performance.now() - t);
  }
  src.destroy();
  dst.destroy();
  times.sort((a, b) => a - b);
  return times[5];
}
console.log('\nreadback (p50 of 11): copy + mapAsync + copy out');
for (const n of [1000, 100_000]) {
  const scores = Float32Array.from({ length: n }, seededRandom(n));
  const t = performance.now();
  for (let i = 0; i < 10; i++) topK(scores, 10);
  const topMs = (performance.now() - t) / 10;
  console.log(
    `  N=${String(n).padEnd(7)} 4 B: ${(await roundTrip(4)).toFixed(3)} ms   ${4 * n} B: ${(await roundTrip(4 * n)).toFixed(3)} ms` +
      `   CPU top-10 of N: ${topMs.toFixed(3)} ms`,
  );
}
md.destroy();
gpuScorer.destroy();
cpuScorer.destroy();
process.exit(0);
