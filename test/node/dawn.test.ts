// Dawn for backend: 'auto' in Node: asked about its adapter in a child process, so on a machine whose only adapter
// is a software one (lavapipe here) the process never opens Dawn and Dawn's warnings never reach the user's stderr.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dawnAutoVeto, probeDawnAdapter } from '../../src/node/dawn.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

function node(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

describe('Dawn, probed before it is opened', () => {
  it("finds this machine's software adapter from a child process, and 'auto' declines it with the reason", async () => {
    const found = await probeDawnAdapter();
    expect(found.kind).toBe('adapter');
    expect(found.kind === 'adapter' && found.adapter.isFallbackAdapter).toBe(true);
    expect(await dawnAutoVeto()).toMatch(/^the only WebGPU adapter is a software one \(.+\); the CPU path is faster/);
    expect(probeDawnAdapter()).toBe(probeDawnAdapter()); // once per process
  });

  it("'auto' in a Node process prints nothing of Dawn's, and says why it scores on the CPU", async () => {
    const script = [
      "const { createScorer } = await import('webgpu-maxsim');",
      'const s = await createScorer();',
      'console.log(JSON.stringify({ backend: s.backend, reason: s.info.fallbackReason }));',
      's.destroy();',
    ].join('\n');
    const run = await node(['--input-type=module', '-e', script]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      backend: 'cpu',
      reason: expect.stringMatching(/^the only WebGPU adapter is a software one/),
    });
  });

  it('rerank --local keeps Dawn\'s "artificially reduced" warnings from stderr', async () => {
    const run = await node([CLI, 'rerank', '--local', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/artificially reduced|Warning:/);
    expect(JSON.parse(run.stdout)).toMatchObject({
      backend: 'cpu',
      fallbackReason: expect.stringMatching(/^the only WebGPU adapter is a software one/),
    });
    // The table says it too, on the line that names the backend.
    const table = await node([CLI, 'rerank', '--local']);
    expect(table.stdout).toMatch(
      /^Scored on cpu \(wasm-simd, .*\); not WebGPU: the only WebGPU adapter is a software one/m,
    );
  });
});
