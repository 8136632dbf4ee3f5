// A WebGPU backend as the benchmark drives it: an owned device, the engine createScorer would build on it, and
// kernel-only timers for its corpora. Universal: Node passes Dawn's GPU, the browser page passes navigator.gpu.
import { prepareKernelTimer } from './webgpu-kernel.js';
import type { KernelTimerFactory } from './measure.js';
import { BenchmarkError } from './errors.js';
import type { ScoringEngine } from '../core/scorer.js';
import { createMaxsimDevice, describeAdapter, type AdapterSummary, type MaxsimDevice } from '../webgpu/device.js';
import { createWebGpuEngine, type WebGpuCorpus } from '../webgpu/engine.js';

/** A started WebGPU backend for one document precision. */
export interface WebGpuBench {
  readonly md: MaxsimDevice;
  readonly engine: ScoringEngine<WebGpuCorpus>;
  readonly precision: 'f32' | 'f16';
  readonly adapter: AdapterSummary;
  /** `describeAdapter()` line, e.g. `llvmpipe (LLVM 19.1.7, 256 bits) (mesa, ...) [software]`. */
  readonly adapterName: string;
  /** How documents are stored: `f32`, `f16` (native, shader-f16) or `f16-packed`. */
  readonly storage: string;
  readonly features: { readonly shaderF16: boolean; readonly subgroups: boolean; readonly timestampQuery: boolean };
  /** Device creation plus pipeline compilation, in milliseconds. */
  readonly setupMs: number;
  readonly kernel: KernelTimerFactory<WebGpuCorpus>;
  destroy(): void;
}

/**
 * Creates a device on `gpu` (the high-performance adapter, whatever it is: software adapters included) and the
 * WebGPU engine for `precision`, timing both together (pipeline compilation happens in engine creation).
 *
 * @example
 * const bench = await startWebGpuBench(navigator.gpu, 'f16');
 * bench.adapter.isFallbackAdapter; // true on SwiftShader
 * bench.destroy();
 */
export async function startWebGpuBench(gpu: GPU, precision: 'f32' | 'f16'): Promise<WebGpuBench> {
  const t0 = performance.now();
  const md = await createMaxsimDevice(gpu);
  try {
    const engine = await createWebGpuEngine(md, { precision });
    const setupMs = performance.now() - t0;
    const storage = precision === 'f32' ? 'f32' : md.features.shaderF16 ? 'f16' : 'f16-packed';
    return {
      md,
      engine,
      precision,
      adapter: md.adapter,
      adapterName: describeAdapter(md.adapter).replace(/ \[software\]$/, ''),
      storage,
      features: md.features,
      setupMs,
      kernel: async (corpus, data) => {
        if (corpus.gpu === undefined) {
          throw new BenchmarkError('E_BENCH_KERNEL', 'the corpus is not resident on the GPU (device lost?)');
        }
        return prepareKernelTimer(md, corpus.gpu, data.queries);
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
