// The browser tier of the GPU tests: the same case grid and seeds as the Dawn-on-Node tests
// (test/webgpu/engine.test.ts), scored by Chromium's WebGPU through the public API, once per kernel variant the
// adapter can run (forced with `webgpu: { variant }`). The page only scores; the Node side rebuilds the inputs
// from the same seeds and compares with the float64 reference, so the yardstick never runs on the implementation
// under test.
import { createScorer } from 'webgpu-maxsim';
import { caseData, KERNEL_CASES } from '../kernel-cases.js';

/** One case's scores, one array per query; non-finite values as strings (JSON has no -Infinity). */
export interface GpuCaseResult {
  readonly precision: 'f32' | 'f16' | 'int8';
  /** The variant forced (`'auto'` for none). */
  readonly variant: string;
  readonly name: string;
  readonly scores?: (number | string)[][];
  readonly error?: string;
}

export interface GpuCasesReport {
  readonly summary: string;
  /** int8: the dot-product path the scorer took (`info.int8Dot`). */
  readonly int8Dot?: string | undefined;
  readonly results: GpuCaseResult[];
}

/** What the page's adapter offers, for the variant list. */
export interface GpuPageFeatures {
  readonly shaderF16: boolean;
  readonly subgroups: boolean;
  /** The WGSL language feature behind dot4I8Packed. */
  readonly packedDot4x8: boolean;
  readonly description: string;
}

declare global {
  interface Window {
    gpuFeatures(): Promise<GpuPageFeatures>;
    runGpuCases(
      precision: 'f32' | 'f16' | 'int8',
      variant?: string,
      int8Dot?: 'auto' | 'unpacked',
    ): Promise<GpuCasesReport>;
  }
}

const log = document.getElementById('log')!;

window.gpuFeatures = async () => {
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) throw new Error('no WebGPU adapter');
  return {
    shaderF16: adapter.features.has('shader-f16'),
    subgroups: adapter.features.has('subgroups'),
    packedDot4x8: navigator.gpu.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') === true,
    description: adapter.info.description || adapter.info.architecture,
  };
};

window.runGpuCases = async (precision, variant = 'auto', int8Dot = 'auto') => {
  const results: GpuCaseResult[] = [];
  const f16Math = variant.includes('-f16math');
  const scorer = await createScorer({
    backend: 'webgpu',
    precision,
    fallback: 'none',
    webgpu: { variant, ...(f16Math ? { f16Math } : {}), ...(precision === 'int8' ? { int8Dot } : {}) },
  });
  try {
    for (const c of KERNEL_CASES) {
      const { queries, docs } = caseData(c);
      try {
        const corpus = await scorer.upload(docs);
        const scores = await scorer.score(queries, corpus);
        corpus.destroy();
        results.push({
          precision,
          variant,
          name: c.name,
          scores: scores.map((row) => Array.from(row, (v) => (Number.isFinite(v) ? v : String(v)))),
        });
        log.textContent += `ok   ${precision} ${variant} ${c.name}\n`;
      } catch (err) {
        results.push({
          precision,
          variant,
          name: c.name,
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        });
        log.textContent += `FAIL ${precision} ${variant} ${c.name}: ${String(err)}\n`;
      }
    }
    return { summary: `${precision} ${variant}: ${scorer.info.summary}`, int8Dot: scorer.info.int8Dot, results };
  } finally {
    scorer.destroy();
  }
};
