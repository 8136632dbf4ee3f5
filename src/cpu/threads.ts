import { CPU_WORKER_PROTOCOL, type CpuWorkerReply, type CpuWorkerRequest } from './worker-protocol.js';
import { CpuWorkerError } from './errors.js';
import { DestroyedError, MaxsimError } from '../core/errors.js';

/** One started worker thread, as the pool drives it. */
export interface CpuWorker {
  postMessage(message: CpuWorkerRequest, transfer: ArrayBuffer[]): void;
  terminate(): void;
  /** Node only: keep the process alive while requests are pending, and let it exit while the worker idles. */
  ref?(): void;
  unref?(): void;
}

/** What a {@link CpuWorkerFactory} must call back with. */
export interface CpuWorkerEvents {
  message(reply: CpuWorkerReply): void;
  /** The worker crashed, failed to load, or exited on its own. */
  error(error: unknown): void;
}

/**
 * Starts one CPU worker thread running this package's worker entry. The core uses Web Workers where the
 * runtime has them; `webgpu-maxsim/node` passes one for `worker_threads`. Pass your own as
 * `cpu: { workers }` when a bundler moves the worker file (the package exports it as `webgpu-maxsim/cpu-worker`).
 *
 * @example
 * const workers: CpuWorkerFactory = (events) => {
 *   const w = new Worker(import.meta.resolve('webgpu-maxsim/cpu-worker'), { type: 'module' });
 *   w.onmessage = (e) => events.message(e.data);
 *   w.onerror = (e) => events.error(e);
 *   return { postMessage: (m, t) => w.postMessage(m, t), terminate: () => w.terminate() };
 * };
 */
export type CpuWorkerFactory = (events: CpuWorkerEvents) => CpuWorker;

/**
 * The core's default: a module Web Worker (`cpu-worker.js`, next to this file) where the runtime has
 * `Worker` (browsers, Deno, Bun); `undefined` elsewhere (Node without the `node` entry, Cloudflare Workers),
 * which means one thread.
 *
 * @example
 * const factory = webWorkerFactory(); // undefined in Node 20
 */
export function webWorkerFactory(): CpuWorkerFactory | undefined {
  if (typeof (globalThis as { Worker?: unknown }).Worker !== 'function') return undefined;
  return (events) => {
    // Written literally as `new Worker(new URL(…, import.meta.url))`: the form bundlers (Vite, webpack, esbuild)
    // recognise, so they emit the worker as its own chunk instead of inlining or dropping it.
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (event: MessageEvent) => events.message(event.data as CpuWorkerReply);
    // A script that fails to load (a bundler that did not emit it: a 404) fires a plain Event, with no message.
    worker.onerror = (event: ErrorEvent) =>
      events.error(
        event.error ??
          new Error(
            event.message ||
              `the worker script ${new URL('./worker.js', import.meta.url).href} could not be loaded (a bundler may ` +
                'not have emitted it; pass cpu: { workers } to start webgpu-maxsim/cpu-worker yourself)',
          ),
      );
    worker.onmessageerror = () => events.error(new Error('a message from the worker could not be deserialised'));
    return {
      postMessage: (message, transfer) => worker.postMessage(message, transfer),
      terminate: () => worker.terminate(),
    };
  };
}

type Pending = { resolve: (reply: CpuWorkerReply & { ok: true }) => void; reject: (error: unknown) => void };

/** Request without its job number: the pool assigns those. */
export type CpuWorkerCall = CpuWorkerRequest extends infer R
  ? R extends CpuWorkerRequest
    ? Omit<R, 'job'>
    : never
  : never;

/** A fixed set of started worker threads; requests to one worker are answered in order. */
export interface CpuWorkerPool {
  readonly size: number;
  call(worker: number, request: CpuWorkerCall, transfer?: ArrayBuffer[]): Promise<CpuWorkerReply & { ok: true }>;
  /** Terminates every worker; pending calls reject with `E_DESTROYED`. Idempotent. */
  destroy(): void;
}

