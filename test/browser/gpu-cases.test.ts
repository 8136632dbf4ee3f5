// The browser tier of the kernel tests: the shared case grid (test/support/kernel-cases.ts) scored by Chromium's
// own WebGPU implementation (SwiftShader here, through --enable-unsafe-webgpu) on test/support/gpu-page, compared
// here with the float64 reference under the same tolerances as the Dawn-on-Node tests (test/webgpu/engine.test.ts).
import { rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuCasesReport } from '../support/gpu-page/page.js';
import {
  caseData,
  compareScores,
  expectedScores,
  F16_RELATIVE,
  F32_RELATIVE,
  KERNEL_CASES,
} from '../support/kernel-cases.js';
import {
  buildWithVite,
  launchChromium,
  serveDirectory,
  type ChromiumSession,
  type StaticServer,
} from '../support/chromium.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

let dist: string;
let site: StaticServer;
let chromium: ChromiumSession;
let page: Page;
let report: GpuCasesReport;

beforeAll(async () => {
  dist = await buildWithVite(resolve(repo, 'test/support/gpu-page/vite.config.ts'));
  site = await serveDirectory(dist);
  chromium = await launchChromium({ webgpu: true });
  page = await chromium.newPage();
  await page.goto(`${site.url}index.html`, { waitUntil: 'load' });
  await page.waitForFunction(() => typeof window.runGpuCases === 'function', { timeout: 30_000 });
  report = await page.evaluate(() => window.runGpuCases(['f32', 'f16']));
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await site?.close();
  if (dist !== undefined) await rm(dist, { recursive: true, force: true });
});

const decode = (v: number | string): number => (typeof v === 'number' ? v : Number(v));

describe("GPU case grid in Chromium's WebGPU (SwiftShader)", () => {
  it('ran on WebGPU (SwiftShader without a GPU), both precisions', () => {
    expect(report.summary).toMatch(/^f32: webgpu.*; f16: webgpu/);
    expect(report.results).toHaveLength(KERNEL_CASES.length * 2);
  });

  describe.each([
    { precision: 'f32' as const, relative: F32_RELATIVE },
    { precision: 'f16' as const, relative: F16_RELATIVE },
  ])('precision $precision', ({ precision, relative }) => {
    it.each(KERNEL_CASES)('$name', (c) => {
      const result = report.results.find((r) => r.precision === precision && r.name === c.name);
      expect(result, `no result for ${precision} ${c.name}`).toBeDefined();
      expect(result!.error).toBeUndefined();
      const { queries, docs } = caseData(c);
      const { expected, tolerance } = expectedScores(queries, docs, relative);
      expect(result!.scores).toHaveLength(queries.length);
      result!.scores!.forEach((row, i) => {
        const problem = compareScores(row.map(decode), expected[i]!, tolerance[i]!, `${precision} query ${i}`);
        expect(problem, problem ?? '').toBeNull();
      });
    });
  });

  it('nothing went wrong in the page', () => {
    expect(chromium.problems).toEqual([]);
  });
});
