// `webgpu-maxsim serve-pooling`: a local vLLM /pooling stand-in backed by the hashing embedder.
import { intOption, parseCliArgs, portOption, stopSignal, type CliCommand } from './common.js';
import { CORS_HELP, CORS_OPTIONS, corsFromFlags } from './cors-options.js';
import { InvalidArgumentError } from '../core/errors.js';
import {
  POOLING_SERVER_CONFIG_COMMANDS,
  startPoolingServer,
  type PoolingServerConfig,
  type PoolingServerMode,
} from '../testing/pooling-server/index.js';

const HELP = `Usage: webgpu-maxsim serve-pooling [options]

Serves vLLM's POST /pooling (plus /invocations, /v1/embeddings, /tokenize, /v1/models, /health) for BAAI/bge-m3,
with vLLM's CORS behaviour (every origin allowed by default, as vLLM), computing
vectors with the built-in hashing embedder: deterministic and lexical (it rewards shared words and character
n-grams), not a neural model. Use it to test clients and to run the pipeline without a GPU.

Options:
  --port N             TCP port (default 8000; 0 picks a free one)
  --host H             interface to listen on (default 127.0.0.1)
  --dim N              embedding width (default 1024, as BGE-M3)
  --model NAME         served model name (default BAAI/bge-m3)
  --config A|B|C       which vLLM start command to mimic (default B):
                         A  ${POOLING_SERVER_CONFIG_COMMANDS.A}
                            (task embed: one [dim] CLS vector per input)
                         B  ${POOLING_SERVER_CONFIG_COMMANDS.B}
                            (every token's row, <s> and </s> included)
                         C  vllm serve BAAI/bge-m3 --hf-overrides '{"architectures":["BgeM3EmbeddingModel"]}'
                              --pooler-config.task token_embed  (ColBERT layout: <s> row dropped)
  --mode M             vLLM version to mimic: newest (default), v0.21, v0.13, v0.11, v0.10
  --max-model-len N    longest prompt in tokens (default 8192)
  --max-prompts N      prompts per request in newest mode (VLLM_MAX_COMPLETION_PROMPTS, default 1024)
  --api-key K          require "Authorization: Bearer K" (401 {"error":"Unauthorized"} otherwise)
${CORS_HELP}
  --seed N             embedder seed (default 0)
  -h, --help           show this help

Stops cleanly on Ctrl-C (SIGINT) or SIGTERM.`;

const MODES: readonly string[] = ['newest', 'v0.21', 'v0.13', 'v0.11', 'v0.10'];

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs('serve-pooling', {
      args,
      options: {
        port: { type: 'string', default: '8000' },
        host: { type: 'string', default: '127.0.0.1' },
        dim: { type: 'string', default: '1024' },
        model: { type: 'string', default: 'BAAI/bge-m3' },
        config: { type: 'string', default: 'B' },
        mode: { type: 'string', default: 'newest' },
        'max-model-len': { type: 'string', default: '8192' },
        'max-prompts': { type: 'string', default: '1024' },
        'api-key': { type: 'string' },
        seed: { type: 'string', default: '0' },
        ...CORS_OPTIONS,
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    });
    if (values.help === true) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    const config = values.config.toUpperCase();
    if (config !== 'A' && config !== 'B' && config !== 'C') {
      throw new InvalidArgumentError(`--config is ${JSON.stringify(values.config)}, expected A, B or C (see --help)`);
    }
    if (!MODES.includes(values.mode)) {
      throw new InvalidArgumentError(`--mode is ${JSON.stringify(values.mode)}, expected one of ${MODES.join(', ')}`);
    }
    const server = await startPoolingServer({
      port: portOption('--port', values.port),
      host: values.host,
      dim: intOption('--dim', values.dim, 1),
      model: values.model,
      config: config as PoolingServerConfig,
      mode: values.mode as PoolingServerMode,
      maxModelLen: intOption('--max-model-len', values['max-model-len'], 1),
      maxPrompts: intOption('--max-prompts', values['max-prompts'], 1),
      seed: intOption('--seed', values.seed, Number.MIN_SAFE_INTEGER),
      ...(values['api-key'] === undefined ? {} : { apiKey: values['api-key'] }),
      cors: corsFromFlags(values),
    });
    const mimics = POOLING_SERVER_CONFIG_COMMANDS[config];
    process.stdout.write(
      `webgpu-maxsim serve-pooling: listening on ${server.url} (POST ${server.url}/pooling)\n` +
        `  mimics: ${mimics}  [config ${config}, task ${server.task}, vLLM ${values.mode}]\n` +
        `  model ${server.model}, dim ${server.dim}, max_model_len ${server.maxModelLen}` +
        `${values['api-key'] === undefined ? '' : ', API key required'}\n` +
        '  vectors: built-in hashing embedder (lexical, not a neural model). Ctrl-C to stop.\n',
    );
    await stopSignal();
    await server.close();
    process.stdout.write('webgpu-maxsim serve-pooling: stopped\n');
    return 0;
  },
};
