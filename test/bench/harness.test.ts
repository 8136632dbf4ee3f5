// The benchmark harness's pure parts (no GPU, no timing asserted): workload generation, the metric arithmetic,
// time-budget planning, the Markdown/SVG writers, progress output, and the `bench` CLI end to end on the
// smallest workload (CPU + numpy). `npm test` builds first, so dist/ is current here.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { BenchReport, BenchResult } from '../../src/bench/harness.js';
import { parseBackendList, parsePrecisionList } from '../../src/bench/harness.js';
import { runsWithinBudget } from '../../src/bench/measure.js';
import {
  documentBytes,
  floorTwoDigits,
  maxAbsDifference,
  percentile,
  planDocuments,
  rates,
  sampleIndices,
  summarizeTimes,
  workFlop,
} from '../../src/bench/metrics.js';
import { numpyEnvironment } from '../../src/bench/numpy.js';
import { createProgress } from '../../src/bench/progress.js';
import { shortAdapter, toMarkdown, toSvgChart } from '../../src/bench/report.js';
import {
  generateWorkload,
  parseWorkloadList,
  workloadPrefix,
  workloadTokens,
  WORKLOADS,
  WORKLOAD_IDS,
} from '../../src/bench/workloads.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

describe('workloads', () => {
  it('defines W0–W5 exactly as performance.md does', () => {
    const shape = (id: keyof typeof WORKLOADS) => {
      const w = WORKLOADS[id];
      return [w.lq, w.queries, w.minLd, w.maxLd, w.dim, w.docs];
    };
    expect(WORKLOAD_IDS).toEqual(['W0', 'W1', 'W2', 'W3', 'W4', 'W5']);
    expect(shape('W0')).toEqual([32, 1, 180, 180, 128, 100]);
    expect(shape('W1')).toEqual([32, 1, 300, 300, 128, 1000]);
    expect(shape('W2')).toEqual([32, 1, 300, 300, 128, 10_000]);
    expect(shape('W3')).toEqual([32, 1, 128, 1536, 128, 1000]);
    expect(shape('W4')).toEqual([32, 1, 128, 512, 1024, 1000]);
    expect(shape('W5')).toEqual([32, 64, 300, 300, 128, 1000]);
    // W1 is 153.6 MB of fp32 documents, W2 1.536 GB: the sizes performance.md quotes.
    expect(WORKLOADS.W1.docs * 300 * 128 * 4).toBe(153_600_000);
  });

  it('generates the shapes asked for, L2-normalised, with ΣLd matching the offsets', () => {
    const w3 = generateWorkload(WORKLOADS.W3, { docs: 40, seed: 7 });
    expect(w3.packed.count).toBe(40);
    expect(w3.packed.dim).toBe(128);
    expect(w3.queries).toHaveLength(1);
    expect(w3.queries[0]!.rows).toBe(32);
    const lengths = Array.from({ length: 40 }, (_, i) => w3.packed.rowOffsets[i + 1]! - w3.packed.rowOffsets[i]!);
    for (const n of lengths) {
      expect(n).toBeGreaterThanOrEqual(128);
      expect(n).toBeLessThanOrEqual(1536);
    }
    expect(new Set(lengths).size).toBeGreaterThan(30); // ragged, not constant
    const sum = lengths.reduce((a, b) => a + b, 0);
    expect(w3.packed.totalRows).toBe(sum);
    expect(w3.packed.data.length).toBe(sum * 128);
    expect(workloadTokens(WORKLOADS.W3, 40, 7)).toBe(sum);
    for (const row of [0, 1, sum - 1]) {
      let sq = 0;
      for (let c = 0; c < 128; c++) sq += w3.packed.data[row * 128 + c]! ** 2;
      expect(Math.sqrt(sq)).toBeCloseTo(1, 5);
    }
    const w5 = generateWorkload(WORKLOADS.W5, { docs: 2 });
    expect(w5.queries).toHaveLength(64);
    expect(w5.packed.totalRows).toBe(600);
    expect(workloadTokens(WORKLOADS.W1, 1000)).toBe(300_000);
  });

  it('is reproducible from the seed, different across seeds, and a shrunk workload is a prefix of the full', () => {
    const a = generateWorkload(WORKLOADS.W4, { docs: 6, seed: 11 });
    const b = generateWorkload(WORKLOADS.W4, { docs: 6, seed: 11 });
    const c = generateWorkload(WORKLOADS.W4, { docs: 6, seed: 12 });
    expect(Buffer.from(a.packed.data.buffer).equals(Buffer.from(b.packed.data.buffer))).toBe(true);
    expect(a.packed.rowOffsets).toEqual(b.packed.rowOffsets);
    expect(a.queries[0]!.data).toEqual(b.queries[0]!.data);
    expect(a.packed.data.subarray(0, 128)).not.toEqual(c.packed.data.subarray(0, 128));
    const small = generateWorkload(WORKLOADS.W4, { docs: 3, seed: 11 });
    const prefix = workloadPrefix(a, 3);
    expect(prefix.packed.totalRows).toBe(small.packed.totalRows);
    expect(prefix.packed.rowOffsets).toEqual(small.packed.rowOffsets);
    expect(Buffer.from(prefix.packed.data.slice().buffer).equals(Buffer.from(small.packed.data.buffer))).toBe(true);
    expect(prefix.queries[0]!.data).toEqual(small.queries[0]!.data);
  });

  it('parses workload, backend and precision lists and rejects unknown names', () => {
    expect(parseWorkloadList('w3, W1,W3')).toEqual(['W3', 'W1']);
    expect(parseWorkloadList('all')).toEqual([...WORKLOAD_IDS]);
    expect(() => parseWorkloadList('W9')).toThrow(/unknown workload "W9"/);
    expect(parseBackendList('cpu,numpy')).toEqual(['cpu', 'numpy']);
    expect(parseBackendList('all')).toEqual(['cpu', 'webgpu', 'browser', 'numpy']);
    expect(() => parseBackendList('cuda')).toThrow(/unknown backend "cuda"/);
    expect(parsePrecisionList('f16,f32,f16')).toEqual(['f16', 'f32']);
    expect(() => parsePrecisionList('bf16')).toThrow(/unknown precision/);
  });
});

