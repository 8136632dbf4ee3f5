// Decoders for vLLM /pooling payloads: float JSON, base64 and the binary `bytes` / `bytes_only` bodies, each
// straight into a Float32Array. Binary paths never create a JS number object per value: they copy, view or
// table-map bytes. Universal core: no Buffer, no node: imports.
import { float16BitsToFloat } from '../core/float16.js';
import { EMBED_DTYPES, EMBED_DTYPE_BYTES, type EmbedDtype, type Endianness } from './dtypes.js';
import { PoolingEmbedTaskError, PoolingResponseError } from './errors.js';
import { firstNonFinite, type TokenMatrix } from '../core/token-matrix.js';
import { describeValue } from '../core/errors.js';

/** Bytes per element of a dtype named by a server (checked: an unknown name is a malformed response). */
function elementBytes(dtype: EmbedDtype): 1 | 2 | 4 {
  const n = EMBED_DTYPE_BYTES[dtype];
  if (n === undefined) {
    throw new PoolingResponseError(
      `unknown embed_dtype ${JSON.stringify(dtype)}; expected one of ${EMBED_DTYPES.join(', ')}`,
    );
  }
  return n;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Whether bytes written with `endianness` by a (little-endian) server are little-endian. */
function isLittle(endianness: Endianness): boolean {
  if (endianness === 'little' || endianness === 'native') return true;
  if (endianness === 'big') return false;
  throw new PoolingResponseError(`unknown endianness ${JSON.stringify(endianness)}; expected little, big or native`);
}

// ---- base64 ----

// Pair table: two base64 characters read as one little-endian u16 (first char in the low byte) → their
// 12 bits, or -1. Decoding takes two lookups per 3 output bytes. 256 KiB, built on first use.
let pairTable: Int32Array | undefined;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function getPairTable(): Int32Array {
  if (pairTable !== undefined) return pairTable;
  const single = new Int16Array(256).fill(-1);
  for (let i = 0; i < 64; i++) single[ALPHABET.charCodeAt(i)] = i;
  const table = new Int32Array(65536).fill(-1);
  for (let a = 0; a < 256; a++) {
    const va = single[a]!;
    if (va < 0) continue;
    for (let b = 0; b < 256; b++) {
      const vb = single[b]!;
      if (vb >= 0) table[(b << 8) | a] = (va << 6) | vb;
    }
  }
  pairTable = table;
  return table;
}

function sextet(code: number): number {
  return code > 0xff ? -1 : getPairTable()[(code << 8) | 65 /* 'A' = 0 */]!;
}

/** Turns base64 text into bytes; {@link base64ToBytes} is the default, the Node entry passes a native one. */
export type Base64Decoder = (text: string) => Uint8Array;

type FromBase64 = (text: string) => Uint8Array;
const nativeFromBase64 = (Uint8Array as unknown as { fromBase64?: FromBase64 }).fromBase64;

/**
 * Decodes standard (RFC 4648, `+/`, `=`-padded) base64 to bytes, rejecting anything else with a
 * {@link PoolingResponseError} that names the offending position. Uses `Uint8Array.fromBase64` where the
 * runtime has it, a table-driven decoder otherwise (no `Buffer`, no `atob`).
 *
 * @example
 * base64ToBytes('AACAPw=='); // Uint8Array [0, 0, 128, 63]  (1.0 as little-endian float32)
 */
export function base64ToBytes(text: string): Uint8Array {
  if (typeof text !== 'string') {
    throw new PoolingResponseError(`expected a base64 string, got ${describeValue(text)}`);
  }
  if (nativeFromBase64 !== undefined) {
    try {
      return nativeFromBase64(text);
    } catch (cause) {
      throw new PoolingResponseError(`invalid base64 (${(cause as Error).message})`, { cause });
    }
  }
  return decodeBase64Portable(text);
}

const textEncoder = new TextEncoder();
let scratch = new Uint8Array(0);

/**
 * The table-driven decoder behind {@link base64ToBytes}, exported so it can be tested where `fromBase64`
 * exists. The text is first copied to bytes with `TextEncoder.encodeInto` (native, and any non-ASCII
 * character shows up as a length change), then decoded 16 characters → 12 bytes at a time.
 */
export function decodeBase64Portable(text: string): Uint8Array {
  let end = text.length;
  let pad = 0;
  while (end > 0 && pad < 2 && text.charCodeAt(end - 1) === 61 /* = */) {
    end--;
    pad++;
  }
  if (pad > 0 && text.length % 4 !== 0) {
    throw new PoolingResponseError(`invalid base64: padded text of length ${text.length} is not a multiple of 4`);
  }
  const tail = end % 4;
  if (tail === 1) {
    throw new PoolingResponseError(`invalid base64: ${end} data characters leave a dangling 6 bits (truncated?)`);
  }
  const full = end - tail;
  const outLength = (full / 4) * 3 + (tail === 0 ? 0 : tail - 1);
  // Rounded up to whole words so the main loop can store 32 bits at a time; the view hides the slack.
  const out = new Uint8Array((outLength + 3) & ~3);
  if (scratch.length < end + 16) scratch = new Uint8Array(Math.max(end + 16, scratch.length * 2));
  const { written } = textEncoder.encodeInto(text.length === end ? text : text.slice(0, end), scratch);
  if (written !== end) throw invalidCharacter(text, 0); // a non-ASCII character took more than one byte
  const table = getPairTable();
  const pairs = new Uint16Array(scratch.buffer, 0, (full >>> 1) + 8);
  let i = 0; // pair index
  let j = 0; // output byte
  let bad = 0;
  if (HOST_LITTLE_ENDIAN) {
    const words = new Uint32Array(out.buffer);
    const blocks = Math.floor(full / 16);
    let w = 0;
    for (let b = 0; b < blocks; b++, i += 8, w += 3) {
      // Each group of 4 characters is 24 bits (bytes g2 g1 g0); a block of 4 groups fills 3 words.
      const g0 = (table[pairs[i]!]! << 12) | table[pairs[i + 1]!]!;
      const g1 = (table[pairs[i + 2]!]! << 12) | table[pairs[i + 3]!]!;
      const g2 = (table[pairs[i + 4]!]! << 12) | table[pairs[i + 5]!]!;
      const g3 = (table[pairs[i + 6]!]! << 12) | table[pairs[i + 7]!]!;
      bad |= g0 | g1 | g2 | g3; // an invalid pair is -1, which makes its group negative
      words[w] = (g0 >>> 16) | (g0 & 0xff00) | ((g0 & 0xff) << 16) | ((g1 >>> 16) << 24);
      words[w + 1] = ((g1 >>> 8) & 0xff) | ((g1 & 0xff) << 8) | ((g2 >>> 16) << 16) | (((g2 >>> 8) & 0xff) << 24);
      words[w + 2] = (g2 & 0xff) | ((g3 >>> 16) << 8) | (((g3 >>> 8) & 0xff) << 16) | ((g3 & 0xff) << 24);
    }
    j = w * 4;
  }
  for (; i < full >>> 1; i += 2, j += 3) {
    const g = (table[pairs[i]!]! << 12) | table[pairs[i + 1]!]!;
    bad |= g;
    out[j] = g >>> 16;
    out[j + 1] = (g >>> 8) & 0xff;
    out[j + 2] = g & 0xff;
  }
  if (bad < 0) throw invalidCharacter(text, 0);
  if (tail > 0) {
    const hi = table[pairs[i]!]!;
    if (hi < 0) throw invalidCharacter(text, full);
    if (tail === 2) {
      out[j] = hi >>> 4;
    } else {
      const v2 = sextet(text.charCodeAt(full + 2));
      if (v2 < 0) throw invalidCharacter(text, full + 2);
      const v = (hi << 6) | v2;
      out[j] = v >>> 10;
      out[j + 1] = (v >>> 2) & 0xff;
    }
  }
  return out.length === outLength ? out : out.subarray(0, outLength);
}

function invalidCharacter(text: string, from: number): PoolingResponseError {
  let at = from;
  while (at < text.length && sextet(text.charCodeAt(at)) >= 0) at++;
  const ch = text.charAt(at);
  return new PoolingResponseError(
    `invalid base64: character ${JSON.stringify(ch)} (U+${ch.charCodeAt(0).toString(16).padStart(4, '0')}) at ` +
      `position ${at} of ${text.length}`,
  );
}

// ---- element conversion ----

let halfTable: Float32Array | undefined;
let e4m3Table: Float32Array | undefined;
let e5m2Table: Float32Array | undefined;

/** torch `float8_e4m3fn` bits → value: bias 7, no infinities, `S.1111.111` is NaN, max ±448. */
function fp8E4m3ToFloat(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >>> 3) & 0xf;
  const man = b & 0x7;
  if (exp === 15 && man === 7) return NaN;
  if (exp === 0) return sign * man * 2 ** -9;
  return sign * (1 + man / 8) * 2 ** (exp - 7);
}

