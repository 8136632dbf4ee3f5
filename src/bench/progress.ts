// Progress of a benchmark run on stderr: a redrawn bar on a terminal, one plain line per step otherwise (logs,
// CI, pipes), so results on stdout and files stay clean. Node-only (writes to a stream).

/** What the harness reports as it goes. */
export interface Progress {
  /** How many steps the run has, once it is known. */
  setTotal(total: number): void;
  /** A step (one workload on one backend) begins. */
  start(label: string): void;
  /** The step that began last is over; `summary` is one short line (p50, rate) or why it was skipped. */
  done(summary: string): void;
  /** A line to keep (a shrunk workload, a skipped backend), printed above the bar. */
  note(text: string): void;
  /** Clears the bar; later writes start on a clean line. */
  finish(): void;
}

/** A writable the progress draws on: `process.stderr` or a test's collector. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Options for {@link createProgress}. */
export interface ProgressOptions {
  /** Draw the bar even when the stream is not a terminal (`--progress`). */
  readonly force?: boolean;
  /** Milliseconds clock, for tests. */
  readonly now?: () => number;
}

/**
 * Progress over `total` steps on `stream`: a bar when it is a terminal (or `force`), plain lines otherwise.
 *
 * @example
 * const progress = createProgress(12, process.stderr);
 * progress.start('W1 cpu-wasm-simd-2t f32'); progress.done('p50 61.2 ms, 40.2 GFLOP/s'); progress.finish();
 */
export function createProgress(total: number, stream: ProgressStream, options: ProgressOptions = {}): Progress {
  const bar = options.force === true || stream.isTTY === true;
  const now = options.now ?? (() => performance.now());
  const began = now();
  let finished = 0;
  let current = '';
  let drawn = false;

  const elapsed = (): string => {
    const s = Math.round((now() - began) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };
  const clear = (): void => {
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  const draw = (): void => {
    const width = 24;
    const filled = total === 0 ? width : Math.round((finished / total) * width);
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${finished}/${total} ${elapsed()}  ${current}`;
    const columns = stream.columns ?? 100;
    clear();
    stream.write(line.length > columns - 1 ? `${line.slice(0, columns - 2)}…` : line);
    drawn = true;
  };

  return {
    setTotal: (n) => {
      total = n;
    },
    start: (label) => {
      current = label;
      if (bar) draw();
      else stream.write(`[${finished + 1}/${total}] ${label} ...\n`);
    },
    done: (summary) => {
      finished++;
      if (bar) {
        clear();
        stream.write(`  ${current}: ${summary}\n`);
        current = '';
        draw();
      } else {
        stream.write(`[${finished}/${total}] ${current}: ${summary}\n`);
      }
    },
    note: (text) => {
      if (bar) {
        clear();
        stream.write(`  note: ${text}\n`);
        draw();
      } else {
        stream.write(`note: ${text}\n`);
      }
    },
    finish: () => {
      if (bar) clear();
    },
  };
}
