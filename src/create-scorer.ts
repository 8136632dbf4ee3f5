// The backend choice: which engine scores, and what happens when WebGPU is missing, software-only or lost.
// Each entry supplies its platform (the browser's navigator.gpu and Web Workers; Node's Dawn and worker_threads)
// and exports one createScorer built on createScorerOn.
import { BackendUnavailableError, InvalidArgumentError } from './core/errors.js';
import { checkScale, type Scale } from './core/reference.js';
import {
  createScorerFromEngine,
  type BackendChoice,
  type Scorer,
  type ScorerInfo,
  type ScoringEngine,
} from './core/scorer.js';
import { createCpuEngine, type CpuOptions } from './cpu/engine.js';
import { withCpuFallback } from './fallback-engine.js';
import { adoptMaxsimDevice, createMaxsimDevice, describeAdapter, type MaxsimDevice } from './webgpu/device.js';
import { createWebGpuEngine, type WebGpuEngineOptions } from './webgpu/engine.js';

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
  /**
   * Document storage: `'f32'` (default); `'f16'` on WebGPU (half the memory and bandwidth; the CPU keeps f32);
   * `'int8'`, per-row symmetric int8 with a float32 scale per row (a quarter of the memory; scored with integer
   * dot products) on both backends: the CPU quantizes the query to int16, WebGPU to int8 (`dot4I8Packed` where
   * the WGSL language feature exists; `info.int8Dot` says which path). Error bounds in the README.
   */
  readonly precision?: 'f32' | 'f16' | 'int8';
  /**
   * The WebGPU kernels: `variant` (`'auto'`, the default: measured once per adapter and kind of call on hardware
   * adapters, a default on software ones; or a name such as `'q32'`, `'q128-subgroup'`, `'baseline'` to force
   * one), `f16Math` (f16 arithmetic with `precision: 'f16'` where the device has `shader-f16`; opt-in, its error
   * bound is in the README), `tune` (measure variants; default: on hardware adapters only), `int8Dot` (with
   * `precision: 'int8'`: `'auto'`, `'unpacked'` to force the core-WGSL path, or `'dot4I8Packed'`).
   */
  readonly webgpu?: WebGpuOptions;
  /**
   * What a WebGPU scorer does when its device is lost: `'cpu'` rescores on the CPU (keeping a host copy of every
   * uploaded corpus, 4 bytes per value), `'none'` rejects with `E_DEVICE_LOST`. Default: `'cpu'` for
   * `backend: 'auto'`, `'none'` for `backend: 'webgpu'`.
   */
  readonly fallback?: 'cpu' | 'none';
  /**
   * The CPU backend (also the fallback's): `threads` (default: one per core), `kernel` (`'auto'`: WASM SIMD where it runs, else
   * TypeScript), `wasmModule` (the precompiled `webgpu-maxsim/maxsim.wasm`, for runtimes such as Cloudflare
   * Workers that refuse to compile WebAssembly from bytes), `workers` (how to start a worker thread).
   */
  readonly cpu?: CpuOptions;
}

/** The WebGPU kernel options of {@link ScorerOptions}. */
export interface WebGpuOptions {
  readonly variant?: string;
  readonly f16Math?: boolean;
  readonly tune?: boolean;
  readonly int8Dot?: 'auto' | 'dot4I8Packed' | 'unpacked';
}

/**
 * What an entry brings to the backend choice: where a `GPU` comes from when the caller gives none, and the CPU
 * options its runtime defaults to.
 */
export interface ScorerPlatform {
  /**
   * The `GPU` to use when neither `gpu` nor `device` is given; `undefined` when this runtime has none. May
   * reject (a native module that fails to load): `'auto'` then scores on the CPU, `'webgpu'` throws.
   */
  readonly gpu: () => GPU | undefined | Promise<GPU | undefined>;
  /** Why there is no GPU, for the error of `backend: 'webgpu'` and for `info.fallbackReason`. */
  readonly missingGpu: string;
  /** The CPU options under the caller's own (threads, how workers start). */
  readonly cpuDefaults: (given: CpuOptions | undefined) => CpuOptions;
  /**
   * For `'auto'` with no `gpu` or `device` given: why not to open this platform's GPU at all, found without
   * opening it here (Node asks Dawn in a child process, so a software-only machine never prints Dawn's warnings);
   * `undefined` to go ahead.
   */
  readonly autoVeto?: () => Promise<string | undefined>;
}

