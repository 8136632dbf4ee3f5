// `webgpu-maxsim search`: the best documents of a store (or, with --corpus, of a corpus file: search-corpus.ts)
// for a query. Embeds only the query; the documents' token matrices come from the store (scored exactly on a
// resident corpus, or through a first stage).
import { InvalidArgumentError } from '../core/errors.js';
import { openStore, type FirstStage } from '../store/store.js';
import { backendOption, intOption, parseCliArgs, scaleOption, UsageError, type CliCommand } from './common.js';
import { EMBEDDER_HELP } from './embed.js';
import { searchCorpus } from './search-corpus.js';
import {
  cliTextEmbedder,
  STORE_EMBEDDER_HELP,
  STORE_EMBEDDER_OPTIONS,
  storedLayout,
  storeOption,
} from './store-options.js';

const HELP = `Usage: webgpu-maxsim search --store DIR --query TEXT [options]
       webgpu-maxsim search --corpus FILE --query TEXT [options]

Embeds the query (only the query: documents were embedded by \`index\`, or when the corpus file was written) and
prints the best documents for it by MaxSim, best first.

--store: a store that fits the memory budget is loaded once and every document scored exactly; a larger one
(or --first-stage pooled|multivector) goes through a first stage whose candidates are reranked exactly.
--corpus: a safetensors corpus file (\`export\`, writeCorpusFile, numpy; see the README) is streamed into one
resident corpus and every document scored exactly. The query is embedded with the file's model: the built-in
hashing embedder when the file says hash-embedder-dN, otherwise the /pooling server the options name
(--model defaults to the file's; another model or width is refused naming both).

Options:
  --store DIR            the store's folder (or s3:// gs:// az:// URI)
  --corpus FILE          a corpus file instead of a store
  --query TEXT           the query
  --top-k K              results (default 10)
  --filter SQL           (--store) only documents matching an SQL predicate over id, text, metadata (JSON
                         text), e.g. "metadata LIKE '%\\"lang\\":\\"en\\"%'"
  --first-stage S        (--store) auto (default) | exact | pooled | multivector
  --candidates N         (--store) first-stage candidates to rerank (default max(100, 10 x K))
  --memory-budget-mb N   (--store) largest resident corpus (f32 bytes) before auto uses a first stage
  --backend B            auto (default) | cpu | webgpu
  --scale sum|mean       sum over query tokens (default) or mean
  --json                 print {"backend", "results": [{"id", "score", "text"}]} (best first; a corpus file
                         without ids or texts gives each document's index as its id and "" as its text)

${EMBEDDER_HELP}
${STORE_EMBEDDER_HELP}
  (search sends the query with --encoding float unless told otherwise: one small request, shape included)
  -h, --help             show this help

Examples:
  webgpu-maxsim search --store ./docs.lance --query "capital of France" --port 8000
  webgpu-maxsim search --store ./docs.lance --query "capital of France" --local --top-k 3 --json
  webgpu-maxsim search --corpus docs.safetensors --query "capital of France" --pooling-url http://gpu-box:8000`;

const FIRST_STAGES: readonly FirstStage[] = ['auto', 'exact', 'pooled', 'multivector'];

