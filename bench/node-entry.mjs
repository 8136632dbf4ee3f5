// Does a plain `import 'webgpu-maxsim'` in Node score as fast as `webgpu-maxsim/node`? (issue 12, item 1)
// W1-shaped (1,000 docs × 300 tokens × d 128, Lq 32, seeded, L2-normalised), `createScorer()` with its defaults,
// a resident corpus, p50 of the score calls. Each variant runs in its own child process (in one process both
// names resolve to the same module), rounds alternate the variants so drift on a shared machine hits all of
// them, and the headline is the median over rounds of each variant's p50 over the Node entry's p50 (≈1 = same).
// "universal" imports dist/index.js itself: what plain `import 'webgpu-maxsim'` gave Node before the "node"
// export condition (no Worker in Node 20, so one thread).
//
//   npm run build && node bench/node-entry.mjs [--rounds 3] [--runs 15] [--docs 1000]
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '15' },
    docs: { type: 'string', default: '1000' },
    child: { type: 'string' },
  },
});
const root = fileURLToPath(new URL('..', import.meta.url));
const VARIANTS = { plain: 'webgpu-maxsim', node: 'webgpu-maxsim/node', universal: './dist/index.js' };

if (args.child !== undefined) {
  // One measurement: import the variant's entry, score W1, print {summary, p50}.
  const entry = await import(VARIANTS[args.child] === './dist/index.js' ? '../dist/index.js' : VARIANTS[args.child]);
  const { generateWorkload, WORKLOADS } = await import('../dist/bench/workloads.js');
  const w = generateWorkload(WORKLOADS.W1, { docs: Number(args.docs) });
  const { packed } = w;
  const docs = Array.from({ length: packed.count }, (_, i) => {
    const start = packed.rowOffsets[i];
    const end = packed.rowOffsets[i + 1];
    return { data: packed.data.subarray(start * packed.dim, end * packed.dim), rows: end - start, dim: packed.dim };
  });
  const scorer = await entry.createScorer();
  const corpus = await scorer.upload(docs);
  const times = [];
  for (let i = 0; i < 3 + Number(args.runs); i++) {
    const t0 = performance.now();
    await scorer.score([w.queries[0]], corpus);
    if (i >= 3) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ summary: scorer.info.summary, p50: times[times.length >> 1] })}\n`);
  scorer.destroy();
} else {
  const run = promisify(execFile);
  const rounds = Number(args.rounds);
  const ratios = { plain: [], universal: [] };
  const summaries = {};
  const gflop = (2 * 32 * 300 * 128 * Number(args.docs)) / 1e9;
  for (let r = 0; r < rounds; r++) {
    const p50 = {};
    for (const variant of Object.keys(VARIANTS)) {
      const { stdout } = await run(
        process.execPath,
        [fileURLToPath(import.meta.url), '--child', variant, '--runs', args.runs, '--docs', args.docs],
        { cwd: root },
      );
      const result = JSON.parse(stdout);
      p50[variant] = result.p50;
      summaries[variant] = result.summary;
    }
    ratios.plain.push(p50.node / p50.plain);
    ratios.universal.push(p50.node / p50.universal);
    console.log(
      `round ${r + 1}: ` +
        Object.entries(p50)
          .map(([v, ms]) => `${v} ${ms.toFixed(1)} ms (${(gflop / (ms / 1e3)).toFixed(1)} GFLOP/s)`)
          .join(', '),
    );
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  console.log(`\n${availableParallelism()} cores, Node ${process.versions.node}, W1 ${args.docs} docs, Lq 32`);
  for (const v of Object.keys(VARIANTS)) console.log(`  ${v.padEnd(9)} ${VARIANTS[v].padEnd(20)} ${summaries[v]}`);
  console.log(`speed relative to webgpu-maxsim/node (median of ${rounds} rounds; 1.00 = the same):`);
  console.log(`  import 'webgpu-maxsim'      ×${median(ratios.plain).toFixed(2)}`);
  console.log(`  dist/index.js (universal)   ×${median(ratios.universal).toFixed(2)}`);
}
