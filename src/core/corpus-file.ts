// Corpus files: documents' token matrices (and optionally their ids and texts) in one safetensors file, so a
// corpus embedded in Python (numpy, PyTorch, `safetensors`) can be searched in a browser or a Worker, and one
// embedded here can be read back in Python. Universal: no Node APIs; the stream reader takes web streams, Blobs
// and async iterables (Node's fs streams are async iterables of Uint8Array).
//
// Tensors (names fixed; others are allowed and ignored):
//   embeddings    [total_rows, dim]  F32 | F16 | BF16 | I8 (| F64 on read)   every document's rows, back to back
//   offsets       [documents + 1]    I64 (| I32 | U32 on read)               document i is rows offsets[i]..offsets[i+1]
//   scales        [total_rows]       F32, only with I8 embeddings            value = int8 × scales[row]
//   ids, texts    [bytes]            U8: UTF-8 of every document's id / text, back to back
//   id_offsets, text_offsets  [documents + 1]  I64 (| I32 | U32): byte offsets into ids / texts
// `__metadata__` (strings only): format "webgpu-maxsim.corpus", version "1", model, dim, documents, dtype, and
// whatever the writer adds.
import { CorpusFileError, DimensionMismatchError, InvalidArgumentError } from './errors.js';
import { float16BitsToFloat, float32ToFloat16Bits } from './float16.js';
import { int8RowScale, quantizeInt8Into } from './int8.js';
import {
  DTYPE_BYTES,
  checkFileLength,
  encodeSafetensorsHeader,
  parseSafetensorsHeader,
  readHeaderSize,
  type SafetensorsDtype,
  type SafetensorsLayout,
  type TensorEntry,
  type TensorSpec,
} from './safetensors.js';
import { firstNonFinite, validateTokenMatrix, type TokenMatrix } from './token-matrix.js';

/** `__metadata__.format` of a corpus file. */
export const CORPUS_FILE_FORMAT = 'webgpu-maxsim.corpus';
/** `__metadata__.version` this library writes; it reads files whose major version is at most this. */
export const CORPUS_FILE_VERSION = '1';

/** How a file stores embeddings: `f64` is read only (numpy's default float). */
export type CorpusDtype = 'f32' | 'f16' | 'bf16' | 'int8' | 'f64';
/** What {@link writeCorpusFile} writes: f32 (4 bytes a value), f16 (2) or per-row int8 (1, plus 4 a row). */
export type CorpusWriteDtype = 'f32' | 'f16' | 'int8';

/** A decoded corpus file. */
export interface CorpusFile {
  /** One matrix per document, each a view into {@link CorpusFile.data} (no copy per document). */
  readonly documents: TokenMatrix[];
  /** `__metadata__`, every value a string (`format`, `version`, `model`, `dim`, … as the writer put them). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Document ids, when the file has them (`ids` + `id_offsets`). */
  readonly ids: string[] | undefined;
  /** Document texts, when the file has them (`texts` + `text_offsets`). */
  readonly texts: string[] | undefined;
  readonly dim: number;
  /** How the file stored the embeddings (they are always decoded to float32). */
  readonly dtype: CorpusDtype;
  /**
   * Every row of every document, `[totalRows, dim]`. For an f32 file read with {@link readCorpusFile} this is a
   * view of the bytes passed in (no copy) when they are 4-byte aligned.
   */
  readonly data: Float32Array;
  /** `documents + 1` row offsets into {@link CorpusFile.data}. */
  readonly rowOffsets: Uint32Array;
  /** The file's size in bytes. */
  readonly byteLength: number;
}

const EMBEDDING_DTYPES: Readonly<Partial<Record<SafetensorsDtype, CorpusDtype>>> = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  I8: 'int8',
  F64: 'f64',
};
const OFFSET_DTYPES: ReadonlySet<SafetensorsDtype> = new Set(['I64', 'I32', 'U32']);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The corpus-level facts a header fixes, checked before any data is read. */
interface CorpusLayout {
  readonly file: SafetensorsLayout;
  readonly embeddings: TensorEntry;
  readonly dtype: CorpusDtype;
  readonly rows: number;
  readonly dim: number;
  readonly offsets: TensorEntry;
  readonly documents: number;
  readonly scales: TensorEntry | undefined;
  readonly ids: readonly [TensorEntry, TensorEntry] | undefined;
  readonly texts: readonly [TensorEntry, TensorEntry] | undefined;
}

