// Helpers shared by the int8 tests of both backends (test/cpu/int8.test.ts, test/webgpu/int8.test.ts).
import { expect } from 'vitest';
import type { TokenMatrix } from '../../src/core/token-matrix.js';

/** Asserts two float arrays hold the same bits, naming the first index that differs. */
export function expectBitIdentical(a: Float32Array, b: Float32Array, label: string): void {
  expect(a.length, label).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const bad = ua.findIndex((v, i) => v !== ub[i]);
  expect(bad, `${label}: first differing index (${a[bad]} vs ${b[bad]})`).toBe(-1);
}

/** A `[rows, dim]` matrix whose every value is ±1, by `sign(row, column)` (the int8 overflow cases). */
export function signMatrix(rows: number, dim: number, sign: (row: number, column: number) => number): TokenMatrix {
  const data = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) for (let c = 0; c < dim; c++) data[r * dim + c] = sign(r, c);
  return { data, rows, dim };
}
