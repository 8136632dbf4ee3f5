#!/usr/bin/env node
// The CLI: a thin layer over the public API. Each command lives in its own cli-*.ts module, loaded only when
// it runs, so `--help` stays instant and a command's dependencies (Dawn, undici, puppeteer) load on demand.
import { readFileSync } from 'node:fs';
import { nearest, reportError, type CliCommand } from './cli/common.js';

const commands = new Map<string, { summary: string; load: () => Promise<{ command: CliCommand }> }>();

/** Registers a command under `name`; its module is imported only when the command runs. */
function register(name: string, summary: string, load: () => Promise<{ command: CliCommand }>): void {
  commands.set(name, { summary, load });
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  const width = Math.max(...[...commands.keys()].map((n) => n.length), 8);
  return [
    `webgpu-maxsim ${version()}: late-interaction (ColBERT-style) MaxSim reranking on WebGPU or the CPU`,
    '',
    'Usage: webgpu-maxsim <command> [options]',
    '',
    'Commands:',
    ...[...commands].map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`),
    '',
    'Options:',
    '  -h, --help     show help (also `webgpu-maxsim <command> --help`)',
    '  -v, --version  print the version',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(`${usage()}\n`);
    return first === undefined ? 1 : 0;
  }
  if (first === '-v' || first === '--version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const entry = commands.get(first);
  if (entry === undefined) {
    const guess = nearest(first, [...commands.keys()]);
    process.stderr.write(
      `webgpu-maxsim: unknown command '${first}'${guess === undefined ? '' : `; did you mean '${guess}'?`} ` +
        '(webgpu-maxsim --help lists the commands)\n',
    );
    return 2;
  }
  const { command } = await entry.load();
  return command.run(rest);
}

// Commands, in the order `--help` lists them (each module exports `command`):
register(
  'embed',
  'embed texts via vLLM /pooling (or --local) and print each multi-vector shape',
  () => import('./cli/embed.js'),
);
register(
  'rerank',
  'rank documents for a query with MaxSim (vLLM /pooling or --local embeddings)',
  () => import('./cli/rerank.js'),
);
register(
  'index',
  'embed a docs file into a LanceDB store (upsert by id; re-running completes or updates it)',
  () => import('./cli/index-docs.js'),
);
register(
  'search',
  'search a store (--store) or a corpus file (--corpus) for a query by MaxSim (embeds only the query)',
  () => import('./cli/search.js'),
);
register(
  'export',
  "write a store's documents and token matrices as a safetensors corpus file (f16, int8 or f32)",
  () => import('./cli/export.js'),
);
register(
  'serve-pooling',
  'serve a local vLLM /pooling stand-in (hashing embedder, no GPU)',
  () => import('./cli/serve-pooling.js'),
);

register(
  'serve',
  'serve POST /rerank (vLLM/Jina/Cohere shape) over /pooling or the built-in embedder',
  () => import('./cli/serve.js'),
);

register(
  'bench',
  'benchmark workloads W0–W5 on every backend beside numpy (JSON, Markdown, SVG chart)',
  () => import('./cli/bench.js'),
);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError(err);
  },
);
