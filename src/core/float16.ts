// IEEE-754 binary16 ("half", f16) conversions shared by every layer: the GPU's f16 document storage, the vLLM
// wire dtypes (float16 embed_dtype) and corpus files. Universal: no Node APIs.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary32 bits of `x` (rounded to float32 first). */
export function float32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

/** The float32 value of binary32 `bits`. */
export function floatFromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

/**
 * IEEE binary16 bits of `x` (first rounded to float32), round-to-nearest-even; overflow → ±inf (0x7C00),
 * NaN → 0x7E00 with the input's sign (as c10's `fp16_ieee_from_fp32_value`).
 *
 * @example
 * float32ToFloat16Bits(1);      // 0x3C00
 * float32ToFloat16Bits(65520);  // 0x7C00 (ties up to infinity)
 */
export function float32ToFloat16Bits(x: number): number {
  const bits = float32Bits(x);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const man = bits & 0x7fffff;
  if (exp === 0xff) return sign | (man !== 0 ? 0x7e00 : 0x7c00);
  const e = exp - 112; // re-biased exponent: 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): value = k · 2^-24 with k = m >> (14 - e), rounded to nearest even.
    const shift = 14 - e;
    if (shift > 24) return sign;
    const m = exp === 0 ? man : man | 0x800000;
    let k = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (k & 1) === 1)) k++;
    return sign | k;
  }
  let h = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is exactly right (up to 0x7C00 = inf).
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/**
 * IEEE-754 binary16 bits → value (exact; ±inf and NaN as encoded).
 *
 * @example
 * float16BitsToFloat(0x3c00); // 1
 */
export function float16BitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man === 0 ? sign * Infinity : NaN;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}