/** torch `float8_e5m2` bits → value: bias 15, IEEE-like (`0x7C` is +inf, `0xFC` −inf, larger mantissas NaN). */
function fp8E5m2ToFloat(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >>> 2) & 0x1f;
  const man = b & 0x3;
  if (exp === 31) return man === 0 ? sign * Infinity : NaN;
  if (exp === 0) return sign * man * 2 ** -16;
  return sign * (1 + man / 4) * 2 ** (exp - 15);
}

function buildTable(size: number, f: (bits: number) => number): Float32Array {
  const t = new Float32Array(size);
  for (let i = 0; i < size; i++) t[i] = f(i);
  return t;
}

/**
 * Converts the raw bytes of a tensor in `dtype` / `endianness` (as vLLM's `tensor2binary` writes them) to
 * float32 values, exactly: every float16, bfloat16 and fp8 value is representable in float32, and NaN / ±inf
 * patterns come through as NaN / ±Infinity (callers that need finite values check afterwards). The byte
 * offset of `bytes` need not be aligned.
 *
 * @example
 * decodeTensor(new Uint8Array([0x80, 0x3f]), 'bfloat16', 'little'); // Float32Array [1]
 */
export function decodeTensor(bytes: Uint8Array, dtype: EmbedDtype, endianness: Endianness): Float32Array {
  const size = elementBytes(dtype);
  if (bytes.byteLength % size !== 0) {
    throw new PoolingResponseError(
      `truncated binary tensor: ${bytes.byteLength} bytes is not a whole number of ${size}-byte ${dtype} values`,
    );
  }
  const n = bytes.byteLength / size;
  const out = new Float32Array(n);
  if (n === 0) return out;
  const little = isLittle(endianness);
  const swap = little !== HOST_LITTLE_ENDIAN;
  if (size === 1) {
    const table =
      dtype === 'fp8_e4m3'
        ? (e4m3Table ??= buildTable(256, fp8E4m3ToFloat))
        : (e5m2Table ??= buildTable(256, fp8E5m2ToFloat));
    for (let i = 0; i < n; i++) out[i] = table[bytes[i]!]!;
    return out;
  }
  if (size === 4) {
    // float32: one memcpy into the output; a swap pass only for the foreign byte order.
    new Uint8Array(out.buffer).set(bytes);
    if (swap) {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) {
        const x = u[i]!;
        u[i] = (x >>> 24) | ((x >>> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24);
      }
    }
    return out;
  }
  const halves = aligned16(bytes);
  if (dtype === 'bfloat16') {
    // bfloat16 is the top half of a float32: write the bits straight into the output.
    const u = new Uint32Array(out.buffer);
    if (swap) {
      for (let i = 0; i < n; i++) {
        const x = halves[i]!;
        u[i] = (((x & 0xff) << 8) | (x >>> 8)) << 16;
      }
    } else {
      for (let i = 0; i < n; i++) u[i] = halves[i]! << 16;
    }
    return out;
  }
  const table = (halfTable ??= buildTable(65536, float16BitsToFloat));
  if (swap) {
    for (let i = 0; i < n; i++) {
      const x = halves[i]!;
      out[i] = table[((x & 0xff) << 8) | (x >>> 8)]!;
    }
  } else {
    for (let i = 0; i < n; i++) out[i] = table[halves[i]!]!;
  }
  return out;
}

