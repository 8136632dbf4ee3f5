// The package as npm ships it: `npm pack`, then the tarball installed into fresh projects (from npm's cache,
// which `npm ci` filled), as a user would meet it. Node imports it (and require()s it), TypeScript compiles
// against its types with skipLibCheck: false in both a Node (nodenext, @types/node) and a browser (bundler, DOM,
// no @types/node) setup, publint and are-the-types-wrong find nothing, and the webgpu-maxsim-cli package brings
// Dawn and LanceDB so the command scores on the GPU and keeps stores with no extra step. `npm test` builds first,
// so dist/ is current.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(root, 'node_modules/typescript/bin/tsc');
const ATTW = join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js');
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
const cliPkg = JSON.parse(await readFile(join(root, 'packages/cli/package.json'), 'utf8'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, timeout: 180_000, maxBuffer: 64 << 20, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
      },
    );
  });
}

const npm = (args: string[], cwd: string): Promise<Run> =>
  run(process.platform === 'win32' ? 'npm.cmd' : 'npm', [...args, '--no-audit', '--no-fund'], cwd, {
    npm_config_update_notifier: 'false',
  });

let work: string;
let tarball: string;
let cliTarball: string;
let packed: string[];
/** A project with the library alone (no webgpu: it is an optional peer) and @types/node. */
let app: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'maxsim-pack-'));
  const packs = join(work, 'packs');
  await mkdir(packs);
  const lib = await npm(['pack', '--json', '--pack-destination', packs], root);
  expect(lib.code, lib.stderr).toBe(0);
  const [info] = JSON.parse(lib.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(packs, info!.filename);
  packed = info!.files.map((f) => f.path);
  const cli = await npm(['pack', '--json', '--pack-destination', packs], join(root, 'packages/cli'));
  expect(cli.code, cli.stderr).toBe(0);
  cliTarball = join(packs, (JSON.parse(cli.stdout) as { filename: string }[])[0]!.filename);

  app = join(work, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const types = pkg.devDependencies['@types/node'] as string;
  const installed = await npm(
    ['install', '--prefer-offline', '--ignore-scripts', tarball, `@types/node@${types}`],
    app,
  );
  expect(installed.code, installed.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships LICENSE, README, the README images, types and dist; no sources or tests', () => {
    for (const file of ['LICENSE', 'README.md', 'package.json', 'types/maxsim.wasm.d.ts', 'dist/maxsim.wasm']) {
      expect(packed, file).toContain(file);
    }
    expect(packed.filter((f) => /^(src|test|demo|wasm|scripts|packages)\//.test(f))).toEqual([]);
  });

  it('every image the README shows is in the tarball (npm and unpkg render it from there)', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) {
      if (/^https:\/\//.test(image)) continue;
      expect(packed, image).toContain(image.replace(/^\.\//, ''));
    }
  });

  it('source maps carry their sources (src/ is not shipped, so no map may point at a missing file)', async () => {
    const maps = packed.filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const map of maps) {
      const { sources, sourcesContent } = JSON.parse(await readFile(join(root, map), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      expect(sourcesContent?.length, map).toBe(sources.length);
      expect(
        sourcesContent!.every((s) => typeof s === 'string' && s.length > 0),
        map,
      ).toBe(true);
    }
  });

  it('README opens with how to install it and says it is ESM-only', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const opening = readme.slice(0, readme.indexOf('\n## ', readme.indexOf('\n## ') + 1));
    expect(opening).toMatch(/npm i(nstall)? webgpu-maxsim\b/);
    expect(opening).toMatch(/ESM/);
    expect(opening).toMatch(/require\(.*Node(\.js)? (≥|>=) ?20\.19/s);
  });

  it('publint finds nothing in either package', async () => {
    const { publint } = await import('publint');
    for (const dir of [root, join(root, 'packages/cli')]) {
      const { messages } = await publint({ pkgDir: dir, pack: 'npm', strict: true });
      expect(messages, dir).toEqual([]);
    }
  });

  it('are-the-types-wrong: every entry resolves to types in node16 (ESM) and bundler resolution', async () => {
    const result = await run(process.execPath, [ATTW, tarball, '--profile', 'esm-only', '--format', 'json'], root);
    const report = JSON.parse(result.stdout) as {
      analysis: { problems: { resolutionKind?: string }[]; entrypoints: object };
    };
    // An ESM-only package cannot resolve for node10 or be require()d by TypeScript's node16-cjs: the esm-only
    // profile ignores exactly those two (the JSON lists them anyway).
    const ignored = new Set(['node10', 'node16-cjs']);
    expect(report.analysis.problems.filter((p) => !ignored.has(p.resolutionKind ?? ''))).toEqual([]);
    expect(Object.keys(report.analysis.entrypoints)).toEqual(
      expect.arrayContaining(['.', './node', './maxsim.wasm', './cli']),
    );
  });
});

describe('the tarball, installed', () => {
  it('runs in Node without Dawn: auto scores on the CPU and says how to get the GPU; require() works', async () => {
    await writeFile(
      join(app, 'rank.mjs'),
      [
        "import { createScorer, tokenMatrixFromNested } from 'webgpu-maxsim';",
        'const scorer = await createScorer();',
        'const q = tokenMatrixFromNested([[1, 0]]);',
        'const [scores] = await scorer.score([q], [q, tokenMatrixFromNested([[0, 1]])]);',
        "const webgpu = await createScorer({ backend: 'webgpu' }).then(() => 'created', (e) => e.message);",
        'console.log(JSON.stringify({ scores: [...scores], info: scorer.info, webgpu }));',
        'scorer.destroy();',
      ].join('\n'),
    );
    const ran = await run(process.execPath, ['rank.mjs'], app);
    expect(ran.code, ran.stderr).toBe(0);
    const out = JSON.parse(ran.stdout);
    expect(out.scores).toEqual([1, 0]);
    expect(out.info.threads).toBeGreaterThanOrEqual(1);
    expect(out.info.fallbackReason).toMatch(
      /^the webgpu package \(Dawn, WebGPU for Node\) is not installed: npm i webgpu/,
    );
    expect(out.webgpu).toMatch(/not installed: npm i webgpu.*webgpu-maxsim-cli/);

    const required = await run(
      process.execPath,
      ['-e', "const m = require('webgpu-maxsim'); console.log(typeof m.createScorer, typeof m.startPoolingServer)"],
      app,
    );
    expect(required.stdout.trim()).toBe('function function');
  });

  it('TypeScript, skipLibCheck false: Node (nodenext, @types/node) and browser (bundler, DOM, no @types/node)', async () => {
    await writeFile(
      join(app, 'node.ts'),
      [
        "import { createScorer, startPoolingServer, type ScorerInfo, type UploadProgress } from 'webgpu-maxsim';",
        "import { createScorer as fromNode, loadDawnGpu } from 'webgpu-maxsim/node';",
        "import wasmModule from 'webgpu-maxsim/maxsim.wasm';",
        "const scorer = await createScorer({ backend: 'cpu', cpu: { wasmModule } });",
        'const info: ScorerInfo = scorer.info;',
        'const progress: UploadProgress = { done: 0, total: 1 };',
        'const gpu: GPU = await loadDawnGpu();',
        'console.log(info.summary, progress, typeof fromNode, typeof startPoolingServer, gpu);',
      ].join('\n'),
    );
    await writeFile(
      join(app, 'browser.ts'),
      [
        "import { createScorer, type ScorerOptions } from 'webgpu-maxsim';",
        "import wasmModule from 'webgpu-maxsim/maxsim.wasm';",
        "const options: ScorerOptions = { backend: 'auto', gpu: navigator.gpu, cpu: { wasmModule } };",
        'console.log((await createScorer(options)).info.summary);',
      ].join('\n'),
    );
    const common = { target: 'ES2022', strict: true, skipLibCheck: false, noEmit: true };
    await writeFile(
      join(app, 'tsconfig.node.json'),
      JSON.stringify({
        compilerOptions: { ...common, module: 'nodenext', moduleResolution: 'nodenext', types: ['node'] },
        files: ['node.ts'],
      }),
    );
    await writeFile(
      join(app, 'tsconfig.browser.json'),
      JSON.stringify({
        compilerOptions: {
          ...common,
          module: 'esnext',
          moduleResolution: 'bundler',
          lib: ['ES2022', 'DOM'],
          types: [],
        },
        files: ['browser.ts'],
      }),
    );
    // The user installed neither @webgpu/types nor webgpu: the package's own dependency brings the GPU types.
    expect(await readdir(join(app, 'node_modules/@webgpu'))).toEqual(['types']);
    for (const config of ['tsconfig.node.json', 'tsconfig.browser.json']) {
      const tsc = await run(process.execPath, [TSC, '-p', config], app);
      expect(tsc.stdout + tsc.stderr, config).toBe('');
      expect(tsc.code, config).toBe(0);
    }
  });

  it('webgpu-maxsim-cli brings Dawn and LanceDB: the command scores on the GPU and keeps stores with no extra step', async () => {
    const cliApp = join(work, 'cli-app');
    await mkdir(cliApp);
    await writeFile(join(cliApp, 'package.json'), JSON.stringify({ name: 'cli-app', private: true }));
    const installed = await npm(['install', '--prefer-offline', '--ignore-scripts', tarball, cliTarball], cliApp);
    expect(installed.code, installed.stderr).toBe(0);
    const bin = join(cliApp, 'node_modules/webgpu-maxsim-cli/bin.js');
    const version = await run(process.execPath, [bin, '--version'], cliApp);
    expect(version.stdout.trim()).toBe(pkg.version);
    // This machine's GPU is a software one (lavapipe), which 'auto' declines; 'webgpu' proves Dawn is there.
    const ranked = await run(process.execPath, [bin, 'rerank', '--local', '--backend', 'webgpu', '--json'], cliApp);
    expect(ranked.code, ranked.stderr).toBe(0);
    expect(JSON.parse(ranked.stdout).backend).toBe('webgpu');
    expect(dirname(bin)).toMatch(/webgpu-maxsim-cli$/);
    // LanceDB and Arrow came with it (optional dependencies), where the library (their optional peer) finds them:
    // index, search --store and export work as installed.
    await writeFile(join(cliApp, 'docs.txt'), 'Paris is the capital of France.\nBananas are yellow.\n');
    const indexed = await run(
      process.execPath,
      [bin, 'index', '--store', 'docs.lance', '--docs-file', 'docs.txt', '--local', '--quiet'],
      cliApp,
    );
    expect(indexed.code, indexed.stderr).toBe(0);
    expect(indexed.stdout).toMatch(/docs\.lance: 2 documents \(hash-embedder-d128, dim 128, f16\)/);
    const searched = await run(
      process.execPath,
      [bin, 'search', '--store', 'docs.lance', '--query', 'capital of France', '--local', '--json', '--backend', 'cpu'],
      cliApp,
    );
    expect(searched.code, searched.stderr).toBe(0);
    const texts = (r: { stdout: string }): string[] =>
      (JSON.parse(r.stdout) as { results: { text: string }[] }).results.map((x) => x.text);
    expect(texts(searched)).toEqual(['Paris is the capital of France.', 'Bananas are yellow.']);
    const exported = await run(
      process.execPath,
      [bin, 'export', '--store', 'docs.lance', '--out', 'docs.safetensors'],
      cliApp,
    );
    expect(exported.code, exported.stderr).toBe(0);
    const fromFile = await run(
      process.execPath,
      [bin, 'search', '--corpus', 'docs.safetensors', '--query', 'capital of France', '--json', '--backend', 'cpu'],
      cliApp,
    );
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toBe(searched.stdout);
  }, 300_000); // installs ~660 MB (Dawn, LanceDB and LanceDB's own optional packages) from npm's cache

  it('webgpu-maxsim-cli stays in step with the library: version, Dawn version, license', async () => {
    expect(cliPkg.version).toBe(pkg.version);
    expect(cliPkg.dependencies['webgpu-maxsim']).toBe(pkg.version);
    expect(cliPkg.dependencies.webgpu).toBe(pkg.devDependencies.webgpu); // the version the library is tested with
    expect(pkg.peerDependencies.webgpu).toBe(`^${pkg.devDependencies.webgpu}`);
    expect(pkg.peerDependenciesMeta.webgpu.optional).toBe(true);
    expect(pkg.dependencies.webgpu).toBeUndefined();
    // LanceDB and Arrow: optional peers of the library, optional dependencies of the CLI, at the same pins.
    for (const name of ['@lancedb/lancedb', 'apache-arrow']) {
      expect(cliPkg.optionalDependencies[name], name).toBe(pkg.peerDependencies[name]);
      expect(pkg.peerDependenciesMeta[name].optional, name).toBe(true);
      expect(pkg.devDependencies[name], name).toBe(pkg.peerDependencies[name]);
      expect(pkg.dependencies[name], name).toBeUndefined();
      expect(cliPkg.dependencies[name], name).toBeUndefined();
    }
    expect(await readFile(join(root, 'packages/cli/LICENSE'), 'utf8')).toBe(
      await readFile(join(root, 'LICENSE'), 'utf8'),
    );
    expect(await readFile(join(root, 'LICENSE'), 'utf8')).toMatch(
      /^MIT License\n\nCopyright \(c\) \d{4} the webgpu-maxsim authors\n/,
    );
  });
});
