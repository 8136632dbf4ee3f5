import { DOCS_F16_PACKED_WGSL, DOCS_F16_WGSL, DOCS_F32_WGSL, MAXSIM_WGSL } from './shaders.generated.js';
import { captureGpuErrors, type MaxsimDevice } from './device.js';
import { GpuValidationError } from './errors.js';

/**
 * How documents are stored on the device, which is all that changes the kernel's text:
 * `'f32'`, `'f16-packed'` (u32 pairs + `unpack2x16float`, core WGSL) or `'f16'` (native, needs `shader-f16`).
 */
export type DocStorage = 'f32' | 'f16-packed' | 'f16';

/** Bytes of the `Params` uniform struct in shaders/maxsim.wgsl. */
export const MAXSIM_PARAMS_BYTES = 32;

const PRELUDES: Record<DocStorage, string> = {
  f32: DOCS_F32_WGSL,
  'f16-packed': DOCS_F16_PACKED_WGSL,
  f16: DOCS_F16_WGSL,
};

/** The full WGSL for one storage kind: its prelude (which may `enable f16`) followed by the shared body. */
function maxsimShaderCode(storage: DocStorage): string {
  return `${PRELUDES[storage]}\n${MAXSIM_WGSL}`;
}

// Per-device caches: a WeakMap so a lost or dropped device is not held alive by its pipelines. Keyed by what
// changes the shader text (the storage kind), never by shapes: shapes live in uniforms.
const cache = new WeakMap<GPUDevice, Map<DocStorage, Promise<GPUComputePipeline>>>();

/**
 * The compiled MaxSim pipeline for `storage` on this device, compiled once (asynchronously, so the JS thread
 * is not blocked by shader compilation) and shared by every scorer on the device.
 *
 * @example
 * const pipeline = await getMaxsimPipeline(md, 'f32');
 */
export function getMaxsimPipeline(md: MaxsimDevice, storage: DocStorage): Promise<GPUComputePipeline> {
  let perDevice = cache.get(md.device);
  if (perDevice === undefined) {
    perDevice = new Map();
    cache.set(md.device, perDevice);
  }
  const known = perDevice.get(storage);
  if (known !== undefined) return known;
  const created = compile(md, storage);
  perDevice.set(storage, created);
  // A failed compile must not be cached: the next call retries (and reports its own error).
  created.catch(() => perDevice.delete(storage));
  return created;
}

async function compile(md: MaxsimDevice, storage: DocStorage): Promise<GPUComputePipeline> {
  const { device } = md;
  const pending = await captureGpuErrors(md, `compiling the ${storage} MaxSim shader`, () => {
    const module = device.createShaderModule({ label: `maxsim-${storage}`, code: maxsimShaderCode(storage) });
    const pipeline = device.createComputePipelineAsync({
      label: `maxsim-${storage}`,
      layout: 'auto',
      compute: { module, entryPoint: 'main' },
    });
    // If the scopes report a shader error first, this rejection repeats it; it is awaited below otherwise.
    pipeline.catch(() => undefined);
    return pipeline;
  });
  try {
    return await pending;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new GpuValidationError(`compiling the ${storage} MaxSim shader`, message);
  }
}
