// int8 storage in a WebAssembly memory, scored by the `maxsim_int8` export of the kernel module
// (wasm/maxsim-int8.wat): the int8 counterpart of wasm-kernel.ts's f32 slices, with the same streaming fill.
import { checkInt8Dim, quantizeQuery, writeInt8Rows } from './int8-kernel.js';
import {
  align16,
  allocate,
  ensureBytes,
  GROUP_BYTES,
  type DocumentRows,
  type WasmCorpusFill,
  type WasmCorpusSlice,
} from './wasm-kernel.js';
import type { TokenMatrix } from '../core/token-matrix.js';

/**
 * A query in the int8 kernel's layout: quantized per row to int16 ({@link quantizeQuery}), rows in blocks of 4,
 * interleaved chunk by chunk (8 columns of 4 rows = 64 bytes), columns padded to a multiple of 8 and rows to a
 * multiple of 4 with zeros; `scales` holds each row's scale (0 for the padding rows, which add exactly 0).
 */
export interface InterleavedInt8Query {
  readonly data: Int16Array;
  /** `blocks * 4` row scales. */
  readonly scales: Float32Array;
  /** 4-row blocks (`ceil(rows / 4)`; 0 for a query with no rows). */
  readonly blocks: number;
}

/**
 * Quantizes a query and lays it out for the int8 kernel (see {@link InterleavedInt8Query}). Done once per query,
 * on the calling thread.
 *
 * @example
 * const q = interleaveInt8Query(query); // q.blocks === Math.ceil(query.rows / 4)
 */
export function interleaveInt8Query(query: TokenMatrix): InterleavedInt8Query {
  const { rows, dim } = query;
  const quantized = quantizeQuery(query);
  const chunks = Math.ceil(dim / 8);
  const blocks = Math.ceil(rows / 4);
  const data = new Int16Array(blocks * chunks * 32);
  const scales = new Float32Array(blocks * 4);
  scales.set(quantized.scales);
  const src = quantized.values;
  for (let r = 0; r < rows; r++) {
    const base = (r >> 2) * chunks * 32 + (r & 3) * 8;
    for (let c = 0; c < dim; c++) data[base + (c >> 3) * 32 + (c & 7)] = src[r * dim + c]!;
  }
  return { data, scales, blocks };
}

type MaxsimInt8Export = (
  q: number,
  qScales: number,
  qBlocks: number,
  chunks: number,
  maxima: number,
  docs: number,
  scales: number,
  offsets: number,
  first: number,
  end: number,
  out: number,
) => void;

/**
 * Makes room for documents laid out by `rowOffsets` in int8 storage, in a new WebAssembly memory: each row's int8
 * values padded to a multiple of 8 bytes, then one float32 scale per row, then the offsets. `writeRows` takes
 * float32 rows and quantizes them into place (src/core/int8.ts: scale = max|row| / 127, round half to even), so a
 * worker receives floats and keeps 1 byte per value. Throws `E_INVALID_ARGUMENT` past
 * {@link checkInt8Dim}'s width and `E_CPU_MEMORY_LIMIT` when the rows do not fit in wasm32's 4 GiB.
 *
 * @example
 * const fill = allocateWasmInt8CorpusSlice(module, { rowOffsets, count, dim });
 * fill.writeRows(0, rows);
 * const scores = fill.slice.score([interleaveInt8Query(query)]);
 */
