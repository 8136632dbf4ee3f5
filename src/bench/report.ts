// Writing a benchmark report for people: a Markdown table and an SVG chart (grouped bars of GFLOP/s by workload
// and backend, log scale), each naming the machine, adapters and date. Pure string building, no Node imports.
import type { BenchReport, BenchResult } from './harness.js';
import { fmtInt, fmtRate } from './metrics.js';

/** `webgpu-dawn f16`, `cpu-wasm-simd-2t`: a result's series name in tables and the chart legend. */
function seriesName(r: Pick<BenchResult, 'backend' | 'precision' | 'variantRequest'>): string {
  const variant =
    r.variantRequest === undefined || r.variantRequest === null || r.variantRequest === 'auto'
      ? ''
      : ` ${r.variantRequest}`;
  return r.backend.startsWith('webgpu') ? `${r.backend} ${r.precision}${variant}` : r.backend;
}

function ms(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x >= 100) return fmtInt(x);
  if (x >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

/** A ratio to numpy: two decimals from 1 up, two significant digits below (0.013, not 0.01). */
function ratio(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '–';
  return x >= 1 ? x.toFixed(2) : x.toPrecision(2);
}

/**
 * `llvmpipe (sw)`: the adapter's name up to its first ':' and without the trailing `(vendor, architecture)` that
 * describeAdapter adds (the full name is in the machine line), software flagged.
 *
 * @example
 * shortAdapter({ name: 'SwiftShader Device (Subzero) (google, swiftshader)', software: true }); // 'SwiftShader Device (Subzero) (sw)'
 */
export function shortAdapter(a: { readonly name: string; readonly software: boolean }): string {
  const base = a.name.includes(':') ? a.name.slice(0, a.name.indexOf(':')).trim() : a.name;
  const name = base.replace(/ \([^()]*, [^()]*\)$/, '');
  return `${name}${a.software ? ' (sw)' : ''}`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** One line naming where and when: CPU, cores, Node, numpy, adapters (software flagged), date. */
function machineLine(report: BenchReport, options: { readonly shortAdapters?: boolean } = {}): string {
  const m = report.machine;
  const adapters = report.adapters
    .map(
      (a) =>
        `${a.backend}: ${options.shortAdapters === true ? shortAdapter(a) : `${a.name}${a.software ? ' (software)' : ''}`}`,
    )
    .join('; ');
  return [
    `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB`,
    `Node ${m.node}`,
    m.numpy === null ? '' : `numpy ${m.numpy}${m.blas === null ? '' : ` (${m.blas.coretype ?? m.blas.summary})`}`,
    m.browser === null ? '' : m.browser,
    adapters,
    report.date.slice(0, 10),
  ]
    .filter((s) => s !== '')
    .join(' · ');
}

/**
 * The report as Markdown: where and when, notes, one table row per result (workload, documents, backend,
 * adapter, precision, runs, first/p50/p95/kernel times, docs/s, GFLOP/s, GB/s, max |error|, ratio to numpy),
 * skipped cases, and the ingestion figures.
 *
 * @example
 * writeFileSync('bench/results/latest.md', toMarkdown(report));
 */
export function toMarkdown(report: BenchReport): string {
  const lines: string[] = [];
  lines.push('# webgpu-maxsim benchmarks', '');
  lines.push(`Machine: ${machineLine(report)}`, '');
  const o = report.options;
  lines.push(
    `Workloads as in docs/benchmarks.md (seed ${o.seed}); ${o.runs} timed runs after ${o.warmup} warm-up ` +
      `(fewer where a row says so), p50/p95 over the timed runs; first = the first call on a fresh corpus. ` +
      'End to end = queries in, kernel, scores out, on a resident corpus (upload timed apart); kernel = the ' +
      'compute pass alone (timestamp-query where the device has it, else submit→onSubmittedWorkDone with no ' +
      'readback). Rates use the end-to-end p50: GFLOP/s = 2·Lq·ΣLd·d·queries / time; GB/s = document bytes at ' +
      'the stored precision / time; docs/s counts (query, document) pairs. × numpy = numpy p50 / this p50 on ' +
      'the same documents (above 1: faster than numpy). max |err| = largest |score − float64 reference| over a ' +
      'sample of documents.',
    '',
  );
  for (const note of report.notes) lines.push(`> ${note}`, '');
  lines.push(
    '| workload | docs | backend | adapter | prec | variant | runs | first ms | p50 ms | p95 ms | kernel p50 ms | docs/s | GFLOP/s | GB/s | kernel GFLOP/s | max \\|err\\| | numpy p50 ms | × numpy |',
    '|---|--:|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  );
  const numpyAt = (r: BenchResult): BenchResult | undefined =>
    report.results.find((n) => n.backend === 'numpy' && n.workload === r.workload && n.docs === r.docs);
  // numpy ran at every document count another backend used; its own row is shown at the largest of them, and
  // the others' rows carry numpy's p50 at their own count (the JSON has every numpy row).
  const largestNumpy = new Map<string, number>();
  for (const r of report.results) {
    if (r.backend === 'numpy') largestNumpy.set(r.workload, Math.max(largestNumpy.get(r.workload) ?? 0, r.docs));
  }
  const shown = report.results.filter((r) => r.backend !== 'numpy' || largestNumpy.get(r.workload) === r.docs);
  for (const r of shown) {
    const docs = r.docs === r.fullDocs ? fmtInt(r.docs) : `${fmtInt(r.docs)} of ${fmtInt(r.fullDocs)}*`;
    const adapter = r.adapter === null ? (r.backend === 'numpy' ? 'cpu (BLAS)' : 'cpu') : shortAdapter(r.adapter);
    const kernel =
      r.kernel === null ? '–' : `${ms(r.kernel.p50)}${r.kernel.method === 'timestamp-query' ? ' (ts)' : ' (sd)'}`;
    lines.push(
      `| ${r.workload} ${r.workloadName} | ${docs} | ${cell(r.backend)} | ${cell(adapter)} | ${r.precision} | ${cell(r.variant ?? '–')} | ${r.runs}${r.runsNote === '' ? '' : '†'} | ` +
        `${ms(r.firstMs)} | ${ms(r.endToEnd.p50)} | ${ms(r.endToEnd.p95)} | ${kernel} | ${fmtRate(r.docsPerS)} | ` +
        `${fmtRate(r.gflops)} | ${fmtRate(r.gbps)} | ${r.kernelGflops === null ? '–' : fmtRate(r.kernelGflops)} | ` +
        `${r.maxAbsError.toExponential(1)} | ${r.backend === 'numpy' ? '–' : ms(numpyAt(r)?.endToEnd.p50)} | ${ratio(r.vsNumpy)} |`,
    );
  }
  lines.push(
    '',
    '\\* fewer documents than the workload defines, to fit the time budget on a slow backend (see the JSON for each ' +
      'reason). † fewer timed runs than asked, to fit the budget. Kernel timing: (ts) timestamp-query, (sd) ' +
      'submit→onSubmittedWorkDone. (sw) software adapter. numpy p50 ms: numpy on the same documents as the row. ' +
      'variant: the WebGPU kernel that ran and how it was chosen (tuned on the adapter, default, or forced).',
  );
  const backends = [...new Map(report.results.map((r) => [r.backend, r.backendLabel])).entries()];
  if (backends.length > 0) {
    lines.push('', 'Backends:', '');
    for (const [id, label] of backends) lines.push(`- \`${id}\`: ${label}`);
  }
  if (report.skipped.length > 0) {
    lines.push('', 'Skipped:', '');
    for (const s of report.skipped) {
      lines.push(
        `- ${s.backend}${s.workload === null ? '' : ` ${s.workload}`}${s.precision === null ? '' : ` ${s.precision}`}: ${cell(s.reason)}`,
      );
    }
  }
  if (report.ingestion !== null && report.ingestion.rows.length > 0) {
    const rows = report.ingestion.rows;
    const keys = Object.keys(rows[0]!);
    lines.push('', '## Ingestion: /pooling decode (bench/decode.mjs)', '');
    const settings = Object.entries(report.ingestion.settings)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ');
    if (settings !== '') lines.push(`Settings: ${settings}.`, '');
    lines.push(`| ${keys.map(cell).join(' | ')} |`, `|${keys.map(() => '---').join('|')}|`);
    for (const row of rows) lines.push(`| ${keys.map((k) => cell(String(row[k] ?? ''))).join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Colour-blind-safe palette (Okabe–Ito, then Tol's muted), one colour per series. */
const PALETTE = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#CC79A7',
  '#56B4E9',
  '#D55E00',
  '#332288',
  '#999933',
  '#882255',
  '#44AA99',
  '#000000',
];

/**
 * The report as an SVG chart: for each workload a group of bars, one per backend (and precision for WebGPU),
 * height = end-to-end GFLOP/s on a log scale, the value printed on each bar, shrunk runs marked `*`, and a
 * title naming the machine, adapters and date.
 *
 * @example
 * writeFileSync('bench/results/latest.svg', toSvgChart(report));
 */
export function toSvgChart(report: BenchReport): string {
  const results = report.results.filter((r) => Number.isFinite(r.gflops) && r.gflops > 0);
  const workloads = [...new Set(results.map((r) => r.workload))];
  // Series in a stable order: CPU paths, numpy, then WebGPU by backend and precision.
  const series = [...new Set(results.map(seriesName))].sort(
    (a, b) => seriesRank(a) - seriesRank(b) || a.replace(/f32$/, 'f00').localeCompare(b.replace(/f32$/, 'f00')),
  );
  const softwareSeries = new Set(results.filter((r) => r.adapter?.software === true).map(seriesName));
  const bar = 22;
  const gap = 28;
  const left = 70;
  const top = 96;
  const plotH = 320;
  const groupW = Math.max(1, series.length) * bar;
  const plotW = Math.max(1, workloads.length) * (groupW + gap) + gap;
  const legendW = 300;
  const width = left + plotW + legendW;
  const height = top + plotH + 70;
  const values = results.map((r) => r.gflops);
  const lo = Math.floor(Math.log10(Math.min(...values, 1)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values, 1))));
  const y = (v: number): number => top + plotH - ((Math.log10(v) - lo) / (hi - lo)) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    `<title>webgpu-maxsim: MaxSim throughput by workload and backend (GFLOP/s, log scale)</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="24" font-size="16" font-weight="600">MaxSim throughput by workload and backend (effective GFLOP/s, end to end, log scale)</text>`,
    `<text x="${left}" y="44" fill="#444">${xml(truncate(machineLine(report, { shortAdapters: true }), 200))}</text>`,
  );
  const software = report.adapters.filter((a) => a.software).map((a) => a.backend);
  const sub =
    software.length > 0
      ? `Software adapters (${software.join(', ')}): correctness and relative changes only, not GPU speed.`
      : 'Higher is better.';
  out.push(
    `<text x="${left}" y="62" fill="#444">${xml(sub)} * = fewer documents than the workload defines (time budget).</text>`,
  );
  for (let e = lo; e <= hi; e++) {
    const yy = y(10 ** e).toFixed(1);
    out.push(
      `<line x1="${left}" y1="${yy}" x2="${left + plotW}" y2="${yy}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle" fill="#444">${xml(fmtRate(10 ** e))}</text>`,
    );
  }
  out.push(
    `<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#444">GFLOP/s (log)</text>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#444"/>`,
  );
  workloads.forEach((w, wi) => {
    const x0 = left + gap + wi * (groupW + gap);
    const rows = results.filter((r) => r.workload === w);
    series.forEach((s, si) => {
      const r = rows.filter((row) => seriesName(row) === s).sort((a, b) => b.docs - a.docs)[0];
      if (r === undefined) return;
      const x = x0 + si * bar;
      const yy = y(r.gflops);
      const h = top + plotH - yy;
      const label = `${fmtRate(r.gflops)}${r.docs < r.fullDocs ? '*' : ''}`;
      out.push(
        `<rect x="${x + 1}" y="${yy.toFixed(1)}" width="${bar - 2}" height="${Math.max(1, h).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}">` +
          `<title>${xml(`${w} ${s}: ${fmtRate(r.gflops)} GFLOP/s, p50 ${r.endToEnd.p50.toFixed(2)} ms, ${fmtInt(r.docs)} of ${fmtInt(r.fullDocs)} docs`)}</title></rect>`,
        `<text transform="translate(${(x + bar / 2 + 4).toFixed(1)} ${(yy - 4).toFixed(1)}) rotate(-90)" font-size="10" fill="#222">${xml(label)}</text>`,
      );
    });
    const name = rows[0]?.workloadName ?? '';
    out.push(
      `<text x="${x0 + groupW / 2}" y="${top + plotH + 18}" text-anchor="middle" font-weight="600">${xml(w)}</text>`,
      `<text x="${x0 + groupW / 2}" y="${top + plotH + 34}" text-anchor="middle" fill="#444">${xml(name)}</text>`,
    );
  });
  const lx = left + plotW + 20;
  series.forEach((s, si) => {
    const ly = top + si * 20;
    out.push(
      `<rect x="${lx}" y="${ly}" width="14" height="14" fill="${PALETTE[si % PALETTE.length]}"/>`,
      `<text x="${lx + 20}" y="${ly + 11}">${xml(`${s}${softwareSeries.has(s) ? ' (software)' : ''}`)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function seriesRank(name: string): number {
  if (name.startsWith('cpu-typescript')) return 0;
  if (name.startsWith('cpu-wasm-simd-1t')) return 1;
  if (name.startsWith('cpu-')) return 2;
  if (name.startsWith('numpy')) return 3;
  if (name.startsWith('webgpu-dawn')) return 4;
  return 5;
}

function truncate(text: string, n: number): string {
  return text.length <= n ? text : `${text.slice(0, n - 1)}…`;
}
