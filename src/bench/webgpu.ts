// A WebGPU backend as the benchmark drives it: an owned device, the engine createScorer would build on it, and
// kernel-only timers for its corpora. Universal: Node passes Dawn's GPU, the browser page passes navigator.gpu.
import { prepareKernelTimer } from './webgpu-kernel.js';
import type { KernelTimerFactory } from './measure.js';
import { BenchmarkError } from './errors.js';
import type { ScorerInfo } from '../core/scorer.js';
import { createMaxsimDevice, describeAdapter, type AdapterSummary, type MaxsimDevice } from '../webgpu/device.js';
import { createWebGpuEngine, type WebGpuCorpus, type WebGpuEngine } from '../webgpu/engine.js';

/** A started WebGPU backend for one document precision. */
export interface WebGpuBench {
  readonly md: MaxsimDevice;
  readonly engine: WebGpuEngine;
  readonly precision: 'f32' | 'f16';
  /** The variant asked for: `'auto'`, `'auto-f16math'` (auto among f16-math variants) or a variant name. */
  readonly variantRequest: string;
  readonly adapter: AdapterSummary;
  /** `describeAdapter()` line, e.g. `llvmpipe (LLVM 19.1.7, 256 bits) (mesa, ...) [software]`. */
  readonly adapterName: string;
  /** How documents are stored: `f32` or `f16` (and `+f16 math` when f16 arithmetic is on). */
  readonly storage: string;
  readonly features: { readonly shaderF16: boolean; readonly subgroups: boolean; readonly timestampQuery: boolean };
  /** Device creation plus pipeline compilation, in milliseconds. */
  readonly setupMs: number;
  readonly kernel: KernelTimerFactory<WebGpuCorpus>;
  destroy(): void;
}

/**
 * The variant an engine ran last and how it was chosen, e.g. `q32 (tuned)`, `baseline (forced)`; null before it
 * scored.
 *
 * @example
 * describeVariant(bench.engine.info); // 'q32 (default)' on a software adapter
 */
export function describeVariant(info: ScorerInfo): string | null {
  if (info.variant === undefined) return null;
  const choice = info.variantChoices?.find((c) => c.variant === info.variant);
  return choice === undefined ? info.variant : `${info.variant} (${choice.how})`;
}

/**
 * Creates a device on `gpu` (the high-performance adapter, whatever it is: software adapters included) and the
 * WebGPU engine for `precision` and `variant` (`'auto'`, `'auto-f16math'` or a variant name), timing both together
 * (pipeline compilation happens in engine creation). Variants are tuned as the library tunes them: on hardware
 * adapters only.
 *
 * @example
 * const bench = await startWebGpuBench(navigator.gpu, 'f16');
 * bench.adapter.isFallbackAdapter; // true on SwiftShader
 * bench.destroy();
 */
export async function startWebGpuBench(gpu: GPU, precision: 'f32' | 'f16', variant = 'auto'): Promise<WebGpuBench> {
  const t0 = performance.now();
  const md = await createMaxsimDevice(gpu);
  try {
    const f16Math = variant === 'auto-f16math' || variant.includes('-f16math');
    if (f16Math && precision !== 'f16') {
      throw new BenchmarkError('E_BENCH_KERNEL', `variant ${variant} needs f16 storage (precision f16)`);
    }
    const engine = await createWebGpuEngine(md, {
      precision,
      ...(f16Math ? { f16Math: true } : {}),
      ...(variant === 'auto' || variant === 'auto-f16math' ? {} : { variant }),
    });
    const setupMs = performance.now() - t0;
    const storage = `${precision}${f16Math && md.features.shaderF16 ? '+f16 math' : ''}`;
    return {
      md,
      engine,
      precision,
      variantRequest: variant,
      adapter: md.adapter,
      adapterName: describeAdapter(md.adapter).replace(/ \[software\]$/, ''),
      storage,
      features: md.features,
      setupMs,
      kernel: async (corpus, data) => {
        if (corpus.gpu === undefined) {
          throw new BenchmarkError('E_BENCH_KERNEL', 'the corpus is not resident on the GPU (device lost?)');
        }
        return prepareKernelTimer(md, engine, corpus, data.queries);
      },
      destroy: () => {
        engine.destroy();
        md.destroy();
      },
    };
  } catch (err) {
    md.destroy();
    throw err;
  }
}
