import { float32ToFloat16Bits } from '../core/float16.js';
import { GpuLimitError } from './errors.js';
import { InvalidTokenMatrixError } from '../core/errors.js';
import type { PackedDocuments } from '../core/packed-documents.js';
import { BUFFER_COPY_DST, BUFFER_STORAGE, captureGpuErrors, type MaxsimDevice } from './device.js';
import type { DocStorage } from './pipelines.js';

/** A run of whole documents that fits one storage binding. */
export interface ChunkPlan {
  readonly firstDoc: number;
  readonly docCount: number;
  readonly firstRow: number;
  readonly rowCount: number;
}

/** One chunk resident on the device: its rows and its chunk-relative row offsets. */
export interface GpuCorpusChunk extends ChunkPlan {
  readonly docs: GPUBuffer;
  readonly offsets: GPUBuffer;
}

/** Documents resident on a device, split into chunks of whole documents. */
export interface GpuCorpus {
  readonly count: number;
  readonly dim: number;
  readonly storage: DocStorage;
  /** Storage words (4 bytes) per document row: `dim` for f32, `ceil(dim / 2)` for f16 pairs. */
  readonly rowWords: number;
  readonly chunks: readonly GpuCorpusChunk[];
  /** Indices of documents with no tokens: their scores are set to -Infinity on the host. */
  readonly emptyDocs: Uint32Array;
  readonly bytes: number;
}

/** Options for {@link uploadCorpus}. */
export interface UploadOptions {
  readonly storage: DocStorage;
  /** Largest chunk in bytes; defaults to the device's binding and buffer limits (a lower cap is for tests). */
  readonly chunkBytes?: number;
  /** Bytes written per `writeBuffer` before yielding to the event loop (default 4 MiB). */
  readonly sliceBytes?: number;
}

/**
 * Splits documents into runs of whole documents whose rows take at most `maxChunkBytes` (and whose offset
 * table fits too). Throws {@link GpuLimitError} naming the fix when one document alone is larger.
 *
 * @example
 * planChunks(new Uint32Array([0, 300, 600]), 512, 200_000); // two chunks of one document each
 */
export function planChunks(rowOffsets: Uint32Array, rowBytes: number, maxChunkBytes: number): ChunkPlan[] {
  const count = rowOffsets.length - 1;
  const plans: ChunkPlan[] = [];
  let firstDoc = 0;
  while (firstDoc < count) {
    const firstRow = rowOffsets[firstDoc]!;
    let end = firstDoc;
    while (
      end < count &&
      (rowOffsets[end + 1]! - firstRow) * rowBytes <= maxChunkBytes &&
      (end + 2 - firstDoc) * 4 <= maxChunkBytes
    ) {
      end++;
    }
    if (end === firstDoc) {
      const rows = rowOffsets[firstDoc + 1]! - firstRow;
      throw new GpuLimitError(
        `Document ${firstDoc} has ${rows} tokens × ${rowBytes} bytes per token = ${rows * rowBytes} bytes, more ` +
          `than one GPU storage binding may hold here (${maxChunkBytes} bytes: maxStorageBufferBindingSize / ` +
          "maxBufferSize). Split the document, use precision: 'f16' (half the bytes), pass a device with larger " +
          "limits, or use backend: 'cpu'.",
      );
    }
    plans.push({ firstDoc, docCount: end - firstDoc, firstRow, rowCount: rowOffsets[end]! - firstRow });
    firstDoc = end;
  }
  return plans;
}

/** Storage words per row for a storage kind. */
function rowWordsFor(storage: DocStorage, dim: number): number {
  return storage === 'f32' ? dim : Math.ceil(dim / 2);
}

/**
 * Uploads packed documents as resident storage buffers, chunked under the device limits, written in slices
 * with a yield to the event loop between slices so a large upload never blocks the JS thread for long.
 *
 * @example
 * const corpus = await uploadCorpus(md, packDocuments(docs), { storage: 'f32' });
 * destroyCorpus(corpus);
 */
