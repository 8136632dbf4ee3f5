#!/usr/bin/env node
// Folds `webgpu-maxsim bench` JSON reports into the summary committed as bench/results/gpu-h200.json:
//   {"machine", "adapters", "rows": [{"workload", "precision", "variant", "variantRequest", "adapter", "p50Ms",
//     "kernelP50Ms", "kernelMethod", "gflops", "kernelGflops", "kernelGbps", "maxAbsError", "docs", "queries"}]}
// p50Ms is end to end (query upload, dispatch, readback); kernelP50Ms the compute pass on resident documents.
//   node bench/gpu-machine/rows.mjs OUT.json REPORT.json [REPORT.json ...]
import { readFileSync, writeFileSync } from 'node:fs';

const [out, ...files] = process.argv.slice(2);
if (out === undefined || files.length === 0) {
  console.error('usage: node rows.mjs OUT.json REPORT.json [REPORT.json ...]');
  process.exit(2);
}
const rows = [];
let machine = null;
const adapters = new Map();
for (const file of files) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  machine ??= report.machine;
  for (const a of report.adapters) adapters.set(`${a.backend} ${a.name}`, a);
  for (const r of report.results) {
    rows.push({
      workload: r.workload,
      backend: r.backend,
      precision: r.precision,
      variant: r.variant ?? null,
      variantRequest: r.variantRequest ?? null,
      adapter: r.adapter?.name ?? null,
      software: r.adapter?.software ?? null,
      docs: r.docs,
      queries: r.queries,
      p50Ms: r.endToEnd.p50,
      kernelP50Ms: r.kernel?.p50 ?? null,
      kernelMethod: r.kernel?.method ?? null,
      gflops: r.gflops,
      kernelGflops: r.kernelGflops ?? null,
      kernelGbps: r.kernelGbps ?? null,
      maxAbsError: r.maxAbsError,
      vsNumpy: r.vsNumpy ?? null,
    });
  }
}
writeFileSync(out, `${JSON.stringify({ machine, adapters: [...adapters.values()], rows }, null, 1)}\n`);
console.log(`${rows.length} rows -> ${out}`);