describe('metrics', () => {
  it('computes percentiles by linear interpolation, like numpy', () => {
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    expect(percentile([5], 95)).toBe(5);
    const hundred = Array.from({ length: 101 }, (_, i) => 100 - i); // 0..100, unsorted
    expect(percentile(hundred, 95)).toBe(95);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBeCloseTo(9.55, 10);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
    expect(summarizeTimes([3, 1, 2])).toEqual({ p50: 2, p95: 2.9, min: 1, runs: 3 });
  });

  it('turns a time into docs/s, effective GFLOP/s (2·Lq·ΣLd·d) and GB/s (document bytes)', () => {
    const w1 = { lq: 32, queries: 1, docs: 1000, totalTokens: 300_000, dim: 128, bytesPerElement: 4 };
    expect(workFlop(w1)).toBe(2 * 32 * 300_000 * 128);
    expect(documentBytes(w1)).toBe(153_600_000);
    const r = rates(w1, 100);
    expect(r.docsPerS).toBeCloseTo(10_000, 6);
    expect(r.gflops).toBeCloseTo(24.576, 9);
    expect(r.gbps).toBeCloseTo(1.536, 9);
    // W5: 64 queries share one read of the documents; f16 halves the bytes.
    const w5 = { ...w1, queries: 64, bytesPerElement: 2 };
    const r5 = rates(w5, 1000);
    expect(r5.docsPerS).toBeCloseTo(64_000, 6);
    expect(r5.gflops).toBeCloseTo(64 * 2.4576, 9);
    expect(r5.gbps).toBeCloseTo(0.0768, 12);
  });

  it('plans the full workload when it fits the budget, else a two-digit count that does, or the given scale', () => {
    const base = { fullDocs: 1000, flopPerDoc: 2.4576e6, calls: 23, budgetS: 5 };
    expect(planDocuments({ ...base, expectedGflops: 100 })).toEqual({ docs: 1000, reason: '' });
    const slow = planDocuments({ ...base, expectedGflops: 1 });
    // 1000 docs would take 56.5 s; 5 s allows 88.4 documents.
    expect(slow.docs).toBe(88);
    expect(slow.reason).toMatch(/shrunk to 88 of 1,000 docs to fit a 5 s budget at ~1 GFLOP\/s/);
    expect(planDocuments({ ...base, expectedGflops: 0.001 }).docs).toBe(1);
    const scaled = planDocuments({ ...base, expectedGflops: 0.001, scale: 0.25 });
    expect(scaled).toEqual({ docs: 250, reason: 'scaled to 250 of 1,000 docs (--scale-docs 0.25)' });
    expect(planDocuments({ ...base, expectedGflops: 0.001, scale: 1 })).toEqual({ docs: 1000, reason: '' });
    expect(floorTwoDigits(1786)).toBe(1700);
    expect(floorTwoDigits(94.7)).toBe(94);
    expect(floorTwoDigits(10_000)).toBe(10_000);
    expect(floorTwoDigits(0.2)).toBe(1);
  });

  it('cuts timed runs to the budget left, never below the minimum, and says so', () => {
    const s = { runs: 20, minRuns: 5, budgetS: 10 };
    expect(runsWithinBudget(s, 1, 0.1)).toEqual({ runs: 20, note: '' });
    expect(runsWithinBudget(s, 2, 1)).toEqual({ runs: 8, note: 'runs cut to 8 of 20 to fit the 10 s budget' });
    expect(runsWithinBudget(s, 9, 5).runs).toBe(5);
  });

  it('samples documents evenly and compares scores, counting finiteness mismatches apart', () => {
    expect(sampleIndices(1000, 4)).toEqual([0, 333, 666, 999]);
    expect(sampleIndices(3, 8)).toEqual([0, 1, 2]);
    expect(maxAbsDifference([1, 2, -Infinity], [1.5, 2, -Infinity])).toEqual({ max: 0.5, mismatched: 0 });
    expect(maxAbsDifference([1, NaN], [1, 2])).toEqual({ max: 0, mismatched: 1 });
  });

  it('strips the OpenBLAS overrides from the numpy environment only', () => {
    const env = { OPENBLAS_CORETYPE: 'Haswell', OPENBLAS_L2_SIZE: '1024', PATH: '/usr/bin' };
    expect(numpyEnvironment(env)).toEqual({ PATH: '/usr/bin' });
    expect(env.OPENBLAS_CORETYPE).toBe('Haswell');
  });
});

