// Dawn (the `webgpu` package) as the GPU of the Node entry: loaded on first use, so CPU-only use never loads
// the native module.

let dawn: Promise<GPU> | undefined;

/**
 * Dawn's `GPU` from the `webgpu` package, loaded on first use and kept for the life of the process (one
 * instance serves every scorer; nothing is installed on `globalThis`).
 *
 * @example
 * const gpu = await loadDawnGpu();
 * const adapter = await gpu.requestAdapter();
 */
export function loadDawnGpu(): Promise<GPU> {
  dawn ??= import('webgpu').then(({ create }) => create([]));
  dawn.catch(() => {
    dawn = undefined; // a failed load (package missing, no Vulkan loader) is retried by the next call
  });
  return dawn;
}
