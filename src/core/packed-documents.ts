import { DimensionMismatchError, InvalidTokenMatrixError } from './errors.js';
import { checkedMaxAbs, type TokenMatrix } from './token-matrix.js';

/**
 * Documents packed back to back, ragged without padding: document `i` is rows
 * `rowOffsets[i] .. rowOffsets[i + 1]` of the `[totalRows, dim]` matrix `data`.
 * This is the layout every backend consumes (and the GPU backend uploads as is).
 */
export interface PackedDocuments {
  /**
   * The rows back to back. From {@link packDocuments} this is packed on first read (and kept): a backend that
   * copies rows elsewhere anyway (the CPU workers) reads them with {@link forEachRowRun} instead and never pays
   * for this copy of the whole corpus.
   */
  readonly data: Float32Array;
  /** `count + 1` row offsets; `rowOffsets[count] === totalRows`. */
  readonly rowOffsets: Uint32Array;
  readonly count: number;
  readonly dim: number;
  readonly totalRows: number;
  /** The largest absolute value of any document (0 when there is none): what bounds a score's magnitude. */
  readonly maxAbs: number;
}

/** The documents behind a lazily packed {@link PackedDocuments}, until its `data` is read. */
const unpacked = new WeakMap<PackedDocuments, { readonly docs: readonly TokenMatrix[] }>();

/**
 * Validates documents and lays them out as {@link PackedDocuments}. Every document must have the same `dim` (or
 * `dim` when given) and only finite values. The rows are not copied yet: `data` packs them on first read;
 * {@link forEachRowRun} reads them from the documents while `data` has not been read.
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
  const sources = [...docs]; // the caller's array may change after this call; its documents are read as they are
  let data: Float32Array | undefined;
  const packed: PackedDocuments = {
    get data() {
      if (data === undefined) {
        data = new Float32Array(totalRows * width);
        for (let i = 0; i < sources.length; i++) {
          data.set(sources[i]!.data.subarray(0, sources[i]!.rows * width), rowOffsets[i]! * width);
        }
        unpacked.delete(packed);
      }
      return data;
    },
    rowOffsets,
    count: docs.length,
    dim: width,
    totalRows,
    maxAbs,
  };
  unpacked.set(packed, { docs: sources });
  return packed;
}

/**
 * Calls `visit(row, data)` for consecutive runs of rows `firstRow .. endRow` (each `data` holds whole rows, back
 * to back): slices of `packed.data` once it is packed, else the documents' own arrays, so copying a corpus
 * somewhere else never needs the packed copy in between.
 *
 * @example
 * forEachRowRun(packed, 0, packed.totalRows, (row, data) => heap.set(data, row * packed.dim));
 */
export function forEachRowRun(
  packed: PackedDocuments,
  firstRow: number,
  endRow: number,
  visit: (row: number, data: Float32Array) => void,
): void {
  const { dim, rowOffsets } = packed;
  if (endRow <= firstRow) return;
  const source = unpacked.get(packed);
  if (source === undefined) {
    visit(firstRow, packed.data.subarray(firstRow * dim, endRow * dim));
    return;
  }
  // The document holding firstRow: the last one whose first row is <= firstRow (binary search).
  let lo = 0;
  let hi = packed.count - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (rowOffsets[mid]! <= firstRow) lo = mid;
    else hi = mid - 1;
  }
  for (let i = lo; i < packed.count && rowOffsets[i]! < endRow; i++) {
    const start = Math.max(firstRow, rowOffsets[i]!);
    const end = Math.min(endRow, rowOffsets[i + 1]!);
    if (end > start) {
      const offset = rowOffsets[i]!;
      visit(start, source.docs[i]!.data.subarray((start - offset) * dim, (end - offset) * dim));
    }
  }
}

/**
 * Copies rows `firstRow .. endRow` of `packed` into `target` (from index 0), without packing the whole corpus.
 *
 * @example
 * copyPackedRows(packed, 100, 200, chunk); // chunk.length >= 100 * packed.dim
 */
export function copyPackedRows(packed: PackedDocuments, firstRow: number, endRow: number, target: Float32Array): void {
  const { dim } = packed;
  forEachRowRun(packed, firstRow, endRow, (row, data) => target.set(data, (row - firstRow) * dim));
}

/**
 * `packed` with its rows packed now, as a plain object that no longer refers to the caller's documents: what a
 * backend keeps when it scores from host memory later (the TypeScript kernel, the WebGPU fallback's host copy).
 *
 * @example
 * const kept = hostCopy(packed); // kept.data is the packed rows
 */
export function hostCopy(packed: PackedDocuments): PackedDocuments {
  const { data, rowOffsets, count, dim, totalRows, maxAbs } = packed;
  return { data, rowOffsets, count, dim, totalRows, maxAbs };
}