function result(over: Partial<BenchResult>): BenchResult {
  const t = { p50: 10, p95: 12, min: 9, runs: 20 };
  return {
    workload: 'W1',
    workloadName: 'colbert-1k',
    backend: 'cpu-wasm-simd-2t',
    backendLabel: 'cpu (wasm-simd, 2 threads)',
    adapter: null,
    precision: 'f32',
    docs: 1000,
    fullDocs: 1000,
    queries: 1,
    lq: 32,
    dim: 128,
    totalTokens: 300_000,
    flop: 2.4576e9,
    documentBytes: 1.536e8,
    shrinkNote: '',
    warmup: 2,
    runs: 20,
    runsNote: '',
    setupMs: null,
    uploadMs: 5,
    firstMs: 15,
    endToEnd: t,
    kernel: null,
    docsPerS: 100_000,
    gflops: 245.76,
    gbps: 15.36,
    kernelGflops: null,
    kernelGbps: null,
    maxAbsError: 4e-7,
    errorSample: 8,
    vsNumpy: 1.25,
    vsNumpyKernel: null,
    ...over,
  };
}

const report: BenchReport = {
  schema: 'webgpu-maxsim-bench/1',
  date: '2026-11-28T12:00:00.000Z',
  machine: {
    cpuModel: 'AMD EPYC <test> & co',
    cores: 2,
    memoryGiB: 24,
    os: 'linux x64',
    node: 'v20.20.0',
    browser: null,
    numpy: '2.4.6',
    blas: { summary: 'OpenBLAS', threads: 2, coretype: 'Zen' },
  },
  adapters: [{ backend: 'webgpu-dawn', name: 'llvmpipe', software: true, features: ['shader-f16'] }],
  options: {
    workloads: ['W0', 'W1'],
    backends: ['cpu', 'webgpu', 'numpy'],
    precisions: ['f32', 'f16'],
    runs: 20,
    warmup: 2,
    minRuns: 5,
    budgetS: 5,
    seed: 1,
    threads: 2,
    sample: 8,
    ingest: false,
  },
  notes: ['Software adapters run on the CPU.'],
  results: [
    result({ workload: 'W0', workloadName: 'latency-100', docs: 100, fullDocs: 100, gflops: 40 }),
    result({}),
    result({ backend: 'numpy', backendLabel: 'numpy 2.4.6', gflops: 60, vsNumpy: 1 }),
    result({
      backend: 'numpy',
      backendLabel: 'numpy 2.4.6',
      docs: 88,
      gflops: 55,
      vsNumpy: 1,
      endToEnd: { p50: 0.75, p95: 0.8, min: 0.7, runs: 20 },
    }),
    result({
      backend: 'webgpu-dawn',
      adapter: { name: 'llvmpipe | mesa', software: true },
      precision: 'f16',
      docs: 88,
      shrinkNote: 'shrunk to 88 of 1,000 docs',
      gflops: 1.5,
      kernel: { p50: 9, p95: 9.5, min: 8, runs: 20, method: 'timestamp-query', submitDoneP50: 9.8 },
      kernelGflops: 1.7,
      runsNote: 'runs cut to 5 of 20',
      vsNumpy: 0.02,
    }),
  ],
  skipped: [{ backend: 'webgpu-chromium', workload: null, precision: null, reason: 'no browser at /usr/bin/chromium' }],
  ingestion: { settings: { docs: 1000 }, rows: [{ encoding: 'bytes float32', 'decoded GB/s': '1.2' }] },
};

