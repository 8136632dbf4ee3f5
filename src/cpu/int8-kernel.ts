// int8 storage on the CPU: documents per row as int8 × a float32 scale (src/core/int8.ts, the layout of int8 corpus
// files), queries per row as int16 × their own scale, integer dot products, and the plain-TypeScript kernel over
// them (the fallback where WASM SIMD is missing; wasm/maxsim-int8.wat is the fast one). Both compute the same
// float operations in the same order, so they agree bit for bit.
import { checkInt8Dim, INT8_MAX, int8RowScale, quantizeInt8Into, writeInt8Rows } from '../core/int8.js';
import { forEachRowRun, type PackedDocuments } from '../core/packed-documents.js';
import { EMPTY_DOCUMENT_SCORE } from '../core/reference.js';
import type { TokenMatrix } from '../core/token-matrix.js';

const I32_MAX = 2 ** 31 - 1;
// Shared with the WebGPU backend (same integers on both), kept importable from here.
export { checkInt8Dim, INT8_MAX_DIM, writeInt8Rows } from '../core/int8.js';
const INT16_LEVELS = 32_767;

/**
 * The query's quantization levels per sign, Q, for rows of `dim` values: as many as int16 holds (32,767) while
 * dim × Q × 127 ≤ 2^31 − 1, so no integer dot product can overflow int32: 32,767 up to dim 516, 16,513 at dim 1024,
 * 127 at {@link INT8_MAX_DIM}. The more levels, the less the query's own rounding adds to the error.
 *
 * @example
 * int8QueryLevels(128); // 32767
 */
export function int8QueryLevels(dim: number): number {
  return Math.min(INT16_LEVELS, Math.floor(I32_MAX / (INT8_MAX * Math.max(1, dim))));
}

/** A query quantized per row: row r is `values[r * dim ..] × scales[r]`, values within ±{@link int8QueryLevels}. */
export interface QuantizedQuery {
  readonly values: Int16Array;
  readonly scales: Float32Array;
  readonly rows: number;
  readonly dim: number;
}

/**
 * Quantizes each row of `query` symmetrically to {@link int8QueryLevels}(dim) levels (scale = max|row| / Q in
 * float32, values rounded half to even): each value moves by at most half a step, max|row| / (2Q).
 *
 * @example
 * const q = quantizeQuery(query); // q.values[k] * q.scales[r] ≈ query.data[r * dim + k]
 */
export function quantizeQuery(query: TokenMatrix): QuantizedQuery {
  const { rows, dim, data } = query;
  const levels = int8QueryLevels(dim);
  const values = new Int16Array(rows * dim);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const scale = int8RowScale(data, r * dim, (r + 1) * dim, levels);
    scales[r] = scale;
    quantizeInt8Into(data.subarray(r * dim, (r + 1) * dim), scale, values, r * dim, levels);
  }
  return { values, scales, rows, dim };
}

/** Documents in int8 storage on the host (the TypeScript kernel's corpus): rows back to back, unpadded. */
export interface Int8Documents {
  readonly values: Int8Array;
  readonly scales: Float32Array;
  readonly rowOffsets: Uint32Array;
  readonly count: number;
  readonly dim: number;
}

/**
 * `packed` in int8 storage (1 byte per value and 4 per row), read row run by row run: no packed float copy.
 *
 * @example
 * const docs = quantizeDocuments(packDocuments(matrices));
 */
export function quantizeDocuments(packed: PackedDocuments): Int8Documents {
  const { dim, totalRows } = packed;
  checkInt8Dim(dim);
  const values = new Int8Array(totalRows * dim);
  const scales = new Float32Array(totalRows);
  forEachRowRun(packed, 0, totalRows, (row, data) => writeInt8Rows(data, dim, row, values, dim, scales));
  return { values, scales, rowOffsets: packed.rowOffsets.slice(), count: packed.count, dim };
}

/**
 * Plain-TypeScript MaxSim over int8 storage; raw sums (scale 'sum') for every document into `out`. Per query row r
 * and token t: the exact integer dot product D, then `f32(D) × f32(qScale_r × dScale_t)`, the max over tokens,
 * the maxima summed in float64 in row order and rounded once to float32: the operations of wasm/maxsim-int8.wat,
 * in its order, so the two agree bit for bit.
 */
export function maxsimInt8Ts(query: QuantizedQuery, docs: Int8Documents, out: Float32Array): void {
  const { dim, rows: qRows } = query;
  const q = query.values;
  const qs = query.scales;
  const d = docs.values;
  const ds = docs.scales;
  const offsets = docs.rowOffsets;
  const f32 = Math.fround;
  for (let doc = 0; doc < docs.count; doc++) {
    const start = offsets[doc]!;
    const stop = offsets[doc + 1]!;
    if (qRows === 0) {
      out[doc] = 0;
      continue;
    }
    if (stop === start) {
      out[doc] = EMPTY_DOCUMENT_SCORE;
      continue;
    }
    let total = 0;
    let i = 0;
    for (; i + 2 <= qRows; i += 2) {
      const q0 = i * dim;
      const q1 = q0 + dim;
      const s0 = qs[i]!;
      const s1 = qs[i + 1]!;
      let m0 = -Infinity;
      let m1 = -Infinity;
      for (let t = start; t < stop; t++) {
        const base = t * dim;
        let a0 = 0;
        let a1 = 0;
        for (let c = 0; c < dim; c++) {
          const v = d[base + c]!;
          a0 += q[q0 + c]! * v;
          a1 += q[q1 + c]! * v;
        }
        const st = ds[t]!;
        const v0 = f32(f32(a0) * f32(s0 * st));
        const v1 = f32(f32(a1) * f32(s1 * st));
        if (v0 > m0) m0 = v0;
        if (v1 > m1) m1 = v1;
      }
      total += m0;
      total += m1;
    }
    for (; i < qRows; i++) {
      const q0 = i * dim;
      const s0 = qs[i]!;
      let m0 = -Infinity;
      for (let t = start; t < stop; t++) {
        const base = t * dim;
        let a0 = 0;
        for (let c = 0; c < dim; c++) a0 += q[q0 + c]! * d[base + c]!;
        const v0 = f32(f32(a0) * f32(s0 * ds[t]!));
        if (v0 > m0) m0 = v0;
      }
      total += m0;
    }
    out[doc] = total;
  }
}
