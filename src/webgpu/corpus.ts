import { float32ToFloat16Bits } from '../core/float16.js';
import { GpuLimitError } from './errors.js';
import { InvalidTokenMatrixError } from '../core/errors.js';
import { checkInt8Dim, writeInt8Rows } from '../core/int8.js';
import { forEachRowRun, type PackedDocuments } from '../core/packed-documents.js';
import {
  BUFFER_COPY_DST,
  BUFFER_COPY_SRC,
  BUFFER_STORAGE,
  BUFFER_UNIFORM,
  captureGpuErrors,
  type MaxsimDevice,
} from './device.js';
import { getConvertF16Pipeline } from './pipelines.js';
import { groupDocuments, paddedRowWords, type Storage } from './variants.js';

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
  /** int8 storage: one f32 scale per row of the chunk (binding 7 of the int8 kernels); absent otherwise. */
  readonly scales?: GPUBuffer;
  /** The chunk-relative row offsets on the host (docCount + 1), for grouping documents. */
  readonly relativeOffsets: Uint32Array;
}

/** The document groups of every chunk for one tile shape (tiled kernels), built on first use. */
export interface ChunkGroups {
  readonly count: number;
  readonly buffer: GPUBuffer;
}

/** Documents resident on a device, split into chunks of whole documents. */
export interface GpuCorpus {
  readonly count: number;
  readonly dim: number;
  readonly storage: Storage;
  /** u32 words per stored row: f32 values, f16 pairs or 4 int8, padded with zeros to a multiple of 4 words. */
  readonly rowWords: number;
  readonly chunks: readonly GpuCorpusChunk[];
  /** Indices of documents with no tokens: their scores are set to -Infinity on the host. */
  readonly emptyDocs: Uint32Array;
  readonly bytes: number;
  /** Largest |value| of any document (what bounds f16 arithmetic's partial sums). */
  readonly maxAbs: number;
  /** Mean tokens per non-empty document (the tuning key's short-document bucket). */
  readonly meanTokens: number;
  /** Per tile shape (`TT/MAXD`): document groups of each chunk. Filled by the dispatch code. */
  readonly groups: Map<string, ChunkGroups[]>;
  /** Per kernel pipeline: bind groups of each chunk, valid for one generation of a scorer's buffers. */
  readonly bindGroups: Map<string, { readonly generation: number; readonly groups: GPUBindGroup[] }>;
}

/** Options for {@link uploadCorpus}. */
export interface UploadOptions {
  readonly storage: Storage;
  /** Largest chunk in bytes; defaults to the device's binding and buffer limits (a lower cap is for tests). */
  readonly chunkBytes?: number;
  /** Source (f32) bytes written per `writeBuffer` slice before yielding to the event loop (default 4 MiB). */
  readonly sliceBytes?: number;
}

/**
 * Splits documents into runs of whole documents whose rows take at most `maxChunkBytes` (and whose offset
 * table fits too). Throws {@link GpuLimitError} naming the fix when one document alone is larger.
 *
 * @example
 * planChunks(new Uint32Array([0, 300, 600]), 512, 200_000); // two chunks of one document each
 */
export function planChunks(
  rowOffsets: Uint32Array,
  rowBytes: number,
  maxChunkBytes: number,
  storage: Storage = 'f32',
): ChunkPlan[] {
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
          `maxBufferSize). Split the document, ${storage === 'f32' ? "use precision: 'f16' (half the bytes), " : ''}` +
          "pass a device with larger limits, or use backend: 'cpu'.",
      );
    }
    plans.push({ firstDoc, docCount: end - firstDoc, firstRow, rowCount: rowOffsets[end]! - firstRow });
    firstDoc = end;
  }
  return plans;
}

