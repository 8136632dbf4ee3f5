import { describe, expect, it } from 'vitest';
import {
  InvalidTokenMatrixError,
  normalizeRows,
  tokenMatrixFromNested,
  tokenRow,
  validateTokenMatrix,
} from '../../src/index.js';

describe('tokenMatrixFromNested', () => {
  it('builds a row-major float32 matrix with its shape', () => {
    const m = tokenMatrixFromNested([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(m.rows).toBe(2);
    expect(m.dim).toBe(3);
    expect([...m.data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...tokenRow(m, 1)]).toEqual([4, 5, 6]);
  });

  it('rounds to float32 like vLLM float JSON values (Math.fround)', () => {
    const v = 0.1234567890123;
    expect(tokenMatrixFromNested([[v]]).data[0]).toBe(Math.fround(v));
  });

  it('needs dim for an empty matrix and accepts it', () => {
    expect(() => tokenMatrixFromNested([])).toThrow(/pass dim explicitly/);
    expect(tokenMatrixFromNested([], 4)).toMatchObject({ rows: 0, dim: 4 });
  });

  it('names the ragged row', () => {
    const err = catchError(() => tokenMatrixFromNested([[1, 2], [3, 4], [5]]));
    expect(err).toBeInstanceOf(InvalidTokenMatrixError);
    expect(err).toMatchObject({ code: 'E_INVALID_MATRIX', row: 2 });
    expect(err.message).toMatch(/row 2 has 1 values but row 0 has 2/);
  });

  it('names the row and column of a non-finite or non-numeric value', () => {
    for (const bad of [NaN, Infinity, -Infinity, '1', null]) {
      const err = catchError(() =>
        tokenMatrixFromNested([
          [0, 0],
          [0, bad as number],
        ]),
      );
      expect(err).toMatchObject({ code: 'E_INVALID_MATRIX', row: 1, column: 1 });
      expect(err.message).toMatch(/row 1, column 1/);
    }
  });

  it('rejects wrong nesting (a flat [dim] vector is not a token matrix)', () => {
    expect(() => tokenMatrixFromNested([0.1, 0.2] as unknown as number[][])).toThrow(/row 0 is 0.1/);
  });
});

describe('validateTokenMatrix', () => {
  it('accepts a good matrix and returns it', () => {
    const m = { data: new Float32Array(6), rows: 3, dim: 2 };
    expect(validateTokenMatrix(m)).toBe(m);
  });

  it('rejects a length that does not match rows × dim', () => {
    expect(() => validateTokenMatrix({ data: new Float32Array(5), rows: 3, dim: 2 })).toThrow(/3 × 2 = 6/);
  });

  it('rejects non-integer or zero dims and non-Float32Array data', () => {
    expect(() => validateTokenMatrix({ data: new Float32Array(0), rows: 0, dim: 0 })).toThrow(/dim is 0/);
    expect(() => validateTokenMatrix({ data: new Float32Array(3), rows: 2, dim: 1.5 })).toThrow(/dim is 1.5/);
    expect(() =>
      validateTokenMatrix({ data: new Float64Array(2) as unknown as Float32Array, rows: 1, dim: 2 }),
    ).toThrow(/Float32Array/);
  });

  it('finds the first non-finite value and names its row and column', () => {
    const data = new Float32Array(12);
    data[7] = NaN;
    data[10] = Infinity;
    const err = catchError(() => validateTokenMatrix({ data, rows: 3, dim: 4 }, 'query 0'));
    expect(err).toMatchObject({ row: 1, column: 3 });
    expect(err.message).toMatch(/query 0 has a non-finite value \(NaN\) at row 1, column 3/);
  });
});

describe('normalizeRows', () => {
  it('scales each row to unit L2 norm and leaves zero rows at zero', () => {
    const m = tokenMatrixFromNested([
      [3, 4],
      [0, 0],
      [0, -2],
    ]);
    const n = normalizeRows(m);
    expect([...n.data]).toEqual([Math.fround(0.6), Math.fround(0.8), 0, 0, 0, -1]);
    expect([...m.data]).toEqual([3, 4, 0, 0, 0, -2]);
  });

  it('works in place and checks the destination shape', () => {
    const m = tokenMatrixFromNested([[3, 4]]);
    expect(normalizeRows(m, m)).toBe(m);
    expect(m.data[0]).toBeCloseTo(0.6, 7);
    expect(() => normalizeRows(m, { data: new Float32Array(3), rows: 1, dim: 3 })).toThrow(/dst is \[1, 3\]/);
  });
});

function catchError(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a throw');
}
