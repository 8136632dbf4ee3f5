// The browser side of the benchmark: imported by a page in headless Chromium (served from 127.0.0.1, so
// navigator.gpu exists), it generates the same seeded workload and runs the same measurement loop through the
// browser's WebGPU. Universal; the Node harness drives it through page.evaluate (bench-browser.ts).
import { measureEngine, type Measurement, type MeasureSettings } from './measure.js';
import { describeVariant, startWebGpuBench, type WebGpuBench } from './webgpu.js';
import { generateWorkload, WORKLOADS, type WorkloadId } from './workloads.js';
import { BackendUnavailableError } from '../core/errors.js';

/** One measurement the harness asks the page for. */
export interface PageCase {
  readonly workload: WorkloadId;
  readonly docs: number;
  readonly seed: number;
  readonly precision: 'f32' | 'f16';
  readonly settings: MeasureSettings;
}

/** What the page reports back (plain data: it crosses the DevTools protocol). */
export interface PageResult {
  readonly adapterName: string;
  readonly software: boolean;
  readonly storage: string;
  /** The kernel variant the engine ran, and how it was chosen (`q32 (default)`). */
  readonly variant: string | null;
  readonly features: { readonly shaderF16: boolean; readonly subgroups: boolean; readonly timestampQuery: boolean };
  /** Device + pipeline set-up, reported on the first case of each precision only. */
  readonly setupMs: number | undefined;
  readonly measurement: Measurement;
  readonly userAgent: string;
}

const started = new Map<string, WebGpuBench>();

/**
 * Runs one case in the page, starting (and keeping) a device and engine per precision.
 *
 * @example
 * // in page.evaluate: const { runPageCase } = await import('/dist/bench/page.js'); return runPageCase(c);
 */
export async function runPageCase(c: PageCase): Promise<PageResult> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (gpu === undefined) {
    throw new BackendUnavailableError('this page has no navigator.gpu (WebGPU disabled, or not a secure context)');
  }
  let bench = started.get(c.precision);
  let setupMs: number | undefined;
  if (bench === undefined) {
    bench = await startWebGpuBench(gpu, c.precision);
    started.set(c.precision, bench);
    setupMs = bench.setupMs;
  }
  const data = generateWorkload(WORKLOADS[c.workload], { docs: c.docs, seed: c.seed });
  const measurement = await measureEngine(bench.engine, data, c.settings, bench.kernel);
  return {
    adapterName: bench.adapterName,
    software: bench.adapter.isFallbackAdapter,
    storage: bench.storage,
    variant: describeVariant(bench.engine.info),
    features: bench.features,
    setupMs,
    measurement,
    userAgent: (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? '',
  };
}

/** Destroys every device the page started. */
export function closePage(): void {
  for (const bench of started.values()) bench.destroy();
  started.clear();
}