/**
 * Uploads packed documents as resident storage buffers, chunked under the device limits, rows padded to a
 * multiple of 16 bytes (the layout every kernel variant reads). f32 rows are written as they are (through a
 * padding scratch when dim is not a multiple of 4); f16 storage uploads the same f32 rows into a staging buffer
 * and converts them on the GPU (shaders/convert-f16.wgsl, round to nearest even exactly as the host would), so
 * the host runs no conversion loop. int8 storage quantizes each row on the host with the CPU backend's own
 * function (src/core/int8.ts: scale = max|row| / 127, round half to even), so a document gets the same integers
 * and scales on both backends, and uploads 4 values per u32 word plus a f32 scale buffer per chunk. Rows are read from the caller's documents in runs (no packed copy of the
 * corpus), written in slices with a yield to the event loop between slices, so a large upload never blocks the
 * JS thread for long. A value beyond f16's range throws {@link InvalidTokenMatrixError} before anything is
 * allocated.
 *
 * @example
 * const corpus = await uploadCorpus(md, packDocuments(docs), { storage: 'f16' });
 * destroyCorpus(corpus);
 */
export async function uploadCorpus(
  md: MaxsimDevice,
  packed: PackedDocuments,
  options: UploadOptions,
): Promise<GpuCorpus> {
  const { storage } = options;
  const { device, limits } = md;
  const { dim } = packed;
  if (storage === 'f16') checkF16Range(packed.maxAbs);
  if (storage === 'int8') checkInt8Dim(dim);
  const rowWords = paddedRowWords(storage, dim);
  const rowBytes = rowWords * 4;
  const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, options.chunkBytes ?? Infinity);
  const maxChunkBytes = Math.floor(limit / 16) * 16;
  const plans = planChunks(packed.rowOffsets, rowBytes, maxChunkBytes, storage);
  const sourceRowBytes = Math.max(4, dim * 4);
  const sliceRows = Math.max(
    1,
    Math.min(
      Math.floor((options.sliceBytes ?? 4 << 20) / sourceRowBytes),
      // The f16 staging buffer is bound whole: keep a slice under the binding limit.
      Math.floor(Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) / sourceRowBytes),
    ),
  );
  const padScratch =
    storage === 'f32' && rowWords !== dim
      ? new Float32Array(Math.min(sliceRows, packed.totalRows) * rowWords)
      : undefined;
  const int8Scratch =
    storage === 'int8'
      ? {
          words: new Uint32Array(Math.min(sliceRows, packed.totalRows) * rowWords),
          scales: new Float32Array(Math.min(sliceRows, packed.totalRows)),
        }
      : undefined;
  const converter = storage === 'f16' && packed.totalRows > 0 ? await startF16Converter(md, sliceRows, dim) : undefined;
  const chunks: GpuCorpusChunk[] = [];
  let bytes = 0;
  try {
    for (const plan of plans) {
      const relative = new Uint32Array(plan.docCount + 1);
      for (let i = 0; i <= plan.docCount; i++) relative[i] = packed.rowOffsets[plan.firstDoc + i]! - plan.firstRow;
      // At least 16 bytes: the tiled kernels bind the rows as vec4s.
      const size = Math.max(16, plan.rowCount * rowBytes);
      const label = `maxsim docs ${plan.firstDoc}..${plan.firstDoc + plan.docCount}`;
      const chunk = await captureGpuErrors(md, `allocating ${size} bytes for documents`, () => {
        // COPY_SRC: the tests read stored rows back (f16 conversion checks); it costs nothing.
        const docs = device.createBuffer({ label, size, usage: BUFFER_STORAGE | BUFFER_COPY_DST | BUFFER_COPY_SRC });
        const offsets = device.createBuffer({
          label: `${label} offsets`,
          size: relative.byteLength,
          usage: BUFFER_STORAGE | BUFFER_COPY_DST,
        });
        const scales =
          storage === 'int8'
            ? device.createBuffer({
                label: `${label} scales`,
                size: Math.max(16, plan.rowCount * 4),
                usage: BUFFER_STORAGE | BUFFER_COPY_DST | BUFFER_COPY_SRC,
              })
            : undefined;
        chunks.push({ ...plan, docs, offsets, ...(scales === undefined ? {} : { scales }), relativeOffsets: relative });
        device.queue.writeBuffer(offsets, 0, relative);
        return chunks[chunks.length - 1]!;
      });
      bytes += size + relative.byteLength + (chunk.scales === undefined ? 0 : plan.rowCount * 4);
      const target = converter?.bind(chunk.docs);
      const writes: Promise<void>[] = [];
      for (let row = 0; row < plan.rowCount; row += sliceRows) {
        const rows = Math.min(sliceRows, plan.rowCount - row);
        const srcRow = plan.firstRow + row;
        writes.push(
          captureGpuErrors(md, 'writing documents to the GPU', () => {
            if (target !== undefined) {
              target.convert(packed, srcRow, rows, (row * rowBytes) / 16);
            } else if (int8Scratch !== undefined) {
              const { words, scales } = int8Scratch;
              words.fill(0, 0, rows * rowWords); // the padding bytes stay zero
              const values = new Int8Array(words.buffer, 0, rows * rowBytes);
              forEachRowRun(packed, srcRow, srcRow + rows, (r, data) => {
                writeInt8Rows(data, dim, r - srcRow, values, rowBytes, scales);
              });
              device.queue.writeBuffer(chunk.docs, row * rowBytes, words.subarray(0, rows * rowWords));
              device.queue.writeBuffer(chunk.scales!, row * 4, scales.subarray(0, rows));
            } else if (padScratch === undefined) {
              forEachRowRun(packed, srcRow, srcRow + rows, (r, data) => {
                device.queue.writeBuffer(chunk.docs, (row + r - srcRow) * rowBytes, data as Float32Array<ArrayBuffer>);
              });
            } else {
              padScratch.fill(0, 0, rows * rowWords);
              forEachRowRun(packed, srcRow, srcRow + rows, (r, data) => {
                const n = data.length / dim;
                for (let i = 0; i < n; i++) {
                  padScratch.set(data.subarray(i * dim, (i + 1) * dim), (r - srcRow + i) * rowWords);
                }
              });
              device.queue.writeBuffer(chunk.docs, row * rowBytes, padScratch.subarray(0, rows * rowWords));
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
  } finally {
    converter?.destroy();
  }
  const empty: number[] = [];
  for (let i = 0; i < packed.count; i++) if (packed.rowOffsets[i] === packed.rowOffsets[i + 1]) empty.push(i);
  const nonEmpty = packed.count - empty.length;
  return {
    count: packed.count,
    dim,
    storage,
    rowWords,
    chunks,
    emptyDocs: Uint32Array.from(empty),
    bytes,
    maxAbs: packed.maxAbs,
    meanTokens: nonEmpty === 0 ? 0 : packed.totalRows / nonEmpty,
    groups: new Map(),
    bindGroups: new Map(),
  };
}

/** Frees a corpus's GPU buffers. Idempotent (destroying a GPUBuffer twice is allowed). */
export function destroyCorpus(corpus: GpuCorpus): void {
  for (const chunk of corpus.chunks) destroyChunk(chunk);
  for (const perChunk of corpus.groups.values()) for (const g of perChunk) g.buffer.destroy();
  corpus.groups.clear();
  corpus.bindGroups.clear();
}

/**
 * The document groups of every chunk for tile shape (TT, MAXD), created on first use and kept with the corpus
 * (the corpus is resident, so they are built once). Call inside an error scope: it creates buffers the first time.
 */
export function corpusGroups(md: MaxsimDevice, corpus: GpuCorpus, TT: number, MAXD: number): ChunkGroups[] {
  const key = `${TT}/${MAXD}`;
  let groups = corpus.groups.get(key);
  if (groups === undefined) {
    groups = corpus.chunks.map((chunk) => {
      const starts = groupDocuments(chunk.relativeOffsets, TT, MAXD);
      const buffer = md.device.createBuffer({
        label: `maxsim document groups ${key}`,
        size: starts.byteLength,
        usage: BUFFER_STORAGE | BUFFER_COPY_DST,
      });
      md.device.queue.writeBuffer(buffer, 0, starts);
      return { count: starts.length - 1, buffer };
    });
    corpus.groups.set(key, groups);
  }
  return groups;
}

function destroyChunk(chunk: GpuCorpusChunk): void {
  chunk.docs.destroy();
  chunk.offsets.destroy();
  chunk.scales?.destroy();
}

/** Resolves on a later turn of the event loop (a macrotask, so I/O and timers get to run). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Throws {@link InvalidTokenMatrixError} when a value of magnitude `maxAbs` would round to infinity in f16. */
function checkF16Range(maxAbs: number): void {
  if ((float32ToFloat16Bits(maxAbs) & 0x7c00) === 0x7c00) {
    throw new InvalidTokenMatrixError(
      `a document value of magnitude ${maxAbs} does not fit in f16 storage (|x| <= 65504); normalise the ` +
        "embeddings or use precision: 'f32'",
    );
  }
}

/**
 * float32 → IEEE binary16 bits, rounding to nearest even (as the GPU conversion pass does). Values beyond the
 * f16 range (|x| > 65504 after rounding) would become infinities, so they throw instead.
 *
 * @example
 * f16Bits(1); // 0x3c00
 */
export function f16Bits(x: number): number {
  const half = float32ToFloat16Bits(x);
  if ((half & 0x7c00) === 0x7c00) {
    throw new InvalidTokenMatrixError(
      `value ${x} does not fit in f16 storage (|x| <= 65504); normalise the embeddings or use precision: 'f32'`,
    );
  }
  return half;
}

/** The f32 → f16 conversion of one upload: a staging buffer for f32 slices, and the conversion pass. */
interface F16Converter {
  /** The converter writing into one chunk's buffer. */
  bind(docs: GPUBuffer): {
    /** Writes rows [srcRow, srcRow + rows) of `packed` as f16 at vec4 `dstBase` of the chunk (queue-ordered). */
    convert(packed: PackedDocuments, srcRow: number, rows: number, dstBase: number): void;
  };
  destroy(): void;
}

async function startF16Converter(md: MaxsimDevice, sliceRows: number, dim: number): Promise<F16Converter> {
  const { device } = md;
  const pipeline = await getConvertF16Pipeline(md);
  const rowWords = paddedRowWords('f16', dim);
  const { staging, params } = await captureGpuErrors(md, 'allocating the f16 upload staging buffer', () => ({
    staging: device.createBuffer({
      label: 'maxsim f16 upload staging',
      size: Math.max(16, sliceRows * dim * 4),
      usage: BUFFER_STORAGE | BUFFER_COPY_DST,
    }),
    params: device.createBuffer({
      label: 'maxsim f16 upload params',
      size: 16,
      usage: BUFFER_UNIFORM | BUFFER_COPY_DST,
    }),
  }));
  const words = new Uint32Array(4);
  return {
    bind(docs) {
      const bindGroup = device.createBindGroup({
        label: 'maxsim f16 upload',
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: params } },
          { binding: 1, resource: { buffer: staging } },
          { binding: 2, resource: { buffer: docs } },
        ],
      });
      return {
        convert(packed, srcRow, rows, dstBase) {
          // Queue order makes the reuse safe: this slice's writes land after the previous slice's pass ran.
          forEachRowRun(packed, srcRow, srcRow + rows, (r, data) => {
            device.queue.writeBuffer(staging, (r - srcRow) * dim * 4, data as Float32Array<ArrayBuffer>);
          });
          words.set([dim, rows, rowWords, dstBase]);
          device.queue.writeBuffer(params, 0, words);
          const encoder = device.createCommandEncoder({ label: 'maxsim f16 upload' });
          const pass = encoder.beginComputePass({ label: 'maxsim f16 upload' });
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, bindGroup);
          pass.dispatchWorkgroups(Math.ceil((rows * rowWords) / 4 / 256));
          pass.end();
          device.queue.submit([encoder.finish()]);
        },
      };
    },
    destroy() {
      staging.destroy();
      params.destroy();
    },
  };
}