function checkCorpusLayout(file: SafetensorsLayout): CorpusLayout {
  const { byName, metadata } = file;
  const embeddings = byName.get('embeddings');
  if (embeddings === undefined) {
    throw new CorpusFileError(
      'missing-tensor',
      `no 'embeddings' tensor (the file has ${[...byName.keys()].map((n) => `'${n}'`).join(', ') || 'no tensors'}): ` +
        "a corpus file needs 'embeddings' [total_rows, dim] and 'offsets' [documents + 1]",
    );
  }
  const dtype = EMBEDDING_DTYPES[embeddings.dtype];
  if (dtype === undefined) {
    throw new CorpusFileError(
      'dtype',
      `'embeddings' is ${embeddings.dtype}; a corpus file stores F32, F16, BF16, I8 (with F32 'scales') or F64`,
      'embeddings',
    );
  }
  if (embeddings.shape.length !== 2 || embeddings.shape[1] === 0) {
    throw new CorpusFileError(
      'shape',
      `'embeddings' has shape ${JSON.stringify(embeddings.shape)}; expected [total_rows, dim] with dim >= 1`,
      'embeddings',
    );
  }
  const [rows, dim] = embeddings.shape as [number, number];
  const offsets = checkOffsetsEntry(byName.get('offsets'), 'offsets', 'embeddings');
  const documents = offsets.elements - 1;

  const scales = byName.get('scales');
  if (dtype === 'int8') {
    if (scales === undefined) {
      throw new CorpusFileError(
        'missing-tensor',
        "'embeddings' is I8 but there is no 'scales' tensor: int8 rows need one F32 scale each (value = int8 × scale)",
        'scales',
      );
    }
    if (scales.dtype !== 'F32') {
      throw new CorpusFileError('dtype', `'scales' is ${scales.dtype}; expected F32`, 'scales');
    }
    if (scales.shape.length !== 1 || scales.shape[0] !== rows) {
      throw new CorpusFileError(
        'shape',
        `'scales' has shape ${JSON.stringify(scales.shape)} but 'embeddings' has ${rows} rows: expected [${rows}]`,
        'scales',
      );
    }
  } else if (scales !== undefined) {
    throw new CorpusFileError(
      'dtype',
      `the file has 'scales' but 'embeddings' is ${embeddings.dtype}: scales belong to I8 embeddings only`,
      'scales',
    );
  }

  const pair = (bytesName: string, offsetsName: string): readonly [TensorEntry, TensorEntry] | undefined => {
    const bytes = byName.get(bytesName);
    const entry = byName.get(offsetsName);
    if (bytes === undefined && entry === undefined) return undefined;
    if (bytes === undefined || entry === undefined) {
      const [has, lacks] = bytes === undefined ? [offsetsName, bytesName] : [bytesName, offsetsName];
      throw new CorpusFileError(
        'missing-tensor',
        `the file has '${has}' but not '${lacks}': ${bytesName} (U8, UTF-8 bytes) and ${offsetsName} ` +
          '(byte offsets, documents + 1) go together',
        lacks,
      );
    }
    if (bytes.dtype !== 'U8' || bytes.shape.length !== 1) {
      throw new CorpusFileError(
        'dtype',
        `'${bytesName}' is ${bytes.dtype} ${JSON.stringify(bytes.shape)}; expected U8 [bytes] (UTF-8 text)`,
        bytesName,
      );
    }
    const checked = checkOffsetsEntry(entry, offsetsName, bytesName);
    if (checked.elements !== documents + 1) {
      throw new CorpusFileError(
        'shape',
        `'${offsetsName}' has ${checked.elements} entries but 'offsets' has ${documents + 1}: both need ` +
          'documents + 1 entries',
        offsetsName,
      );
    }
    return [bytes, checked];
  };
  const ids = pair('ids', 'id_offsets');
  const texts = pair('texts', 'text_offsets');

  const { format, version } = metadata;
  if (format !== undefined && format !== CORPUS_FILE_FORMAT) {
    throw new CorpusFileError(
      'metadata',
      `__metadata__.format is ${JSON.stringify(format)}, not ${JSON.stringify(CORPUS_FILE_FORMAT)}: this ` +
        'safetensors file is something else (a model checkpoint?)',
    );
  }
  if (version !== undefined) {
    const major = /^(\d+)(\.\d+)*$/.exec(version)?.[1];
    if (major === undefined || Number(major) > Number(CORPUS_FILE_VERSION)) {
      throw new CorpusFileError(
        'metadata',
        `__metadata__.version is ${JSON.stringify(version)}; this library reads corpus files up to version ` +
          `${CORPUS_FILE_VERSION}. Upgrade webgpu-maxsim to read it.`,
      );
    }
  }
  for (const [key, actual] of [
    ['dim', dim],
    ['documents', documents],
  ] as const) {
    const said = metadata[key];
    if (said !== undefined && said !== String(actual)) {
      throw new CorpusFileError(
        'metadata',
        `__metadata__.${key} is ${JSON.stringify(said)} but the tensors say ${actual} ` +
          `(${key === 'dim' ? "'embeddings' shape[1]" : "'offsets' length − 1"}): the shapes disagree`,
      );
    }
  }
  return { file, embeddings, dtype, rows, dim, offsets, documents, scales, ids, texts };
}

