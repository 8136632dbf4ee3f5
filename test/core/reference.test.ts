import { describe, expect, it } from 'vitest';
import {
  DimensionMismatchError,
  EMPTY_DOCUMENT_SCORE,
  maxsimReference,
  tokenMatrixFromNested,
  type TokenMatrix,
} from '../../src/index.js';
import { randomMatrix, seededRandom } from '../support/random.js';

/** The definition, written as plainly as possible: Σ_i max_j Σ_c q[i][c]·d[j][c]. */
function naive(q: number[][], d: number[][]): number {
  return q.reduce((sum, qi) => sum + Math.max(...d.map((dj) => dj.reduce((acc, v, c) => acc + v * qi[c]!, 0))), 0);
}

function nested(m: TokenMatrix): number[][] {
  return Array.from({ length: m.rows }, (_, r) => [...m.data.subarray(r * m.dim, (r + 1) * m.dim)]);
}

describe('maxsimReference', () => {
  it('matches a hand-computed example', () => {
    const q = tokenMatrixFromNested([
      [1, 0],
      [0, 1],
    ]);
    const d = tokenMatrixFromNested([
      [0.5, 0.5],
      [1, -1],
      [-2, 3],
    ]);
    // row 0: max(0.5, 1, -2) = 1; row 1: max(0.5, -1, 3) = 3
    expect(maxsimReference(q, d)).toBe(4);
    expect(maxsimReference(q, d, 'mean')).toBe(2);
  });

  it('matches the naive definition on random shapes', () => {
    const rand = seededRandom(7);
    for (const [lq, ld, dim] of [
      [1, 1, 1],
      [3, 5, 3],
      [32, 17, 8],
      [7, 1, 128],
    ] as const) {
      const q = randomMatrix(rand, lq, dim, false);
      const d = randomMatrix(rand, ld, dim, false);
      expect(maxsimReference(q, d)).toBeCloseTo(naive(nested(q), nested(d)), 10);
      expect(maxsimReference(q, d, 'mean')).toBeCloseTo(naive(nested(q), nested(d)) / lq, 10);
    }
  });

  it('scores a query with no rows 0, and an empty document -Infinity (below every finite score)', () => {
    const empty = tokenMatrixFromNested([], 2);
    const d = tokenMatrixFromNested([[1, 2]]);
    expect(maxsimReference(empty, d)).toBe(0);
    expect(maxsimReference(empty, empty)).toBe(0);
    expect(maxsimReference(d, empty)).toBe(EMPTY_DOCUMENT_SCORE);
    expect(EMPTY_DOCUMENT_SCORE).toBe(-Infinity);
    expect(maxsimReference(d, empty, 'mean')).toBe(-Infinity);
  });

  it('throws a typed error naming both dims on a mismatch', () => {
    const q = tokenMatrixFromNested([[1, 2, 3]]);
    const d = tokenMatrixFromNested([[1, 2]]);
    expect(() => maxsimReference(q, d)).toThrow(DimensionMismatchError);
    expect(() => maxsimReference(q, d)).toThrow(/dim 2 but 3 was expected/);
  });
});
