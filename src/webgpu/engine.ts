import { DeviceLostError, GpuLimitError, GpuValidationError } from './errors.js';
import { DestroyedError, InvalidArgumentError, MaxsimError } from '../core/errors.js';
import { EMPTY_DOCUMENT_SCORE } from '../core/reference.js';
import type { ScoringEngine, ScorerInfo, VariantChoiceInfo } from '../core/scorer.js';
import type { TokenMatrix } from '../core/token-matrix.js';
import { destroyCorpus, uploadCorpus, type GpuCorpus } from './corpus.js';
import { captureGpuErrors, describeAdapter, MAP_MODE_READ, raceLost, type MaxsimDevice } from './device.js';
import { MaxsimWorkspace, prepareDispatch, type PreparedDispatch } from './dispatch.js';
import { getKernelPipeline, type Int8Dot, type KernelPipeline } from './pipelines.js';
import { chooseVariant, choiceKey, type TuningSettings, type VariantChoice } from './tuning.js';
import {
  defaultVariant,
  parseVariant,
  TILE_CONFIG_NAMES,
  variantName,
  variantUnsupported,
  type Storage,
  type Variant,
} from './variants.js';

export { dispatchGrid } from './dispatch.js';

/** Options for {@link createWebGpuEngine}. */
export interface WebGpuEngineOptions {
  /**
   * Document storage: `'f32'` (default), `'f16'` (half the memory and bandwidth) or `'int8'` (per-row symmetric
   * int8 with a f32 scale per row, a quarter of the memory; the query quantized per row to int8 too, integer dot
   * products; tiled variants only). Error bounds in the README.
   */
  readonly precision?: 'f32' | 'f16' | 'int8';
  /**
   * int8 storage: the integer dot product. `'auto'` (default): WGSL's `dot4I8Packed` where the
   * `packed_4x8_integer_dot_product` language feature exists, else bytes unpacked with shifts; `'unpacked'` forces
   * the core-WGSL path; `'dot4I8Packed'` insists on the builtin (E_INVALID_ARGUMENT where it is missing). Both
   * paths compute the same integers, so the same scores.
   */
  readonly int8Dot?: 'auto' | Int8Dot;
  /**
   * f16 arithmetic (f16 products, f32 max and sum) where the device has `shader-f16`: opt-in, with `precision:
   * 'f16'` only; its error bound is in the README. Without `shader-f16` the kernels keep f32 math (info says so).
   */
  readonly f16Math?: boolean;
  /**
   * The kernel variant: `'auto'` (default: measured per adapter and kind of call, or a default on software
   * adapters), or a name (`'baseline'`, `'q32'`, `'q32t32'`, `'q64'`, `'q128'`, with `-f16math`, `-subgroup`,
   * `@<workgroups>`; see variants.ts) to force one.
   */
  readonly variant?: string;
  /** Measure variants at the first call of each kind (default: on hardware adapters only). */
  readonly tune?: boolean;
  /** Tuning knobs (time cap, synthetic corpus size). */
  readonly tuning?: TuningSettings;
  /** Baseline kernel only: native `f16` loads where the device has `shader-f16` (default true). */
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

/** A dispatch prepared in its own buffers, for kernel-only timing (the benchmark). */
export interface TimedDispatch {
  /** The variant it runs (the one score() would choose for these queries and this corpus). */
  readonly variant: string;
  readonly scoresBytes: number;
  /** The scores buffer the dispatch writes (`queries × documents` raw sums). */
  readonly scores: GPUBuffer;
  encode(pass: GPUComputePassEncoder): void;
  destroy(): void;
}

/**
 * The WebGPU engine. Once its device is lost every call rejects with {@link DeviceLostError}; `lostError` says
 * so without a call, for a caller that falls back (see `withCpuFallback`).
 */
export interface WebGpuEngine extends ScoringEngine<WebGpuCorpus> {
  readonly backend: 'webgpu';
  readonly lostError: DeviceLostError | undefined;
  /** Prepares the dispatch score() would run for `queries` against `corpus`, in buffers of its own. */
  prepareTimedDispatch(queries: readonly TokenMatrix[], corpus: WebGpuCorpus): Promise<TimedDispatch>;
}

/** Largest partial sum f16 arithmetic may meet: max ||q|| · sqrt(dim) · max |d| must stay under it. */
const F16_MATH_RANGE = 2 ** 14;

/**
 * The WebGPU backend's engine: documents resident in chunked storage buffers, a MaxSim kernel variant chosen per
 * adapter and kind of call (tiled kernels of shaders/maxsim-tiled.wgsl, or the baseline shaders/maxsim.wgsl) run
 * for a batch of queries per submit, and only the scores read back. Per-scorer buffers (queries, params, scores,
 * readback) are reused across calls. Wrap it with `createScorerFromEngine`; users call
 * `createScorer({ backend: 'webgpu' })`.
 *
 * @example
 * const engine = await createWebGpuEngine(await createMaxsimDevice(navigator.gpu), { precision: 'f16' });
 * const scorer = createScorerFromEngine(engine);
 */
export async function createWebGpuEngine(md: MaxsimDevice, options: WebGpuEngineOptions = {}): Promise<WebGpuEngine> {
  const precision = options.precision ?? 'f32';
  if (precision !== 'f32' && precision !== 'f16' && precision !== 'int8') {
    throw new InvalidArgumentError(`precision must be 'f32', 'f16' or 'int8', got ${JSON.stringify(precision)}`);
  }
  const storage: Storage = precision;
  const int8Dot = storage === 'int8' ? resolveInt8Dot(options.int8Dot, md) : undefined;
  const f16MathAsked = options.f16Math === true;
  if (f16MathAsked && precision !== 'f16') {
    throw new InvalidArgumentError("f16Math needs precision: 'f16' (f16 arithmetic reads f16 document storage)");
  }
  const f16Math = f16MathAsked && md.features.shaderF16;
  const notes: string[] = [];
  if (f16MathAsked && !f16Math) notes.push('f16 math asked for, but the device has no shader-f16: f32 math');
  const forced = parseForcedVariant(options.variant, md, storage);
  // int8 is not measured yet: the default variant (tuning's synthetic corpus has no int8 storage).
  const tune = storage !== 'int8' && (options.tune ?? !md.adapter.isFallbackAdapter);
  const nativeF16 = options.nativeF16 !== false;
  const maxPerDimension = Math.min(
    md.limits.maxComputeWorkgroupsPerDimension,
    options.maxWorkgroupsPerDimension ?? Infinity,
  );
  // On a hardware adapter, start compiling the likeliest kernel (dim 128, one query) in the background, off the
  // JS thread: creating a scorer stays quick and the first call of that kind finds it ready or nearly. A failure
  // is not kept: that call compiles again and reports the error. Software adapters compile on first use only
  // (seconds per pipeline on SwiftShader, wasted on a scorer that never scores that kind).
  const dotOption = int8Dot === undefined ? {} : { int8Dot };
  const first = forced ?? defaultVariant(md, storage, 128, f16Math, { queries: 1, maxRows: 32 }, true);
  if (!md.adapter.isFallbackAdapter && variantUnsupported(first, md, storage, 128) === undefined) {
    getKernelPipeline(md, storage, first, 128, { nativeF16, ...dotOption }).catch(() => undefined);
  }

  let destroyed = false;
  const workspace = new MaxsimWorkspace(md, 'maxsim');
  const choices = new Map<string, VariantChoice>();
  let latest: string | undefined;
  const info: ScorerInfo = {
    backend: 'webgpu',
    get summary() {
      const kernel = latest === undefined ? '' : `, kernel ${latest}`;
      const extra = notes.length === 0 ? '' : ` (${notes.join('; ')})`;
      const int8 = int8Dot === undefined ? '' : ` (int8 queries, ${int8Dot} integer dot products)`;
      return `webgpu: ${describeAdapter(md.adapter)}, ${storage} document storage${int8}${f16Math ? ', f16 math' : ''}${kernel}${extra}`;
    },
    adapter: md.adapter,
    precision,
    ...(int8Dot === undefined ? {} : { int8Dot }),
    get variant() {
      return latest;
    },
    get variantChoices(): readonly VariantChoiceInfo[] {
      return [...choices.values()].map(({ key, variant, how, timingsMs, note }) => ({
        key,
        variant,
        how,
        ...(timingsMs === undefined ? {} : { timingsMs }),
        ...(note === undefined ? {} : { note }),
      }));
    },
  };

  /** The kernel for this batch against this corpus: forced, or chosen per kind of call. */
  const kernelFor = async (corpus: GpuCorpus, batch: readonly TokenMatrix[]): Promise<KernelPipeline> => {
    const mathOk = f16Math && f16MathInRange(batch, corpus);
    let variant: Variant;
    let choice: VariantChoice;
    const batchShape = { queries: batch.length, maxRows: Math.max(0, ...batch.map((q) => q.rows)) };
    if (forced !== undefined) {
      variant =
        forced.kind === 'tiled' && forced.math === 'f16' && !f16MathInRange(batch, corpus)
          ? { ...forced, math: 'f32' }
          : forced;
      const key = choiceKey(
        storage,
        variant.kind === 'tiled' && variant.math === 'f16',
        corpus.dim,
        batchShape,
        corpus.meanTokens,
      );
      choice = {
        key,
        variant: variantName(variant),
        how: 'forced',
        ...(variant === forced ? {} : { note: 'values too large for f16 math: f32 math' }),
      };
    } else {
      choice = await chooseVariant(md, {
        storage,
        dim: corpus.dim,
        f16Math: mathOk,
        queries: batch,
        meanTokens: corpus.meanTokens,
        tune,
        settings: options.tuning ?? {},
        maxPerDimension,
      });
      if (f16Math && !mathOk) choice = { ...choice, note: 'values too large for f16 math: f32 math' };
      variant = parseVariant(choice.variant)!;
    }
    choices.set(choice.key, choice);
    return getKernelPipeline(md, storage, variant, corpus.dim, { nativeF16, ...dotOption });
  };

  /** The device loss behind a failure, if the device is lost; the failure itself otherwise. */
  const lostFrom = async (err: unknown): Promise<DeviceLostError | undefined> => {
    if (err instanceof DeviceLostError) return err;
    if (err instanceof MaxsimError) return undefined;
    // A rejected mapAsync may arrive just before `device.lost` resolves: give the loss a moment to show.
    await Promise.race([md.lost, new Promise((resolve) => setTimeout(resolve, 100))]);
    return md.lostError;
  };

  const scoreBatch = async (
    kernel: KernelPipeline,
    batch: readonly TokenMatrix[],
    corpus: GpuCorpus,
    out: Float32Array[],
  ): Promise<void> => {
    const { device } = md;
    const n = corpus.count;
    const nq = batch.length;
    let readback: GPUBuffer | undefined;
    try {
      const { mapped, bytes } = await captureGpuErrors(md, `scoring ${nq} queries against ${n} documents`, () => {
        const prepared = prepareDispatch(md, workspace, kernel, corpus, batch, maxPerDimension);
        readback = workspace.acquireReadback(prepared.scoresBytes);
        const encoder = device.createCommandEncoder({ label: 'maxsim' });
        const pass = encoder.beginComputePass({ label: 'maxsim' });
        prepared.encode(pass);
        pass.end();
        encoder.copyBufferToBuffer(workspace.scores, 0, readback, 0, prepared.scoresBytes);
        device.queue.submit([encoder.finish()]);
        const mapped = readback.mapAsync(MAP_MODE_READ, 0, prepared.scoresBytes);
        // When the error scopes report first, this map is abandoned (its buffer destroyed below) and its
        // rejection is nobody's business; on the normal path it is awaited below and rejects there.
        mapped.catch(() => undefined);
        return { mapped, bytes: prepared.scoresBytes };
      });
      // Errors are checked before the mapped bytes are trusted: a failed dispatch leaves zeros behind.
      await raceLost(md, mapped);
      const all = new Float32Array(readback!.getMappedRange(0, bytes));
      for (let i = 0; i < nq; i++) {
        const row = out[i]!;
        if (batch[i]!.rows === 0) continue; // a query with no rows scores 0 against everything, empty docs too
        row.set(all.subarray(i * n, (i + 1) * n));
        for (const e of corpus.emptyDocs) row[e] = EMPTY_DOCUMENT_SCORE;
      }
      readback!.unmap();
      workspace.releaseReadback(readback!);
      readback = undefined;
    } finally {
      readback?.destroy(); // only on failure: an abandoned or failed map
    }
  };

  const scoreOnGpu = async (queries: readonly TokenMatrix[], corpus: GpuCorpus): Promise<Float32Array[]> => {
    const n = corpus.count;
    const out = queries.map(() => new Float32Array(n));
    if (n === 0) return out;
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
      const batch = queries.slice(start, end);
      const kernel = await kernelFor(corpus, batch);
      latest = kernel.name;
      await scoreBatch(kernel, batch, corpus, out.slice(start, end));
      start = end;
    }
    return out;
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
        return await scoreOnGpu(queries, corpus.gpu);
      } catch (err) {
        const lost = await lostFrom(err);
        if (lost !== undefined) throw lost;
        if (err instanceof MaxsimError) throw err;
        throw new GpuValidationError('reading scores back', err instanceof Error ? err.message : String(err));
      }
    },
    prepareTimedDispatch: async (queries, corpus) => {
      const gpu = corpus.gpu;
      if (gpu === undefined) throw new DestroyedError('Corpus');
      const kernel = await kernelFor(gpu, queries);
      const ws = new MaxsimWorkspace(md, 'maxsim timed');
      let prepared: PreparedDispatch;
      try {
        prepared = await captureGpuErrors(md, 'preparing a timed dispatch', () =>
          prepareDispatch(md, ws, kernel, gpu, queries, maxPerDimension),
        );
      } catch (err) {
        ws.destroy();
        throw err;
      }
      return {
        variant: kernel.name,
        scoresBytes: prepared.scoresBytes,
        scores: ws.scores,
        encode: (pass) => prepared.encode(pass),
        destroy: () => {
          for (const key of [...gpu.bindGroups.keys()]) if (key.endsWith(`|${ws.id}`)) gpu.bindGroups.delete(key);
          ws.destroy();
        },
      };
    },
    release: (corpus) => {
      if (corpus.gpu !== undefined) destroyCorpus(corpus.gpu);
      corpus.gpu = undefined;
    },
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      workspace.destroy();
      if (options.destroyDevice === true) md.destroy();
    },
  };
}

