// The WebGPU backend's host-side geometry, no GPU needed: dispatch grids under the per-dimension limit, chunks of
// whole documents under the binding limit, and which adapters count as software.
import { describe, expect, it } from 'vitest';
import { planChunks } from '../../src/webgpu/corpus.js';
import { isSoftwareAdapter } from '../../src/webgpu/device.js';
import { dispatchGrid } from '../../src/webgpu/engine.js';
import { GpuLimitError } from '../../src/webgpu/errors.js';

describe('dispatch geometry and chunk planning (no GPU)', () => {
  it('splits workgroup counts across x and y only when over the limit', () => {
    expect(dispatchGrid(0, 65535)).toEqual({ x: 0, y: 0 });
    expect(dispatchGrid(65535, 65535)).toEqual({ x: 65535, y: 1 });
    expect(dispatchGrid(65536, 65535)).toEqual({ x: 65535, y: 2 });
    expect(dispatchGrid(21, 5)).toEqual({ x: 5, y: 5 });
    expect(() => dispatchGrid(26, 5)).toThrow(GpuLimitError);
  });

  it('packs whole documents into chunks no larger than the limit', () => {
    const offsets = new Uint32Array([0, 3, 3, 10, 11, 20]);
    const plans = planChunks(offsets, 8, 80); // at most 10 rows per chunk
    expect(plans).toEqual([
      { firstDoc: 0, docCount: 3, firstRow: 0, rowCount: 10 },
      { firstDoc: 3, docCount: 2, firstRow: 10, rowCount: 10 },
    ]);
    expect(() => planChunks(offsets, 8, 64)).toThrow(/Document 4 has 9 tokens/);
  });

  it('recognises software adapters by flag or by name', () => {
    expect(isSoftwareAdapter({ isFallbackAdapter: true })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader' })).toBe(true);
    expect(isSoftwareAdapter({ description: 'llvmpipe: Mesa 25.0.7' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' })).toBe(false);
  });
});
