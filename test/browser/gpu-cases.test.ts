// The browser tier of the kernel tests: the shared case grid (test/support/kernel-cases.ts) scored by Chromium's
// own WebGPU implementation (SwiftShader here, through --enable-unsafe-webgpu) on test/support/gpu-page, with
// every kernel variant the adapter can run forced in turn, compared here with the float64 reference under the
// same tolerances as the Dawn-on-Node tests (test/webgpu/engine.test.ts).
import { rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuCasesReport, GpuPageFeatures } from '../support/gpu-page/page.js';
import {
  caseData,
  compareScores,
  expectedScores,
  F16_MATH_RELATIVE,
  F16_RELATIVE,
  F32_RELATIVE,
  type Int8Tolerance,
  KERNEL_CASES,
} from '../support/kernel-cases.js';
import {
  buildWithVite,
  launchChromium,
  serveDirectory,
  type ChromiumSession,
  type StaticServer,
} from '../support/chromium.js';
import { TILE_CONFIG_NAMES } from '../../src/webgpu/variants.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

let dist: string;
let site: StaticServer;
let chromium: ChromiumSession;
let page: Page;
let features: GpuPageFeatures;

beforeAll(async () => {
  dist = await buildWithVite(resolve(repo, 'test/support/gpu-page/vite.config.ts'));
  site = await serveDirectory(dist);
  chromium = await launchChromium({ webgpu: true });
  page = await chromium.newPage();
  await page.goto(`${site.url}index.html`, { waitUntil: 'load' });
  await page.waitForFunction(() => typeof window.runGpuCases === 'function', { timeout: 30_000 });
  features = await page.evaluate(() => window.gpuFeatures());
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await site?.close();
  if (dist !== undefined) await rm(dist, { recursive: true, force: true });
});

const decode = (v: number | string): number => (typeof v === 'number' ? v : Number(v));

/**
 * Every variant there is, for each precision (the default choice, 'auto', for f32 only: it is q32 here), plus int8
 * storage (the default variant with the adapter's dot product, q128 with the subgroup epilogue, and q32 with bytes
 * unpacked; within the int8 bound with an int8 query); the ones the page's adapter cannot run (SwiftShader has
 * subgroups but no shader-f16) are skipped.
 */
interface GridRow {
  readonly label: string;
  readonly precision: 'f32' | 'f16' | 'int8';
  readonly variant: string;
  readonly int8Dot?: 'auto' | 'unpacked';
  readonly relative: number | Int8Tolerance;
}
const VARIANTS: GridRow[] = [];
for (const precision of ['f32', 'f16'] as const) {
  const relative = precision === 'f32' ? F32_RELATIVE : F16_RELATIVE;
  if (precision === 'f32') VARIANTS.push({ label: `${precision} auto`, precision, variant: 'auto', relative });
  VARIANTS.push({ label: `${precision} baseline`, precision, variant: 'baseline', relative });
  for (const config of TILE_CONFIG_NAMES) {
    for (const epi of ['', '-subgroup']) {
      VARIANTS.push({ label: `${precision} ${config}${epi}`, precision, variant: `${config}${epi}`, relative });
      if (precision === 'f16') {
        const variant = `${config}-f16math${epi}`;
        VARIANTS.push({ label: `${precision} ${variant}`, precision, variant, relative: F16_MATH_RELATIVE });
      }
    }
  }
}
const INT8: Int8Tolerance = { queryLevels: 127 };
VARIANTS.push(
  { label: 'int8 auto', precision: 'int8', variant: 'auto', relative: INT8 },
  { label: 'int8 q128-subgroup', precision: 'int8', variant: 'q128-subgroup', relative: INT8 },
  { label: 'int8 q32 (bytes unpacked)', precision: 'int8', variant: 'q32', int8Dot: 'unpacked', relative: INT8 },
);

describe("GPU case grid in Chromium's WebGPU (SwiftShader), every kernel variant", () => {
  it('runs on a WebGPU adapter with subgroups (SwiftShader without a GPU)', () => {
    expect(features.description).not.toBe('');
    expect(features.subgroups).toBe(true);
  });

  // One page call per variant: SwiftShader compiles a pipeline in seconds, and each variant compiles its own.
  it.for(VARIANTS)('$label', { timeout: 180_000 }, async ({ precision, variant, int8Dot, relative }, ctx) => {
    if ((variant.includes('subgroup') && !features.subgroups) || (variant.includes('f16math') && !features.shaderF16)) {
      ctx.skip();
      return;
    }
    const report: GpuCasesReport = await page.evaluate(
      (p, v, d) => window.runGpuCases(p, v, d),
      precision,
      variant,
      int8Dot ?? 'auto',
    );
    if (precision === 'int8') {
      const path = int8Dot === 'unpacked' || !features.packedDot4x8 ? 'unpacked' : 'dot4I8Packed';
      expect(report.int8Dot).toBe(path);
      console.log(`[int8] Chromium ${features.description}: ${report.summary}`);
    }
    expect(report.summary).toMatch(new RegExp(`^${precision} ${variant}: webgpu`));
    expect(report.summary).toContain(`kernel ${variant === 'auto' ? 'q32' : variant}`);
    expect(report.results).toHaveLength(KERNEL_CASES.length);
    for (const c of KERNEL_CASES) {
      const result = report.results.find((r) => r.name === c.name)!;
      expect(result.error, `${precision} ${variant} ${c.name}`).toBeUndefined();
      const { queries, docs } = caseData(c);
      const { expected, tolerance } = expectedScores(queries, docs, relative);
      expect(result.scores).toHaveLength(queries.length);
      result.scores!.forEach((row, q) => {
        const problem = compareScores(
          row.map(decode),
          expected[q]!,
          tolerance[q]!,
          `${precision} ${variant} ${c.name} query ${q}`,
        );
        expect(problem, problem ?? '').toBeNull();
      });
    }
  });

  it('nothing went wrong in the page', () => {
    expect(chromium.problems).toEqual([]);
  });
});
