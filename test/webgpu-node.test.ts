// The WebGPU scorer in Node through Dawn, on the Vulkan driver picked by MAXSIM_ICD ('lavapipe', the default,
// or 'swiftshader'); `npm test` runs this file once per driver. Compared with the float64 reference on the
// shared case grid (test/gpu-cases.ts), plus chunking, dispatch splitting, properties and fault cases.
const ICDS: Record<string, string> = {
  lavapipe: '/usr/share/vulkan/icd.d/lvp_icd.json',
  swiftshader: '/usr/lib/chromium/vk_swiftshader_icd.json',
};
const icdName = process.env.MAXSIM_ICD ?? 'lavapipe';
if (ICDS[icdName] === undefined) throw new Error(`MAXSIM_ICD must be one of ${Object.keys(ICDS).join(', ')}`);
// Must be set before Dawn creates its Vulkan instance (on the first createScorer below).
process.env.VK_ICD_FILENAMES ??= ICDS[icdName];

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createScorer, loadDawnGpu } from '../src/node.js';
import { DeviceLostError, GpuLimitError, GpuValidationError, MaxsimError } from '../src/errors.js';
import { packDocuments } from '../src/packed-documents.js';
import { createScorerFromEngine, type Scorer } from '../src/scorer.js';
import type { TokenMatrix } from '../src/token-matrix.js';
import { adoptMaxsimDevice, createMaxsimDevice, type MaxsimDevice } from '../src/webgpu-device.js';
import { createWebGpuEngine, type WebGpuEngineOptions } from '../src/webgpu-scorer.js';
import {
  caseData,
  compareScores,
  expectedScores,
  F16_RELATIVE,
  F32_RELATIVE,
  GPU_CASES,
  randomMatrix,
  seededRandom,
} from './gpu-cases.js';

let md: MaxsimDevice;

beforeAll(async () => {
  md = await createMaxsimDevice(await loadDawnGpu());
});

afterAll(() => {
  md?.destroy();
});

async function engineScorer(options: WebGpuEngineOptions = {}): Promise<Scorer> {
  return createScorerFromEngine(await createWebGpuEngine(md, options));
}

function expectClose(actual: Float32Array[], queries: TokenMatrix[], docs: TokenMatrix[], relative: number): void {
  const { expected, tolerance } = expectedScores(queries, docs, relative);
  expect(actual).toHaveLength(queries.length);
  actual.forEach((row, i) => {
    const problem = compareScores(row, expected[i]!, tolerance[i]!, `query ${i}`);
    expect(problem, problem ?? '').toBeNull();
  });
}

describe(`WebGPU scorer on ${icdName}`, () => {
  describe.each([
    { precision: 'f32' as const, nativeF16: true, relative: F32_RELATIVE },
    { precision: 'f16' as const, nativeF16: true, relative: F16_RELATIVE },
    { precision: 'f16' as const, nativeF16: false, relative: F16_RELATIVE },
  ])('precision $precision (native f16: $nativeF16)', ({ precision, nativeF16, relative }) => {
    it.each(GPU_CASES)('$name', async (c) => {
      const scorer = await engineScorer({ precision, nativeF16 });
      const { queries, docs } = caseData(c, c.dim * 7 + c.docRows.length);
      const corpus = await scorer.upload(docs);
      const scores = await scorer.score(queries, corpus);
      expectClose(scores, queries, docs, relative);
      scorer.destroy();
    });
  });
});
