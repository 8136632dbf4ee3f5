// The benchmark harness behind `webgpu-maxsim bench`: the standard workloads (bench-workloads.ts) on every
// backend (the CPU kernels, WebGPU through Dawn, WebGPU in headless Chromium) beside numpy on the same data in
// the same invocation, into one report (bench-report.ts writes it as Markdown and SVG). Node-only.
//
// On a slow backend (the TypeScript kernel, a software adapter) a full workload can take minutes per call, so
// each measurement has a time budget: the document count is planned from the rate the backend showed on the
// previous workload (W0 serves as the probe) and shrunk to fit, always saying so; numpy then runs on exactly
// the sizes the other backends used, so every ratio compares the same data.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserBench } from './browser.js';
import { measureEngine, type Measurement, type MeasureSettings } from './measure.js';
import {
  documentBytes,
  fmtRate,
  planDocuments,
  rates,
  sampleIndices,
  summarizeTimes,
  workFlop,
  type TimeSummary,
  type WorkShape,
} from './metrics.js';
import { runNumpyReference, type NumpyBlas } from './numpy.js';
import type { Progress } from './progress.js';
import { describeVariant, startWebGpuBench, type WebGpuBench } from './webgpu.js';
import {
  generateWorkload,
  packedDocument,
  workloadPrefix,
  workloadTokens,
  WORKLOADS,
  type WorkloadData,
  type WorkloadId,
  type WorkloadSpec,
} from './workloads.js';
import { createCpuEngine, type CpuEngine } from '../cpu/engine.js';
import { wasmRelaxedSimdSupported } from '../cpu/wasm-kernel.js';
import { BenchmarkError } from './errors.js';
import { InvalidArgumentError } from '../core/errors.js';
import { maxsimReference } from '../core/reference.js';
import type { ScorerInfo, VariantChoiceInfo } from '../core/scorer.js';
import { nodeCpuWorkerFactory } from '../node/cpu-workers.js';

/** What `--backend` accepts: `cpu` is all three CPU paths. */
export type BackendChoice = 'cpu' | 'cpu-typescript' | 'cpu-wasm-1' | 'cpu-wasm' | 'webgpu' | 'browser' | 'numpy';

/** Every `--backend` value. */
const BACKEND_CHOICES: readonly BackendChoice[] = [
  'cpu',
  'cpu-typescript',
  'cpu-wasm-1',
  'cpu-wasm',
  'webgpu',
  'browser',
  'numpy',
];

/**
 * Parses `cpu,webgpu` into backend choices (`all` for every backend).
 *
 * @example
 * parseBackendList('cpu,numpy'); // ['cpu', 'numpy']
 */
