import {
  DestroyedError,
  DimensionMismatchError,
  ForeignCorpusError,
  InvalidArgumentError,
  ScoreOverflowError,
} from './errors.js';
import { applyScale, checkScale, type Scale } from './reference.js';
import { packDocuments, type PackedDocuments } from './packed-documents.js';
import { topK, type RankedDocument } from './top-k.js';
import { validateTokenMatrix, type TokenMatrix } from './token-matrix.js';

/** A backend that actually runs: `'cpu'` (always available) or `'webgpu'`. */
export type Backend = 'cpu' | 'webgpu';

/** What the caller asks for: a backend, or `'auto'` to pick the best that works here. */
export type BackendChoice = 'auto' | Backend;

/** What a scorer runs on, for people (logs, benchmark tables, the demo's label). */
export interface ScorerInfo {
  readonly backend: Backend;
  /** One line for humans, e.g. `cpu (typescript, 1 thread)` or `webgpu: NVIDIA H200 (vulkan)`. */
  readonly summary: string;
  /** The CPU kernel in use (`'typescript'`, `'wasm-simd'`, `'wasm-relaxed-simd'`), for the CPU backend. */
  readonly kernel?: string;
  /**
   * WebGPU: the kernel variant the latest `score()` ran (`'q32'`, `'q128-f16math-subgroup'`, `'baseline'`, ...);
   * undefined before the first call. Variants are chosen per kind of call; `variantChoices` lists each choice.
   */
  readonly variant?: string | undefined;
  /** WebGPU: every variant choice this scorer made so far, one per kind of call. */
  readonly variantChoices?: readonly VariantChoiceInfo[];
  /** GPU adapter details, for the WebGPU backend. */
  readonly adapter?: {
    readonly vendor: string;
    readonly architecture: string;
    readonly device: string;
    readonly description: string;
    /** True for software adapters (SwiftShader, lavapipe): right answers, not speed. */
    readonly isFallbackAdapter: boolean;
  };
  /**
   * How documents are stored: `'f32'`, `'f16'` (WebGPU), or `'int8'` (per-row symmetric int8 with a float32
   * scale per row; both backends).
   */
  readonly precision?: 'f32' | 'f16' | 'int8';
  /**
   * WebGPU with `precision: 'int8'`: how the kernels compute integer dot products, `'dot4I8Packed'` (the WGSL
   * builtin, where the `packed_4x8_integer_dot_product` language feature exists) or `'unpacked'` (bytes
   * sign-extended with shifts); the same integers either way.
   */
  readonly int8Dot?: 'dot4I8Packed' | 'unpacked' | undefined;
  /** Worker threads in use, for CPU kernels that have them. */
  readonly threads?: number;
  /**
   * Why `threads` is lower than asked for (or than the default of one per core): no `Worker` in this runtime,
   * the single-threaded TypeScript kernel, or worker threads that failed to start. Absent when nothing was dropped.
   */
  readonly threadsReason?: string | undefined;
  /**
   * Why the CPU scores although WebGPU could have been asked for: no WebGPU in the runtime, no adapter, a
   * software adapter, a failed device, a lost device, or `backend: 'cpu'` asked for. Absent on WebGPU.
   */
  readonly fallbackReason?: string | undefined;
}

/** How a WebGPU scorer chose its kernel variant for one kind of call (storage, dim, query batch, lengths). */
export interface VariantChoiceInfo {
  /** The kind of call, e.g. `f32 dim≤128 queries=1 long-docs`. */
  readonly key: string;
  readonly variant: string;
  /** `'tuned'` (measured on this adapter), `'default'` (not measured: software adapter or tuning off), `'forced'`. */
  readonly how: 'tuned' | 'default' | 'forced';
  /** Tuned: median ms per dispatch of each candidate on the synthetic tuning corpus. */
  readonly timingsMs?: Readonly<Record<string, number>>;
  readonly note?: string;
}

/**
 * Documents made resident once (packed on the CPU, or in GPU buffers) and scored many times.
 * Belongs to the scorer that uploaded it; `destroy()` frees its memory and is idempotent.
 */
export interface Corpus {
  readonly count: number;
  readonly dim: number;
  readonly totalTokens: number;
  readonly destroyed: boolean;
  destroy(): void;
}

/** How far an upload is: `done` of `total` documents resident. */
export interface UploadProgress {
  readonly done: number;
  readonly total: number;
}

/** Options for {@link Scorer.upload}. */
export interface UploadOptions {
  /**
   * Called as documents become resident (`{ done, total }`, the shape of the /pooling client's progress), at least
   * once at the start and once at the end.
   */
  readonly onProgress?: (progress: UploadProgress) => void;
}

