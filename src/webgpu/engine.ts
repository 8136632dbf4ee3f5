import { DeviceLostError, GpuLimitError, GpuValidationError } from './errors.js';
import { DestroyedError, InvalidArgumentError, MaxsimError } from '../core/errors.js';
import { EMPTY_DOCUMENT_SCORE } from '../core/reference.js';
import type { ScoringEngine, ScorerInfo } from '../core/scorer.js';
import type { TokenMatrix } from '../core/token-matrix.js';
import { destroyCorpus, uploadCorpus, type GpuCorpus } from './corpus.js';
import {
  BUFFER_COPY_DST,
  BUFFER_COPY_SRC,
  BUFFER_MAP_READ,
  BUFFER_STORAGE,
  BUFFER_UNIFORM,
  MAP_MODE_READ,
  captureGpuErrors,
  describeAdapter,
  raceLost,
  type MaxsimDevice,
} from './device.js';
import { getMaxsimPipeline, MAXSIM_PARAMS_BYTES, type DocStorage } from './pipelines.js';

/** Options for {@link createWebGpuEngine}. */
export interface WebGpuEngineOptions {
  /** Document storage: `'f32'` (default) or `'f16'` (half the memory and bandwidth; error bound in the README). */
  readonly precision?: 'f32' | 'f16';
  /** Use native `f16` loads when the device has `shader-f16` (default true); false forces packed pairs. */
  readonly nativeF16?: boolean;
  /** Cap on bytes per document chunk, below the device limits (tests use it to force chunking). */
  readonly chunkBytes?: number;
  /** Cap on workgroups per dispatch dimension, below the device limit (tests use it to force 2-D grids). */
  readonly maxWorkgroupsPerDimension?: number;
  /** Destroy the device (if this library created it) when the engine is destroyed. Default false. */
  readonly destroyDevice?: boolean;
}

/** A corpus of the WebGPU engine: resident on the device until released. */
export interface WebGpuCorpus {
  gpu: GpuCorpus | undefined;
}

/**
 * The WebGPU engine. Once its device is lost every call rejects with {@link DeviceLostError}; `lostError` says
 * so without a call, for a caller that falls back (see `withCpuFallback`).
 */
export interface WebGpuEngine extends ScoringEngine<WebGpuCorpus> {
  readonly backend: 'webgpu';
  readonly lostError: DeviceLostError | undefined;
}

/**
 * The split of `total` workgroups into an (x, y) grid with at most `maxPerDimension` along each; the kernel
 * rebuilds the linear index as `y * x_count + x` and returns early for the surplus of the last row.
 *
 * @example
 * dispatchGrid(100_000, 65_535); // { x: 65535, y: 2 }
 */
export function dispatchGrid(total: number, maxPerDimension: number): { x: number; y: number } {
  if (total <= 0) return { x: 0, y: 0 };
  const x = Math.min(total, maxPerDimension);
  const y = Math.ceil(total / x);
  if (y > maxPerDimension) {
    throw new GpuLimitError(
      `${total} workgroups do not fit a ${maxPerDimension} × ${maxPerDimension} dispatch grid; score fewer ` +
        'queries per call or split the corpus.',
    );
  }
  return { x, y };
}

/**
 * The WebGPU backend's engine: documents resident in chunked storage buffers, the fused MaxSim kernel
 * (shaders/maxsim.wgsl) run for a batch of queries per submit, and only the scores read back.
 * Wrap it with `createScorerFromEngine`; users call `createScorer({ backend: 'webgpu' })`.
 *
 * @example
 * const engine = await createWebGpuEngine(await createMaxsimDevice(navigator.gpu), { precision: 'f16' });
 * const scorer = createScorerFromEngine(engine);
 */
