import { describe, expect, it } from 'vitest';
import { EMBED_DTYPES, type EmbedDtype, type Endianness } from '../../src/pooling/dtypes.js';
import { encodeEmbedDtype } from '../../src/pooling/encode.js';
import { PoolingEmbedTaskError, PoolingResponseError } from '../../src/pooling/errors.js';
import {
  base64ToBytes,
  decodeBase64Matrix,
  decodeBase64Portable,
  decodeBytesBody,
  decodeFloatMatrix,
  decodeTensor,
  parseBytesMetadata,
  splitBytesOnlyBody,
} from '../../src/pooling/decode.js';
import { seededRandom } from '../../src/core/seeded-random.js';

// Relative rounding of each dtype (half an ulp at 1.0), per docs/vllm-pooling.md §7 case 16.
const REL_TOL: Record<EmbedDtype, number> = {
  float32: 0,
  float16: 2 ** -11,
  bfloat16: 2 ** -8,
  fp8_e4m3: 2 ** -4,
  fp8_e5m2: 2 ** -3,
};

/** Unit-norm-ish values like token embeddings: mostly in ±0.2, a few larger. */
function sampleValues(n: number, seed = 7): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() - 0.5) * (i % 17 === 0 ? 3 : 0.4);
  return out;
}

function bytesFromHex(hex: string): Uint8Array {
  return new Uint8Array(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}

describe('base64', () => {
  it('matches Node for every length 0..200 and random bytes', () => {
    const rand = seededRandom(3);
    for (let len = 0; len <= 200; len++) {
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = Math.floor(rand() * 256);
      const text = Buffer.from(bytes).toString('base64');
      expect(decodeBase64Portable(text)).toEqual(bytes);
      expect(base64ToBytes(text)).toEqual(bytes);
    }
  });

  it('decodes long text (the 16-character block path) and finds a bad character deep inside it', () => {
    const rand = seededRandom(11);
    const bytes = new Uint8Array(30_001).map(() => Math.floor(rand() * 256));
    const text = Buffer.from(bytes).toString('base64');
    expect(decodeBase64Portable(text)).toEqual(bytes);
    const broken = `${text.slice(0, 20_005)}*${text.slice(20_006)}`;
    expect(() => decodeBase64Portable(broken)).toThrow(/character "\*" .*position 20005 of 40004/);
  });

  it('accepts unpadded text of a valid length', () => {
    expect([...decodeBase64Portable('AACAPw')]).toEqual([0, 0, 128, 63]);
    expect([...decodeBase64Portable('QUI')]).toEqual([65, 66]);
  });

  it.each([
    ['a character outside the alphabet', 'AAAA!AAA', /character "!" .*position 4/],
    ['URL-safe characters', 'AA-_', /character "-"/],
    ['whitespace', 'AAAA AAA', /character " "/],
    ['padding in the middle', 'AA==AAAA', /character "="/],
    ['a dangling sixth of a byte', 'AAAAA', /dangling/],
    ['padding with a bad length', 'AAAAA==', /multiple of 4/],
    ['a character above U+00FF', 'AA\u0141A', /U\+0141/],
    ['a character that aliases into the table', 'A\u4141AA', /U\+4141/],
  ])('rejects %s', (_what, text, pattern) => {
    expect(() => decodeBase64Portable(text)).toThrow(PoolingResponseError);
    expect(() => decodeBase64Portable(text)).toThrow(pattern);
  });
});

describe('decodeTensor', () => {
  const values = sampleValues(4096);

  for (const dtype of EMBED_DTYPES) {
    for (const endianness of ['little', 'big', 'native'] as Endianness[]) {
      it(`${dtype} ${endianness}: decodes within the dtype's rounding, exactly what the wire holds`, () => {
        const order = endianness === 'big' ? 'big' : 'little';
        const bytes = encodeEmbedDtype(values, dtype, order);
        const decoded = decodeTensor(bytes, dtype, endianness);
        expect(decoded.length).toBe(values.length);
        let worst = 0;
        for (let i = 0; i < values.length; i++) {
          const v = values[i]!;
          const err = Math.abs(decoded[i]! - v);
          // Relative rounding for normal values; fp8's subnormal step (2^-9 / 2^-16) bounds tiny ones.
          const bound =
            REL_TOL[dtype] * Math.abs(v) + (dtype === 'fp8_e4m3' ? 2 ** -10 : dtype === 'fp8_e5m2' ? 2 ** -17 : 0);
          worst = Math.max(worst, err - bound);
        }
        expect(worst).toBeLessThanOrEqual(0);
        // Re-encoding the decoded values reproduces the wire bytes: the decode is exact, not just close.
        expect(encodeEmbedDtype(decoded, dtype, order)).toEqual(bytes);
      });
    }
  }

  it('float32 little-endian is exactly Math.fround of the values', () => {
    const raw = [0.1, -0.2, 1 / 3, 1e-40, -0];
    const bytes = new Uint8Array(new Float32Array(raw).buffer);
    expect([...decodeTensor(bytes, 'float32', 'little')]).toEqual(raw.map(Math.fround));
  });

  it('big-endian float16/bfloat16 is the pairwise byte swap of little-endian', () => {
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const little = encodeEmbedDtype(values, dtype, 'little');
      const big = new Uint8Array(little.length);
      for (let i = 0; i < little.length; i += 2) {
        big[i] = little[i + 1]!;
        big[i + 1] = little[i]!;
      }
      expect(decodeTensor(big, dtype, 'big')).toEqual(decodeTensor(little, dtype, 'little'));
    }
  });

  it('fp8 bytes decode identically for every endianness', () => {
    for (const dtype of ['fp8_e4m3', 'fp8_e5m2'] as const) {
      const bytes = encodeEmbedDtype(values, dtype, 'little');
      const a = decodeTensor(bytes, dtype, 'little');
      expect(decodeTensor(bytes, dtype, 'big')).toEqual(a);
      expect(decodeTensor(bytes, dtype, 'native')).toEqual(a);
    }
  });

  it('bfloat16 is u16 << 16 for all 65536 patterns, NaNs included', () => {
    const bytes = new Uint8Array(65536 * 2);
    const view = new DataView(bytes.buffer);
    for (let h = 0; h < 65536; h++) view.setUint16(h * 2, h, true);
    const decoded = decodeTensor(bytes, 'bfloat16', 'little');
    const bits = new Uint32Array(decoded.buffer);
    for (let h = 0; h < 65536; h++) {
      if (bits[h] !== (h << 16) >>> 0)
        throw new Error(`bf16 0x${h.toString(16)} decoded to 0x${bits[h]!.toString(16)}`);
    }
  });

  it('float16 special values', () => {
    const halves = [0x3c00, 0x7bff, 0x0001, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0xc000];
    const bytes = new Uint8Array(new Uint16Array(halves).buffer);
    const d = [...decodeTensor(bytes, 'float16', 'little')];
    expect(d.slice(0, 6)).toEqual([1, 65504, 2 ** -24, 2 ** -14, Infinity, -Infinity]);
    expect(d[6]).toBeNaN();
    expect(Object.is(d[7], -0)).toBe(true);
    expect(d[8]).toBe(-2);
  });

  it('fp8_e4m3 (float8_e4m3fn): NaN at 0x7F/0xFF, ±448 max, no infinity, subnormals', () => {
    const d = [...decodeTensor(bytesFromHex('7fff7efe3801080077f8'), 'fp8_e4m3', 'little')];
    expect(d[0]).toBeNaN();
    expect(d[1]).toBeNaN();
    expect(d.slice(2)).toEqual([448, -448, 1, 2 ** -9, 2 ** -6, 0, 240, -(2 ** 8)]);
    // Every other pattern is finite: e4m3fn has no infinities.
    const all = decodeTensor(
      new Uint8Array(256).map((_, i) => i),
      'fp8_e4m3',
      'little',
    );
    expect([...all].filter((v) => !Number.isFinite(v))).toHaveLength(2);
  });

  it('fp8_e5m2: ±inf at 0x7C/0xFC, NaN above, max 57344, subnormals', () => {
    const d = [...decodeTensor(bytesFromHex('7cfc7d7e7fff7b3c0104'), 'fp8_e5m2', 'little')];
    expect(d.slice(0, 2)).toEqual([Infinity, -Infinity]);
    for (const v of d.slice(2, 6)) expect(v).toBeNaN();
    expect(d.slice(6)).toEqual([57344, 1, 2 ** -16, 2 ** -14]);
  });

  it('decodes from unaligned offsets (a Node Buffer view at an odd byteOffset)', () => {
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      for (const endianness of ['little', 'big'] as const) {
        const bytes = encodeEmbedDtype(values.subarray(0, 64), dtype, endianness);
        const host = new Uint8Array(bytes.length + 3);
        host.set(bytes, 3);
        const unaligned = host.subarray(3);
        expect(unaligned.byteOffset % 2).toBe(1);
        expect(decodeTensor(unaligned, dtype, endianness)).toEqual(decodeTensor(bytes, dtype, endianness));
      }
    }
    // What the spec warns about: Buffer.from(base64) views into Node's pool at arbitrary offsets.
    const b64 = Buffer.from(encodeEmbedDtype(values.subarray(0, 16), 'float32', 'little')).toString('base64');
    const pooled = Buffer.from(b64, 'base64');
    expect(decodeTensor(pooled, 'float32', 'little')).toEqual(decodeTensor(base64ToBytes(b64), 'float32', 'little'));
  });

  it('rejects a byte length that is not whole elements', () => {
    expect(() => decodeTensor(new Uint8Array(6), 'float32', 'little')).toThrow(/truncated binary tensor: 6 bytes/);
    expect(() => decodeTensor(new Uint8Array(3), 'bfloat16', 'big')).toThrow(PoolingResponseError);
  });
});

