// Per-row symmetric int8 quantization, the layout of int8 corpus files: each token row r keeps one float32
// scale s_r = max|x_r| / 127 and values q = round(x / s_r) in [-127, 127] (round half to even, as numpy's and
// PyTorch's round do), so x ≈ q × s_r with |x − q × s_r| ≤ s_r / 2 = max|x_r| / 254. -128 is never written,
// keeping the range symmetric. A row of zeros gets scale 0 and values 0. Universal: no Node APIs.
// `levels` generalises the 127 (the CPU's int8 kernel quantizes queries to int16 the same way, with more levels).

/** Largest int8 magnitude used: the range is symmetric, [-127, 127]. */
export const INT8_MAX = 127;

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
