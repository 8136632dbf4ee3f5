// A stored W1-sized corpus (1,000 docs × 300 tokens × 128, the W1 workload's own seeded documents), searched in
// one run by: the resident corpus on our CPU path, WebGPU on whatever adapter Dawn finds (named; on a machine
// without a GPU that is a software rasteriser), numpy on the same (decoded) documents, and LanceDB's own
// multivector search on the same table; with recall against exact search. Then the first stage: recall@10 of
// pooled-vector search (flat and IVF) after the exact rerank, on W1 (random: no structure, the worst case) and
// on a clustered corpus of the same shape. Also what storing costs: add, disk, load (read, decode, upload), RSS.
//
//   npm run build && node bench/store.mjs [--precision f16,f32] [--queries 10] [--lance-queries 3]
//        [--webgpu-queries 2] [--no-webgpu] [--mv-index] [--json bench/results/store.json]
//
// Not a test: it takes minutes. Machines here are shared, so read ratios in one run rather than absolute times.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runNumpyReference } from '../dist/bench/numpy.js';
import { generateWorkload, packedDocument, WORKLOADS } from '../dist/bench/workloads.js';
import { seededRandom } from '../dist/core/seeded-random.js';
import { createScorer } from '../dist/node.js';
import { openStore } from '../dist/store.js';

const { values: args } = parseArgs({
  options: {
    precision: { type: 'string', default: 'f16,f32' },
    queries: { type: 'string', default: '10' },
    'lance-queries': { type: 'string', default: '3' },
    'webgpu-queries': { type: 'string', default: '2' },
    'no-webgpu': { type: 'boolean', default: false },
    'mv-index': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const NQ = Number(args.queries);
const NL = Number(args['lance-queries']);
const NW = Number(args['webgpu-queries']);
const K = 10;
const out = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: `${cpus()[0]?.model} × ${availableParallelism()}`,
};
const log = (s = '') => console.log(s);
const ms = (x) => `${x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0)} ms`;
const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const p50 = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const du = (dir) => Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);

log(
  `store bench ${out.date.slice(0, 10)}, Node ${process.version}, ${out.cpu}, load ${execFileSync('cat', ['/proc/loadavg']).toString().trim()}`,
);

// ---- data: W1's documents and queries; a clustered corpus of the same shape for first-stage recall.
const w1 = generateWorkload(WORKLOADS.W1, {});
const W1_DOCS = Array.from({ length: w1.packed.count }, (_, i) => packedDocument(w1.packed, i));
const QUERIES = Array.from({ length: NQ }, (_, i) => {
  const data = new Float32Array(32 * 128);
  fillUnit(seededRandom(1000 + i), data, 32, 128);
  return { data, rows: 32, dim: 128 };
});
function fillUnit(random, out, rows, dim, center, weight = 0) {
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let c = 0; c < dim; c++) {
      const v = random() * 2 - 1 + (center === undefined ? 0 : weight * center[c]);
      out[r * dim + c] = v;
      sq += v * v;
    }
    const inv = 1 / Math.sqrt(sq);
    for (let c = 0; c < dim; c++) out[r * dim + c] *= inv;
  }
}
/** 1,000 docs × 300 × 128 around 40 topics: a third of each document's tokens lean to its topic's centre. */
function clustered() {
  const random = seededRandom(77);
  const centers = Array.from({ length: 40 }, () => {
    const c = new Float32Array(128);
    fillUnit(random, c, 1, 128);
    return c;
  });
  const make = (rows, topic) => {
    const data = new Float32Array(rows * 128);
    for (let r = 0; r < rows; r++) {
      const row = data.subarray(r * 128, (r + 1) * 128);
      fillUnit(random, row, 1, 128, random() < 1 / 3 ? centers[topic] : undefined, 6);
    }
    return { data, rows, dim: 128 };
  };
  const docs = Array.from({ length: 1000 }, (_, i) => make(300, i % 40));
  const queries = Array.from({ length: NQ }, (_, i) => make(32, (i * 7) % 40));
  return { docs, queries };
}

