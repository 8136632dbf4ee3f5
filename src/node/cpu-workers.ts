// Node-only wiring for the CPU backend's threads: `worker_threads`, and one thread per core by default.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CpuOptions } from '../cpu/engine.js';
import { CpuWorkerError } from '../cpu/errors.js';
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
    const path = fileURLToPath(script);
    if (!existsSync(path)) {
      throw new CpuWorkerError(
        `the worker script ${path} is missing: a bundler that inlined webgpu-maxsim did not emit it. Keep ` +
          'webgpu-maxsim external to the bundle (esbuild: --packages=external or --external:webgpu-maxsim), or ' +
          'pass cpu: { workers } to start the threads yourself',
      );
    }
    const worker = startWorker(script);
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
 * Starts the worker script with the parent's Node flags. Inheriting them (passing no `execArgv`) is what works:
 * Node refuses an explicit `execArgv` holding process-wide or V8 flags (`--max-old-space-size`, `--expose-gc`,
 * `--title`, `--stack-size`, `--abort-on-uncaught-exception`, `--experimental-wasm-*`) with
 * ERR_WORKER_INVALID_EXEC_ARGV, but accepts them inherited. The one flag that must not be inherited is
 * `--input-type` (`node --input-type=module -e ...`): a worker running a file refuses it. Then the flags are passed
 * explicitly without it and without `-e`'s code, dropping whatever Node names as refused (those process-wide flags
 * apply to every thread anyway), and at last none.
 */
function startWorker(script: URL): Worker {
  const inherited = process.execArgv;
  if (!inherited.some((arg) => arg.startsWith('--input-type'))) return new Worker(script);
  let execArgv: string[] = [];
  for (let i = 0; i < inherited.length; i++) {
    const arg = inherited[i]!;
    if (arg.startsWith('--input-type')) continue;
    if (['-e', '--eval', '-p', '--print'].includes(arg)) {
      i++; // and its code
      continue;
    }
    if (/^--(eval|print)=/.test(arg)) continue;
    execArgv.push(arg);
  }
  for (;;) {
    try {
      return new Worker(script, { execArgv });
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || execArgv.length === 0) throw err;
      const refused = /flags: (.*)$/.exec((err as Error).message)?.[1]?.split(', ') ?? [];
      const kept = execArgv.filter((arg) => !refused.includes(arg));
      execArgv = kept.length < execArgv.length ? kept : [];
    }
  }
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
