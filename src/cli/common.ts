// Shared pieces of the CLI commands: the command shape, error reporting and the options several commands take.
import { InvalidArgumentError, MaxsimError } from '../core/errors.js';
import type { Scale } from '../core/reference.js';
import type { BackendChoice } from '../core/scorer.js';

/** A CLI command: `run` gets the arguments after the command name and returns the exit code. */
export interface CliCommand {
  run(args: string[]): Promise<number>;
}

/** Prints an error the way every command does: the message (and its cause) on stderr, no stack for our errors. */
export function reportError(err: unknown): number {
  if (err instanceof MaxsimError) {
    process.stderr.write(`webgpu-maxsim: ${err.message}\n`);
    return 1;
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`webgpu-maxsim: ${(err as Error).message} (see --help)\n`);
    return 2;
  }
  process.stderr.write(`webgpu-maxsim: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}

/** Parses an integer option, with an error that names the option, the value and the bound. */
export function intOption(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new InvalidArgumentError(`${name} is ${JSON.stringify(value)}, expected an integer >= ${min}`);
  }
  return n;
}

/** `--scale`: `sum` or `mean`. */
export function scaleOption(value: string | undefined): Scale {
  if (value !== 'sum' && value !== 'mean') {
    throw new InvalidArgumentError(`--scale is ${JSON.stringify(value)}, expected sum or mean`);
  }
  return value;
}

/** `--backend`: `auto`, `cpu` or `webgpu`. */
export function backendOption(value: string | undefined): BackendChoice {
  if (value !== 'auto' && value !== 'cpu' && value !== 'webgpu') {
    throw new InvalidArgumentError(`--backend is ${JSON.stringify(value)}, expected auto, cpu or webgpu`);
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
