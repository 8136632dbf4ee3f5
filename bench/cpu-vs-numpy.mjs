// CPU MaxSim against numpy on the same data, in one invocation: W1 (Lq 32, Ld 300, d 128, 1,000 docs) and
// W3 (Lq 32, Ld uniform 128–1536, d 128, 1,000 docs), seeded random L2-normalised fp32.
//
// numpy's MaxSim (a python3 subprocess given the same bytes over stdin): one GEMM `Q @ D.T` over the
// packed documents, `np.maximum.reduceat` over each document's tokens, then a sum. The library: the
// typescript kernel, wasm-simd on 1 thread, and wasm-simd on N worker threads, each scoring a resident corpus
// (upload not timed; numpy's documents are likewise loaded before timing). Rounds alternate numpy and the
// library so that drift on a shared machine hits both; the ratio is numpy p50 / library p50 per round, and
// the median over rounds is the headline.
//
//   npm run bench:cpu -- [--rounds 3] [--runs 7] [--workloads W1,W3] [--ts-runs 5] [--no-ts]
//
// OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset in numpy's environment only: some machines set them to
// dodge old OpenBLAS bugs, and they slow numpy down. The OpenBLAS core numpy picked is printed.
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { runNumpyReference } from '../dist/bench/numpy.js';
import { createScorer } from '../dist/node.js';
import { seededRandom } from '../dist/core/seeded-random.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '7' },
    'ts-runs': { type: 'string', default: '5' },
    'no-ts': { type: 'boolean', default: false },
    workloads: { type: 'string', default: 'W1,W3' },
    threads: { type: 'string', default: String(availableParallelism()) },
  },
});
const ROUNDS = Number(args.rounds);
const RUNS = Number(args.runs);
const TS_RUNS = Number(args['ts-runs']);
const THREADS = Number(args.threads);

const WORKLOADS = {
  W1: { name: 'W1 colbert-1k', lq: 32, dim: 128, docs: 1000, rows: () => 300 },
  W3: {
    name: 'W3 ragged-1k',
    lq: 32,
    dim: 128,
    docs: 1000,
    rows: (random) => 128 + Math.floor(random() * (1536 - 128 + 1)),
  },
};

function randomUnitRows(random, rows, dim) {
  const data = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let c = 0; c < dim; c++) {
      // Sum of uniforms: cheap, roughly Gaussian, so directions are spread like real embeddings.
      const v = random() + random() + random() - 1.5;
      data[r * dim + c] = v;
      sq += v * v;
    }
    const inv = 1 / Math.sqrt(sq);
    for (let c = 0; c < dim; c++) data[r * dim + c] *= inv;
  }
  return data;
}

function makeWorkload(spec, seed) {
  const random = seededRandom(seed);
  const docs = [];
  for (let i = 0; i < spec.docs; i++) {
    const rows = spec.rows(random);
    docs.push({ data: randomUnitRows(random, rows, spec.dim), rows, dim: spec.dim });
  }
  const query = { data: randomUnitRows(random, spec.lq, spec.dim), rows: spec.lq, dim: spec.dim };
  return { docs, query };
}

// numpy's side is the benchmark harness's numpy reference (src/bench/numpy.ts): the same GEMM + reduceat + sum,
// the data over stdin, OPENBLAS_CORETYPE/L2_SIZE removed from its environment, the OpenBLAS core reported.
async function runNumpy(packed, query, runs, spec) {
  const all = Array.from({ length: packed.count }, (_, i) => i);
  const run = await runNumpyReference(
    { spec: { lq: spec.lq }, packed, queries: [query] },
    { sizes: [packed.count], runs, warmup: 2, minRuns: runs, budgetS: 1e9, sampleDocs: () => all, sampleQueries: [0] },
  );
  const size = run.sizes[0];
  const core = `OpenBLAS core ${run.blas.coretype ?? '?'} (${run.blas.summary}${run.blas.threads === null ? '' : `, ${run.blas.threads} threads`})`;
  return { times: size.timesMs.map((ms) => ms / 1000), scores: size.sampleScores[0], core, numpy: run.numpyVersion };
}

async function timeScorer(scorer, corpus, query, runs) {
  await scorer.score([query], corpus); // warm-up: tier-up to optimised code, worker start
  await scorer.score([query], corpus);
  const times = [];
  let scores;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    [scores] = await scorer.score([query], corpus);
    times.push((performance.now() - t) / 1000);
  }
  return { times, scores };
}

const p50 = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const median = p50;

