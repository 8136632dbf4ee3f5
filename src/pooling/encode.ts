// Float32 → the wire dtypes of vLLM's `embed_dtype`, bit-exact with what the server's `tensor.to(dtype)` produces
// (PyTorch c10 conversions: round-to-nearest-even everywhere; the overflow and NaN rules differ per dtype, see
// each function). Universal core: no Node APIs, so the browser demo and tests can build wire bytes too.

import { EMBED_DTYPE_BYTES, type ByteOrder, type EmbedDtype } from './dtypes.js';
import { float32ToFloat16Bits, float32Bits as bitsOf, floatFromBits as floatOf } from '../core/float16.js';

/**
 * bfloat16 bits of `x` (the top half of its float32 bits, rounded to nearest even); NaN → 0x7FC0 regardless of
 * sign, as c10's `round_to_nearest_even`.
 *
 * @example
 * float32ToBfloat16Bits(1);    // 0x3F80
 * float32ToBfloat16Bits(-2.5); // 0xC020
 */
export function float32ToBfloat16Bits(x: number): number {
  const fx = Math.fround(x);
  if (Number.isNaN(fx)) return 0x7fc0;
  const bits = bitsOf(fx);
  return Math.floor((bits + 0x7fff + ((bits >>> 16) & 1)) / 0x10000) & 0xffff;
}

/**
 * torch `float8_e4m3fn` bits of `x`: bias 7, 3 mantissa bits, max ±448, no infinities. Like PyTorch (and unlike
 * a saturating cast) anything that rounds past 448, i.e. |x| > 464, ±inf and NaN become NaN: 0x7F, or 0xFF
 * with the sign bit.
 *
 * @example
 * float32ToFp8E4m3Bits(448);  // 0x7E
 * float32ToFp8E4m3Bits(500);  // 0x7F (NaN)
 */
export function float32ToFp8E4m3Bits(x: number): number {
  let fBits = bitsOf(x);
  const sign = fBits & 0x80000000;
  fBits = (fBits ^ sign) >>> 0;
  let result: number;
  if (fBits >= 1087 * 2 ** 20) {
    // 480.0f and up (incl. inf and NaN): PyTorch writes the all-ones NaN pattern.
    result = 0x7f;
  } else if (fBits < 121 * 2 ** 23) {
    // Below the smallest normal 2^-6: adding 2^(141-127) lets the FPU do the subnormal rounding for us.
    const denormMask = 141 * 2 ** 23;
    const sum = bitsOf(Math.fround(floatOf(fBits) + floatOf(denormMask)));
    result = (sum - denormMask) & 0xff;
  } else {
    const mantOdd = (fBits >>> 20) & 1;
    const biased = fBits + (7 - 127) * 2 ** 23 + 0x7ffff + mantOdd;
    result = Math.floor(biased / 2 ** 20) & 0xff;
  }
  return result | (sign >>> 24);
}

/**
 * torch `float8_e5m2` bits of `x`: bias 15, 2 mantissa bits, IEEE-like. |x| ≥ 65536 (and ±inf) → ±inf (0x7C /
 * 0xFC); NaN → 0x7F (0xFF with the sign bit); values rounding past 57344 round to inf as in IEEE.
 *
 * @example
 * float32ToFp8E5m2Bits(1);       // 0x3C
 * float32ToFp8E5m2Bits(Infinity); // 0x7C
 */
export function float32ToFp8E5m2Bits(x: number): number {
  let fBits = bitsOf(x);
  const sign = fBits & 0x80000000;
  fBits = (fBits ^ sign) >>> 0;
  let result: number;
  if (fBits >= 143 * 2 ** 23) {
    result = fBits > 255 * 2 ** 23 ? 0x7f : 0x7c;
  } else if (fBits < 113 * 2 ** 23) {
    const denormMask = 134 * 2 ** 23;
    const sum = bitsOf(Math.fround(floatOf(fBits) + floatOf(denormMask)));
    result = (sum - denormMask) & 0xff;
  } else {
    const mantOdd = (fBits >>> 21) & 1;
    const biased = fBits + (15 - 127) * 2 ** 23 + 0xfffff + mantOdd;
    result = Math.floor(biased / 2 ** 21) & 0xff;
  }
  return result | (sign >>> 24);
}

/**
 * Encodes `values` row-major as vLLM's base64/bytes payload does: cast to `dtype`, then lay out in `order`
 * (fp8 has one byte per element, so the order does not matter). The result is a fresh, exactly sized array.
 *
 * @example
 * const bytes = encodeEmbedDtype(new Float32Array([1, -2.5]), 'float16', 'big'); // 3C 00 C1 00
 */
export function encodeEmbedDtype(values: Float32Array, dtype: EmbedDtype, order: ByteOrder): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(n * EMBED_DTYPE_BYTES[dtype]);
  const little = order === 'little';
  switch (dtype) {
    case 'float32': {
      const view = new DataView(out.buffer);
      for (let i = 0; i < n; i++) view.setFloat32(i * 4, values[i]!, little);
      return out;
    }
    case 'float16':
    case 'bfloat16': {
      const view = new DataView(out.buffer);
      const toBits = dtype === 'float16' ? float32ToFloat16Bits : float32ToBfloat16Bits;
      for (let i = 0; i < n; i++) view.setUint16(i * 2, toBits(values[i]!), little);
      return out;
    }
    case 'fp8_e4m3':
      for (let i = 0; i < n; i++) out[i] = float32ToFp8E4m3Bits(values[i]!);
      return out;
    case 'fp8_e5m2':
      for (let i = 0; i < n; i++) out[i] = float32ToFp8E5m2Bits(values[i]!);
      return out;
  }
}
