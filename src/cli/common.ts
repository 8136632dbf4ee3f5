// Shared pieces of the CLI commands: the command shape, error reporting, argument parsing, reading input files,
// progress, and the options several commands take.
import { createReadStream, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { isatty } from 'node:tty';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidArgumentError, MaxsimError } from '../core/errors.js';
import type { Scale } from '../core/reference.js';
import type { BackendChoice, ScorerInfo } from '../core/scorer.js';

/** A CLI command: `run` gets the arguments after the command name and returns the exit code. */
export interface CliCommand {
  run(args: string[]): Promise<number>;
}

/**
 * A problem with how the command was invoked (an option, its value, a file it names): exit code 2. Library
 * argument errors (`E_INVALID_ARGUMENT`) count as usage errors too, since in the CLI they come from options.
 */
export class UsageError extends InvalidArgumentError {}

/**
 * Prints an error the way every command does, as one line on stderr that names the problem and the fix, and
 * returns the exit code: 2 for usage errors (options, their values, the files they name), 1 for failures at run
 * time (a server, the GPU, a port in use). No stack traces, except for bugs with WEBGPU_MAXSIM_DEBUG=1.
 */
export function reportError(err: unknown, stderr: { write(text: string): unknown } = process.stderr): number {
  const { message, exitCode } = describeCliError(err);
  stderr.write(`webgpu-maxsim: ${message.replace(/\s*\n\s*/g, ' ').trim()}\n`);
  if (exitCode === 1 && process.env.WEBGPU_MAXSIM_DEBUG === '1' && err instanceof Error && err.stack) {
    stderr.write(`${err.stack}\n`);
  }
  return exitCode;
}

