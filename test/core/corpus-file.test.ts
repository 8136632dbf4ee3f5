// Corpus files (src/core/corpus-file.ts): round trips in every dtype, the int8 quantization rule, the file
// layout (alignment, chunked writing), the stream reader against the in-memory one, and a typed error for every
// way a header or tensor can be malformed, from both readers, without ever reading outside the bytes given.
import { describe, expect, it } from 'vitest';
import {
  CORPUS_FILE_FORMAT,
  CorpusFileError,
  MaxsimError,
  readCorpusFile,
  readCorpusFileStream,
  writeCorpusFile,
  writeCorpusFileChunks,
  type CorpusFile,
  type CorpusFileProblem,
  type TokenMatrix,
} from '../../src/index.js';
import { float16BitsToFloat, float32ToFloat16Bits } from '../../src/core/float16.js';
import { createScorer } from '../../src/node.js';
import { maxsimReference } from '../../src/core/reference.js';
import { randomDocs, randomMatrix, seededRandom } from '../support/random.js';

const concat = (chunks: Iterable<Uint8Array>): Uint8Array => {
  const list = [...chunks];
  const out = new Uint8Array(list.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of list) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
};

/** `bytes` re-cut into chunks of `size` bytes. */
function* rechunk(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.slice(i, i + size);
}

const rand = seededRandom(16);
const DOCS: TokenMatrix[] = [
  ...randomDocs(rand, 5, 1, 9, 24),
  { data: new Float32Array(0), rows: 0, dim: 24 }, // a document with no tokens
  randomMatrix(rand, 3, 24, false),
];
const IDS = DOCS.map((_, i) => `doc-${i}`);
const TEXTS = DOCS.map((_, i) => (i === 2 ? 'naïve café · 東京 🚀' : i === 5 ? '' : `text of document ${i}`));

function expectSameCorpus(a: CorpusFile, b: CorpusFile): void {
  expect(b.data).toEqual(a.data);
  expect(b.rowOffsets).toEqual(a.rowOffsets);
  expect(b.ids).toEqual(a.ids);
  expect(b.texts).toEqual(a.texts);
  expect(b.metadata).toEqual(a.metadata);
  expect(b.dtype).toBe(a.dtype);
  expect(b.byteLength).toBe(a.byteLength);
}

