// `webgpu-maxsim embed` and `rerank` as users run them: the built dist/cli.js in a child process, against the
// local /pooling stand-in on port 0. `npm test` builds first, so dist/ is current here.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_DOCUMENTS } from '../../src/embed/sample-corpus.js';
import { maxsimReference } from '../../src/core/reference.js';
import { createHashEmbedder } from '../../src/embed/hash-embedder.js';
import { startPoolingServer, type PoolingServer } from '../../src/testing/pooling-server/index.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const PEAK_RSS = fileURLToPath(new URL('../support/peak-rss.mjs', import.meta.url));
const SEED = [
  'Hello, my name is',
  'The president of the United States is',
  'The capital of France is',
  'The future of AI is',
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(
  args: string[],
  env: Record<string, string> = {},
  timeout = 30_000,
  nodeArgs: string[] = [],
  stdin?: string,
): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [...nodeArgs, CLI, ...args],
      { timeout, env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

function serverArgs(server: PoolingServer): string[] {
  return ['--host', server.host, '--port', String(server.port)];
}

let server: PoolingServer;
let dir: string;

beforeAll(async () => {
  expect(existsSync(CLI), 'dist/cli.js is missing: run `npm run build` (npm test does it first)').toBe(true);
  server = await startPoolingServer({ port: 0, dim: 1024 });
  dir = await mkdtemp(join(tmpdir(), 'maxsim-cli-'));
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('webgpu-maxsim embed', () => {
  it('sends the seed prompts and prints exactly one shape line per input, then usage', async () => {
    server.clearRequests();
    const { code, stdout, stderr } = await cli(['embed', ...serverArgs(server)]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const rows = SEED.map((t) => server.embedder.encode(t).ids.length);
    const total = rows.reduce((a, b) => a + b, 0);
    expect(stdout).toBe(
      `${rows.map((r) => `Multi-vector shape: [${r}, 1024]`).join('\n')}\nUsage: prompt_tokens=${total} total_tokens=${total}\n`,
    );
    const pooling = server.requests.filter((r) => r.path === '/pooling').map((r) => r.body as Record<string, unknown>);
    expect(pooling.at(-1)).toMatchObject({ model: 'BAAI/bge-m3', input: SEED });
  });

  it('takes TEXT arguments, encodings and dtypes', async () => {
    const { code, stdout } = await cli([
      'embed',
      ...serverArgs(server),
      '--encoding',
      'bytes',
      '--embed-dtype',
      'float16',
      'one',
      'two words',
    ]);
    expect(code).toBe(0);
    expect(stdout.split('\n').slice(0, 2)).toEqual([
      `Multi-vector shape: [${server.embedder.encode('one').ids.length}, 1024]`,
      `Multi-vector shape: [${server.embedder.encode('two words').ids.length}, 1024]`,
    ]);
  });

  it('--local needs no server and prints the same shapes', async () => {
    const { code, stdout } = await cli(['embed', '--local']);
    expect(code).toBe(0);
    expect(stdout.split('\n').filter((l) => l.startsWith('Multi-vector shape: ['))).toHaveLength(4);
    expect(stdout).toMatch(/^Usage: prompt_tokens=\d+ total_tokens=\d+$/m);
  });

  it('an embed-task server (config A) fails with the fix on stderr and a non-zero exit', async () => {
    const a = await startPoolingServer({ dim: 8, config: 'A' });
    try {
      const { code, stdout, stderr } = await cli(['embed', ...serverArgs(a)]);
      expect(code).not.toBe(0);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/--pooler-config\.task token_embed/);
    } finally {
      await a.close();
    }
  });

  it("a server error reaches stderr with the server's own message; the API key never does", async () => {
    const { code, stderr } = await cli([
      'embed',
      ...serverArgs(server),
      '--model',
      'no-such-model',
      '--api-key',
      'k-secret-9',
    ]);
    expect(code).toBe(1);
    expect(stderr).toContain('404');
    expect(stderr).toContain('The model `no-such-model` does not exist.');
    expect(stderr).not.toContain('k-secret-9');
  });

  it('--help', async () => {
    const { code, stdout } = await cli(['embed', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/Usage: webgpu-maxsim embed/);
  });
});

describe('webgpu-maxsim rerank', () => {
  it('--json ranks the documents by MaxSim, best first, with the scores of the reference', async () => {
    const query = 'capital of France';
    const docs = ['Berlin is the capital of Germany.', 'Paris is the capital of France.', 'Cats sleep a lot.'];
    const { code, stdout, stderr } = await cli([
      'rerank',
      ...serverArgs(server),
      '--backend',
      'cpu',
      '--json',
      '--query',
      query,
      ...docs.flatMap((d) => ['--doc', d]),
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as { backend: string; results: { index: number; score: number }[] };
    expect(Object.keys(out)).toEqual(['backend', 'fallbackReason', 'results']);
    expect(out.backend).toBe('cpu');
    expect((out as { fallbackReason?: string }).fallbackReason).toBe("backend: 'cpu' was asked for");
    expect(out.results.map((r) => r.index)).toEqual([1, 0, 2]);
    const q = server.embedder.embedText(query);
    for (const r of out.results) {
      expect(r.score).toBeCloseTo(maxsimReference(q, server.embedder.embedText(docs[r.index]!), 'sum'), 4);
    }
  });

  it('--local with no query ranks the built-in sample meaningfully; --top-k and --scale mean apply', async () => {
    const { code, stdout } = await cli([
      'rerank',
      '--local',
      '--json',
      '--backend',
      'cpu',
      '--top-k',
      '3',
      '--scale',
      'mean',
    ]);
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as { results: { index: number; score: number }[] };
    expect(out.results).toHaveLength(3);
    // The photosynthesis and solar-panel documents share "turn sunlight into" with the sample query.
    expect(SAMPLE_DOCUMENTS[out.results[0]!.index]).toMatch(/Photosynthesis/);
    expect(SAMPLE_DOCUMENTS[out.results[1]!.index]).toMatch(/Solar panels/);
    expect(out.results[0]!.score).toBeLessThanOrEqual(1); // mean of cosine maxima
  });

  it('prints a ranked table with rank, index, score and the start of each text', async () => {
    const { code, stdout } = await cli(['rerank', '--local', '--backend', 'cpu']);
    expect(code).toBe(0);
    const table = stdout.split('\n').filter((l) => /^\s+\d+\s+\d+\s+-?\d+\.\d{4}\s+\S/.test(l));
    expect(table).toHaveLength(SAMPLE_DOCUMENTS.length);
    expect(table[0]).toMatch(/^\s+1\s+1\s+\d+\.\d{4}\s+Photosynthesis lets plants/);
    expect(stdout).toMatch(/rank\s+index\s+score\s+text/);
    expect(stdout).toMatch(/^Scored on cpu \(wasm-simd, \d+ threads?\); not WebGPU: backend: 'cpu' was asked for$/m);
  });

  it('reads documents from a file: plain lines or JSONL with "text"', async () => {
    const plain = join(dir, 'docs.txt');
    const jsonl = join(dir, 'docs.jsonl');
    await writeFile(plain, 'dogs bark loudly\n\nthe capital of France is Paris\n');
    await writeFile(jsonl, '{"text": "dogs bark loudly", "id": 1}\n{"text": "the capital of France is Paris"}\n');
    for (const file of [plain, jsonl]) {
      const { code, stdout } = await cli([
        'rerank',
        ...serverArgs(server),
        '--backend',
        'cpu',
        '--json',
        '--query',
        'France',
        '--docs-file',
        file,
      ]);
      expect(code).toBe(0);
      expect((JSON.parse(stdout) as { results: { index: number }[] }).results.map((r) => r.index)).toEqual([1, 0]);
    }
    await writeFile(jsonl, '{"text": "ok"}\n{"title": "no text"}\n');
    const bad = await cli(['rerank', '--local', '--query', 'q', '--docs-file', jsonl]);
    expect(bad.code).toBe(2); // a usage error: the file the option names
    expect(bad.stderr).toMatch(/line 2 has no string "text" field/);
  });

  it('a 3,000-document rerank through /pooling shows its progress on stderr; --quiet silences it', async () => {
    const file = join(dir, 'many.txt');
    const docs = Array.from(
      { length: 3000 },
      (_, i) => `document ${i} about ${i % 7 === 0 ? 'France' : 'other things'}`,
    );
    await writeFile(file, `${docs.join('\n')}\n`);
    const args = ['rerank', ...serverArgs(server), '--backend', 'cpu', '--json', '--top-k', '3', '--query', 'France'];
    const loud = await cli([...args, '--docs-file', file]);
    expect(loud.code, loud.stderr).toBe(0);
    expect((JSON.parse(loud.stdout) as { results: unknown[] }).results).toHaveLength(3);
    const lines = loud.stderr.trim().split('\n');
    // Not a terminal here: plain lines, a tenth of the work apart, ending at the whole.
    expect(lines[0]).toBe('embedding 0/3,001 texts 0%');
    expect(lines).toContain('embedding 3,001/3,001 texts 100%');
    // Documents are embedded and scored a chunk at a time (memory stays bounded), so embedding is the one step.
    expect(lines.at(-1)).toBe('embedding 3,001/3,001 texts 100%');
    expect(lines.filter((l) => /^embedding [\d,]+\/3,001 texts \d+%$/.test(l)).length).toBeGreaterThanOrEqual(5);
    expect(lines.every((l) => /^embedding [\d,]+\/3,001 texts \d+%$/.test(l))).toBe(true);

    const quiet = await cli([...args, '--docs-file', file, '--quiet']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toBe(loud.stdout);
  }, 120_000);

  it('streams a 130,000-line docs file: ranked, with the scores of the reference, never a crash', async () => {
    const file = join(dir, 'many.txt');
    const words = ['river', 'capital', 'energy', 'protein', 'orbit', 'market', 'poem', 'glacier'];
    const lines = Array.from({ length: 130_000 }, (_, i) => `${words[i % 8]} ${words[(i * 7) % 8]} number ${i}`);
    lines[77_777] = 'the capital of France is Paris';
    await writeFile(file, `${lines.join('\n')}\n`);
    const { code, stdout, stderr } = await cli(
      [
        'rerank',
        '--local',
        '--dim',
        '16',
        '--backend',
        'cpu',
        '--json',
        '--top-k',
        '3',
        '--query',
        'capital of France Paris',
        '--docs-file',
        file,
        '--quiet',
      ],
      {},
      120_000,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as { results: { index: number; score: number }[] };
    expect(out.results).toHaveLength(3);
    expect(out.results[0]!.index).toBe(77_777);
    const hash = createHashEmbedder({ dim: 16 });
    const q = hash.embedText('capital of France Paris');
    for (const r of out.results) expect(r.score).toBeCloseTo(maxsimReference(q, hash.embedText(lines[r.index]!)), 4);
  }, 150_000);

  it('a 2,000-line file at the default --local dim 1024 stays far below a gigabyte (it went past 5 GB)', async () => {
    const file = join(dir, 'two-thousand.txt');
    const lines = Array.from({ length: 2000 }, (_, i) => `document ${i} about ${'rivers and mountains '.repeat(8)}`);
    await writeFile(file, lines.join('\n'));
    const rssFile = join(dir, 'peak-rss');
    const { code, stdout } = await cli(
      ['rerank', '--local', '--backend', 'cpu', '--json', '--top-k', '1', '--query', 'rivers', '--docs-file', file],
      { PEAK_RSS_FILE: rssFile },
      120_000,
      ['--import', PEAK_RSS],
    );
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as { results: unknown[] }).results).toHaveLength(1);
    const peakMb = Number(await readFile(rssFile, 'utf8'));
    console.log(`rerank --local (dim 1024), 2,000 documents: peak RSS ${peakMb.toFixed(0)} MB`);
    expect(peakMb).toBeLessThan(1024);
  }, 150_000);

  it('refuses binary input and an over-long document with one line naming the problem', async () => {
    const binary = join(dir, 'blob.bin');
    await writeFile(binary, Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 131 + 7) % 256)));
    const bin = await cli(['rerank', '--local', '--query', 'q', '--docs-file', binary]);
    expect(bin.code).toBe(2);
    expect(bin.stdout).toBe('');
    expect(bin.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(bin.stderr).toMatch(/(NUL bytes|not UTF-8 text).*not binary data/);
    const latin1 = join(dir, 'latin1.txt');
    await writeFile(latin1, Buffer.from('caf\xe9 au lait\n', 'latin1'));
    const notUtf8 = await cli(['rerank', '--local', '--query', 'q', '--docs-file', latin1]);
    expect(notUtf8.code).toBe(2);
    expect(notUtf8.stderr).toMatch(/not UTF-8 text/);
    const long = join(dir, 'long.txt');
    await writeFile(long, `short\n${'word '.repeat(10_000)}\n`);
    const tooLong = await cli(['rerank', '--local', '--query', 'q', '--docs-file', long]);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(tooLong.stderr).toMatch(/line 2 has 50,000 characters; the limit is 32,768 \(--max-doc-chars\)/);
    const many = await cli([
      'rerank',
      '--local',
      '--query',
      'q',
      '--docs-file',
      long,
      '--max-doc-chars',
      '60000',
      '--max-docs',
      '1',
    ]);
    expect(many.code).toBe(2);
    expect(many.stderr).toMatch(/more than 1 documents? \(--max-docs\)/);
  });

  it('--docs-file - reads the documents from stdin', async () => {
    const { code, stdout } = await cli(
      ['rerank', '--local', '--backend', 'cpu', '--json', '--query', 'France', '--docs-file', '-'],
      {},
      30_000,
      [],
      'dogs bark loudly\nthe capital of France is Paris\n',
    );
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as { results: { index: number }[] }).results.map((r) => r.index)).toEqual([1, 0]);
  });

  it('refuses a query without documents, and bad options, on stderr', async () => {
    const noDocs = await cli(['rerank', '--local', '--query', 'q']);
    expect(noDocs.code).toBe(2);
    expect(noDocs.stderr).toMatch(/no documents/);
    const badScale = await cli(['rerank', '--local', '--scale', 'max']);
    expect(badScale.code).toBe(2);
    expect(badScale.stderr).toMatch(/--scale is "max"/);
    const help = await cli(['rerank', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--docs-file FILE/);
  });
});
