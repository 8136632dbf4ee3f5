// The table layout of a store and the conversions between documents and Arrow record batches, straight from
// and into typed arrays (no per-number JS values on either side).
//
//   id        Utf8, not null        the upsert key (LanceDB unenforced primary key)
//   text      Utf8, not null
//   metadata  Utf8 (JSON), nullable
//   tokens    Int32, not null       token rows of the matrix (lets a reader size the corpus without reading it)
//   vectors   List<FixedSizeList<Float16 | Float32, dim>>   the token matrix (LanceDB's multivector column)
//   pooled    FixedSizeList<Float32, dim>                  mean of the rows, L2-normalised: the first stage
//
// Schema metadata (written once, in the same commit that creates the table): maxsim.format, maxsim.model,
// maxsim.dim, maxsim.precision.
import type * as Arrow from 'apache-arrow';
import { InvalidArgumentError } from '../core/errors.js';
import { float16BitsToFloat, float32ToFloat16Bits } from '../core/float16.js';
import type { TokenMatrix } from '../core/token-matrix.js';
import { StoreError } from './errors.js';
import type { LanceModules } from './lancedb.js';
import type { StoreLayout, StorePrecision } from './layout.js';

export type { StoreLayout, StorePrecision } from './layout.js';

export const TABLE_NAME = 'documents';
export const STORE_FORMAT = '1';

/** A document ready to write: validated id and text, metadata as JSON text, its token matrix. */
export interface EncodedDocument {
  readonly id: string;
  readonly text: string;
  readonly metadata: string | null;
  readonly matrix: TokenMatrix;
}

/** float32ToFloat16Bits rounds magnitudes from here up to infinity. */
export const FLOAT16_LIMIT = 65520;

export function makeSchema(arrow: LanceModules['arrow'], layout: StoreLayout): Arrow.Schema {
  const element = layout.precision === 'f16' ? new arrow.Float16() : new arrow.Float32();
  const row = new arrow.FixedSizeList(layout.dim, new arrow.Field('item', element, true));
  return new arrow.Schema(
    [
      new arrow.Field('id', new arrow.Utf8(), false),
      new arrow.Field('text', new arrow.Utf8(), false),
      new arrow.Field('metadata', new arrow.Utf8(), true),
      new arrow.Field('tokens', new arrow.Int32(), false),
      new arrow.Field('vectors', new arrow.List(new arrow.Field('item', row, true)), false),
      new arrow.Field(
        'pooled',
        new arrow.FixedSizeList(layout.dim, new arrow.Field('item', new arrow.Float32(), true)),
        false,
      ),
    ],
    new Map([
      ['maxsim.format', STORE_FORMAT],
      ['maxsim.model', layout.model],
      ['maxsim.dim', String(layout.dim)],
      ['maxsim.precision', layout.precision],
    ]),
  );
}

/** The layout a table's schema metadata records, or a reason it is not a store of this format. */
export function readLayout(schema: Arrow.Schema): StoreLayout | string {
  const md = schema.metadata;
  const format = md.get('maxsim.format');
  if (format === undefined) return 'its documents table was not written by webgpu-maxsim (no maxsim.format metadata)';
  if (format !== STORE_FORMAT) return `its format is ${format}; this version reads format ${STORE_FORMAT}`;
  const model = md.get('maxsim.model');
  const dim = Number(md.get('maxsim.dim'));
  const precision = md.get('maxsim.precision');
  if (model === undefined || !Number.isInteger(dim) || dim <= 0 || (precision !== 'f16' && precision !== 'f32')) {
    return `its schema metadata is incomplete (model ${model}, dim ${md.get('maxsim.dim')}, precision ${precision})`;
  }
  return { model, dim, precision };
}

