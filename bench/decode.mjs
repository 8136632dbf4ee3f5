// Decode throughput of vLLM /pooling payloads: float JSON vs base64 vs bytes, on a W1-sized corpus
// (1,000 docs × 300 tokens × 128 dim, fp32 = 153.6 MB decoded), cut into requests of 32 docs as the client
// sends them. Measures what the client does after the body has arrived: JSON.parse + decode for the JSON
// encodings, metadata parse + decode for bytes. Plain .mjs on the built dist/ (Node 20 cannot strip types).
//
//   npm run bench:decode                      # defaults
//   node --expose-gc bench/decode.mjs --docs 1000 --float-docs 1000 --runs 5
//   node --expose-gc bench/decode.mjs --json decode.json   # the rows as JSON too (webgpu-maxsim bench --ingest)
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { encodeEmbedDtype } from '../dist/pooling/encode.js';
import { nodeBase64Decoder } from '../dist/node/pooling-client.js';
import { decodeBase64Matrix, decodeBytesBody, decodeFloatMatrix, parseBytesMetadata } from '../dist/pooling/decode.js';
import { seededRandom } from '../dist/core/seeded-random.js';

const { values: args } = parseArgs({
  options: {
    docs: { type: 'string', default: '1000' },
    tokens: { type: 'string', default: '300' },
    dim: { type: 'string', default: '128' },
    batch: { type: 'string', default: '32' },
    // Float JSON of all of W1 is ~0.8 GB of text; by default it is measured on a slice (throughput is per byte).
    'float-docs': { type: 'string', default: '200' },
    runs: { type: 'string', default: '5' },
    // Also write the rows as JSON (the `bench --ingest` harness reads them from here).
    json: { type: 'string' },
  },
});
const DOCS = Number(args.docs);
const TOKENS = Number(args.tokens);
const DIM = Number(args.dim);
const BATCH = Number(args.batch);
const FLOAT_DOCS = Math.min(DOCS, Number(args['float-docs']));
const RUNS = Number(args.runs);

/** One L2-normalised [TOKENS, DIM] float32 matrix per document. */
function makeCorpus(count) {
  const rand = seededRandom(42);
  const docs = [];
  for (let d = 0; d < count; d++) {
    const data = new Float32Array(TOKENS * DIM);
    for (let r = 0; r < TOKENS; r++) {
      let sq = 0;
      for (let c = 0; c < DIM; c++) {
        const v = rand() - 0.5;
        data[r * DIM + c] = v;
        sq += v * v;
      }
      const inv = 1 / Math.sqrt(sq);
      for (let c = 0; c < DIM; c++) data[r * DIM + c] *= inv;
    }
    docs.push(data);
  }
  return docs;
}

function batches(docs) {
  const out = [];
  for (let i = 0; i < docs.length; i += BATCH) out.push(docs.slice(i, i + BATCH));
  return out;
}

function floatJsonPayload(batch) {
  // JSON.stringify of float32 values widened to double prints what Python's json does for tensor.tolist():
  // the shortest double repr, ~17 significant digits.
  const data = batch.map((m, index) => {
    const rows = [];
    for (let r = 0; r < TOKENS; r++) rows.push(Array.from(m.subarray(r * DIM, (r + 1) * DIM)));
    return { index, object: 'pooling', data: rows };
  });
  return JSON.stringify({ id: 'pool-bench', object: 'list', created: 0, model: 'bench', data, usage: {} });
}

function base64Payload(batch, dtype) {
  const data = batch.map((m, index) => ({
    index,
    object: 'pooling',
    data: Buffer.from(encodeEmbedDtype(m, dtype, 'little')).toString('base64'),
  }));
  return JSON.stringify({ id: 'pool-bench', object: 'list', created: 0, model: 'bench', data, usage: {} });
}

function bytesPayload(batch, dtype) {
  const parts = batch.map((m) => encodeEmbedDtype(m, dtype, 'little'));
  const body = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  const items = [];
  let offset = 0;
  parts.forEach((p, index) => {
    body.set(p, offset);
    items.push({
      index,
      embed_dtype: dtype,
      endianness: 'little',
      start: offset,
      end: offset + p.length,
      shape: [TOKENS, DIM],
    });
    offset += p.length;
  });
  return { body, header: JSON.stringify({ id: 'pool-bench', created: 0, model: 'bench', data: items, usage: {} }) };
}

const decoders = {
  float: (text) => JSON.parse(text).data.map((item) => decodeFloatMatrix(item.data, { dim: DIM })),
  base64: (dtype, decodeBase64) => (text) =>
    JSON.parse(text).data.map((item) =>
      decodeBase64Matrix(item.data, {
        dim: DIM,
        dtype,
        endianness: 'little',
        ...(decodeBase64 ? { decodeBase64 } : {}),
      }),
    ),
  bytes: ({ body, header }) => decodeBytesBody(body, parseBytesMetadata(header, body.byteLength), { dim: DIM }),
};