export const command: CliCommand = {
  async run(args) {
    const { values, positionals, tokens } = parseCliArgs('search', {
      args,
      options: {
        ...STORE_EMBEDDER_OPTIONS,
        corpus: { type: 'string' },
        // No default: see below.
        encoding: { type: 'string' },
        query: { type: 'string' },
        'top-k': { type: 'string', default: '10' },
        filter: { type: 'string' },
        'first-stage': { type: 'string', default: 'auto' },
        candidates: { type: 'string' },
        'memory-budget-mb': { type: 'string' },
        backend: { type: 'string', default: 'auto' },
        scale: { type: 'string', default: 'sum' },
        json: { type: 'boolean' },
      },
      allowPositionals: true,
      tokens: true,
    });
    if (values.help === true) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    if (positionals.length > 0) {
      throw new InvalidArgumentError(
        `unexpected argument ${JSON.stringify(positionals[0])}: pass the query with --query`,
      );
    }
    const given: ReadonlySet<string> = new Set(tokens.flatMap((t) => (t.kind === 'option' ? [t.name as string] : [])));
    if (values.corpus !== undefined && values.store !== undefined) {
      throw new UsageError('--store and --corpus exclude each other: search a store or a corpus file, not both');
    }
    if (values.corpus === undefined && values.store === undefined) {
      throw new UsageError(
        '--store DIR or --corpus FILE is required: the store (index one with `webgpu-maxsim index`) or the ' +
          'corpus file (safetensors) to search',
      );
    }
    const query = values.query;
    if (query === undefined || query.trim() === '') throw new InvalidArgumentError('--query TEXT is required');
    const topK = intOption('--top-k', values['top-k'], 1);
    if (values.corpus !== undefined) {
      const storeOnly = ['filter', 'first-stage', 'candidates', 'memory-budget-mb'].find((name) => given.has(name));
      if (storeOnly !== undefined) {
        throw new UsageError(
          `--${storeOnly} applies to --store only: a corpus file is always searched exactly, in full`,
        );
      }
      return searchCorpus({
        path: values.corpus,
        query,
        topK,
        backend: backendOption(values.backend),
        scale: scaleOption(values.scale),
        json: values.json === true,
        quiet: values.quiet === true,
        values,
        given,
      });
    }
    const location = storeOption(values.store);
    const firstStage = values['first-stage'] as FirstStage;
    if (!FIRST_STAGES.includes(firstStage)) {
      throw new InvalidArgumentError(
        `--first-stage is ${JSON.stringify(firstStage)}, expected ${FIRST_STAGES.join(', ')}`,
      );
    }
    const candidates = values.candidates === undefined ? undefined : intOption('--candidates', values.candidates, 1);
    const budget =
      values['memory-budget-mb'] === undefined
        ? undefined
        : intOption('--memory-budget-mb', values['memory-budget-mb'], 0) * 2 ** 20;
    const backend = backendOption(values.backend);
    const scale = scaleOption(values.scale);

    const stored = await storedLayout(location);
    if (stored === undefined) (await openStore(location)).close(); // throws the StoreNotFoundError that says why
    // The query goes as float JSON unless --encoding says otherwise: its shape is in the response, so the client
    // sends one request (base64 would first probe the width with a second one), and a query is small.
    const { embedder, source, close } = cliTextEmbedder({ ...values, encoding: values.encoding ?? 'float' }, stored);
    try {
      // The store makes the scorer on the first search (and destroys it on close), so a refused store or
      // query never starts a GPU device or worker threads.
      const store = await openStore(location, {
        embedder,
        scorerOptions: { backend, scale },
        ...(budget === undefined ? {} : { memoryBudgetBytes: budget }),
      });
      try {
        const found = await store.search(query, {
          topK,
          firstStage,
          ...(values.filter === undefined ? {} : { filter: values.filter }),
          ...(candidates === undefined ? {} : { candidates }),
        });
        if (values.json === true) {
          const results = found.results.map((r) => ({ id: r.id, score: r.score, text: r.text }));
          process.stdout.write(`${JSON.stringify({ backend: found.backend, results })}\n`);
          return 0;
        }
        const resident = store.resident;
        const how =
          found.mode === 'exact'
            ? `exact over ${found.scored} documents` +
              (resident === undefined
                ? ''
                : ` (resident corpus ${(resident.bytes / 2 ** 20).toFixed(1)} MiB, loaded in ` +
                  `${((resident.readMs + resident.decodeMs + resident.uploadMs) / 1000).toFixed(2)} s)`)
            : `${found.mode} first stage, ${found.scored} candidates reranked exactly`;
        const lines = [
          `Query: ${JSON.stringify(query)}, embedded by ${source}`,
          `${location} version ${found.version}: ${how}; MaxSim (${scale}) on ${(await store.scorer()).info.summary}`,
          '',
          `${'rank'.padStart(4)}  ${'score'.padStart(9)}  ${'id'.padEnd(16)}  text`,
          ...found.results.map(
            (r, i) =>
              `${String(i + 1).padStart(4)}  ${r.score.toFixed(4).padStart(9)}  ${r.id.padEnd(16)}  ${preview(r.text)}`,
          ),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
        return 0;
      } finally {
        store.close();
      }
    } finally {
      await close();
    }
  },
};

function preview(text: string, width = 64): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}