function checkOffsetsEntry(entry: TensorEntry | undefined, name: string, of: string): TensorEntry {
  if (entry === undefined) {
    throw new CorpusFileError(
      'missing-tensor',
      `no '${name}' tensor: a corpus file needs '${name}' [documents + 1] (I64) to split '${of}' into documents`,
      name,
    );
  }
  if (!OFFSET_DTYPES.has(entry.dtype)) {
    throw new CorpusFileError('dtype', `'${name}' is ${entry.dtype}; expected I64 (or I32, U32)`, name);
  }
  if (entry.shape.length !== 1 || entry.elements < 1) {
    throw new CorpusFileError(
      'shape',
      `'${name}' has shape ${JSON.stringify(entry.shape)}; expected [documents + 1] (at least [1], for no documents)`,
      name,
    );
  }
  return entry;
}

/**
 * Reads offsets (`[n + 1]`, I64/I32/U32 little-endian) from their bytes and checks them: start at 0, never go
 * backwards, end at `total`. Into a Uint32Array (the library's row-offset type), so `total` < 2^32.
 */
function readOffsets(entry: TensorEntry, bytes: Uint8Array, total: number, what: string): Uint32Array {
  const n = entry.elements;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(n);
  const step = DTYPE_BYTES[entry.dtype];
  let previous = 0;
  for (let i = 0; i < n; i++) {
    let value: number;
    if (entry.dtype === 'I64') {
      const lo = view.getUint32(i * 8, true);
      const hi = view.getInt32(i * 8 + 4, true);
      value = hi < 0 ? -1 : hi >= 2 ** 21 ? Number.MAX_SAFE_INTEGER : hi * 2 ** 32 + lo;
    } else {
      value = entry.dtype === 'I32' ? view.getInt32(i * step, true) : view.getUint32(i * step, true);
    }
    if (i === 0 && value !== 0) {
      throw new CorpusFileError(
        'row-offsets',
        `'${entry.name}'[0] is ${value}; ${what} offsets must start at 0`,
        entry.name,
      );
    }
    if (value < previous || value > total) {
      throw new CorpusFileError(
        'row-offsets',
        value < previous
          ? `'${entry.name}'[${i}] is ${value}, less than '${entry.name}'[${i - 1}] = ${previous}: ${what} offsets ` +
              'must never go backwards (document ' +
              `${i - 1} would have a negative length)`
          : `'${entry.name}'[${i}] is ${value}, past the ${total} ${what}s there are`,
        entry.name,
      );
    }
    out[i] = value;
    previous = value;
  }
  if (previous !== total) {
    throw new CorpusFileError(
      'row-offsets',
      `'${entry.name}' ends at ${previous} but there are ${total} ${what}s: the last offset must be the total`,
      entry.name,
    );
  }
  return out;
}

let f16Table: Float32Array | undefined;

/** Decodes whole little-endian elements of `dtype` from `src` into `out` from element `at`. */
function decodeInto(dtype: CorpusDtype, src: Uint8Array, out: Float32Array, at: number): void {
  const size = dtype === 'f32' ? 4 : dtype === 'f64' ? 8 : dtype === 'int8' ? 1 : 2;
  const n = src.byteLength / size;
  const aligned = LITTLE_ENDIAN && src.byteOffset % size === 0;
  if (dtype === 'int8') {
    out.set(new Int8Array(src.buffer, src.byteOffset, n), at);
    return;
  }
  if (aligned && dtype === 'f32') {
    out.set(new Float32Array(src.buffer, src.byteOffset, n), at);
    return;
  }
  if (aligned && dtype === 'f64') {
    out.set(new Float64Array(src.buffer, src.byteOffset, n), at);
    return;
  }
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  if (dtype === 'f32') {
    for (let i = 0; i < n; i++) out[at + i] = view.getFloat32(i * 4, true);
  } else if (dtype === 'f64') {
    for (let i = 0; i < n; i++) out[at + i] = view.getFloat64(i * 8, true);
  } else if (dtype === 'f16') {
    const table = (f16Table ??= Float32Array.from({ length: 65536 }, (_, h) => float16BitsToFloat(h)));
    if (aligned) {
      const halves = new Uint16Array(src.buffer, src.byteOffset, n);
      for (let i = 0; i < n; i++) out[at + i] = table[halves[i]!]!;
    } else {
      for (let i = 0; i < n; i++) out[at + i] = table[view.getUint16(i * 2, true)]!;
    }
  } else {
    // bfloat16 is the top half of a float32: write the bits straight in (exact, NaN and ±inf included).
    const bits = new Uint32Array(out.buffer, out.byteOffset + at * 4, n);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true) << 16;
  }
}

function allocateRows(rows: number, dim: number): Float32Array {
  try {
    return new Float32Array(rows * dim);
  } catch (err) {
    throw new CorpusFileError(
      'too-large',
      `the corpus decodes to ${rows} × ${dim} float32 values (${((rows * dim * 4) / 2 ** 30).toFixed(1)} GiB), ` +
        `more than one Float32Array can hold here (${err instanceof Error ? err.message : String(err)}): split it ` +
        'into several files',
      'embeddings',
    );
  }
}