function memNow() {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Median seconds over RUNS (after one warm-up) and the peak extra memory of one run. */
function measure(payloads, decode) {
  let sink = 0;
  const once = () => {
    let peak = 0;
    const base = memNow();
    const kept = [];
    const t0 = performance.now();
    for (const p of payloads) {
      const ms = decode(p);
      kept.push(ms);
      peak = Math.max(peak, memNow() - base);
    }
    const t = (performance.now() - t0) / 1000;
    for (const ms of kept) for (const m of ms) sink += m.data[0];
    return { t, peak };
  };
  once();
  const times = [];
  let peak = 0;
  for (let r = 0; r < RUNS; r++) {
    globalThis.gc?.();
    const { t, peak: p } = once();
    times.push(t);
    peak = Math.max(peak, p);
  }
  times.sort((a, b) => a - b);
  if (Number.isNaN(sink)) console.log('(sink)');
  return { median: times[Math.floor(times.length / 2)], peak };
}

const wireBytes = (payloads) =>
  payloads.reduce((a, p) => a + (typeof p === 'string' ? p.length : p.body.byteLength + p.header.length), 0);

console.log(
  `decode bench: ${DOCS} docs × ${TOKENS} tokens × ${DIM} dim, ${BATCH} docs per response, median of ${RUNS} runs`,
);
console.log(
  `node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${new Date().toISOString().slice(0, 10)}`,
);
if (globalThis.gc === undefined) console.log('(run with --expose-gc for steadier memory figures)');

const corpus = makeCorpus(DOCS);
const all = batches(corpus);
const floatSlice = batches(corpus.slice(0, FLOAT_DOCS));
const cases = [
  ['float JSON', floatSlice.map(floatJsonPayload), decoders.float, FLOAT_DOCS],
  ['base64 float32 (portable)', all.map((b) => base64Payload(b, 'float32')), decoders.base64('float32'), DOCS],
  [
    'base64 float32 (node)',
    all.map((b) => base64Payload(b, 'float32')),
    decoders.base64('float32', nodeBase64Decoder),
    DOCS,
  ],
  ['base64 float16 (portable)', all.map((b) => base64Payload(b, 'float16')), decoders.base64('float16'), DOCS],
  [
    'base64 float16 (node)',
    all.map((b) => base64Payload(b, 'float16')),
    decoders.base64('float16', nodeBase64Decoder),
    DOCS,
  ],
  ['bytes float32', all.map((b) => bytesPayload(b, 'float32')), decoders.bytes, DOCS],
  ['bytes float16', all.map((b) => bytesPayload(b, 'float16')), decoders.bytes, DOCS],
  ['bytes bfloat16', all.map((b) => bytesPayload(b, 'bfloat16')), decoders.bytes, DOCS],
  ['bytes fp8_e4m3', all.map((b) => bytesPayload(b, 'fp8_e4m3')), decoders.bytes, DOCS],
];

const rows = [];
let floatRate;
for (const [name, payloads, decode, docs] of cases) {
  const decoded = docs * TOKENS * DIM * 4;
  const { median, peak } = measure(payloads, decode);
  const rate = decoded / median / 1e9;
  if (name === 'float JSON') floatRate = rate;
  rows.push({
    encoding: name,
    docs,
    'wire MB': (wireBytes(payloads) / 1e6).toFixed(1),
    'decoded MB': (decoded / 1e6).toFixed(1),
    'time ms': (median * 1000).toFixed(1),
    'decoded GB/s': rate.toFixed(3),
    'wire GB/s': (wireBytes(payloads) / median / 1e9).toFixed(3),
    'vs float JSON': floatRate === undefined ? '' : `${(rate / floatRate).toFixed(1)}×`,
    'peak mem / decoded': (peak / decoded).toFixed(2),
  });
}
console.table(rows);
console.log(
  'decoded GB/s = float32 tensor bytes produced per second (the common unit across encodings); wire GB/s = ' +
    'response bytes consumed per second. Peak mem counts heap + ArrayBuffers above the pre-decode baseline, ' +
    'decoded matrices included.',
);
if (args.json !== undefined) {
  const settings = {
    docs: DOCS,
    tokens: TOKENS,
    dim: DIM,
    'docs per response': BATCH,
    'float JSON docs': FLOAT_DOCS,
    runs: RUNS,
    'expose-gc': globalThis.gc !== undefined,
  };
  writeFileSync(args.json, `${JSON.stringify({ settings, rows }, null, 2)}\n`);
}
