import { createCpuEngine, type CpuOptions } from './cpu/engine.js';
import { BackendUnavailableError, InvalidArgumentError } from './core/errors.js';
import { checkScale, type Scale } from './core/reference.js';
import { createScorerFromEngine, type BackendChoice, type Scorer } from './core/scorer.js';
import { adoptMaxsimDevice, createMaxsimDevice, describeAdapter, type MaxsimDevice } from './webgpu/device.js';
import { createWebGpuEngine, type CpuEngineOptions } from './webgpu/engine.js';

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
  /**
   * What a WebGPU scorer does when its device is lost: `'cpu'` rescores on the CPU (keeping a host copy of every
   * uploaded corpus, 4 bytes per value), `'none'` rejects with `E_DEVICE_LOST`. Default: `'cpu'` for
   * `backend: 'auto'`, `'none'` for `backend: 'webgpu'`.
   */
  readonly fallback?: 'cpu' | 'none';
  /**
   * The CPU backend: `threads` (default: one per core), `kernel` (`'auto'`: WASM SIMD where it runs, else
   * TypeScript), `wasmModule` (the precompiled `webgpu-maxsim/maxsim.wasm`, for runtimes such as Cloudflare
   * Workers that refuse to compile WebAssembly from bytes), `workers` (how to start a worker thread).
   */
  readonly cpu?: CpuOptions;
}

/**
 * Creates a MaxSim scorer on the best backend available (or the one asked for).
 * `'auto'` uses WebGPU only on a hardware adapter (software adapters such as SwiftShader and lavapipe are
 * slower than the CPU path) and falls back to the CPU when there is no adapter or device creation fails;
 * `'webgpu'` uses whatever adapter exists and throws `E_BACKEND_UNAVAILABLE` when there is none.
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
  if (backend === 'cpu') return createScorerFromEngine(await createCpuEngine(options.cpu), scale);
  const auto = backend === 'auto';
  const gpu = options.gpu ?? findNavigatorGpu();
  if (gpu === undefined && options.device === undefined) {
    if (auto) return createScorerFromEngine(await createCpuEngine(options.cpu), scale);
    throw new BackendUnavailableError(
      'WebGPU is not available here: navigator.gpu is missing. In a browser, use one with WebGPU enabled ' +
        '(Chrome/Edge 113+, Safari 26+, or Firefox 141+ on Windows) over https or localhost; in Node, import ' +
        "createScorer from 'webgpu-maxsim/node' (it brings Dawn); or ask for backend: 'cpu'.",
    );
  }
  let md: MaxsimDevice | undefined;
  try {
    md =
      options.device === undefined
        ? await createMaxsimDevice(gpu!, { hardwareOnly: auto })
        : adoptMaxsimDevice(options.device);
    if (auto && md.adapter.isFallbackAdapter) {
      throw new BackendUnavailableError(`adapter ${describeAdapter(md.adapter)} is a software adapter`);
    }
    const engine = await createWebGpuEngine(md, {
      fallback: options.fallback ?? (auto ? 'cpu' : 'none'),
      ...(options.cpu === undefined ? {} : { cpu: options.cpu }),
      destroyDevice: true, // only acts on a device createMaxsimDevice made, never on an adopted one
      ...(options.precision === undefined ? {} : { precision: options.precision }),
    });
    return createScorerFromEngine(engine, scale);
  } catch (err) {
    md?.destroy();
    if (err instanceof InvalidArgumentError) throw err;
    if (auto) return createScorerFromEngine(await createCpuEngine(options.cpu), scale);
    if (err instanceof BackendUnavailableError) throw err;
    throw new BackendUnavailableError(
      `Could not start the WebGPU backend: ${err instanceof Error ? err.message : String(err)}. ` +
        "Use backend: 'auto' to fall back to the CPU, or backend: 'cpu'.",
      { cause: err },
    );
  }
}

function findNavigatorGpu(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? undefined;
}
