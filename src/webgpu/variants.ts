// The WebGPU kernel variants: names, what each needs from a device, their pipeline constants under a device's
// workgroup-memory limit, and the host-side geometry they share (padded rows, document groups, query groups).
// Pure functions, no GPU: the tests check them without a device.
//
// A variant is the BASELINE kernel (shaders/maxsim.wgsl: one workgroup per (document, query) pair) or a TILED
// kernel (shaders/maxsim-tiled.wgsl): a tile config (how many query rows and tokens a workgroup holds), the
// arithmetic (f32, or f16 products with `shader-f16`), and the epilogue (plain workgroup atomics, or a subgroup
// max first with `subgroups`). Names: `baseline`, or `<config>[-f16math][-subgroup][@<workgroups>]`, e.g.
// `q32`, `q128-f16math-subgroup`, `q32@4096` (at most 4096 working workgroups per chunk: a persistent loop).

/**
 * How documents are stored on the device: f32, f16 pairs packed in u32 words, or int8 (4 values per u32 word, a
 * f32 scale per row; tiled kernels only, with integer arithmetic: shaders/tiled-math-int8.wgsl).
 */
export type Storage = 'f32' | 'f16' | 'int8';

/** The tiled kernel's configs (pipeline constants TQ, TTH, KD and the default MAXD). */
export type TileConfigName = 'q32' | 'q32t32' | 'q64' | 'q128';

export interface TileConfig {
  /** Query-row threads: a workgroup holds QT = 8 TQ query rows. */
  readonly TQ: number;
  /** Token threads: a tile is TT = 4 TTH tokens; WG = TQ TTH invocations. */
  readonly TTH: number;
  /** Dims per chunk (a multiple of 8). */
  readonly KD: number;
  /** Most documents per group (a group of short documents shares one tile). */
  readonly MAXD: number;
}

export const TILE_CONFIGS: Readonly<Record<TileConfigName, TileConfig>> = {
  // 64 invocations, 32 query rows (one ColBERT query) × 64 tokens: the single-query workhorse.
  q32: { TQ: 4, TTH: 16, KD: 32, MAXD: 32 },
  // 32 invocations, 32 rows × 32 tokens: corpora of short documents (less padding per group).
  q32t32: { TQ: 4, TTH: 8, KD: 32, MAXD: 32 },
  // 128 invocations, 64 rows (two 32-row queries per workgroup) × 64 tokens.
  q64: { TQ: 8, TTH: 16, KD: 32, MAXD: 16 },
  // 256 invocations, 128 rows (four 32-row queries per workgroup) × 64 tokens: many queries per call.
  q128: { TQ: 16, TTH: 16, KD: 32, MAXD: 8 },
};

export const TILE_CONFIG_NAMES = Object.keys(TILE_CONFIGS) as TileConfigName[];

/** A kernel variant. */
export type Variant =
  | { readonly kind: 'baseline' }
  | {
      readonly kind: 'tiled';
      readonly config: TileConfigName;
      readonly math: 'f32' | 'f16';
      readonly epilogue: 'plain' | 'subgroup';
      /** Cap on working workgroups per chunk (a persistent loop walks the rest); undefined: one per group. */
      readonly workgroups?: number;
    };

/**
 * The variant's name.
 *
 * @example
 * variantName({ kind: 'tiled', config: 'q128', math: 'f16', epilogue: 'subgroup' }); // 'q128-f16math-subgroup'
 */
export function variantName(v: Variant): string {
  if (v.kind === 'baseline') return 'baseline';
  return (
    `${v.config}${v.math === 'f16' ? '-f16math' : ''}${v.epilogue === 'subgroup' ? '-subgroup' : ''}` +
    `${v.workgroups === undefined ? '' : `@${v.workgroups}`}`
  );
}

/**
 * Parses a variant name (see {@link variantName}); undefined when it names none.
 *
 * @example
 * parseVariant('q32-subgroup'); // { kind: 'tiled', config: 'q32', math: 'f32', epilogue: 'subgroup' }
 */
export function parseVariant(name: string): Variant | undefined {
  if (name === 'baseline') return { kind: 'baseline' };
  const m = /^(q32t32|q32|q64|q128)(-f16math)?(-subgroup)?(?:@([1-9]\d{0,6}))?$/.exec(name);
  if (m === null) return undefined;
  return {
    kind: 'tiled',
    config: m[1] as TileConfigName,
    math: m[2] === undefined ? 'f32' : 'f16',
    epilogue: m[3] === undefined ? 'plain' : 'subgroup',
    ...(m[4] === undefined ? {} : { workgroups: Number(m[4]) }),
  };
}

/** What a device offers that variants depend on. */
export interface VariantDevice {
  readonly features: { readonly shaderF16: boolean; readonly subgroups: boolean };
  readonly limits: {
    readonly maxComputeWorkgroupStorageSize: number;
    readonly maxComputeInvocationsPerWorkgroup: number;
  };
}

