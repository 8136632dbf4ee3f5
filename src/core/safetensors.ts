// The safetensors container (huggingface/safetensors, the format `safetensors`, PyTorch, numpy and Rust read and
// write): an 8-byte little-endian u64 N, N bytes of JSON header, then one byte buffer holding every tensor.
// The header maps tensor names to `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the start
// of the byte buffer) and may hold `"__metadata__": { string: string }`; it may be padded with spaces so the
// buffer starts 8-byte aligned. This module parses and checks the container, as the reference implementation's
// `Metadata::validate` does (tensors tile the buffer in order, without gaps or overlaps, each exactly
// `product(shape) × element size` bytes), plus element alignment; what the tensors mean is corpus-file.ts's job.
// Universal: no Node APIs.
import { CorpusFileError } from './errors.js';

/** Every dtype safetensors defines with a whole number of bytes per element. */
export type SafetensorsDtype =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** The reference implementation refuses headers over 100 MB; so do we (it also bounds what a bad size allocates). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor's header entry, checked. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly elements: number;
  /** Byte range in the data buffer (after the header). */
  readonly begin: number;
  readonly end: number;
}

/** A parsed, checked header. */
export interface SafetensorsLayout {
  /** N: the header's length in bytes (padding included). */
  readonly headerBytes: number;
  /** Where the byte buffer starts in the file: 8 + N. */
  readonly dataStart: number;
  /** Length of the byte buffer: the last tensor's end. */
  readonly dataLength: number;
  /** Tensors in buffer order (by `begin`). */
  readonly tensors: readonly TensorEntry[];
  readonly byName: ReadonlyMap<string, TensorEntry>;
  readonly metadata: Readonly<Record<string, string>>;
}

const isDtype = (v: unknown): v is SafetensorsDtype => typeof v === 'string' && Object.hasOwn(DTYPE_BYTES, v);

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * N, from the first 8 bytes (u64 little-endian). Throws `header-size` when there are fewer than 8 bytes or N is
 * larger than {@link MAX_HEADER_BYTES}; `available`, when known, is the total length, which 8 + N must not pass.
 */
export function readHeaderSize(prefix: Uint8Array, available?: number): number {
  if (prefix.byteLength < 8) {
    throw new CorpusFileError(
      'header-size',
      `a safetensors file starts with an 8-byte header size, but there are only ${prefix.byteLength} bytes`,
    );
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const size = hi * 2 ** 32 + lo;
  if (hi !== 0 || size > MAX_HEADER_BYTES) {
    throw new CorpusFileError(
      'header-size',
      `the header size field says ${hi === 0 ? size : `${hi} × 2^32 + ${lo}`} bytes, more than the ` +
        `${MAX_HEADER_BYTES.toLocaleString('en')} bytes safetensors allows: this is not a safetensors file, or its ` +
        'first 8 bytes are damaged',
    );
  }
  if (size < 2) {
    throw new CorpusFileError('header-size', `the header size field says ${size} bytes: too short for a JSON object`);
  }
  if (available !== undefined && 8 + size > available) {
    throw new CorpusFileError(
      'header-size',
      `the header size field says ${size} bytes, but only ${available - 8} bytes follow it: the file is truncated ` +
        'or is not a safetensors file',
    );
  }
  return size;
}

/**
 * Parses and checks the N header bytes: UTF-8 JSON object starting with `{`, string-valued `__metadata__`,
 * known dtypes, integer shapes, `data_offsets` that are `[begin, end]` with `end - begin` equal to the shape's
 * byte size, `begin` a multiple of the element size, and tensors that tile `[0, dataLength)` without gaps.
 */
export function parseSafetensorsHeader(header: Uint8Array): SafetensorsLayout {
  if (header[0] !== 0x7b) {
    throw new CorpusFileError(
      'header-json',
      `the header must start with '{' (a JSON object), but it starts with byte 0x${(header[0] ?? 0).toString(16)}`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(header);
  } catch {
    throw new CorpusFileError('header-json', 'the header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CorpusFileError(
      'header-json',
      `the header is not valid JSON (${err instanceof Error ? err.message : String(err)}); the 8-byte size field ` +
        'may be wrong, or the header was cut',
    );
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CorpusFileError('header-json', 'the header must be a JSON object of tensor entries');
  }
  const metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new CorpusFileError('metadata', '__metadata__ must be an object of strings');
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') {
          throw new CorpusFileError(
            'metadata',
            `__metadata__.${k} is ${typeof v === 'object' ? JSON.stringify(v) : String(v)}, but safetensors ` +
              'metadata values must be strings: write numbers as "128", lists as JSON text',
          );
        }
        metadata[k] = v;
      }
      continue;
    }
    tensors.push(parseEntry(name, value));
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const t of tensors) {
    if (t.begin !== at) {
      throw new CorpusFileError(
        'data-offsets',
        t.begin > at
          ? `tensor '${t.name}' starts at byte ${t.begin} of the data, but the tensor before it ends at ${at}: ` +
              'data_offsets must cover the byte buffer without gaps'
          : `tensor '${t.name}' starts at byte ${t.begin} of the data, inside the tensor before it (which ends ` +
              `at ${at}): tensors must not overlap`,
        t.name,
      );
    }
    at = t.end;
  }
  return {
    headerBytes: header.byteLength,
    dataStart: 8 + header.byteLength,
    dataLength: at,
    tensors,
    byName: new Map(tensors.map((t) => [t.name, t])),
    metadata,
  };
}

