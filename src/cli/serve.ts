// `webgpu-maxsim serve`: the edge rerank service (vLLM's /rerank, /score, /v1/models) over /pooling or the built-in embedder.
import {
  backendOption,
  describeBackend,
  intOption,
  parseCliArgs,
  portOption,
  scaleOption,
  stopSignal,
  type CliCommand,
} from './common.js';
import { CORS_HELP, CORS_OPTIONS, corsFromFlags } from './cors-options.js';
import { InvalidArgumentError } from '../core/errors.js';
import { createHashEmbedder } from '../embed/hash-embedder.js';
import { createScorer } from '../node.js';
import { createNodePoolingClient, type NodePoolingClient } from '../node/pooling-client.js';
import { createRerankHandler, DEFAULT_RERANK_LIMITS } from '../service/rerank-handler.js';
import { serveHandler } from '../node/serve.js';
import { openStoreForServe, storeLayoutForServe } from './store-serve.js';
import {
  createEmbeddingCache,
  hashTextEmbedder,
  poolingTextEmbedder,
  type TextEmbedder,
} from '../embed/text-embedder.js';

const HELP = `Usage: webgpu-maxsim serve [options]

A small rerank service with vLLM's API for a late-interaction model: POST /rerank, /v1/rerank and /v2/rerank
(vLLM, Jina, Cohere v1 and v2 clients: {"query", "documents": [string | {"text"}], "top_n"}) answered with
{"id", "model", "usage", "results": [{"index", "document", "relevance_score"}]}, best first; POST /score and
/v1/score ({"queries", "documents"} or {"text_1", "text_2"}, 1:N or N:N); GET /v1/models; GET /health.
Documents are embedded by a vLLM /pooling server (--pooling-url) or the built-in hashing embedder (--local),
cached (bounded, by model and text), and scored with MaxSim on the GPU or the CPU.

Options:
  --port N               TCP port (default 8080; 0 picks a free one)
  --host H               interface to listen on (default 127.0.0.1)
  --pooling-url URL      vLLM server started with --pooler-config.task token_embed (e.g. http://localhost:8000)
  --local                use the built-in hashing embedder instead (lexical, no server; the default
                         when --pooling-url is absent)
  --model M              model name sent to /pooling and reported (default BAAI/bge-m3; --local: hash-embedder-dDIM)
  --dim N                embedding width of --local (default 128)
  --backend B            auto | cpu | webgpu (default auto)
  --scale S              sum | mean (default sum)
  --api-key K            require "Authorization: Bearer K" on every route but /health
                         (default: the WEBGPU_MAXSIM_API_KEY environment variable, if set)
  --pooling-api-key K    bearer key for the /pooling server (default: VLLM_API_KEY, if set)
  --max-documents N      documents per request (default ${DEFAULT_RERANK_LIMITS.maxDocuments})
  --max-body-bytes N     request body limit (default ${DEFAULT_RERANK_LIMITS.maxBodyBytes})
  --max-text-chars N     characters per query or document (default ${DEFAULT_RERANK_LIMITS.maxTextChars})
  --max-request-tokens N token vectors one request may embed and score, query included; past it 413
                         (default ${DEFAULT_RERANK_LIMITS.maxRequestTokens})
  --max-inflight-tokens N token vectors all requests in flight may hold together; past it 429 with
                         Retry-After (default ${DEFAULT_RERANK_LIMITS.maxInflightTokens})
  --cache-mb N           document embedding cache size (default 256)
  --store DIR            also serve POST /search and /v1/search over this store (\`webgpu-maxsim index\`):
                         {"query", "top_n", "filter"?} -> {"results": [{"id", "relevance_score", "document"}]};
                         --model and --dim default to the store's
  --memory-budget-mb N   with --store: largest corpus searched exactly in memory (else a first stage)
  --timeout-ms N         per-request deadline for embedding (default 30000)
  --shutdown-grace-ms N  after Ctrl-C / SIGTERM, how long requests in flight may finish before every
                         connection is closed (default 10000; a second Ctrl-C closes at once)
${CORS_HELP}
  -h, --help             show this help

Stops cleanly on Ctrl-C (SIGINT) or SIGTERM, after a grace period for requests in flight.`;

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs('serve', {
      args,
      options: {
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        'pooling-url': { type: 'string' },
        local: { type: 'boolean' },
        model: { type: 'string' },
        dim: { type: 'string' },
        backend: { type: 'string', default: 'auto' },
        scale: { type: 'string', default: 'sum' },
        'api-key': { type: 'string' },
        'pooling-api-key': { type: 'string' },
        'max-documents': { type: 'string', default: String(DEFAULT_RERANK_LIMITS.maxDocuments) },
        'max-body-bytes': { type: 'string', default: String(DEFAULT_RERANK_LIMITS.maxBodyBytes) },
        'max-text-chars': { type: 'string', default: String(DEFAULT_RERANK_LIMITS.maxTextChars) },
        'max-request-tokens': { type: 'string', default: String(DEFAULT_RERANK_LIMITS.maxRequestTokens) },
        'max-inflight-tokens': { type: 'string', default: String(DEFAULT_RERANK_LIMITS.maxInflightTokens) },
        'cache-mb': { type: 'string', default: '256' },
        'timeout-ms': { type: 'string', default: '30000' },
        'shutdown-grace-ms': { type: 'string', default: '10000' },
        store: { type: 'string' },
        'memory-budget-mb': { type: 'string' },
        ...CORS_OPTIONS,
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    });
    if (values.help === true) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    if (values.local === true && values['pooling-url'] !== undefined) {
      throw new InvalidArgumentError('--local and --pooling-url exclude each other: pick one embedder');
    }
    const port = portOption('--port', values.port); // checked before anything starts (Dawn, the embedder)
    const backend = backendOption(values.backend);
    const scale = scaleOption(values.scale);
    const timeoutMs = intOption('--timeout-ms', values['timeout-ms'], 1);
    const graceMs = intOption('--shutdown-grace-ms', values['shutdown-grace-ms'], 0);
    let embedder: TextEmbedder;
    let client: NodePoolingClient | undefined;
    const poolingUrl = values['pooling-url'];
    // With --store, the embedder defaults to the store's model and width (a missing store is its one-line error).
    const stored = values.store === undefined ? undefined : await storeLayoutForServe(values.store);
    if (poolingUrl === undefined) {
      const hash = createHashEmbedder({
        dim: values.dim === undefined ? (stored?.dim ?? 128) : intOption('--dim', values.dim, 1),
      });
      embedder = hashTextEmbedder(hash, values.model ?? `hash-embedder-d${hash.dim}`);
    } else {
      const model = values.model ?? stored?.model ?? 'BAAI/bge-m3';
      const apiKey = values['pooling-api-key'] ?? process.env.VLLM_API_KEY;
      // Node's client: native base64 decoding, several times faster, so less time on the event loop per answer.
      client = createNodePoolingClient({
        baseUrl: poolingUrl,
        model,
        encoding: 'base64',
        timeoutMs,
        ...(apiKey === undefined || apiKey === '' ? {} : { apiKey }),
      });
      embedder = poolingTextEmbedder(client, model);
    }
    const cached = createEmbeddingCache(embedder, {
      maxBytes: intOption('--cache-mb', values['cache-mb'], 0) * 2 ** 20,
    });
    const scorer = await createScorer({ backend, scale });
    const apiKey = values['api-key'] ?? process.env.WEBGPU_MAXSIM_API_KEY;
    const cors = corsFromFlags(values);
    const limits = {
      maxDocuments: intOption('--max-documents', values['max-documents'], 1),
      maxBodyBytes: intOption('--max-body-bytes', values['max-body-bytes'], 1),
      maxTextChars: intOption('--max-text-chars', values['max-text-chars'], 1),
      maxRequestTokens: intOption('--max-request-tokens', values['max-request-tokens'], 1),
      maxInflightTokens: intOption('--max-inflight-tokens', values['max-inflight-tokens'], 1),
    };
    const rerank = createRerankHandler({
      scorer,
      embedder: cached,
      apiKey,
      timeoutMs,
      cors,
      limits,
      onError: (err) =>
        process.stderr.write(`webgpu-maxsim serve: ${err instanceof Error ? err.message : String(err)}\n`),
    });
    const store =
      values.store === undefined
        ? undefined
        : await openStoreForServe(values.store, {
            embedder: cached,
            scorer,
            memoryBudgetMb: values['memory-budget-mb'],
          });
    const handler = store === undefined ? rerank : store.handler(rerank, { apiKey, timeoutMs, limits, cors });
    const server = await serveHandler(handler, { port, host: values.host });
    process.stdout.write(
      `webgpu-maxsim serve: listening on ${server.url} (POST /rerank, /v1/rerank, /v2/rerank, /score${store === undefined ? '' : ', /search, /v1/search'}; GET /v1/models, /health)\n` +
        `  embedder: ${poolingUrl === undefined ? `built-in hashing embedder (${cached.model}, lexical)` : `${poolingUrl}/pooling (${cached.model})`}\n` +
        `  scorer:   ${describeBackend(scorer.info)}${apiKey ? '\n  api key:  required' : ''}\n` +
        (store === undefined ? '' : `  store:    ${store.summary}\n`),
    );
    await stopSignal();
    process.stdout.write(
      `webgpu-maxsim serve: stopping: no new connections; requests in flight may finish for up to ${graceMs} ms ` +
        '(Ctrl-C again to close now)\n',
    );
    const closed = server.close(graceMs);
    void stopSignal().then(() => server.close(0));
    await closed;
    store?.close();
    await client?.close();
    scorer.destroy();
    return 0;
  },
};
