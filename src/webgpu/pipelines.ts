import {
  CONVERT_F16_WGSL,
  DOCS_F16_PACKED_WGSL,
  DOCS_F16_WGSL,
  DOCS_F32_WGSL,
  MAXSIM_TILED_WGSL,
  MAXSIM_WGSL,
  TILED_DOCS_F16_WGSL,
  TILED_DOCS_F32_WGSL,
  TILED_EPI_PLAIN_WGSL,
  TILED_DOCS_INT8_WGSL,
  TILED_EPI_SUBGROUP_WGSL,
  TILED_INT8_DOT_PACKED_WGSL,
  TILED_INT8_DOT_UNPACKED_WGSL,
  TILED_MATH_F16_WGSL,
  TILED_MATH_F32_WGSL,
  TILED_MATH_INT8_WGSL,
} from './shaders.generated.js';
import { captureGpuErrors, type MaxsimDevice } from './device.js';
import { GpuValidationError } from './errors.js';
import {
  TILE_CONFIGS,
  tileShape,
  tiledConstants,
  variantName,
  variantUnsupported,
  type Storage,
  type TiledConstants,
  type Variant,
} from './variants.js';
import { InvalidArgumentError } from '../core/errors.js';

/** Bytes of the baseline kernel's `Params` (shaders/maxsim.wgsl). */
export const BASELINE_PARAMS_BYTES = 32;
/** Bytes of the tiled kernels' `Params` (shaders/maxsim-tiled.wgsl). */
export const TILED_PARAMS_BYTES = 48;

/** A compiled variant for one storage and dim class, with what the host needs to dispatch it. */
export interface KernelPipeline {
  readonly variant: Variant;
  readonly name: string;
  readonly storage: Storage;
  /** int8 storage: how the integer dot products are computed (`dot4I8Packed`, or bytes unpacked with shifts). */
  readonly int8Dot?: Int8Dot;
  readonly pipeline: GPUComputePipeline;
  /** Cache key: storage, variant and constants (what changes the pipeline). */
  readonly key: string;
  /** Tiled kernels: constants, and the tile geometry the host groups documents and queries by. */
  readonly tiled?: {
    readonly constants: TiledConstants;
    readonly QT: number;
    readonly TT: number;
    readonly MAXD: number;
  };
  readonly paramsBytes: number;
}

/** The two int8 dot-product paths: WGSL's `dot4I8Packed`, or bytes sign-extended with shifts (core WGSL). */
export type Int8Dot = 'dot4I8Packed' | 'unpacked';

/**
 * Concatenates WGSL pieces, hoisting `enable`, `requires` and `diagnostic` directives to the top (WGSL wants them
 * before any declaration), each once.
 *
 * @example
 * composeWgsl(['enable f16;\nfn a() {}', 'fn b() {}']); // 'enable f16;\nfn a() {}\nfn b() {}'
 */
export function composeWgsl(pieces: readonly string[]): string {
  const directives: string[] = [];
  const bodies = pieces.map((text) =>
    text
      .split('\n')
      .filter((line) => {
        if (/^\s*(enable|requires|diagnostic)\b/.test(line)) {
          if (!directives.includes(line.trim())) directives.push(line.trim());
          return false;
        }
        return true;
      })
      .join('\n'),
  );
  return [...directives, ...bodies].join('\n');
}

/**
 * The WGSL of a variant for a storage: the baseline body with its storage prelude (native `f16` loads where
 * `nativeF16`, else packed pairs), or the tiled body with its storage, arithmetic and epilogue preludes (int8: the
 * int8 storage and integer math preludes, with the dot product of `int8Dot`).
 */
export function variantShaderCode(
  variant: Variant,
  storage: Storage,
  nativeF16: boolean,
  int8Dot: Int8Dot = 'unpacked',
): string {
  if (variant.kind === 'baseline') {
    const prelude = storage === 'f32' ? DOCS_F32_WGSL : nativeF16 ? DOCS_F16_WGSL : DOCS_F16_PACKED_WGSL;
    return `${prelude}\n${MAXSIM_WGSL}`;
  }
  const epilogue = variant.epilogue === 'subgroup' ? TILED_EPI_SUBGROUP_WGSL : TILED_EPI_PLAIN_WGSL;
  if (storage === 'int8') {
    const dot = int8Dot === 'dot4I8Packed' ? TILED_INT8_DOT_PACKED_WGSL : TILED_INT8_DOT_UNPACKED_WGSL;
    return composeWgsl([TILED_DOCS_INT8_WGSL, dot, TILED_MATH_INT8_WGSL, epilogue, MAXSIM_TILED_WGSL]);
  }
  if (variant.math === 'f16') return composeWgsl([TILED_MATH_F16_WGSL, epilogue, MAXSIM_TILED_WGSL]);
  const docs = storage === 'f32' ? TILED_DOCS_F32_WGSL : TILED_DOCS_F16_WGSL;
  return composeWgsl([docs, TILED_MATH_F32_WGSL, epilogue, MAXSIM_TILED_WGSL]);
}