export function parseBackendList(text: string): BackendChoice[] {
  if (text.trim().toLowerCase() === 'all') return ['cpu', 'webgpu', 'browser', 'numpy'];
  const out: BackendChoice[] = [];
  for (const part of text.split(',')) {
    const name = part.trim().toLowerCase();
    if (!(BACKEND_CHOICES as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(
        `unknown backend ${JSON.stringify(part.trim())}: expected ${BACKEND_CHOICES.join(', ')} or all`,
      );
    }
    if (!out.includes(name as BackendChoice)) out.push(name as BackendChoice);
  }
  if (out.length === 0) throw new InvalidArgumentError('no backend named: expected e.g. cpu,webgpu,numpy');
  return out;
}

/**
 * Parses `f32,f16`.
 *
 * @example
 * parsePrecisionList('f16'); // ['f16']
 */
export function parsePrecisionList(text: string): ('f32' | 'f16')[] {
  const out: ('f32' | 'f16')[] = [];
  for (const part of text.split(',')) {
    const p = part.trim().toLowerCase();
    if (p !== 'f32' && p !== 'f16')
      throw new InvalidArgumentError(`unknown precision ${JSON.stringify(part.trim())}: expected f32 or f16`);
    if (!out.includes(p)) out.push(p);
  }
  if (out.length === 0) throw new InvalidArgumentError('no precision named: expected f32, f16 or f32,f16');
  return out;
}

/** Options for {@link runBenchmarks}. */
export interface BenchOptions {
  readonly workloads: readonly WorkloadId[];
  readonly backends: readonly BackendChoice[];
  readonly precisions: readonly ('f32' | 'f16')[];
  /**
   * WebGPU kernel variants to measure (Dawn): `auto` (the library's choice, tuned on hardware adapters),
   * `auto-f16math` (the choice among f16-arithmetic variants; f16 only), or variant names such as `baseline`,
   * `q128-subgroup`. Default `['auto']`.
   */
  readonly variants?: readonly string[];
  /** Timed runs per measurement (after warm-up). */
  readonly runs: number;
  readonly warmup: number;
  /** Fewest timed runs when a call turns out slower than planned. */
  readonly minRuns: number;
  /** Seconds per measurement, used to shrink slow cases (ignored when `scaleDocs` is set). */
  readonly budgetS: number;
  /** Run every workload at this fraction of its documents, on every backend (1 = the full workloads). */
  readonly scaleDocs?: number;
  readonly seed: number;
  /** Worker threads of the multi-threaded WASM path. */
  readonly threads: number;
  /** Documents per measurement checked against the float64 reference. */
  readonly sample: number;
  /** Run the /pooling decode bench (bench/decode.mjs, source checkouts only). */
  readonly ingest: boolean;
  readonly progress: Progress;
}

/** An adapter as the report names it. */
export interface AdapterInfo {
  readonly name: string;
  readonly software: boolean;
}

/** One row of the report: one workload on one backend at one precision. */
export interface BenchResult {
  readonly workload: WorkloadId;
  readonly workloadName: string;
  /** e.g. `cpu-wasm-simd-2t`, `webgpu-dawn`, `webgpu-chromium`, `numpy`. */
  readonly backend: string;
  /** e.g. `cpu (wasm-simd, 2 threads)`, `numpy 2.4.6 + OpenBLAS …`. */
  readonly backendLabel: string;
  readonly adapter: AdapterInfo | null;
  readonly precision: 'f32' | 'f16';
  /** WebGPU: the kernel variant that ran and how it was chosen (`q32 (tuned)`); null elsewhere. */
  readonly variant?: string | null;
  /** WebGPU (Dawn): the variant asked for (`auto`, `auto-f16math`, or a name). */
  readonly variantRequest?: string | null;
  /** WebGPU: every variant choice the engine made, with the tuning timings. */
  readonly variantChoices?: readonly VariantChoiceInfo[];
  readonly docs: number;
  readonly fullDocs: number;
  readonly queries: number;
  readonly lq: number;
  readonly dim: number;
  readonly totalTokens: number;
  readonly flop: number;
  readonly documentBytes: number;
  /** Why fewer documents than the workload defines; empty at full size. */
  readonly shrinkNote: string;
  readonly warmup: number;
  readonly runs: number;
  readonly runsNote: string;
  /** Engine set-up (device + pipeline compile for WebGPU), on the first workload of a backend only. */
  readonly setupMs: number | null;
  readonly uploadMs: number | null;
  readonly firstMs: number;
  /** End to end: queries in, kernel, scores out. */
  readonly endToEnd: TimeSummary;
  /** Kernel only (WebGPU): the compute pass of a prepared dispatch on a resident corpus. */
  readonly kernel: (TimeSummary & { readonly method: string; readonly submitDoneP50: number }) | null;
  readonly docsPerS: number;
  readonly gflops: number;
  readonly gbps: number;
  readonly kernelGflops: number | null;
  readonly kernelGbps: number | null;
  /** Largest |score − float64 reference| over the sample. */
  readonly maxAbsError: number;
  /** (query, document) pairs in the sample. */
  readonly errorSample: number;
  /** numpy p50 / this p50 at the same documents (> 1: faster than numpy); null without numpy. */
  readonly vsNumpy: number | null;
  readonly vsNumpyKernel: number | null;
}

/** A backend or measurement that could not run, and why. */
export interface SkippedCase {
  readonly backend: string;
  readonly workload: WorkloadId | null;
  readonly precision: 'f32' | 'f16' | null;
  readonly reason: string;
}

/** The /pooling decode figures from bench/decode.mjs. */
export interface IngestionReport {
  readonly settings: Record<string, unknown>;
  readonly rows: readonly Record<string, unknown>[];
}

/** The machine a report was measured on. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly browser: string | null;
  readonly numpy: string | null;
  readonly blas: NumpyBlas | null;
}

/** Everything one invocation measured. */
export interface BenchReport {
  readonly schema: 'webgpu-maxsim-bench/1';
  readonly date: string;
  readonly machine: MachineInfo;
  readonly adapters: readonly (AdapterInfo & { readonly backend: string; readonly features: readonly string[] })[];
  readonly options: Omit<BenchOptions, 'progress'>;
  readonly notes: readonly string[];
  readonly results: readonly BenchResult[];
  readonly skipped: readonly SkippedCase[];
  readonly ingestion: IngestionReport | null;
}

/** A backend ready to measure, with what the report says about it. */
interface LiveCase {
  readonly key: string;
  readonly backend: string;
  readonly label: string;
  readonly adapter: AdapterInfo | null;
  readonly precision: 'f32' | 'f16';
  readonly variantRequest: string | null;
  /** Kernel-only runs are timed too (doubles the calls). */
  readonly kernel: boolean;
  setupMs: number | null;
  /** GFLOP/s expected on the next workload: a guess first, then what the last workload measured. */
  expectedGflops: number;
  measure(
    data: WorkloadData,
    settings: MeasureSettings,
  ): Promise<{
    m: Measurement;
    setupMs: number | null;
    variant?: string | null;
    variantChoices?: readonly VariantChoiceInfo[];
  }>;
  close(): Promise<void>;
}

/** First guesses (GFLOP/s) before a backend has measured anything; W0 replaces them. */
const FIRST_GUESS = {
  typescript: 1,
  wasmPerThread: 12,
  softwareGpu: 1.5,
  hardwareGpu: 2000,
  numpy: 30,
} as const;

/**
 * Runs the benchmark: every selected workload on every selected backend and precision, numpy on the same
 * data, and the ingestion bench when asked. Backends that cannot start are skipped with the reason.
 *
 * @example
 * const report = await runBenchmarks({ workloads: ['W0'], backends: ['cpu', 'numpy'], precisions: ['f32'],
 *   runs: 20, warmup: 2, minRuns: 5, budgetS: 5, seed: 1, threads: 2, sample: 8, ingest: false, progress });
 */
export async function runBenchmarks(options: BenchOptions): Promise<BenchReport> {
  const { progress } = options;
  const skipped: SkippedCase[] = [];
  const notes: string[] = [];
  const results: BenchResult[] = [];
  const adapters: BenchReport['adapters'][number][] = [];
  const { cases, browserVersion } = await startCases(options, skipped, adapters, progress);
  const withNumpy = options.backends.includes('numpy');
  progress.setTotal(options.workloads.length * (cases.length + (withNumpy ? 1 : 0)) + (options.ingest ? 1 : 0));
  let numpyInfo: { version: string; blas: NumpyBlas } | null = null;

  try {
    for (const id of options.workloads) {
      const spec = WORKLOADS[id];
      const flopPerDoc =
        workFlop(shapeOf(spec, spec.docs, workloadTokens(spec, spec.docs, options.seed), 4)) / spec.docs;
      const planned = cases.map((c) => {
        const calls = 1 + options.warmup + (options.runs + (c.kernel ? options.runs + options.warmup + 1 : 0));
        return {
          c,
          plan: planDocuments({
            fullDocs: spec.docs,
            flopPerDoc,
            expectedGflops: c.expectedGflops,
            calls,
            budgetS: options.budgetS,
            ...(options.scaleDocs === undefined ? {} : { scale: options.scaleDocs }),
          }),
        };
      });
      const numpyOwn = planDocuments({
        fullDocs: spec.docs,
        flopPerDoc,
        expectedGflops: FIRST_GUESS.numpy,
        calls: 1 + options.warmup + options.runs,
        budgetS: options.budgetS,
        ...(options.scaleDocs === undefined ? {} : { scale: options.scaleDocs }),
      });
      const maxDocs = Math.max(...planned.map((p) => p.plan.docs), withNumpy && cases.length === 0 ? numpyOwn.docs : 1);
      const data = generateWorkload(spec, { docs: maxDocs, seed: options.seed });
      const reference = new Map<string, number>();
      const referenceScore = (q: number, d: number): number => {
        const key = `${q}:${d}`;
        let value = reference.get(key);
        if (value === undefined) {
          value = maxsimReference(data.queries[q]!, packedDocument(data.packed, d));
          reference.set(key, value);
        }
        return value;
      };
      const sampleQueries = spec.queries > 1 ? [0, spec.queries - 1] : [0];
      const settingsFor = (docs: number): MeasureSettings => ({
        warmup: options.warmup,
        runs: options.runs,
        minRuns: options.minRuns,
        budgetS: options.budgetS,
        sampleDocs: sampleIndices(docs, options.sample),
        sampleQueries,
      });
      const workloadResults: BenchResult[] = [];
      for (const { c, plan } of planned) {
        const variantLabel = c.variantRequest === null || c.variantRequest === 'auto' ? '' : ` ${c.variantRequest}`;
        const label = `${id} ${c.backend}${c.kernel ? ` ${c.precision}` : ''}${variantLabel}${plan.reason === '' ? '' : ` (${plan.docs} docs)`}`;
        progress.start(label);
        if (plan.reason !== '') progress.note(`${id} on ${c.backend} ${c.precision}: ${plan.reason}`);
        const caseData = workloadPrefix(data, plan.docs);
        const settings = settingsFor(plan.docs);
        try {
          const { m, setupMs, variant, variantChoices } = await c.measure(caseData, settings);
          const result = {
            ...toResult(spec, c, caseData, plan.reason, settings, m, setupMs, referenceScore),
            variant: variant ?? null,
            variantRequest: c.variantRequest,
            ...(variantChoices === undefined ? {} : { variantChoices }),
          };
          workloadResults.push(result);
          c.expectedGflops = result.gflops;
          progress.done(summaryLine(result));
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          skipped.push({
            backend: c.backend,
            workload: id,
            precision: c.precision,
            reason:
              c.variantRequest === null || c.variantRequest === 'auto' ? reason : `${c.variantRequest}: ${reason}`,
          });
          progress.done(`failed: ${reason}`);
        }
      }
      if (withNumpy) {
        const sizes = [...new Set(workloadResults.length > 0 ? workloadResults.map((r) => r.docs) : [numpyOwn.docs])];
        progress.start(`${id} numpy (${sizes.join(', ')} docs)`);
        try {
          const run = await runNumpyReference(data, {
            sizes,
            runs: options.runs,
            warmup: options.warmup,
            minRuns: options.minRuns,
            budgetS: options.budgetS,
            sampleDocs: (docs) => sampleIndices(docs, options.sample),
            sampleQueries,
          });
          numpyInfo = { version: run.numpyVersion, blas: run.blas };
          const label =
            `numpy ${run.numpyVersion} (${run.blas.coretype ?? run.blas.summary}` +
            `${run.blas.threads === null ? '' : `, ${run.blas.threads} threads`})`;
          const numpyRows = run.sizes.map((size) => {
            const caseData = workloadPrefix(data, size.docs);
            const m: Measurement = {
              uploadMs: Number.NaN,
              firstMs: size.firstMs,
              warmup: size.warmup,
              endToEndMs: size.timesMs,
              kernel: undefined,
              sampleScores: size.sampleScores,
              runsNote: size.runsNote,
            };
            const c: Pick<LiveCase, 'backend' | 'label' | 'adapter' | 'precision'> = {
              backend: 'numpy',
              label,
              adapter: null,
              precision: 'f32',
            };
            const shrink =
              size.docs === spec.docs
                ? ''
                : (workloadResults.find((r) => r.docs === size.docs)?.shrinkNote ?? numpyOwn.reason);
            return toResult(spec, c, caseData, shrink, settingsFor(size.docs), m, null, referenceScore);
          });
          for (const row of numpyRows) workloadResults.push(row);
          progress.done(numpyRows.map(summaryLine).join('; '));
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          skipped.push({ backend: 'numpy', workload: id, precision: 'f32', reason });
          progress.done(`failed: ${reason}`);
        }
      }
      results.push(...withNumpyRatios(workloadResults));
    }
  } finally {
    for (const c of cases) await c.close().catch(() => undefined);
  }
  let ingestion: IngestionReport | null = null;
  if (options.ingest) {
    progress.start('ingestion: /pooling decode (bench/decode.mjs)');
    try {
      ingestion = await runIngestion();
      progress.done(`${ingestion.rows.length} encodings`);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      skipped.push({ backend: 'ingestion', workload: null, precision: null, reason });
      progress.done(`failed: ${reason}`);
    }
  }
  progress.finish();
  if (results.some((r) => r.adapter?.software === true)) {
    notes.push(
      'Software adapters (lavapipe, SwiftShader) run on the CPU: their figures show correctness and relative ' +
        'kernel changes, not GPU speed.',
    );
  }
  if (results.some((r) => r.shrinkNote !== '')) {
    notes.push(
      'Some workloads ran on fewer documents than docs/benchmarks.md defines (docs column; the JSON has each ' +
        `reason)${withNumpy ? '; numpy ran on the same documents for every ratio' : ''}.`,
    );
  }
  if (extraDawnFlags().length > 0 && results.some((r) => r.backend === 'webgpu-dawn')) {
    notes.push(`Dawn ran with MAXSIM_BENCH_DAWN_FLAGS: ${extraDawnFlags().join(' ')}.`);
  }
  const { progress: _drop, ...kept } = options;
  return {
    schema: 'webgpu-maxsim-bench/1',
    date: new Date().toISOString(),
    machine: {
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown CPU',
      cores: availableParallelism(),
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      os: `${process.platform} ${release()} ${process.arch}`,
      node: process.version,
      browser: browserVersion,
      numpy: numpyInfo?.version ?? null,
      blas: numpyInfo?.blas ?? null,
    },
    adapters,
    options: kept,
    notes,
    results,
    skipped,
    ingestion,
  };
}

function shapeOf(spec: WorkloadSpec, docs: number, totalTokens: number, bytesPerElement: number): WorkShape {
  return { lq: spec.lq, queries: spec.queries, docs, totalTokens, dim: spec.dim, bytesPerElement };
}

function toResult(
  spec: WorkloadSpec,
  c: Pick<LiveCase, 'backend' | 'label' | 'adapter' | 'precision'>,
  data: WorkloadData,
  shrinkNote: string,
  settings: MeasureSettings,
  m: Measurement,
  setupMs: number | null,
  referenceScore: (q: number, d: number) => number,
): BenchResult {
  const shape = shapeOf(spec, data.packed.count, data.packed.totalRows, c.precision === 'f16' ? 2 : 4);
  const endToEnd = summarizeTimes(m.endToEndMs);
  const r = rates(shape, endToEnd.p50);
  let maxAbsError = 0;
  settings.sampleQueries.forEach((q, qi) => {
    settings.sampleDocs.forEach((d, di) => {
      const got = m.sampleScores[qi]?.[di];
      const err =
        got === undefined || !Number.isFinite(got) ? Number.POSITIVE_INFINITY : Math.abs(got - referenceScore(q, d));
      maxAbsError = Math.max(maxAbsError, err);
    });
  });
  const kernel =
    m.kernel === undefined
      ? null
      : {
          ...summarizeTimes(m.kernel.timesMs),
          method: m.kernel.method,
          submitDoneP50: summarizeTimes(m.kernel.submitDoneMs).p50,
        };
  const k = kernel === null ? null : rates(shape, kernel.p50);
  return {
    workload: spec.id,
    workloadName: spec.name,
    backend: c.backend,
    backendLabel: c.label,
    adapter: c.adapter,
    precision: c.precision,
    docs: data.packed.count,
    fullDocs: spec.docs,
    queries: spec.queries,
    lq: spec.lq,
    dim: spec.dim,
    totalTokens: data.packed.totalRows,
    flop: workFlop(shape),
    documentBytes: documentBytes(shape),
    shrinkNote,
    warmup: m.warmup,
    runs: m.endToEndMs.length,
    runsNote: m.runsNote,
    setupMs,
    uploadMs: Number.isNaN(m.uploadMs) ? null : m.uploadMs,
    firstMs: m.firstMs,
    endToEnd,
    kernel,
    docsPerS: r.docsPerS,
    gflops: r.gflops,
    gbps: r.gbps,
    kernelGflops: k?.gflops ?? null,
    kernelGbps: k?.gbps ?? null,
    maxAbsError,
    errorSample: settings.sampleQueries.length * settings.sampleDocs.length,
    vsNumpy: null,
    vsNumpyKernel: null,
  };
}

/** Fills `vsNumpy` from the numpy row with the same document count. */
function withNumpyRatios(rows: readonly BenchResult[]): BenchResult[] {
  return rows.map((r) => {
    const np = rows.find((n) => n.backend === 'numpy' && n.docs === r.docs);
    if (np === undefined) return r;
    return {
      ...r,
      vsNumpy: np.endToEnd.p50 / r.endToEnd.p50,
      vsNumpyKernel: r.kernel === null ? null : np.endToEnd.p50 / r.kernel.p50,
    };
  });
}

/** One line for the progress output. */
function summaryLine(r: BenchResult): string {
  const kernel = r.kernel === null ? '' : `, kernel ${r.kernel.p50.toFixed(2)} ms`;
  return `${r.docs} docs, p50 ${r.endToEnd.p50.toFixed(2)} ms${kernel}, ${fmtRate(r.gflops)} GFLOP/s, max|err| ${r.maxAbsError.toExponential(1)}`;
}

/** Starts every selected backend; the ones that cannot start are skipped with the reason. */
async function startCases(
  options: BenchOptions,
  skipped: SkippedCase[],
  adapters: BenchReport['adapters'][number][],
  progress: Progress,
): Promise<{ cases: LiveCase[]; browserVersion: string | null }> {
  const cases: LiveCase[] = [];
  let browserVersion: string | null = null;
  const want = (b: BackendChoice): boolean => options.backends.includes(b);
  const cpuOnlyF32 = !options.precisions.includes('f32');
  const cpuChoices: { id: string; make: () => Promise<CpuEngine>; guess: number }[] = [];
  if (want('cpu') || want('cpu-typescript')) {
    cpuChoices.push({
      id: 'cpu-typescript',
      make: () => createCpuEngine({ kernel: 'typescript' }),
      guess: FIRST_GUESS.typescript,
    });
  }
  if (want('cpu') || want('cpu-wasm-1')) {
    cpuChoices.push({
      id: 'cpu-wasm-simd-1t',
      make: () => createCpuEngine({ kernel: wasmKernel(), threads: 1 }),
      guess: FIRST_GUESS.wasmPerThread,
    });
  }
  if ((want('cpu') && options.threads > 1) || want('cpu-wasm')) {
    cpuChoices.push({
      id: `cpu-wasm-simd-${options.threads}t`,
      make: () => createCpuEngine({ kernel: wasmKernel(), threads: options.threads, workers: nodeCpuWorkerFactory() }),
      guess: FIRST_GUESS.wasmPerThread * options.threads,
    });
  }
  for (const choice of cpuChoices) {
    if (cpuOnlyF32) {
      skipped.push({
        backend: choice.id,
        workload: null,
        precision: 'f16',
        reason: 'the CPU paths store f32 only; add f32 to --precision',
      });
      continue;
    }
    try {
      const t0 = performance.now();
      const engine = await choice.make();
      cases.push(
        engineCase(
          choice.id,
          engine.info.summary,
          null,
          'f32',
          false,
          engine,
          performance.now() - t0,
          choice.guess,
          async () => engine.destroy(),
        ),
      );
    } catch (err) {
      skipped.push({
        backend: choice.id,
        workload: null,
        precision: 'f32',
        reason: err instanceof Error ? err.message : String(err),
      });
    }
  }
  if (want('webgpu')) {
    for (const precision of options.precisions) {
      for (const variant of options.variants ?? ['auto']) {
        const f16Math = variant === 'auto-f16math' || variant.includes('-f16math');
        if (f16Math && precision !== 'f16') continue; // f16 arithmetic reads f16 storage: f16 rows only
        try {
          const bench: WebGpuBench = await startWebGpuBench(await loadBenchDawnGpu(), precision, variant);
          const adapter = { name: bench.adapterName, software: bench.adapter.isFallbackAdapter };
          if (!adapters.some((a) => a.backend === 'webgpu-dawn'))
            adapters.push({ backend: 'webgpu-dawn', ...adapter, features: featureList(bench.features) });
          cases.push(
            engineCase(
              'webgpu-dawn',
              `webgpu (Dawn): ${bench.adapterName}, ${bench.storage} storage`,
              adapter,
              precision,
              true,
              bench.engine,
              bench.setupMs,
              adapter.software ? FIRST_GUESS.softwareGpu : FIRST_GUESS.hardwareGpu,
              async () => bench.destroy(),
              bench.kernel,
              { request: variant, info: () => bench.engine.info },
            ),
          );
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          skipped.push({
            backend: 'webgpu-dawn',
            workload: null,
            precision,
            reason: variant === 'auto' ? reason : `${variant}: ${reason}`,
          });
          progress.note(`webgpu (Dawn) ${precision} ${variant} skipped: ${reason}`);
        }
      }
    }
  }
  if (want('browser')) {
    try {
      const { startBrowserBench } = await import('./browser.js');
      const browser: BrowserBench = await startBrowserBench();
      browserVersion = browser.browserVersion;
      let closed = false;
      const closeOnce = async (): Promise<void> => {
        if (closed) return;
        closed = true;
        await browser.close();
      };
      for (const precision of options.precisions) cases.push(browserCase(browser, precision, closeOnce, adapters));
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      skipped.push({ backend: 'webgpu-chromium', workload: null, precision: null, reason });
      progress.note(`webgpu in Chromium skipped: ${reason}`);
    }
  }
  return { cases, browserVersion };
}

/** The WASM kernel the library's 'auto' would pick: relaxed SIMD where it validates. */
function wasmKernel(): 'wasm-relaxed-simd' | 'wasm-simd' {
  return wasmRelaxedSimdSupported() ? 'wasm-relaxed-simd' : 'wasm-simd';
}

let benchDawn: Promise<GPU> | undefined;

/**
 * Dawn for the benchmark: its own instance with timestamp quantization off. Dawn rounds timestamp queries to
 * 2^16 ns by default (a guard against timing attacks, seen here: every kernel time a multiple of 65.5 µs),
 * too coarse for kernels that take well under a millisecond on a real GPU. The library's shared instance
 * (loadDawnGpu) keeps the default. `MAXSIM_BENCH_DAWN_FLAGS` adds Dawn flags for experiments (space-separated, e.g.
 * `enable-dawn-features=disable_robustness` to see what bounds checks cost); the report's notes list them.
 */
function loadBenchDawnGpu(): Promise<GPU> {
  benchDawn ??= import('webgpu').then(
    ({ create }) => create(['disable-dawn-features=timestamp_quantization', ...extraDawnFlags()]),
    (err: unknown) => {
      throw new BenchmarkError(
        'E_BENCH_DEPENDENCY',
        `could not load Dawn (the 'webgpu' package): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    },
  );
  return benchDawn;
}

/** Dawn flags from `MAXSIM_BENCH_DAWN_FLAGS` (benchmark experiments only). */
export function extraDawnFlags(): string[] {
  return (process.env.MAXSIM_BENCH_DAWN_FLAGS ?? '').split(/\s+/).filter((f) => f !== '');
}

function featureList(f: { shaderF16: boolean; subgroups: boolean; timestampQuery: boolean }): string[] {
  return [
    f.shaderF16 ? 'shader-f16' : '',
    f.subgroups ? 'subgroups' : '',
    f.timestampQuery ? 'timestamp-query' : '',
  ].filter((s) => s !== '');
}

function engineCase<C>(
  backend: string,
  label: string,
  adapter: AdapterInfo | null,
  precision: 'f32' | 'f16',
  kernel: boolean,
  engine: import('../core/scorer.js').ScoringEngine<C>,
  setupMs: number,
  guess: number,
  close: () => Promise<void>,
  kernelTimer?: import('./measure.js').KernelTimerFactory<C>,
  variant?: { readonly request: string; readonly info: () => ScorerInfo },
): LiveCase {
  let setupPending: number | null = setupMs;
  return {
    key: `${backend}:${precision}${variant === undefined ? '' : `:${variant.request}`}`,
    backend,
    label,
    adapter,
    precision,
    variantRequest: variant?.request ?? null,
    kernel,
    setupMs,
    expectedGflops: guess,
    measure: async (data, settings) => {
      const m = await measureEngine(engine, data, settings, kernelTimer);
      const s = setupPending;
      setupPending = null;
      if (variant === undefined) return { m, setupMs: s };
      const info = variant.info();
      return { m, setupMs: s, variant: describeVariant(info), variantChoices: info.variantChoices ?? [] };
    },
    close,
  };
}

function browserCase(
  browser: BrowserBench,
  precision: 'f32' | 'f16',
  close: () => Promise<void>,
  adapters: BenchReport['adapters'][number][],
): LiveCase {
  const c: LiveCase = {
    key: `webgpu-chromium:${precision}`,
    backend: 'webgpu-chromium',
    label: `webgpu (${browser.browserVersion})`,
    adapter: null,
    precision,
    variantRequest: 'auto',
    kernel: true,
    setupMs: null,
    // Until the page has shown its adapter, assume a software one: the cautious guess shrinks, never stalls.
    expectedGflops: FIRST_GUESS.softwareGpu / 2,
    measure: async (data, settings) => {
      const result = await browser.run({
        workload: data.spec.id,
        docs: data.packed.count,
        seed: data.seed,
        precision,
        settings,
      });
      const adapter = { name: result.adapterName, software: result.software };
      (c as { adapter: AdapterInfo | null }).adapter = adapter;
      (c as { label: string }).label =
        `webgpu (${browser.browserVersion}): ${result.adapterName}, ${result.storage} storage`;
      if (!adapters.some((a) => a.backend === 'webgpu-chromium')) {
        adapters.push({ backend: 'webgpu-chromium', ...adapter, features: featureList(result.features) });
      }
      return { m: result.measurement, setupMs: result.setupMs ?? null, variant: result.variant };
    },
    close,
  };
  return c;
}

/**
 * The /pooling decode figures: bench/decode.mjs (the ingestion bench of the /pooling client) run as a
 * subprocess with `--json`. Only a source checkout has bench/; an installed package says so.
 */
async function runIngestion(): Promise<IngestionReport> {
  const script = fileURLToPath(new URL('../../bench/decode.mjs', import.meta.url));
  if (!existsSync(script)) {
    throw new BenchmarkError(
      'E_BENCH_DEPENDENCY',
      `the ingestion bench needs ${script}, which only a source checkout has`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'maxsim-ingest-'));
  const out = join(dir, 'decode.json');
  try {
    const child = spawn(process.execPath, ['--expose-gc', script, '--json', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c ?? -1));
    });
    if (code !== 0 || !existsSync(out)) {
      throw new BenchmarkError(
        'E_BENCH_SUBPROCESS',
        `bench/decode.mjs exited with code ${code}${existsSync(out) ? '' : ' and wrote no JSON'}: ${Buffer.concat(stderr).toString('utf8').slice(-1000)}`,
      );
    }
    return JSON.parse(readFileSync(out, 'utf8')) as IngestionReport;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