/** Turns checked tensors into a {@link CorpusFile}; `data` holds the decoded (int8: unscaled) embeddings. */
function assemble(
  layout: CorpusLayout,
  data: Float32Array,
  bytesOf: (t: TensorEntry) => Uint8Array,
  byteLength: number,
): CorpusFile {
  const { rows, dim, dtype } = layout;
  if (rows > 0xffffffff) {
    throw new CorpusFileError('too-large', `the corpus has ${rows} rows; at most 2^32 − 1 fit in one corpus`);
  }
  const rowOffsets = readOffsets(layout.offsets, bytesOf(layout.offsets), rows, 'row');
  if (layout.scales !== undefined) {
    const scales = new Float32Array(rows);
    decodeInto('f32', bytesOf(layout.scales), scales, 0);
    for (let r = 0; r < rows; r++) {
      const s = scales[r]!;
      if (!(s >= 0) || s === Number.POSITIVE_INFINITY) {
        throw new CorpusFileError(
          'values',
          `'scales'[${r}] is ${s}; int8 scales must be finite and >= 0 (max |x| / 127 of the row)`,
          'scales',
        );
      }
      for (let i = r * dim; i < (r + 1) * dim; i++) data[i] = data[i]! * s;
    }
  }
  const bad = firstNonFinite(data);
  if (bad >= 0) {
    const row = Math.floor(bad / dim);
    let doc = 0;
    while (rowOffsets[doc + 1]! <= row) doc++;
    throw new CorpusFileError(
      'values',
      `'embeddings' has ${data[bad]} at row ${row} (document ${doc}, its row ${row - rowOffsets[doc]!}), column ` +
        `${bad - row * dim}: corpus values must be finite${dtype === 'f64' ? ' in float32' : ''}`,
      'embeddings',
    );
  }
  const documents: TokenMatrix[] = [];
  for (let i = 0; i < layout.documents; i++) {
    const start = rowOffsets[i]!;
    const end = rowOffsets[i + 1]!;
    documents.push({ data: data.subarray(start * dim, end * dim), rows: end - start, dim });
  }
  const strings = (pair: readonly [TensorEntry, TensorEntry] | undefined): string[] | undefined => {
    if (pair === undefined) return undefined;
    const [bytesEntry, offsetsEntry] = pair;
    const bytes = bytesOf(bytesEntry);
    const at = readOffsets(offsetsEntry, bytesOf(offsetsEntry), bytes.byteLength, 'byte');
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const out: string[] = [];
    for (let i = 0; i < layout.documents; i++) {
      try {
        out.push(decoder.decode(bytes.subarray(at[i]!, at[i + 1]!)));
      } catch {
        throw new CorpusFileError(
          'values',
          `'${bytesEntry.name}' of document ${i} (bytes ${at[i]}..${at[i + 1]}) is not valid UTF-8`,
          bytesEntry.name,
        );
      }
    }
    return out;
  };
  return {
    documents,
    metadata: layout.file.metadata,
    ids: strings(layout.ids),
    texts: strings(layout.texts),
    dim,
    dtype,
    data,
    rowOffsets,
    byteLength,
  };
}

/**
 * Reads a corpus file held in memory. Every malformed header or tensor throws {@link CorpusFileError}
 * (`E_CORPUS_FORMAT`, with `problem` saying which check failed), and nothing outside `bytes` is read, even when
 * `bytes` is a view into a larger buffer. Documents are views into one Float32Array; for an f32 file whose
 * embeddings are 4-byte aligned in memory (a file this library or `safetensors` wrote, read into its own buffer)
 * that array is a view of `bytes` itself, so the file costs its size once, not twice. For large files that are
 * not yet in memory, {@link readCorpusFileStream} decodes while reading and never holds the encoded bytes.
 *
 * @example
 * const { documents, texts, metadata } = readCorpusFile(new Uint8Array(await (await fetch(url)).arrayBuffer()));
 * const corpus = await scorer.upload(documents);
 */
export function readCorpusFile(bytes: Uint8Array | ArrayBuffer): CorpusFile {
  if (!(bytes instanceof Uint8Array) && !(bytes instanceof ArrayBuffer)) {
    throw new InvalidArgumentError(
      `readCorpusFile takes a Uint8Array or an ArrayBuffer, got ${bytes === null ? 'null' : typeof bytes}; for a ` +
        'stream, Blob or Response body use readCorpusFileStream',
    );
  }
  const file = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const headerBytes = readHeaderSize(file, file.byteLength);
  const layout = checkCorpusLayout(parseSafetensorsHeader(file.subarray(8, 8 + headerBytes)));
  checkFileLength(layout.file, file.byteLength);
  const bytesOf = (t: TensorEntry): Uint8Array =>
    file.subarray(layout.file.dataStart + t.begin, layout.file.dataStart + t.end);
  const { embeddings, rows, dim } = layout;
  const raw = bytesOf(embeddings);
  const data =
    layout.dtype === 'f32' && LITTLE_ENDIAN && raw.byteOffset % 4 === 0
      ? new Float32Array(raw.buffer, raw.byteOffset, rows * dim)
      : allocateRows(rows, dim);
  if (data.buffer !== raw.buffer) decodeInto(layout.dtype, raw, data, 0);
  return assemble(layout, data, bytesOf, file.byteLength);
}