describe('round trips', () => {
  it('f32 is exact, documents are views of one array, and the array is a view of the bytes (no copy)', () => {
    const bytes = writeCorpusFile(DOCS, {
      dtype: 'f32',
      model: 'test/model',
      ids: IDS,
      texts: TEXTS,
      metadata: { source: 'unit test', dim: '999' },
    });
    const file = readCorpusFile(bytes);
    expect(file.documents).toHaveLength(DOCS.length);
    file.documents.forEach((d, i) => {
      expect(d.rows).toBe(DOCS[i]!.rows);
      expect(d.dim).toBe(24);
      expect(d.data).toEqual(DOCS[i]!.data);
      expect(d.data.buffer).toBe(file.data.buffer);
    });
    expect(file.data.buffer).toBe(bytes.buffer);
    expect(file.ids).toEqual(IDS);
    expect(file.texts).toEqual(TEXTS);
    expect(file.dtype).toBe('f32');
    // Reserved keys come from the data (a stale `dim` in metadata is overwritten), others pass through.
    expect(file.metadata).toEqual({
      format: CORPUS_FILE_FORMAT,
      version: '1',
      model: 'test/model',
      dim: '24',
      documents: String(DOCS.length),
      dtype: 'f32',
      source: 'unit test',
    });
    expect(file.byteLength).toBe(bytes.byteLength);
  });

  it('an ArrayBuffer and a misaligned view read the same as an aligned Uint8Array', () => {
    const bytes = writeCorpusFile(DOCS, { dtype: 'f32', texts: TEXTS });
    const reference = readCorpusFile(bytes);
    expectSameCorpus(reference, readCorpusFile(bytes.slice().buffer));
    const shifted = new Uint8Array(bytes.byteLength + 1);
    shifted.set(bytes, 1);
    const misaligned = readCorpusFile(shifted.subarray(1));
    expectSameCorpus(reference, misaligned);
    expect(misaligned.data.buffer).not.toBe(shifted.buffer); // decoded into its own array, not a misaligned view
  });

  it('f16 stores each value rounded to the nearest half', () => {
    const file = readCorpusFile(writeCorpusFile(DOCS, { dtype: 'f16' }));
    expect(file.dtype).toBe('f16');
    let r = 0;
    for (const doc of DOCS) {
      for (let k = 0; k < doc.data.length; k++) {
        expect(file.data[r * 24 + k]).toBe(float16BitsToFloat(float32ToFloat16Bits(doc.data[k]!)));
      }
      r += doc.rows;
    }
  });

  it('int8 keeps one scale per row (max|x| / 127) and every value within scale / 2', () => {
    const file = readCorpusFile(writeCorpusFile(DOCS, { dtype: 'int8', texts: TEXTS }));
    expect(file.dtype).toBe('int8');
    expect(file.texts).toEqual(TEXTS);
    let r = 0;
    for (const doc of DOCS) {
      for (let j = 0; j < doc.rows; j++, r++) {
        const row = doc.data.subarray(j * 24, (j + 1) * 24);
        const max = Math.max(...row.map(Math.abs));
        const scale = Math.fround(max / 127);
        const decoded = file.data.subarray(r * 24, (r + 1) * 24);
        for (let k = 0; k < 24; k++) {
          expect(Math.abs(decoded[k]! - row[k]!)).toBeLessThanOrEqual(scale / 2 + 1e-7);
          // Decoded values are integer multiples of the row's scale.
          const q = decoded[k]! / scale;
          expect(Math.abs(q - Math.round(q))).toBeLessThan(1e-4);
          expect(Math.abs(q)).toBeLessThanOrEqual(127 + 1e-4);
        }
        // The largest magnitude maps to ±127 × scale.
        const at = row.findIndex((v) => Math.abs(v) === max);
        expect(Math.abs(decoded[at]!)).toBe(Math.fround(127 * scale));
      }
    }
  });

  it('int8 rounds half to even (as numpy and PyTorch do) and a zero row stays zero', () => {
    const row = new Float32Array([127, 2.5, -2.5, 3.5, -3.5, 0.5, 1.5, -0.4]); // scale exactly 1
    const zero = new Float32Array(8);
    const file = readCorpusFile(
      writeCorpusFile([{ data: new Float32Array([...row, ...zero]), rows: 2, dim: 8 }], { dtype: 'int8' }),
    );
    expect([...file.data.subarray(0, 8)]).toEqual([127, 2, -2, 4, -4, 0, 2, 0]); // int8 has no -0
    expect([...file.data.subarray(8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('an empty corpus (no documents) round-trips when dim is given', () => {
    expect(() => writeCorpusFile([], { dtype: 'f32' })).toThrow(/options\.dim/);
    const file = readCorpusFile(writeCorpusFile([], { dtype: 'int8', dim: 16 }));
    expect(file.documents).toEqual([]);
    expect(file.dim).toBe(16);
    expect(file.metadata.documents).toBe('0');
  });

  it('scores read from a file match the float64 reference on the decoded vectors', async () => {
    const query = randomMatrix(seededRandom(3), 6, 24);
    const scorer = await createScorer({ backend: 'cpu', cpu: { threads: 1 } });
    try {
      for (const dtype of ['f32', 'f16', 'int8'] as const) {
        const file = readCorpusFile(writeCorpusFile(DOCS, { dtype }));
        const [scores] = await scorer.score([query], file.documents);
        file.documents.forEach((d, i) => {
          const expected = maxsimReference(query, d);
          if (d.rows === 0) expect(scores![i]).toBe(-Infinity);
          else expect(Math.abs(scores![i]! - expected)).toBeLessThan(1e-5);
          // Quantization moves scores by at most what its per-value bound allows.
          const exact = maxsimReference(query, DOCS[i]!);
          if (dtype === 'int8' && d.rows > 0) expect(Math.abs(expected - exact)).toBeLessThan(0.05);
        });
      }
    } finally {
      scorer.destroy();
    }
  });
});

describe('file layout and size', () => {
  it('pads the header with spaces so the data starts 8-byte aligned, largest elements first', () => {
    for (const dtype of ['f32', 'f16', 'int8'] as const) {
      const bytes = writeCorpusFile(DOCS, { dtype, ids: IDS, texts: TEXTS });
      const view = new DataView(bytes.buffer);
      const n = view.getUint32(0, true);
      expect(view.getUint32(4, true)).toBe(0);
      expect((8 + n) % 8).toBe(0);
      const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
      expect(text.startsWith('{')).toBe(true);
      expect(text.trimEnd().endsWith('}')).toBe(true);
      const header = JSON.parse(text) as Record<string, { dtype: string; data_offsets: [number, number] }>;
      const { __metadata__: _, ...tensors } = header;
      const order = Object.entries(tensors).sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
      const sizes: Record<string, number> = { I64: 8, F32: 4, F16: 2, I8: 1, U8: 1 };
      for (const [, t] of order) expect(t.data_offsets[0] % sizes[t.dtype]!).toBe(0);
      expect(order.map(([name]) => name)).toEqual([
        'offsets',
        'id_offsets',
        'text_offsets',
        ...(dtype === 'int8' ? ['scales'] : []),
        'embeddings',
        'ids',
        'texts',
      ]);
    }
  });

  it('int8 files of 1,000 documents × 100 tokens × 128 are ≤ 0.3× the f32 file, f16 ≤ 0.51×', () => {
    const docs = randomDocs(seededRandom(1000), 1000, 100, 100, 128);
    const f32 = writeCorpusFile(docs, { dtype: 'f32' }).byteLength;
    const f16 = writeCorpusFile(docs, { dtype: 'f16' }).byteLength;
    const int8 = writeCorpusFile(docs, { dtype: 'int8' }).byteLength;
    expect(f32).toBeGreaterThan(1000 * 100 * 128 * 4);
    expect(int8 / f32).toBeLessThanOrEqual(0.3);
    expect(f16 / f32).toBeLessThanOrEqual(0.51);
    // One byte a value plus one float32 scale a row: (128 + 4) / 512 of the f32 file, plus offsets and header.
    expect(int8).toBeLessThan(1000 * 100 * (128 + 4) + 10_000);
  });

  it('chunks concatenate to the same bytes, in pieces near the size asked for', () => {
    for (const dtype of ['f32', 'f16', 'int8'] as const) {
      const options = { dtype, ids: IDS, texts: TEXTS, model: 'm' };
      const whole = writeCorpusFile(DOCS, options);
      for (const chunkBytes of [1, 100, 1 << 20]) {
        const chunks = writeCorpusFileChunks(DOCS, options, chunkBytes);
        expect(chunks.byteLength).toBe(whole.byteLength);
        const list = [...chunks];
        expect(concat(list)).toEqual(whole);
        // Iterating again gives the same bytes (the chunks are encoded on demand, each time).
        expect(concat(chunks)).toEqual(whole);
        if (chunkBytes === 100) {
          const rowBytes = 24 * { f32: 4, f16: 2, int8: 1 }[dtype];
          const rowChunks = list.filter((c) => c.byteLength % rowBytes === 0 && c.byteLength <= 100);
          expect(rowChunks.length).toBeGreaterThan(3);
        }
      }
    }
  });
});

describe('the stream reader', () => {
  it('reads every dtype the same as the in-memory reader, whatever the chunk boundaries', async () => {
    for (const dtype of ['f32', 'f16', 'int8'] as const) {
      const bytes = writeCorpusFile(DOCS, { dtype, ids: IDS, texts: TEXTS });
      const reference = readCorpusFile(bytes);
      for (const size of [1, 3, 7, 64, 1000, bytes.byteLength]) {
        expectSameCorpus(reference, await readCorpusFileStream(rechunk(bytes, size)));
      }
    }
  });

  it('takes a Blob, a ReadableStream, an async iterable and a Uint8Array', async () => {
    const bytes = writeCorpusFile(DOCS, { dtype: 'f16', texts: TEXTS });
    const reference = readCorpusFile(bytes);
    expectSameCorpus(reference, await readCorpusFileStream(new Blob([bytes.slice()])));
    expectSameCorpus(reference, await readCorpusFileStream(new Response(bytes.slice()).body!));
    const asyncChunks = async function* (): AsyncGenerator<Uint8Array> {
      yield* rechunk(bytes, 5);
    };
    expectSameCorpus(reference, await readCorpusFileStream(asyncChunks()));
    expectSameCorpus(reference, await readCorpusFileStream(bytes));
  });

  it('stops when the signal aborts', async () => {
    const bytes = writeCorpusFile(DOCS, { dtype: 'f32' });
    const controller = new AbortController();
    controller.abort(new Error('user went away'));
    await expect(readCorpusFileStream(rechunk(bytes, 10), { signal: controller.signal })).rejects.toThrow(
      'user went away',
    );
  });

  it('reads chunks straight from writeCorpusFileChunks', async () => {
    const options = { dtype: 'int8' as const, texts: TEXTS };
    const file = await readCorpusFileStream(writeCorpusFileChunks(DOCS, options, 64));
    expectSameCorpus(readCorpusFile(writeCorpusFile(DOCS, options)), file);
  });
});

// ---- malformed files ----

interface Tensor {
  dtype: string;
  shape: unknown;
  data_offsets?: unknown;
  bytes: Uint8Array;
}

/** A safetensors file from tensors laid out in the order given (or at the data_offsets given). */
function craft(
  tensors: Record<string, Tensor>,
  metadata?: unknown,
  options: { rawHeader?: string; headerSize?: number; extra?: Uint8Array } = {},
): Uint8Array {
  const header: Record<string, unknown> = metadata === undefined ? {} : { __metadata__: metadata };
  let at = 0;
  const data: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: t.data_offsets ?? [at, at + t.bytes.byteLength] };
    data.push(t.bytes);
    at += t.bytes.byteLength;
  }
  if (options.extra !== undefined) data.push(options.extra);
  const json = new TextEncoder().encode(options.rawHeader ?? JSON.stringify(header));
  const file = concat([new Uint8Array(8), json, ...data]);
  new DataView(file.buffer).setUint32(0, options.headerSize ?? json.byteLength, true);
  return file;
}

const f32 = (...v: number[]): Uint8Array => new Uint8Array(new Float32Array(v).buffer);
const i64 = (...v: number[]): Uint8Array => new Uint8Array(new BigInt64Array(v.map(BigInt)).buffer);
const i32 = (...v: number[]): Uint8Array => new Uint8Array(new Int32Array(v).buffer);
const u8 = (...v: number[]): Uint8Array => new Uint8Array(v);

/** Two documents of 1 and 2 rows, dim 2, with the tensors overridden by `changes` (undefined removes one). */
function corpus(changes: Record<string, Tensor | undefined> = {}, metadata: unknown = { format: CORPUS_FILE_FORMAT }) {
  const tensors: Record<string, Tensor | undefined> = {
    offsets: { dtype: 'I64', shape: [3], bytes: i64(0, 1, 3) },
    embeddings: { dtype: 'F32', shape: [3, 2], bytes: f32(1, 0, 0, 1, 0.5, 0.5) },
    ...changes,
  };
  // Largest elements first, as safetensors writes them, so every tensor is aligned.
  const size = (t: Tensor): number => (/64/.test(t.dtype) ? 8 : /32/.test(t.dtype) ? 4 : /16/.test(t.dtype) ? 2 : 1);
  const present = Object.entries(tensors).filter((e): e is [string, Tensor] => e[1] !== undefined);
  return craft(Object.fromEntries(present.sort((a, b) => size(b[1]) - size(a[1]))), metadata);
}

async function expectProblem(bytes: Uint8Array, problem: CorpusFileProblem, message: RegExp): Promise<void> {
  const fromBytes = (() => {
    try {
      readCorpusFile(bytes);
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  expect(fromBytes, `readCorpusFile accepted a file that should fail with ${problem}`).toBeInstanceOf(CorpusFileError);
  const err = fromBytes as CorpusFileError;
  expect(err.code).toBe('E_CORPUS_FORMAT');
  expect(err.message).toMatch(message);
  expect(err.problem).toBe(problem);
  // The stream reader fails the same way, in 3-byte chunks.
  const streamed = await readCorpusFileStream(rechunk(bytes, 3)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(streamed).toBeInstanceOf(CorpusFileError);
  expect((streamed as CorpusFileError).problem).toBe(problem);
}

describe('malformed files throw E_CORPUS_FORMAT naming the problem', () => {
  it('accepts the well-formed base case (so each case below fails for its own reason)', () => {
    const file = readCorpusFile(corpus());
    expect(file.documents.map((d) => d.rows)).toEqual([1, 2]);
  });

  it('header size: too few bytes, beyond the buffer, beyond 100 MB', async () => {
    await expectProblem(new Uint8Array(5), 'header-size', /only 5 bytes/);
    const good = corpus();
    await expectProblem(good.subarray(0, 20), 'header-size', /only 12 bytes follow it/);
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(0, 200_000_000, true);
    await expectProblem(huge, 'header-size', /more than the 100,000,000 bytes/);
    const hi = good.slice();
    new DataView(hi.buffer).setUint32(4, 1, true);
    await expectProblem(hi, 'header-size', /1 × 2\^32/);
  });

  it('header JSON: not JSON, not an object, not UTF-8, a bad tensor entry', async () => {
    await expectProblem(craft({}, undefined, { rawHeader: '{"embeddings": ' }), 'header-json', /not valid JSON/);
    await expectProblem(craft({}, undefined, { rawHeader: '[1, 2]' }), 'header-json', /must start with '\{'/);
    await expectProblem(craft({}, undefined, { rawHeader: '{} []' }), 'header-json', /not valid JSON/);
    const notUtf8 = craft({}, undefined, { rawHeader: '{"a":"xx"}' });
    notUtf8[8 + 6] = 0xff;
    await expectProblem(notUtf8, 'header-json', /not valid UTF-8/);
    await expectProblem(
      craft({}, undefined, { rawHeader: '{"embeddings": 5}' }),
      'header-json',
      /'embeddings' must be an object/,
    );
  });

  it('metadata: a non-string value, another format, a newer version, a dim or count that disagrees', async () => {
    await expectProblem(
      corpus({}, { dim: 2 }),
      'metadata',
      /__metadata__\.dim is 2, but safetensors metadata values must be strings/,
    );
    await expectProblem(corpus({}, ['x']), 'metadata', /must be an object of strings/);
    await expectProblem(corpus({}, { format: 'pt' }), 'metadata', /format is "pt"/);
    await expectProblem(corpus({}, { version: '2' }), 'metadata', /version is "2".*up to version 1/);
    await expectProblem(corpus({}, { version: 'one' }), 'metadata', /version is "one"/);
    await expectProblem(corpus({}, { dim: '3' }), 'metadata', /dim is "3" but the tensors say 2/);
    await expectProblem(corpus({}, { documents: '5' }), 'metadata', /documents is "5" but the tensors say 2/);
    // Absent metadata is fine: a file from a plain numpy writer needs only the tensors.
    expect(readCorpusFile(corpus({}, undefined)).documents).toHaveLength(2);
    expect(readCorpusFile(corpus({}, { version: '1.3', dim: '2', model: 'x' })).metadata.model).toBe('x');
  });

  it('dtype: unknown to safetensors, or wrong for the tensor', async () => {
    const emb = (dtype: string, bytes = f32(1, 0, 0, 1, 0.5, 0.5)): Tensor => ({ dtype, shape: [3, 2], bytes });
    await expectProblem(corpus({ embeddings: emb('F128') }), 'dtype', /dtype "F128", which safetensors does not/);
    await expectProblem(corpus({ embeddings: emb('I32') }), 'dtype', /'embeddings' is I32/);
    await expectProblem(
      corpus({ offsets: { dtype: 'F32', shape: [3], bytes: f32(0, 1, 3) } }),
      'dtype',
      /'offsets' is F32; expected I64/,
    );
    await expectProblem(
      corpus({
        embeddings: emb('I8', u8(1, 2, 3, 4, 5, 6)),
        scales: { dtype: 'F16', shape: [3], bytes: u8(0, 60, 0, 60, 0, 60) },
      }),
      'dtype',
      /'scales' is F16/,
    );
    await expectProblem(
      corpus({ scales: { dtype: 'F32', shape: [3], bytes: f32(1, 1, 1) } }),
      'dtype',
      /scales belong to I8 embeddings only/,
    );
    await expectProblem(
      corpus({
        texts: { dtype: 'I8', shape: [2], bytes: u8(65, 66) },
        text_offsets: { dtype: 'I64', shape: [3], bytes: i64(0, 1, 2) },
      }),
      'dtype',
      /'texts' is I8/,
    );
  });

  it('shape: not integers, the wrong rank, disagreeing with the byte range or with each other', async () => {
    const bytes = f32(1, 0, 0, 1, 0.5, 0.5);
    await expectProblem(corpus({ embeddings: { dtype: 'F32', shape: [3, '2'], bytes } }), 'shape', /list of non-neg/);
    await expectProblem(corpus({ embeddings: { dtype: 'F32', shape: [3, -2], bytes } }), 'shape', /list of non-neg/);
    await expectProblem(corpus({ embeddings: { dtype: 'F32', shape: [3, 2.5], bytes } }), 'shape', /list of non-neg/);
    await expectProblem(corpus({ embeddings: { dtype: 'F32', shape: [6], bytes } }), 'shape', /\[total_rows, dim\]/);
    await expectProblem(
      corpus({ embeddings: { dtype: 'F32', shape: [2, 0], bytes: u8() } }),
      'shape',
      /\[total_rows, dim\] with dim >= 1/,
    );
    await expectProblem(
      corpus({ embeddings: { dtype: 'F32', shape: [2, 2], bytes } }),
      'shape',
      /16 bytes, but its data_offsets \[24, 48\] hold 24 bytes: the shape and the offsets disagree/,
    );
    await expectProblem(
      corpus({ offsets: { dtype: 'I64', shape: [3, 1], bytes: i64(0, 1, 3) } }),
      'shape',
      /'offsets' has shape \[3,1\]/,
    );
    await expectProblem(corpus({ offsets: { dtype: 'I64', shape: [0], bytes: u8() } }), 'shape', /at least \[1\]/);
    await expectProblem(
      corpus({
        embeddings: { dtype: 'I8', shape: [3, 2], bytes: u8(1, 2, 3, 4, 5, 6) },
        scales: { dtype: 'F32', shape: [2], bytes: f32(1, 1) },
      }),
      'shape',
      /'scales' has shape \[2\] but 'embeddings' has 3 rows/,
    );
    await expectProblem(
      corpus({
        ids: { dtype: 'U8', shape: [2], bytes: u8(65, 66) },
        id_offsets: { dtype: 'I64', shape: [2], bytes: i64(0, 2) },
      }),
      'shape',
      /'id_offsets' has 2 entries but 'offsets' has 3/,
    );
  });

  it('data_offsets: malformed, outside the data, misaligned, leaving gaps or overlapping, or bytes left over', async () => {
    const emb = (data_offsets: unknown, bytes = f32(1, 0, 0, 1, 0.5, 0.5)): Tensor => ({
      dtype: 'F32',
      shape: [3, 2],
      data_offsets,
      bytes,
    });
    await expectProblem(corpus({ embeddings: emb([24]) }), 'data-offsets', /expected \[begin, end\]/);
    await expectProblem(corpus({ embeddings: emb([24, -1]) }), 'data-offsets', /expected \[begin, end\]/);
    await expectProblem(corpus({ embeddings: emb([48, 24]) }), 'data-offsets', /end < begin/);
    // Offsets outside the data: the tensor says [24, 48 + 24], the file stops at 48.
    await expectProblem(
      corpus({ embeddings: emb([48, 72], u8()) }),
      'data-offsets',
      /starts at byte 48 of the data, but the tensor before it ends at 24/,
    );
    await expectProblem(
      corpus({ embeddings: { dtype: 'F32', shape: [4, 2], bytes: f32(1, 0, 0, 1, 0.5, 0.5) } }),
      'shape',
      /disagree/,
    );
    // Misaligned: an F32 tensor starting at byte 26 (2 bytes of padding before it, which nothing covers).
    await expectProblem(
      corpus({ embeddings: emb([26, 50], concat([u8(0, 0), f32(1, 0, 0, 1, 0.5, 0.5)])) }),
      'data-offsets',
      /starts at byte 26 of the data, not a multiple of its 4-byte element/,
    );
    // Overlap: embeddings claim bytes 16..40, inside offsets' 0..24.
    await expectProblem(corpus({ embeddings: emb([16, 40]) }), 'data-offsets', /inside the tensor before it/);
    // Bytes after the last tensor.
    await expectProblem(
      craft(
        {
          offsets: { dtype: 'I64', shape: [3], bytes: i64(0, 1, 3) },
          embeddings: { dtype: 'F32', shape: [3, 2], bytes: f32(1, 0, 0, 1, 0.5, 0.5) },
        },
        undefined,
        { extra: u8(1, 2, 3, 4) },
      ),
      'data-offsets',
      /4 bytes after the last tensor/,
    );
  });

  it('truncated: the bytes end inside the data the header describes', async () => {
    const good = corpus();
    await expectProblem(good.subarray(0, good.byteLength - 1), 'truncated', /'embeddings'.*reaches past the end/);
    const header = new DataView(good.buffer).getUint32(0, true);
    await expectProblem(good.subarray(0, 8 + header), 'truncated', /describes/);
  });

  it('missing tensors: embeddings, offsets, I8 scales, half of an ids or texts pair', async () => {
    await expectProblem(corpus({ embeddings: undefined }), 'missing-tensor', /no 'embeddings' tensor.*'offsets'/);
    await expectProblem(corpus({ offsets: undefined }), 'missing-tensor', /no 'offsets' tensor/);
    await expectProblem(
      corpus({ embeddings: { dtype: 'I8', shape: [3, 2], bytes: u8(1, 2, 3, 4, 5, 6) } }),
      'missing-tensor',
      /no 'scales' tensor/,
    );
    await expectProblem(
      corpus({ ids: { dtype: 'U8', shape: [2], bytes: u8(65, 66) } }),
      'missing-tensor',
      /has 'ids' but not 'id_offsets'/,
    );
    await expectProblem(
      corpus({ text_offsets: { dtype: 'I64', shape: [3], bytes: i64(0, 1, 2) } }),
      'missing-tensor',
      /has 'text_offsets' but not 'texts'/,
    );
  });

  it('row offsets: not from 0, backwards, past the rows, short of them, negative', async () => {
    const off = (...v: number[]): Record<string, Tensor> => ({
      offsets: { dtype: 'I64', shape: [3], bytes: i64(...v) },
    });
    await expectProblem(corpus(off(1, 1, 3)), 'row-offsets', /'offsets'\[0\] is 1; row offsets must start at 0/);
    await expectProblem(corpus(off(0, 2, 1)), 'row-offsets', /'offsets'\[2\] is 1, less than 'offsets'\[1\] = 2/);
    await expectProblem(corpus(off(0, 4, 3)), 'row-offsets', /'offsets'\[1\] is 4, past the 3 rows/);
    await expectProblem(corpus(off(0, 1, 2)), 'row-offsets', /ends at 2 but there are 3 rows/);
    await expectProblem(corpus(off(0, -1, 3)), 'row-offsets', /'offsets'\[1\] is -1/);
    await expectProblem(corpus(off(0, 2 ** 40, 3)), 'row-offsets', /past the 3 rows/);
    await expectProblem(
      corpus({ offsets: { dtype: 'I32', shape: [3], bytes: i32(0, -5, 3) } }),
      'row-offsets',
      /is -5, less than/,
    );
    await expectProblem(
      corpus({
        texts: { dtype: 'U8', shape: [2], bytes: u8(65, 66) },
        text_offsets: { dtype: 'I64', shape: [3], bytes: i64(0, 1, 3) },
      }),
      'row-offsets',
      /'text_offsets'\[2\] is 3, past the 2 bytes/,
    );
  });

  it('values: NaN or infinity in the embeddings, a bad int8 scale, text that is not UTF-8', async () => {
    await expectProblem(
      corpus({ embeddings: { dtype: 'F32', shape: [3, 2], bytes: f32(1, 0, 0, 1, 0.5, Number.NaN) } }),
      'values',
      /NaN at row 2 \(document 1, its row 1\), column 1/,
    );
    await expectProblem(
      corpus({
        embeddings: {
          dtype: 'F16',
          shape: [3, 2],
          bytes: new Uint8Array(new Uint16Array([0, 0, 0x7c00, 0, 0, 0]).buffer),
        },
      }),
      'values',
      /Infinity at row 1 \(document 1, its row 0\), column 0/,
    );
    await expectProblem(
      corpus({
        embeddings: {
          dtype: 'F64',
          shape: [3, 2],
          bytes: new Uint8Array(new Float64Array([1, 0, 0, 1, 1e300, 0]).buffer),
        },
      }),
      'values',
      /finite in float32/,
    );
    await expectProblem(
      corpus({
        embeddings: { dtype: 'I8', shape: [3, 2], bytes: u8(1, 2, 3, 4, 5, 6) },
        scales: { dtype: 'F32', shape: [3], bytes: f32(0.1, -0.1, 0.1) },
      }),
      'values',
      /'scales'\[1\] is -0\.1/,
    );
    await expectProblem(
      corpus({
        texts: { dtype: 'U8', shape: [2], bytes: u8(65, 0xc3) },
        text_offsets: { dtype: 'I64', shape: [3], bytes: i64(0, 1, 2) },
      }),
      'values',
      /'texts' of document 1 \(bytes 1\.\.2\) is not valid UTF-8/,
    );
  });

  it('reads what other writers may produce: I32 and U32 offsets, BF16, F64, I8, extra tensors, no padding', () => {
    const u32 = (...v: number[]): Uint8Array => new Uint8Array(new Uint32Array(v).buffer);
    for (const offsets of [
      { dtype: 'I32', shape: [3], bytes: i32(0, 1, 3) },
      { dtype: 'U32', shape: [3], bytes: u32(0, 1, 3) },
    ]) {
      expect(readCorpusFile(corpus({ offsets })).rowOffsets).toEqual(new Uint32Array([0, 1, 3]));
    }
    // bfloat16 of 1, 0, -2, 0.5, 3, 0.25: the top halves of their float32 bits.
    const values = [1, 0, -2, 0.5, 3, 0.25];
    const bf16 = new Uint16Array(new Uint32Array(new Float32Array(values).buffer).map((b) => b >>> 16));
    const bf = readCorpusFile(
      corpus({ embeddings: { dtype: 'BF16', shape: [3, 2], bytes: new Uint8Array(bf16.buffer) } }),
    );
    expect([...bf.data]).toEqual(values);
    expect(bf.dtype).toBe('bf16');
    const f64 = readCorpusFile(
      corpus({ embeddings: { dtype: 'F64', shape: [3, 2], bytes: new Uint8Array(new Float64Array(values).buffer) } }),
    );
    expect([...f64.data]).toEqual(values);
    const int8 = readCorpusFile(
      corpus({
        scales: { dtype: 'F32', shape: [3], bytes: f32(0.5, 0.25, 2) },
        embeddings: {
          dtype: 'I8',
          shape: [3, 2],
          bytes: new Uint8Array(new Int8Array([2, -4, 127, -127, 0, 1]).buffer),
        },
      }),
    );
    expect([...int8.data]).toEqual([1, -2, 31.75, -31.75, 0, 2]);
    // A tensor a corpus does not use (a projection matrix, say) is skipped, but still checked as safetensors.
    const extra = corpus({ colbert_linear: { dtype: 'F32', shape: [2, 1], bytes: f32(1, 2) } });
    expect(readCorpusFile(extra).documents).toHaveLength(2);
    // craft() does not pad the header: the data starts unaligned, and is copied rather than viewed.
    expect((8 + new DataView(extra.buffer).getUint32(0, true)) % 4).not.toBe(0);
  });
});

describe('reading stays inside the bytes', () => {
  it('a header that claims more data than the view holds fails even when the bytes after it exist', () => {
    const good = corpus();
    // The file sits in a larger buffer followed by well-formed float32s a careless reader would take.
    const buffer = new Uint8Array(good.byteLength + 64);
    buffer.set(good);
    buffer.set(f32(...Array.from({ length: 16 }, () => 0.5)), good.byteLength);
    const view = buffer.subarray(0, good.byteLength - 8); // drops the last row, which the header still claims
    expect(() => readCorpusFile(view)).toThrow(CorpusFileError);
    expect(() => readCorpusFile(view)).toThrow(/reaches past the end of the file/);
    // Claiming one more row (shape and offsets agree, the bytes after the view are valid floats) fails the same way.
    const longer = corpus({
      offsets: { dtype: 'I64', shape: [3], bytes: i64(0, 1, 4) },
      embeddings: { dtype: 'F32', shape: [4, 2], bytes: f32(1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5) },
    });
    const guarded = new Uint8Array(longer.byteLength + 64);
    guarded.set(longer);
    expect(() => readCorpusFile(guarded.subarray(0, longer.byteLength - 8))).toThrow(/reaches past the end/);
  });

  it('random damage to a valid file gives a CorpusFileError or a valid corpus, never another exception', async () => {
    const good = writeCorpusFile(DOCS.slice(0, 3), { dtype: 'int8', ids: IDS.slice(0, 3), texts: TEXTS.slice(0, 3) });
    const headerEnd = 8 + new DataView(good.buffer).getUint32(0, true);
    const r = seededRandom(7);
    const outcomes = { ok: 0, corpusError: 0 };
    for (let trial = 0; trial < 600; trial++) {
      let bytes = good.slice();
      const kind = trial % 3;
      if (kind === 0) bytes = bytes.subarray(0, Math.floor(r() * bytes.byteLength));
      else if (kind === 1) bytes[Math.floor(r() * headerEnd)] = Math.floor(r() * 256);
      else bytes[headerEnd + Math.floor(r() * (bytes.byteLength - headerEnd))] = Math.floor(r() * 256);
      for (const read of [
        async () => readCorpusFile(bytes),
        async () => readCorpusFileStream(rechunk(bytes, 1 + (trial % 13))),
      ]) {
        try {
          const file = await read();
          expect(file.documents.length).toBeLessThanOrEqual(3);
          outcomes.ok++;
        } catch (err) {
          expect(err, String(err)).toBeInstanceOf(MaxsimError);
          expect((err as MaxsimError).code).toBe('E_CORPUS_FORMAT');
          outcomes.corpusError++;
        }
      }
    }
    // Both outcomes happen: damage to embedding bytes often leaves a valid file, damage to the header rarely does.
    expect(outcomes.ok).toBeGreaterThan(50);
    expect(outcomes.corpusError).toBeGreaterThan(300);
  });
});

describe('writer arguments', () => {
  it('rejects bad dtypes, mismatched dims, non-finite values, f16 overflow, bad ids and metadata', () => {
    const doc = randomMatrix(seededRandom(1), 2, 4);
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        return (err as MaxsimError).code;
      }
      return 'no error';
    };
    expect(code(() => writeCorpusFile([doc], { dtype: 'f64' as never }))).toBe('E_INVALID_ARGUMENT');
    expect(code(() => writeCorpusFile([doc], undefined as never))).toBe('E_INVALID_ARGUMENT');
    expect(code(() => writeCorpusFile([doc, randomMatrix(seededRandom(2), 2, 5)], { dtype: 'f32' }))).toBe(
      'E_DIM_MISMATCH',
    );
    expect(
      code(() => writeCorpusFile([{ data: new Float32Array([1, NaN]), rows: 1, dim: 2 }], { dtype: 'int8' })),
    ).toBe('E_INVALID_MATRIX');
    expect(() => writeCorpusFile([{ data: new Float32Array([1, 70000]), rows: 1, dim: 2 }], { dtype: 'f16' })).toThrow(
      /document 0 has 70000 at row 0, column 1, beyond float16's range/,
    );
    expect(
      writeCorpusFile([{ data: new Float32Array([1, 70000]), rows: 1, dim: 2 }], { dtype: 'int8' }),
    ).toBeInstanceOf(Uint8Array);
    expect(() => writeCorpusFile([doc], { dtype: 'f32', ids: ['a', 'b'] })).toThrow(/one string per document \(1\)/);
    expect(() => writeCorpusFile([doc], { dtype: 'f32', texts: [5 as never] })).toThrow(/texts\[0\] is number/);
    expect(() => writeCorpusFile([doc], { dtype: 'f32', metadata: { n: 5 as never } })).toThrow(
      /metadata\.n is number/,
    );
    expect(() => writeCorpusFileChunks([doc], { dtype: 'f32' }, 0)).toThrow(/chunkBytes/);
  });
});
