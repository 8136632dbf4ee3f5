// Per-row symmetric int8 quantization, the layout of int8 corpus files: each token row r keeps one float32
// scale s_r = max|x_r| / 127 and values q = round(x / s_r) in [-127, 127] (round half to even, as numpy's and
// PyTorch's round do), so x ≈ q × s_r with |x − q × s_r| ≤ s_r / 2 = max|x_r| / 254. -128 is never written,
// keeping the range symmetric. A row of zeros gets scale 0 and values 0. Universal: no Node APIs.
// `levels` generalises the 127 (the CPU's int8 kernel quantizes queries to int16 the same way, with more levels).

import { InvalidArgumentError } from './errors.js';

/** Largest int8 magnitude used: the range is symmetric, [-127, 127]. */
export const INT8_MAX = 127;

const I32_MAX = 2 ** 31 - 1;

/**
 * The widest rows int8 storage takes: ⌊(2^31 − 1) / 127²⌋ = 133,144. A dot product of an int8 query row with an
 * int8 document row is at most dim × 127 × 127 in magnitude, which an int32 accumulator holds up to this dim.
 */
export const INT8_MAX_DIM = Math.floor(I32_MAX / (INT8_MAX * INT8_MAX));

/** Throws `E_INVALID_ARGUMENT` for rows wider than int8 storage takes ({@link INT8_MAX_DIM}). */
export function checkInt8Dim(dim: number): void {
  if (dim > INT8_MAX_DIM) {
    throw new InvalidArgumentError(
      `int8 storage takes rows of at most ${INT8_MAX_DIM.toLocaleString('en-US')} values, got dim ` +
        `${dim.toLocaleString('en-US')}: beyond that an int32 dot product of int8 values could overflow. ` +
        "Use precision: 'f32'.",
    );
  }
}

/**
 * The float32 scale of `data[start, end)`: max |x| / 127 (or / `levels`), rounded to float32 (the value a file
 * stores, and the one quantization divides by, so decoding multiplies by exactly what encoding divided by).
 *
 * @example
 * int8RowScale(new Float32Array([0.5, -1.27]), 0, 2); // Math.fround(0.01)
 */
export function int8RowScale(data: Float32Array, start: number, end: number, levels = INT8_MAX): number {
  let max = 0;
  for (let i = start; i < end; i++) {
    const a = Math.abs(data[i]!);
    if (a > max) max = a;
  }
  return Math.fround(max / levels);
}

/**
 * `round_half_even(x / scale)` clamped to ±127 (or ±`levels`) for every x of `src`, into `dst` from `at`. `scale`
 * 0 gives 0. The division is in float64 (numpy's `np.round(x.astype(np.float64) / scale)` gives the same integers).
 */
export function quantizeInt8Into(
  src: Float32Array,
  scale: number,
  dst: Int8Array | Int16Array,
  at: number,
  levels = INT8_MAX,
): void {
  if (scale === 0) {
    dst.fill(0, at, at + src.length);
    return;
  }
  for (let i = 0; i < src.length; i++) {
    const v = src[i]! / scale;
    let q = Math.round(v);
    if (q - v === 0.5 && (q & 1) !== 0) q -= 1; // Math.round sends halves up; halves go to the even neighbour
    dst[at + i] = Math.max(-levels, Math.min(levels, q));
  }
}

/**
 * Quantizes whole rows (`data`: rows × dim floats) into int8 storage: row i's values go to `values` from
 * `(firstRow + i) * stride` (`stride` ≥ dim; the bytes after dim are left alone), its scale to `scales[firstRow + i]`,
 * to ±`levels` (127: int8). The CPU and WebGPU backends both store documents through it: the same integers.
 */
export function writeInt8Rows(
  data: Float32Array,
  dim: number,
  firstRow: number,
  values: Int8Array,
  stride: number,
  scales: Float32Array,
  levels = INT8_MAX,
): void {
  const rows = dim === 0 ? 0 : Math.floor(data.length / dim);
  for (let i = 0; i < rows; i++) {
    const scale = int8RowScale(data, i * dim, (i + 1) * dim, levels);
    scales[firstRow + i] = scale;
    quantizeInt8Into(data.subarray(i * dim, (i + 1) * dim), scale, values, (firstRow + i) * stride, levels);
  }
}
