// The universal core outside Node: the built dist/ runs in Deno (npm package `deno`) with no Node APIs.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createHashEmbedder, createRerankHandler, createScorer, hashTextEmbedder } from '../src/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

describe('Deno', () => {
  it('runs the rerank handler on the core and ranks like Node does', async () => {
    const denoBin = join(dirname(createRequire(import.meta.url).resolve('deno/package.json')), 'bin.cjs');
    const { stdout } = await run(
      process.execPath,
      [
        denoBin,
        'run',
        '--no-prompt',
        `--allow-read=${root}`,
        '--no-config',
        join(root, 'test/runtimes/deno-smoke.mjs'),
      ],
      { cwd: root, env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' }, timeout: 60_000 },
    );
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(report.runtime).toMatch(/^deno 2\./);
    expect(report.status).toBe(200);
    expect(report.backend).toBe('cpu');

    const scorer = await createScorer({ backend: 'cpu' });
    const handler = createRerankHandler({ scorer, embedder: hashTextEmbedder(createHashEmbedder({ dim: 32 })) });
    const node = await (
      await handler(
        new Request('http://x/v1/rerank', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            query: 'capital of France',
            documents: ['Berlin is the capital of Germany.', 'Paris is the capital of France.', 'Bananas are yellow.'],
          }),
        }),
      )
    ).json();
    scorer.destroy();
    expect(report.results.map((r: { index: number }) => r.index)).toEqual([1, 0, 2]);
    expect(report.results).toEqual(node.results);
  });
});
