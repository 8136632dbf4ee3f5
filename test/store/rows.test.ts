// Documents → Arrow record batches → token matrices, without LanceDB in between: values (f32 exactly, f16
// rounded), ragged row offsets (also of sliced batches, whose offsets do not start at 0), pooled vectors.
import { describe, expect, it } from 'vitest';
import { float16BitsToFloat, float32ToFloat16Bits } from '../../src/core/float16.js';
import { seededRandom } from '../../src/core/seeded-random.js';
import type { TokenMatrix } from '../../src/core/token-matrix.js';
import { loadLance } from '../../src/store/lancedb.js';
import {
  decodeMatrices,
  decodeStrings,
  encodeDocuments,
  makeSchema,
  readLayout,
  type StorePrecision,
} from '../../src/store/rows.js';

const DIM = 8;

function docs(): { id: string; text: string; metadata: string | null; matrix: TokenMatrix }[] {
  const random = seededRandom(7);
  return [3, 1, 5, 2, 4].map((rows, i) => ({
    id: `d${i}`,
    text: `text ${i} ✓`,
    metadata: i % 2 === 0 ? JSON.stringify({ i }) : null,
    matrix: { data: Float32Array.from({ length: rows * DIM }, () => random() * 2 - 1), rows, dim: DIM },
  }));
}

describe('store rows', () => {
  for (const precision of ['f32', 'f16'] as StorePrecision[]) {
    it(`${precision}: round-trips ids, texts, metadata and matrices, also from a sliced table`, () => {
      const modules = loadLance();
      const layout = { model: 'm', dim: DIM, precision };
      const schema = makeSchema(modules.arrow, layout);
      expect(readLayout(schema)).toEqual(layout);
      const input = docs();
      const table = encodeDocuments(modules, schema, layout, input);
      const round = (v: number): number => (precision === 'f16' ? float16BitsToFloat(float32ToFloat16Bits(v)) : v);
      for (const [from, to] of [
        [0, 5],
        [2, 5],
        [1, 3],
      ] as const) {
        const batches = table.slice(from, to).batches;
        const matrices = decodeMatrices(batches, DIM);
        expect(decodeStrings(batches, 'id')).toEqual(input.slice(from, to).map((d) => d.id));
        expect(decodeStrings(batches, 'text')).toEqual(input.slice(from, to).map((d) => d.text));
        expect(decodeStrings(batches, 'metadata')).toEqual(input.slice(from, to).map((d) => d.metadata));
        matrices.forEach((m, i) => {
          const want = input[from + i]!.matrix;
          expect(m.rows).toBe(want.rows);
          expect(Array.from(m.data)).toEqual(Array.from(want.data, round));
        });
      }
      // tokens and the pooled vector (unit length, the direction of the row mean).
      const batch = table.batches[0]!;
      expect(Array.from(batch.getChild('tokens')!.toArray() as Int32Array)).toEqual([3, 1, 5, 2, 4]);
      const pooled = batch.getChild('pooled')!.get(2)!.toArray() as Float32Array;
      const m = input[2]!.matrix;
      const mean = Array.from({ length: DIM }, (_, c) => {
        let s = 0;
        for (let r = 0; r < m.rows; r++) s += m.data[r * DIM + c]!;
        return s;
      });
      const norm = Math.hypot(...mean);
      for (let c = 0; c < DIM; c++) expect(pooled[c]).toBeCloseTo(mean[c]! / norm, 6);
    });
  }

  it('a schema without the store metadata is not a store', () => {
    const { arrow } = loadLance();
    const plain = new arrow.Schema([new arrow.Field('id', new arrow.Utf8(), false)]);
    expect(readLayout(plain)).toMatch(/not written by webgpu-maxsim/);
  });
});