describe('decodeFloatMatrix', () => {
  it('builds a float32 matrix from [rows][dim] numbers', () => {
    const m = decodeFloatMatrix([
      [0.6, 0.8],
      [1, 0],
      [0.1, 0.2],
    ]);
    expect(m.rows).toBe(3);
    expect(m.dim).toBe(2);
    expect([...m.data]).toEqual([0.6, 0.8, 1, 0, 0.1, 0.2].map(Math.fround));
  });

  it('takes an empty item when dim is known, refuses it otherwise', () => {
    expect(decodeFloatMatrix([], { dim: 4 })).toMatchObject({ rows: 0, dim: 4 });
    expect(() => decodeFloatMatrix([])).toThrow(/width is not known/);
  });

  it('a flat [dim] vector is the embed task, with the fix in the message', () => {
    const err = catchError(() => decodeFloatMatrix([0.1, 0.2, 0.3], { label: 'item 0' }));
    expect(err).toBeInstanceOf(PoolingEmbedTaskError);
    expect((err as PoolingEmbedTaskError).code).toBe('E_POOLING_EMBED_TASK');
    expect((err as Error).message).toMatch(/--pooler-config\.task token_embed/);
  });

  it.each([
    ['ragged rows', [[1, 2], [3]], /row 1 has 1 values but row 0 has 2 \(ragged rows\)/],
    ['one level too deep', [[[1, 2]], [[3, 4]]], /wrong nesting/],
    ['a non-array item', 'AAAA', /expected \[tokens\]\[dim\]/],
    ['a string value', [[1, '2']], /row 0, column 1 is "2"/],
    ['a null value', [[1, null]], /column 1 is null/],
    ['a value beyond float32', [[1, 1e39]], /1e\+39, which is not a finite float32/],
    ['an empty row', [[]], /row 0 is empty/],
    ['a row that is not a list', [[1, 2], 3], /row 1 is 3/],
  ])('rejects %s', (_what, item, pattern) => {
    const err = catchError(() => decodeFloatMatrix(item));
    expect(err).toBeInstanceOf(PoolingResponseError);
    expect((err as Error).message).toMatch(pattern);
  });

  it('checks the width against a known dim', () => {
    expect(() => decodeFloatMatrix([[1, 2, 3]], { dim: 4 })).toThrow(/rows have 3 values but the embedding width is 4/);
  });
});

