import { createScorer as createCoreScorer, type ScorerOptions } from '../create-scorer.js';
import { BackendUnavailableError } from '../core/errors.js';
import type { Scorer } from '../core/scorer.js';

let dawn: Promise<GPU> | undefined;

/**
 * Dawn's `GPU` from the `webgpu` package, loaded on first use and kept for the life of the process (one
 * instance serves every scorer; nothing is installed on `globalThis`).
 *
 * @example
 * const gpu = await loadDawnGpu();
 * const adapter = await gpu.requestAdapter();
 */
export function loadDawnGpu(): Promise<GPU> {
  dawn ??= import('webgpu').then(({ create }) => create([]));
  dawn.catch(() => {
    dawn = undefined; // a failed load (package missing, no Vulkan loader) is retried by the next call
  });
  return dawn;
}

/**
 * The Node entry's `createScorer`: the same options as the core one, but when a GPU backend is wanted and
 * neither `gpu` nor `device` is given, it supplies Dawn (the `webgpu` package), loaded lazily, so CPU-only
 * use never loads the native module.
 *
 * @example
 * import { createScorer } from 'webgpu-maxsim/node';
 * const scorer = await createScorer({ backend: 'webgpu' }); // Dawn on Vulkan/Metal/D3D12
 */
export async function createScorer(options: ScorerOptions = {}): Promise<Scorer> {
  const backend = options.backend ?? 'auto';
  if (backend === 'cpu' || options.gpu !== undefined || options.device !== undefined) {
    return createCoreScorer(options);
  }
  let gpu: GPU;
  try {
    gpu = await loadDawnGpu();
  } catch (err) {
    if (backend === 'auto') return createCoreScorer({ ...options, backend: 'cpu' });
    throw new BackendUnavailableError(
      `Could not load Dawn (the 'webgpu' package): ${err instanceof Error ? err.message : String(err)}. ` +
        "Reinstall webgpu-maxsim's dependencies, or use backend: 'cpu'.",
      { cause: err },
    );
  }
  return createCoreScorer({ ...options, gpu });
}
