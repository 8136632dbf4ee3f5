// Peak memory of writing and reading a large corpus file (default 1 GiB of f32 embeddings: 2^21 rows × 128),
// each step in its own Node process so every peak (VmHWM, the resident high-water mark) belongs to that step.
// Plain .mjs on the built dist/ (npm run build first).
//
//   node bench/corpus-memory.mjs                      # 1 GiB f32, plus the f16 and int8 files of the same rows
//   node bench/corpus-memory.mjs --rows 262144        # smaller (128 MiB), for a quick look
//   node bench/corpus-memory.mjs --dir /tmp/x --keep  # where the files go (default: a temporary directory)
import { execFileSync } from 'node:child_process';
import { closeSync, createReadStream, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: String(2 ** 21) },
    dim: { type: 'string', default: '128' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    // Internal: run one step in this process and print its figures as JSON.
    step: { type: 'string' },
    dtype: { type: 'string' },
    file: { type: 'string' },
  },
});
const ROWS = Number(args.rows);
const DIM = Number(args.dim);
const MiB = 2 ** 20;

/** Resident high-water mark of this process, in MiB (Linux). */
const peakMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;

/** ~100-row documents over one Float32Array of `ROWS × DIM` values in [-1, 1), each a view (no copies). */
function corpus() {
  const data = new Float32Array(ROWS * DIM);
  let x = 0x9e3779b9;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = (x >>> 0) / 2 ** 31 - 1;
  }
  const docs = [];
  for (let r = 0, i = 0; r < ROWS; i++) {
    const rows = Math.min(ROWS - r, 60 + ((i * 37) % 81)); // 60..140 rows
    docs.push({ data: data.subarray(r * DIM, (r + rows) * DIM), rows, dim: DIM });
    r += rows;
  }
  return docs;
}

async function step() {
  const lib = await import('../dist/index.js');
  const t0 = performance.now();
  const out = { step: args.step, dtype: args.dtype };
  if (args.step === 'baseline') {
    // Node and the library loaded, nothing else: what every other step's peak includes.
  } else if (args.step === 'write-chunks') {
    const docs = corpus();
    const base = peakMiB();
    const fd = openSync(args.file, 'w');
    for (const chunk of lib.writeCorpusFileChunks(docs, { dtype: args.dtype })) writeSync(fd, chunk);
    closeSync(fd);
    Object.assign(out, { documents: docs.length, inputMiB: (ROWS * DIM * 4) / MiB, peakBeforeWriteMiB: base });
  } else if (args.step === 'read-bytes') {
    const bytes = readFileSync(args.file);
    const file = lib.readCorpusFile(bytes);
    Object.assign(out, { documents: file.documents.length, zeroCopy: file.data.buffer === bytes.buffer });
  } else if (args.step === 'read-stream') {
    const file = await lib.readCorpusFileStream(createReadStream(args.file, { highWaterMark: 4 * MiB }));
    Object.assign(out, { documents: file.documents.length });
  }
  out.seconds = (performance.now() - t0) / 1000;
  out.peakMiB = peakMiB();
  console.log(JSON.stringify(out));
}

function main() {
  const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'maxsim-corpus-memory-'));
  const self = fileURLToPath(import.meta.url);
  const run = (stepName, dtype, file) =>
    JSON.parse(
      execFileSync(
        process.execPath,
        [self, '--step', stepName, '--dtype', dtype, '--file', file, '--rows', String(ROWS), '--dim', String(DIM)],
        { encoding: 'utf8', maxBuffer: MiB },
      ),
    );
  const baseline = run('baseline', 'f32', '').peakMiB;
  console.log(
    `node baseline peak: ${baseline.toFixed(0)} MiB; decoded corpus: ${((ROWS * DIM * 4) / MiB).toFixed(0)} MiB`,
  );
  const decoded = (ROWS * DIM * 4) / MiB;
  console.log('| file | size MiB | step | peak RSS MiB | above baseline MiB | ÷ decoded size | s |');
  console.log('| ---- | -------- | ---- | ------------ | ------------------ | -------------- | - |');
  try {
    for (const dtype of ['f32', 'f16', 'int8']) {
      const file = join(dir, `corpus-${dtype}.safetensors`);
      const rows = [run('write-chunks', dtype, file)];
      const size = statSync(file).size / MiB;
      rows.push(run('read-bytes', dtype, file), run('read-stream', dtype, file));
      for (const r of rows) {
        const what = r.step + (r.zeroCopy ? ' (zero-copy view)' : '');
        const above = r.peakMiB - baseline;
        console.log(
          `| ${dtype} | ${size.toFixed(0)} | ${what} | ${r.peakMiB.toFixed(0)} | ${above.toFixed(0)} | ` +
            `${(above / decoded).toFixed(2)} | ${r.seconds.toFixed(1)} |`,
        );
      }
      rmSync(file);
    }
  } finally {
    if (!args.keep && args.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

if (args.step !== undefined) await step();
else main();
