// `webgpu-maxsim rerank`: embed a query and documents (vLLM /pooling or the built-in embedder), score them
// with MaxSim on the best backend here, print them best first. With --local and nothing else it ranks a
// built-in sample, so a newcomer sees the whole pipeline run without a server or a GPU.
import {
  backendOption,
  type CliProgress,
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
import { topK as bestOf } from '../core/top-k.js';
import type { TokenMatrix } from '../core/token-matrix.js';
import { SAMPLE_DOCUMENTS, SAMPLE_QUERY } from '../embed/sample-corpus.js';

const HELP = `Usage: webgpu-maxsim rerank --query TEXT (--doc TEXT ... | --docs-file FILE) [options]

Embeds the query and the documents (one vector per token), scores every document with MaxSim (for each
query token, the best-matching document token, summed) and prints them best first. With no query and no
documents it ranks a built-in sample: try \`webgpu-maxsim rerank --local\`.

Options:
  --query TEXT           the query
  --doc TEXT             a document (repeat for more)
  --docs-file FILE       documents, one per line, or JSONL with a "text" field per line ("-": stdin); read as
                         a stream and embedded and scored a chunk at a time, so memory stays bounded
  --max-docs N           refuse a file with more documents (default 1000000)
  --max-doc-chars N      refuse a document longer than this (default 32768)
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
        'max-docs': { type: 'string', default: '1000000' },
        'max-doc-chars': { type: 'string', default: '32768' },
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
    if (values['docs-file'] !== undefined) {
      const limits = {
        maxDocs: intOption('--max-docs', values['max-docs'], 1),
        maxChars: intOption('--max-doc-chars', values['max-doc-chars'], 1),
      };
      // One at a time: spreading 130,000 lines into push() overflowed the call stack.
      for await (const doc of readDocsFile(values['docs-file'], limits)) docs.push(doc);
    }
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
    const scorer = await createScorer({ backend, scale });
    try {
      const { ranked, source } = await rankInChunks(values, query, docs, scorer, topK, progress);
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
      progress.finish();
      scorer.destroy();
    }
  },
};

/** Documents per embedding chunk, and characters per chunk: about 16 MB of vectors at dim 1024. */
const CHUNK_DOCS = 2048;
const CHUNK_CHARS = 16_384;

/**
 * Embeds the query, then the documents a chunk at a time, scoring each chunk as it comes and keeping only the
 * scores: memory holds one chunk of vectors, not the whole file's (2,000 lines at dim 1024 went past 5 GB).
 */
async function rankInChunks(
  values: Parameters<typeof embedWithCliOptions>[0],
  query: string,
  docs: readonly string[],
  scorer: Awaited<ReturnType<typeof createScorer>>,
  topK: number | undefined,
  progress: CliProgress,
): Promise<{ ranked: { index: number; score: number }[]; source: string }> {
  // Progress counts texts: the query, then every document, across chunks.
  const total = docs.length + 1;
  const from = (offset: number): CliProgress => ({
    update: (label, done, _total, noun) => progress.update(label, offset + done, total, noun),
    finish: () => undefined,
  });
  const first = await embedWithCliOptions(values, [query], from(0));
  const queryMatrix: TokenMatrix = first.matrices[0]!;
  // Later chunks reuse the width the server told, so no chunk asks for it again.
  const chunkValues = { ...values, dim: String(queryMatrix.dim) };
  const scores = new Float32Array(docs.length);
  for (let start = 0; start < docs.length; ) {
    let end = start;
    let chars = 0;
    do {
      chars += docs[end]!.length;
      end++;
    } while (end < docs.length && end - start < CHUNK_DOCS && chars + docs[end]!.length <= CHUNK_CHARS);
    const { matrices } = await embedWithCliOptions(chunkValues, docs.slice(start, end), from(1 + start));
    const [row] = await scorer.score([queryMatrix], matrices);
    scores.set(row!, start);
    start = end;
  }
  return { ranked: bestOf(scores, topK), source: first.source };
}

/**
 * One document per line, or JSONL (`{"text": ...}` per line) when the first line is a JSON object; `-` reads
 * stdin. Streamed through readLines (which refuses missing files, directories, devices and binary data): the file
 * is never held whole. Refuses, with a message naming the limit, a document longer than `maxChars` and more than
 * `maxDocs` documents.
 */
async function* readDocsFile(path: string, limits: { maxDocs: number; maxChars: number }): AsyncGenerator<string> {
  const name = path === '-' ? '--docs-file - (standard input)' : `--docs-file ${path}`;
  let lineNo = 0;
  let count = 0;
  let jsonl: boolean | undefined;
  for await (const text of readLines('--docs-file', path, { maxLineChars: limits.maxChars * 4 + 1_000_000 })) {
    lineNo++;
    if (text.trim() === '') continue;
    jsonl ??= text.trimStart().startsWith('{');
    let doc = text;
    if (jsonl) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (cause) {
        throw new UsageError(`${name} line ${lineNo} is not JSON (${(cause as Error).message})`);
      }
      const t = (parsed as { text?: unknown } | null)?.text;
      if (typeof t !== 'string') throw new UsageError(`${name} line ${lineNo} has no string "text" field`);
      doc = t;
    }
    if (doc.length > limits.maxChars) {
      throw new UsageError(
        `${name} line ${lineNo} has ${doc.length.toLocaleString('en-US')} characters; the limit is ` +
          `${limits.maxChars.toLocaleString('en-US')} (--max-doc-chars)`,
      );
    }
    if (++count > limits.maxDocs) {
      throw new UsageError(
        `${name} has more than ${limits.maxDocs.toLocaleString('en-US')} documents (--max-docs); split it or ` +
          'raise --max-docs',
      );
    }
    yield doc;
  }
  if (count === 0) throw new UsageError(`${name} has no documents: put one per line (or JSONL with "text")`);
}

function preview(text: string, width = 72): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}