/** Checks that tags open and close in order (enough to catch a writer that drops or misnests an element). */
function assertBalancedXml(text: string): number {
  const stack: string[] = [];
  let elements = 0;
  for (const m of text.matchAll(/<(\/?)([a-zA-Z][\w:-]*)([^>]*?)(\/?)>/g)) {
    const [, closing, name, , selfClosing] = m;
    if (closing === '/') expect(stack.pop()).toBe(name);
    else {
      elements++;
      if (selfClosing !== '/') stack.push(name!);
    }
  }
  expect(stack).toEqual([]);
  // Outside tags, no raw '<' or unescaped '&'.
  const textOnly = text.replace(/<[^>]*>/g, '');
  expect(textOnly).not.toMatch(/[<>]|&(?!amp;|lt;|gt;|quot;)/);
  return elements;
}

describe('report writers', () => {
  it('writes a Markdown table with one row per result, every row as wide as the header', () => {
    const md = toMarkdown(report);
    const rows = md.split('\n').filter((l) => l.startsWith('| W'));
    expect(rows).toHaveLength(4);
    const header = md.split('\n').find((l) => l.startsWith('| workload'))!;
    const cells = (line: string): number => line.replace(/\\\|/g, '').split('|').length;
    for (const row of rows) expect(cells(row)).toBe(cells(header));
    expect(md).toContain('88 of 1,000*'); // shrunk workloads are marked
    expect(md).toContain('llvmpipe \\| mesa'); // pipes inside cells are escaped
    expect(md).toContain('9.00 (ts)');
    expect(md).toContain('| 20† |'); // runs cut are marked
    expect(md).toMatch(/AMD EPYC <test> & co, 2 cores/);
    expect(md).toContain('webgpu-dawn: llvmpipe (software)');
    expect(shortAdapter({ name: 'SwiftShader Device (Subzero) (google, swiftshader)', software: true })).toBe(
      'SwiftShader Device (Subzero) (sw)',
    );
    expect(shortAdapter({ name: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) (mesa, software)', software: true })).toBe(
      'llvmpipe (sw)',
    );
    expect(shortAdapter({ name: 'NVIDIA H200 (nvidia, hopper)', software: false })).toBe('NVIDIA H200');
    expect(md).toContain('> Software adapters run on the CPU.');
    expect(md).toContain('webgpu-chromium: no browser at /usr/bin/chromium');
    expect(md).toContain('| bytes float32 | 1.2 |');
    // numpy's own row appears at its largest document count; other rows carry numpy's p50 at their own count.
    expect(md).not.toMatch(/\| 88 of 1,000\* \| numpy/);
    expect(md).toMatch(/\| webgpu-dawn \| llvmpipe \\\| mesa \(sw\) \| f16 \| – \| 20† \|.*\| 0\.75 \| 0\.020 \|$/m);
  });

  it('writes a well-formed SVG: one bar per series and workload, log-scale gridlines, escaped text', () => {
    const svg = toSvgChart(report);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(assertBalancedXml(svg)).toBeGreaterThan(20);
    const bars = [...svg.matchAll(/<rect [^>]*fill="#[0-9A-F]{6}"><title>/g)];
    expect(bars).toHaveLength(4);
    expect(svg).toContain('AMD EPYC &lt;test&gt; &amp; co');
    // Decades from 1 to 1,000 GFLOP/s cover 1.5 … 245.76.
    for (const label of ['>1<', '>10<', '>100<', '>1,000<']) expect(svg).toContain(label);
    expect(svg).toContain('1.5*'); // the shrunk bar is marked
    expect(svg).toContain('webgpu-dawn f16'); // legend names backend and precision for WebGPU
    // Taller bar for the larger rate.
    const height = (gflops: string): number =>
      Number(new RegExp(`height="([\\d.]+)"[^>]*><title>W1 [^:]+: ${gflops} GFLOP`).exec(svg)![1]);
    expect(height('246')).toBeGreaterThan(height('60'));
  });
});

describe('progress', () => {
  const collect = (isTTY: boolean) => {
    const out: string[] = [];
    return { out, stream: { isTTY, columns: 80, write: (t: string) => out.push(t) } };
  };

  it('prints plain lines when stderr is not a terminal', () => {
    const { out, stream } = collect(false);
    const p = createProgress(2, stream);
    p.start('W1 cpu');
    p.note('shrunk');
    p.done('p50 1 ms');
    p.finish();
    expect(out.join('')).toBe('[1/2] W1 cpu ...\nnote: shrunk\n[1/2] W1 cpu: p50 1 ms\n');
  });

  it('redraws a bar on a terminal (or with --progress) and keeps finished lines above it', () => {
    const { out, stream } = collect(true);
    const p = createProgress(4, stream, { now: () => 0 });
    p.start('W2 webgpu-dawn f16');
    p.done('ok');
    p.finish();
    const text = out.join('');
    expect(text).toContain('[------------------------] 0/4 0:00  W2 webgpu-dawn f16');
    expect(text).toContain('  W2 webgpu-dawn f16: ok\n');
    expect(text).toContain('[######------------------] 1/4');
    expect(text.endsWith('\r\x1b[2K')).toBe(true);
    const forced = collect(false);
    createProgress(1, forced.stream, { force: true }).start('x');
    expect(forced.out.join('')).toContain('[------------------------] 0/1');
  });
});

describe('bench CLI', () => {
  const cli = join(root, 'dist', 'cli.js');

  it('documents itself with --help and is listed by the CLI', async () => {
    const { stdout } = await run(process.execPath, [cli, 'bench', '--help']);
    expect(stdout).toContain('Usage: webgpu-maxsim bench');
    for (const id of WORKLOAD_IDS) expect(stdout).toContain(`  ${id} `);
    expect(stdout).toContain('--scale-docs');
    const { stdout: top } = await run(process.execPath, [cli, '--help']);
    expect(top).toMatch(/\n {2}bench +benchmark workloads W0–W5/);
  });

  it('rejects bad options with a message and a non-zero exit', async () => {
    const bad = await run(process.execPath, [cli, 'bench', '--workload', 'W7']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((bad as { code: number }).code).not.toBe(0);
    expect((bad as { stderr: string }).stderr).toMatch(/unknown workload "W7"/);
    const scale = await run(process.execPath, [cli, 'bench', '--scale-docs', '2']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((scale as { stderr: string }).stderr).toMatch(/--scale-docs is "2", expected a number in \(0, 1\]/);
  });

  it('runs W0 on the WASM CPU path beside numpy and writes JSON, Markdown and SVG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-cli-'));
    try {
      const files = { json: join(dir, 'r.json'), md: join(dir, 'r.md'), svg: join(dir, 'r.svg') };
      const { stderr } = await run(
        process.execPath,
        [
          cli,
          'bench',
          '--workload',
          'W0',
          '--backend',
          'cpu-wasm-1,numpy',
          '--runs',
          '3',
          '--warmup',
          '1',
          '--min-runs',
          '1',
          '--json',
          files.json,
          '--markdown',
          files.md,
          '--chart',
          files.svg,
          '--quiet',
        ],
        { timeout: 60_000 },
      );
      expect(stderr).toMatch(/\[1\/2\] W0 cpu-wasm-simd-1t/);
      const r = JSON.parse(readFileSync(files.json, 'utf8')) as BenchReport;
      expect(r.schema).toBe('webgpu-maxsim-bench/1');
      expect(r.machine.cores).toBeGreaterThan(0);
      expect(r.skipped).toEqual([]);
      expect(r.results.map((x) => x.backend)).toEqual(['cpu-wasm-simd-1t', 'numpy']);
      for (const x of r.results) {
        expect(x.docs).toBe(100);
        expect(x.totalTokens).toBe(18_000);
        expect(x.runs).toBe(3);
        expect(x.maxAbsError).toBeLessThan(1e-4); // both against the float64 reference
        expect(x.gflops).toBeCloseTo(x.flop / (x.endToEnd.p50 / 1000) / 1e9, 6);
      }
      const [wasm, numpy] = r.results;
      expect(wasm!.vsNumpy).toBeCloseTo(numpy!.endToEnd.p50 / wasm!.endToEnd.p50, 9);
      expect(numpy!.backendLabel).toMatch(/^numpy \d/);
      expect(readFileSync(files.md, 'utf8')).toContain('| W0 latency-100 | 100 | cpu-wasm-simd-1t |');
      assertBalancedXml(readFileSync(files.svg, 'utf8'));
      // --from-json re-renders a saved report without measuring: the same Markdown.
      const again = join(dir, 'again.md');
      await run(process.execPath, [cli, 'bench', '--from-json', files.json, '--markdown', again, '--quiet']);
      expect(readFileSync(again, 'utf8')).toBe(readFileSync(files.md, 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the browser page module free of Node-only imports', () => {
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = readFileSync(file, 'utf8');
      expect(code, file).not.toMatch(/from ['"]node:|import\(['"]node:/);
      for (const m of code.matchAll(/(?:from|import\()\s*['"](\.[^'"]+)['"]/g)) visit(resolve(dirname(file), m[1]!));
    };
    visit(join(root, 'dist', 'bench', 'page.js'));
    expect(seen.size).toBeGreaterThan(5);
  });
});