const root = mkdtempSync(join(tmpdir(), 'maxsim-store-bench-'));
const cpu = await createScorer({ backend: 'cpu' });
out.scorer = cpu.info.summary;
try {
  const storage = [];
  let main; // the f16 store (or the first precision), searched below
  for (const precision of args.precision.split(',')) {
    const dir = join(root, `w1-${precision}`);
    const store = await openStore(dir, { create: true, model: 'w1', precision, scorer: cpu });
    const t0 = performance.now();
    await store.add(
      W1_DOCS.map((matrix, i) => ({ id: `d${i}`, text: `W1 document ${i}`, matrix })),
      { batchSize: 100 },
    );
    const addMs = performance.now() - t0;
    const t1 = performance.now();
    await store.optimize(new Date());
    const optimizeMs = performance.now() - t1;
    store.close();
    const disk = du(dir);
    const reader = await openStore(dir, { model: 'w1', scorer: cpu });
    const resident = await reader.load();
    storage.push({ precision, addMs, optimizeMs, disk, ...resident });
    log(
      `\n${precision} store: add 1,000 docs in 10 upsert batches ${ms(addMs)}, optimize ${ms(optimizeMs)}, on disk ${mib(disk)}; ` +
        `load: read ${ms(resident.readMs)} + decode ${ms(resident.decodeMs)} + upload ${ms(resident.uploadMs)}, ` +
        `resident ${mib(resident.bytes)}, RSS +${mib(resident.rssDeltaBytes)}`,
    );
    if (main === undefined) main = { precision, dir, store: reader };
    else reader.close();
  }
  out.storage = storage;

  // ---- exact search over the stored W1: our CPU path, WebGPU, numpy, LanceDB multivector.
  const { store } = main;
  log(`\nexact search over the ${main.precision} store, ${NQ} queries of 32 rows (ms per query, p50):`);
  const exact = [];
  const cpuMs = [];
  for (const q of QUERIES) {
    await store.search(q, { topK: K, firstStage: 'exact' }); // warm
    const t = performance.now();
    const r = await store.search(q, { topK: K, firstStage: 'exact' });
    cpuMs.push(performance.now() - t);
    exact.push(r.results.map((h) => h.id));
  }
  const rows = [{ what: `our CPU path: ${cpu.info.summary}, resident corpus`, p50: p50(cpuMs), recall: 1 }];

  // numpy on the same decoded documents (what the store holds, widened to f32) and the same queries.
  const decoded = await readBack(store);
  const numpy = [];
  for (let i = 0; i < Math.min(NQ, 3); i++) {
    const run = await runNumpyReference(
      { spec: { lq: 32 }, packed: decoded.packed, queries: [QUERIES[i]] },
      {
        sizes: [1000],
        runs: 5,
        warmup: 1,
        minRuns: 5,
        budgetS: 1e9,
        sampleDocs: () => [...Array(1000).keys()],
        sampleQueries: [0],
      },
    );
    numpy.push({
      ms: p50(run.sizes[0].timesMs),
      scores: run.sizes[0].sampleScores[0],
      blas: run.blas.summary,
      version: run.numpyVersion,
    });
  }
  const numpyAgree = numpy.every((n, i) => sameTop(topIds(n.scores, decoded.ids), exact[i]));
  rows.push({
    what: `numpy ${numpy[0].version} (${numpy[0].blas}), GEMM + reduceat`,
    p50: p50(numpy.map((n) => n.ms)),
    recall: numpyAgree ? 1 : 'differs',
  });

  if (!args['no-webgpu']) {
    let gpu;
    try {
      gpu = await createScorer({ backend: 'webgpu' });
      const t0 = performance.now();
      const corpus = await gpu.upload(decoded.matrices);
      const uploadMs = performance.now() - t0;
      const times = [];
      let agree = 0;
      for (let i = 0; i < NW; i++) {
        const t = performance.now();
        const top = await gpu.rerank(QUERIES[i], corpus, { topK: K });
        times.push(performance.now() - t);
        if (
          sameTop(
            top.map((r) => decoded.ids[r.index]),
            exact[i],
          )
        )
          agree++;
      }
      corpus.destroy();
      rows.push({
        what: `WebGPU (Dawn): ${gpu.info.summary}; upload ${ms(uploadMs)}`,
        p50: p50(times),
        recall: agree === NW ? 1 : `${agree}/${NW} same top-10`,
      });
    } catch (err) {
      rows.push({ what: `WebGPU: not measured (${err.message})`, p50: NaN, recall: '' });
    } finally {
      gpu?.destroy();
    }
  }

  // LanceDB's own multivector search on the same table: flat (no index), cosine and dot.
  for (const distance of ['dot', 'cosine']) {
    const times = [];
    let recall = 0;
    for (let i = 0; i < NL; i++) {
      const t = performance.now();
      const ids = await lanceMultivector(store, QUERIES[i], K, distance);
      times.push(performance.now() - t);
      recall += overlap(ids, exact[i]) / K;
    }
    rows.push({ what: `LanceDB multivector search, flat, ${distance}`, p50: p50(times), recall: recall / NL });
  }
  if (args['mv-index']) {
    const t0 = performance.now();
    await store.createIndex('vectors', 'ivf-pq', { numPartitions: 64, numSubVectors: 16 });
    const buildMs = performance.now() - t0;
    for (const limit of [10, 100]) {
      const times = [];
      let recall = 0;
      for (let i = 0; i < NQ; i++) {
        const t = performance.now();
        const picked = await store.firstStage(QUERIES[i], limit, { firstStage: 'multivector' });
        times.push(performance.now() - t);
        recall +=
          overlap(
            picked.map((p) => p.id),
            exact[i],
          ) / K;
      }
      rows.push({
        what: `LanceDB multivector IVF_PQ (64 part., 16 subvec; built in ${ms(buildMs)}), ${limit} candidates + exact rerank`,
        p50: p50(times),
        recall: recall / NQ,
      });
    }
  }
  out.exact = rows;
  for (const r of rows)
    log(
      `  ${r.what.padEnd(100)} ${Number.isNaN(r.p50) ? '' : ms(r.p50).padStart(10)}  recall@10 ${typeof r.recall === 'number' ? r.recall.toFixed(2) : r.recall}`,
    );
  store.close();

  // ---- first stage: pooled vectors, flat and IVF_FLAT, recall@10 after the exact rerank; two-stage latency.
  const first = [];
  const corpora = [
    { name: 'W1 (random)', docs: W1_DOCS, queries: QUERIES, dir: main.dir },
    { name: 'clustered 1,000 × 300', ...clustered(), dir: join(root, 'clustered') },
  ];
  for (const c of corpora) {
    let s;
    if (c.name.startsWith('W1')) {
      s = await openStore(c.dir, { model: 'w1', scorer: cpu });
    } else {
      s = await openStore(c.dir, { create: true, model: 'w1', scorer: cpu });
      await s.add(
        c.docs.map((matrix, i) => ({ id: `c${i}`, text: `clustered ${i}`, matrix })),
        { batchSize: 100 },
      );
    }
    for (const index of ['flat', 'ivf-flat']) {
      if (index === 'ivf-flat') await s.createIndex('pooled', 'ivf-flat', { numPartitions: 16 });
      const recall = await s.measureRecall(c.queries, { topK: K, candidates: [10, 50, 100, 200] });
      const twoStage = [];
      for (const q of c.queries) {
        const t = performance.now();
        await s.search(q, { topK: K, firstStage: 'pooled', candidates: 100 });
        twoStage.push(performance.now() - t);
      }
      first.push({ corpus: c.name, index, recall, twoStageMs: p50(twoStage) });
      log(
        `\npooled first stage (${index}) on ${c.name}: recall@10 after exact rerank ` +
          recall.map((r) => `N=${r.candidates}: ${r.recall.toFixed(2)} (${ms(r.firstStageMs)})`).join(', ') +
          `; two-stage search with N=100 ${ms(p50(twoStage))} per query (first stage + fetch + rerank)`,
      );
    }
    s.close();
  }
  out.firstStage = first;
} finally {
  cpu.destroy();
  rmSync(root, { recursive: true, force: true });
}
if (args.json !== undefined) writeFileSync(args.json, `${JSON.stringify(out, null, 2)}\n`);