export async function createWebGpuEngine(md: MaxsimDevice, options: WebGpuEngineOptions = {}): Promise<WebGpuEngine> {
  const precision = options.precision ?? 'f32';
  if (precision !== 'f32' && precision !== 'f16') {
    throw new InvalidArgumentError(`precision must be 'f32' or 'f16', got ${JSON.stringify(precision)}`);
  }
  const storage: DocStorage =
    precision === 'f32' ? 'f32' : md.features.shaderF16 && options.nativeF16 !== false ? 'f16' : 'f16-packed';
  const maxPerDimension = Math.min(
    md.limits.maxComputeWorkgroupsPerDimension,
    options.maxWorkgroupsPerDimension ?? Infinity,
  );
  // Compile before the first call: shader errors surface at creation, and compilation is off the JS thread.
  await getMaxsimPipeline(md, storage);

  let destroyed = false;
  const info: ScorerInfo = {
    backend: 'webgpu',
    summary: `webgpu: ${describeAdapter(md.adapter)}, ${storage} document storage`,
    adapter: md.adapter,
    precision,
  };

  /** The device loss behind a failure, if the device is lost; the failure itself otherwise. */
  const lostFrom = async (err: unknown): Promise<DeviceLostError | undefined> => {
    if (err instanceof DeviceLostError) return err;
    if (err instanceof MaxsimError) return undefined;
    // A rejected mapAsync may arrive just before `device.lost` resolves: give the loss a moment to show.
    await Promise.race([md.lost, new Promise((resolve) => setTimeout(resolve, 100))]);
    return md.lostError;
  };

  return {
    backend: 'webgpu',
    get lostError() {
      return md.lostError;
    },
    info,
    upload: async (packed) => {
      if (destroyed) throw new DestroyedError('Scorer');
      if (md.lostError !== undefined) throw md.lostError;
      try {
        const gpu = await uploadCorpus(md, packed, {
          storage,
          ...(options.chunkBytes === undefined ? {} : { chunkBytes: options.chunkBytes }),
        });
        return { gpu };
      } catch (err) {
        throw (await lostFrom(err)) ?? err;
      }
    },
    score: async (queries, corpus) => {
      if (destroyed) throw new DestroyedError('Scorer');
      if (md.lostError !== undefined) throw md.lostError;
      if (corpus.gpu === undefined) throw new DestroyedError('Corpus');
      try {
        return await scoreOnGpu(md, storage, maxPerDimension, queries, corpus.gpu);
      } catch (err) {
        const lost = await lostFrom(err);
        if (lost !== undefined) throw lost;
        if (err instanceof MaxsimError) throw err;
        throw new GpuValidationError('reading scores back', err instanceof Error ? err.message : String(err));
      }
    },
    release: (corpus) => {
      if (corpus.gpu !== undefined) destroyCorpus(corpus.gpu);
      corpus.gpu = undefined;
    },
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      if (options.destroyDevice === true) md.destroy();
    },
  };
}

async function scoreOnGpu(
  md: MaxsimDevice,
  storage: DocStorage,
  maxPerDimension: number,
  queries: readonly TokenMatrix[],
  corpus: GpuCorpus,
): Promise<Float32Array[]> {
  const n = corpus.count;
  const out = queries.map(() => new Float32Array(n));
  if (n === 0) return out;
  const pipeline = await getMaxsimPipeline(md, storage);
  const maxBinding = Math.min(md.limits.maxStorageBufferBindingSize, md.limits.maxBufferSize);
  // As many queries per submit as the scores buffer and the query buffer allow.
  for (let start = 0; start < queries.length; ) {
    let end = start;
    let rows = 0;
    while (
      end < queries.length &&
      (end - start + 1) * n * 4 <= maxBinding &&
      (rows + queries[end]!.rows) * corpus.dim * 4 <= maxBinding
    ) {
      rows += queries[end]!.rows;
      end++;
    }
    if (end === start) {
      throw new GpuLimitError(
        `One query's scores (${n} documents × 4 bytes) or rows (${queries[start]!.rows} × dim ${corpus.dim} × 4 ` +
          `bytes) exceed the ${maxBinding}-byte storage binding limit; split the corpus into several uploads.`,
      );
    }
    await scoreBatch(md, pipeline, maxPerDimension, queries.slice(start, end), corpus, out.slice(start, end));
    start = end;
  }
  return out;
}

async function scoreBatch(
  md: MaxsimDevice,
  pipeline: GPUComputePipeline,
  maxPerDimension: number,
  batch: readonly TokenMatrix[],
  corpus: GpuCorpus,
  out: Float32Array[],
): Promise<void> {
  const { device } = md;
  const n = corpus.count;
  const nq = batch.length;
  const temporaries: GPUBuffer[] = [];
  const buffer = (label: string, size: number, usage: number): GPUBuffer => {
    const b = device.createBuffer({ label, size, usage });
    temporaries.push(b);
    return b;
  };
  try {
    const { staging, mapped } = await captureGpuErrors(md, `scoring ${nq} queries against ${n} documents`, () => {
      const dispatch = prepareMaxsimDispatch(md, pipeline, corpus, batch, maxPerDimension, buffer, 'maxsim');
      const { scores, scoresBytes } = dispatch;
      const staging = buffer('maxsim scores readback', scoresBytes, BUFFER_MAP_READ | BUFFER_COPY_DST);
      const encoder = device.createCommandEncoder({ label: 'maxsim' });
      const pass = encoder.beginComputePass({ label: 'maxsim' });
      pass.setPipeline(pipeline);
      dispatch.bindGroups.forEach((group, c) => {
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(dispatch.grids[c]!.x, dispatch.grids[c]!.y);
      });
      pass.end();
      encoder.copyBufferToBuffer(scores, 0, staging, 0, scoresBytes);
      device.queue.submit([encoder.finish()]);
      const mapped = staging.mapAsync(MAP_MODE_READ);
      // When the error scopes report first, this map is abandoned (its buffer destroyed in `finally`) and its
      // rejection is nobody's business; on the normal path it is awaited below and rejects there.
      mapped.catch(() => undefined);
      return { staging, mapped };
    });
    // Errors are checked before the mapped bytes are trusted: a failed dispatch leaves zeros behind.
    await raceLost(md, mapped);
    const all = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    for (let i = 0; i < nq; i++) {
      const row = out[i]!;
      if (batch[i]!.rows === 0) continue; // a query with no rows scores 0 against everything, empty docs too
      row.set(all.subarray(i * n, (i + 1) * n));
      for (const e of corpus.emptyDocs) row[e] = EMPTY_DOCUMENT_SCORE;
    }
  } finally {
    for (const b of temporaries) b.destroy();
  }
}

