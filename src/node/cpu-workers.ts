// Node-only wiring for the CPU backend's threads: `worker_threads`, and one thread per core by default.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CpuOptions } from '../cpu/engine.js';
import type { CpuWorkerFactory, CpuWorkerEvents } from '../cpu/threads.js';
import type { CpuWorkerReply } from '../cpu/worker-protocol.js';

/**
 * The worker script: the compiled `node-cpu-worker.js` next to this module. When this module itself runs
 * from TypeScript sources (vitest, tsx), a worker thread still needs JavaScript, so the build's copy in
 * `dist/` serves (`npm run build` first; a stale one is refused by the protocol check).
 */
function workerScript(): URL {
  const here = new URL('./cpu-worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts') || existsSync(fileURLToPath(here))) return here;
  return new URL('../../dist/node/cpu-worker.js', import.meta.url);
}

/**
 * Starts CPU worker threads with Node's `worker_threads`. Idle workers are `unref`'d by the pool, so they
 * never keep a finished CLI or script alive; `scorer.destroy()` terminates them.
 *
 * @example
 * const scorer = await createScorer({ backend: 'cpu', cpu: { workers: nodeCpuWorkerFactory() } });
 */
export function nodeCpuWorkerFactory(): CpuWorkerFactory {
  const script = workerScript();
  return (events: CpuWorkerEvents) => {
    let terminating = false;
    // Workers inherit the parent's Node flags; --input-type (set by `node -e` with ESM) is refused in a worker.
    const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
    const worker = new Worker(script, { execArgv });
    worker.on('message', (reply: CpuWorkerReply) => events.message(reply));
    worker.on('error', (error) => events.error(error));
    worker.on('exit', (code) => {
      if (!terminating) events.error(new Error(`worker thread exited with code ${code}`));
    });
    return {
      postMessage: (message, transfer) => worker.postMessage(message, transfer),
      terminate: () => {
        terminating = true;
        void worker.terminate();
      },
      ref: () => worker.ref(),
      unref: () => worker.unref(),
    };
  };
}

/**
 * The CPU options `webgpu-maxsim/node` uses by default: one thread per available core, on `worker_threads`.
 * Options given explicitly win.
 *
 * @example
 * const scorer = await createScorer({ backend: 'cpu', cpu: nodeCpuOptions({ threads: 4 }) });
 */
export function nodeCpuOptions(options: CpuOptions = {}): CpuOptions {
  return { threads: availableParallelism(), workers: nodeCpuWorkerFactory(), ...options };
}
