import { MaxsimError } from '../core/errors.js';

/**
 * The benchmark harness could not run a backend or check a result: a missing tool (python3 with numpy,
 * puppeteer-core, a browser), a failed subprocess, or scores that disagree. `code` says which
 * (`E_BENCH_DEPENDENCY`, `E_BENCH_SUBPROCESS`, `E_BENCH_KERNEL`, `E_BENCH_MISMATCH`).
 */
export class BenchmarkError extends MaxsimError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
