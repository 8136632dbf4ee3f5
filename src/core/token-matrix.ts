import { describeValue, InvalidTokenMatrixError } from './errors.js';

/**
 * One vector per token, row-major `[rows, dim]`: row `r` is `data.subarray(r * dim, (r + 1) * dim)`.
 * This is what a multi-vector model (ColBERT, BGE-M3, jina-colbert) returns for one text.
 *
 * @example
 * const m: TokenMatrix = { data: new Float32Array([1, 0, 0, 1]), rows: 2, dim: 2 };
 */
export interface TokenMatrix {
  readonly data: Float32Array;
  readonly rows: number;
  readonly dim: number;
}

/**
 * Builds a {@link TokenMatrix} from nested arrays (`[rows][dim]`, the shape of vLLM's float JSON), validating
 * that rows are equally long and every value finite. Values are rounded to float32.
 * An empty outer array needs `dim` to say the width.
 *
 * @example
 * const q = tokenMatrixFromNested([[0.6, 0.8], [1, 0]]); // { rows: 2, dim: 2 }
 */
export function tokenMatrixFromNested(rows: readonly (readonly number[])[], dim?: number): TokenMatrix {
  if (!Array.isArray(rows)) {
    throw new InvalidTokenMatrixError(`expected an array of rows ([rows][dim] numbers), got ${describeValue(rows)}`);
  }
  const first: unknown = rows[0];
  const width = dim ?? (Array.isArray(first) ? first.length : undefined);
  if (width === undefined && first !== undefined) {
    throw new InvalidTokenMatrixError(
      `row 0 is ${describeValue(first)}, expected an array of numbers ([rows][dim] nesting)`,
      {
        row: 0,
      },
    );
  }
  if (width === undefined) {
    throw new InvalidTokenMatrixError('cannot infer dim from a matrix with no rows: pass dim explicitly');
  }
  checkDim(width);
  const data = new Float32Array(rows.length * width);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    if (!Array.isArray(row)) {
      throw new InvalidTokenMatrixError(`row ${r} is ${describeValue(row)}, expected an array of ${width} numbers`, {
        row: r,
      });
    }
    if (row.length !== width) {
      throw new InvalidTokenMatrixError(`row ${r} has ${row.length} values but row 0 has ${width} (ragged rows)`, {
        row: r,
      });
    }
    for (let c = 0; c < width; c++) {
      const v = row[c];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new InvalidTokenMatrixError(
          `value at row ${r}, column ${c} is ${describeValue(v)}, expected a finite number`,
          {
            row: r,
            column: c,
          },
        );
      }
      data[r * width + c] = v;
    }
  }
  return { data, rows: rows.length, dim: width };
}

/**
 * Checks that `m` is a well-formed token matrix: positive integer `dim`, `data.length === rows * dim`, and
 * every value finite (float32 overflow to ±Infinity counts as non-finite). Throws
 * {@link InvalidTokenMatrixError} naming the first bad row and column; returns `m` so it can be chained.
 *
 * @example
 * validateTokenMatrix({ data: new Float32Array([1, NaN]), rows: 1, dim: 2 }); // throws: row 0, column 1 is NaN
 */
export function validateTokenMatrix<T extends TokenMatrix>(m: T, label = 'token matrix'): T {
  checkedMaxAbs(m, label);
  return m;
}

/**
 * {@link validateTokenMatrix}, returning the largest absolute value of `m` (0 when empty) from the same single
 * pass over the data that looks for non-finite values.
 *
 * @example
 * checkedMaxAbs({ data: new Float32Array([1, -3]), rows: 1, dim: 2 }); // 3
 */
export function checkedMaxAbs(m: TokenMatrix, label = 'token matrix'): number {
  if (m === null || typeof m !== 'object') {
    throw new InvalidTokenMatrixError(`${label} is ${describeValue(m)}, expected { data: Float32Array, rows, dim }`);
  }
  if (!(m.data instanceof Float32Array)) {
    throw new InvalidTokenMatrixError(`${label}.data is ${describeValue(m.data)}, expected a Float32Array`);
  }
  checkDim(m.dim, label);
  if (!Number.isInteger(m.rows) || m.rows < 0) {
    throw new InvalidTokenMatrixError(`${label}.rows is ${String(m.rows)}, expected an integer >= 0`);
  }
  if (m.data.length !== m.rows * m.dim) {
    throw new InvalidTokenMatrixError(
      `${label}.data has ${m.data.length} values but rows × dim = ${m.rows} × ${m.dim} = ${m.rows * m.dim}`,
    );
  }
  const data = m.data;
  let max = 0;
  for (let k = 0; k < data.length; k++) {
    const v = data[k]!;
    const a = v < 0 ? -v : v;
    // One comparison per value: true for a new maximum and for NaN; only then is finiteness checked.
    if (!(a <= max)) {
      if (a - a !== 0) nonFinite(m, label, k);
      max = a;
    }
  }
  return max;
}

function nonFinite(m: TokenMatrix, label: string, i: number): never {
  const row = Math.floor(i / m.dim);
  const column = i - row * m.dim;
  throw new InvalidTokenMatrixError(
    `${label} has a non-finite value (${String(m.data[i])}) at row ${row}, column ${column}`,
    {
      row,
      column,
    },
  );
}

/**
 * The index of the first NaN or ±Infinity in `data`, or -1 when every value is finite.
 *
 * @example
 * firstNonFinite(new Float32Array([0, Infinity])); // 1
 */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    // `v - v` is NaN for NaN and ±Infinity, 0 otherwise: one test for both kinds of non-finite value.
    const v = data[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}

/**
 * L2-normalises every row of `m` (the usual pre-processing for cosine-style MaxSim). Rows of norm 0 stay 0.
 * Writes into `dst` when given (may be `m` itself, for in-place), else into a new matrix.
 *
 * @example
 * const unit = normalizeRows(tokenMatrixFromNested([[3, 4]])); // data = [0.6, 0.8]
 */
export function normalizeRows(m: TokenMatrix, dst?: TokenMatrix): TokenMatrix {
  const out = dst ?? { data: new Float32Array(m.data.length), rows: m.rows, dim: m.dim };
  if (out.data.length !== m.data.length || out.rows !== m.rows || out.dim !== m.dim) {
    throw new InvalidTokenMatrixError(
      `normalizeRows: dst is [${out.rows}, ${out.dim}] but the source is [${m.rows}, ${m.dim}]`,
    );
  }
  const { data, dim, rows } = m;
  const o = out.data;
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    let sq = 0;
    for (let c = 0; c < dim; c++) {
      const v = data[base + c]!;
      sq += v * v;
    }
    const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let c = 0; c < dim; c++) o[base + c] = data[base + c]! * inv;
  }
  return out;
}

/**
 * Row `r` of `m` as a view (no copy).
 *
 * @example
 * const firstToken = tokenRow(m, 0);
 */
export function tokenRow(m: TokenMatrix, r: number): Float32Array {
  return m.data.subarray(r * m.dim, (r + 1) * m.dim);
}

function checkDim(dim: unknown, label = 'token matrix'): asserts dim is number {
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1) {
    throw new InvalidTokenMatrixError(`${label}.dim is ${describeValue(dim)}, expected an integer >= 1`);
  }
}