export async function uploadCorpus(
  md: MaxsimDevice,
  packed: PackedDocuments,
  options: UploadOptions,
): Promise<GpuCorpus> {
  const { storage } = options;
  const { device, limits } = md;
  const rowWords = rowWordsFor(storage, packed.dim);
  const rowBytes = rowWords * 4;
  const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, options.chunkBytes ?? Infinity);
  const maxChunkBytes = Math.floor(limit / 4) * 4;
  const plans = planChunks(packed.rowOffsets, rowBytes, maxChunkBytes);
  const sliceRows = Math.max(1, Math.floor((options.sliceBytes ?? 4 << 20) / rowBytes));
  const scratch = storage === 'f32' ? undefined : new Uint32Array(Math.min(sliceRows, packed.totalRows) * rowWords);
  const chunks: GpuCorpusChunk[] = [];
  let bytes = 0;
  try {
    for (const plan of plans) {
      const relative = new Uint32Array(plan.docCount + 1);
      for (let i = 0; i <= plan.docCount; i++) relative[i] = packed.rowOffsets[plan.firstDoc + i]! - plan.firstRow;
      const size = Math.max(4, plan.rowCount * rowBytes);
      const label = `maxsim docs ${plan.firstDoc}..${plan.firstDoc + plan.docCount}`;
      const chunk = await captureGpuErrors(md, `allocating ${size} bytes for documents`, () => {
        const docs = device.createBuffer({ label, size, usage: BUFFER_STORAGE | BUFFER_COPY_DST });
        const offsets = device.createBuffer({
          label: `${label} offsets`,
          size: relative.byteLength,
          usage: BUFFER_STORAGE | BUFFER_COPY_DST,
        });
        chunks.push({ ...plan, docs, offsets });
        device.queue.writeBuffer(offsets, 0, relative);
        return chunks[chunks.length - 1]!;
      });
      bytes += size + relative.byteLength;
      const writes: Promise<void>[] = [];
      for (let row = 0; row < plan.rowCount; row += sliceRows) {
        const rows = Math.min(sliceRows, plan.rowCount - row);
        const srcRow = plan.firstRow + row;
        writes.push(
          captureGpuErrors(md, 'writing documents to the GPU', () => {
            if (scratch === undefined) {
              device.queue.writeBuffer(
                chunk.docs,
                row * rowBytes,
                packed.data.subarray(srcRow * packed.dim, (srcRow + rows) * packed.dim) as Float32Array<ArrayBuffer>,
              );
            } else {
              packRowsF16(packed.data, srcRow, rows, packed.dim, scratch);
              device.queue.writeBuffer(chunk.docs, row * rowBytes, scratch.subarray(0, rows * rowWords));
            }
          }),
        );
        await yieldToEventLoop();
      }
      await Promise.all(writes);
    }
  } catch (err) {
    for (const chunk of chunks) destroyChunk(chunk);
    throw err;
  }
  const empty: number[] = [];
  for (let i = 0; i < packed.count; i++) if (packed.rowOffsets[i] === packed.rowOffsets[i + 1]) empty.push(i);
  return {
    count: packed.count,
    dim: packed.dim,
    storage,
    rowWords,
    chunks,
    emptyDocs: Uint32Array.from(empty),
    bytes,
  };
}

/** Frees a corpus's GPU buffers. Idempotent (destroying a GPUBuffer twice is allowed). */
export function destroyCorpus(corpus: GpuCorpus): void {
  for (const chunk of corpus.chunks) destroyChunk(chunk);
}

function destroyChunk(chunk: GpuCorpusChunk): void {
  chunk.docs.destroy();
  chunk.offsets.destroy();
}

/** Resolves on a later turn of the event loop (a macrotask, so I/O and timers get to run). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * float32 → IEEE binary16 bits, rounding to nearest even (as the GPU's own conversion does). Values beyond
 * the f16 range (|x| > 65504 after rounding) would become infinities, so they throw instead.
 *
 * @example
 * f16Bits(1); // 0x3c00
 */
export function f16Bits(x: number): number {
  const half = float32ToFloat16Bits(x);
  if ((half & 0x7c00) === 0x7c00) throw tooLargeForF16(x); // an infinity (inputs are finite, so never NaN)
  return half;
}

function tooLargeForF16(x: number): InvalidTokenMatrixError {
  return new InvalidTokenMatrixError(
    `value ${x} does not fit in f16 storage (|x| <= 65504); normalise the embeddings or use precision: 'f32'`,
  );
}

/**
 * Packs `rows` f32 rows starting at `firstRow` into f16 pairs, `ceil(dim / 2)` u32 words per row (an odd `dim`
 * leaves the last high half zero). Writes into `dst` from index 0.
 */
function packRowsF16(src: Float32Array, firstRow: number, rows: number, dim: number, dst: Uint32Array): void {
  const words = Math.ceil(dim / 2);
  for (let r = 0; r < rows; r++) {
    const s = (firstRow + r) * dim;
    const d = r * words;
    for (let w = 0; w < words; w++) {
      const c = 2 * w;
      const lo = f16Bits(src[s + c]!);
      const hi = c + 1 < dim ? f16Bits(src[s + c + 1]!) : 0;
      dst[d + w] = (lo | (hi << 16)) >>> 0;
    }
  }
}
