import { DimensionMismatchError, InvalidTokenMatrixError } from './errors.js';
import { checkedMaxAbs, type TokenMatrix } from './token-matrix.js';

/**
 * Documents packed back to back, ragged without padding: document `i` is rows
 * `rowOffsets[i] .. rowOffsets[i + 1]` of the `[totalRows, dim]` matrix `data`.
 * This is the layout every backend consumes (and the GPU backend uploads as is).
 */
export interface PackedDocuments {
  readonly data: Float32Array;
  /** `count + 1` row offsets; `rowOffsets[count] === totalRows`. */
  readonly rowOffsets: Uint32Array;
  readonly count: number;
  readonly dim: number;
  readonly totalRows: number;
  /** The largest absolute value of any document (0 when there is none): what bounds a score's magnitude. */
  readonly maxAbs: number;
}

/**
 * Validates and packs documents into one contiguous {@link PackedDocuments}. Every document must have the
 * same `dim` (or `dim` when given) and only finite values.
 *
 * @example
 * const packed = packDocuments([docA, docB]);
 * packed.rowOffsets; // Uint32Array [0, docA.rows, docA.rows + docB.rows]
 */
export function packDocuments(docs: readonly TokenMatrix[], dim?: number): PackedDocuments {
  if (!Array.isArray(docs)) {
    throw new InvalidTokenMatrixError('documents must be an array of TokenMatrix (or a Corpus from upload())');
  }
  const width = dim ?? docs[0]?.dim ?? 0;
  const rowOffsets = new Uint32Array(docs.length + 1);
  let totalRows = 0;
  let maxAbs = 0;
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i]!;
    maxAbs = Math.max(maxAbs, checkedMaxAbs(doc, `document ${i}`));
    if (doc.dim !== width) throw new DimensionMismatchError(width, doc.dim, `document ${i}`);
    totalRows += doc.rows;
    if (totalRows > 0xffffffff) {
      throw new InvalidTokenMatrixError(`corpus has more than 2^32 - 1 tokens; split it into several corpora`);
    }
    rowOffsets[i + 1] = totalRows;
  }
  const data = new Float32Array(totalRows * width);
  for (let i = 0; i < docs.length; i++) data.set(docs[i]!.data, rowOffsets[i]! * width);
  return { data, rowOffsets, count: docs.length, dim: width, totalRows, maxAbs };
}
