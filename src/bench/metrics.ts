// Benchmark arithmetic: percentiles, the effective rates performance.md defines, and how much of a workload
// fits a time budget. Universal (no Node imports): the browser benchmark page uses it too.

/**
 * The `p`-th percentile (0–100) of `values` by linear interpolation between closest ranks (numpy's default),
 * so p50 of an even count is the mean of the middle two. NaN for no values.
 *
 * @example
 * percentile([4, 1, 3, 2], 50); // 2.5
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** p50 and p95 of a list of times, in the unit given. */
export interface TimeSummary {
  readonly p50: number;
  readonly p95: number;
  readonly min: number;
  readonly runs: number;
}

/**
 * p50, p95 and min of timed runs.
 *
 * @example
 * summarizeTimes([3, 1, 2]); // { p50: 2, p95: 2.9, min: 1, runs: 3 }
 */
export function summarizeTimes(times: readonly number[]): TimeSummary {
  return { p50: percentile(times, 50), p95: percentile(times, 95), min: Math.min(...times), runs: times.length };
}

/** What one call scores: the work behind the rates. */
export interface WorkShape {
  /** Tokens per query. */
  readonly lq: number;
  /** Queries per call. */
  readonly queries: number;
  /** Documents scored. */
  readonly docs: number;
  /** Σ document tokens. */
  readonly totalTokens: number;
  readonly dim: number;
  /** Bytes per stored document element: 4 for f32, 2 for f16. */
  readonly bytesPerElement: number;
}

/** FLOPs of one call: 2·Lq·ΣLd·d per query (multiply and add), as performance.md counts them. */
export function workFlop(w: WorkShape): number {
  return 2 * w.lq * w.totalTokens * w.dim * w.queries;
}

/** Document bytes one call must read at least once: ΣLd·d·bytes per element (queries share the read). */
export function documentBytes(w: WorkShape): number {
  return w.totalTokens * w.dim * w.bytesPerElement;
}

/** Effective rates at one time per call. */
export interface Rates {
  /** (query, document) pairs scored per second: documents/s for one query, × queries for W5. */
  readonly docsPerS: number;
  readonly gflops: number;
  readonly gbps: number;
}

/**
 * docs/s, effective GFLOP/s (2·Lq·ΣLd·d / time) and GB/s (document bytes / time) at `ms` milliseconds a call.
 *
 * @example
 * rates({ lq: 32, queries: 1, docs: 1000, totalTokens: 300_000, dim: 128, bytesPerElement: 4 }, 100);
 * // { docsPerS: 10000, gflops: 24.576, gbps: 1.536 }
 */
export function rates(w: WorkShape, ms: number): Rates {
  const s = ms / 1000;
  return { docsPerS: (w.docs * w.queries) / s, gflops: workFlop(w) / s / 1e9, gbps: documentBytes(w) / s / 1e9 };
}

/**
 * Rounds down to two significant digits (1,786 → 1,700; 94 → 94), so shrunk document counts read cleanly.
 *
 * @example
 * floorTwoDigits(1786); // 1700
 */
export function floorTwoDigits(n: number): number {
  if (n < 100) return Math.max(1, Math.floor(n));
  const step = 10 ** (Math.floor(Math.log10(n)) - 1);
  return Math.floor(n / step) * step;
}

/** Inputs to {@link planDocuments}. */
export interface PlanInput {
  /** Documents at full size. */
  readonly fullDocs: number;
  /** FLOPs per document per call at the workload's mean length. */
  readonly flopPerDoc: number;
  /** Expected effective rate on this backend (GFLOP/s), measured earlier in the run or guessed. */
  readonly expectedGflops: number;
  /** Calls the measurement makes: first + warm-up + timed runs (× 2 where kernel-only runs are timed apart). */
  readonly calls: number;
  /** Seconds the measurement should take at most. */
  readonly budgetS: number;
  /** An explicit scale (`--scale-docs`): used as is, no budget. */
  readonly scale?: number;
}

/** How many documents to score, and why fewer than the full workload when so. */
export interface DocumentPlan {
  readonly docs: number;
  /** Empty when the workload runs at full size. */
  readonly reason: string;
}

/**
 * Chooses the document count for one measurement: the full workload when it fits the time budget at the
 * expected rate, else the largest two-significant-digit count that does (at least 1), or exactly
 * `scale × fullDocs` when a scale is given.
 *
 * @example
 * planDocuments({ fullDocs: 1000, flopPerDoc: 2.5e6, expectedGflops: 1, calls: 23, budgetS: 5 });
 * // { docs: 86, reason: 'shrunk to 86 of 1,000 docs to fit a 5 s budget at ~1 GFLOP/s' }
 */
export function planDocuments(input: PlanInput): DocumentPlan {
  const { fullDocs } = input;
  if (input.scale !== undefined) {
    const docs = Math.max(1, Math.min(fullDocs, Math.round(fullDocs * input.scale)));
    return {
      docs,
      reason:
        docs === fullDocs ? '' : `scaled to ${fmtInt(docs)} of ${fmtInt(fullDocs)} docs (--scale-docs ${input.scale})`,
    };
  }
  const seconds = (fullDocs * input.flopPerDoc * input.calls) / (input.expectedGflops * 1e9);
  if (!(seconds > input.budgetS)) return { docs: fullDocs, reason: '' };
  const docs = Math.min(fullDocs, floorTwoDigits((fullDocs * input.budgetS) / seconds));
  return {
    docs,
    reason:
      `shrunk to ${fmtInt(docs)} of ${fmtInt(fullDocs)} docs to fit a ${input.budgetS} s budget at ` +
      `~${fmtRate(input.expectedGflops)} GFLOP/s`,
  };
}

/** `1234567` → `1,234,567`. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Three significant digits, no exponent for everyday magnitudes: 0.0123, 1.23, 12.3, 1230. */
export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 100) return Math.round(x).toLocaleString('en-US');
  if (abs >= 0.001) return Number(x.toPrecision(3)).toString();
  return x.toExponential(2);
}

/**
 * Largest |a[i] − b[i]| over the entries where both are finite (and the count of entries that disagree on
 * finiteness, which is a failure of its own).
 *
 * @example
 * maxAbsDifference([1, 2], [1.5, 2]); // { max: 0.5, mismatched: 0 }
 */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mismatched: number } {
  let max = 0;
  let mismatched = a.length === b.length ? 0 : Math.abs(a.length - b.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isFinite(x) && Number.isFinite(y)) max = Math.max(max, Math.abs(x - y));
    else if (x !== y) mismatched++;
  }
  return { max, mismatched };
}

/**
 * Indices of up to `count` documents spread evenly over `docs` (first and last included): the sample checked
 * against the float64 reference.
 *
 * @example
 * sampleIndices(1000, 4); // [0, 333, 666, 999]
 */
export function sampleIndices(docs: number, count: number): number[] {
  if (docs <= count) return Array.from({ length: docs }, (_, i) => i);
  if (count === 1) return [0];
  return Array.from({ length: count }, (_, i) => Math.floor((i * (docs - 1)) / (count - 1)));
}
