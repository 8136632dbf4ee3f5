// The WebGPU backend's host-side geometry, no GPU needed: dispatch grids under the per-dimension limit, chunks of
// whole documents under the binding limit, and which adapters count as software.
import { describe, expect, it } from 'vitest';
import { planChunks } from '../../src/webgpu/corpus.js';
import { isSoftwareAdapter } from '../../src/webgpu/device.js';
import { dispatchGrid } from '../../src/webgpu/engine.js';
import { GpuLimitError } from '../../src/webgpu/errors.js';
import { choiceKey } from '../../src/webgpu/tuning.js';
import {
  candidateVariants,
  defaultVariant,
  groupDocuments,
  paddedRowWords,
  parseVariant,
  queriesPerGroup,
  TILE_CONFIGS,
  TILE_CONFIG_NAMES,
  tiledConstants,
  variantName,
  variantUnsupported,
  workgroupBytes,
} from '../../src/webgpu/variants.js';

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

  it('groups short consecutive documents into one tile, long ones alone', () => {
    // Documents of 10, 10, 80, 10, 0, 50 tokens; tiles of 64 tokens, at most 32 documents per group.
    const offsets = new Uint32Array([0, 10, 20, 100, 110, 110, 160]);
    expect([...groupDocuments(offsets, 64, 32)]).toEqual([0, 2, 3, 6]);
    expect([...groupDocuments(offsets, 64, 2)]).toEqual([0, 2, 3, 5, 6]);
    expect([...groupDocuments(new Uint32Array([0, 1, 2, 3, 4, 5]), 64, 2)]).toEqual([0, 2, 4, 5]);
    expect([...groupDocuments(new Uint32Array([0]), 64, 32)]).toEqual([0]);
    expect(queriesPerGroup(new Uint32Array([0, 32, 64, 96, 128, 160]), 128)).toBe(4);
    expect(queriesPerGroup(new Uint32Array([0, 33, 40]), 32)).toBe(1);
    expect(queriesPerGroup(new Uint32Array([0, 0, 0]), 32)).toBe(32);
  });

  it('names variants and parses the names back', () => {
    for (const name of ['baseline', 'q32', 'q32t32-subgroup', 'q64-f16math', 'q128-f16math-subgroup', 'q32@4096']) {
      expect(variantName(parseVariant(name)!)).toBe(name);
    }
    for (const bad of ['', 'q16', 'q32-subgroup-f16math', 'q32@0', 'Q32', 'baseline-subgroup']) {
      expect(parseVariant(bad), bad).toBeUndefined();
    }
  });

  it('pads rows to 16 bytes and fits tile configs into the workgroup memory a device has', () => {
    expect([
      paddedRowWords('f32', 3),
      paddedRowWords('f32', 128),
      paddedRowWords('f16', 5),
      paddedRowWords('f16', 1024),
    ]).toEqual([4, 128, 4, 512]);
    // 32 KiB (lavapipe, SwiftShader): q32 keeps dim 128 resident with 32 documents per group.
    expect(tiledConstants('q32', 'f32', 'f32', 128, 32768)).toEqual({
      TQ: 4,
      TTH: 16,
      KD: 32,
      QKD: 128,
      MAXD: 32,
      STREAM_Q: 0,
    });
    // Every dim up to 128 shares that pipeline; 1024 streams the query block.
    expect(tiledConstants('q32', 'f32', 'f32', 3, 32768)).toEqual(tiledConstants('q32', 'f32', 'f32', 128, 32768));
    expect(tiledConstants('q32', 'f32', 'f32', 1024, 32768)).toMatchObject({ QKD: 32, STREAM_Q: 1 });
    // 16 KiB (the default limit): q32 with fewer documents per group, q128 not at all.
    expect(tiledConstants('q32', 'f32', 'f32', 128, 16384)).toMatchObject({ STREAM_Q: 1 });
    expect(tiledConstants('q128', 'f32', 'f32', 128, 16384)).toBeUndefined();
    expect(tiledConstants('q64', 'f16', 'f16', 128, 16384)).toMatchObject({ STREAM_Q: 1 });
    // 48 KiB (NVIDIA through Vulkan): q64 resident.
    expect(tiledConstants('q64', 'f32', 'f32', 128, 49152)).toMatchObject({ QKD: 128, STREAM_Q: 0 });
    for (const name of TILE_CONFIG_NAMES) {
      for (const limit of [16384, 32768, 49152, 65536]) {
        const c = tiledConstants(name, 'f32', 'f32', 200, limit);
        if (c !== undefined)
          expect(workgroupBytes({ ...TILE_CONFIGS[name], MAXD: c.MAXD }, c.QKD, 'f32')).toBeLessThanOrEqual(limit);
      }
    }
  });

  it('offers candidates by feature, batch and precision, and a default without measuring', () => {
    const device = (shaderF16: boolean, subgroups: boolean, storage = 32768) => ({
      features: { shaderF16, subgroups },
      limits: { maxComputeWorkgroupStorageSize: storage, maxComputeInvocationsPerWorkgroup: 256 },
    });
    const names = (d: ReturnType<typeof device>, storage: 'f32' | 'f16', f16Math: boolean, queries: number) =>
      candidateVariants(d, storage, 128, f16Math, { queries, maxRows: 32 }).map(variantName);
    expect(names(device(false, false), 'f32', false, 1)).toEqual(['q32', 'q32t32', 'baseline']);
    expect(names(device(false, true), 'f32', false, 64)).toEqual([
      'q32',
      'q32-subgroup',
      'q32t32',
      'q32t32-subgroup',
      'q64',
      'q64-subgroup',
      'q128',
      'q128-subgroup',
      'baseline',
    ]);
    expect(names(device(true, false), 'f16', true, 8)).toEqual([
      'q32-f16math',
      'q32t32-f16math',
      'q64-f16math',
      'q128-f16math',
    ]);
    expect(variantUnsupported(parseVariant('q32-subgroup')!, device(true, false), 'f32', 128)).toMatch(/subgroups/);
    expect(variantUnsupported(parseVariant('q32-f16math')!, device(false, false), 'f16', 128)).toMatch(/shader-f16/);
    const batch = (queries: number) => ({ queries, maxRows: 32 });
    // Hardware, unmeasured: the baseline for a few queries (the H200 ran it 2.4× faster than q32), q128 for many;
    // software: q32 (2.4–4× the baseline there).
    expect(variantName(defaultVariant(device(false, false), 'f32', 128, false, batch(1), false))).toBe('baseline');
    expect(variantName(defaultVariant(device(false, false), 'f32', 128, false, batch(1), true))).toBe('q32');
    expect(variantName(defaultVariant(device(true, false), 'f16', 128, true, batch(1), false))).toBe('q32-f16math');
    expect(variantName(defaultVariant(device(false, false, 49152), 'f32', 128, false, batch(64), false))).toBe('q128');
    expect(variantName(defaultVariant(device(false, false, 49152), 'f32', 128, false, batch(64), true))).toBe('q32');
    expect(variantName(defaultVariant(device(true, false), 'f16', 128, true, batch(64), false))).toBe('q128-f16math');
    expect(choiceKey('f16', true, 1024, batch(64), 20)).toBe('f16+f16math dim≤1024 queries>16 short-docs');
  });

  it('int8 storage: tiled variants only (no baseline, even as the hardware default), rows of 16 values, int8 tiles', () => {
    const device = {
      features: { shaderF16: false, subgroups: false },
      limits: { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256 },
    };
    const batch = (queries: number) => ({ queries, maxRows: 32 });
    expect([1, 3, 16, 17, 128, 1024].map((d) => paddedRowWords('int8', d))).toEqual([4, 4, 4, 8, 32, 256]);
    expect(variantUnsupported({ kind: 'baseline' }, device, 'int8', 128)).toMatch(/baseline kernel has no int8/);
    expect(variantUnsupported(parseVariant('q32')!, device, 'int8', 128)).toBeUndefined();
    expect(candidateVariants(device, 'int8', 128, false, batch(64)).map(variantName)).toEqual([
      'q32',
      'q32t32',
      'q64',
      'q128',
    ]);
    expect(variantName(defaultVariant(device, 'int8', 128, false, batch(1), false))).toBe('q32');
    expect(variantName(defaultVariant(device, 'int8', 128, false, batch(4), false))).toBe('q64');
    expect(variantName(defaultVariant(device, 'int8', 128, false, batch(1), true))).toBe('q32');
    // 16 int8 values per 16-byte tile unit: the query block of dim 128 takes 8 units a row (f32: 32).
    const c = tiledConstants('q32', 'int8', 'f32', 128, 32768)!;
    expect(c).toMatchObject({ QKD: 128, STREAM_Q: 0 });
    expect(workgroupBytes({ ...TILE_CONFIGS.q32, MAXD: c.MAXD }, 128, 'f32', 'int8')).toBe(
      16 * 32 * (128 / 16 + 1) + 16 * 64 * (32 / 16 + 1) + 4 * c.MAXD * 32 + 4 * 64 + 32,
    );
    // The widest int8 rows still fit: the query block is streamed.
    expect(tiledConstants('q32', 'int8', 'f32', 133_144, 32768)).toMatchObject({ STREAM_Q: 1 });
  });
});