export function allocateWasmInt8CorpusSlice(
  module: WebAssembly.Module,
  docs: Omit<DocumentRows, 'data'>,
): WasmCorpusFill<InterleavedInt8Query> {
  const { count, dim } = docs;
  checkInt8Dim(dim);
  const chunks = Math.ceil(dim / 8);
  const rowBytes = chunks * 8;
  const rows = docs.rowOffsets[count] ?? 0;
  const scalesPtr = align16(rows * rowBytes);
  const offsetsPtr = scalesPtr + rows * 4;
  const storageBytes = offsetsPtr;
  const scratchPtr = align16(offsetsPtr + (count + 1) * 4);
  let memory: WebAssembly.Memory | undefined = allocate(scratchPtr, storageBytes, count);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const maxsim = instance.exports['maxsim_int8'] as MaxsimInt8Export | undefined;
  if (typeof maxsim !== 'function') {
    throw new Error("the kernel module has no 'maxsim_int8' export (a maxsim.wasm from before int8 storage)");
  }

  const writeRows = (firstRow: number, data: Float32Array): void => {
    const mem = memory;
    if (mem === undefined) throw new Error('WasmCorpusSlice written after release()');
    const n = Math.floor(data.length / dim);
    if (firstRow < 0 || firstRow + n > rows) throw new RangeError(`rows ${firstRow}..${firstRow + n} of ${rows}`);
    // Views of this write's rows only: the padding bytes after each row stay zero from allocation.
    const values = new Int8Array(mem.buffer, firstRow * rowBytes, n * rowBytes);
    const scales = new Float32Array(mem.buffer, scalesPtr + firstRow * 4, n);
    writeInt8Rows(data.subarray(0, n * dim), dim, 0, values, rowBytes, scales);
  };
  new Uint32Array(memory.buffer, offsetsPtr, count + 1).set(docs.rowOffsets.subarray(0, count + 1));

  // Documents per kernel call: as many as fit in GROUP_BYTES (at least one), as for f32 slices.
  const groupEnds: number[] = [];
  {
    let groupStart = docs.rowOffsets[0] ?? 0;
    for (let i = 0; i < count; i++) {
      const next = docs.rowOffsets[i + 1]!;
      if ((next - groupStart) * rowBytes >= GROUP_BYTES || i === count - 1) {
        groupEnds.push(i + 1);
        groupStart = next;
      }
    }
  }

  const slice: WasmCorpusSlice<InterleavedInt8Query> = {
    count,
    bytes: rows * (rowBytes + 4),
    score(queries) {
      const mem = memory;
      if (mem === undefined) throw new Error('WasmCorpusSlice used after release()');
      let queryBytes = 0;
      let maxBlocks = 0;
      for (const q of queries) {
        if (!(q.data instanceof Int16Array) || q.data.length !== q.blocks * chunks * 32) {
          throw new Error('a query not prepared by interleaveInt8Query for this dim reached an int8 corpus');
        }
        queryBytes += q.data.byteLength + q.scales.byteLength;
        if (q.blocks > maxBlocks) maxBlocks = q.blocks;
      }
      const maximaPtr = scratchPtr + queryBytes;
      const outPtr = maximaPtr + maxBlocks * 16;
      const end = outPtr + queries.length * count * 4;
      ensureBytes(mem, end, storageBytes, count);
      const queryPtrs: number[] = [];
      const scalePtrs: number[] = [];
      let at = scratchPtr;
      for (const q of queries) {
        // Each query's values (a multiple of 64 bytes) then its scales (16 per block): every v128 stays aligned.
        new Int16Array(mem.buffer, at, q.data.length).set(q.data);
        queryPtrs.push(at);
        at += q.data.byteLength;
        new Float32Array(mem.buffer, at, q.scales.length).set(q.scales);
        scalePtrs.push(at);
        at += q.scales.byteLength;
      }
      let first = 0;
      for (const groupEnd of groupEnds) {
        for (let i = 0; i < queries.length; i++) {
          maxsim(
            queryPtrs[i]!,
            scalePtrs[i]!,
            queries[i]!.blocks,
            chunks,
            maximaPtr,
            0,
            scalesPtr,
            offsetsPtr,
            first,
            groupEnd,
            outPtr + i * count * 4,
          );
        }
        first = groupEnd;
      }
      return new Float32Array(mem.buffer, outPtr, queries.length * count).slice();
    },
    release() {
      memory = undefined;
    },
  };
  return { slice, writeRows };
}
