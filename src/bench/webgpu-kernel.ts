// Kernel-only timing for the WebGPU benchmark: the same MaxSim pipeline and resident corpus the engine uses,
// with the queries, parameters and scores buffer prepared once, so a timed run is the compute pass alone.
// Universal (the browser benchmark page uses it too).
//
// The binding layout and the Params words below mirror scoreBatch() in webgpu-scorer.ts; `check()` reads the
// scores back once and the harness compares them with the engine's own, so a change there that this file
// misses fails loudly instead of timing the wrong thing.
import { BenchmarkError } from './errors.js';
import { GpuLimitError } from '../webgpu/errors.js';
import type { TokenMatrix } from '../core/token-matrix.js';
import type { GpuCorpus } from '../webgpu/corpus.js';
import {
  BUFFER_COPY_DST,
  BUFFER_COPY_SRC,
  BUFFER_MAP_READ,
  MAP_MODE_READ,
  captureGpuErrors,
  type MaxsimDevice,
} from '../webgpu/device.js';
import { getMaxsimPipeline } from '../webgpu/pipelines.js';
import { prepareMaxsimDispatch } from '../webgpu/engine.js';

const BUFFER_QUERY_RESOLVE = 0x200;

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
 * const timer = await prepareKernelTimer(md, corpus.gpu, queries);
 * const { timestampMs, submitDoneMs } = await timer.run();
 * timer.destroy();
 */
export async function prepareKernelTimer(
  md: MaxsimDevice,
  corpus: GpuCorpus,
  queries: readonly TokenMatrix[],
): Promise<KernelTimer> {
  const { device } = md;
  const n = corpus.count;
  const dim = corpus.dim;
  const nq = queries.length;
  const maxBinding = Math.min(md.limits.maxStorageBufferBindingSize, md.limits.maxBufferSize);
  const queryBytes = queries.reduce((bytes, q) => bytes + q.rows * dim * 4, 0);
  const scoresBytes = Math.max(4, nq * n * 4);
  if (scoresBytes > maxBinding || queryBytes > maxBinding) {
    throw new GpuLimitError(
      `kernel-only timing scores all ${nq} queries in one pass, and ${nq} × ${n} scores or the query rows exceed ` +
        `the ${maxBinding}-byte binding limit; time fewer queries or documents`,
    );
  }
  const pipeline = await getMaxsimPipeline(md, corpus.storage);
  const maxPerDimension = md.limits.maxComputeWorkgroupsPerDimension;
  const timestamps = md.features.timestampQuery;
  const owned: GPUBuffer[] = [];
  let querySet: GPUQuerySet | undefined;

  const prepared = await captureGpuErrors(md, 'preparing the kernel-only benchmark dispatch', () => {
    const buffer = (label: string, size: number, usage: number): GPUBuffer => {
      const b = device.createBuffer({ label, size, usage });
      owned.push(b);
      return b;
    };
    const { scores, bindGroups, grids } = prepareMaxsimDispatch(
      md,
      pipeline,
      corpus,
      queries,
      maxPerDimension,
      buffer,
      'bench',
    );
    const readback = buffer('bench scores readback', scoresBytes, BUFFER_MAP_READ | BUFFER_COPY_DST);
    let resolve: GPUBuffer | undefined;
    let stamps: GPUBuffer | undefined;
    if (timestamps) {
      querySet = device.createQuerySet({ label: 'bench timestamps', type: 'timestamp', count: 2 });
      resolve = buffer('bench timestamps resolve', 16, BUFFER_QUERY_RESOLVE | BUFFER_COPY_SRC);
      stamps = buffer('bench timestamps readback', 16, BUFFER_MAP_READ | BUFFER_COPY_DST);
    }
    return { scores, readback, bindGroups, grids, resolve, stamps };
  });

  const encode = (readScores: boolean): GPUCommandBuffer => {
    const encoder = device.createCommandEncoder({ label: 'bench maxsim' });
    const pass = encoder.beginComputePass({
      label: 'bench maxsim',
      ...(querySet === undefined
        ? {}
        : { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } }),
    });
    pass.setPipeline(pipeline);
    prepared.bindGroups.forEach((group, c) => {
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(prepared.grids[c]!.x, prepared.grids[c]!.y);
    });
    pass.end();
    if (querySet !== undefined) {
      encoder.resolveQuerySet(querySet, 0, 2, prepared.resolve!, 0);
      encoder.copyBufferToBuffer(prepared.resolve!, 0, prepared.stamps!, 0, 16);
    }
    if (readScores) encoder.copyBufferToBuffer(prepared.scores, 0, prepared.readback, 0, scoresBytes);
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
    const scores = new Float32Array(prepared.readback.getMappedRange().slice(0));
    prepared.readback.unmap();
    return { timestampMs, submitDoneMs, scores };
  };

  return {
    method: timestamps ? 'timestamp-query' : 'submit-done',
    run: () => run(false),
    check: async () => {
      const { scores } = await run(true);
      if (scores === undefined) throw new BenchmarkError('E_BENCH_KERNEL', 'kernel-only check read no scores back');
      return queries.map((_, q) => scores.slice(q * n, (q + 1) * n));
    },
    destroy: () => {
      for (const b of owned) b.destroy();
      querySet?.destroy();
    },
  };
}
