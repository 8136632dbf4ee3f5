// The vLLM wire dtypes' encoders (what the /pooling stand-in sends): bit patterns of torch's casts and byte order.
import { describe, expect, it } from 'vitest';
import { EMBED_DTYPE_BYTES } from '../../src/pooling/dtypes.js';
import {
  encodeEmbedDtype,
  float32ToBfloat16Bits,
  float32ToFp8E4m3Bits,
  float32ToFp8E5m2Bits,
} from '../../src/pooling/encode.js';

describe('dtype encoders (bit patterns of torch casts)', () => {
  const hex = (n: number): string => `0x${n.toString(16)}`;

  it('bfloat16: top half rounded to nearest even, NaN 0x7FC0', () => {
    const cases: [number, number][] = [
      [1, 0x3f80],
      [-2.5, 0xc020],
      [1 + 2 ** -8, 0x3f80],
      [1 + 3 * 2 ** -8, 0x3f82],
      [Infinity, 0x7f80],
      [3.4028234663852886e38, 0x7f80], // float32 max rounds up to inf
      [NaN, 0x7fc0],
    ];
    for (const [x, bits] of cases) expect(hex(float32ToBfloat16Bits(x)), String(x)).toBe(hex(bits));
  });

  it('fp8_e4m3 (float8_e4m3fn): max 448, NaN 0x7F/0xFF past the range, subnormals', () => {
    const cases: [number, number][] = [
      [1, 0x38],
      [-2.5, 0xc2],
      [0.1, 0x1d],
      [448, 0x7e],
      [-448, 0xfe],
      [464, 0x7e], // halfway between 448 and 480: ties to even (448)
      [465, 0x7f], // rounds past 448: torch gives NaN, not 448
      [500, 0x7f],
      [-500, 0xff],
      [Infinity, 0x7f],
      [NaN, 0x7f],
      [2 ** -6, 0x08],
      [2 ** -9, 0x01],
      [2 ** -10, 0x00],
      [3 * 2 ** -10, 0x02],
    ];
    for (const [x, bits] of cases) expect(hex(float32ToFp8E4m3Bits(x)), String(x)).toBe(hex(bits));
  });

  it('fp8_e5m2: IEEE-like, inf 0x7C/0xFC, NaN 0x7F', () => {
    const cases: [number, number][] = [
      [1, 0x3c],
      [-2.5, 0xc1],
      [57344, 0x7b],
      [61440, 0x7c], // halfway to 65536: ties to even = inf
      [65536, 0x7c],
      [Infinity, 0x7c],
      [-Infinity, 0xfc],
      [NaN, 0x7f],
      [2 ** -16, 0x01],
      [2 ** -17, 0x00],
    ];
    for (const [x, bits] of cases) expect(hex(float32ToFp8E5m2Bits(x)), String(x)).toBe(hex(bits));
  });

  it('lays out elements row-major in the requested byte order', () => {
    const values = new Float32Array([1, -2.5, 0.1, 65504]);
    const f32 = encodeEmbedDtype(values, 'float32', 'little');
    expect(Array.from(new Float32Array(f32.buffer))).toEqual(Array.from(values));
    const f32be = encodeEmbedDtype(values, 'float32', 'big');
    expect(new DataView(f32be.buffer).getFloat32(4, false)).toBe(-2.5);
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const le = encodeEmbedDtype(values, dtype, 'little');
      const be = encodeEmbedDtype(values, dtype, 'big');
      expect(le.length).toBe(values.length * EMBED_DTYPE_BYTES[dtype]);
      for (let i = 0; i < le.length; i += 2) expect([be[i], be[i + 1]]).toEqual([le[i + 1], le[i]]);
    }
    expect(Array.from(encodeEmbedDtype(values, 'float16', 'big').subarray(0, 4))).toEqual([0x3c, 0x00, 0xc1, 0x00]);
    for (const dtype of ['fp8_e4m3', 'fp8_e5m2'] as const) {
      expect(encodeEmbedDtype(values, dtype, 'big')).toEqual(encodeEmbedDtype(values, dtype, 'little'));
    }
  });
});