/** The int8 dot-product path for `asked` on this device (see WebGpuEngineOptions.int8Dot). */
function resolveInt8Dot(asked: unknown, md: MaxsimDevice): Int8Dot {
  if (asked === undefined || asked === 'auto') return md.features.packedDot4x8 ? 'dot4I8Packed' : 'unpacked';
  if (asked === 'unpacked') return 'unpacked';
  if (asked === 'dot4I8Packed') {
    if (md.features.packedDot4x8) return 'dot4I8Packed';
    throw new InvalidArgumentError(
      "int8Dot: 'dot4I8Packed' needs the WGSL language feature packed_4x8_integer_dot_product, which this GPU " +
        "lacks; use 'auto' (unpacks with shifts here)",
    );
  }
  throw new InvalidArgumentError(`int8Dot must be 'auto', 'dot4I8Packed' or 'unpacked', got ${JSON.stringify(asked)}`);
}

/** The variant named by `name` (undefined for `'auto'`), checked against the device's features. */
function parseForcedVariant(name: string | undefined, md: MaxsimDevice, storage: Storage): Variant | undefined {
  if (name === undefined || name === 'auto') return undefined;
  const variant = typeof name === 'string' ? parseVariant(name) : undefined;
  if (variant === undefined) {
    throw new InvalidArgumentError(
      `unknown WebGPU kernel variant ${JSON.stringify(name)}: expected 'auto', 'baseline' or ` +
        `<${TILE_CONFIG_NAMES.join('|')}>[-f16math][-subgroup][@<workgroups>], e.g. 'q32' or 'q128-subgroup'`,
    );
  }
  // Dim 1 asks only about features (every config fits any device at the smallest dim).
  const why = variantUnsupported(variant, md, storage, 1);
  if (why !== undefined) throw new InvalidArgumentError(`WebGPU kernel variant '${name}' cannot run here: ${why}`);
  return variant;
}

/**
 * True when f16 arithmetic is safe for this batch: every partial sum of a dot product is bounded by
 * ||q|| · ||d|| ≤ ||q|| · sqrt(dim) · max|d|, which must stay well inside f16's range (2^14 of 65504), and every
 * query value must fit f16.
 */
function f16MathInRange(batch: readonly TokenMatrix[], corpus: GpuCorpus): boolean {
  const docNorm = Math.sqrt(corpus.dim) * corpus.maxAbs;
  for (const q of batch) {
    const { data, rows, dim } = q;
    for (let r = 0; r < rows; r++) {
      let sq = 0;
      for (let k = 0; k < dim; k++) {
        const v = data[r * dim + k]!;
        if (Math.abs(v) >= 65504) return false;
        sq += v * v;
      }
      if (Math.sqrt(sq) * docNorm >= F16_MATH_RANGE) return false;
    }
  }
  return true;
}
