// `webgpu-maxsim embed`: vLLM's multi_vector_retrieval_client.py as a command. Posts texts to /pooling (or
// embeds them with the built-in hashing embedder) and prints each matrix's shape. Also home of the server
// options shared with `rerank`.
import type { ParseArgsConfig } from 'node:util';
import { cliProgress, intOption, parseCliArgs, portOption, type CliCommand, type CliProgress } from './common.js';
import type { EmbedDtype, PoolingEncoding } from '../pooling/dtypes.js';
import { createHashEmbedder } from '../embed/hash-embedder.js';
import { createNodePoolingClient, type NodePoolingClient } from '../node/pooling-client.js';
import type { PoolingUsage } from '../pooling/client.js';
import type { TokenMatrix } from '../core/token-matrix.js';

/** The seed's four prompts, sent when `embed` gets no TEXT. */
const SEED_PROMPTS: readonly string[] = [
  'Hello, my name is',
  'The president of the United States is',
  'The capital of France is',
  'The future of AI is',
];

/** parseArgs options shared by `embed` and `rerank`. */
export const EMBEDDER_OPTIONS = {
  host: { type: 'string', default: 'localhost' },
  port: { type: 'string', default: '8000' },
  'base-url': { type: 'string' },
  model: { type: 'string', default: 'BAAI/bge-m3' },
  'api-key': { type: 'string' },
  encoding: { type: 'string', default: 'base64' },
  'embed-dtype': { type: 'string', default: 'float32' },
  task: { type: 'string' },
  dim: { type: 'string' },
  'drop-leading-token': { type: 'boolean' },
  truncate: { type: 'string' },
  'batch-size': { type: 'string', default: '32' },
  concurrency: { type: 'string', default: '4' },
  'timeout-ms': { type: 'string', default: '120000' },
  retries: { type: 'string', default: '2' },
  local: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Help text for {@link EMBEDDER_OPTIONS}. */
export const EMBEDDER_HELP = `Server options (vLLM started with --pooler-config.task token_embed; see the README):
  --host H               server host (default localhost)
  --port N               server port (default 8000)
  --base-url URL         instead of host/port, e.g. https://gpu-box:8000
  --model NAME           served model (default BAAI/bge-m3)
  --api-key KEY          vLLM --api-key (default: $VLLM_API_KEY); never printed
  --encoding E           float | base64 (default) | bytes | bytes_only
  --embed-dtype T        float32 (default) | float16 | bfloat16 | fp8_e4m3 | fp8_e5m2 (base64/bytes only)
  --task T               send "task" (only if the server runs that task, e.g. token_embed)
  --dim N                vector width, if known (otherwise learned from the server)
  --drop-leading-token   drop each text's first row (<s>): BGE-M3's ColBERT convention on a server that
                         returns every token (configuration B)
  --truncate K           truncate_prompt_tokens (-1: the model's maximum)
  --batch-size N         texts per request (default 32, at most 1024)
  --concurrency N        requests in flight (default 4)
  --timeout-ms N         per request (default 120000)
  --retries N            retries of transient failures (default 2)
  --local                no server: the built-in hashing embedder (lexical, deterministic, not a neural
                         model; --dim sets its width, default 1024)
  -q, --quiet            no progress on stderr (shown for 1,000+ texts, or once work takes a second: a bar
                         on a terminal, a line per tenth otherwise)`;

export type EmbedderValues = { [K in keyof typeof EMBEDDER_OPTIONS]?: string | boolean | undefined };

/** What an embedder built from the CLI options gives back. */
export interface CliEmbedding {
  readonly matrices: TokenMatrix[];
  readonly usage: PoolingUsage;
  /** e.g. `BAAI/bge-m3 at http://localhost:8000 (base64 float32)` or `built-in hashing embedder (dim 1024)`. */
  readonly source: string;
}

/**
 * Embeds `texts` as the shared CLI options say: with the built-in hashing embedder (`--local`) or a vLLM
 * `/pooling` server through the Node client.
 */
export async function embedWithCliOptions(
  values: EmbedderValues,
  texts: readonly string[],
  progress?: CliProgress,
): Promise<CliEmbedding> {
  const dim = values.dim === undefined ? undefined : intOption('--dim', values.dim as string, 1);
  if (values.local === true) {
    const embedder = createHashEmbedder({ dim: dim ?? 1024 });
    let matrices = texts.map((t, i) => {
      progress?.update('embedding', i, texts.length, 'texts');
      return embedder.embedText(t);
    });
    progress?.update('embedding', texts.length, texts.length, 'texts');
    if (values['drop-leading-token'] === true) {
      matrices = matrices.map((m) => ({ data: m.data.subarray(m.dim), rows: Math.max(0, m.rows - 1), dim: m.dim }));
    }
    const tokens = texts.reduce((a, t) => a + embedder.encode(t).ids.length, 0);
    return {
      matrices,
      usage: { promptTokens: tokens, totalTokens: tokens },
      source: `built-in hashing embedder (dim ${embedder.dim}; lexical, not a neural model)`,
    };
  }
  const client = poolingClientFromCliOptions(values, dim);
  const encoding = values.encoding as PoolingEncoding;
  const embedDtype = values['embed-dtype'] as EmbedDtype;
  try {
    progress?.update('embedding', 0, texts.length, 'texts');
    const { matrices, usage } = await client.embed(texts, {
      ...(progress === undefined ? {} : { onProgress: (p) => progress.update('embedding', p.done, p.total, 'texts') }),
    });
    const wire = encoding === 'float' ? 'float' : `${encoding} ${embedDtype}`;
    return { matrices, usage, source: `${values.model as string} at ${client.baseUrl} (${wire})` };
  } finally {
    await client.close();
  }
}

/**
 * The Node /pooling client the shared CLI options describe (`--host/--port` or `--base-url`, `--model`,
 * `--encoding`, ...); `dim` is the parsed `--dim`. The caller closes it.
 */
export function poolingClientFromCliOptions(values: EmbedderValues, dim: number | undefined): NodePoolingClient {
  const encoding = values.encoding as PoolingEncoding;
  const embedDtype = values['embed-dtype'] as EmbedDtype;
  const apiKey = (values['api-key'] as string | undefined) ?? process.env.VLLM_API_KEY;
  const truncate = values.truncate === undefined ? undefined : intOption('--truncate', values.truncate as string, -1);
  return createNodePoolingClient({
    ...(values['base-url'] === undefined
      ? { host: values.host as string, port: portOption('--port', values.port as string) }
      : { baseUrl: values['base-url'] as string }),
    model: values.model as string,
    encoding,
    embedDtype,
    batchSize: intOption('--batch-size', values['batch-size'] as string, 1),
    concurrency: intOption('--concurrency', values.concurrency as string, 1),
    timeoutMs: intOption('--timeout-ms', values['timeout-ms'] as string, 1),
    maxRetries: intOption('--retries', values.retries as string, 0),
    ...(apiKey === undefined || apiKey === '' ? {} : { apiKey }),
    ...(values.task === undefined ? {} : { task: values.task as string }),
    ...(dim === undefined ? {} : { dim }),
    ...(truncate === undefined ? {} : { truncatePromptTokens: truncate }),
    ...(values['drop-leading-token'] === true ? { dropLeadingToken: true } : {}),
  });
}

const HELP = `Usage: webgpu-maxsim embed [options] [TEXT...]

Embeds each TEXT into one vector per token through vLLM's POST /pooling (or the built-in embedder with
--local) and prints one line per text, "Multi-vector shape: [ROWS, DIM]", then the token usage: the seed
client vLLM ships as examples/pooling/token_embed/multi_vector_retrieval_client.py. With no TEXT it sends
the seed's four prompts.

${EMBEDDER_HELP}
  -h, --help             show this help

Examples:
  vllm serve BAAI/bge-m3 --pooler-config.task token_embed        # then:
  webgpu-maxsim embed
  webgpu-maxsim embed --encoding bytes --embed-dtype float16 "What is MaxSim?"
  webgpu-maxsim embed --local`;

export const command: CliCommand = {
  async run(args) {
    const { values, positionals } = parseCliArgs('embed', { args, options: EMBEDDER_OPTIONS, allowPositionals: true });
    if (values.help === true) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    const texts = positionals.length > 0 ? positionals : SEED_PROMPTS;
    const progress = cliProgress({ noun: 'texts', quiet: values.quiet === true });
    let embedded: CliEmbedding;
    try {
      embedded = await embedWithCliOptions(values, texts, progress);
    } finally {
      progress.finish();
    }
    const { matrices, usage } = embedded;
    const lines = matrices.map((m) => `Multi-vector shape: [${m.rows}, ${m.dim}]`);
    lines.push(`Usage: prompt_tokens=${usage.promptTokens} total_tokens=${usage.totalTokens}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  },
};