/** The universal platform: `navigator.gpu` and the runtime's Web Workers. */
export const webPlatform: ScorerPlatform = {
  gpu: () => (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu ?? undefined,
  missingGpu:
    'WebGPU is not available here: navigator.gpu is missing. In a browser, use one with WebGPU enabled ' +
    '(Chrome/Edge 113+, Safari 26+, or Firefox 141+ on Windows) over https or localhost; in Node, import ' +
    "createScorer from 'webgpu-maxsim/node' (it brings Dawn); or ask for backend: 'cpu'.",
  cpuDefaults: (given) => given ?? {},
};

/**
 * Creates a MaxSim scorer on the best backend available (or the one asked for).
 * `'auto'` uses WebGPU only on a hardware adapter (software adapters such as SwiftShader and lavapipe are
 * slower than the CPU path) and falls back to the CPU when there is no adapter or device creation fails,
 * saying why in `info.fallbackReason`; `'webgpu'` uses whatever adapter exists and throws
 * `E_BACKEND_UNAVAILABLE` when there is none.
 *
 * @example
 * import { createScorer } from 'webgpu-maxsim';
 * const scorer = await createScorer({ backend: 'auto', scale: 'sum' });
 * const ranked = await scorer.rerank(query, docs, { topK: 10 });
 * scorer.destroy();
 */
export function createScorer(options: ScorerOptions = {}): Promise<Scorer> {
  return createScorerOn(webPlatform, options);
}

/**
 * {@link createScorer} on a given platform: how each entry builds its own.
 *
 * @example
 * const createNodeScorer = (options) => createScorerOn({ ...webPlatform, gpu: loadDawnGpu }, options);
 */
export async function createScorerOn(platform: ScorerPlatform, options: ScorerOptions = {}): Promise<Scorer> {
  const backend = options.backend ?? 'auto';
  const scale = checkScale(options.scale ?? 'sum');
  if (backend !== 'auto' && backend !== 'cpu' && backend !== 'webgpu') {
    throw new InvalidArgumentError(`backend must be 'auto', 'cpu' or 'webgpu', got ${JSON.stringify(backend)}`);
  }
  const fallback = options.fallback ?? (backend === 'auto' ? 'cpu' : 'none');
  if (fallback !== 'cpu' && fallback !== 'none') {
    throw new InvalidArgumentError(`fallback must be 'cpu' or 'none', got ${JSON.stringify(fallback)}`);
  }
  const precision = options.precision ?? 'f32';
  if (precision !== 'f32' && precision !== 'f16' && precision !== 'int8') {
    throw new InvalidArgumentError(`precision must be 'f32', 'f16' or 'int8', got ${JSON.stringify(precision)}`);
  }
  const cpuOptions = platform.cpuDefaults(options.cpu);
  // The CPU stores f32 for 'f16' (its kernels have no f16), int8 for 'int8'.
  const startCpu = () => createCpuEngine(cpuOptions, precision === 'int8' ? 'int8' : 'f32');
  const onCpu = async (reason: string): Promise<Scorer> =>
    createScorerFromEngine(explained(await startCpu(), reason), scale);
  if (backend === 'cpu') return onCpu("backend: 'cpu' was asked for");
  const auto = backend === 'auto';

  let gpu = options.gpu;
  if (gpu === undefined && options.device === undefined) {
    if (auto && platform.autoVeto !== undefined) {
      const why = await platform.autoVeto();
      if (why !== undefined) return onCpu(why);
    }
    try {
      gpu = await platform.gpu();
    } catch (err) {
      const why = `no WebGPU: ${err instanceof Error ? err.message : String(err)}`;
      if (auto) return onCpu(why);
      throw new BackendUnavailableError(`${why}. Use backend: 'cpu'.`, { cause: err });
    }
    if (gpu === undefined) {
      if (auto) return onCpu('no WebGPU in this runtime');
      throw new BackendUnavailableError(platform.missingGpu);
    }
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
      destroyDevice: true, // only acts on a device createMaxsimDevice made, never on an adopted one
      precision,
      ...webGpuOptions(options.webgpu),
    });
    if (fallback === 'none') return createScorerFromEngine(engine, scale);
    return createScorerFromEngine(withCpuFallback(engine, startCpu), scale);
  } catch (err) {
    md?.destroy();
    if (err instanceof InvalidArgumentError) throw err;
    if (auto) return onCpu(fallbackReason(err));
    if (err instanceof BackendUnavailableError) throw err;
    throw new BackendUnavailableError(
      `Could not start the WebGPU backend: ${err instanceof Error ? err.message : String(err)}. ` +
        "Use backend: 'auto' to fall back to the CPU, or backend: 'cpu'.",
      { cause: err },
    );
  }
}

/** The engine options of `webgpu: { ... }`, checked. */
function webGpuOptions(
  given: WebGpuOptions | undefined,
): Pick<WebGpuEngineOptions, 'variant' | 'f16Math' | 'tune' | 'int8Dot'> {
  if (given === undefined) return {};
  if (typeof given !== 'object' || given === null) {
    throw new InvalidArgumentError('webgpu must be an object: { variant?, f16Math?, tune?, int8Dot? }');
  }
  const out: { variant?: string; f16Math?: boolean; tune?: boolean; int8Dot?: 'auto' | 'dot4I8Packed' | 'unpacked' } =
    {};
  // Checked by the engine (E_INVALID_ARGUMENT for an unknown value).
  if (given.int8Dot !== undefined) out.int8Dot = given.int8Dot;
  if (given.variant !== undefined) {
    if (typeof given.variant !== 'string') throw new InvalidArgumentError('webgpu.variant must be a string');
    out.variant = given.variant;
  }
  for (const key of ['f16Math', 'tune'] as const) {
    const value = given[key];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw new InvalidArgumentError(`webgpu.${key} must be true or false`);
    out[key] = value;
  }
  return out;
}

/** Why `'auto'` did not start WebGPU, in a few words (the first sentence of the error). */
function fallbackReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split(/\.\s/)[0]!.replace(/\.$/, '');
}

/**
 * The CPU engine (a plain object of closures), its `info` saying why it runs instead of WebGPU. The engine's own
 * fields stay live (read through, not copied): a CPU engine whose workers fail to start changes `threads`.
 */
function explained<C>(engine: ScoringEngine<C>, reason: string): ScoringEngine<C> {
  const base = engine.info;
  const info = {} as ScorerInfo;
  for (const key of Object.keys(base) as (keyof ScorerInfo)[]) {
    Object.defineProperty(info, key, { enumerable: true, get: () => base[key] });
  }
  Object.defineProperty(info, 'fallbackReason', { enumerable: true, value: reason });
  return { ...engine, info };
}
