// Errors of the CPU backend: WebAssembly memory limits and worker threads.
import { MaxsimError } from '../core/errors.js';

/**
 * The CPU kernel's WebAssembly memory cannot hold the documents (plus the queries and scores of one call):
 * a wasm32 memory holds at most 4 GiB, and a runtime may refuse less.
 */
export class CpuMemoryLimitError extends MaxsimError {
  /** Bytes the kernel asked for. */
  readonly bytes: number;

  constructor(bytes: number, documentBytes: number, documents: number, cause?: unknown) {
    const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
    super(
      'E_CPU_MEMORY_LIMIT',
      `The CPU kernel needs ${mib(bytes)} of WebAssembly memory for ${documents} documents ` +
        `(${mib(documentBytes)} of token vectors), but one wasm32 memory holds at most 4096 MiB` +
        `${cause === undefined ? '' : ' and this runtime refused the allocation'}. Upload the corpus in ` +
        `smaller parts, use more worker threads (cpu: { threads }: each holds its share of the documents), ` +
        `score fewer queries per call, or use the WebGPU backend.`,
      { cause },
    );
    this.bytes = bytes;
  }
}

/** A CPU worker thread failed (crashed, could not start, or answered with an error). */
export class CpuWorkerError extends MaxsimError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CPU_WORKER', message, options);
  }
}