/** What {@link readCorpusFileStream} reads from. Node's `fs.createReadStream(path)` is an AsyncIterable. */
export type CorpusFileSource =
  | ReadableStream<Uint8Array>
  | Blob
  | AsyncIterable<Uint8Array>
  | Iterable<Uint8Array>
  | Uint8Array;

/**
 * Reads a corpus file as it arrives (a `fetch` body, a dropped `File`, a Node file stream, chunks from
 * {@link writeCorpusFileChunks}), decoding each chunk of embeddings straight into the one Float32Array the
 * documents view, so peak memory is the decoded corpus plus one chunk: the encoded file is never held whole.
 * Checks as {@link readCorpusFile} does, failing as soon as the header is in; bytes missing at the end, or
 * extra, throw `E_CORPUS_FORMAT` (`problem: 'truncated'` / `'data-offsets'`).
 *
 * @example
 * const corpus = await readCorpusFileStream((await fetch('corpus.safetensors')).body!);
 * const fromDisk = await readCorpusFileStream(createReadStream('corpus.safetensors')); // Node
 */
export async function readCorpusFileStream(
  source: CorpusFileSource,
  options: { readonly signal?: AbortSignal } = {},
): Promise<CorpusFile> {
  const decoder = new StreamDecoder();
  for await (const chunk of chunksOf(source)) {
    options.signal?.throwIfAborted();
    if (!(chunk instanceof Uint8Array)) {
      throw new InvalidArgumentError(`a corpus file stream must yield Uint8Array chunks, got ${typeof chunk}`);
    }
    decoder.push(chunk);
  }
  return decoder.finish();
}

async function* chunksOf(source: CorpusFileSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
  } else if (typeof (source as ReadableStream<Uint8Array>).getReader === 'function') {
    const reader = (source as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  } else if (typeof (source as Blob).stream === 'function' && typeof (source as Blob).size === 'number') {
    yield* chunksOf((source as Blob).stream() as ReadableStream<Uint8Array>);
  } else if (Symbol.asyncIterator in (source as object) || Symbol.iterator in (source as object)) {
    yield* source as AsyncIterable<Uint8Array>;
  } else {
    throw new InvalidArgumentError(
      'readCorpusFileStream takes a ReadableStream, a Blob, an (async) iterable of Uint8Array or a Uint8Array',
    );
  }
}

/** Where one tensor's bytes go while streaming. */
interface Sink {
  write(bytes: Uint8Array): void;
}

