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
