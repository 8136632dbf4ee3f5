import { CpuMemoryLimitError } from './errors.js';
import { MAXSIM_RELAXED_WASM_BASE64 } from './maxsim-relaxed-wasm-bytes.js';
import { MAXSIM_WASM_BASE64 } from './maxsim-wasm-bytes.js';
import type { TokenMatrix } from '../core/token-matrix.js';

/** wasm32 addresses 2^32 bytes: 65,536 pages of 64 KiB. */
export const MAX_PAGES = 65_536;
export const PAGE_BYTES = 65_536;

/**
 * Documents per kernel call are grouped so one group's rows (~256 KiB) stay in L2 while every query of a
 * batch passes over them: W5-style batches then read the corpus from memory once, not once per query.
 */
export const GROUP_BYTES = 256 * 1024;

// The smallest module that uses a final-SIMD instruction (i8x16.popcnt): if it validates, so does ours.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/** True where this runtime has WebAssembly with 128-bit SIMD. */
export function wasmSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    // Some embedders throw instead of returning false when WebAssembly is switched off.
    return false;
  }
}

/** The two builds of the WASM kernel: standard 128-bit SIMD, and relaxed SIMD (`f32x4.relaxed_madd`). */
export type WasmKernelKind = 'wasm-simd' | 'wasm-relaxed-simd';

/**
 * A kernel's bytes (assembled from wasm/maxsim.wat at build time, the relaxed build by rewriting its multiply-adds,
 * and embedded as base64, so the universal core needs neither `fetch` nor `fs` to find them). Decoded with
 * `atob`, not `Buffer`.
 *
 * @example
 * const module = await WebAssembly.compile(maxsimWasmBytes('wasm-simd'));
 */
function maxsimWasmBytes(kind: WasmKernelKind): Uint8Array<ArrayBuffer> {
  const text = atob(kind === 'wasm-relaxed-simd' ? MAXSIM_RELAXED_WASM_BASE64 : MAXSIM_WASM_BASE64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * True where this runtime validates the relaxed-SIMD kernel (Chromium 114+, Firefox 145+; Node 20 only with
 * `--experimental-wasm-relaxed-simd`, Node 22+ by default). Asked of the kernel itself, so a runtime that knows
 * some relaxed instructions but not `f32x4.relaxed_madd` answers no.
 */
export function wasmRelaxedSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(maxsimWasmBytes('wasm-relaxed-simd'));
  } catch {
    return false;
  }
}

/**
 * Compiles an embedded kernel (default: the standard SIMD one). Rejects where the runtime refuses to compile from
 * bytes (Cloudflare Workers, pages whose CSP lacks `'wasm-unsafe-eval'`); there, pass the shipped
 * `webgpu-maxsim/maxsim.wasm` module in as `cpu: { wasmModule }`.
 *
 * @example
 * const module = await compileMaxsimWasm(wasmRelaxedSimdSupported() ? 'wasm-relaxed-simd' : 'wasm-simd');
 */
export async function compileMaxsimWasm(kind: WasmKernelKind = 'wasm-simd'): Promise<WebAssembly.Module> {
  return WebAssembly.compile(maxsimWasmBytes(kind));
}

/**
 * A query in the kernel's layout: rows in blocks of 4, interleaved chunk by chunk (4 columns of 4 rows = 64
 * bytes), columns padded to a multiple of 4 and rows to a multiple of 4 with zeros (zero rows add exactly 0).
 */
export interface InterleavedQuery {
  readonly data: Float32Array;
  /** 4-row blocks (`ceil(rows / 4)`; 0 for a query with no rows). */
  readonly blocks: number;
}

/**
 * Lays a query out for the kernel (see {@link InterleavedQuery}). Done once per query, on the calling thread.
 *
 * @example
 * const q = interleaveQuery(query); // q.blocks === Math.ceil(query.rows / 4)
 */