/** The buffers and bind groups of one MaxSim dispatch over every chunk of a resident corpus. */
export interface MaxsimDispatch {
  /** `queries.length × corpus.count` raw scores, query-major. */
  readonly scores: GPUBuffer;
  readonly scoresBytes: number;
  /** One bind group per corpus chunk, dispatched with the matching `grids` entry. */
  readonly bindGroups: GPUBindGroup[];
  readonly grids: { x: number; y: number }[];
}

/**
 * Packs `queries` back to back, writes them, their row offsets and one `Params` block per chunk (at the
 * device's uniform offset alignment), creates the scores buffer and the per-chunk bind groups. Buffers come
 * from `buffer`, so the caller owns their lifetime. Shared by scoring and the kernel-only benchmark, so both
 * time and run exactly the same dispatch.
 */
export function prepareMaxsimDispatch(
  md: MaxsimDevice,
  pipeline: GPUComputePipeline,
  corpus: GpuCorpus,
  queries: readonly TokenMatrix[],
  maxPerDimension: number,
  buffer: (label: string, size: number, usage: number) => GPUBuffer,
  label: string,
): MaxsimDispatch {
  const { device } = md;
  const n = corpus.count;
  const dim = corpus.dim;
  const nq = queries.length;
  const queryOffsets = new Uint32Array(nq + 1);
  for (let i = 0; i < nq; i++) queryOffsets[i + 1] = queryOffsets[i]! + queries[i]!.rows;
  const queryData = new Float32Array(Math.max(1, queryOffsets[nq]! * dim));
  for (let i = 0; i < nq; i++) queryData.set(queries[i]!.data, queryOffsets[i]! * dim);
  const align = md.limits.minUniformBufferOffsetAlignment;
  const stride = Math.ceil(MAXSIM_PARAMS_BYTES / align) * align;
  const params = new Uint32Array((Math.max(1, corpus.chunks.length) * stride) / 4);
  const grids = corpus.chunks.map((chunk, c) => {
    const grid = dispatchGrid(chunk.docCount * nq, maxPerDimension);
    params.set([dim, chunk.docCount, nq, grid.x, chunk.firstDoc, n, corpus.rowWords, 0], (c * stride) / 4);
    return grid;
  });
  const scoresBytes = Math.max(4, nq * n * 4);
  const queryBuf = buffer(`${label} queries`, queryData.byteLength, BUFFER_STORAGE | BUFFER_COPY_DST);
  const queryOffBuf = buffer(`${label} query offsets`, queryOffsets.byteLength, BUFFER_STORAGE | BUFFER_COPY_DST);
  const paramBuf = buffer(`${label} params`, params.byteLength, BUFFER_UNIFORM | BUFFER_COPY_DST);
  const scores = buffer(`${label} scores`, scoresBytes, BUFFER_STORAGE | BUFFER_COPY_SRC);
  device.queue.writeBuffer(queryBuf, 0, queryData);
  device.queue.writeBuffer(queryOffBuf, 0, queryOffsets);
  device.queue.writeBuffer(paramBuf, 0, params);
  const bindGroups = corpus.chunks.map((chunk, c) =>
    device.createBindGroup({
      label: `${label} chunk ${c}`,
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: paramBuf, offset: c * stride, size: MAXSIM_PARAMS_BYTES } },
        { binding: 1, resource: { buffer: chunk.docs } },
        { binding: 2, resource: { buffer: chunk.offsets } },
        { binding: 3, resource: { buffer: queryBuf } },
        { binding: 4, resource: { buffer: queryOffBuf } },
        { binding: 5, resource: { buffer: scores } },
      ],
    }),
  );
  return { scores, scoresBytes, bindGroups, grids };
}