/**
 * Starts `size` workers and hands each the compiled kernel (a `WebAssembly.Module` is cloned to workers
 * without recompiling). Workers are `unref`'d whenever they have nothing pending, so an idle pool never
 * keeps a Node process alive.
 *
 * @example
 * const pool = await startCpuWorkerPool(factory, module, 2);
 * pool.destroy();
 */
export async function startCpuWorkerPool(
  factory: CpuWorkerFactory,
  module: WebAssembly.Module,
  size: number,
): Promise<CpuWorkerPool> {
  let failure: unknown;
  let started = false;
  let nextJob = 1;
  const workers: CpuWorker[] = [];
  const pending: Map<number, Pending>[] = [];

  const fail = (error: unknown): void => {
    failure ??= error;
    for (const map of pending) {
      for (const p of map.values()) p.reject(failure);
      map.clear();
    }
    for (const w of workers) w.terminate();
  };

  for (let i = 0; i < size; i++) {
    const map = new Map<number, Pending>();
    pending.push(map);
    let worker: CpuWorker;
    try {
      worker = factory({
        message(reply) {
          const p = map.get(reply.job);
          if (p === undefined) return;
          map.delete(reply.job);
          if (map.size === 0) workers[i]?.unref?.();
          if (reply.ok) p.resolve(reply);
          else
            p.reject(
              reply.error.code === undefined
                ? new CpuWorkerError(`CPU worker ${i}: ${reply.error.message}`)
                : new MaxsimError(reply.error.code, reply.error.message),
            );
        },
        error(error) {
          fail(
            started
              ? new CpuWorkerError(
                  `CPU worker ${i} failed: ${describeError(error)}. ` +
                    'Scores from this scorer are unavailable; create a new scorer, or use cpu: { threads: 1 }.',
                  { cause: error },
                )
              : new CpuWorkerError(`CPU worker ${i}: ${describeError(error)}`, { cause: error }),
          );
        },
      });
    } catch (err) {
      // A factory that throws (Node refusing the worker's options, a missing script): no raw error escapes.
      fail(new CpuWorkerError(`CPU worker ${i}: ${describeError(err)}`, { cause: err }));
      throw failure;
    }
    worker.unref?.();
    workers.push(worker);
  }

  const pool: CpuWorkerPool = {
    size,
    call(index, request, transfer = []) {
      if (failure !== undefined) return Promise.reject(failure);
      const worker = workers[index]!;
      const map = pending[index]!;
      const job = nextJob++;
      return new Promise((resolve, reject) => {
        if (map.size === 0) worker.ref?.();
        map.set(job, { resolve, reject });
        worker.postMessage({ ...request, job } as CpuWorkerRequest, transfer);
      });
    },
    destroy() {
      if (failure instanceof DestroyedError) return;
      failure = undefined;
      fail(new DestroyedError('Scorer'));
    },
  };

  try {
    const replies = await Promise.all(
      workers.map((_, i) => pool.call(i, { op: 'init', protocol: CPU_WORKER_PROTOCOL, module })),
    );
    const stale = replies.find((r) => r.protocol !== CPU_WORKER_PROTOCOL);
    if (stale !== undefined) {
      throw new CpuWorkerError(
        `the CPU worker script speaks protocol ${String(stale.protocol)} but this build speaks ` +
          `${CPU_WORKER_PROTOCOL}: the worker file is from another build. Rebuild (npm run build).`,
      );
    }
  } catch (err) {
    pool.destroy();
    throw err;
  }
  started = true;
  return pool;
}

/** An error's message for ours, never empty (a worker that failed to load may report none). */
function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message : error === undefined || error === null ? '' : String(error);
  if (text.trim() !== '') return text.replace(/\.$/, '');
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'no reason given (the worker script may be missing or failed to load)';
}