describe('decodeBase64Matrix', () => {
  it('reshapes by dim for every dtype', () => {
    const values = sampleValues(5 * 8);
    for (const dtype of EMBED_DTYPES) {
      const text = Buffer.from(encodeEmbedDtype(values, dtype, 'little')).toString('base64');
      const m = decodeBase64Matrix(text, { dim: 8, dtype, endianness: 'little' });
      expect(m.rows).toBe(5);
      expect(m.dim).toBe(8);
      expect(m.data).toEqual(decodeTensor(encodeEmbedDtype(values, dtype, 'little'), dtype, 'little'));
    }
  });

  it('rejects a byte length that is not whole rows, naming the numbers', () => {
    const text = Buffer.from(new Uint8Array(4 * 10)).toString('base64');
    expect(() => decodeBase64Matrix(text, { dim: 4, label: 'item 2' })).toThrow(
      /item 2: 40 bytes is not a whole number of rows of 4 float32 values \(16 bytes each\)/,
    );
  });

  it('rejects invalid base64 and non-string data with the item named', () => {
    expect(() => decodeBase64Matrix('AA*A', { dim: 1, label: 'item 3' })).toThrow(/item 3: invalid base64/);
    expect(() => decodeBase64Matrix([[1]], { dim: 1 })).toThrow(/expected a base64 string/);
  });

  it('rejects NaN / inf on the wire (fp8_e4m3 NaN, fp8_e5m2 inf)', () => {
    const nan = Buffer.from([0x38, 0x7f]).toString('base64');
    expect(() => decodeBase64Matrix(nan, { dim: 2, dtype: 'fp8_e4m3' })).toThrow(
      /non-finite value \(NaN\) at row 0, column 1/,
    );
    const inf = Buffer.from([0x3c, 0x3c, 0xfc, 0x3c]).toString('base64');
    expect(() => decodeBase64Matrix(inf, { dim: 2, dtype: 'fp8_e5m2' })).toThrow(/-Infinity\) at row 1, column 0/);
  });
});

