// The standard benchmark workloads W0–W5 (docs/benchmarks.md) and their seeded data. Universal: the
// browser benchmark page imports this file too, so Node and Chromium score byte-identical data without shipping
// it across the DevTools protocol.
import { InvalidArgumentError } from '../core/errors.js';
import type { PackedDocuments } from '../core/packed-documents.js';
import { fmix32, seededRandom } from '../core/seeded-random.js';
import type { TokenMatrix } from '../core/token-matrix.js';

/** A workload id, as performance.md names them. */
export type WorkloadId = 'W0' | 'W1' | 'W2' | 'W3' | 'W4' | 'W5';

/** One standard workload: query shape, document length range (uniform, inclusive), width, document count. */
export interface WorkloadSpec {
  readonly id: WorkloadId;
  readonly name: string;
  /** Tokens per query. */
  readonly lq: number;
  /** Queries scored per call against the same resident documents (W5: 64). */
  readonly queries: number;
  readonly minLd: number;
  readonly maxLd: number;
  readonly dim: number;
  /** Documents at full size. */
  readonly docs: number;
  readonly note: string;
}

/** W0–W5 exactly as performance.md defines them. */
export const WORKLOADS: Readonly<Record<WorkloadId, WorkloadSpec>> = {
  W0: {
    id: 'W0',
    name: 'latency-100',
    lq: 32,
    queries: 1,
    minLd: 180,
    maxLd: 180,
    dim: 128,
    docs: 100,
    note: 'rerank my top-100; overhead dominates',
  },
  W1: {
    id: 'W1',
    name: 'colbert-1k',
    lq: 32,
    queries: 1,
    minLd: 300,
    maxLd: 300,
    dim: 128,
    docs: 1000,
    note: '153.6 MB fp32',
  },
  W2: {
    id: 'W2',
    name: 'colbert-10k',
    lq: 32,
    queries: 1,
    minLd: 300,
    maxLd: 300,
    dim: 128,
    docs: 10_000,
    note: '1.5 GB fp32 / 768 MB f16; on an H200 arithmetic-bound in f32 (docs/benchmarks.md)',
  },
  W3: {
    id: 'W3',
    name: 'ragged-1k',
    lq: 32,
    queries: 1,
    minLd: 128,
    maxLd: 1536,
    dim: 128,
    docs: 1000,
    note: 'uniform lengths 128–1536',
  },
  W4: {
    id: 'W4',
    name: 'bge-m3',
    lq: 32,
    queries: 1,
    minLd: 128,
    maxLd: 512,
    dim: 1024,
    docs: 1000,
    note: 'bge-m3 width, lengths 128–512',
  },
  W5: {
    id: 'W5',
    name: 'many-queries',
    lq: 32,
    queries: 64,
    minLd: 300,
    maxLd: 300,
    dim: 128,
    docs: 1000,
    note: '64 queries share resident documents',
  },
};

/** Every workload id, in order. */
export const WORKLOAD_IDS: readonly WorkloadId[] = ['W0', 'W1', 'W2', 'W3', 'W4', 'W5'];

/** The seed the standard runs use; any other gives different (equally valid) data. */
export const DEFAULT_BENCH_SEED = 20261128;

/**
 * Parses `W1,W3` (case-insensitive, `all` for every workload) into ids, in the order given.
 *
 * @example
 * parseWorkloadList('w1,W3'); // ['W1', 'W3']
 */
export function parseWorkloadList(text: string): WorkloadId[] {
  if (text.trim().toLowerCase() === 'all') return [...WORKLOAD_IDS];
  const ids: WorkloadId[] = [];
  for (const part of text.split(',')) {
    const id = part.trim().toUpperCase();
    if (!(WORKLOAD_IDS as readonly string[]).includes(id)) {
      throw new InvalidArgumentError(`unknown workload ${JSON.stringify(part.trim())}: expected W0–W5 or 'all'`);
    }
    if (!ids.includes(id as WorkloadId)) ids.push(id as WorkloadId);
  }
  if (ids.length === 0) throw new InvalidArgumentError('no workload named: expected e.g. W1,W3 or all');
  return ids;
}

/** A generated workload: `docs` packed documents (the first `docs` of the full workload) and its queries. */
export interface WorkloadData {
  readonly spec: WorkloadSpec;
  readonly seed: number;
  readonly packed: PackedDocuments;
  readonly queries: readonly TokenMatrix[];
}

/** A 32-bit mix of two integers (murmur3's finaliser over a combination): seeds for per-item generators. */
function mixSeed(a: number, b: number): number {
  return fmix32((Math.imul(a >>> 0, 0x9e3779b1) ^ Math.imul((b >>> 0) + 0x7f4a7c15, 0x85ebca6b)) >>> 0);
}