// ---- helpers

/** Every stored document as the store holds it (decoded to f32), in one packed array, with its ids. */
async function readBack(store) {
  const ids = [];
  const matrices = [];
  for (let i = 0; i < 1000; i += 100) {
    const batch = Array.from({ length: 100 }, (_, j) => `d${i + j}`);
    for (const doc of await store.get(batch)) {
      ids.push(doc.id);
      matrices.push(doc.matrix);
    }
  }
  const rowOffsets = new Uint32Array(matrices.length + 1);
  matrices.forEach((m, i) => {
    rowOffsets[i + 1] = rowOffsets[i] + m.rows;
  });
  const data = new Float32Array(rowOffsets[matrices.length] * 128);
  for (let i = 0; i < matrices.length; i++) data.set(matrices[i].data, rowOffsets[i] * 128);
  return {
    ids,
    matrices,
    packed: { data, rowOffsets, count: matrices.length, dim: 128, totalRows: rowOffsets[matrices.length] },
  };
}

async function lanceMultivector(store, q, k, distance) {
  return (await store.firstStage(q, k, { firstStage: 'multivector', distance })).map((r) => r.id);
}

function topIds(scores, ids) {
  return [...scores.keys()]
    .sort((a, b) => scores[b] - scores[a])
    .slice(0, K)
    .map((i) => ids[i]);
}
function sameTop(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
function overlap(a, b) {
  const s = new Set(b);
  return a.filter((x) => s.has(x)).length;
}