describe('bytes and bytes_only bodies', () => {
  const dim = 4;
  const a = sampleValues(3 * dim, 1);
  const b = sampleValues(2 * dim, 2);

  function bytesResponse(dtype: EmbedDtype, endianness: Endianness): { body: Uint8Array; header: string } {
    const order = endianness === 'big' ? 'big' : 'little';
    const ea = encodeEmbedDtype(a, dtype, order);
    const eb = encodeEmbedDtype(b, dtype, order);
    const body = new Uint8Array(ea.length + eb.length);
    body.set(ea);
    body.set(eb, ea.length);
    // Python json.dumps separators, items in index order as vLLM writes them.
    const header = JSON.stringify({
      id: 'pool-1',
      created: 1,
      model: 'm',
      data: [
        { index: 0, embed_dtype: dtype, endianness, start: 0, end: ea.length, shape: [3, dim] },
        { index: 1, embed_dtype: dtype, endianness, start: ea.length, end: body.length, shape: [2, dim] },
      ],
      usage: { prompt_tokens: 5, total_tokens: 5 },
    })
      .replace(/,/g, ', ')
      .replace(/:/g, ': ');
    return { body, header };
  }

  it('decodes each item by its metadata, for every dtype and endianness', () => {
    for (const dtype of EMBED_DTYPES) {
      for (const endianness of ['little', 'big', 'native'] as Endianness[]) {
        const { body, header } = bytesResponse(dtype, endianness);
        const meta = parseBytesMetadata(header, body.length);
        expect(meta.usage).toEqual({ promptTokens: 5, totalTokens: 5 });
        const [ma, mb] = decodeBytesBody(body, meta);
        const order = endianness === 'big' ? 'big' : 'little';
        expect(ma).toMatchObject({ rows: 3, dim });
        expect(mb).toMatchObject({ rows: 2, dim });
        expect(ma!.data).toEqual(decodeTensor(encodeEmbedDtype(a, dtype, order), dtype, endianness));
        expect(mb!.data).toEqual(decodeTensor(encodeEmbedDtype(b, dtype, order), dtype, endianness));
      }
    }
  });

  it('puts items in index order whatever order the metadata lists them in', () => {
    const { body, header } = bytesResponse('float32', 'little');
    const meta = JSON.parse(header) as { data: unknown[] };
    meta.data.reverse();
    const [first] = decodeBytesBody(body, parseBytesMetadata(JSON.stringify(meta), body.length));
    expect(first!.rows).toBe(3);
  });

  it.each([
    ['an end past the body', (m: Meta) => (m.data[1]!.end += 16), /out of range for a 80-byte body/],
    ['a negative start', (m: Meta) => (m.data[0]!.start = -4), /out of range/],
    [
      'a range that does not match the shape',
      (m: Meta) => (m.data[0]!.shape = [4, 4]),
      /holds 48 bytes but shape \[4, 4\] of float32 needs 64/,
    ],
    ['a duplicate index', (m: Meta) => (m.data[1]!.index = 0), /expected each of 0..1 once/],
    ['an unknown dtype', (m: Meta) => (m.data[0]!.embed_dtype = 'int8'), /unknown embed_dtype "int8"/],
  ])('rejects metadata with %s', (_what, mutate, pattern) => {
    const { body, header } = bytesResponse('float32', 'little');
    const meta = JSON.parse(header) as Meta;
    mutate(meta);
    expect(() => parseBytesMetadata(JSON.stringify(meta), body.length)).toThrow(pattern);
  });

  it('rejects a missing or non-JSON metadata header', () => {
    expect(() => parseBytesMetadata(null, 10)).toThrow(/without its metadata header/);
    expect(() => parseBytesMetadata('{"data": [', 10)).toThrow(/not JSON/);
  });

  it('rejects a truncated body (the metadata then points past its end)', () => {
    const { body, header } = bytesResponse('float16', 'little');
    expect(() => parseBytesMetadata(header, body.length - 2)).toThrow(/out of range/);
  });

  it('a [dim] shape is the embed task', () => {
    const body = new Uint8Array(16);
    const header = JSON.stringify({
      data: [{ index: 0, embed_dtype: 'float32', endianness: 'little', start: 0, end: 16, shape: [4] }],
    });
    expect(() => decodeBytesBody(body, parseBytesMetadata(header, 16))).toThrow(PoolingEmbedTaskError);
  });

  it('bytes_only splits by known row counts and refuses counts that do not add up', () => {
    const { body } = bytesResponse('bfloat16', 'little');
    const [ma, mb] = splitBytesOnlyBody(body, { rowCounts: [3, 2], dim, dtype: 'bfloat16', endianness: 'little' });
    expect(ma).toMatchObject({ rows: 3, dim });
    expect(mb!.data).toEqual(decodeTensor(encodeEmbedDtype(b, 'bfloat16', 'little'), 'bfloat16', 'little'));
    expect(() => splitBytesOnlyBody(body, { rowCounts: [3, 3], dim, dtype: 'bfloat16', endianness: 'little' })).toThrow(
      /40 bytes but 2 items of 6 rows × 4 bfloat16 need 48/,
    );
  });
});

type Meta = {
  data: { index: number; start: number; end: number; shape: number[]; embed_dtype: string; endianness: string }[];
};

function catchError(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}
