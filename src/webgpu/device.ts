import { BackendUnavailableError } from '../core/errors.js';
import { DeviceLostError, GpuOutOfMemoryError, GpuValidationError } from './errors.js';

// The GPUBufferUsage / GPUMapMode globals exist in browsers but not in Node (the library never installs
// globals), so the spec's numeric values are spelled out here.
export const BUFFER_MAP_READ = 0x1;
export const BUFFER_COPY_SRC = 0x4;
export const BUFFER_COPY_DST = 0x8;
export const BUFFER_UNIFORM = 0x40;
export const BUFFER_STORAGE = 0x80;
export const BUFFER_QUERY_RESOLVE = 0x200;
export const MAP_MODE_READ = 0x1;

/** What a scorer reports about its adapter. */
export interface AdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** True for software adapters (SwiftShader, lavapipe/llvmpipe, WARP): right answers, not speed. */
  readonly isFallbackAdapter: boolean;
}

/** The limits MaxSim depends on, as the device grants them. */
export interface MaxsimLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly minUniformBufferOffsetAlignment: number;
  /** Workgroup memory per workgroup: the tiled kernels hold the query block there (more is better). */
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
}

/**
 * A device plus what MaxSim needs to know about it: who owns it, its adapter, features, limits, and whether it
 * has been lost. One per `GPUDevice` (kept in a WeakMap), shared by every scorer on that device.
 */
export interface MaxsimDevice {
  readonly device: GPUDevice;
  /** True when this library created the device (and so may destroy it). */
  readonly owned: boolean;
  readonly adapter: AdapterSummary;
  readonly features: {
    readonly shaderF16: boolean;
    readonly subgroups: boolean;
    readonly timestampQuery: boolean;
    /**
     * The WGSL language feature `packed_4x8_integer_dot_product` (`dot4I8Packed`), from the `GPU` object's
     * `wgslLanguageFeatures` (an adopted device: `navigator.gpu`'s, where there is one; else false).
     */
    readonly packedDot4x8: boolean;
  };
  readonly limits: MaxsimLimits;
  /** Set once the device is lost for any reason other than our own `destroy()`. */
  readonly lostError: DeviceLostError | undefined;
  /** Resolves with the loss error when the device is lost for a reason we did not cause; never rejects. */
  readonly lost: Promise<DeviceLostError>;
  /** Destroys the device if this library created it; a no-op for adopted devices. Idempotent. */
  destroy(): void;
}

/** Options for {@link createMaxsimDevice}. */
export interface CreateDeviceOptions {
  /** Reject software adapters (the `'auto'` backend's rule): throws `E_BACKEND_UNAVAILABLE` instead. */
  readonly hardwareOnly?: boolean;
}

const devices = new WeakMap<GPUDevice, MaxsimDevice>();

// Every GPU a device was requested from stays reachable for the life of the process. Dawn's Node bindings
// (webgpu@0.6.2) delete their native instance when the JS `GPU` object is collected, while the event poller
// still points at it; the next poll locks a mutex in freed memory and the process dies (std::system_error,
// segfault) or hangs. Callers rarely keep the `GPU` they pass, so the library does. In browsers the set
// holds only `navigator.gpu`, which lives as long as the page anyway.
const gpusInUse = new Set<GPU>();
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

/**
 * True when adapter info names a software rasteriser: the `isFallbackAdapter` flag, or a vendor / architecture /
 * description naming SwiftShader, llvmpipe/lavapipe or Microsoft's WARP (some drivers do not set the flag).
 *
 * @example
 * isSoftwareAdapter({ vendor: 'mesa', architecture: 'software', device: '', description: 'llvmpipe' }); // true
 */
