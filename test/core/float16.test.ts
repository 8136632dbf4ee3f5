// binary16 conversions shared by the GPU's f16 storage, the wire dtypes and corpus files.
import { describe, expect, it } from 'vitest';
import { float16BitsToFloat, float32ToFloat16Bits } from '../../src/core/float16.js';
import { f16Bits } from '../../src/webgpu/corpus.js';

describe('float16', () => {
  const hex = (n: number): string => `0x${n.toString(16)}`;

  it('float16: round to nearest even, subnormals, overflow to inf, NaN 0x7E00', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2.5, 0xc100],
      [65504, 0x7bff],
      [65519, 0x7bff],
      [65520, 0x7c00], // halfway to 65536: ties to even = inf
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [0, 0x0000],
      [-0, 0x8000],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and 2^-24: even is 0
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 ulps: even is 2
      [1 + 2 ** -11, 0x3c00], // tie: stays at the even mantissa
      [1 + 3 * 2 ** -11, 0x3c02], // tie: rounds up to the even mantissa
      [NaN, 0x7e00],
    ];
    for (const [x, bits] of cases) expect(hex(float32ToFloat16Bits(x)), String(x)).toBe(hex(bits));
  });

  it('rounds float32 to binary16 to nearest even, like the GPU', () => {
    expect(f16Bits(1)).toBe(0x3c00);
    expect(f16Bits(-2)).toBe(0xc000);
    expect(f16Bits(65504)).toBe(0x7bff);
    expect(f16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f16Bits(1 + 2 ** -11)).toBe(0x3c00); // a tie rounds to even
    expect(f16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(() => f16Bits(70000)).toThrow(/f16/);
  });

  it('decodes every finite binary16 back to the value it was rounded from', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = float16BitsToFloat(h);
      if (!Number.isFinite(v)) continue;
      expect(float32ToFloat16Bits(v), hex(h)).toBe(h === 0x8000 ? 0x8000 : h);
    }
  });
});
