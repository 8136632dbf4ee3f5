// The browser tier of the GPU tests: the same case grid and seeds as the Dawn-on-Node tests
// (test/webgpu/engine.test.ts), scored by Chromium's WebGPU through the public API. The page only scores; the
// Node side rebuilds the inputs from the same seeds and compares with the float64 reference, so the yardstick
// never runs on the implementation under test.
import { createScorer } from 'webgpu-maxsim';
import { caseData, KERNEL_CASES } from '../kernel-cases.js';

/** One case's scores, one array per query; non-finite values as strings (JSON has no -Infinity). */
export interface GpuCaseResult {
  readonly precision: 'f32' | 'f16';
  readonly name: string;
  readonly scores?: (number | string)[][];
  readonly error?: string;
}

export interface GpuCasesReport {
  readonly summary: string;
  readonly results: GpuCaseResult[];
}

declare global {
  interface Window {
    runGpuCases(precisions?: readonly ('f32' | 'f16')[]): Promise<GpuCasesReport>;
  }
}

const log = document.getElementById('log')!;

window.runGpuCases = async (precisions = ['f32', 'f16']) => {
  const results: GpuCaseResult[] = [];
  const summaries: string[] = [];
  for (const precision of precisions) {
    const scorer = await createScorer({ backend: 'webgpu', precision, fallback: 'none' });
    summaries.push(`${precision}: ${scorer.info.summary}`);
    try {
      for (const c of KERNEL_CASES) {
        const { queries, docs } = caseData(c);
        try {
          const corpus = await scorer.upload(docs);
          const scores = await scorer.score(queries, corpus);
          corpus.destroy();
          results.push({
            precision,
            name: c.name,
            scores: scores.map((row) => Array.from(row, (v) => (Number.isFinite(v) ? v : String(v)))),
          });
          log.textContent += `ok   ${precision} ${c.name}\n`;
        } catch (err) {
          results.push({
            precision,
            name: c.name,
            error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
          });
          log.textContent += `FAIL ${precision} ${c.name}: ${String(err)}\n`;
        }
      }
    } finally {
      scorer.destroy();
    }
  }
  return { summary: summaries.join('; '), results };
};