/** A Uint16Array over `bytes`, copying only when the offset is odd (Node's pooled buffers can be). */
function aligned16(bytes: Uint8Array): Uint16Array {
  const src = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
  return new Uint16Array(src.buffer, src.byteOffset, src.byteLength / 2);
}

// ---- whole matrices ----

/**
 * Throws {@link PoolingResponseError} naming the first non-finite value of `m` (a NaN or infinity from the
 * wire, or a float JSON value beyond float32 range). Returns `m`.
 *
 * @example
 * checkFiniteMatrix(decodeBase64Matrix(text, { dim: 1024, dtype: 'fp8_e4m3' }));
 */
function checkFiniteMatrix(m: TokenMatrix, label = 'matrix'): TokenMatrix {
  const i = firstNonFinite(m.data);
  if (i >= 0) {
    const row = Math.floor(i / m.dim);
    throw new PoolingResponseError(
      `${label} has a non-finite value (${String(m.data[i])}) at row ${row}, column ${i - row * m.dim}; the server ` +
        'sent NaN/inf (or a value beyond the range of its embed_dtype). Try embed_dtype float32 or float16.',
    );
  }
  return m;
}

/**
 * Decodes one float-JSON `data` item of a token-level response (`[rows][dim]` numbers) into a
 * {@link TokenMatrix}. A flat `[dim]` vector means the server runs the `embed` task and throws
 * {@link PoolingEmbedTaskError}; ragged rows, deeper nesting, non-numbers and non-finite values (after rounding
 * to float32) throw {@link PoolingResponseError}. An empty item (`[]`) needs `dim`.
 *
 * @example
 * decodeFloatMatrix([[0.6, 0.8], [1, 0]]); // { rows: 2, dim: 2, data: Float32Array [0.6, 0.8, 1, 0] }
 */
