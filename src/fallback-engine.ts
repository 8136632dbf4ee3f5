// The CPU fallback of a WebGPU scorer, as a wrapper built where the backend is chosen: the WebGPU and CPU
// engines never import each other (as in ONNX Runtime Web, where the fallback is the caller's ordered list).
import { hostCopy, type PackedDocuments } from './core/packed-documents.js';
import type { ScorerInfo, ScoringEngine } from './core/scorer.js';
import type { CpuEngine } from './cpu/engine.js';
import { DeviceLostError } from './webgpu/errors.js';
import type { WebGpuCorpus, WebGpuEngine } from './webgpu/engine.js';

/** A corpus of the fallback engine: on the GPU while it lives, and on the host for the CPU to rescore. */
export interface FallbackCorpus {
  readonly gpu: WebGpuCorpus | undefined;
  readonly host: PackedDocuments;
}

/**
 * Wraps a WebGPU engine so that, once its device is lost, every upload and score runs on a CPU engine started
 * then (not before) from host copies of the corpora. The host copy costs 4 bytes per document value, which is
 * why the fallback is opt-in for `backend: 'webgpu'`. `backend` and `info` follow what actually scores.
 *
 * @example
 * const engine = withCpuFallback(await createWebGpuEngine(md), () => createCpuEngine());
 * const scorer = createScorerFromEngine(engine);
 */
export function withCpuFallback(gpu: WebGpuEngine, startCpu: () => Promise<CpuEngine>): ScoringEngine<FallbackCorpus> {
  let cpu: Promise<CpuEngine> | undefined;
  let destroyed = false;
  const onCpu = (): boolean => gpu.lostError !== undefined;
  const cpuEngine = (): Promise<CpuEngine> => {
    cpu ??= startCpu();
    return cpu;
  };
  const info: ScorerInfo = {
    get backend() {
      return onCpu() ? 'cpu' : 'webgpu';
    },
    get summary() {
      return onCpu() ? `${gpu.info.summary} (device lost; scoring on the CPU)` : gpu.info.summary;
    },
    get fallbackReason() {
      return onCpu() ? `the GPU device was lost (${gpu.lostError!.reason})` : undefined;
    },
    ...(gpu.info.adapter === undefined ? {} : { adapter: gpu.info.adapter }),
    ...(gpu.info.precision === undefined ? {} : { precision: gpu.info.precision }),
    get int8Dot() {
      return onCpu() ? undefined : gpu.info.int8Dot;
    },
    get variant() {
      return onCpu() ? undefined : gpu.info.variant;
    },
    get variantChoices() {
      return gpu.info.variantChoices ?? [];
    },
  };
  return {
    get backend() {
      return info.backend;
    },
    info,
    upload: async (packed) => {
      // The host copy is packed now: it must not follow later changes to the caller's documents.
      const host = hostCopy(packed);
      if (onCpu()) return { gpu: undefined, host };
      try {
        return { gpu: await gpu.upload(host), host };
      } catch (err) {
        if (err instanceof DeviceLostError) return { gpu: undefined, host };
        throw err;
      }
    },
    score: async (queries, corpus) => {
      if (!onCpu() && corpus.gpu !== undefined) {
        try {
          return await gpu.score(queries, corpus.gpu);
        } catch (err) {
          if (!(err instanceof DeviceLostError)) throw err;
        }
      }
      return (await cpuEngine()).score(queries, corpus.host);
    },
    release: (corpus) => {
      if (corpus.gpu !== undefined) gpu.release(corpus.gpu);
    },
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      gpu.destroy();
      void cpu?.then(
        (engine) => engine.destroy(),
        () => undefined, // a CPU engine that failed to start has nothing to free; its caller saw the error
      );
    },
  };
}