export function interleaveQuery(query: TokenMatrix): InterleavedQuery {
  const { rows, dim } = query;
  const chunks = Math.ceil(dim / 4);
  const blocks = Math.ceil(rows / 4);
  const data = new Float32Array(blocks * chunks * 16);
  const src = query.data;
  for (let r = 0; r < rows; r++) {
    const block = r >> 2;
    const lane = r & 3;
    const base = block * chunks * 16 + lane * 4;
    for (let c = 0; c < dim; c++) data[base + (c >> 2) * 16 + (c & 3)] = src[r * dim + c]!;
  }
  return { data, blocks };
}

/** Documents as the kernel's owner sees them: rows back to back, `count + 1` row offsets from 0. */
export interface DocumentRows {
  readonly data: Float32Array;
  readonly rowOffsets: Uint32Array;
  readonly count: number;
  readonly dim: number;
}

/**
 * Documents resident in one WebAssembly memory (a fresh memory per corpus slice: freeing the slice frees
 * the memory), scored by the SIMD kernel on the thread that owns it.
 */
export interface WasmCorpusSlice<Q = InterleavedQuery> {
  readonly count: number;
  /** Bytes the documents take in the memory: their rows (padded) and, for int8 storage, their scales. */
  readonly bytes: number;
  /** Raw 'sum' scores: query `i`'s scores are `result.subarray(i * count, (i + 1) * count)`. */
  score(queries: readonly Q[]): Float32Array;
  release(): void;
}

type MaxsimExport = (
  q: number,
  qBlocks: number,
  chunks: number,
  maxima: number,
  docs: number,
  offsets: number,
  first: number,
  end: number,
  out: number,
) => void;

/**
 * Copies documents into a new WebAssembly memory, rows padded to a multiple of 4 floats, and instantiates
 * the kernel on it. Throws {@link CpuMemoryLimitError} when they do not fit in wasm32's 4 GiB.
 *
 * @example
 * const slice = createWasmCorpusSlice(module, packDocuments(docs));
 * const scores = slice.score([interleaveQuery(query)]);
 * slice.release();
 */
export function createWasmCorpusSlice(module: WebAssembly.Module, docs: DocumentRows): WasmCorpusSlice {
  const fill = allocateWasmCorpusSlice(module, docs);
  fill.writeRows(0, docs.data.subarray(0, (docs.rowOffsets[docs.count] ?? 0) * docs.dim));
  return fill.slice;
}

/** A slice whose memory is allocated and whose rows are written in pieces (a corpus streamed to a worker). */
export interface WasmCorpusFill<Q = InterleavedQuery> {
  /** Scores correctly once every row has been written. */
  readonly slice: WasmCorpusSlice<Q>;
  /** Copies whole rows (`data`: rows × dim floats, back to back) into place, from row `firstRow` on. */
  writeRows(firstRow: number, data: Float32Array): void;
}

/**
 * The memory and kernel of {@link createWasmCorpusSlice} for documents laid out by `rowOffsets`, with the rows
 * still to write: the memory is the only copy of the corpus this thread holds.
 *
 * @example
 * const fill = allocateWasmCorpusSlice(module, { rowOffsets, count, dim });
 * fill.writeRows(0, firstChunk); fill.writeRows(firstChunk.length / dim, nextChunk);
 */