/** Fills `rows` L2-normalised rows of uniform [-1, 1) values into `out` from `offset`. */
function fillUnitRows(random: () => number, out: Float32Array, offset: number, rows: number, dim: number): void {
  for (let r = 0; r < rows; r++) {
    const base = offset + r * dim;
    let sq = 0;
    for (let c = 0; c < dim; c++) {
      const v = random() * 2 - 1;
      out[base + c] = v;
      sq += v * v;
    }
    const inv = 1 / Math.sqrt(sq);
    for (let c = 0; c < dim; c++) out[base + c] = out[base + c]! * inv;
  }
}

/** The token count of document `index` (drawn from its own seed, so it does not depend on how many are made). */
function documentLength(spec: WorkloadSpec, seed: number, index: number): number {
  if (spec.minLd === spec.maxLd) return spec.minLd;
  const random = seededRandom(mixSeed(seed, 2 * index));
  return spec.minLd + Math.floor(random() * (spec.maxLd - spec.minLd + 1));
}

/**
 * Generates a workload's first `docs` documents (default: all) and its queries, seeded random and
 * L2-normalised fp32. Every document and query has its own seed, so a shrunk workload is exactly a prefix of
 * the full one, and Node and a browser page generate identical bytes.
 *
 * @example
 * const w1 = generateWorkload(WORKLOADS.W1, { docs: 100 });
 * w1.packed.totalRows; // 30_000
 */
export function generateWorkload(
  spec: WorkloadSpec,
  options: { readonly docs?: number; readonly seed?: number } = {},
): WorkloadData {
  const seed = (options.seed ?? DEFAULT_BENCH_SEED) >>> 0;
  const count = options.docs ?? spec.docs;
  if (!Number.isInteger(count) || count < 1) {
    throw new InvalidArgumentError(`docs must be an integer >= 1, got ${String(count)}`);
  }
  const rowOffsets = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) rowOffsets[i + 1] = rowOffsets[i]! + documentLength(spec, seed, i);
  const totalRows = rowOffsets[count]!;
  const data = new Float32Array(totalRows * spec.dim);
  for (let i = 0; i < count; i++) {
    const random = seededRandom(mixSeed(seed, 2 * i + 1));
    fillUnitRows(random, data, rowOffsets[i]! * spec.dim, rowOffsets[i + 1]! - rowOffsets[i]!, spec.dim);
  }
  const querySeed = mixSeed(seed, 0xfffffff0);
  const queries: TokenMatrix[] = [];
  for (let q = 0; q < spec.queries; q++) {
    const qdata = new Float32Array(spec.lq * spec.dim);
    fillUnitRows(seededRandom(mixSeed(querySeed, q)), qdata, 0, spec.lq, spec.dim);
    queries.push({ data: qdata, rows: spec.lq, dim: spec.dim });
  }
  // Unit rows: no value exceeds 1 in magnitude.
  return { spec, seed, packed: { data, rowOffsets, count, dim: spec.dim, totalRows, maxAbs: 1 }, queries };
}

/**
 * The first `docs` documents of a generated workload, as views (no copy).
 *
 * @example
 * const small = workloadPrefix(generateWorkload(WORKLOADS.W1), 10);
 */
export function workloadPrefix(data: WorkloadData, docs: number): WorkloadData {
  const { packed } = data;
  if (docs === packed.count) return data;
  if (!Number.isInteger(docs) || docs < 1 || docs > packed.count) {
    throw new InvalidArgumentError(`prefix of ${docs} documents asked of a workload with ${packed.count}`);
  }
  const totalRows = packed.rowOffsets[docs]!;
  return {
    ...data,
    packed: {
      data: packed.data.subarray(0, totalRows * packed.dim),
      rowOffsets: packed.rowOffsets.subarray(0, docs + 1),
      count: docs,
      dim: packed.dim,
      totalRows,
      maxAbs: packed.maxAbs,
    },
  };
}

/** Document `index` of packed documents as a {@link TokenMatrix} view. */
export function packedDocument(packed: PackedDocuments, index: number): TokenMatrix {
  const start = packed.rowOffsets[index]!;
  const end = packed.rowOffsets[index + 1]!;
  return { data: packed.data.subarray(start * packed.dim, end * packed.dim), rows: end - start, dim: packed.dim };
}

/** Expected total tokens of the first `docs` documents, without generating them (for planning). */
export function workloadTokens(spec: WorkloadSpec, docs: number, seed = DEFAULT_BENCH_SEED): number {
  if (spec.minLd === spec.maxLd) return spec.minLd * docs;
  let total = 0;
  for (let i = 0; i < docs; i++) total += documentLength(spec, seed >>> 0, i);
  return total;
}