export function decodeFloatMatrix(item: unknown, options: { dim?: number; label?: string } = {}): TokenMatrix {
  const label = options.label ?? 'item';
  if (!Array.isArray(item)) {
    throw new PoolingResponseError(`${label}: data is ${describeValue(item)}, expected [tokens][dim] numbers`);
  }
  const rows = item.length;
  if (rows === 0) {
    if (options.dim === undefined) {
      throw new PoolingResponseError(`${label}: data is an empty list and the embedding width is not known yet`);
    }
    return { data: new Float32Array(0), rows: 0, dim: options.dim };
  }
  const first: unknown = item[0];
  if (typeof first === 'number') {
    throw new PoolingEmbedTaskError(`${label}: data is a flat list of ${rows} numbers`);
  }
  if (!Array.isArray(first)) {
    throw new PoolingResponseError(
      `${label}: row 0 is ${describeValue(first)}, expected a list of numbers (wrong nesting)`,
    );
  }
  if (Array.isArray(first[0])) {
    throw new PoolingResponseError(
      `${label}: data is nested three levels deep, expected [tokens][dim] (wrong nesting)`,
    );
  }
  const dim = first.length;
  if (dim === 0) throw new PoolingResponseError(`${label}: row 0 is empty; a token vector needs at least one value`);
  if (options.dim !== undefined && dim !== options.dim) {
    throw new PoolingResponseError(`${label}: rows have ${dim} values but the embedding width is ${options.dim}`);
  }
  const data = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const row: unknown = item[r];
    if (!Array.isArray(row)) {
      throw new PoolingResponseError(`${label}: row ${r} is ${describeValue(row)}, expected a list of ${dim} numbers`);
    }
    if (row.length !== dim) {
      throw new PoolingResponseError(`${label}: row ${r} has ${row.length} values but row 0 has ${dim} (ragged rows)`);
    }
    const base = r * dim;
    for (let c = 0; c < dim; c++) {
      const v: unknown = row[c];
      if (typeof v !== 'number') {
        throw new PoolingResponseError(
          `${label}: value at row ${r}, column ${c} is ${describeValue(v)}, expected a number` +
            (Array.isArray(v) ? ' (wrong nesting: one level too deep)' : ''),
        );
      }
      data[base + c] = v;
      const f = data[base + c]!;
      if (f - f !== 0) {
        throw new PoolingResponseError(
          `${label}: value at row ${r}, column ${c} is ${String(v)}, which is not a finite float32`,
        );
      }
    }
  }
  return { data, rows, dim };
}

