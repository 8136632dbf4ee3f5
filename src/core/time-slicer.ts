// Cooperative time slicing for long synchronous work (embedding, decoding) in servers: work in small steps,
// and after a few milliseconds yield to the event loop so other requests, health checks and I/O get their turn.
// Universal: setImmediate where the runtime has it (Node, Bun: no 1 ms timer clamp), setTimeout(0) elsewhere.
import { AbortedError } from './errors.js';

/** Longest stretch of synchronous work before yielding to the event loop. */
export const SLICE_MS = 5;

type Immediate = (callback: () => void) => unknown;
const setImmediateIfAny = (globalThis as { setImmediate?: Immediate }).setImmediate;

/** Lets other work run (a server's other requests, its `/health`): a macrotask, so I/O callbacks get their turn. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    if (setImmediateIfAny !== undefined) setImmediateIfAny(resolve);
    else setTimeout(resolve, 0);
  });
}

/**
 * Tracks how long the current synchronous slice has run; `pause()` yields once it passed {@link SLICE_MS} and
 * then checks the signal (throwing `E_ABORTED`).
 *
 * @example
 * const slicer = new TimeSlicer(signal);
 * for (const item of items) { work(item); await slicer.pause(); }
 */
export class TimeSlicer {
  #started = performance.now();

  constructor(
    readonly signal?: AbortSignal,
    readonly what = 'work',
  ) {}

  /** Yields to the event loop if this slice has run long enough, then checks the signal. */
  async pause(): Promise<void> {
    if (performance.now() - this.#started < SLICE_MS) return;
    await yieldToEventLoop();
    this.#started = performance.now();
    if (this.signal?.aborted === true) throw new AbortedError(this.what, this.signal.reason);
  }
}
