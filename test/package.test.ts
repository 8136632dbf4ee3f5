// The package as users get it: built dist/, imported by its own name, the core free of Node-only APIs,
// and the CLI's help and version. `npm test` builds first, so dist/ is current here.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

describe('package entries', () => {
  it('imports by its own name from both entries (exports map, types first)', async () => {
    const script = [
      "const core = await import('webgpu-maxsim');",
      "const node = await import('webgpu-maxsim/node');",
      'const s = await core.createScorer({ backend: "cpu" });',
      'const q = core.tokenMatrixFromNested([[1, 0]]);',
      'const [scores] = await s.score([q], [q]);',
      'console.log(JSON.stringify({ core: typeof core.createScorer, node: typeof node.createScorer, score: scores[0] }));',
      's.destroy();',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
    expect(JSON.parse(stdout)).toEqual({ core: 'function', node: 'function', score: 1 });
    const exportsMap = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).exports as Record<
      string,
      Record<string, unknown>
    >;
    // TypeScript takes the first condition it knows: `types` leads each object it can reach.
    expect(Object.keys(exportsMap['./node']!)[0]).toBe('types');
    expect(Object.keys(exportsMap['.']!['node'] as object)[0]).toBe('types');
    const tsVisible = Object.keys(exportsMap['.']!).filter((k) => ['node', 'types', 'import', 'default'].includes(k));
    expect(tsVisible).toEqual(['node', 'types', 'default']);
  });

  it("plain 'webgpu-maxsim' in Node is the Node entry: one worker thread per core, Dawn, the Node-only names", async () => {
    const script = [
      "import { availableParallelism } from 'node:os';",
      "const plain = await import('webgpu-maxsim');",
      "const node = await import('webgpu-maxsim/node');",
      'const byDefault = await plain.createScorer({ backend: "cpu" });',
      'const two = await plain.createScorer({ backend: "cpu", cpu: { threads: 2 } });',
      'console.log(JSON.stringify({ cores: availableParallelism(), same: plain.createScorer === node.createScorer,',
      '  loadDawnGpu: typeof plain.loadDawnGpu, threads: byDefault.info.threads, two: two.info.threads,',
      '  reason: byDefault.info.threadsReason ?? null }));',
      'byDefault.destroy(); two.destroy();',
    ].join('\n');
    const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out).toEqual({
      cores: out['cores'],
      same: true,
      loadDawnGpu: 'function',
      threads: out['cores'],
      two: 2,
      reason: null,
    });
    expect(stderr).toBe('');
  });

  it('the universal entry says (and warns once) when threads asked for are dropped, instead of ignoring them', async () => {
    // dist/index.js directly: what a browser bundle run in Node 20 (no Worker, no navigator) gets.
    const script = [
      "const core = await import('./dist/index.js');",
      'const a = await core.createScorer({ backend: "cpu", cpu: { threads: 2 } });',
      'const b = await core.createScorer({ backend: "cpu", cpu: { threads: 2 } });',
      'const c = await core.createScorer({ backend: "cpu" });',
      'console.log(JSON.stringify({ a: a.info, c: c.info }));',
    ].join('\n');
    const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
    const { a, c } = JSON.parse(stdout) as Record<string, Record<string, unknown>>;
    expect(a).toMatchObject({ threads: 1, threadsReason: '2 asked for, but this runtime has no Worker' });
    expect(a!['summary']).toBe('cpu (wasm-simd, 1 thread; 2 asked for, but this runtime has no Worker)');
    expect(c!['threadsReason']).toBeUndefined(); // the default here is one thread: nothing was dropped
    expect(stderr.trim().split('\n')).toEqual([
      "webgpu-maxsim: cpu.threads is 2, but this runtime has no Worker: the CPU backend runs on 1 thread. In Node, import 'webgpu-maxsim' (its Node entry starts worker_threads); elsewhere pass cpu: { workers }.",
    ]);
  });

  it('lists its public names on purpose: ./node has every name of the core, internals stay internal', async () => {
    const script = [
      // The universal entry as browsers, Deno, Bun and Workers get it (Node gets ./node through "node").
      "const core = await import('./dist/index.js');",
      "const node = await import('webgpu-maxsim/node');",
      "const worker = import.meta.resolve('webgpu-maxsim/cpu-worker');",
      'console.log(JSON.stringify({ core: Object.keys(core), node: Object.keys(node), worker }));',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
    const { core, node, worker } = JSON.parse(stdout) as { core: string[]; node: string[]; worker: string };
    expect(node).toEqual(expect.arrayContaining(core));
    for (const name of ['createScorer', 'PoolingClient', 'createRerankHandler', 'maxsimReference', 'MaxsimError']) {
      expect(core, name).toContain(name);
    }
    for (const name of ['startPoolingServer', 'serveHandler', 'createNodePoolingClient', 'loadDawnGpu']) {
      expect(core, name).not.toContain(name);
      expect(node, name).toContain(name);
    }
    for (const internal of [
      'createScorerFromEngine',
      'checkScale',
      'parseBytesMetadata',
      'decodeBase64Portable',
      'BenchmarkError',
    ]) {
      expect(node, internal).not.toContain(internal);
    }
    expect(worker).toMatch(/dist\/cpu\/worker\.js$/);
  });

  it('exports the corpus-file API from both entries, and it round-trips through dist/', async () => {
    const script = [
      "const core = await import('webgpu-maxsim');",
      "const node = await import('webgpu-maxsim/node');",
      'const names = ["readCorpusFile", "readCorpusFileStream", "writeCorpusFile", "writeCorpusFileChunks", "CorpusFileError"];',
      'const doc = core.tokenMatrixFromNested([[1, 0], [0.5, 0.5]]);',
      'const bytes = core.writeCorpusFile([doc], { dtype: "int8", texts: ["hello"] });',
      'const back = await node.readCorpusFileStream(new Blob([bytes]));',
      'console.log(JSON.stringify({ core: names.filter((n) => n in core), node: names.filter((n) => n in node), texts: back.texts, data: [...back.data] }));',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
    const names = [
      'readCorpusFile',
      'readCorpusFileStream',
      'writeCorpusFile',
      'writeCorpusFileChunks',
      'CorpusFileError',
    ];
    expect(JSON.parse(stdout)).toEqual({ core: names, node: names, texts: ['hello'], data: [1, 0, 0.5, 0.5] });
  });

  it('keeps the universal core free of node: imports, Buffer and process', () => {
    // Walk every module reachable from dist/index.js through static and dynamic relative imports.
    const seen = new Set<string>();
    const offenders: string[] = [];
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      // Import statements start a line (`import … from`, `export … from`, `} from` after a multi-line list).
      const specifiers = [
        ...code.matchAll(/^\s*(?:import|export|\})[^'"\n]*from\s+['"]([^'"]+)['"]/gm),
        ...code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
      ].map((m) => m[1]!);
      for (const spec of specifiers) {
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
        else offenders.push(`${file}: imports ${spec}`);
      }
      if (/\brequire\(/.test(code)) offenders.push(`${file}: require()`);
      if (/\bBuffer\./.test(code) || /\bnew Buffer\b/.test(code)) offenders.push(`${file}: Buffer`);
      if (/\bprocess\./.test(code)) offenders.push(`${file}: process`);
    };
    visit(join(root, 'dist/index.js'));
    expect(seen.size).toBeGreaterThan(5);
    expect(offenders).toEqual([]);
  });
});

describe('cli', () => {
  const cli = join(root, 'dist/cli.js');

  it('prints help with the commands and exits 0', async () => {
    const { stdout } = await run(process.execPath, [cli, '--help']);
    expect(stdout).toMatch(/Usage: webgpu-maxsim <command> \[options\]/);
    expect(stdout).toMatch(/--version/);
  });

  it('prints the package version', async () => {
    const { stdout } = await run(process.execPath, [cli, '--version']);
    expect(stdout.trim()).toBe(pkg.version);
  });

  it('rejects an unknown command on stderr with exit code 2', async () => {
    const err = (await run(process.execPath, [cli, 'frobnicate']).catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
