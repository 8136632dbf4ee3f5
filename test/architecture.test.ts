// The layer rules of src/, checked on the import graph: data flows one way (docs/architecture in the README).
// `core` imports nothing else in src; the backends and the /pooling client import only `core`; Node-only code
// (node:* modules) stays in node/, testing/, cli/, bench/ and the entries that own them.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** The folder (layer) of a file under src/: its first path segment, or the file name for the root files. */
function layerOf(file: string): string {
  const rel = relative(src, file);
  return rel.includes('/') ? rel.split('/')[0]! : rel.replace(/\.ts$/, '');
}

/** What each layer may import, besides itself. Root files are named by their module name. */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  cpu: ['core'],
  webgpu: ['core'],
  pooling: ['core'],
  embed: ['core', 'pooling'],
  service: ['core', 'embed'],
  'fallback-engine': ['core', 'cpu', 'webgpu'],
  'create-scorer': ['core', 'cpu', 'webgpu', 'fallback-engine'],
  index: ['core', 'cpu', 'webgpu', 'pooling', 'embed', 'service', 'create-scorer'],
  node: ['core', 'cpu', 'webgpu', 'pooling', 'embed', 'service', 'create-scorer'],
  // The stand-in shares the service's vLLM-exact pieces (CORS, pydantic's lax coercion).
  testing: ['core', 'pooling', 'embed', 'service', 'node'],
  // The Node entry file (src/node.ts) is a root file; its layer name collides with the node/ folder, which is
  // fine: both are Node-only and may import the same things, plus the stand-in.
  bench: ['core', 'cpu', 'webgpu', 'pooling', 'embed', 'node', 'create-scorer', 'fallback-engine'],
  cli: ['core', 'cpu', 'webgpu', 'pooling', 'embed', 'service', 'node', 'testing', 'bench', 'create-scorer', 'store'],
  // The LanceDB document store: Node-only (a native module), on top of the scorer and the embedders; the
  // store.ts entry also re-exports the /search handler.
  store: ['core', 'embed', 'node', 'service'],
};
// src/node.ts (the entry) also re-exports the stand-in.
const ENTRY_EXTRA: Record<string, readonly string[]> = { 'node.ts': ['testing'], 'cli.ts': ['cli'] };

/** Layers whose files may import `node:*` built-ins. */
const NODE_LAYERS = new Set(['node', 'testing', 'cli', 'bench', 'store']);
const NODE_ROOT_FILES = new Set(['node.ts', 'cli.ts', 'store.ts']);

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const files = walk(src);
const imports = files.map((file) => {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]!);
  return { file, specs };
});

describe('architecture', () => {
  it('has the folders the README describes', () => {
    const layers = new Set(files.map(layerOf));
    for (const l of [
      'core',
      'cpu',
      'webgpu',
      'pooling',
      'embed',
      'service',
      'node',
      'testing',
      'cli',
      'bench',
      'store',
    ]) {
      expect(layers, l).toContain(l);
    }
  });

  it('imports only downwards: each layer imports only the layers below it', () => {
    const violations: string[] = [];
    for (const { file, specs } of imports) {
      const from = layerOf(file);
      const rootFile = relative(src, file);
      const allowed = new Set([from, ...(ALLOWED[from] ?? []), ...(ENTRY_EXTRA[rootFile] ?? [])]);
      if (ALLOWED[from] === undefined && ENTRY_EXTRA[rootFile] === undefined)
        violations.push(`${rootFile}: unknown layer`);
      for (const spec of specs.filter((s) => s.startsWith('.'))) {
        const to = layerOf(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        if (!allowed.has(to)) violations.push(`${rootFile} (${from}) imports ${spec} (${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('keeps node:* built-ins out of the universal layers', () => {
    const violations: string[] = [];
    for (const { file, specs } of imports) {
      const rel = relative(src, file);
      if (NODE_LAYERS.has(layerOf(file)) || NODE_ROOT_FILES.has(rel)) continue;
      for (const spec of specs) if (spec.startsWith('node:')) violations.push(`${rel} imports ${spec}`);
    }
    expect(violations).toEqual([]);
  });

  it('the WebGPU and CPU backends never import each other', () => {
    for (const { file, specs } of imports) {
      const from = layerOf(file);
      if (from !== 'cpu' && from !== 'webgpu') continue;
      const other = from === 'cpu' ? 'webgpu' : 'cpu';
      for (const spec of specs.filter((s) => s.startsWith('.'))) {
        expect(layerOf(resolve(dirname(file), spec)), `${relative(src, file)} imports ${spec}`).not.toBe(other);
      }
    }
  });
});