/**
 * Decodes one base64 `data` item into a `[rows, dim]` {@link TokenMatrix}. base64 carries no shape, so `dim`
 * must be known and the byte length must divide into whole rows. Values must be finite.
 *
 * @example
 * decodeBase64Matrix(item.data, { dim: 1024, dtype: 'float16', endianness: 'little' });
 */
export function decodeBase64Matrix(
  text: unknown,
  options: { dim: number; dtype?: EmbedDtype; endianness?: Endianness; label?: string; decodeBase64?: Base64Decoder },
): TokenMatrix {
  const label = options.label ?? 'item';
  if (typeof text !== 'string') {
    throw new PoolingResponseError(
      `${label}: data is ${describeValue(text)}, expected a base64 string (encoding_format "base64")`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = (options.decodeBase64 ?? base64ToBytes)(text);
  } catch (err) {
    throw relabel(err, label);
  }
  return matrixFromBytes(
    bytes,
    options.dim,
    options.dtype ?? 'float32',
    options.endianness ?? 'little',
    label,
    undefined,
    true,
  );
}

function matrixFromBytes(
  bytes: Uint8Array,
  dim: number,
  dtype: EmbedDtype,
  endianness: Endianness,
  label: string,
  rows?: number,
  owned = false,
): TokenMatrix {
  const rowBytes = dim * elementBytes(dtype);
  if (bytes.byteLength % rowBytes !== 0) {
    throw new PoolingResponseError(
      `${label}: ${bytes.byteLength} bytes is not a whole number of rows of ${dim} ${dtype} values ` +
        `(${rowBytes} bytes each): truncated body, or the embedding width is not ${dim}`,
    );
  }
  const count = bytes.byteLength / rowBytes;
  if (rows !== undefined && count !== rows) {
    throw new PoolingResponseError(`${label}: ${count} rows of data but the shape says ${rows}`);
  }
  let data: Float32Array;
  try {
    // Freshly decoded float32 bytes in host order are already the matrix: view them instead of copying.
    const reuse =
      owned &&
      dtype === 'float32' &&
      isLittle(endianness) === HOST_LITTLE_ENDIAN &&
      bytes.byteOffset % 4 === 0 &&
      bytes.byteLength === bytes.buffer.byteLength;
    data = reuse ? new Float32Array(bytes.buffer, 0, bytes.byteLength / 4) : decodeTensor(bytes, dtype, endianness);
  } catch (err) {
    throw relabel(err, label);
  }
  return checkFiniteMatrix({ data, rows: count, dim }, label);
}

/** One entry of the `bytes` metadata header. */
export interface BytesMetadataItem {
  readonly index: number;
  readonly start: number;
  readonly end: number;
  readonly shape: readonly number[];
  readonly embedDtype: EmbedDtype;
  readonly endianness: Endianness;
}

/** The parsed `metadata` header of a `bytes` response. */
export interface BytesMetadata {
  readonly id: string | undefined;
  readonly model: string | undefined;
  readonly items: readonly BytesMetadataItem[];
  readonly usage: { readonly promptTokens: number; readonly totalTokens: number } | undefined;
}

/**
 * Parses and checks the `metadata` header of an `encoding_format: "bytes"` response against the body length:
 * every item's `[start, end)` must lie inside the body, hold exactly `shape` elements of its dtype and overlap
 * no other item's, and the indices must be `0..n-1` once each.
 *
 * @example
 * const meta = parseBytesMetadata(response.headers.get('metadata')!, body.byteLength);
 */
export function parseBytesMetadata(header: string | null, bodyLength: number): BytesMetadata {
  if (header === null || header === '') {
    throw new PoolingResponseError(
      'a "bytes" response arrived without its metadata header (a proxy may have dropped it): use encoding ' +
        '"base64", or "bytes_only" with known row counts',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(header);
  } catch (cause) {
    throw new PoolingResponseError(`the metadata header is not JSON (${(cause as Error).message})`, { cause });
  }
  const meta = parsed as { id?: unknown; model?: unknown; data?: unknown; usage?: unknown };
  if (meta === null || typeof meta !== 'object' || !Array.isArray(meta.data)) {
    throw new PoolingResponseError(`the metadata header has no "data" list: ${truncate(header)}`);
  }
  const n = meta.data.length;
  const seen = new Uint8Array(n);
  const items: BytesMetadataItem[] = [];
  for (let k = 0; k < n; k++) {
    const raw = meta.data[k] as Record<string, unknown> | null;
    const where = `metadata item ${k}`;
    if (raw === null || typeof raw !== 'object') throw new PoolingResponseError(`${where} is ${describeValue(raw)}`);
    const index = raw.index;
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= n || seen[index as number] === 1) {
      throw new PoolingResponseError(`${where} has index ${describeValue(index)}; expected each of 0..${n - 1} once`);
    }
    seen[index as number] = 1;
    const { start, end, shape } = raw;
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(end) ||
      (start as number) < 0 ||
      (end as number) < (start as number) ||
      (end as number) > bodyLength
    ) {
      throw new PoolingResponseError(
        `${where}: byte range [${describeValue(start)}, ${describeValue(end)}) is out of range for a ${bodyLength}-byte body`,
      );
    }
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
      throw new PoolingResponseError(`${where}: shape ${describeValue(shape)} is not a list of non-negative integers`);
    }
    const embedDtype = (raw.embed_dtype ?? 'float32') as EmbedDtype;
    const endianness = (raw.endianness ?? 'native') as Endianness;
    if (!EMBED_DTYPES.includes(embedDtype)) {
      throw new PoolingResponseError(`${where}: unknown embed_dtype ${describeValue(raw.embed_dtype)}`);
    }
    if (endianness !== 'little' && endianness !== 'big' && endianness !== 'native') {
      throw new PoolingResponseError(`${where}: unknown endianness ${describeValue(raw.endianness)}`);
    }
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    const expected = elements * elementBytes(embedDtype);
    if ((end as number) - (start as number) !== expected) {
      throw new PoolingResponseError(
        `${where}: byte range [${start}, ${end}) holds ${(end as number) - (start as number)} bytes but shape ` +
          `[${(shape as number[]).join(', ')}] of ${embedDtype} needs ${expected}`,
      );
    }
    items.push({
      index: index as number,
      start: start as number,
      end: end as number,
      shape: shape as number[],
      embedDtype,
      endianness,
    });
  }
  // Each item must own its bytes: ranges that overlap would decode one tensor's bytes as another's.
  const byStart = [...items].sort((a, b) => a.start - b.start);
  for (let k = 1; k < byStart.length; k++) {
    const prev = byStart[k - 1]!;
    const cur = byStart[k]!;
    if (cur.start < prev.end && cur.end > cur.start && prev.end > prev.start) {
      throw new PoolingResponseError(
        `metadata items ${prev.index} and ${cur.index}: byte ranges [${prev.start}, ${prev.end}) and ` +
          `[${cur.start}, ${cur.end}) overlap`,
      );
    }
  }
  items.sort((a, b) => a.index - b.index);
  const usage = meta.usage as { prompt_tokens?: unknown; total_tokens?: unknown } | undefined;
  return {
    id: typeof meta.id === 'string' ? meta.id : undefined,
    model: typeof meta.model === 'string' ? meta.model : undefined,
    items,
    usage:
      usage !== null && typeof usage === 'object' && typeof usage.prompt_tokens === 'number'
        ? {
            promptTokens: usage.prompt_tokens,
            totalTokens: typeof usage.total_tokens === 'number' ? usage.total_tokens : usage.prompt_tokens,
          }
        : undefined,
  };
}