export function allocateWasmCorpusSlice(module: WebAssembly.Module, docs: Omit<DocumentRows, 'data'>): WasmCorpusFill {
  const { count, dim } = docs;
  const chunks = Math.ceil(dim / 4);
  const stride = chunks * 4;
  const rows = docs.rowOffsets[count] ?? 0;
  const docsBytes = rows * stride * 4;
  const offsetsPtr = docsBytes;
  const scratchPtr = align16(offsetsPtr + (count + 1) * 4);
  let memory: WebAssembly.Memory | undefined = allocate(scratchPtr, docsBytes, count);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const maxsim = instance.exports['maxsim'] as MaxsimExport;

  const writeRows = (firstRow: number, data: Float32Array): void => {
    const mem = memory;
    if (mem === undefined) throw new Error('WasmCorpusSlice written after release()');
    const n = dim === 0 ? 0 : Math.floor(data.length / dim);
    if (firstRow < 0 || firstRow + n > rows) throw new RangeError(`rows ${firstRow}..${firstRow + n} of ${rows}`);
    const heap = new Float32Array(mem.buffer, firstRow * stride * 4, n * stride);
    if (stride === dim) {
      heap.set(data.subarray(0, n * dim));
    } else {
      // Zero padding per row keeps every kernel load inside its own row.
      for (let r = 0; r < n; r++) heap.set(data.subarray(r * dim, (r + 1) * dim), r * stride);
    }
  };
  new Uint32Array(memory.buffer, offsetsPtr, count + 1).set(docs.rowOffsets.subarray(0, count + 1));

  // Documents per kernel call: as many as fit in GROUP_BYTES (at least one).
  const groupEnds: number[] = [];
  {
    const rowBytes = stride * 4;
    let groupStart = docs.rowOffsets[0] ?? 0;
    for (let i = 0; i < count; i++) {
      const next = docs.rowOffsets[i + 1]!;
      if ((next - groupStart) * rowBytes >= GROUP_BYTES || i === count - 1) {
        groupEnds.push(i + 1);
        groupStart = next;
      }
    }
  }

  const slice: WasmCorpusSlice = {
    count,
    bytes: docsBytes,
    score(queries) {
      const mem = memory;
      if (mem === undefined) throw new Error('WasmCorpusSlice used after release()');
      let queryBytes = 0;
      let maxBlocks = 0;
      for (const q of queries) {
        queryBytes += q.data.byteLength;
        if (q.blocks > maxBlocks) maxBlocks = q.blocks;
      }
      const maximaPtr = scratchPtr + queryBytes;
      const outPtr = maximaPtr + maxBlocks * 16;
      const end = outPtr + queries.length * count * 4;
      ensureBytes(mem, end, docsBytes, count);
      const queryPtrs: number[] = [];
      let at = scratchPtr;
      for (const q of queries) {
        new Float32Array(mem.buffer, at, q.data.length).set(q.data);
        queryPtrs.push(at);
        at += q.data.byteLength;
      }
      let first = 0;
      for (const groupEnd of groupEnds) {
        for (let i = 0; i < queries.length; i++) {
          maxsim(
            queryPtrs[i]!,
            queries[i]!.blocks,
            chunks,
            maximaPtr,
            0,
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

export function align16(n: number): number {
  // Not `(n + 15) & ~15`: sizes may pass 2^31, where bitwise operators would wrap them.
  return Math.ceil(n / 16) * 16;
}

/** A fresh memory of at least `bytes`, growable to 4 GiB; {@link CpuMemoryLimitError} when wasm32 cannot. */
export function allocate(bytes: number, docsBytes: number, count: number): WebAssembly.Memory {
  const pages = Math.max(1, Math.ceil(bytes / PAGE_BYTES));
  if (pages > MAX_PAGES) throw tooLarge(bytes, docsBytes, count);
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES });
  } catch (cause) {
    throw tooLarge(bytes, docsBytes, count, cause);
  }
}

export function ensureBytes(memory: WebAssembly.Memory, bytes: number, docsBytes: number, count: number): void {
  const have = memory.buffer.byteLength;
  if (bytes <= have) return;
  const pages = Math.ceil((bytes - have) / PAGE_BYTES);
  if (have / PAGE_BYTES + pages > MAX_PAGES) throw tooLarge(bytes, docsBytes, count);
  try {
    memory.grow(pages);
  } catch (cause) {
    throw tooLarge(bytes, docsBytes, count, cause);
  }
}

function tooLarge(bytes: number, docsBytes: number, count: number, cause?: unknown): CpuMemoryLimitError {
  return new CpuMemoryLimitError(bytes, docsBytes, count, cause);
}
