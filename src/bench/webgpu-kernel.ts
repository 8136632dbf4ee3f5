// Kernel-only timing for the WebGPU benchmark: the dispatch the engine itself would run for these queries against
// this resident corpus (same variant choice, same buffers layout, prepared by the engine in buffers of their own),
// so a timed run is the compute pass alone. Universal (the browser benchmark page uses it too). `check()` reads the
// scores back once and the harness compares them with the engine's own.
import { BenchmarkError } from './errors.js';
import { GpuLimitError } from '../webgpu/errors.js';
import type { TokenMatrix } from '../core/token-matrix.js';
import {
  BUFFER_COPY_DST,
  BUFFER_COPY_SRC,
  BUFFER_MAP_READ,
  BUFFER_QUERY_RESOLVE,
  MAP_MODE_READ,
  captureGpuErrors,
  type MaxsimDevice,
} from '../webgpu/device.js';
import type { WebGpuCorpus, WebGpuEngine } from '../webgpu/engine.js';

/** How kernel-only time is measured. */
export type KernelTimingMethod = 'timestamp-query' | 'submit-done';

/** One kernel-only run: GPU time from timestamps (when the device has them) and the submit→done wall time. */
export interface KernelRun {
  /** Compute-pass time from `timestamp-query`, or undefined without the feature. */
  readonly timestampMs: number | undefined;
  /** `queue.submit` to `onSubmittedWorkDone` on the host clock: the kernel plus submission overhead. */
  readonly submitDoneMs: number;
}

/** A prepared dispatch of every query against a resident corpus. */
export interface KernelTimer {
  readonly method: KernelTimingMethod;
  /** The kernel variant timed. */
  readonly variant: string;
  run(): Promise<KernelRun>;
  /** Runs once and reads the scores back (raw sums, one row per query), to check against the engine. */
  check(): Promise<Float32Array[]>;
  destroy(): void;
}

/**
 * Prepares the MaxSim dispatch of `queries` against `corpus` for kernel-only timing: one compute pass over
 * every chunk, no query upload and no readback in the timed part.
 *
 * @example
 * const timer = await prepareKernelTimer(md, engine, corpus, queries);
 * const { timestampMs, submitDoneMs } = await timer.run();
 * timer.destroy();
 */
export async function prepareKernelTimer(
  md: MaxsimDevice,
  engine: WebGpuEngine,
  corpus: WebGpuCorpus,
  queries: readonly TokenMatrix[],
): Promise<KernelTimer> {
  const { device } = md;
  const gpu = corpus.gpu;
  if (gpu === undefined) throw new BenchmarkError('E_BENCH_KERNEL', 'the corpus is not resident on the GPU');
  const n = gpu.count;
  const nq = queries.length;
  const maxBinding = Math.min(md.limits.maxStorageBufferBindingSize, md.limits.maxBufferSize);
  const queryBytes = queries.reduce((bytes, q) => bytes + q.rows * gpu.dim * 4, 0);
  const scoresBytes = Math.max(4, nq * n * 4);
  if (scoresBytes > maxBinding || queryBytes > maxBinding) {
    throw new GpuLimitError(
      `kernel-only timing scores all ${nq} queries in one pass, and ${nq} × ${n} scores or the query rows exceed ` +
        `the ${maxBinding}-byte binding limit; time fewer queries or documents`,
    );
  }
  const timestamps = md.features.timestampQuery;
  const dispatch = await engine.prepareTimedDispatch(queries, corpus);
  const owned: GPUBuffer[] = [];
  let querySet: GPUQuerySet | undefined;
  let prepared: { readback: GPUBuffer; resolve: GPUBuffer | undefined; stamps: GPUBuffer | undefined };
  try {
    prepared = await captureGpuErrors(md, 'preparing the kernel-only benchmark dispatch', () => {
      const buffer = (label: string, size: number, usage: number): GPUBuffer => {
        const b = device.createBuffer({ label, size, usage });
        owned.push(b);
        return b;
      };
      const readback = buffer('bench scores readback', dispatch.scoresBytes, BUFFER_MAP_READ | BUFFER_COPY_DST);
      let resolve: GPUBuffer | undefined;
      let stamps: GPUBuffer | undefined;
      if (timestamps) {
        querySet = device.createQuerySet({ label: 'bench timestamps', type: 'timestamp', count: 2 });
        resolve = buffer('bench timestamps resolve', 16, BUFFER_QUERY_RESOLVE | BUFFER_COPY_SRC);
        stamps = buffer('bench timestamps readback', 16, BUFFER_MAP_READ | BUFFER_COPY_DST);
      }
      return { readback, resolve, stamps };
    });
  } catch (err) {
    dispatch.destroy();
    for (const b of owned) b.destroy();
    throw err;
  }

  const encode = (readScores: boolean): GPUCommandBuffer => {
    const encoder = device.createCommandEncoder({ label: 'bench maxsim' });
    const pass = encoder.beginComputePass({
      label: 'bench maxsim',
      ...(querySet === undefined
        ? {}
        : { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } }),
    });
    dispatch.encode(pass);
    pass.end();
    if (querySet !== undefined) {
      encoder.resolveQuerySet(querySet, 0, 2, prepared.resolve!, 0);
      encoder.copyBufferToBuffer(prepared.resolve!, 0, prepared.stamps!, 0, 16);
    }
    if (readScores) encoder.copyBufferToBuffer(dispatch.scores, 0, prepared.readback, 0, dispatch.scoresBytes);
    return encoder.finish();
  };

  const run = async (readScores: boolean): Promise<KernelRun & { scores?: Float32Array }> => {
    const t0 = performance.now();
    const submitted = captureGpuErrors(md, 'the kernel-only benchmark dispatch', () => {
      device.queue.submit([encode(readScores)]);
      return device.queue.onSubmittedWorkDone();
    });
    await await submitted;
    const submitDoneMs = performance.now() - t0;
    let timestampMs: number | undefined;
    if (prepared.stamps !== undefined) {
      await prepared.stamps.mapAsync(MAP_MODE_READ);
      const [begin, end] = new BigUint64Array(prepared.stamps.getMappedRange().slice(0));
      prepared.stamps.unmap();
      timestampMs = Number(end! - begin!) / 1e6;
    }
    if (!readScores) return { timestampMs, submitDoneMs };
    await prepared.readback.mapAsync(MAP_MODE_READ);
    const scores = new Float32Array(prepared.readback.getMappedRange().slice(0, scoresBytes));
    prepared.readback.unmap();
    return { timestampMs, submitDoneMs, scores };
  };

  return {
    method: timestamps ? 'timestamp-query' : 'submit-done',
    variant: dispatch.variant,
    run: () => run(false),
    check: async () => {
      const { scores } = await run(true);
      if (scores === undefined) throw new BenchmarkError('E_BENCH_KERNEL', 'kernel-only check read no scores back');
      return queries.map((_, q) => scores.slice(q * n, (q + 1) * n));
    },
    destroy: () => {
      for (const b of owned) b.destroy();
      querySet?.destroy();
      dispatch.destroy();
    },
  };
}