function row(label, times, flops, docs, numpyP50) {
  const t = p50(times);
  return (
    `  ${label.padEnd(26)} p50 ${(t * 1000).toFixed(1).padStart(8)} ms  ` +
    `${(flops / t / 1e9).toFixed(1).padStart(6)} GFLOP/s  ${Math.round(docs / t)
      .toLocaleString('en-US')
      .padStart(9)} docs/s` +
    (numpyP50 === undefined ? '' : `  ratio vs numpy ${(numpyP50 / t).toFixed(2)}`)
  );
}

console.log(
  `cpu-vs-numpy: ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} × ${availableParallelism()}`,
);
console.log(
  `rounds ${ROUNDS}, ${RUNS} timed runs each (typescript: ${TS_RUNS}) after 2 warm-up runs; wasm-simd threads: ${THREADS}`,
);

for (const key of args.workloads.split(',')) {
  const spec = WORKLOADS[key];
  if (spec === undefined) throw new Error(`unknown workload ${key} (W1, W3)`);
  const { docs, query } = makeWorkload(spec, key === 'W1' ? 1 : 3);
  const totalRows = docs.reduce((n, d) => n + d.rows, 0);
  const flops = 2 * spec.lq * totalRows * spec.dim;
  const offsets = new Uint32Array(docs.length + 1);
  const packed = new Float32Array(totalRows * spec.dim);
  docs.forEach((d, i) => {
    packed.set(d.data, offsets[i] * spec.dim);
    offsets[i + 1] = offsets[i] + d.rows;
  });
  const packedDocs = { data: packed, rowOffsets: offsets, count: docs.length, dim: spec.dim, totalRows };

  console.log(
    `\n${spec.name}: Lq ${spec.lq}, d ${spec.dim}, ${docs.length} docs, ${totalRows.toLocaleString('en-US')} tokens, ` +
      `${(flops / 1e9).toFixed(2)} GFLOP per query, ${(packed.byteLength / 1e6).toFixed(1)} MB fp32`,
  );
  const one = await createScorer({ backend: 'cpu', cpu: { threads: 1 } });
  const many = await createScorer({ backend: 'cpu', cpu: { threads: THREADS } });
  const corpusOne = await one.upload(docs);
  const corpusMany = await many.upload(docs);
  const ratios = { one: [], many: [] };
  const all = { numpy: [], one: [], many: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const np = await runNumpy(packedDocs, query, RUNS, spec);
    if (round === 0) console.log(`  numpy ${np.numpy}, ${np.core}`);
    const rOne = await timeScorer(one, corpusOne, query, RUNS);
    const rMany = await timeScorer(many, corpusMany, query, RUNS);
    const npP50 = p50(np.times);
    ratios.one.push(npP50 / p50(rOne.times));
    ratios.many.push(npP50 / p50(rMany.times));
    all.numpy.push(...np.times);
    all.one.push(...rOne.times);
    all.many.push(...rMany.times);
    let worst = 0;
    for (let i = 0; i < np.scores.length; i++) {
      const s = np.scores[i];
      worst = Math.max(worst, Math.abs(s - rMany.scores[i]) / Math.max(1e-30, Math.abs(s)));
    }
    console.log(
      `  round ${round + 1}: numpy ${(npP50 * 1000).toFixed(1)} ms, ${one.info.summary} ${(p50(rOne.times) * 1000).toFixed(1)} ms, ` +
        `${many.info.summary} ${(p50(rMany.times) * 1000).toFixed(1)} ms; max rel diff vs numpy ${worst.toExponential(1)}`,
    );
  }
  const npAll = p50(all.numpy);
  console.log(row('numpy (GEMM+reduceat+sum)', all.numpy, flops, docs.length));
  console.log(row(one.info.summary, all.one, flops, docs.length, npAll));
  console.log(row(many.info.summary, all.many, flops, docs.length, npAll));
  if (!args['no-ts']) {
    const ts = await createScorer({ backend: 'cpu', cpu: { kernel: 'typescript' } });
    const corpusTs = await ts.upload(docs);
    const rTs = await timeScorer(ts, corpusTs, query, TS_RUNS);
    console.log(row(ts.info.summary, rTs.times, flops, docs.length, npAll));
    ts.destroy();
  }
  console.log(
    `  median over rounds of numpy p50 / library p50: 1 thread ${median(ratios.one).toFixed(2)} ` +
      `(${ratios.one.map((r) => r.toFixed(2)).join(', ')}), ${THREADS} threads ${median(ratios.many).toFixed(2)} ` +
      `(${ratios.many.map((r) => r.toFixed(2)).join(', ')})`,
  );
  one.destroy();
  many.destroy();
}
