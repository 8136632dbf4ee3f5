// Dawn (the `webgpu` package) as the GPU of the Node entry: loaded on first use, so CPU-only use never loads
// the native module; and, for `backend: 'auto'`, asked about its adapter in a child process first, so a machine
// whose only adapter is a software one never opens Dawn here (Dawn prints warnings on stderr when it does).
import { execFile } from 'node:child_process';
import { describeAdapter, isSoftwareAdapter, type AdapterSummary } from '../webgpu/device.js';

let dawn: Promise<GPU> | undefined;

/** What to tell someone whose Node has no `webgpu` package (it is an optional peer dependency). */
export const DAWN_MISSING =
  'the webgpu package (Dawn, WebGPU for Node) is not installed: npm i webgpu to score on the GPU from Node ' +
  '(the webgpu-maxsim-cli package brings it)';

/**
 * Dawn's `GPU` from the `webgpu` package, loaded on first use and kept for the life of the process (one
 * instance serves every scorer; nothing is installed on `globalThis`). Rejects with a message that says how to
 * install it when the package is missing.
 *
 * @example
 * const gpu = await loadDawnGpu();
 * const adapter = await gpu.requestAdapter();
 */
export function loadDawnGpu(): Promise<GPU> {
  dawn ??= importDawn().then(({ create }) => create([]));
  dawn.catch(() => {
    dawn = undefined; // a failed load (package missing, no Vulkan loader) is retried by the next call
  });
  return dawn;
}

async function importDawn(): Promise<{ create: (flags: string[]) => GPU }> {
  try {
    return (await import('webgpu')) as unknown as { create: (flags: string[]) => GPU };
  } catch (err) {
    if (isMissingDawn(err)) throw new Error(DAWN_MISSING, { cause: err });
    throw err;
  }
}

function isMissingDawn(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') &&
    typeof e.message === 'string' &&
    /['"]webgpu['"]/.test(e.message)
  );
}

/** What a child process found when it asked Dawn for a high-performance adapter. */
export type DawnProbe =
  | { readonly kind: 'adapter'; readonly adapter: AdapterSummary }
  | { readonly kind: 'no-adapter' }
  | { readonly kind: 'missing' }
  /** The probe itself failed (no child processes here, a timeout): nothing is known. */
  | { readonly kind: 'unknown'; readonly why: string };

// Run by `node --input-type=module -e`, with the resolved URL of the webgpu package as its argument.
const PROBE_SCRIPT = `
const { create } = await import(process.argv[1]);
const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
const i = adapter?.info;
process.stdout.write(JSON.stringify(adapter === null ? null : { vendor: i?.vendor ?? '', architecture:
  i?.architecture ?? '', device: i?.device ?? '', description: i?.description ?? '', isFallbackAdapter:
  i?.isFallbackAdapter === true }) + '\\n', () => process.exit(0));
`;

let probe: Promise<DawnProbe> | undefined;

/**
 * Asks Dawn for its adapter in a child process (once per process; ~0.5 s), its stderr discarded: Dawn prints
 * warnings ("maxDynamicUniformBuffersPerPipelineLayout artificially reduced ...") when it opens a Vulkan adapter,
 * and they go straight to file descriptor 2, where nothing in this process can catch them.
 *
 * @example
 * const found = await probeDawnAdapter(); // { kind: 'adapter', adapter: { device: 'llvmpipe ...', ... } }
 */
export function probeDawnAdapter(): Promise<DawnProbe> {
  probe ??= runProbe();
  return probe;
}

async function runProbe(): Promise<DawnProbe> {
  let url: string;
  try {
    url = import.meta.resolve('webgpu');
  } catch (err) {
    if (isMissingDawn(err) || (err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND') return { kind: 'missing' };
    return { kind: 'unknown', why: err instanceof Error ? err.message : String(err) };
  }
  return new Promise<DawnProbe>((resolve) => {
    try {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', PROBE_SCRIPT, url],
        // ELECTRON_RUN_AS_NODE: where process.execPath is Electron, run it as Node.
        { timeout: 30_000, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, windowsHide: true },
        (err, stdout) => {
          const line = stdout.trim().split('\n').at(-1) ?? '';
          if (err !== null || !(line === 'null' || line.startsWith('{'))) {
            resolve({ kind: 'unknown', why: err === null ? `unexpected output ${JSON.stringify(line)}` : err.message });
            return;
          }
          const found = JSON.parse(line) as Omit<AdapterSummary, 'isFallbackAdapter'> & { isFallbackAdapter: boolean };
          if (found === null) resolve({ kind: 'no-adapter' });
          else resolve({ kind: 'adapter', adapter: { ...found, isFallbackAdapter: isSoftwareAdapter(found) } });
        },
      );
    } catch (err) {
      resolve({ kind: 'unknown', why: err instanceof Error ? err.message : String(err) });
    }
  });
}

/**
 * Why `backend: 'auto'` should not open Dawn in this process, from {@link probeDawnAdapter}: the package is
 * missing, there is no adapter, or the only one is a software adapter (the CPU path is faster there). `undefined`
 * when it should (a hardware adapter), or when the probe could not tell (then opening Dawn decides, as before).
 *
 * @example
 * const why = await dawnAutoVeto(); // "the only WebGPU adapter is a software one (llvmpipe ...)"
 */
export async function dawnAutoVeto(): Promise<string | undefined> {
  const found = await probeDawnAdapter();
  switch (found.kind) {
    case 'missing':
      return DAWN_MISSING;
    case 'no-adapter':
      return 'no WebGPU adapter: Dawn found none (no GPU driver, or in Node no Vulkan driver)';
    case 'adapter':
      return found.adapter.isFallbackAdapter
        ? `the only WebGPU adapter is a software one (${describeAdapter(found.adapter)}); the CPU path is faster there`
        : undefined;
    case 'unknown':
      return undefined;
  }
}
