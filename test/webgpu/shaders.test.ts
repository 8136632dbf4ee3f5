// src/webgpu/shaders.generated.ts must match shaders/*.wgsl (npm run build regenerates it; this catches a commit
// that edited a .wgsl file without rebuilding), and every shader keeps its header comment.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dispatchGrid } from '../src/webgpu/engine.js';
import { f16Bits, planChunks } from '../src/webgpu/corpus.js';
import { isSoftwareAdapter } from '../src/webgpu/device.js';
import { GpuLimitError } from '../src/webgpu/errors.js';

describe('shaders', () => {
  it('src/webgpu/shaders.generated.ts is up to date with shaders/*.wgsl', () => {
    expect(() => execFileSync(process.execPath, ['scripts/build-shaders.mjs', '--check'], { stdio: 'pipe' })).not.toThrow();
  });

  it.each(readdirSync('shaders').filter((f) => f.endsWith('.wgsl')))('%s lists bindings and overrides in its header', (file) => {
    const text = readFileSync(`shaders/${file}`, 'utf8');
    const header = text.slice(0, text.search(/^[^/\n]/m));
    expect(header).toMatch(/Bindings/);
    expect(header).toMatch(/Overrides/);
    for (const m of text.matchAll(/@binding\((\d+)\)/g)) expect(header).toMatch(new RegExp(`\\b${m[1]} \\w+`));
  });
});

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

  it('rounds float32 to binary16 to nearest even, like the GPU', () => {
    expect(f16Bits(1)).toBe(0x3c00);
    expect(f16Bits(-2)).toBe(0xc000);
    expect(f16Bits(65504)).toBe(0x7bff);
    expect(f16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f16Bits(1 + 2 ** -11)).toBe(0x3c00); // a tie rounds to even
    expect(f16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(() => f16Bits(70000)).toThrow(/f16/);
  });

  it('recognises software adapters by flag or by name', () => {
    expect(isSoftwareAdapter({ isFallbackAdapter: true })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader' })).toBe(true);
    expect(isSoftwareAdapter({ description: 'llvmpipe: Mesa 25.0.7' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' })).toBe(false);
  });
});
