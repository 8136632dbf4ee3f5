// The kernel case grid shared by every backend's tests: the TypeScript and WASM CPU kernels, WebGPU through Dawn
// in Node (lavapipe/SwiftShader here), and Chromium's WebGPU. Shapes that stress the kernels' edges, seeded data,
// a float64 reference with an error scale, and a comparison that prints a table of actual vs expected around the
// first bad index.
import { maxsimReference } from '../../src/core/reference.js';
import { randomMatrix, seededRandom } from './random.js';
import type { TokenMatrix } from '../../src/core/token-matrix.js';

/** One shape: query row counts, document row counts, width. */
export interface KernelCase {
  readonly name: string;
  readonly dim: number;
  readonly queryRows: readonly number[];
  readonly docRows: readonly number[];
}

/**
 * The grid. Tile sizes in shaders/maxsim.wgsl are 32 query rows × 64 tokens × 32 dims, so lengths of 31/33,
 * 63/65/129 and dims of 1, 3, 33 sit on every boundary; 1024 is bge-m3's width.
 */
export const KERNEL_CASES: readonly KernelCase[] = [
  { name: '1-token queries and documents, d=3', dim: 3, queryRows: [1, 1], docRows: [1, 1, 1] },
  { name: 'empty documents among others, d=5', dim: 5, queryRows: [4], docRows: [0, 3, 0, 7, 0] },
  { name: 'query with no rows, d=4', dim: 4, queryRows: [0, 2], docRows: [2, 0, 5] },
  { name: 'd=1', dim: 1, queryRows: [5], docRows: [1, 2, 70] },
  { name: 'lengths off the tile sizes, d=33', dim: 33, queryRows: [33, 31], docRows: [65, 63, 1, 129, 64] },
  { name: 'ragged corpus, d=128', dim: 128, queryRows: [32], docRows: [1, 17, 180, 3, 64, 95, 200, 0, 33, 128] },
  { name: 'more query rows than a tile, d=16', dim: 16, queryRows: [70], docRows: [9, 100] },
  { name: 'bge-m3 width, d=1024', dim: 1024, queryRows: [7], docRows: [3, 40, 65] },
];

/** The seed of a case's data: every tier (Node, Chromium, CPU) rebuilds the same inputs from it. */
export function caseSeed(c: KernelCase): number {
  return c.dim * 7 + c.docRows.length;
}

/** Queries and documents for a case, from its seed (or another one). */
export function caseData(c: KernelCase, seed = caseSeed(c)): { queries: TokenMatrix[]; docs: TokenMatrix[] } {
  const random = seededRandom(seed);
  return {
    queries: c.queryRows.map((rows) => randomMatrix(random, rows, c.dim)),
    docs: c.docRows.map((rows) => randomMatrix(random, rows, c.dim)),
  };
}

/**
 * The float64 reference score and its error scale S = Σ over query rows of max over document tokens of
 * Σ_k |q_k·d_k|: the size of the terms whose rounding the GPU can get wrong.
 */
export function referenceWithScale(query: TokenMatrix, doc: TokenMatrix): { score: number; scale: number } {
  const score = maxsimReference(query, doc);
  if (query.rows === 0 || doc.rows === 0) return { score, scale: 0 };
  const { dim } = query;
  let scale = 0;
  for (let i = 0; i < query.rows; i++) {
    let best = 0;
    for (let j = 0; j < doc.rows; j++) {
      let abs = 0;
      for (let c = 0; c < dim; c++) abs += Math.abs(query.data[i * dim + c]! * doc.data[j * dim + c]!);
      if (abs > best) best = abs;
    }
    scale += best;
  }
  return { score, scale };
}

/** f32 storage: |gpu − ref| ≤ 1e-5 · max(1, S). */
export const F32_RELATIVE = 1e-5;
/**
 * f16 storage: each document value is rounded to binary16 with relative error ≤ 2^-11, so each dot product
 * moves by ≤ 2^-11 · Σ_k |q_k·d_k|, the max over tokens by no more than the largest such move, and the sum by
 * ≤ 2^-11 · S; f32 accumulation adds the f32 bound on top.
 */
export const F16_RELATIVE = 2 ** -11 + F32_RELATIVE;

const gamma = (n: number, u: number): number => (n * u) / (1 - n * u);

/**
 * f16 storage with f16 ARITHMETIC (the `-f16math` variants: the query rounded to f16 in the kernel, chains of
 * KD / 2 = 16 f16 FMAs per lane, each two roundings, folded into f32 accumulators; max and sum in f32), round to
 * nearest as every adapter here (and NVIDIA, AMD, Apple, Intel) does, u = 2^-11. Per dot product, relative to
 * Σ_k |q_k d_k|: storage rounding u + query rounding u(1 + u) + the chains γ(32, u)(1 + u)^2, plus the f32 fold
 * and sums (inside F32_RELATIVE). Underflow adds at most 2 dim 2^-25 per dot product, far inside the absolute
 * floor of max(1, S). About 0.0169: f16 math trades ~35× the f16-storage error for twice the arithmetic rate.
 * README "Accuracy" has the derivation and WGSL's stricter worst case.
 */
