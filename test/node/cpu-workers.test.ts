// The Node worker threads as people start them: under the Node flags people use (inherited, not passed: Node
// refuses them as an explicit execArgv), from `node --input-type=module -e`, and from a bundle that lost the
// worker file. Workers that cannot start leave the calling thread scoring and say why; no raw Node error escapes.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/threads.mjs', import.meta.url));
const dirs: string[] = [];

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Outcome {
  code: number;
  stderr: string;
  report: { threads: number; reason: string | null; same: boolean; n: number } | undefined;
}

function node(args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      const last = stdout.trim().split('\n').at(-1);
      resolve({ code, stderr, report: last?.startsWith('{') ? JSON.parse(last) : undefined });
    });
  });
}

describe('CPU worker threads under Node flags', () => {
  const flags = [
    '--max-old-space-size=4096',
    '--expose-gc',
    '--title=maxsim-flags-test',
    '--stack-size=2000',
    '--abort-on-uncaught-exception',
    '--experimental-wasm-relaxed-simd',
  ];
  for (const flag of flags) {
    it(`node ${flag}: two threads start and score exactly like one`, async () => {
      const { code, stderr, report } = await node([flag, FIXTURE]);
      expect(code, stderr).toBe(0);
      expect(report).toEqual({ threads: 2, reason: null, same: true, n: 60 });
      expect(stderr).toBe('');
    });
  }

  it('node --input-type=module -e, with process-wide flags too: threads start', async () => {
    const script = `await import(${JSON.stringify(FIXTURE)});`;
    const { code, stderr, report } = await node([
      '--max-old-space-size=4096',
      '--expose-gc',
      '--input-type=module',
      '-e',
      script,
    ]);
    expect(code, stderr).toBe(0);
    expect(report).toEqual({ threads: 2, reason: null, same: true, n: 60 });
    expect(stderr).toBe('');
  });

  it('a bundle without the worker file scores on the calling thread and names the missing file and the fix', async () => {
    const { build } = await import('rolldown');
    // Inside the package, so the bundle's external imports (undici, webgpu) resolve from its node_modules.
    const out = await mkdtemp(join(root, 'tmp-bundle-'));
    dirs.push(out);
    await build({
      input: FIXTURE,
      platform: 'node',
      external: ['webgpu', 'undici'],
      logLevel: 'silent',
      output: { file: join(out, 'bundle.mjs'), format: 'esm' },
    });
    const { code, stderr, report } = await node([join(out, 'bundle.mjs')]);
    expect(code, stderr).toBe(0);
    expect(report).toMatchObject({ threads: 1, same: true, n: 60 });
    expect(report!.reason).toMatch(
      new RegExp(
        `^2 asked for, but the worker threads did not start: .*worker script ${out}/cpu-worker\\.js is missing`,
      ),
    );
    expect(report!.reason).toMatch(/--packages=external/);
    // One warning line, naming the same problem; no stack, no raw Node error.
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^webgpu-maxsim: the CPU worker threads did not start.*cpu-worker\.js is missing/);
  });
});
