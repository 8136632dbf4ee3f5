#!/usr/bin/env node
// Reads a `webgpu-maxsim bench` JSON report and prints each WebGPU result beside the anchors of
// docs/benchmarks.md: effective bandwidth against the H200's ~4.3 TB/s measured copy bandwidth, W2 times
// against the targets (f16 ≤ 0.5 ms, f32 ≤ 1.0 ms) and against the fused CUDA kernels' 0.25 ms (W2-shaped bf16
// on an H100), and throughput against numpy on the same data. Plain Node, no imports: it runs with the bundled
// node on the GPU machine.   node bench/gpu-machine/anchors.mjs gpu-bench.json
import { readFileSync } from 'node:fs';

const H200_COPY_GBPS = 4300;
const CUDA_W2_MS = 0.25;
const W2_TARGET_MS = { f16: 0.5, f32: 1.0 };
const file = process.argv[2];
if (file === undefined) {
  console.error('usage: node anchors.mjs REPORT.json');
  process.exit(2);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const adapters = report.adapters.map(
  (a) => `${a.backend}: ${a.name}${a.software ? ' (SOFTWARE: not a GPU figure)' : ''}`,
);
console.log(`anchors for ${file} (${report.date.slice(0, 10)}; ${adapters.join('; ') || 'no WebGPU adapter'})`);
const fmt = (x, d = 3) =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : Number(x.toPrecision(d)).toString();
for (const r of report.results.filter((x) => x.backend.startsWith('webgpu'))) {
  const kernelMs = r.kernel?.p50 ?? null;
  const gbps = r.kernelGbps ?? r.gbps;
  const full = r.docs === r.fullDocs ? '' : ` [${r.docs} of ${r.fullDocs} docs]`;
  const head = `${r.workload} ${r.backend} ${r.precision}${full}:`;
  const parts = [
    `kernel ${fmt(kernelMs)} ms (${r.kernel?.method ?? 'n/a'}), end to end ${fmt(r.endToEnd.p50)} ms`,
    `${fmt(gbps)} GB/s = ${fmt((100 * gbps) / H200_COPY_GBPS, 2)}% of 4.3 TB/s`,
    `${fmt(r.kernelGflops ?? r.gflops)} GFLOP/s`,
  ];
  if (r.workload === 'W2' && kernelMs !== null && r.docs === r.fullDocs) {
    const target = W2_TARGET_MS[r.precision];
    parts.push(
      `target ≤ ${target} ms: ${kernelMs <= target ? 'met' : `missed by ${fmt(kernelMs / target, 2)}×`}`,
      `vs CUDA 0.25 ms (H100, bf16): ${fmt(kernelMs / CUDA_W2_MS, 2)}× its time`,
    );
  }
  if (r.vsNumpy !== null) parts.push(`× numpy ${fmt(r.vsNumpy, 2)} (kernel ${fmt(r.vsNumpyKernel, 2)})`);
  console.log(`  ${head} ${parts.join('; ')}`);
}
for (const s of report.skipped)
  console.log(`  skipped ${s.backend} ${s.workload ?? ''} ${s.precision ?? ''}: ${s.reason}`);
