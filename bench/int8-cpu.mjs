// int8 storage against f32 on the CPU backend, in one process (issue 16): the same documents resident twice, once
// per precision, the same query scored against each in alternating rounds so that drift on a shared machine hits
// both; the ratio is f32 p50 / int8 p50 per round and the median over rounds is the headline. Also per workload:
// int8's top-10 overlap with f32 and its largest |score − f32 score| over a few queries, and the resident bytes per
// value of each (int8: 1 byte per value, padded to 8 per row, plus a 4-byte scale per row).
//
//   npm run bench:int8 -- [--rounds 5] [--runs 9] [--threads N] [--workloads goal,W1,d1024] [--ts]
//
// Workloads (seeded, unit-norm rows): goal = issue 16's (1,000 docs × 100 tokens × 128, Lq 32), W1 = 1,000 × 300 ×
// 128, d1024 = 300 × 64 × 1024 (bge-m3's width); Lq 32 throughout. `--ts` adds the TypeScript kernels (slow).
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { createScorer } from '../dist/node.js';
import { seededRandom } from '../dist/core/seeded-random.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '9' },
    threads: { type: 'string', default: String(availableParallelism()) },
    workloads: { type: 'string', default: 'goal,W1,d1024' },
    ts: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);
const RUNS = Number(args.runs);
const THREADS = Number(args.threads);

const WORKLOADS = {
  goal: { docs: 1000, rows: 100, dim: 128 },
  W1: { docs: 1000, rows: 300, dim: 128 },
  d1024: { docs: 300, rows: 64, dim: 1024 },
};
const LQ = 32;

function randomUnitRows(random, rows, dim) {
  const data = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let c = 0; c < dim; c++) {
      const v = random() * 2 - 1;
      data[r * dim + c] = v;
      sq += v * v;
    }
    const inv = 1 / Math.sqrt(sq);
    for (let c = 0; c < dim; c++) data[r * dim + c] *= inv;
  }
  return { data, rows, dim };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function p50(scorer, query, corpus) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await scorer.score([query], corpus);
    times.push(performance.now() - t);
  }
  return median(times);
}

function top10(scores) {
  return Array.from(scores.keys())
    .sort((a, b) => scores[b] - scores[a] || a - b)
    .slice(0, 10);
}

const configs = [
  { label: 'wasm-simd, 1 thread', cpu: { threads: 1 } },
  { label: `wasm-simd, ${THREADS} threads`, cpu: { threads: THREADS } },
  ...(args.ts ? [{ label: 'typescript', cpu: { kernel: 'typescript' } }] : []),
];

console.log(`int8 vs f32 on the CPU, ${new Date().toISOString().slice(0, 10)}, node ${process.version}`);
for (const name of args.workloads.split(',')) {
  const spec = WORKLOADS[name];
  if (spec === undefined) throw new Error(`unknown workload ${name}: ${Object.keys(WORKLOADS).join(', ')}`);
  const random = seededRandom(16);
  const docs = Array.from({ length: spec.docs }, () => randomUnitRows(random, spec.rows, spec.dim));
  const queries = Array.from({ length: 8 }, () => randomUnitRows(random, LQ, spec.dim));
  const values = spec.docs * spec.rows * spec.dim;
  const int8Bytes = spec.docs * spec.rows * (Math.ceil(spec.dim / 8) * 8 + 4);
  const f32Bytes = spec.docs * spec.rows * Math.ceil(spec.dim / 4) * 16;
  console.log(
    `\n${name}: ${spec.docs} docs × ${spec.rows} tokens × ${spec.dim}, Lq ${LQ}; resident bytes per value: ` +
      `int8 ${(int8Bytes / values).toFixed(3)}, f32 ${(f32Bytes / values).toFixed(3)} (×${(int8Bytes / f32Bytes).toFixed(3)})`,
  );
  for (const config of configs) {
    const f32 = await createScorer({ backend: 'cpu', cpu: config.cpu });
    const int8 = await createScorer({ backend: 'cpu', precision: 'int8', cpu: config.cpu });
    const [a, b] = [await f32.upload(docs), await int8.upload(docs)];
    // Accuracy against f32 over 8 queries.
    const [exact, quantized] = [await f32.score(queries, a), await int8.score(queries, b)];
    let worstError = 0;
    let worstOverlap = 10;
    for (let i = 0; i < queries.length; i++) {
      const t = top10(exact[i]);
      worstOverlap = Math.min(worstOverlap, top10(quantized[i]).filter((d) => t.includes(d)).length);
      for (let j = 0; j < spec.docs; j++) worstError = Math.max(worstError, Math.abs(quantized[i][j] - exact[i][j]));
    }
    // Speed: warm both, then alternate.
    await p50(f32, queries[0], a);
    await p50(int8, queries[0], b);
    const ratios = [];
    const f32Times = [];
    const int8Times = [];
    for (let r = 0; r < ROUNDS; r++) {
      const tf = await p50(f32, queries[0], a);
      const ti = await p50(int8, queries[0], b);
      f32Times.push(tf);
      int8Times.push(ti);
      ratios.push(tf / ti);
    }
    console.log(
      `  ${config.label.padEnd(24)} f32 p50 ${median(f32Times).toFixed(2).padStart(8)} ms   int8 p50 ` +
        `${median(int8Times).toFixed(2).padStart(8)} ms   int8 ×${median(ratios).toFixed(2)} faster ` +
        `(rounds ${ratios.map((x) => x.toFixed(2)).join(' ')})   top-10 overlap ≥ ${worstOverlap}/10, ` +
        `max |int8 − f32| ${worstError.toFixed(4)}`,
    );
    a.destroy();
    b.destroy();
    f32.destroy();
    int8.destroy();
  }
}
