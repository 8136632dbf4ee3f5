// Packed documents are laid out eagerly but packed lazily: reading rows for a copy elsewhere (forEachRowRun,
// copyPackedRows) gives exactly the bytes `data` would hold, without `data` ever being built.
import { describe, expect, it } from 'vitest';
import { copyPackedRows, forEachRowRun, hostCopy, packDocuments } from '../../src/core/packed-documents.js';
import { randomMatrix, seededRandom } from '../support/random.js';

describe('packed documents', () => {
  const rand = seededRandom(31);
  const dim = 5;
  const docs = [0, 3, 1, 0, 0, 7, 2, 0].map((rows) => randomMatrix(rand, rows, dim));

  it('copies any row range from the documents themselves, matching the packed data', () => {
    const lazy = packDocuments(docs);
    const eager = packDocuments(docs).data;
    expect(lazy.rowOffsets).toEqual(Uint32Array.from([0, 0, 3, 4, 4, 4, 11, 13, 13]));
    for (let first = 0; first <= lazy.totalRows; first++) {
      for (let end = first; end <= lazy.totalRows; end++) {
        const out = new Float32Array((end - first) * dim + 3).fill(-7);
        copyPackedRows(lazy, first, end, out);
        expect(out.subarray(0, (end - first) * dim), `${first}..${end}`).toEqual(
          eager.subarray(first * dim, end * dim),
        );
        expect([...out.subarray((end - first) * dim)]).toEqual([-7, -7, -7]); // nothing past the rows
      }
    }
  });

  it('reads the documents, not a packed copy, until data is read; then data serves', () => {
    const packed = packDocuments(docs);
    const runs: [number, number][] = [];
    forEachRowRun(packed, 2, 12, (row, data) => runs.push([row, data.length / dim]));
    expect(runs).toEqual([
      [2, 1],
      [3, 1],
      [4, 7],
      [11, 1],
    ]); // one run per document: views of the caller's arrays
    const data = packed.data;
    expect(packed.data).toBe(data); // packed once
    runs.length = 0;
    forEachRowRun(packed, 2, 12, (row, d) => runs.push([row, d.length / dim]));
    expect(runs).toEqual([[2, 10]]);
  });

  it('hostCopy packs now: later changes to the documents do not reach it', () => {
    const mine = docs.map((d) => ({ ...d, data: d.data.slice() }));
    const kept = hostCopy(packDocuments(mine));
    const before = kept.data.slice();
    for (const d of mine) d.data.fill(9);
    expect(kept.data).toEqual(before);
  });
});