// Per-device caches: a WeakMap so a lost or dropped device is not held alive by its pipelines. Keyed by what
// changes the pipeline (storage, variant, constants), never by shapes: shapes live in uniforms.
const cache = new WeakMap<GPUDevice, Map<string, Promise<KernelPipeline>>>();
const convertCache = new WeakMap<GPUDevice, Promise<GPUComputePipeline>>();

/**
 * The compiled pipeline of `variant` for documents of `storage` and width `dim` on this device, compiled once
 * (asynchronously, off the JS thread) and shared by every scorer on the device. A failed compile is not cached:
 * the next call retries and reports its own error. Throws {@link InvalidArgumentError} when the variant cannot run
 * on the device (a feature or limit it lacks).
 *
 * @example
 * const kernel = await getKernelPipeline(md, 'f32', { kind: 'tiled', config: 'q32', math: 'f32', epilogue: 'plain' }, 128);
 */
export function getKernelPipeline(
  md: MaxsimDevice,
  storage: Storage,
  variant: Variant,
  dim: number,
  options: { readonly nativeF16?: boolean; readonly forceStream?: boolean; readonly int8Dot?: Int8Dot } = {},
): Promise<KernelPipeline> {
  const why = variantUnsupported(variant, md, storage, dim);
  if (why !== undefined) {
    return Promise.reject(
      new InvalidArgumentError(`WebGPU kernel variant '${variantName(variant)}' cannot run here: ${why}`),
    );
  }
  const name = variantName(variant);
  let constants: TiledConstants | undefined;
  let key: string;
  const nativeF16 = options.nativeF16 !== false && md.features.shaderF16;
  // int8: dot4I8Packed where the WGSL language feature exists, unless the unpacked path is asked for.
  const int8Dot: Int8Dot | undefined =
    storage !== 'int8'
      ? undefined
      : options.int8Dot === 'unpacked' || !md.features.packedDot4x8
        ? 'unpacked'
        : 'dot4I8Packed';
  if (variant.kind === 'tiled') {
    constants = tiledConstants(
      variant.config,
      storage,
      variant.math,
      dim,
      md.limits.maxComputeWorkgroupStorageSize,
      options.forceStream === true,
    )!;
    // The workgroup cap is a uniform, not a constant: it does not change the pipeline.
    const base = variantName({ kind: 'tiled', config: variant.config, math: variant.math, epilogue: variant.epilogue });
    key = `${storage}${int8Dot === undefined ? '' : `+${int8Dot}`}|${base}|${JSON.stringify(constants)}`;
  } else {
    key = `${storage}|baseline|${storage === 'f16' && nativeF16 ? 'native' : 'packed'}`;
  }
  let perDevice = cache.get(md.device);
  if (perDevice === undefined) {
    perDevice = new Map();
    cache.set(md.device, perDevice);
  }
  let compiled = perDevice.get(key);
  if (compiled === undefined) {
    const code = variantShaderCode(variant, storage, nativeF16, int8Dot);
    compiled = compile(md, `maxsim ${storage} ${name}`, code, constants).then((pipeline) => ({
      variant,
      name,
      storage,
      ...(int8Dot === undefined ? {} : { int8Dot }),
      pipeline,
      key,
      paramsBytes: BASELINE_PARAMS_BYTES,
    }));
    const entry = compiled;
    perDevice.set(key, entry);
    entry.catch(() => {
      if (perDevice.get(key) === entry) perDevice.delete(key);
    });
  }
  return compiled.then((k) => {
    if (variant.kind === 'baseline') return { ...k, variant, name };
    const cfg = TILE_CONFIGS[variant.config];
    const { QT, TT } = tileShape(cfg);
    return {
      ...k,
      variant,
      name,
      paramsBytes: TILED_PARAMS_BYTES,
      tiled: { constants: constants!, QT, TT, MAXD: constants!.MAXD },
    };
  });
}

/**
 * The f32 → f16 conversion pipeline (shaders/convert-f16.wgsl) of this device, compiled once.
 *
 * @example
 * const pipeline = await getConvertF16Pipeline(md);
 */
export function getConvertF16Pipeline(md: MaxsimDevice): Promise<GPUComputePipeline> {
  let compiled = convertCache.get(md.device);
  if (compiled === undefined) {
    compiled = compile(md, 'maxsim convert f32 to f16', CONVERT_F16_WGSL, undefined);
    const entry = compiled;
    convertCache.set(md.device, entry);
    entry.catch(() => {
      if (convertCache.get(md.device) === entry) convertCache.delete(md.device);
    });
  }
  return compiled;
}

async function compile(
  md: MaxsimDevice,
  label: string,
  code: string,
  constants: TiledConstants | undefined,
): Promise<GPUComputePipeline> {
  const { device } = md;
  const what = `compiling the ${label} shader`;
  const pending = await captureGpuErrors(md, what, () => {
    const module = device.createShaderModule({ label, code });
    const pipeline = device.createComputePipelineAsync({
      label,
      layout: 'auto',
      compute: {
        module,
        entryPoint: 'main',
        ...(constants === undefined ? {} : { constants: { ...constants } as Record<string, number> }),
      },
    });
    // If the scopes report a shader error first, this rejection repeats it; it is awaited below otherwise.
    pipeline.catch(() => undefined);
    return pipeline;
  });
  try {
    return await pending;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new GpuValidationError(what, message);
  }
}