export function isSoftwareAdapter(info: Partial<AdapterSummary>): boolean {
  if (info.isFallbackAdapter === true) return true;
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`;
  return /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i.test(text);
}

function summarize(info: GPUAdapterInfo | undefined): AdapterSummary {
  const fields = {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true,
  };
  return { ...fields, isFallbackAdapter: isSoftwareAdapter(fields) };
}

/**
 * Requests a high-performance adapter from `gpu` and a device with the features MaxSim can use (`shader-f16`,
 * `subgroups`, `timestamp-query`, where offered) and the limits it depends on raised to the adapter's maximum
 * (`maxStorageBufferBindingSize`, `maxBufferSize`, and `maxComputeWorkgroupStorageSize`, where the tiled kernels
 * keep the query block: 32 KiB on lavapipe and SwiftShader, 48 KiB or more on desktop GPUs, 16 KiB by default);
 * nothing else is asked for. The device is owned: `destroy()` destroys it.
 *
 * @example
 * const md = await createMaxsimDevice(navigator.gpu);
 * md.limits.maxStorageBufferBindingSize; // e.g. 134217728 on lavapipe
 * md.destroy();
 */
export async function createMaxsimDevice(gpu: GPU, options: CreateDeviceOptions = {}): Promise<MaxsimDevice> {
  gpusInUse.add(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) {
    throw new BackendUnavailableError(
      'No WebGPU adapter: requestAdapter() returned null. Check that a GPU driver (or, in Node, a Vulkan driver ' +
        "such as mesa-vulkan-drivers) is installed, or use backend: 'cpu'.",
    );
  }
  const summary = summarize(adapter.info);
  if (options.hardwareOnly === true && summary.isFallbackAdapter) {
    throw new BackendUnavailableError(
      `The only WebGPU adapter is a software one (${describeAdapter(summary)}); the CPU path is faster there. ` +
        "Ask for backend: 'webgpu' to use it anyway.",
    );
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
    maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
  };
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'webgpu-maxsim' });
  return register(device, summary, true, hasPackedDot(gpu));
}

/**
 * Wraps a caller's device for MaxSim without taking ownership: `destroy()` on the result never destroys it.
 * Returns the same wrapper for the same device.
 *
 * @example
 * const md = adoptMaxsimDevice(myDevice);
 * md.owned; // false
 */
export function adoptMaxsimDevice(device: GPUDevice): MaxsimDevice {
  const known = devices.get(device);
  if (known !== undefined) return known;
  const info = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  return register(device, summarize(info), false, gpu !== undefined && hasPackedDot(gpu));
}

/** The WGSL language feature behind `dot4I8Packed` (Dawn in Node exposes `wgslLanguageFeatures` as browsers do). */
function hasPackedDot(gpu: GPU): boolean {
  const features = (gpu as { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures;
  return features?.has('packed_4x8_integer_dot_product') === true;
}

function register(device: GPUDevice, adapter: AdapterSummary, owned: boolean, packedDot4x8: boolean): MaxsimDevice {
  let destroyedByUs = false;
  let lostError: DeviceLostError | undefined;
  const lost = device.lost.then((info) => {
    // Our own destroy() also resolves `lost`; that is not a loss anyone needs to hear about.
    if (destroyedByUs && info.reason === 'destroyed') return new Promise<DeviceLostError>(() => {});
    lostError = new DeviceLostError(info.reason, info.message);
    return lostError;
  });
  const md: MaxsimDevice = {
    device,
    owned,
    adapter,
    features: {
      shaderF16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
      packedDot4x8,
    },
    limits: {
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize,
      maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
      minUniformBufferOffsetAlignment: device.limits.minUniformBufferOffsetAlignment,
      maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
    },
    get lostError() {
      return lostError;
    },
    lost,
    destroy() {
      if (!owned || destroyedByUs) return;
      destroyedByUs = true;
      device.destroy();
    },
  };
  devices.set(device, md);
  return md;
}

/** `NVIDIA H200 (nvidia, hopper)`-style one-liner for logs and `scorer.info.summary`. */
export function describeAdapter(a: AdapterSummary): string {
  const name = a.description || a.device || a.vendor || 'unknown adapter';
  const extra = [a.vendor, a.architecture].filter((s) => s !== '' && !name.includes(s)).join(', ');
  return `${name}${extra === '' ? '' : ` (${extra})`}${a.isFallbackAdapter ? ' [software]' : ''}`;
}

/**
 * Runs `work` synchronously inside `validation` and `out-of-memory` error scopes and resolves once both scopes
 * are popped: rejects with {@link GpuValidationError} / {@link GpuOutOfMemoryError} if anything was captured,
 * with {@link DeviceLostError} if the device is lost first. Push, work and pop happen in one tick, so scopes of
 * concurrent calls never interleave. `what` names the step for the error message.
 *
 * @example
 * const buffer = await captureGpuErrors(md, 'creating the scores buffer', () => device.createBuffer(desc));
 */
export function captureGpuErrors<T>(md: MaxsimDevice, what: string, work: () => T): Promise<T> {
  const { device } = md;
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: work() };
  } catch (error) {
    // Kept and rethrown after the scopes are popped, so the device's scope stack stays balanced.
    outcome = { ok: false, error };
  }
  const oom = device.popErrorScope();
  const validation = device.popErrorScope();
  const popped = Promise.all([oom, validation]).then(([o, v]) => {
    if (o !== null) throw new GpuOutOfMemoryError(what, o.message);
    if (v !== null) throw new GpuValidationError(what, v.message);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  });
  return raceLost(md, popped);
}

/** Settles like `work`, unless the device is lost first: then rejects with its {@link DeviceLostError}. */
export function raceLost<T>(md: MaxsimDevice, work: Promise<T>): Promise<T> {
  if (md.lostError !== undefined) {
    // `work` may still reject later; the loss is what the caller hears about, so that rejection is dropped.
    work.catch(() => undefined);
    return Promise.reject(md.lostError);
  }
  return Promise.race([
    work,
    md.lost.then((err) => {
      throw err;
    }),
  ]);
}
