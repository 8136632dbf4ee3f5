#!/usr/bin/env node
// f16 against f32 upload time for a W1 corpus (1,000 × 300 × 128, docs/benchmarks.md) on the current WebGPU
// adapter, in one process, interleaved rounds (these machines are shared and noisy): the f16 corpus is written as
// f32 slices and converted on the GPU (shaders/convert-f16.wgsl), so it should cost about what f32 costs, not the
// JavaScript f32→f16 conversion it cost before (1.9× f32 on lavapipe). Goal (issue 14): f16 ≤ 1.25× f32.
// Usage: npm run bench:upload-f16   (ROUNDS=n, DOCS=n; VK_ICD_FILENAMES picks the adapter)
import { createScorer } from '../dist/node.js';
import { seededRandom } from '../dist/core/seeded-random.js';

const rounds = Number(process.env.ROUNDS ?? 5);
const count = Number(process.env.DOCS ?? 1000);
const random = seededRandom(20261204);
const docs = Array.from({ length: count }, () => {
  const data = new Float32Array(300 * 128);
  for (let i = 0; i < data.length; i++) data[i] = random() * 2 - 1;
  return { data, rows: 300, dim: 128 };
});
const scorers = {
  f32: await createScorer({ backend: 'webgpu', precision: 'f32', fallback: 'none' }),
  f16: await createScorer({ backend: 'webgpu', precision: 'f16', fallback: 'none' }),
};
console.log(`adapter: ${scorers.f32.info.summary}`);
if (scorers.f32.info.adapter?.isFallbackAdapter) console.log('(software adapter: relative figures only)');
const times = { f32: [], f16: [] };
const ratios = [];
for (let round = 0; round < rounds + 1; round++) {
  const t = {};
  for (const p of round % 2 === 0 ? ['f32', 'f16'] : ['f16', 'f32']) {
    const t0 = performance.now();
    const corpus = await scorers[p].upload(docs);
    // Resident means usable: one score waits for the upload's GPU work to finish.
    await scorers[p].score([docs[0]], corpus);
    t[p] = performance.now() - t0;
    corpus.destroy();
  }
  if (round === 0) continue; // warm-up: pipeline compiles
  times.f32.push(t.f32);
  times.f16.push(t.f16);
  ratios.push(t.f16 / t.f32);
  console.log(
    `round ${round}: f32 ${t.f32.toFixed(0)} ms, f16 ${t.f16.toFixed(0)} ms, f16/f32 ×${(t.f16 / t.f32).toFixed(2)}`,
  );
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `W1 (${count} docs) upload, median of ${rounds} rounds: f32 ${median(times.f32).toFixed(0)} ms, f16 ` +
    `${median(times.f16).toFixed(0)} ms; f16/f32 ×${median(ratios).toFixed(2)} (goal ≤ 1.25)`,
);
for (const s of Object.values(scorers)) await s.destroy();
process.exit(0);
