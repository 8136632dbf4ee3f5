// `webgpu-maxsim index`: embed a docs file through /pooling (or the built-in embedder) into a LanceDB store,
// upserting by id; re-running adds new documents, updates changed ones and skips unchanged ones.
import { InvalidArgumentError } from '../core/errors.js';
import { openStore } from '../store/store.js';
import { cliProgress, count as formatCount, intOption, parseCliArgs, type CliCommand } from './common.js';
import { EMBEDDER_HELP } from './embed.js';
import {
  cliTextEmbedder,
  readStoreDocsFile,
  STORE_EMBEDDER_HELP,
  STORE_EMBEDDER_OPTIONS,
  storedLayout,
  storeOption,
} from './store-options.js';

const HELP = `Usage: webgpu-maxsim index --store DIR --docs-file FILE [options]

Embeds every document of FILE (one vector per token) and stores its text, metadata, token matrix and a pooled
vector in a LanceDB table in DIR (created if missing). Documents are upserted by id, in committed batches: an
interrupted run leaves the store consistent, and running again completes it (unchanged documents are skipped
without being embedded again). Progress goes to stderr after each committed batch (a bar on a terminal, a line
per tenth otherwise; shown for 1,000+ documents or once indexing takes a second; --quiet turns it off).

FILE: one document per line (id: the first 16 hex digits of the text's SHA-256), or JSONL with "text" and
optional "id" and "metadata" (a JSON object) per line.

Options:
  --store DIR            the store's folder (or an s3:// gs:// az:// URI; credentials from the environment)
  --docs-file FILE       the documents
  --precision P          f16 (default) | f32: how a NEW store keeps token vectors (f16: half the bytes,
                         relative error <= 2^-11; values must stay under 65,520)
  --commit-every N       documents per committed batch (default 256)
  --pooled-index KIND    also build an ANN index on the pooled vectors: ivf-pq (>= 256 documents) | ivf-flat |
                         hnsw-sq (the first stage of stores too large to search exactly)
  --no-compact           skip the final compaction (one LanceDB optimize: merges the batches' fragments)

${EMBEDDER_HELP}
${STORE_EMBEDDER_HELP}
  -h, --help             show this help

Examples:
  webgpu-maxsim index --store ./docs.lance --docs-file docs.jsonl --port 8000
  webgpu-maxsim index --store ./docs.lance --docs-file docs.txt --local`;

export const command: CliCommand = {
  async run(args) {
    const { values, positionals } = parseCliArgs('index', {
      args,
      options: {
        ...STORE_EMBEDDER_OPTIONS,
        'docs-file': { type: 'string' },
        precision: { type: 'string' },
        'commit-every': { type: 'string', default: '256' },
        'pooled-index': { type: 'string' },
        'no-compact': { type: 'boolean' },
      },
      allowPositionals: true,
    });
    if (values.help === true) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    if (positionals.length > 0) {
      throw new InvalidArgumentError(`unexpected argument ${JSON.stringify(positionals[0])}: see --help`);
    }
    const location = storeOption(values.store);
    if (values['docs-file'] === undefined) throw new InvalidArgumentError('--docs-file FILE is required');
    const precision = values.precision;
    if (precision !== undefined && precision !== 'f16' && precision !== 'f32') {
      throw new InvalidArgumentError(`--precision is ${JSON.stringify(precision)}, expected f16 or f32`);
    }
    const pooledIndex = values['pooled-index'];
    if (
      pooledIndex !== undefined &&
      pooledIndex !== 'ivf-pq' &&
      pooledIndex !== 'ivf-flat' &&
      pooledIndex !== 'hnsw-sq'
    ) {
      throw new InvalidArgumentError(
        `--pooled-index is ${JSON.stringify(pooledIndex)}, expected ivf-pq, ivf-flat or hnsw-sq`,
      );
    }
    const batchSize = intOption('--commit-every', values['commit-every'], 1);
    // Every line is read and checked before anything is embedded or written.
    const docs = await readStoreDocsFile(values['docs-file']);
    const stored = await storedLayout(location);
    const { embedder, source, close } = cliTextEmbedder(values, stored);
    try {
      const store = await openStore(location, {
        create: true,
        embedder,
        ...(precision === undefined ? {} : { precision }),
      });
      try {
        if (stored !== undefined && precision !== undefined && store.precision !== precision) {
          throw new InvalidArgumentError(
            `the store at ${location} keeps ${store.precision} vectors; --precision ${precision} applies only when ` +
              'creating a store (index into a new folder to change it)',
          );
        }
        if (values.quiet !== true) {
          process.stderr.write(`indexing ${formatCount(docs.length)} documents into ${location} with ${source}\n`);
        }
        // Updated after each committed batch: what a re-run would skip as already stored.
        const progress = cliProgress({ noun: 'documents', quiet: values.quiet === true });
        let result: Awaited<ReturnType<typeof store.addTexts>>;
        try {
          progress.update('indexing', 0, docs.length);
          result = await store.addTexts(docs, {
            batchSize,
            onProgress: (p) => progress.update('indexing', p.done, p.total),
          });
        } finally {
          progress.finish();
        }
        if (pooledIndex !== undefined) await store.createIndex('pooled', pooledIndex);
        if (values['no-compact'] !== true) await store.optimize();
        const count = await store.count();
        process.stdout.write(
          `${location}: ${count} documents (${store.model}, dim ${store.dim}, ${store.precision}); this run inserted ` +
            `${result.inserted}, updated ${result.updated}, skipped ${result.unchanged} unchanged; ` +
            `version ${await store.version()}\n`,
        );
        return 0;
      } finally {
        store.close();
      }
    } finally {
      await close();
    }
  },
};