/** The mean of the rows, L2-normalised (zero for a zero matrix), into `out` at `at`. */
export function pooledInto(m: TokenMatrix, out: Float32Array, at = 0): void {
  const { rows, dim, data } = m;
  const acc = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const base = r * dim;
    for (let c = 0; c < dim; c++) acc[c]! += data[base + c]!;
  }
  let sq = 0;
  for (let c = 0; c < dim; c++) sq += acc[c]! * acc[c]!;
  const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
  for (let c = 0; c < dim; c++) out[at + c] = acc[c]! * inv;
}

/**
 * Checks that a matrix can be stored: the store's width, at least one row, finite values, and (f16) values
 * inside float16's range. Throws InvalidArgumentError naming the document, row and column.
 */
export function checkStorable(m: TokenMatrix, layout: { dim: number; precision: StorePrecision }, id: string): void {
  const what = `document ${JSON.stringify(id)}`;
  if (m.rows === 0) {
    throw new InvalidArgumentError(`${what} has no token rows (the embedder returned none for its text); leave it out`);
  }
  const limit = layout.precision === 'f16' ? FLOAT16_LIMIT : Number.POSITIVE_INFINITY;
  const { data } = m;
  for (let k = 0; k < data.length; k++) {
    const v = data[k]!;
    if (!(Math.abs(v) < limit)) {
      const where = `row ${Math.floor(k / m.dim)}, column ${k % m.dim}`;
      throw new InvalidArgumentError(
        Number.isFinite(v)
          ? `${what} has ${v} at ${where}, beyond float16's range: this store keeps f16 vectors; index into a ` +
              `store created with precision 'f32' (index --precision f32)`
          : `${what} has ${v} at ${where}: token vectors must be finite`,
      );
    }
  }
}

function utf8Data(arrow: LanceModules['arrow'], strings: readonly (string | null)[]): Arrow.Data<Arrow.Utf8> {
  const enc = new TextEncoder();
  const parts = strings.map((s) => (s === null ? new Uint8Array(0) : enc.encode(s)));
  const offsets = new Int32Array(strings.length + 1);
  for (let i = 0; i < parts.length; i++) offsets[i + 1] = offsets[i]! + parts[i]!.length;
  const bytes = new Uint8Array(offsets[strings.length]!);
  for (let i = 0; i < parts.length; i++) bytes.set(parts[i]!, offsets[i]!);
  let nullCount = 0;
  let nullBitmap: Uint8Array | undefined;
  if (strings.includes(null)) {
    nullBitmap = new Uint8Array((strings.length + 7) >> 3);
    strings.forEach((s, i) => {
      if (s === null) nullCount++;
      else nullBitmap![i >> 3]! |= 1 << (i & 7);
    });
  }
  return arrow.makeData({
    type: new arrow.Utf8(),
    length: strings.length,
    valueOffsets: offsets,
    data: bytes,
    nullCount,
    ...(nullBitmap === undefined ? {} : { nullBitmap }),
  });
}

