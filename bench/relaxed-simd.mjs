#!/usr/bin/env node
// Relaxed SIMD (f32x4.relaxed_madd) against standard WASM SIMD on the CPU path, W1 (1,000 × 300 × 128, Lq 32),
// one thread, interleaved rounds in one process (these machines are shared and noisy). Node 20 validates relaxed
// SIMD only with a flag:  node --experimental-wasm-relaxed-simd bench/relaxed-simd.mjs   (ROUNDS=n, RUNS=n)
import { createScorer } from '../dist/node.js';
import { seededRandom } from '../dist/core/seeded-random.js';

const rounds = Number(process.env.ROUNDS ?? 5);
const runs = Number(process.env.RUNS ?? 5);
const random = seededRandom(20261204);
const matrix = (rows) => {
  const data = new Float32Array(rows * 128);
  for (let i = 0; i < data.length; i++) data[i] = random() * 2 - 1;
  return { data, rows, dim: 128 };
};
const docs = Array.from({ length: 1000 }, () => matrix(300));
const query = matrix(32);
const scorers = {};
for (const kernel of ['wasm-simd', 'wasm-relaxed-simd']) {
  scorers[kernel] = await createScorer({ backend: 'cpu', cpu: { kernel, threads: 1 } });
}
console.log(
  Object.values(scorers)
    .map((s) => s.info.summary)
    .join('; '),
);
const corpora = {};
for (const [k, s] of Object.entries(scorers)) corpora[k] = await s.upload(docs);
const p50 = async (k) => {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await scorers[k].score([query], corpora[k]);
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)];
};
const a = await scorers['wasm-simd'].score([query], corpora['wasm-simd']);
const b = await scorers['wasm-relaxed-simd'].score([query], corpora['wasm-relaxed-simd']);
let maxDiff = 0;
for (let i = 0; i < a[0].length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[0][i] - b[0][i]));
const ratios = [];
for (let r = 0; r < rounds; r++) {
  const simd = await p50('wasm-simd');
  const relaxed = await p50('wasm-relaxed-simd');
  ratios.push(simd / relaxed);
  console.log(
    `round ${r + 1}: wasm-simd ${simd.toFixed(1)} ms, relaxed ${relaxed.toFixed(1)} ms, speed-up ×${(simd / relaxed).toFixed(2)}`,
  );
}
ratios.sort((x, y) => x - y);
console.log(
  `relaxed SIMD speed-up on W1, 1 thread: median ×${ratios[Math.floor(rounds / 2)].toFixed(2)} (rounds ×${ratios[0].toFixed(2)}–×${ratios.at(-1).toFixed(2)}); max |score difference| ${maxDiff.toExponential(2)}`,
);
for (const s of Object.values(scorers)) s.destroy();