/**
 * Decodes the body of an `encoding_format: "bytes"` response into one {@link TokenMatrix} per item, in
 * `index` order. A `[dim]` shape means the server runs the `embed` task ({@link PoolingEmbedTaskError}).
 *
 * @example
 * const body = new Uint8Array(await res.arrayBuffer());
 * const matrices = decodeBytesBody(body, parseBytesMetadata(res.headers.get('metadata'), body.byteLength));
 */
export function decodeBytesBody(
  body: Uint8Array,
  metadata: BytesMetadata,
  options: { dim?: number } = {},
): TokenMatrix[] {
  return metadata.items.map((item) => {
    const label = `item ${item.index}`;
    if (item.shape.length === 1) {
      throw new PoolingEmbedTaskError(`${label}: metadata shape is [${item.shape[0]}]`);
    }
    if (item.shape.length !== 2) {
      throw new PoolingResponseError(`${label}: metadata shape [${item.shape.join(', ')}] is not [tokens, dim]`);
    }
    const [rows, dim] = item.shape as [number, number];
    if (dim === 0) throw new PoolingResponseError(`${label}: metadata shape [${rows}, 0] has no columns`);
    if (options.dim !== undefined && dim !== options.dim) {
      throw new PoolingResponseError(`${label}: shape [${rows}, ${dim}] but the embedding width is ${options.dim}`);
    }
    const bytes = body.subarray(item.start, item.end);
    return matrixFromBytes(bytes, dim, item.embedDtype, item.endianness, label, rows);
  });
}

