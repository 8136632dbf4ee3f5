// Peak RSS added by scorer.upload() on the CPU backend (issue 12, item 4): how many bytes of memory a corpus costs
// while it is made resident, against the corpus's own float32 bytes. The documents are made first (they are the
// caller's, not the upload's), then the kernel's high-water mark (VmHWM) is reset through /proc/self/clear_refs, the
// corpus is uploaded, and VmHWM read again: worker threads share the process, so their memory counts too. Linux only.
//
// `--precision int8` measures int8 storage (1 byte per value and a 4-byte scale per row resident; the workers
// receive float32 chunks and quantize them).
//
//   node --expose-gc bench/upload-memory.mjs [--docs 5000] [--rows 64] [--dim 1024] [--threads 2] [--precision f32]
//     [--entry dist/node.js]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    docs: { type: 'string', default: '5000' },
    rows: { type: 'string', default: '64' },
    dim: { type: 'string', default: '1024' },
    threads: { type: 'string', default: '2' },
    precision: { type: 'string', default: 'f32' },
    entry: { type: 'string', default: 'dist/node.js' },
  },
});
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const [docs, rows, dim, threads] = ['docs', 'rows', 'dim', 'threads'].map((k) => Number(args[k]));

const status = (field) =>
  Number(/(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8').split(`${field}:`)[1])[1]) * 1024;
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

const { createScorer } = await import(new URL(`../${args.entry}`, import.meta.url).href);
const scorer = await createScorer({ backend: 'cpu', precision: args.precision, cpu: { threads } });
// Start the workers on a small corpus first, so their own start-up memory is not counted as the upload's.
const warm = await scorer.upload(
  Array.from({ length: threads * 4 }, () => ({ data: new Float32Array(64 * 1024).fill(0.5), rows: 64, dim: 1024 })),
);
warm.destroy();

const corpus = Array.from({ length: docs }, (_, i) => {
  const data = new Float32Array(rows * dim);
  for (let j = 0; j < data.length; j += 97) data[j] = ((i + j) % 13) / 13;
  return { data, rows, dim };
});
const corpusBytes = docs * rows * dim * 4;
await settle();
const before = status('VmRSS');
writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
const started = performance.now();
const resident = await scorer.upload(corpus);
const uploadMs = performance.now() - started;
const peak = status('VmHWM');
await settle();
const after = status('VmRSS');

const query = { data: new Float32Array(8 * dim).fill(0.01), rows: 8, dim };
const [scores] = await scorer.score([query], resident);
console.log(`${scorer.info.summary}; ${docs} docs × ${rows} tokens × ${dim} float32 = ${mib(corpusBytes)}`);
console.log(`upload: ${(uploadMs / 1000).toFixed(2)} s; ${scores.length} scores`);
console.log(
  `peak added RSS ${mib(peak - before)} (×${((peak - before) / corpusBytes).toFixed(2)} the corpus); ` +
    `settled ${mib(after - before)} (×${((after - before) / corpusBytes).toFixed(2)})`,
);
resident.destroy();
scorer.destroy();