/** Options for {@link Scorer.rerank}. */
export interface RerankOptions {
  /** Keep the best `topK` documents; all of them when absent. */
  readonly topK?: number;
}

/**
 * Scores queries against documents with MaxSim. Create one with `createScorer()`.
 *
 * @example
 * const scorer = await createScorer();
 * const corpus = await scorer.upload(docs);
 * const [scores] = await scorer.score([query], corpus);   // one score per document, in document order
 * const best = await scorer.rerank(query, corpus, { topK: 10 });
 * corpus.destroy(); scorer.destroy();
 */
export interface Scorer {
  readonly backend: Backend;
  readonly info: ScorerInfo;
  readonly scale: Scale;
  /**
   * Makes documents resident once, for many `score`/`rerank` calls. The scorer keeps its own copy: changing the
   * documents after the returned promise settles changes no score (do not change them before).
   */
  upload(docs: readonly TokenMatrix[], options?: UploadOptions): Promise<Corpus>;
  /** One Float32Array per query, one score per document, in document order. */
  score(queries: readonly TokenMatrix[], docs: readonly TokenMatrix[] | Corpus): Promise<Float32Array[]>;
  /** Documents best first (ties: lower index first), the best `topK` or all. */
  rerank(query: TokenMatrix, docs: readonly TokenMatrix[] | Corpus, options?: RerankOptions): Promise<RankedDocument[]>;
  /** Frees everything the scorer created; idempotent. Later calls throw `E_DESTROYED`. */
  destroy(): void;
}

/**
 * What a backend implements; {@link createScorerFromEngine} adds validation, scaling, corpus ownership,
 * rerank and destroy semantics on top, so every backend behaves the same at the API.
 * `score` returns raw sums (scale `'sum'`) and {@link EMPTY_DOCUMENT_SCORE} for empty documents.
 */
export interface ScoringEngine<C> {
  readonly backend: Backend;
  readonly info: ScorerInfo;
  /**
   * Makes `packed` resident. Read its rows with `forEachRowRun` / `copyPackedRows` where they are copied anyway
   * (`packed.data` packs the whole corpus first), and before the returned promise settles: the caller's documents
   * are the source until then. `onProgress` may be called as documents become resident.
   */
  upload(packed: PackedDocuments, onProgress?: (progress: UploadProgress) => void): Promise<C>;
  score(queries: readonly TokenMatrix[], corpus: C): Promise<Float32Array[]>;
  release(corpus: C): void;
  destroy(): void;
}

class CorpusHandle<C> implements Corpus {
  #inner: C | undefined;
  readonly #release: (inner: C) => void;
  readonly owner: object;
  readonly count: number;
  readonly dim: number;
  readonly totalTokens: number;
  readonly maxAbs: number;

  constructor(owner: object, inner: C, packed: PackedDocuments, release: (inner: C) => void) {
    this.owner = owner;
    this.#inner = inner;
    this.#release = release;
    this.count = packed.count;
    this.dim = packed.dim;
    this.totalTokens = packed.totalRows;
    this.maxAbs = packed.maxAbs;
  }

  get destroyed(): boolean {
    return this.#inner === undefined;
  }