/** The one-line message and exit code of an error escaping a command. */
export function describeCliError(err: unknown): { message: string; exitCode: 1 | 2 } {
  if (err instanceof InvalidArgumentError) return { message: err.message, exitCode: 2 };
  if (err instanceof MaxsimError) return { message: err.message, exitCode: 1 };
  const e = (err ?? {}) as { code?: unknown; message?: unknown; port?: unknown; address?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const text = typeof e.message === 'string' ? e.message : String(err);
  if (code.startsWith('ERR_PARSE_ARGS')) return { message: `${text} (see --help)`, exitCode: 2 };
  const where =
    typeof e.port === 'number' ? `port ${e.port}${typeof e.address === 'string' ? ` on ${e.address}` : ''}` : '';
  switch (code) {
    case 'EADDRINUSE':
      return {
        message: `${where || 'the port'} is already in use: stop what listens there, or pick another --port (0 picks a free one)`,
        exitCode: 1,
      };
    case 'EACCES':
      if (where !== '') {
        return {
          message: `${where} needs privileges this process lacks: pick a --port above 1023 (0 picks a free one)`,
          exitCode: 1,
        };
      }
      break;
    case 'EADDRNOTAVAIL':
      return { message: `${where || 'that address'}: --host is not an address of this machine`, exitCode: 1 };
    case 'ERR_SOCKET_BAD_PORT':
      return { message: '--port must be an integer from 0 to 65535 (0 picks a free one)', exitCode: 2 };
  }
  // A file an option names (bench --from-json, --json): say which, and what is wrong with it.
  const path = (err as { path?: unknown } | null)?.path;
  const fileProblems: Record<string, string> = {
    ENOENT: 'no such file or directory',
    ENOTDIR: 'a part of the path is not a directory',
    EISDIR: 'is a directory, not a file',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
  };
  if (typeof path === 'string' && fileProblems[code] !== undefined) {
    return { message: `${path}: ${fileProblems[code]}; check the path given to the command`, exitCode: 2 };
  }
  return {
    message:
      `unexpected error: ${text}${code === '' ? '' : ` (${code})`}. ` +
      'This is a bug; WEBGPU_MAXSIM_DEBUG=1 prints the stack trace to report with it',
    exitCode: 1,
  };
}

/**
 * `util.parseArgs` (strict) with the CLI's messages: an unknown option names the nearest known one ("did you
 * mean --query?") and the command's --help; a missing value names the option.
 *
 * @example
 * const { values } = parseCliArgs('rerank', { args, options: { query: { type: 'string' } } });
 */
export function parseCliArgs<const T extends ParseArgsConfig>(
  command: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config); // strict unless the config says otherwise: unknown options are errors
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const message = (err as Error).message ?? '';
    const help = `webgpu-maxsim ${command} --help lists every option`;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const given = /option '([^']+)'/i.exec(message)?.[1] ?? '';
      const known = Object.entries(config.options ?? {}).flatMap(([name, o]) => [
        `--${name}`,
        ...(o.short === undefined ? [] : [`-${o.short}`]),
      ]);
      const guess = nearest(given.split('=')[0]!, known);
      throw new UsageError(`unknown option ${given}${guess === undefined ? '' : `; did you mean ${guess}?`} (${help})`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const name = /option '(-[^ ']+)/i.exec(message)?.[1];
      let problem = message;
      if (name !== undefined && /argument missing/.test(message)) problem = `${name} needs a value, e.g. ${name} VALUE`;
      else if (name !== undefined && /ambiguous/.test(message)) {
        problem = `${name} needs a value; for one that starts with a dash, write ${name}=VALUE`;
      } else if (name !== undefined && /does not take an argument/.test(message)) problem = `${name} takes no value`;
      throw new UsageError(`${problem} (${help})`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /argument '([^']*)'/i.exec(message)?.[1] ?? '';
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}: ${command} takes only options (${help})`);
    }
    throw err;
  }
}

/** The candidate closest to `word` (edit distance at most 2, or a prefix of it), for "did you mean". */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 3 ? 0.5 : editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.min(2, Math.max(1, Math.floor(word.length / 3))) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  // Damerau-Levenshtein (optimal string alignment): a swap of two letters, the commonest typo, costs 1.
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
      }
    }
  }
  return d[a.length]![b.length]!;
}

/** `--port`: an integer from 0 (any free port) to 65535. */
export function portOption(name: string, value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || port > 65535) {
    throw new UsageError(`${name} is ${JSON.stringify(value)}, expected a port from 0 to 65535 (0 picks a free one)`);
  }
  return port;
}

/** Largest line `readLines` accepts: far beyond any document, small enough to stop reading endless data. */
const MAX_LINE_CHARS = 64 * 2 ** 20;

/**
 * The lines of a text file named by an option, or of standard input for `-`, read as a stream. Problems a person
 * can fix are usage errors that name the option, the path and the fix: a missing file, a directory, a device that
 * is not a terminal (`/dev/zero` would never end), unreadable, binary data (NUL bytes or bytes that are not UTF-8),
 * a line over `maxLineChars` (default 64 Mi characters).
 *
 * @example
 * for await (const line of readLines('--docs-file', path)) docs.push(line);
 */
export async function* readLines(
  option: string,
  path: string,
  options: { maxLineChars?: number } = {},
): AsyncGenerator<string> {
  const maxLineChars = options.maxLineChars ?? MAX_LINE_CHARS;
  const label = path === '-' ? `${option} - (standard input)` : `${option} ${path}`;
  let input: NodeJS.ReadableStream;
  if (path === '-') {
    input = process.stdin;
  } else {
    let info: Stats;
    try {
      info = await stat(path);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new UsageError(
          `${label}: no such file (relative paths start at ${process.cwd()}); pass - to read standard input`,
        );
      }
      if (code === 'EACCES') throw new UsageError(`${label}: permission denied; check the file's permissions`);
      throw err;
    }
    if (info.isDirectory()) {
      throw new UsageError(`${label} is a directory: pass a file with one document per line (or JSONL)`);
    }
    if (info.isCharacterDevice() || info.isBlockDevice() || info.isSocket()) {
      if (!(info.isCharacterDevice() && (await isTerminal(path)))) {
        throw new UsageError(`${label} is a device, not a file: pass a text file, or - to read standard input`);
      }
    }
    input = createReadStream(path);
  }
  // Fatal: bytes that are not UTF-8 mean binary data (or another encoding), not documents.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const decode = (chunk?: Uint8Array): string => {
    try {
      return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
    } catch {
      throw new UsageError(
        `${label}: line ${lineNumber + 1} is not UTF-8 text; pass a text file (convert it with e.g. iconv -t utf-8), not binary data`,
      );
    }
  };
  let pending = '';
  let lineNumber = 0;
  try {
    for await (const chunk of input as AsyncIterable<Uint8Array>) {
      pending += decode(chunk);
      let start = 0;
      for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n', start)) {
        lineNumber++;
        yield checkLine(pending.slice(start, nl).replace(/\r$/, ''));
        start = nl + 1;
      }
      pending = pending.slice(start);
      if (pending.length > maxLineChars) {
        throw new UsageError(
          `${label}: line ${lineNumber + 1} is longer than ${maxLineChars.toLocaleString('en-US')} characters; is it a text file with one document per line?`,
        );
      }
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'EISDIR') throw new UsageError(`${label} is a directory: pass a file with one document per line`);
    if (code === 'EACCES') throw new UsageError(`${label}: permission denied; check the file's permissions`);
    throw err;
  }
  pending += decode();
  if (pending !== '') yield checkLine(pending.replace(/\r$/, ''));

  function checkLine(line: string): string {
    if (line.includes('\0')) {
      throw new UsageError(`${label}: line ${lineNumber} holds NUL bytes; pass a text file (UTF-8), not binary data`);
    }
    return line;
  }
}

/** Whether a character device is a terminal (a person typing documents), by opening it and asking. */
async function isTerminal(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    return isatty(handle.fd);
  } finally {
    await handle.close();
  }
}

/**
 * What scores, and why not WebGPU when the CPU does (`info.fallbackReason`: no adapter, a software adapter, a lost
 * device, the CPU asked for), plus why fewer threads run than were asked for: for the CLI's output.
 *
 * @example
 * describeBackend(scorer.info); // "cpu (wasm-simd, 2 threads); not WebGPU: the only WebGPU adapter is a software one (...)"
 */
