// The backend choice of the universal entry (no GPU in Node without Dawn): what 'auto' picks, why, and the
// typed error of a backend that cannot run.
import { describe, expect, it } from 'vitest';
import { createScorer } from '../src/index.js';

describe('backend selection', () => {
  it("'auto' picks the CPU where there is no GPU, and says why", async () => {
    const s = await createScorer();
    expect(s.backend).toBe('cpu');
    expect(s.info.fallbackReason).toBe('no WebGPU in this runtime');
    s.destroy();
  });

  it("'cpu' says it was asked for; fallback takes only 'cpu' or 'none'", async () => {
    const s = await createScorer({ backend: 'cpu' });
    expect(s.info.fallbackReason).toBe("backend: 'cpu' was asked for");
    s.destroy();
    await expect(createScorer({ fallback: 'gpu' as 'cpu' })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
  });

  it("precision 'int8' goes to WebGPU like f32: 'webgpu' asks the GPU, 'auto' keeps int8 on the CPU when it fails", async () => {
    const gpu = {
      requestAdapter: () => {
        throw new Error('the GPU was asked for an adapter');
      },
    } as unknown as GPU;
    await expect(createScorer({ backend: 'webgpu', precision: 'int8', gpu })).rejects.toMatchObject({
      code: 'E_BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/^Could not start the WebGPU backend: the GPU was asked for an adapter/),
    });
    const s = await createScorer({ precision: 'int8', gpu });
    expect(s.info).toMatchObject({
      backend: 'cpu',
      precision: 'int8',
      fallbackReason: 'the GPU was asked for an adapter',
    });
    s.destroy();
    await expect(createScorer({ precision: 'bf16' as 'f16' })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: "precision must be 'f32', 'f16' or 'int8', got \"bf16\"",
    });
  });

  it("'webgpu' without any GPU is a typed error that says why", async () => {
    await expect(createScorer({ backend: 'webgpu' })).rejects.toMatchObject({
      code: 'E_BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/navigator\.gpu is missing.*webgpu-maxsim\/node/s),
    });
  });
});