  get inner(): C {
    if (this.#inner === undefined) throw new DestroyedError('Corpus');
    return this.#inner;
  }

  destroy(): void {
    const inner = this.#inner;
    if (inner === undefined) return;
    this.#inner = undefined;
    this.#release(inner);
  }
}

/**
 * Σ|query values| × max|document value| at or past which a score could overflow float32 (see
 * {@link ScoreOverflowError}): half of float32's largest value, leaving room for rounding.
 */
const SCORE_OVERFLOW_BOUND = 2 ** 127;

/**
 * Wraps a {@link ScoringEngine} into the public {@link Scorer} contract. Backends call this; users call
 * `createScorer()`.
 */
export function createScorerFromEngine<C>(engine: ScoringEngine<C>, scale: Scale = 'sum'): Scorer {
  checkScale(scale);
  let destroyed = false;
  const self = {} as Scorer;
  const live = new Set<CorpusHandle<C>>();

  const alive = (): void => {
    if (destroyed) throw new DestroyedError('Scorer');
  };

  const uploadPacked = async (
    docs: readonly TokenMatrix[],
    dim?: number,
    onProgress?: (progress: UploadProgress) => void,
  ): Promise<CorpusHandle<C>> => {
    const packed = packDocuments(docs, dim);
    let reported: UploadProgress | undefined;
    const report =
      onProgress === undefined
        ? undefined
        : (progress: UploadProgress): void => {
            reported = progress;
            onProgress(progress);
          };
    report?.({ done: 0, total: packed.count });
    const inner = (await engine.upload(packed, report)) as C;
    if (report !== undefined && reported?.done !== packed.count) report({ done: packed.count, total: packed.count });
    const handle: CorpusHandle<C> = new CorpusHandle<C>(self, inner, packed, (c) => {
      live.delete(handle);
      engine.release(c);
    });
    if (destroyed) {
      handle.destroy();
      throw new DestroyedError('Scorer');
    }
    live.add(handle);
    return handle;
  };

  const checkQueries = (queries: readonly TokenMatrix[]): void => {
    if (!Array.isArray(queries)) {
      throw new InvalidArgumentError('queries must be an array of TokenMatrix (wrap a single query in [ ])');
    }
    for (let i = 0; i < queries.length; i++) validateTokenMatrix(queries[i]!, `query ${i}`);
  };

  const score = async (
    queries: readonly TokenMatrix[],
    docs: readonly TokenMatrix[] | Corpus,
  ): Promise<Float32Array[]> => {
    alive();
    checkQueries(queries);
    let handle: CorpusHandle<C>;
    let temporary = false;
    if (docs instanceof CorpusHandle) {
      if (docs.owner !== self) throw new ForeignCorpusError();
      handle = docs as CorpusHandle<C>;
    } else if (Array.isArray(docs)) {
      handle = await uploadPacked(docs, queries[0]?.dim);
      temporary = true;
    } else {
      throw new InvalidArgumentError('docs must be an array of TokenMatrix or a Corpus returned by scorer.upload()');
    }
    try {
      if (handle.count > 0) {
        for (let i = 0; i < queries.length; i++) {
          if (queries[i]!.dim !== handle.dim)
            throw new DimensionMismatchError(handle.dim, queries[i]!.dim, `query ${i}`);
        }
      }
      for (let i = 0; i < queries.length; i++) {
        const data = queries[i]!.data;
        let absSum = 0;
        for (let k = 0; k < data.length; k++) absSum += Math.abs(data[k]!);
        if (absSum * handle.maxAbs >= SCORE_OVERFLOW_BOUND) {
          throw new ScoreOverflowError(`query ${i}`, absSum, handle.maxAbs);
        }
      }
      if (queries.length === 0) return [];
      // Destroying the scorer or the corpus while this call runs ends it with E_DESTROYED on every backend,
      // whatever the backend made of its buffers going away (a GPU validation error, or scores of freed memory).
      const destroyedMeanwhile = (): DestroyedError | undefined =>
        destroyed ? new DestroyedError('Scorer') : handle.destroyed ? new DestroyedError('Corpus') : undefined;
      let sums: Float32Array[];
      try {
        sums = await engine.score(queries, handle.inner);
      } catch (err) {
        throw destroyedMeanwhile() ?? err;
      }
      const gone = destroyedMeanwhile();
      if (gone !== undefined) throw gone;
      if (scale === 'mean') {
        for (let i = 0; i < queries.length; i++) {
          const rows = queries[i]!.rows;
          const s = sums[i]!;
          for (let j = 0; j < s.length; j++) s[j] = applyScale(s[j]!, rows, scale);
        }
      }
      return sums;
    } finally {
      if (temporary) handle.destroy();
    }
  };

  const api = {
    // Getters: a backend may change what it runs on (WebGPU falling back to the CPU after a device loss).
    get backend() {
      return engine.backend;
    },
    get info() {
      return engine.info;
    },
    scale,
    upload: async (docs: readonly TokenMatrix[], options: UploadOptions = {}) => {
      alive();
      if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
        throw new InvalidArgumentError('upload() options.onProgress must be a function');
      }
      return uploadPacked(docs, undefined, options.onProgress);
    },
    score,
    rerank: async (query: TokenMatrix, docs: readonly TokenMatrix[] | Corpus, options: RerankOptions = {}) => {
      alive();
      const k = options.topK;
      if (k !== undefined && (!Number.isInteger(k) || k < 0)) {
        throw new InvalidArgumentError(`topK must be an integer >= 0, got ${String(k)}`);
      }
      const [scores] = await score([query], docs);
      return topK(scores!, k);
    },
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      for (const handle of [...live]) handle.destroy();
      engine.destroy();
    },
  } satisfies Scorer;
  Object.defineProperties(self, Object.getOwnPropertyDescriptors(api));
  return self;
}
