// `webgpu-maxsim rerank`: embed a query and documents (vLLM /pooling or the built-in embedder), score them
// with MaxSim on the best backend here, print them best first. With --local and nothing else it ranks a
// built-in sample, so a newcomer sees the whole pipeline run without a server or a GPU.
import {
  backendOption,
  cliProgress,
  describeBackend,
  intOption,
  parseCliArgs,
  readLines,
  scaleOption,
  UsageError,
} from './common.js';
import { EMBEDDER_HELP, EMBEDDER_OPTIONS, embedWithCliOptions } from './embed.js';
import type { CliCommand } from './common.js';
import { InvalidArgumentError } from '../core/errors.js';
import { createScorer } from '../node.js';
import { SAMPLE_DOCUMENTS, SAMPLE_QUERY } from '../embed/sample-corpus.js';

const HELP = `Usage: webgpu-maxsim rerank --query TEXT (--doc TEXT ... | --docs-file FILE) [options]

Embeds the query and the documents (one vector per token), scores every document with MaxSim (for each
query token, the best-matching document token, summed) and prints them best first. With no query and no
documents it ranks a built-in sample: try \`webgpu-maxsim rerank --local\`.

Options:
  --query TEXT           the query
  --doc TEXT             a document (repeat for more)
  --docs-file FILE       documents, one per line, or JSONL with a "text" field per line; - reads stdin
  --top-k K              print the best K (default all)
  --scale sum|mean       sum over query tokens (default; ColBERT, vLLM /score) or mean (BGE-M3/FlagEmbedding)
  --backend B            auto (default) | cpu | webgpu
  --json                 print {"backend", "fallbackReason" (why not WebGPU, when the CPU scores), "results":
                         [{"index", "score"}]} instead of a table

${EMBEDDER_HELP}
  -h, --help             show this help

Examples:
  webgpu-maxsim rerank --local
  webgpu-maxsim rerank --query "capital of France" --doc "Paris is the capital." --doc "Berlin is big."
  webgpu-maxsim rerank --port 8000 --query "what is late interaction?" --docs-file docs.jsonl --top-k 5 --json`;

export const command: CliCommand = {
  async run(args) {
    const { values, positionals } = parseCliArgs('rerank', {
      args,
      options: {
        ...EMBEDDER_OPTIONS,
        query: { type: 'string' },
        doc: { type: 'string', multiple: true },
        'docs-file': { type: 'string' },
        'top-k': { type: 'string' },
        scale: { type: 'string', default: 'sum' },
        backend: { type: 'string', default: 'auto' },
        json: { type: 'boolean' },
      },
      allowPositionals: true,
    });
    if (values.help === true) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    if (positionals.length > 0) {
      throw new InvalidArgumentError(
        `unexpected argument ${JSON.stringify(positionals[0])}: pass the query with --query and documents with --doc`,
      );
    }
    const scale = scaleOption(values.scale);
    const backend = backendOption(values.backend);
    const topK = values['top-k'] === undefined ? undefined : intOption('--top-k', values['top-k'], 1);

    let docs = [...(values.doc ?? [])];
    if (values['docs-file'] !== undefined) docs.push(...(await readDocsFile(values['docs-file'])));
    let query = values.query;
    if (query === undefined && docs.length === 0) {
      query = SAMPLE_QUERY;
      docs = [...SAMPLE_DOCUMENTS];
      if (values.json !== true) process.stderr.write('No --query or documents given: ranking the built-in sample.\n');
    } else if (query === undefined) {
      throw new InvalidArgumentError('documents were given but no --query: pass --query TEXT');
    } else if (docs.length === 0) {
      throw new InvalidArgumentError(
        'a --query was given but no documents: pass --doc TEXT (repeatable) or --docs-file FILE',
      );
    }

    const progress = cliProgress({ noun: 'documents', quiet: values.quiet === true });
    try {
      const { matrices, source } = await embedWithCliOptions(values, [query, ...docs], progress);
      const [queryMatrix, ...docMatrices] = matrices;
      matrices.length = 0;
      const scorer = await createScorer({ backend, scale });
      try {
        const corpus = await scorer.upload(docMatrices, {
          onProgress: (p) => progress.update('uploading', p.done, p.total),
        });
        docMatrices.length = 0; // the scorer holds its own copy now: the embeddings can go before scoring
        const ranked = await scorer.rerank(queryMatrix!, corpus, topK === undefined ? {} : { topK });
        progress.finish();
        if (values.json === true) {
          const results = ranked.map((r) => ({ index: r.index, score: r.score }));
          const why = scorer.info.fallbackReason;
          process.stdout.write(
            `${JSON.stringify({ backend: scorer.backend, ...(why === undefined ? {} : { fallbackReason: why }), results })}\n`,
          );
          return 0;
        }
        const lines = [
          `Query: ${JSON.stringify(query)}`,
          `${docs.length} documents, embedded by ${source}; MaxSim (${scale})`,
          `Scored on ${describeBackend(scorer.info)}`,
          '',
          `${'rank'.padStart(4)}  ${'index'.padStart(5)}  ${'score'.padStart(9)}  text`,
          ...ranked.map(
            (r, i) =>
              `${String(i + 1).padStart(4)}  ${String(r.index).padStart(5)}  ${r.score.toFixed(4).padStart(9)}  ${preview(docs[r.index]!)}`,
          ),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
        return 0;
      } finally {
        scorer.destroy();
      }
    } finally {
      progress.finish();
    }
  },
};

/**
 * One document per line, or JSONL (`{"text": ...}` per line) when the first non-empty line is a JSON object.
 * `-` reads standard input. Read as a stream (readLines), which also refuses directories, devices and binary data.
 */
async function readDocsFile(path: string): Promise<string[]> {
  const name = path === '-' ? '--docs-file - (standard input)' : `--docs-file ${path}`;
  const docs: string[] = [];
  let jsonl: boolean | undefined;
  let lineNumber = 0;
  for await (const line of readLines('--docs-file', path)) {
    lineNumber++;
    if (line.trim() === '') continue;
    jsonl ??= line.trimStart().startsWith('{');
    if (!jsonl) {
      docs.push(line);
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (cause) {
      throw new UsageError(`${name} line ${lineNumber} is not JSON (${(cause as Error).message})`);
    }
    const t = (parsed as { text?: unknown } | null)?.text;
    if (typeof t !== 'string') throw new UsageError(`${name} line ${lineNumber} has no string "text" field`);
    docs.push(t);
  }
  if (docs.length === 0) throw new UsageError(`${name} has no documents: put one per line (or JSONL with "text")`);
  return docs;
}

function preview(text: string, width = 72): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}