/**
 * Why `v` cannot run on `device` for documents stored as `storage` with width `dim`, or undefined when it can.
 *
 * @example
 * variantUnsupported(parseVariant('q32-subgroup')!, device, 'f32', 128); // 'the device has no subgroups feature'
 */
export function variantUnsupported(
  v: Variant,
  device: VariantDevice,
  storage: Storage,
  dim: number,
): string | undefined {
  if (v.kind === 'baseline') {
    return storage === 'int8' ? 'the baseline kernel has no int8 storage (use a tiled variant such as q32)' : undefined;
  }
  if (v.math === 'f16' && storage !== 'f16') return "f16 math needs f16 document storage (precision: 'f16')";
  if (v.math === 'f16' && !device.features.shaderF16) return 'the device has no shader-f16 feature';
  if (v.epilogue === 'subgroup' && !device.features.subgroups) return 'the device has no subgroups feature';
  const cfg = TILE_CONFIGS[v.config];
  if (cfg.TQ * cfg.TTH > device.limits.maxComputeInvocationsPerWorkgroup) {
    return `it needs ${cfg.TQ * cfg.TTH} invocations per workgroup, the device allows ${device.limits.maxComputeInvocationsPerWorkgroup}`;
  }
  if (tiledConstants(v.config, storage, v.math, dim, device.limits.maxComputeWorkgroupStorageSize) === undefined) {
    return `it does not fit ${device.limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory`;
  }
  return undefined;
}

/** Query rows (QT), tokens (TT) and invocations (WG) of a tile config. */
export function tileShape(cfg: TileConfig): { readonly WG: number; readonly QT: number; readonly TT: number } {
  return { WG: cfg.TQ * cfg.TTH, QT: 8 * cfg.TQ, TT: 4 * cfg.TTH };
}

/**
 * u32 words per stored document row: f32 values or f16 pairs, padded with zeros to a multiple of 4 words so every
 * row starts on 16 bytes (the tiled kernels read rows with 16-byte loads). For dims that are multiples of 8 this
 * is exactly the unpadded layout.
 *
 * @example
 * paddedRowWords('f32', 3); // 4
 * paddedRowWords('f16', 128); // 64
 * paddedRowWords('int8', 128); // 32
 */
export function paddedRowWords(storage: Storage, dim: number): number {
  const words = Math.ceil(dim / valuesPerWord(storage));
  return Math.ceil(words / 4) * 4;
}

/** Values per stored u32 word: 1 (f32), 2 (f16), 4 (int8). */
export function valuesPerWord(storage: Storage): number {
  return storage === 'f32' ? 1 : storage === 'f16' ? 2 : 4;
}

/** Dims per 16-byte workgroup-tile unit: 4 f32, 8 f16 (f16 math), 16 int8 (int8 storage has integer math). */
export function tileDims(storage: Storage, math: 'f32' | 'f16'): number {
  return storage === 'int8' ? 16 : math === 'f16' ? 8 : 4;
}

/** Workgroup-memory bytes of a tiled config holding QKD dims of the query block (`storage` int8: int8 tiles). */
export function workgroupBytes(cfg: TileConfig, QKD: number, math: 'f32' | 'f16', storage: Storage = 'f32'): number {
  const dims = tileDims(storage, math);
  const { QT, TT } = tileShape(cfg);
  return 16 * QT * (QKD / dims + 1) + 16 * TT * (cfg.KD / dims + 1) + 4 * cfg.MAXD * QT + 4 * TT + 32;
}

/** Pipeline constants (WGSL overrides) of a tiled kernel. */
export interface TiledConstants {
  readonly TQ: number;
  readonly TTH: number;
  readonly KD: number;
  readonly QKD: number;
  readonly MAXD: number;
  /** 1: the query block is streamed chunk by chunk with the documents; 0: loaded once per workgroup. */
  readonly STREAM_Q: number;
}

/**
 * The pipeline constants of a tiled config for documents of width `dim` under `limit` bytes of workgroup memory:
 * the first that fits of (1) the whole padded query block resident with the config's MAXD, (2) resident with MAXD
 * halved down to 4, (3) streamed (QKD = KD), MAXD as configured then halved. Undefined when nothing fits. QKD is
 * the padded dim rounded up to a power of two, at least 128: every dim up to 128 (ColBERT's) shares one pipeline
 * per variant, which keeps compiling cheap (SwiftShader takes seconds per pipeline) and costs small dims only
 * workgroup memory.
 *
 * @example
 * tiledConstants('q32', 'f32', 'f32', 128, 32768); // { TQ: 4, TTH: 16, KD: 32, QKD: 128, MAXD: 32, STREAM_Q: 0 }
 */
