import { allocateWasmInt8CorpusSlice, type InterleavedInt8Query } from './wasm-int8-kernel.js';
import { allocateWasmCorpusSlice, type InterleavedQuery, type WasmCorpusFill } from './wasm-kernel.js';

/**
 * Bumped whenever the messages below change: a worker script from another build (a stale `dist/` next to
 * fresh sources) answers `init` with its own version, and the pool refuses it with a clear error.
 */
export const CPU_WORKER_PROTOCOL = 3;

/** How a corpus share is stored: float32, or int8 with a float32 scale per row (quantized by the worker). */
export type CpuStorage = 'f32' | 'int8';

/** Queries as the kernel of a storage takes them: `interleaveQuery` for f32, `interleaveInt8Query` for int8. */
export type KernelQueries = readonly InterleavedQuery[] | readonly InterleavedInt8Query[];

/** Main thread → worker. */
export type CpuWorkerRequest =
  | { readonly op: 'init'; readonly job: number; readonly protocol: number; readonly module: WebAssembly.Module }
  | {
      /** Makes room for a corpus share (its WebAssembly memory); the rows follow in `write`s. */
      readonly op: 'allocate';
      readonly job: number;
      readonly corpus: number;
      readonly dim: number;
      readonly count: number;
      readonly rowOffsets: Uint32Array;
      /** `'int8'`: the worker quantizes the float rows it is sent and keeps 1 byte per value. */
      readonly storage: CpuStorage;
    }
  | {
      /**
       * The first `rows` rows of `data` (transferred) go to rows `firstRow ..` of the share; `data` comes back in
       * the reply, transferred, so the main thread refills the same few buffers instead of allocating more.
       */
      readonly op: 'write';
      readonly job: number;
      readonly corpus: number;
      readonly firstRow: number;
      readonly rows: number;
      readonly data: Float32Array;
    }
  | {
      readonly op: 'score';
      readonly job: number;
      readonly corpus: number;
      /** Prepared for the corpus's storage. */
      readonly queries: KernelQueries;
    }
  | { readonly op: 'release'; readonly job: number; readonly corpus: number };

/** Worker → main thread: one reply per request, matched by `job`. */
export type CpuWorkerReply =
  | {
      readonly job: number;
      readonly ok: true;
      readonly protocol?: number;
      readonly scores?: Float32Array;
      /** A `write`'s buffer, handed back. */
      readonly data?: Float32Array;
    }
  | {
      readonly job: number;
      readonly ok: false;
      readonly error: { readonly name: string; readonly message: string; readonly code?: string };
    };

/**
 * The body of a CPU worker thread, shared by the Web Worker entry (`cpu-worker.ts`) and the Node one
 * (`node-cpu-worker.ts`): holds this thread's share of each corpus in its own WebAssembly memory and scores
 * it on request. `post(reply, transfer)` sends a reply back.
 *
 * @example
 * const handle = createCpuWorkerHandler((reply, transfer) => self.postMessage(reply, transfer));
 * self.onmessage = (event) => handle(event.data);
 */
export function createCpuWorkerHandler(
  post: (reply: CpuWorkerReply, transfer: ArrayBuffer[]) => void,
): (request: CpuWorkerRequest) => void {
  let module: WebAssembly.Module | undefined;
  const corpora = new Map<number, StoredShare>();
  return (request) => {
    try {
      switch (request.op) {
        case 'init':
          module = request.module;
          post({ job: request.job, ok: true, protocol: CPU_WORKER_PROTOCOL }, []);
          return;
        case 'allocate': {
          if (module === undefined) throw new Error('allocate before init');
          const { rowOffsets, count, dim, storage } = request;
          corpora.set(request.corpus, allocateShare(module, { rowOffsets, count, dim }, storage));
          post({ job: request.job, ok: true }, []);
          return;
        }
        case 'write': {
          const fill = corpora.get(request.corpus);
          if (fill === undefined) throw new Error(`corpus ${request.corpus} is not allocated in this worker`);
          const { data, rows, firstRow } = request;
          fill.writeRows(firstRow, data.subarray(0, rows * fill.dim));
          post({ job: request.job, ok: true, data }, [data.buffer as ArrayBuffer]);
          return;
        }
        case 'score': {
          const fill = corpora.get(request.corpus);
          if (fill === undefined) throw new Error(`corpus ${request.corpus} is not resident in this worker`);
          const scores = fill.slice.score(request.queries as readonly never[]);
          post({ job: request.job, ok: true, scores }, [scores.buffer as ArrayBuffer]);
          return;
        }
        case 'release':
          corpora.get(request.corpus)?.slice.release();
          corpora.delete(request.corpus);
          post({ job: request.job, ok: true }, []);
          return;
      }
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      const code = (e as { code?: unknown }).code;
      post(
        {
          job: request.job,
          ok: false,
          error: { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) },
        },
        [],
      );
    }
  };
}

/** A corpus share in a worker, of either storage (its slice checks the queries it is given). */
type StoredShare = (WasmCorpusFill | WasmCorpusFill<InterleavedInt8Query>) & { readonly dim: number };

function allocateShare(
  module: WebAssembly.Module,
  docs: { readonly rowOffsets: Uint32Array; readonly count: number; readonly dim: number },
  storage: CpuStorage,
): StoredShare {
  if (storage === 'int8') return { ...allocateWasmInt8CorpusSlice(module, docs), dim: docs.dim };
  if (storage === 'f32') return { ...allocateWasmCorpusSlice(module, docs), dim: docs.dim };
  throw new Error(`unknown storage ${JSON.stringify(storage)}`);
}
