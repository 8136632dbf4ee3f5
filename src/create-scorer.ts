import { createCpuEngine } from './cpu-scorer.js';
import { BackendUnavailableError, InvalidArgumentError } from './errors.js';
import { checkScale, type Scale } from './maxsim-reference.js';
import { createScorerFromEngine, type BackendChoice, type Scorer } from './scorer.js';

/** Options for {@link createScorer}. */
export interface ScorerOptions {
  /** `'auto'` (default) picks WebGPU on a hardware adapter and the CPU otherwise; `'cpu'`/`'webgpu'` force one. */
  readonly backend?: BackendChoice;
  /** `'sum'` (default, ColBERT / vLLM `/score`) or `'mean'` (BGE-M3 / FlagEmbedding). */
  readonly scale?: Scale;
  /** A `GPU` to use instead of `navigator.gpu` (in Node, `webgpu-maxsim/node` passes Dawn's). */
  readonly gpu?: GPU;
  /** A device to adopt; the scorer never destroys a device it did not create. */
  readonly device?: GPUDevice;
  /** Document storage on the GPU: `'f32'` (default) or `'f16'` (half the memory and bandwidth). */
  readonly precision?: 'f32' | 'f16';
}

/**
 * Creates a MaxSim scorer on the best backend available (or the one asked for).
 *
 * @example
 * import { createScorer } from 'webgpu-maxsim';
 * const scorer = await createScorer({ backend: 'auto', scale: 'sum' });
 * const ranked = await scorer.rerank(query, docs, { topK: 10 });
 * scorer.destroy();
 */
export async function createScorer(options: ScorerOptions = {}): Promise<Scorer> {
  const backend = options.backend ?? 'auto';
  const scale = checkScale(options.scale ?? 'sum');
  if (backend !== 'auto' && backend !== 'cpu' && backend !== 'webgpu') {
    throw new InvalidArgumentError(`backend must be 'auto', 'cpu' or 'webgpu', got ${JSON.stringify(backend)}`);
  }
  if (backend === 'cpu') return createScorerFromEngine(createCpuEngine(), scale);
  const gpu = options.gpu ?? findNavigatorGpu();
  if (backend === 'webgpu') {
    if (gpu === undefined && options.device === undefined) {
      throw new BackendUnavailableError(
        'WebGPU is not available here: navigator.gpu is missing. In a browser, use one with WebGPU enabled ' +
          '(Chrome/Edge 113+, Safari 26+, or Firefox 141+ on Windows) over https or localhost; in Node, import ' +
          "createScorer from 'webgpu-maxsim/node' (it brings Dawn); or ask for backend: 'cpu'.",
      );
    }
    throw new BackendUnavailableError('The WebGPU backend is not part of this build yet; use backend: "cpu".');
  }
  return createScorerFromEngine(createCpuEngine(), scale);
}

function findNavigatorGpu(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? undefined;
}