/** Push-based decoder behind {@link readCorpusFileStream}: size, header, then each tensor's bytes in order. */
class StreamDecoder {
  #received = 0;
  #prefix = new Uint8Array(8);
  #header: Uint8Array | undefined;
  #layout: CorpusLayout | undefined;
  #data: Float32Array | undefined;
  #small = new Map<string, Uint8Array>();
  #sinks: Sink[] = [];
  #tensor = 0;

  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.byteLength) {
      const layout = this.#layout;
      if (layout === undefined) {
        off += this.#pushHeader(chunk.subarray(off));
        continue;
      }
      const { dataStart, dataLength, tensors } = layout.file;
      const pos = this.#received - dataStart;
      if (pos >= dataLength) {
        throw new CorpusFileError(
          'data-offsets',
          `the stream goes on after the last tensor (the header describes ${dataStart + dataLength} bytes in all): ` +
            'data_offsets must cover the whole byte buffer',
        );
      }
      while (tensors[this.#tensor]!.end <= pos) this.#tensor++;
      const take = Math.min(chunk.byteLength - off, tensors[this.#tensor]!.end - pos);
      this.#sinks[this.#tensor]!.write(chunk.subarray(off, off + take));
      off += take;
      this.#received += take;
    }
  }

  /** Consumes size and header bytes from `chunk`; returns how many. */
  #pushHeader(chunk: Uint8Array): number {
    if (this.#header === undefined) {
      const take = Math.min(8 - this.#received, chunk.byteLength);
      this.#prefix.set(chunk.subarray(0, take), this.#received);
      this.#received += take;
      if (this.#received === 8) this.#header = new Uint8Array(readHeaderSize(this.#prefix));
      return take;
    }
    const header = this.#header;
    const at = this.#received - 8;
    const take = Math.min(header.byteLength - at, chunk.byteLength);
    header.set(chunk.subarray(0, take), at);
    this.#received += take;
    if (at + take === header.byteLength) this.#start(checkCorpusLayout(parseSafetensorsHeader(header)));
    return take;
  }

  #start(layout: CorpusLayout): void {
    this.#layout = layout;
    const data = (this.#data = allocateRows(layout.rows, layout.dim));
    const size = DTYPE_BYTES[layout.embeddings.dtype];
    this.#sinks = layout.file.tensors.map((t): Sink => {
      if (t === layout.embeddings) return embeddingSink(layout.dtype, size, data);
      const wanted = [layout.offsets, layout.scales, ...(layout.ids ?? []), ...(layout.texts ?? [])].includes(t);
      if (!wanted) return { write: () => undefined }; // tensors a corpus file does not use are skipped
      const buffer = new Uint8Array(t.end - t.begin);
      this.#small.set(t.name, buffer);
      let fill = 0;
      return {
        write: (bytes) => {
          buffer.set(bytes, fill);
          fill += bytes.byteLength;
        },
      };
    });
  }

  finish(): CorpusFile {
    const layout = this.#layout;
    const expected = layout === undefined ? undefined : layout.file.dataStart + layout.file.dataLength;
    if (layout === undefined || this.#received < expected!) {
      throw new CorpusFileError(
        layout === undefined ? 'header-size' : 'truncated',
        `the stream ended after ${this.#received} bytes, ` +
          (expected === undefined
            ? `inside the ${this.#header === undefined ? 'header size field' : 'header'}`
            : `but the header describes ${expected}`) +
          ': the file is truncated (was the download cut short?)',
      );
    }
    return assemble(layout, this.#data!, (t) => this.#small.get(t.name)!, expected!);
  }
}

/** Decodes embedding bytes as they come, carrying an element split across chunks. */
function embeddingSink(dtype: CorpusDtype, size: number, out: Float32Array): Sink {
  const carry = new Uint8Array(size);
  let carried = 0;
  let at = 0;
  return {
    write(bytes) {
      let off = 0;
      if (carried > 0) {
        off = Math.min(size - carried, bytes.byteLength);
        carry.set(bytes.subarray(0, off), carried);
        carried += off;
        if (carried < size) return;
        decodeInto(dtype, carry, out, at++);
        carried = 0;
      }
      const whole = Math.floor((bytes.byteLength - off) / size) * size;
      if (whole > 0) {
        decodeInto(dtype, bytes.subarray(off, off + whole), out, at);
        at += whole / size;
      }
      const rest = bytes.subarray(off + whole);
      carry.set(rest, 0);
      carried = rest.byteLength;
    },
  };
}

/** Options for {@link writeCorpusFile} and {@link writeCorpusFileChunks}. */
export interface WriteCorpusFileOptions {
  /** `'f32'` (exact), `'f16'` (relative error ≤ 2⁻¹¹; values must stay under 65,520), `'int8'` (per-row scales). */
  readonly dtype: CorpusWriteDtype;
  /** The embedding model, written as `__metadata__.model` (default: `metadata.model`, else `'unknown'`). */
  readonly model?: string;
  /** More `__metadata__`, strings only. `format`, `version`, `dim`, `documents` and `dtype` are set from the data. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** One id per document, stored as UTF-8 in `ids` + `id_offsets`. */
  readonly ids?: readonly string[];
  /** One text per document, stored as UTF-8 in `texts` + `text_offsets`. */
  readonly texts?: readonly string[];
  /** The width, needed only for a corpus with no documents. */
  readonly dim?: number;
}

/** A corpus file as chunks, for streaming to disk or over the network; `byteLength` is known up front. */
export interface CorpusFileChunks extends Iterable<Uint8Array> {
  readonly byteLength: number;
}

interface FilePart {
  readonly at: number;
  readonly bytes: Uint8Array;
}

/** Everything about a file to write that can be known before encoding the embeddings. */
interface WritePlan {
  readonly byteLength: number;
  /** Header and the tensors before the embeddings, and those after, each with its place in the file. */
  readonly before: readonly FilePart[];
  readonly after: readonly FilePart[];
  readonly embeddingsAt: number;
  readonly rowBytes: number;
  readonly rows: number;
  /** Encodes rows [from, to) into `out` at byte `at`. */
  encodeRows(from: number, to: number, out: Uint8Array, at: number): void;
}

const WRITE_DTYPES: Readonly<Record<CorpusWriteDtype, SafetensorsDtype>> = { f32: 'F32', f16: 'F16', int8: 'I8' };
/** The smallest magnitude float32ToFloat16Bits rounds to infinity. */
const F16_OVERFLOW = 65520;

function planCorpusFile(documents: readonly TokenMatrix[], options: WriteCorpusFileOptions): WritePlan {
  if (!Array.isArray(documents)) {
    throw new InvalidArgumentError('writeCorpusFile takes an array of TokenMatrix (documents)');
  }
  if (options === null || typeof options !== 'object' || !Object.hasOwn(WRITE_DTYPES, options.dtype)) {
    throw new InvalidArgumentError(
      `dtype must be 'f32', 'f16' or 'int8', got ${JSON.stringify((options as { dtype?: unknown } | null)?.dtype)}`,
    );
  }
  const { dtype } = options;
  const dim = documents[0]?.dim ?? options.dim;
  if (dim === undefined || !Number.isInteger(dim) || dim < 1) {
    throw new InvalidArgumentError(
      documents.length === 0
        ? 'an empty corpus needs options.dim to say the vector width'
        : `document 0 has dim ${String(dim)}`,
    );
  }
  const rowOffsets = new Float64Array(documents.length + 1);
  for (let i = 0; i < documents.length; i++) {
    const doc = validateTokenMatrix(documents[i]!, `document ${i}`);
    if (doc.dim !== dim) throw new DimensionMismatchError(dim, doc.dim, `document ${i}`);
    rowOffsets[i + 1] = rowOffsets[i]! + doc.rows;
  }
  const rows = rowOffsets[documents.length]!;
  const strings = (name: 'ids' | 'texts'): { bytes: Uint8Array; offsets: Float64Array } | undefined => {
    const list = options[name];
    if (list === undefined) return undefined;
    if (!Array.isArray(list) || list.length !== documents.length) {
      throw new InvalidArgumentError(
        `options.${name} must be an array of one string per document (${documents.length}), got ` +
          (Array.isArray(list) ? `${list.length}` : typeof list),
      );
    }
    const encoder = new TextEncoder();
    const encoded = list.map((s, i) => {
      if (typeof s !== 'string') throw new InvalidArgumentError(`options.${name}[${i}] is ${typeof s}, not a string`);
      return encoder.encode(s);
    });
    const offsets = new Float64Array(list.length + 1);
    for (let i = 0; i < encoded.length; i++) offsets[i + 1] = offsets[i]! + encoded[i]!.byteLength;
    const bytes = new Uint8Array(offsets[list.length]!);
    for (let i = 0; i < encoded.length; i++) bytes.set(encoded[i]!, offsets[i]!);
    return { bytes, offsets };
  };
  const ids = strings('ids');
  const texts = strings('texts');

  // Per-row pass: int8 scales, and the f16 range check (before any byte is written).
  let scales: Float32Array | undefined;
  if (dtype === 'int8') {
    scales = new Float32Array(rows);
    let r = 0;
    for (const doc of documents) {
      for (let j = 0; j < doc.rows; j++) scales[r++] = int8RowScale(doc.data, j * dim, (j + 1) * dim);
    }
  } else if (dtype === 'f16') {
    documents.forEach((doc, i) => {
      for (let k = 0; k < doc.data.length; k++) {
        if (Math.abs(doc.data[k]!) >= F16_OVERFLOW) {
          throw new InvalidArgumentError(
            `document ${i} has ${doc.data[k]} at row ${Math.floor(k / dim)}, column ${k % dim}, beyond float16's ` +
              "range (±65,504): write it with dtype 'f32' (or normalise the rows)",
          );
        }
      }
    });
  }

  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.metadata ?? {})) {
    if (typeof v !== 'string') {
      throw new InvalidArgumentError(
        `metadata.${k} is ${typeof v}; safetensors metadata values are strings (JSON.stringify other values)`,
      );
    }
    metadata[k] = v;
  }
  if (options.model !== undefined && typeof options.model !== 'string') {
    throw new InvalidArgumentError(`options.model must be a string, got ${typeof options.model}`);
  }
  Object.assign(metadata, {
    format: CORPUS_FILE_FORMAT,
    version: CORPUS_FILE_VERSION,
    model: options.model ?? metadata.model ?? 'unknown',
    dim: String(dim),
    documents: String(documents.length),
    dtype,
  });

  // Tensors in buffer order, largest elements first, so each is aligned to its element size.
  const small: { spec: TensorSpec; bytes: () => Uint8Array }[] = [];
  const i64 = (name: string, values: Float64Array): void => {
    small.push({ spec: { name, dtype: 'I64', shape: [values.length] }, bytes: () => encodeI64(values) });
  };
  i64('offsets', rowOffsets);
  if (ids !== undefined) i64('id_offsets', ids.offsets);
  if (texts !== undefined) i64('text_offsets', texts.offsets);
  if (scales !== undefined) {
    const s = scales;
    small.push({ spec: { name: 'scales', dtype: 'F32', shape: [rows] }, bytes: () => encodeF32(s) });
  }
  const embeddingsSpec: TensorSpec = { name: 'embeddings', dtype: WRITE_DTYPES[dtype], shape: [rows, dim] };
  const after: { spec: TensorSpec; bytes: () => Uint8Array }[] = [];
  for (const [name, s] of [
    ['ids', ids],
    ['texts', texts],
  ] as const) {
    if (s !== undefined) after.push({ spec: { name, dtype: 'U8', shape: [s.bytes.byteLength] }, bytes: () => s.bytes });
  }
  const specs = [...small.map((s) => s.spec), embeddingsSpec, ...after.map((s) => s.spec)];
  const header = encodeSafetensorsHeader(specs, metadata);
  const dataStart = header.bytes.byteLength;
  const before = [
    { at: 0, bytes: header.bytes },
    ...small.map((t, i) => ({ at: dataStart + header.ranges[i]![0], bytes: t.bytes() })),
  ];
  const afterParts = after.map((t, i) => ({
    at: dataStart + header.ranges[small.length + 1 + i]![0],
    bytes: t.bytes(),
  }));
  const size = DTYPE_BYTES[embeddingsSpec.dtype];

  // Rows [from, to) across document boundaries: find the document holding `from`, then walk.
  const encodeRows = (from: number, to: number, out: Uint8Array, at: number): void => {
    let lo = 0;
    let hi = documents.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rowOffsets[mid + 1]! <= from) lo = mid + 1;
      else hi = mid;
    }
    let byte = at;
    for (let doc = lo, r = from; r < to; doc++) {
      const d = documents[doc]!;
      const first = r - rowOffsets[doc]!;
      const last = Math.min(d.rows, to - rowOffsets[doc]!);
      if (last <= first) continue;
      const values = d.data.subarray(first * dim, last * dim);
      encodeValues(values, out, byte, r);
      byte += values.length * size;
      r += last - first;
    }
  };
  /** Encodes `values` (whole rows, the first being corpus row `row`) into `out` at byte `at`. */
  const encodeValues = (values: Float32Array, out: Uint8Array, at: number, row: number): void => {
    if (dtype === 'int8') {
      const q = new Int8Array(out.buffer, out.byteOffset + at, values.length);
      for (let k = 0, j = row; k < values.length; k += dim, j++) {
        quantizeInt8Into(values.subarray(k, k + dim), scales![j]!, q, k);
      }
    } else if (dtype === 'f32') {
      if (LITTLE_ENDIAN && (out.byteOffset + at) % 4 === 0) {
        new Float32Array(out.buffer, out.byteOffset + at, values.length).set(values);
      } else {
        const view = new DataView(out.buffer, out.byteOffset + at, values.length * 4);
        for (let k = 0; k < values.length; k++) view.setFloat32(k * 4, values[k]!, true);
      }
    } else {
      const view = new DataView(out.buffer, out.byteOffset + at, values.length * 2);
      for (let k = 0; k < values.length; k++) view.setUint16(k * 2, float32ToFloat16Bits(values[k]!), true);
    }
  };
  return {
    byteLength: dataStart + header.dataLength,
    before,
    after: afterParts,
    embeddingsAt: dataStart + header.ranges[small.length]![0],
    rowBytes: dim * size,
    rows,
    encodeRows,
  };
}

