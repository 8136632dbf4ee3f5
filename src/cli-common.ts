// Shared pieces of the CLI commands (cli-*.ts): the command shape and error reporting.
import { MaxsimError } from './errors.js';

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
