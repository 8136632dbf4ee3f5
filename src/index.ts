/// <reference types="@webgpu/types" preserve="true" />
// The universal entry (browsers, Deno, Bun, Workers, and Node through the "node" condition's own entry): the
// public names, listed on purpose. Everything else in src/ is internal and may change between releases.

// Scoring: create a scorer, upload documents once, score and rerank.
export { createScorer, type ScorerOptions, type WebGpuOptions } from './create-scorer.js';
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

// Token matrices and the float64 reference.
export {
  normalizeRows,
  tokenMatrixFromNested,
  tokenRow,
  validateTokenMatrix,
  type TokenMatrix,
} from './core/token-matrix.js';
export { EMPTY_DOCUMENT_SCORE, maxsimReference, type Scale } from './core/reference.js';
export { topK, type RankedDocument } from './core/top-k.js';

// Corpus files: documents (with ids and texts) in safetensors, written and read here or in Python.
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

// Errors: branch on `err.code`; messages say how to fix things.
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

// vLLM /pooling: texts in, token matrices out.
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

// Embedders: vLLM, or the built-in lexical hashing embedder (no server, no model).
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

// The rerank service as a web-standard handler (Request → Response).
export {
  createRerankHandler,
  DEFAULT_RERANK_LIMITS,
  type RerankLimits,
  type RerankResultJson,
  type RerankServiceOptions,
} from './service/rerank-handler.js';
export type { CorsOptions } from './service/cors.js';