/** One Arrow table (one record batch) of `docs`, in the store's schema. */
export function encodeDocuments(
  modules: LanceModules,
  schema: Arrow.Schema,
  layout: StoreLayout,
  docs: readonly EncodedDocument[],
): Arrow.Table {
  const { arrow } = modules;
  const { dim } = layout;
  const totalRows = docs.reduce((s, d) => s + d.matrix.rows, 0);
  const values = layout.precision === 'f16' ? new Uint16Array(totalRows * dim) : new Float32Array(totalRows * dim);
  const listOffsets = new Int32Array(docs.length + 1);
  const tokens = new Int32Array(docs.length);
  const pooled = new Float32Array(docs.length * dim);
  let row = 0;
  docs.forEach((d, i) => {
    const src = d.matrix.data;
    if (values instanceof Uint16Array) {
      const at = row * dim;
      for (let j = 0; j < src.length; j++) values[at + j] = float32ToFloat16Bits(src[j]!);
    } else {
      values.set(src, row * dim);
    }
    row += d.matrix.rows;
    listOffsets[i + 1] = row;
    tokens[i] = d.matrix.rows;
    pooledInto(d.matrix, pooled, i * dim);
  });
  const field = (name: string): Arrow.Field => schema.fields.find((f) => f.name === name)!;
  const listType = field('vectors').type as Arrow.List<Arrow.FixedSizeList>;
  const rowType = listType.children[0]!.type as Arrow.FixedSizeList;
  const pooledType = field('pooled').type as Arrow.FixedSizeList<Arrow.Float32>;
  const vectors = arrow.makeData({
    type: listType,
    length: docs.length,
    nullCount: 0,
    valueOffsets: listOffsets,
    child: arrow.makeData({
      type: rowType,
      length: totalRows,
      nullCount: 0,
      child: arrow.makeData({ type: rowType.children[0]!.type, length: values.length, nullCount: 0, data: values }),
    }),
  });
  const pooledData = arrow.makeData({
    type: pooledType,
    length: docs.length,
    nullCount: 0,
    child: arrow.makeData({ type: new arrow.Float32(), length: pooled.length, nullCount: 0, data: pooled }),
  });
  const children = [
    utf8Data(
      arrow,
      docs.map((d) => d.id),
    ),
    utf8Data(
      arrow,
      docs.map((d) => d.text),
    ),
    utf8Data(
      arrow,
      docs.map((d) => d.metadata),
    ),
    arrow.makeData({ type: new arrow.Int32(), length: docs.length, nullCount: 0, data: tokens }),
    vectors,
    pooledData,
  ];
  const struct = arrow.makeData({
    type: new arrow.Struct(schema.fields),
    length: docs.length,
    nullCount: 0,
    children,
  });
  return new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
}

let f16Table: Float32Array | undefined;

/**
 * The token matrices of the `vectors` column of `batches`, in row order, as TokenMatrix views: f32 values
 * are viewed in place (no copy: scorer.upload packs them anyway), f16 values are widened per batch through a
 * 65,536-entry table.
 */
export function decodeMatrices(batches: readonly Arrow.RecordBatch[], dim: number): TokenMatrix[] {
  const out: TokenMatrix[] = [];
  for (const batch of batches) {
    const column = batch.getChild('vectors');
    if (column === null) throw new StoreError('internal: the read did not select the vectors column');
    for (const d of column.data) {
      if (d.nullCount > 0) throw new StoreError('the store holds a null token matrix: the table is damaged');
      const rowsData = d.children[0]!;
      const width = (rowsData.type as Arrow.FixedSizeList).listSize;
      if (width !== dim)
        throw new StoreError(`the store holds ${width}-wide rows; its metadata says ${dim}: the table is damaged`);
      const lo = d.valueOffsets as Int32Array;
      const raw = rowsData.children[0]!.values as Float32Array | Uint16Array;
      const first = lo[0]!;
      const last = lo[d.length]!;
      let values: Float32Array;
      if (raw instanceof Float32Array) {
        values = raw.subarray(first * dim, last * dim);
      } else {
        const table = (f16Table ??= Float32Array.from({ length: 65536 }, (_, h) => float16BitsToFloat(h)));
        const src = raw.subarray(first * dim, last * dim);
        values = new Float32Array(src.length);
        for (let k = 0; k < src.length; k++) values[k] = table[src[k]!]!;
      }
      for (let i = 0; i < d.length; i++) {
        const a = (lo[i]! - first) * dim;
        const b = (lo[i + 1]! - first) * dim;
        out.push({ data: values.subarray(a, b), rows: (b - a) / dim, dim });
      }
    }
  }
  return out;
}

/** The strings of a Utf8 column across batches (null stays null). */
export function decodeStrings(batches: readonly Arrow.RecordBatch[], name: string): (string | null)[] {
  const out: (string | null)[] = [];
  for (const batch of batches) {
    const column = batch.getChild(name);
    if (column === null) throw new StoreError(`internal: the read did not select the ${name} column`);
    for (const v of column) out.push((v as string | null) ?? null);
  }
  return out;
}