function parseEntry(name: string, value: unknown): TensorEntry {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CorpusFileError('header-json', `tensor '${name}' must be an object { dtype, shape, data_offsets }`, name);
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (!isDtype(dtype)) {
    throw new CorpusFileError(
      'dtype',
      `tensor '${name}' has dtype ${JSON.stringify(dtype)}, which safetensors does not define (or which has no ` +
        `whole bytes per element); expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`,
      name,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new CorpusFileError(
      'shape',
      `tensor '${name}' has shape ${JSON.stringify(shape)}; expected a list of non-negative integers`,
      name,
    );
  }
  let elements = 1;
  for (const n of shape) {
    elements *= n;
    if (!Number.isSafeInteger(elements)) {
      throw new CorpusFileError(
        'shape',
        `tensor '${name}' has shape ${JSON.stringify(shape)}: too many elements`,
        name,
      );
    }
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isCount(offsets[0]) || !isCount(offsets[1])) {
    throw new CorpusFileError(
      'data-offsets',
      `tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected [begin, end], two non-negative integers`,
      name,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) {
    throw new CorpusFileError(
      'data-offsets',
      `tensor '${name}' has data_offsets [${begin}, ${end}]: end < begin`,
      name,
    );
  }
  const size = DTYPE_BYTES[dtype];
  if (end - begin !== elements * size) {
    throw new CorpusFileError(
      'shape',
      `tensor '${name}' is ${dtype} ${JSON.stringify(shape)}, ${elements} × ${size} = ${elements * size} bytes, ` +
        `but its data_offsets [${begin}, ${end}] hold ${end - begin} bytes: the shape and the offsets disagree`,
      name,
    );
  }
  if (begin % size !== 0) {
    throw new CorpusFileError(
      'data-offsets',
      `tensor '${name}' (${dtype}) starts at byte ${begin} of the data, not a multiple of its ${size}-byte ` +
        'element: write tensors with the largest elements first (as safetensors does) so each one is aligned',
      name,
    );
  }
  return { name, dtype, shape, elements, begin, end };
}

/**
 * Checks that a file of `totalLength` bytes holds exactly the header and the byte buffer it describes: fewer
 * bytes mean tensors point outside the data (`truncated`), more mean bytes no tensor covers (`data-offsets`).
 */
export function checkFileLength(layout: SafetensorsLayout, totalLength: number): void {
  const expected = layout.dataStart + layout.dataLength;
  if (totalLength < expected) {
    const past = layout.tensors.find((t) => layout.dataStart + t.end > totalLength);
    throw new CorpusFileError(
      'truncated',
      `the header describes ${expected} bytes but the file has ${totalLength}: ` +
        `${past === undefined ? 'the data' : `tensor '${past.name}' (data_offsets [${past.begin}, ${past.end}])`} ` +
        'reaches past the end of the file. Was the download cut short?',
      past?.name,
    );
  }
  if (totalLength > expected) {
    throw new CorpusFileError(
      'data-offsets',
      `the file has ${totalLength - expected} bytes after the last tensor (the header describes ${expected} bytes ` +
        'in all): data_offsets must cover the whole byte buffer',
    );
  }
}

/** A tensor to write: its bytes come later, in the order given. */
export interface TensorSpec {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
}

/**
 * The header for `tensors` laid out back to back in the order given (callers put larger elements first, so every
 * tensor is aligned), as the 8-byte size plus the JSON padded with spaces to a multiple of 8 bytes, so the byte
 * buffer starts 8-byte aligned. Returns the bytes and each tensor's byte range in the data.
 */
export function encodeSafetensorsHeader(
  tensors: readonly TensorSpec[],
  metadata: Readonly<Record<string, string>>,
): {
  readonly bytes: Uint8Array;
  readonly ranges: readonly (readonly [number, number])[];
  readonly dataLength: number;
} {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const ranges: [number, number][] = [];
  let at = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((n, d) => n * d, 1) * DTYPE_BYTES[t.dtype];
    const range: [number, number] = [at, at + bytes];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: range };
    ranges.push(range);
    at += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, padded, true);
  view.setUint32(4, 0, true);
  bytes.set(json, 8);
  return { bytes, ranges, dataLength: at };
}
