// `webgpu-maxsim bench`: the standard workloads W0–W5 on every backend beside numpy, written as JSON, Markdown
// and an SVG chart. A thin layer over bench-harness.ts; progress goes to stderr, the Markdown table to stdout.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { intOption, parseCliArgs, type CliCommand } from './common.js';
import { InvalidArgumentError } from '../core/errors.js';
import { DEFAULT_BENCH_SEED, parseWorkloadList, WORKLOADS, WORKLOAD_IDS } from '../bench/workloads.js';
import { parseBackendList, parsePrecisionList, runBenchmarks, type BenchReport } from '../bench/harness.js';
import { createProgress } from '../bench/progress.js';
import { toMarkdown, toSvgChart } from '../bench/report.js';
import { parseVariant } from '../webgpu/variants.js';

const HELP = `Usage: webgpu-maxsim bench [options]

Runs the standard MaxSim workloads (docs/benchmarks.md) on every backend, beside numpy on the same data in
the same invocation, and reports docs/s, effective GFLOP/s and GB/s, p50/p95, first call, kernel-only vs end to
end, max |error| against a float64 reference, and the ratio to numpy. Progress goes to stderr; the Markdown table
to stdout.

Workloads (Lq 32, seeded random L2-normalised fp32):
${WORKLOAD_IDS.map((id) => {
  const w = WORKLOADS[id];
  const ld = w.minLd === w.maxLd ? `Ld ${w.minLd}` : `Ld ${w.minLd}–${w.maxLd}`;
  return `  ${id} ${w.name.padEnd(13)} ${w.queries > 1 ? `${w.queries} queries, ` : ''}${ld}, d ${w.dim}, ${w.docs.toLocaleString('en-US')} docs`;
}).join('\n')}

Options:
  --workload LIST     W0,W1,... or all (default all)
  --backend LIST      cpu (= cpu-typescript, cpu-wasm-1, cpu-wasm), webgpu (Node, Dawn: whatever adapter
                      Vulkan gives; pick one with VK_ICD_FILENAMES), browser (headless Chromium via
                      puppeteer-core; CHROME_PATH to choose the binary), numpy (python3; PYTHON to choose),
                      or all (default cpu,webgpu,browser,numpy)
  --precision LIST    f32,f16: document storage on WebGPU (default f32,f16; the CPU paths are f32)
  --variants LIST     WebGPU (Dawn) kernel variants: auto (the library's choice, tuned on hardware
                      adapters), auto-f16math (f16 arithmetic, f16 storage only), or names such as
                      baseline, q32, q128-subgroup, q64-f16math (default auto)
  --runs N            timed runs per measurement after warm-up (default 20)
  --warmup N          warm-up calls after the first (default 2)
  --min-runs N        fewest timed runs when a call is slower than planned (default 5)
  --budget SECONDS    time per measurement; slow backends (TypeScript, software adapters) score fewer
                      documents to fit it, and say so (default 5)
  --scale-docs F      run every workload at this fraction of its documents on every backend (0 < F <= 1)
  --full              the full workloads everywhere (= --scale-docs 1; slow on software adapters)
  --threads N         worker threads of the multi-threaded WASM path (default: cores, ${availableParallelism()} here)
  --sample N          documents checked against the float64 reference per measurement (default 8)
  --seed N            data seed (default ${DEFAULT_BENCH_SEED})
  --ingest            also run the /pooling decode bench (bench/decode.mjs; source checkouts)
  --json FILE         write the full report (machine, adapters, every timing) as JSON
  --markdown FILE     write the Markdown table
  --chart FILE.svg    write an SVG bar chart (GFLOP/s by workload and backend, log scale)
  --from-json FILE    measure nothing: re-write --markdown/--chart (and stdout) from a saved --json report
  --progress          draw the progress bar even when stderr is not a terminal
  --quiet             do not print the table on stdout
  -h, --help          show this help

Software adapters (lavapipe, SwiftShader) measure correctness and relative kernel changes, not GPU speed; the
report says so. Example: webgpu-maxsim bench --workload W1,W3 --backend cpu,numpy --json bench.json
`;

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs('bench', {
      args,
      options: {
        workload: { type: 'string', default: 'all' },
        backend: { type: 'string', default: 'cpu,webgpu,browser,numpy' },
        precision: { type: 'string', default: 'f32,f16' },
        variants: { type: 'string', default: 'auto' },
        runs: { type: 'string', default: '20' },
        warmup: { type: 'string', default: '2' },
        'min-runs': { type: 'string', default: '5' },
        budget: { type: 'string', default: '5' },
        'scale-docs': { type: 'string' },
        full: { type: 'boolean', default: false },
        threads: { type: 'string', default: String(availableParallelism()) },
        sample: { type: 'string', default: '8' },
        seed: { type: 'string', default: String(DEFAULT_BENCH_SEED) },
        ingest: { type: 'boolean', default: false },
        json: { type: 'string' },
        markdown: { type: 'string' },
        chart: { type: 'string' },
        'from-json': { type: 'string' },
        progress: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (values['from-json'] !== undefined) {
      const saved = JSON.parse(readFileSync(values['from-json'], 'utf8')) as BenchReport;
      if (saved.schema !== 'webgpu-maxsim-bench/1') {
        throw new InvalidArgumentError(
          `${values['from-json']} is not a webgpu-maxsim bench report (schema ${JSON.stringify(saved.schema)})`,
        );
      }
      writeOutputs(saved, { ...values, json: undefined });
      return 0;
    }
    const budget = Number(values.budget);
    if (!(budget > 0) || !Number.isFinite(budget)) {
      throw new InvalidArgumentError(`--budget is ${JSON.stringify(values.budget)}, expected seconds > 0`);
    }
    let scaleDocs: number | undefined;
    if (values['scale-docs'] !== undefined) {
      scaleDocs = Number(values['scale-docs']);
      if (!(scaleDocs > 0 && scaleDocs <= 1)) {
        throw new InvalidArgumentError(
          `--scale-docs is ${JSON.stringify(values['scale-docs'])}, expected a number in (0, 1]`,
        );
      }
    }
    if (values.full) {
      if (scaleDocs !== undefined && scaleDocs !== 1)
        throw new InvalidArgumentError('--full and --scale-docs disagree; give one');
      scaleDocs = 1;
    }
    const workloads = parseWorkloadList(values.workload);
    const backends = parseBackendList(values.backend);
    const precisions = parsePrecisionList(values.precision);
    const runs = intOption('--runs', values.runs, 1);
    const minRuns = Math.min(runs, intOption('--min-runs', values['min-runs'], 1));
    const progress = createProgress(0, process.stderr, { force: values.progress });
    const report = await runBenchmarks({
      workloads,
      backends,
      precisions,
      variants: parseVariantList(values.variants),
      runs,
      warmup: intOption('--warmup', values.warmup, 0),
      minRuns,
      budgetS: budget,
      ...(scaleDocs === undefined ? {} : { scaleDocs }),
      seed: intOption('--seed', values.seed, 0),
      threads: intOption('--threads', values.threads, 1),
      sample: intOption('--sample', values.sample, 1),
      ingest: values.ingest,
      progress,
    });
    writeOutputs(report, values);
    return report.results.length > 0 ? 0 : 1;
  },
};

function writeOutputs(
  report: BenchReport,
  files: { json?: string | undefined; markdown?: string | undefined; chart?: string | undefined; quiet?: boolean },
): void {
  const markdown = toMarkdown(report);
  const write = (file: string, text: string): void => {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  };
  if (files.json !== undefined) write(files.json, `${JSON.stringify(report, null, 2)}\n`);
  if (files.markdown !== undefined) write(files.markdown, markdown);
  if (files.chart !== undefined) write(files.chart, toSvgChart(report));
  if (files.quiet !== true) process.stdout.write(markdown);
}

/** `auto,baseline,q32-subgroup` → the variant names, checked. */
function parseVariantList(text: string): string[] {
  const out: string[] = [];
  for (const part of text.split(',')) {
    const name = part.trim();
    if (name === '') continue;
    if (name !== 'auto' && name !== 'auto-f16math' && parseVariant(name) === undefined) {
      throw new InvalidArgumentError(
        `unknown WebGPU variant ${JSON.stringify(name)}: expected auto, auto-f16math, baseline or e.g. q32, q128-subgroup, q64-f16math`,
      );
    }
    if (!out.includes(name)) out.push(name);
  }
  if (out.length === 0) throw new InvalidArgumentError('--variants names none: expected e.g. auto,baseline');
  return out;
}