export function describeBackend(info: ScorerInfo): string {
  return `${info.summary}${info.fallbackReason === undefined ? '' : `; not WebGPU: ${info.fallbackReason}`}`;
}

/** Parses an integer option, with an error that names the option, the value and the bound. */
export function intOption(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${name} is ${JSON.stringify(value)}, expected an integer >= ${min}`);
  }
  return n;
}

/** `--scale`: `sum` or `mean`. */
export function scaleOption(value: string | undefined): Scale {
  if (value !== 'sum' && value !== 'mean') {
    throw new UsageError(`--scale is ${JSON.stringify(value)}, expected sum or mean`);
  }
  return value;
}

/** `--backend`: `auto`, `cpu` or `webgpu`. */
export function backendOption(value: string | undefined): BackendChoice {
  if (value !== 'auto' && value !== 'cpu' && value !== 'webgpu') {
    throw new UsageError(`--backend is ${JSON.stringify(value)}, expected auto, cpu or webgpu`);
  }
  return value;
}

/** Resolves on the first SIGINT (Ctrl-C) or SIGTERM, so a serving command can close its server and exit 0. */
export function stopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Where CLI progress draws: `process.stderr`, or a test's collector. */
export interface ProgressOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Options for {@link cliProgress}. */
export interface CliProgressOptions {
  /** What is counted, plural (`documents`), unless an update names it. */
  readonly noun: string;
  /** `--quiet`: draw nothing. */
  readonly quiet?: boolean;
  /** Default `process.stderr`. */
  readonly output?: ProgressOutput;
  /** Milliseconds clock, for tests. */
  readonly now?: () => number;
}

/** Progress of one long step of a command (embedding, uploading, indexing), on stderr. */
export interface CliProgress {
  /** `done` of `total` items finished; `label` says which step (`embedding`, `uploading`), `noun` what is counted. */
  update(label: string, done: number, total: number, noun?: string): void;
  /** The work is over (or failed): clear the bar; a final line if anything was shown. */
  finish(): void;
}

/** Work this large shows progress from the start; smaller work only once it has taken {@link QUIET_MS}. */
const SHOW_FROM_ITEMS = 1000;
const QUIET_MS = 1000;
/** Plain (non-terminal) output: a line per tenth of the work, or after this long without one. */
const PLAIN_EVERY_MS = 5000;

/**
 * Progress on stderr for the CLI's long steps: on a terminal a bar redrawn in place (`embedding
 * [#####-----] 1,024/5,000 documents 20%`), otherwise (logs, CI, pipes) plain lines at each tenth of the work, and
 * nothing with `--quiet`. Small work stays silent unless it turns out slow, so quick commands print only results.
 * stdout is never touched: results stay clean for pipes.
 *
 * @example
 * const progress = cliProgress({ noun: 'documents', quiet: values.quiet });
 * await client.embed(texts, { onProgress: (p) => progress.update('embedding', p.completed, p.total) });
 * progress.finish();
 */
export function cliProgress(options: CliProgressOptions): CliProgress {
  const output = options.output ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const bar = output.isTTY === true;
  const began = now();
  let shown = false;
  let drawn = false;
  let lastDraw = -Infinity;
  let lastTenth = -1;
  let last: { label: string; done: number; total: number } | undefined;

  const counts = (done: number, total: number, noun: string): string =>
    `${count(done)}/${count(total)} ${noun} ${total === 0 ? 100 : Math.floor((done / total) * 100)}%`;
  const draw = (label: string, done: number, total: number, noun: string): void => {
    const width = 24;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const line = `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${counts(done, total, noun)}`;
    const columns = output.columns ?? 80;
    output.write(`\r\x1b[2K${line.length > columns - 1 ? line.slice(0, columns - 1) : line}`);
    drawn = true;
  };

  return {
    update(label, done, total, noun = options.noun) {
      if (options.quiet === true) return;
      const t = now();
      const changed = last?.label !== label;
      last = { label, done, total };
      if (!shown && total < SHOW_FROM_ITEMS && t - began < QUIET_MS) return;
      shown = true;
      if (bar) {
        if (changed || done === total || t - lastDraw >= 100) {
          if (changed && drawn) output.write('\n');
          draw(label, done, total, noun);
          lastDraw = t;
        }
        return;
      }
      const tenth = total === 0 ? 10 : Math.floor((done / total) * 10);
      if (changed) lastTenth = -1;
      if (tenth > lastTenth || t - lastDraw >= PLAIN_EVERY_MS) {
        output.write(`${label} ${counts(done, total, noun)}\n`);
        lastTenth = tenth;
        lastDraw = t;
      }
    },
    finish() {
      if (bar && drawn) output.write('\n');
      drawn = false;
    },
  };
}

/** `1,024`: counts with thousands separators, whatever the locale. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}
