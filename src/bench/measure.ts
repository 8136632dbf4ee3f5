// Measuring one backend on one workload: upload, first call, warm-up, timed end-to-end calls and (on WebGPU)
// timed kernel-only dispatches, plus the sample of scores the float64 check needs. Universal: the browser
// benchmark page runs this same loop inside Chromium.
import { BenchmarkError } from './errors.js';
import { maxAbsDifference } from './metrics.js';
import type { KernelRun, KernelTimer, KernelTimingMethod } from './webgpu-kernel.js';
import type { WorkloadData } from './workloads.js';
import type { ScoringEngine } from '../core/scorer.js';

/** How many calls to make, and within what time. */
export interface MeasureSettings {
  readonly warmup: number;
  readonly runs: number;
  /** Fewest timed runs when the budget would allow fewer. */
  readonly minRuns: number;
  /** Seconds for the whole measurement; timed runs are cut (to `minRuns` at least) when calls run slower than planned. */
  readonly budgetS: number;
  readonly sampleDocs: readonly number[];
  readonly sampleQueries: readonly number[];
}

/** Kernel-only timings of a WebGPU backend. */
export interface KernelTimes {
  readonly method: KernelTimingMethod;
  /** The times the method gives: timestamps where the device has them, else submit→done. */
  readonly timesMs: readonly number[];
  /** submit→done wall times of the same runs (equal to `timesMs` for `submit-done`). */
  readonly submitDoneMs: readonly number[];
  /** Largest |difference| between the prepared dispatch's scores and the engine's on the same data. */
  readonly checkDiff: number;
}

/** What one measurement gathered (all times in milliseconds). */
export interface Measurement {
  readonly uploadMs: number;
  /** The first call on the fresh corpus: lazy setup (worker start, bind groups, tier-up) included. */
  readonly firstMs: number;
  readonly warmup: number;
  /** End to end: queries in, kernel, scores out (for the CPU paths the whole call). */
  readonly endToEndMs: readonly number[];
  readonly kernel: KernelTimes | undefined;
  /** Scores at the sample documents, one row per sample query, from the first call. */
  readonly sampleScores: readonly (readonly number[])[];
  /** Why fewer runs than asked, if so. */
  readonly runsNote: string;
}

/** Prepares kernel-only dispatches for an uploaded corpus (WebGPU only). */
export type KernelTimerFactory<C> = (corpus: C, data: WorkloadData) => Promise<KernelTimer>;

/**
 * Runs the measurement loop of one backend on one workload: upload (timed once), a first call, `warmup`
 * calls, then timed calls (end to end, and kernel-only when `kernel` is given), releasing the corpus after.
 *
 * @example
 * const m = await measureEngine(await createCpuEngine(), generateWorkload(WORKLOADS.W0), settings);
 * summarizeTimes(m.endToEndMs).p50;
 */
export async function measureEngine<C>(
  engine: ScoringEngine<C>,
  data: WorkloadData,
  settings: MeasureSettings,
  kernel?: KernelTimerFactory<C>,
): Promise<Measurement> {
  const started = performance.now();
  const { queries } = data;
  let t = performance.now();
  const corpus = await engine.upload(data.packed);
  const uploadMs = performance.now() - t;
  let timer: KernelTimer | undefined;
  try {
    t = performance.now();
    const first = await engine.score(queries, corpus);
    const firstMs = performance.now() - t;
    const sampleScores = settings.sampleQueries.map((q) => settings.sampleDocs.map((d) => first[q]![d]!));
    let lastMs = firstMs;
    for (let i = 0; i < settings.warmup; i++) {
      t = performance.now();
      await engine.score(queries, corpus);
      lastMs = performance.now() - t;
    }
    const perRun = kernel === undefined ? 1 : 2;
    const runs = runsWithinBudget(settings, (performance.now() - started) / 1000, (lastMs * perRun) / 1000);
    const endToEndMs: number[] = [];
    for (let i = 0; i < runs.runs; i++) {
      t = performance.now();
      await engine.score(queries, corpus);
      endToEndMs.push(performance.now() - t);
    }
    let kernelTimes: KernelTimes | undefined;
    if (kernel !== undefined) {
      timer = await kernel(corpus, data);
      const checked = await timer.check();
      let checkDiff = 0;
      for (let q = 0; q < queries.length; q++) {
        const { max, mismatched } = maxAbsDifference(checked[q]!, first[q]!);
        if (mismatched > 0) checkDiff = Number.POSITIVE_INFINITY;
        checkDiff = Math.max(checkDiff, max);
      }
      if (!(checkDiff <= 1e-4)) {
        throw new BenchmarkError(
          'E_BENCH_KERNEL',
          `the kernel-only dispatch scored differently from the engine (max |diff| ${checkDiff}); ` +
            'bench-webgpu-kernel.ts no longer mirrors webgpu-scorer.ts and must be updated',
        );
      }
      for (let i = 0; i < settings.warmup; i++) await timer.run();
      const kernelRuns: KernelRun[] = [];
      for (let i = 0; i < runs.runs; i++) kernelRuns.push(await timer.run());
      const stamped = kernelRuns.every((r) => r.timestampMs !== undefined && r.timestampMs > 0);
      kernelTimes = {
        method: stamped ? 'timestamp-query' : 'submit-done',
        timesMs: kernelRuns.map((r) => (stamped ? r.timestampMs! : r.submitDoneMs)),
        submitDoneMs: kernelRuns.map((r) => r.submitDoneMs),
        checkDiff,
      };
    }
    return {
      uploadMs,
      firstMs,
      warmup: settings.warmup,
      endToEndMs,
      kernel: kernelTimes,
      sampleScores,
      runsNote: runs.note,
    };
  } finally {
    timer?.destroy();
    engine.release(corpus);
  }
}

/**
 * Timed runs that fit what is left of the budget at `perRunS` seconds each: `settings.runs`, or fewer (never
 * under `minRuns`) with a note saying so.
 *
 * @example
 * runsWithinBudget({ runs: 20, minRuns: 5, budgetS: 10 } as MeasureSettings, 2, 1); // { runs: 8, note: 'runs cut…' }
 */
export function runsWithinBudget(
  settings: Pick<MeasureSettings, 'runs' | 'minRuns' | 'budgetS'>,
  elapsedS: number,
  perRunS: number,
): { runs: number; note: string } {
  const left = Math.max(0, settings.budgetS - elapsedS);
  if (perRunS * settings.runs <= left) return { runs: settings.runs, note: '' };
  const runs = Math.min(settings.runs, Math.max(settings.minRuns, Math.floor(left / Math.max(perRunS, 1e-9))));
  return runs === settings.runs
    ? { runs, note: '' }
    : { runs, note: `runs cut to ${runs} of ${settings.runs} to fit the ${settings.budgetS} s budget` };
}
