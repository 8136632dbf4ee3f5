/// <reference types="@webgpu/types" preserve="true" />
// The Node entry: the universal API with Node's createScorer (Dawn for WebGPU, one worker thread per core for
// the CPU), plus Node-only pieces: an undici-backed /pooling client, an HTTP adapter for the rerank handler,
// and the local vLLM /pooling stand-in.
import { createScorerOn, webPlatform, type ScorerOptions } from './create-scorer.js';
import type { Scorer } from './core/scorer.js';
import { nodeCpuOptions } from './node/cpu-workers.js';
import { dawnAutoVeto, loadDawnGpu } from './node/dawn.js';

/**
 * The Node entry's `createScorer`: the options of the universal one, with Dawn (the `webgpu` package, loaded
 * on first use, so CPU-only use never loads the native module) as the GPU, and one `worker_threads` worker
 * per core for the CPU backend (and the WebGPU backend's CPU fallback) unless `cpu` says otherwise.
 *
 * @example
 * import { createScorer } from 'webgpu-maxsim/node';
 * const scorer = await createScorer(); // scorer.info.summary: 'cpu (wasm-simd, 2 threads)' on a machine without a GPU
 */
export function createScorer(options: ScorerOptions = {}): Promise<Scorer> {
  return createScorerOn(
    {
      gpu: loadDawnGpu,
      autoVeto: dawnAutoVeto,
      missingGpu: webPlatform.missingGpu,
      cpuDefaults: (given) => nodeCpuOptions(given),
    },
    options,
  );
}

export type { ScorerOptions, WebGpuOptions } from './create-scorer.js';
export type {
  Backend,
  BackendChoice,
  Corpus,
  RerankOptions,
  Scorer,
  ScorerInfo,
  UploadOptions,
  UploadProgress,
  VariantChoiceInfo,
} from './core/scorer.js';
export type { CpuOptions } from './cpu/engine.js';
export type { CpuWorker, CpuWorkerEvents, CpuWorkerFactory } from './cpu/threads.js';
export {
  normalizeRows,
  tokenMatrixFromNested,
  tokenRow,
  validateTokenMatrix,
  type TokenMatrix,
} from './core/token-matrix.js';
export { EMPTY_DOCUMENT_SCORE, maxsimReference, type Scale } from './core/reference.js';
export { topK, type RankedDocument } from './core/top-k.js';
export {
  CORPUS_FILE_FORMAT,
  CORPUS_FILE_VERSION,
  readCorpusFile,
  readCorpusFileStream,
  writeCorpusFile,
  writeCorpusFileChunks,
  type CorpusDtype,
  type CorpusFile,
  type CorpusFileChunks,
  type CorpusFileSource,
  type CorpusWriteDtype,
  type WriteCorpusFileOptions,
} from './core/corpus-file.js';
export {
  BackendUnavailableError,
  CorpusFileError,
  DestroyedError,
  DimensionMismatchError,
  ForeignCorpusError,
  InvalidArgumentError,
  InvalidTokenMatrixError,
  MaxsimError,
  type CorpusFileProblem,
  ScoreOverflowError,
} from './core/errors.js';
export { CpuMemoryLimitError, CpuWorkerError } from './cpu/errors.js';
export { DeviceLostError, GpuLimitError, GpuOutOfMemoryError, GpuValidationError } from './webgpu/errors.js';
export {
  PoolingAbortedError,
  PoolingConnectionError,
  PoolingEmbedTaskError,
  PoolingHttpError,
  PoolingResponseError,
  PoolingTimeoutError,
  type PoolingHttpErrorInit,
} from './pooling/errors.js';
export {
  MAX_PROMPTS_PER_REQUEST,
  PoolingClient,
  type EmbedCallOptions,
  type EmbedResult,
  type PoolingClientOptions,
  type PoolingInput,
  type PoolingProgress,
} from './pooling/client.js';
export type { EmbedDtype, Endianness, PoolingEncoding } from './pooling/dtypes.js';
export type { PoolingUsage } from './pooling/response.js';
export {
  createHashEmbedder,
  type HashEmbedder,
  type HashEmbedderOptions,
  type HashEmbedOptions,
  type HashEncoding,
} from './embed/hash-embedder.js';
export {
  createEmbeddingCache,
  hashTextEmbedder,
  poolingTextEmbedder,
  type EmbeddedText,
  type EmbeddingCacheOptions,
  type TextEmbedder,
} from './embed/text-embedder.js';
export {
  createRerankHandler,
  DEFAULT_RERANK_LIMITS,
  type RerankLimits,
  type RerankResultJson,
  type RerankServiceOptions,
} from './service/rerank-handler.js';
export type { CorsOptions } from './service/cors.js';

// Node only.
export { loadDawnGpu } from './node/dawn.js';
export { nodeCpuOptions, nodeCpuWorkerFactory } from './node/cpu-workers.js';
export {
  createNodePoolingClient,
  NODE_POOLING_MAX_HEADER_SIZE,
  NodePoolingClient,
  type NodePoolingClientOptions,
} from './node/pooling-client.js';
export { serveHandler, type RunningServer } from './node/serve.js';
export {
  POOLING_SERVER_CONFIG_COMMANDS,
  startPoolingServer,
  type PoolingServer,
  type PoolingServerConfig,
  type PoolingServerFault,
  type PoolingServerMode,
  type PoolingServerOptions,
  type PoolingServerRequest,
  type PoolingTaskName,
} from './testing/pooling-server/index.js';