export const F16_MATH_RELATIVE =
  2 ** -11 + 2 ** -11 * (1 + 2 ** -11) + gamma(32, 2 ** -11) * (1 + 2 ** -11) ** 2 + F32_RELATIVE;

/**
 * int8 storage: per-row symmetric quantization. A document row d_t is stored as int8 × s_t, s_t = max|d_t| / 127,
 * rounded to nearest, so each value moves by at most e_t = s_t / 2 = max|d_t| / 254; a query row q_r is quantized
 * the same way to ±Q levels (`queryLevels`: 127 for an int8 query, more for the CPU's int16 one), moving each value
 * by at most f_r = max|q_r| / (2Q). Then q̂d̂ − qd = q(d̂ − d) + d(q̂ − q) + (q̂ − q)(d̂ − d) term by term, so one dot
 * product moves by at most
 *   E_rt = e_t·‖q_r‖₁ + f_r·‖d_t‖₁ + dim·f_r·e_t,
 * the max over tokens by at most max_t E_rt (a max moves no more than its largest argument), and the score by
 * B = Σ_r max_t E_rt. The integer dot products are exact; the float32 scaling and summing add the f32 bound on the
 * magnitudes of the quantized terms, ≤ S + B: the tolerance is B + 1e-5·max(1, S + B). The scales' own float32
 * rounding (relative 2^-24) is covered by widening e_t and f_r by 2^-23.
 */
export interface Int8Tolerance {
  readonly queryLevels: number;
}

/** B = Σ_r max_t E_rt of {@link Int8Tolerance} for one query and one document (0 when either has no rows). */
export function int8ErrorBound(query: TokenMatrix, doc: TokenMatrix, queryLevels: number): number {
  const { dim } = query;
  const widen = 1 + 2 ** -23;
  const rowStats = (m: TokenMatrix, r: number): { max: number; l1: number } => {
    let max = 0;
    let l1 = 0;
    for (let k = 0; k < dim; k++) {
      const a = Math.abs(m.data[r * dim + k]!);
      l1 += a;
      if (a > max) max = a;
    }
    return { max, l1 };
  };
  const docRows = Array.from({ length: doc.rows }, (_, t) => {
    const { max, l1 } = rowStats(doc, t);
    return { e: (max / 254) * widen, l1 };
  });
  let bound = 0;
  for (let r = 0; r < query.rows; r++) {
    const { max, l1 } = rowStats(query, r);
    const f = (max / (2 * queryLevels)) * widen;
    let worst = 0;
    for (const d of docRows) worst = Math.max(worst, d.e * l1 + f * d.l1 + dim * f * d.e);
    bound += worst;
  }
  return bound;
}

/** Expected scores for every query against every document, with per-entry tolerances. */
export function expectedScores(
  queries: readonly TokenMatrix[],
  docs: readonly TokenMatrix[],
  relative: number | Int8Tolerance,
): { expected: Float64Array[]; tolerance: Float64Array[] } {
  const expected: Float64Array[] = [];
  const tolerance: Float64Array[] = [];
  for (const q of queries) {
    const e = new Float64Array(docs.length);
    const t = new Float64Array(docs.length);
    docs.forEach((d, j) => {
      const { score, scale } = referenceWithScale(q, d);
      e[j] = score;
      if (typeof relative === 'number') {
        t[j] = relative * Math.max(1, scale);
      } else {
        const bound = int8ErrorBound(q, d, relative.queryLevels);
        t[j] = bound + F32_RELATIVE * Math.max(1, scale + bound);
      }
    });
    expected.push(e);
    tolerance.push(t);
  }
  return { expected, tolerance };
}

/**
 * Returns null when every |actual − expected| ≤ tolerance (infinities must match exactly), else a message
 * with a table of actual vs expected around the first bad index.
 */
export function compareScores(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: ArrayLike<number>,
  label = 'scores',
): string | null {
  if (actual.length !== expected.length) return `${label}: ${actual.length} scores, expected ${expected.length}`;
  let bad = -1;
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const ok = Number.isFinite(e) ? Math.abs(a - e) <= tolerance[i]! : a === e;
    if (!ok) {
      if (bad < 0) bad = i;
      worst = Math.max(worst, Math.abs(a - e));
    }
  }
  if (bad < 0) return null;
  const rows = ['index      actual             expected           |diff|       tolerance'];
  for (let i = Math.max(0, bad - 3); i < Math.min(actual.length, bad + 4); i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    rows.push(
      `${i === bad ? '>' : ' '}${String(i).padEnd(9)} ${String(a).padEnd(18)} ${String(e).padEnd(18)} ` +
        `${Math.abs(a - e)
          .toExponential(3)
          .padEnd(12)} ${tolerance[i]!.toExponential(3)}`,
    );
  }
  return `${label}: first mismatch at index ${bad} (worst |diff| ${worst.toExponential(3)})\n${rows.join('\n')}`;
}
