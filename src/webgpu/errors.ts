// Errors of the WebGPU backend: what error scopes captured, device loss, and limits that splitting cannot meet.
import { MaxsimError } from '../core/errors.js';

/** The GPU rejected a command as invalid (captured by a `validation` error scope); no scores were returned. */
export class GpuValidationError extends MaxsimError {
  constructor(what: string, gpuMessage: string) {
    super(
      'E_GPU_VALIDATION',
      `WebGPU validation error while ${what}: ${gpuMessage.trim()}. No scores were returned. This is a bug in ` +
        "webgpu-maxsim or a device limit it did not respect: please report it with scorer.info; backend: 'cpu' " +
        'works meanwhile.',
    );
  }
}

/** The GPU ran out of memory (captured by an `out-of-memory` error scope). */
export class GpuOutOfMemoryError extends MaxsimError {
  constructor(what: string, gpuMessage: string) {
    super(
      'E_GPU_OUT_OF_MEMORY',
      `The GPU ran out of memory while ${what}: ${gpuMessage.trim()}. Destroy corpora you no longer need, use ` +
        "precision: 'f16' (half the memory), upload fewer documents at a time, or use backend: 'cpu'.",
    );
  }
}

/** The GPU device was lost (driver reset, another owner destroyed it, ...); calls on it cannot complete. */
export class DeviceLostError extends MaxsimError {
  /** `GPUDeviceLostInfo.reason`: `'destroyed'` or `'unknown'`. */
  readonly reason: string;

  constructor(reason: string, gpuMessage: string) {
    super(
      'E_DEVICE_LOST',
      `The WebGPU device was lost (reason: ${reason}${gpuMessage.trim() === '' ? '' : `, ${gpuMessage.trim()}`}). ` +
        "Create a new scorer; to have scoring continue on the CPU automatically, use backend: 'auto' or " +
        "fallback: 'cpu'.",
    );
    this.reason = reason;
  }
}

/** Work does not fit a device limit even after splitting (e.g. one document larger than a storage binding). */
export class GpuLimitError extends MaxsimError {
  constructor(message: string) {
    super('E_GPU_LIMIT', message);
  }
}
