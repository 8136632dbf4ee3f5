// src/webgpu/shaders.generated.ts must match shaders/*.wgsl (npm run build regenerates it; this catches a commit
// that edited a .wgsl file without rebuilding), and every shader keeps its header comment.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('shaders', () => {
  it('src/webgpu/shaders.generated.ts is up to date with shaders/*.wgsl', () => {
    expect(() =>
      execFileSync(process.execPath, ['scripts/build-shaders.mjs', '--check'], { stdio: 'pipe' }),
    ).not.toThrow();
  });

  it.each(readdirSync('shaders').filter((f) => f.endsWith('.wgsl')))(
    '%s lists bindings and overrides in its header',
    (file) => {
      const text = readFileSync(`shaders/${file}`, 'utf8');
      const header = text.slice(0, text.search(/^[^/\n]/m));
      expect(header).toMatch(/Bindings/);
      expect(header).toMatch(/Overrides/);
      for (const m of text.matchAll(/@binding\((\d+)\)/g)) expect(header).toMatch(new RegExp(`\\b${m[1]} \\w+`));
    },
  );
});
