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
    const exportsMap = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).exports as Record<string, object>;
    for (const entry of ['.', './node']) expect(Object.keys(exportsMap[entry]!)[0]).toBe('types');
  });

  it('lists its public names on purpose: ./node has every name of the core, internals stay internal', async () => {
    const script = [
      "const core = await import('webgpu-maxsim');",
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