/**
 * Splits an `encoding_format: "bytes_only"` body (tensors back to back, no header) into matrices, given each
 * item's row count, which the body itself does not carry. The total length must match exactly.
 *
 * @example
 * splitBytesOnlyBody(body, { rowCounts: [9, 12], dim: 1024, dtype: 'float16', endianness: 'little' });
 */
export function splitBytesOnlyBody(
  body: Uint8Array,
  options: { rowCounts: readonly number[]; dim: number; dtype: EmbedDtype; endianness: Endianness },
): TokenMatrix[] {
  const rowBytes = options.dim * elementBytes(options.dtype);
  const total = options.rowCounts.reduce((a, b) => a + b, 0);
  if (total * rowBytes !== body.byteLength) {
    throw new PoolingResponseError(
      `bytes_only body is ${body.byteLength} bytes but ${options.rowCounts.length} items of ${total} rows × ` +
        `${options.dim} ${options.dtype} need ${total * rowBytes} (truncated body, or row counts that do not ` +
        'match the server: check truncatePromptTokens and addSpecialTokens)',
    );
  }
  let offset = 0;
  return options.rowCounts.map((rows, i) => {
    const bytes = body.subarray(offset, offset + rows * rowBytes);
    offset += rows * rowBytes;
    return matrixFromBytes(bytes, options.dim, options.dtype, options.endianness, `item ${i}`, rows);
  });
}

function relabel(err: unknown, label: string): unknown {
  if (err instanceof PoolingResponseError && !err.message.startsWith(label)) {
    return new PoolingResponseError(`${label}: ${err.message}`, { cause: err, code: err.code });
  }
  return err;
}

function truncate(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
