// User errors as the CLI reports them: one line on stderr naming the problem and the fix, exit code 2 for usage
// errors (options, values, the files they name) and 1 for failures at run time; "did you mean" for typos;
// `--docs-file -` reads standard input.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCliError, nearest, reportError, UsageError } from '../../src/cli/common.js';
import { PoolingConnectionError } from '../../src/pooling/errors.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

function cli(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}

/** Exactly one line on stderr, no stack frame, and the exit code. */
function expectOneLine(run: { code: number; stderr: string }, code: number, pattern: RegExp): void {
  expect(run.stderr.endsWith('\n'), run.stderr).toBe(true);
  expect(run.stderr.trimEnd().split('\n'), run.stderr).toHaveLength(1);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(run.stderr).toMatch(/^webgpu-maxsim: /);
  expect(run.stderr).toMatch(pattern);
  expect(run.code, run.stderr).toBe(code);
}

let dir: string;
let held: Server;
let heldPort: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'maxsim-cli-errors-'));
  held = createServer();
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
  heldPort = (held.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => held.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('CLI user errors', () => {
  const rerank = ['rerank', '--local', '--backend', 'cpu', '--query', 'q', '--docs-file'];

  it('--docs-file: missing, a directory, a device, binary data, empty: usage errors naming the path and the fix', async () => {
    const binary = join(dir, 'binary.bin');
    await writeFile(binary, Buffer.from([104, 105, 10, 0, 1, 2, 10]));
    const empty = join(dir, 'empty.txt');
    await writeFile(empty, '\n  \n');
    const cases: [string, RegExp][] = [
      [join(dir, 'nope.jsonl'), /--docs-file .*nope\.jsonl: no such file .*pass - to read standard input/],
      [dir, /--docs-file .* is a directory: pass a file with one document per line/],
      ['/dev/zero', /--docs-file \/dev\/zero is a device, not a file: pass a text file, or - to read standard input/],
      [binary, /line 2 holds NUL bytes; pass a text file \(UTF-8\), not binary data/],
      [empty, /has no documents: put one per line/],
    ];
    for (const [path, pattern] of cases) expectOneLine(await cli([...rerank, path]), 2, pattern);
  });

  it('--docs-file - reads the documents from standard input', async () => {
    const run = await cli([...rerank, '-', '--json'], 'dogs bark loudly\nthe capital of France is Paris\n');
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { results: { index: number }[] };
    expect(out.results).toHaveLength(2);
    const jsonl = await cli(
      ['rerank', '--local', '--backend', 'cpu', '--json', '--query', 'France', '--docs-file', '-'],
      '{"text": "dogs bark loudly"}\n{"text": "the capital of France is Paris"}\n',
    );
    expect((JSON.parse(jsonl.stdout) as { results: { index: number }[] }).results.map((r) => r.index)).toEqual([1, 0]);
    expectOneLine(await cli([...rerank, '-'], ''), 2, /--docs-file - \(standard input\) has no documents/);
  });

  it('mistyped options and commands get "did you mean"; missing values and stray arguments are named', async () => {
    expectOneLine(
      await cli(['rerank', '--local', '--qeury', 'x']),
      2,
      /unknown option --qeury; did you mean --query\? \(webgpu-maxsim rerank --help lists every option\)/,
    );
    expectOneLine(await cli(['rerank', '--local', '--topk', '3']), 2, /did you mean --top-k\?/);
    expectOneLine(await cli(['serve', '--prot', '8080']), 2, /unknown option --prot; did you mean --port\?/);
    expectOneLine(await cli(['embed', '--local', '--xyzzy']), 2, /^webgpu-maxsim: unknown option --xyzzy \(webgpu/);
    expectOneLine(await cli(['rerank', '--local', '--query']), 2, /--query needs a value, e.g\. --query VALUE/);
    expectOneLine(await cli(['rerank', '--local', '--json=yes']), 2, /--json takes no value/);
    expectOneLine(
      await cli(['serve-pooling', 'extra']),
      2,
      /unexpected argument "extra": serve-pooling takes only options/,
    );
    expectOneLine(await cli(['rerannk']), 2, /unknown command 'rerannk'; did you mean 'rerank'\?/);
  });

  it('bad values are usage errors (2); the port range is checked before anything starts', async () => {
    expectOneLine(await cli(['serve', '--port', '99999']), 2, /--port is "99999", expected a port from 0 to 65535/);
    expectOneLine(await cli(['serve-pooling', '--port=-1']), 2, /--port is "-1", expected a port from 0 to 65535/);
    expectOneLine(
      await cli(['serve-pooling', '--port', '-1']),
      2,
      /--port needs a value; for one that starts with a dash, write --port=VALUE/,
    );
    expectOneLine(await cli(['rerank', '--local', '--scale', 'max']), 2, /--scale is "max", expected sum or mean/);
    expectOneLine(await cli(['rerank', '--local', '--query', 'q']), 2, /no documents: pass --doc TEXT/);
  });

  it('a port in use and an unreachable server are runtime failures (1), one line each', async () => {
    expectOneLine(
      await cli(['serve-pooling', '--port', String(heldPort)]),
      1,
      new RegExp(
        `port ${heldPort} on 127\\.0\\.0\\.1 is already in use: stop what listens there, or pick another --port`,
      ),
    );
    expectOneLine(
      await cli(['serve', '--local', '--backend', 'cpu', '--port', String(heldPort)]),
      1,
      /is already in use/,
    );
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    expectOneLine(await cli(['embed', '--port', String(port), '--retries', '0']), 1, /127\.0\.0\.1|localhost/);
  });
});

describe('describeCliError', () => {
  it('maps errors to a message and an exit code', () => {
    expect(describeCliError(new UsageError('--x is bad'))).toEqual({ message: '--x is bad', exitCode: 2 });
    expect(
      describeCliError(new PoolingConnectionError('http://x/pooling', 1, new Error('ECONNREFUSED'))).exitCode,
    ).toBe(1);
    const listen = Object.assign(new Error('listen EACCES'), { code: 'EACCES', port: 80, address: '0.0.0.0' });
    expect(describeCliError(listen)).toEqual({
      message: 'port 80 on 0.0.0.0 needs privileges this process lacks: pick a --port above 1023 (0 picks a free one)',
      exitCode: 1,
    });
    const missing = Object.assign(new Error("ENOENT: no such file or directory, open 'r.json'"), {
      code: 'ENOENT',
      path: 'r.json',
    });
    expect(describeCliError(missing)).toEqual({
      message: 'r.json: no such file or directory; check the path given to the command',
      exitCode: 2,
    });
    const bug = describeCliError(new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect(bug.exitCode).toBe(1);
    expect(bug.message).toMatch(
      /^unexpected error: Cannot read .*This is a bug; WEBGPU_MAXSIM_DEBUG=1 prints the stack/,
    );
  });

  it('prints one line even for a multi-line message, and the stack only with WEBGPU_MAXSIM_DEBUG=1', () => {
    const lines: string[] = [];
    const code = reportError(new UsageError('first line\n  second line'), { write: (t: string) => lines.push(t) });
    expect(code).toBe(2);
    expect(lines).toEqual(['webgpu-maxsim: first line second line\n']);
    const before = process.env.WEBGPU_MAXSIM_DEBUG;
    process.env.WEBGPU_MAXSIM_DEBUG = '1';
    try {
      lines.length = 0;
      reportError(new Error('boom'), { write: (t: string) => lines.push(t) });
      expect(lines).toHaveLength(2);
      expect(lines[1]).toMatch(/^Error: boom\n\s+at /);
    } finally {
      if (before === undefined) delete process.env.WEBGPU_MAXSIM_DEBUG;
      else process.env.WEBGPU_MAXSIM_DEBUG = before;
    }
  });

  it('nearest: typos within two edits (a swap is one), or a prefix; nothing for unrelated words', () => {
    const options = ['--query', '--doc', '--docs-file', '--top-k', '--json', '--port'];
    expect(nearest('--qeury', options)).toBe('--query');
    expect(nearest('--docs', options)).toBe('--docs-file');
    expect(nearest('--jsno', options)).toBe('--json');
    expect(nearest('--xyzzy', options)).toBeUndefined();
  });
});