function encodeI64(values: Float64Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    view.setUint32(i * 8, v % 2 ** 32, true);
    view.setUint32(i * 8 + 4, Math.floor(v / 2 ** 32), true);
  }
  return bytes;
}

function encodeF32(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return bytes;
}

/**
 * Writes documents (with optional ids and texts) as a corpus file, in one Uint8Array of exactly the file's size:
 * peak memory is the documents plus the file. For files too large for that, {@link writeCorpusFileChunks}.
 * Throws `E_INVALID_MATRIX` / `E_DIM_MISMATCH` for bad documents and `E_INVALID_ARGUMENT` for bad options or
 * f16-overflowing values.
 *
 * @example
 * const bytes = writeCorpusFile(docs, { dtype: 'int8', model: 'BAAI/bge-m3', texts });
 * await writeFile('corpus.safetensors', bytes); // Node; in a browser: new Blob([bytes])
 */
export function writeCorpusFile(documents: readonly TokenMatrix[], options: WriteCorpusFileOptions): Uint8Array {
  const plan = planCorpusFile(documents, options);
  const out = new Uint8Array(plan.byteLength);
  for (const part of [...plan.before, ...plan.after]) out.set(part.bytes, part.at);
  plan.encodeRows(0, plan.rows, out, plan.embeddingsAt);
  return out;
}