export function tiledConstants(
  config: TileConfigName,
  storage: Storage,
  math: 'f32' | 'f16',
  dim: number,
  limit: number,
  forceStream = false,
): TiledConstants | undefined {
  const cfg = TILE_CONFIGS[config];
  const paddedDim = paddedRowWords(storage, dim) * valuesPerWord(storage);
  let need = 128;
  while (need < paddedDim) need *= 2;
  const base = { TQ: cfg.TQ, TTH: cfg.TTH, KD: cfg.KD };
  const maxds: number[] = [];
  for (let m = cfg.MAXD; m >= 4; m = Math.floor(m / 2)) maxds.push(m);
  if (!forceStream) {
    for (const MAXD of maxds) {
      if (workgroupBytes({ ...cfg, MAXD }, need, math, storage) <= limit)
        return { ...base, MAXD, QKD: need, STREAM_Q: 0 };
    }
  }
  for (const MAXD of maxds) {
    if (workgroupBytes({ ...cfg, MAXD }, cfg.KD, math, storage) <= limit)
      return { ...base, MAXD, QKD: cfg.KD, STREAM_Q: 1 };
  }
  return undefined;
}

/**
 * Document groups of a chunk for the tiled kernels: `groupCount + 1` document indices (chunk-relative). A group is
 * one document of any length, or up to `maxDocs` consecutive documents with at most `tileTokens` rows together.
 * O(documents).
 *
 * @example
 * groupDocuments(new Uint32Array([0, 10, 20, 100, 110]), 64, 32); // [0, 2, 3, 4]
 */
export function groupDocuments(rowOffsets: Uint32Array, tileTokens: number, maxDocs: number): Uint32Array<ArrayBuffer> {
  const n = rowOffsets.length - 1;
  const starts: number[] = [0];
  let start = 0;
  for (let d = 0; d < n; d++) {
    if (d > start && (rowOffsets[d + 1]! - rowOffsets[start]! > tileTokens || d + 1 - start > maxDocs)) {
      starts.push(d);
      start = d;
    }
  }
  if (n > 0) starts.push(n);
  return Uint32Array.from(starts);
}

/**
 * Queries per workgroup for a block of QT rows: G = max(1, floor(QT / the most rows of any query)).
 *
 * @example
 * queriesPerGroup(new Uint32Array([0, 32, 64, 96]), 128); // 4
 */
export function queriesPerGroup(queryOffsets: Uint32Array, QT: number): number {
  let maxRows = 0;
  for (let i = 0; i + 1 < queryOffsets.length; i++) {
    maxRows = Math.max(maxRows, queryOffsets[i + 1]! - queryOffsets[i]!);
  }
  return Math.max(1, Math.floor(QT / Math.max(1, maxRows)));
}

/**
 * The variants worth measuring (or choosing from) on a device for a batch: every supported tiled config with
 * the device's epilogues, f16 math only when `f16Math` (and then only f16 math), plus the baseline. A batch of
 * one query with at most 32 rows skips q64 and q128, which would compute padding rows.
 */
export function candidateVariants(
  device: VariantDevice,
  storage: Storage,
  dim: number,
  f16Math: boolean,
  batch: { readonly queries: number; readonly maxRows: number },
): Variant[] {
  const out: Variant[] = [];
  const math = f16Math ? 'f16' : 'f32';
  for (const config of TILE_CONFIG_NAMES) {
    if (batch.queries <= 1 && batch.maxRows <= 32 && (config === 'q64' || config === 'q128')) continue;
    for (const epilogue of ['plain', 'subgroup'] as const) {
      const v: Variant = { kind: 'tiled', config, math, epilogue };
      if (variantUnsupported(v, device, storage, dim) === undefined) out.push(v);
    }
  }
  if (!f16Math && storage !== 'int8') out.push({ kind: 'baseline' });
  return out;
}

/**
 * The variant used without measuring (software adapters, tuning off, or tuning failed). Software adapters: q32
 * for up to two queries a call (the tiled kernels are 2.4–4× the baseline's speed on lavapipe and SwiftShader).
 * Hardware: the baseline for up to four queries with f32 arithmetic and q128 (q64, q32) beyond, from the one real
 * GPU measured (H200 through Dawn/Vulkan, 2026-12-04: W2 baseline 1.39 ms against q32's 3.38 ms; W5 q128 7.44 ms
 * against the baseline's 8.34 ms). f16 arithmetic and int8 storage need a tiled kernel. Plain epilogue.
 */
export function defaultVariant(
  device: VariantDevice,
  storage: Storage,
  dim: number,
  f16Math: boolean,
  batch: { readonly queries: number; readonly maxRows: number },
  software: boolean,
): Variant {
  const math = f16Math && storage === 'f16' && device.features.shaderF16 ? 'f16' : 'f32';
  // int8 has no baseline kernel: it takes the tiled order below.
  if (!software && math === 'f32' && storage !== 'int8' && batch.queries <= 4) return { kind: 'baseline' };
  const order: TileConfigName[] =
    software || batch.queries <= 2 ? ['q32'] : batch.queries <= 4 ? ['q64', 'q32'] : ['q128', 'q64', 'q32'];
  for (const config of order) {
    const v: Variant = { kind: 'tiled', config, math, epilogue: 'plain' };
    if (variantUnsupported(v, device, storage, dim) === undefined) return v;
  }
  // int8 has no baseline kernel: q32 then, and getKernelPipeline says why it cannot run.
  return storage === 'int8' ? { kind: 'tiled', config: 'q32', math, epilogue: 'plain' } : { kind: 'baseline' };
}
