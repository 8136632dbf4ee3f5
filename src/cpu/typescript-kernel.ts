import { EMPTY_DOCUMENT_SCORE } from '../core/reference.js';
import type { PackedDocuments } from '../core/packed-documents.js';
import type { TokenMatrix } from '../core/token-matrix.js';

/**
 * Plain-TypeScript fused MaxSim: for each document, four query rows at a time against each document token
 * (each document value loaded once feeds four dot products), running maxima in locals, sum at the end.
 * No allocation inside the loops. Writes raw sums (scale 'sum') for documents `[first, end)` into
 * `out[first..end)`. The fallback of the fallback: WASM SIMD is the fast CPU path.
 */
export function maxsimPackedTs(
  query: TokenMatrix,
  docs: PackedDocuments,
  out: Float32Array,
  first = 0,
  end = docs.count,
): void {
  const { dim, rows: qRows } = query;
  const q = query.data;
  const d = docs.data;
  const offsets = docs.rowOffsets;
  for (let doc = first; doc < end; doc++) {
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
    for (; i + 4 <= qRows; i += 4) {
      const q0 = i * dim;
      const q1 = q0 + dim;
      const q2 = q1 + dim;
      const q3 = q2 + dim;
      let m0 = -Infinity;
      let m1 = -Infinity;
      let m2 = -Infinity;
      let m3 = -Infinity;
      for (let t = start; t < stop; t++) {
        const base = t * dim;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let c = 0; c < dim; c++) {
          const v = d[base + c]!;
          s0 += q[q0 + c]! * v;
          s1 += q[q1 + c]! * v;
          s2 += q[q2 + c]! * v;
          s3 += q[q3 + c]! * v;
        }
        if (s0 > m0) m0 = s0;
        if (s1 > m1) m1 = s1;
        if (s2 > m2) m2 = s2;
        if (s3 > m3) m3 = s3;
      }
      total += m0 + m1 + m2 + m3;
    }
    for (; i < qRows; i++) {
      const q0 = i * dim;
      let m0 = -Infinity;
      for (let t = start; t < stop; t++) {
        const base = t * dim;
        let s0 = 0;
        for (let c = 0; c < dim; c++) s0 += q[q0 + c]! * d[base + c]!;
        if (s0 > m0) m0 = s0;
      }
      total += m0;
    }
    out[doc] = total;
  }
}