/**
 * The same file as {@link writeCorpusFile}, as chunks of about `chunkBytes` (default 4 MiB) encoded on demand,
 * so a large corpus can be written to disk or sent without a second copy of it in memory. Documents and options
 * are checked (and int8 scales computed) when this is called; encoding happens as the chunks are iterated.
 *
 * @example
 * const chunks = writeCorpusFileChunks(docs, { dtype: 'f16' });
 * await pipeline(Readable.from(chunks), createWriteStream('corpus.safetensors')); // Node
 * const blob = new Blob([...chunks]); // browser, e.g. for a download link
 */
export function writeCorpusFileChunks(
  documents: readonly TokenMatrix[],
  options: WriteCorpusFileOptions,
  chunkBytes = 4 << 20,
): CorpusFileChunks {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) {
    throw new InvalidArgumentError(`chunkBytes must be a positive integer, got ${String(chunkBytes)}`);
  }
  const plan = planCorpusFile(documents, options);
  const rowsPerChunk = Math.max(1, Math.floor(chunkBytes / plan.rowBytes));
  return {
    byteLength: plan.byteLength,
    *[Symbol.iterator]() {
      for (const part of plan.before) yield part.bytes;
      for (let r = 0; r < plan.rows; r += rowsPerChunk) {
        const to = Math.min(plan.rows, r + rowsPerChunk);
        const chunk = new Uint8Array((to - r) * plan.rowBytes);
        plan.encodeRows(r, to, chunk, 0);
        yield chunk;
      }
      for (const part of plan.after) yield part.bytes;
    },
  };
}
