import { checkInt8Dim, maxsimInt8Ts, quantizeDocuments, quantizeQuery, type Int8Documents } from './int8-kernel.js';
import { maxsimPackedTs } from './typescript-kernel.js';
import { startCpuWorkerPool, webWorkerFactory, type CpuWorkerFactory, type CpuWorkerPool } from './threads.js';
import { allocateWasmInt8CorpusSlice, interleaveInt8Query, type InterleavedInt8Query } from './wasm-int8-kernel.js';
import {
  allocateWasmCorpusSlice,
  compileMaxsimWasm,
  interleaveQuery,
  wasmRelaxedSimdSupported,
  wasmSimdSupported,
  type WasmKernelKind,
  type WasmCorpusSlice,
} from './wasm-kernel.js';
import type { CpuStorage, KernelQueries } from './worker-protocol.js';
import { BackendUnavailableError, InvalidArgumentError } from '../core/errors.js';
import { copyPackedRows, forEachRowRun, hostCopy, type PackedDocuments } from '../core/packed-documents.js';
import type { ScoringEngine, ScorerInfo, UploadProgress } from '../core/scorer.js';
import type { TokenMatrix } from '../core/token-matrix.js';

/** Options for the CPU backend (`createScorer({ backend: 'cpu', cpu: { ... } })`). */
export interface CpuOptions {
  /**
   * Worker threads to spread documents over. Default: the number of cores (`navigator.hardwareConcurrency`;
   * `os.availableParallelism()` through `webgpu-maxsim/node`); 1 where workers are unavailable.
   */
  readonly threads?: number;
  /**
   * The precompiled kernel, for runtimes that refuse to compile WebAssembly from bytes (Cloudflare Workers:
   * `import wasmModule from 'webgpu-maxsim/maxsim.wasm'`; one module holds the f32 and the int8 kernels). Default:
   * compile the embedded copy.
   */
  readonly wasmModule?: WebAssembly.Module;
  /**
   * `'auto'` (default): the relaxed-SIMD WASM kernel (`f32x4.relaxed_madd`) where the runtime validates it
   * (Chromium; Node 20 with `--experimental-wasm-relaxed-simd`), else WASM SIMD, else TypeScript.
   * `'wasm-relaxed-simd'` and `'wasm-simd'` force one and throw where it cannot run.
   */
  readonly kernel?: 'auto' | 'wasm-relaxed-simd' | 'wasm-simd' | 'typescript';
  /** How to start a worker thread; see {@link CpuWorkerFactory}. Default: Web Workers where they exist. */
  readonly workers?: CpuWorkerFactory;
}

/**
 * Corpora smaller than this many floats (rows × dim rounded up to 4) per thread are scored on fewer threads,
 * down to the calling thread alone. 2^17 floats is ~0.2 ms of kernel time at Lq 32 (~40 GFLOP/s per thread);
 * the round trip to the workers (post, wake, reply) measured 0.1–0.2 ms on Node 20, so smaller shares
 * would not repay it.
 */
const MIN_FLOATS_PER_THREAD = 1 << 17;

/** A corpus as the CPU engine holds it. */
export type CpuCorpus =
  | { readonly kind: 'typescript'; readonly packed: PackedDocuments }
  | { readonly kind: 'typescript-int8'; readonly docs: Int8Documents }
  | {
      readonly kind: 'wasm';
      readonly count: number;
      readonly slice: WasmCorpusSlice | WasmCorpusSlice<InterleavedInt8Query>;
    }
  | {
      readonly kind: 'threads';
      readonly count: number;
      readonly id: number;
      /** Part `i` (documents `first .. first + count`) lives in worker `i`. */
      readonly parts: readonly { readonly first: number; readonly count: number }[];
    };

/** The CPU engine; `score` also takes plain {@link PackedDocuments} (scored without uploading first). */
export interface CpuEngine extends ScoringEngine<CpuCorpus> {
  score(queries: readonly TokenMatrix[], corpus: CpuCorpus | PackedDocuments): Promise<Float32Array[]>;
}

/**
 * The CPU backend's engine: the fused WASM SIMD kernel across worker threads where the runtime allows,
 * else on the calling thread, else the plain-TypeScript kernel. `info` says which
 * (`kernel: 'wasm-relaxed-simd' | 'wasm-simd' | 'typescript'`, `threads`, `precision`). `storage` `'int8'` keeps
 * documents as int8 with a float32 scale per row (1 byte per value; `createScorer({ precision: 'int8' })`) and
 * scores them with integer dot products.
 *
 * @example
 * const engine = await createCpuEngine({ threads: 2 });
 * engine.info.summary; // 'cpu (wasm-simd, 2 threads)'
 */
export async function createCpuEngine(options: CpuOptions = {}, storage: CpuStorage = 'f32'): Promise<CpuEngine> {
  if (storage !== 'f32' && storage !== 'int8') {
    throw new InvalidArgumentError(`CPU storage must be 'f32' or 'int8', got ${JSON.stringify(storage)}`);
  }
  const choice = options.kernel ?? 'auto';
  if (choice !== 'auto' && choice !== 'wasm-relaxed-simd' && choice !== 'wasm-simd' && choice !== 'typescript') {
    throw new InvalidArgumentError(
      `cpu.kernel must be 'auto', 'wasm-relaxed-simd', 'wasm-simd' or 'typescript', got ${JSON.stringify(choice)}`,
    );
  }
  const requestedThreads = options.threads ?? defaultThreads();
  if (!Number.isInteger(requestedThreads) || requestedThreads < 1) {
    throw new InvalidArgumentError(`cpu.threads must be an integer >= 1, got ${String(requestedThreads)}`);
  }
  // Threads asked for explicitly and dropped get a console warning as well as info.threadsReason.
  const dropThreads = (reason: string, fix = ''): string | undefined => {
    if (requestedThreads <= 1) return undefined;
    if (options.threads !== undefined) {
      warnOnce(
        `webgpu-maxsim: cpu.threads is ${requestedThreads}, but ${reason}: the CPU backend runs on 1 thread.${fix}`,
      );
    }
    return `${requestedThreads} asked for, but ${reason}`;
  };
  const singleThreadedTs = 'the TypeScript kernel is single-threaded';
  if (choice === 'typescript') return typescriptEngine(storage, undefined, dropThreads(singleThreadedTs));
  const loaded = await loadKernel(options.wasmModule, choice, storage);
  if (typeof loaded === 'string') {
    if (choice !== 'auto') {
      throw new BackendUnavailableError(
        `The ${choice === 'wasm-simd' ? 'WASM SIMD' : 'relaxed-SIMD WASM'} CPU kernel cannot run here: ${loaded}. ` +
          "Use cpu: { kernel: 'auto' } to fall back.",
      );
    }
    return typescriptEngine(storage, loaded, dropThreads(singleThreadedTs));
  }
  const factory = options.workers ?? webWorkerFactory();
  if (factory === undefined) {
    const reason = dropThreads(
      'this runtime has no Worker',
      " In Node, import 'webgpu-maxsim' (its Node entry starts worker_threads); elsewhere pass cpu: { workers }.",
    );
    return wasmEngine(loaded.module, loaded.kind, storage, 1, undefined, reason);
  }
  return wasmEngine(loaded.module, loaded.kind, storage, requestedThreads, factory, undefined);
}

const warned = new Set<string>();

/** `console.warn`s a message once per process: a dropped thread count is worth one line, not one per scorer. */
function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  console.warn(message);
}

/**
 * `cpu (wasm-simd, 2 threads)` (`cpu (wasm-simd, int8, 2 threads)` for int8 storage), with what was dropped and
 * why when fewer threads run than were asked for.
 */
function cpuSummary(
  kernel: string,
  storage: CpuStorage,
  threads: number,
  threadsReason: string | undefined,
  extra?: string,
): string {
  const notes = [threadsReason, extra].filter((n) => n !== undefined).join('; ');
  const what = storage === 'f32' ? kernel : `${kernel}, ${storage}`;
  return `cpu (${what}, ${threads} thread${threads === 1 ? '' : 's'}${notes === '' ? '' : `; ${notes}`})`;
}

function defaultThreads(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : 1;
}

/** The kernel module and which build it is, or why there is none. */
async function loadKernel(
  given: WebAssembly.Module | undefined,
  choice: 'auto' | 'wasm-relaxed-simd' | 'wasm-simd',
  storage: CpuStorage,
): Promise<{ module: WebAssembly.Module; kind: WasmKernelKind } | string> {
  if (given !== undefined) {
    if (!(given instanceof WebAssembly.Module)) return 'cpu.wasmModule is not a WebAssembly.Module';
    const name = storage === 'int8' ? 'maxsim_int8' : 'maxsim';
    const exported = WebAssembly.Module.exports(given).some((e) => e.name === name && e.kind === 'function');
    // The shipped maxsim.wasm is the standard SIMD build.
    return exported
      ? { module: given, kind: 'wasm-simd' }
      : `cpu.wasmModule has no '${name}' export: pass webgpu-maxsim/maxsim.wasm`;
  }
  if (typeof WebAssembly !== 'object') return 'this runtime has no WebAssembly';
  if (!wasmSimdSupported()) return 'this runtime has WebAssembly without 128-bit SIMD';
  const relaxed = wasmRelaxedSimdSupported();
  if (choice === 'wasm-relaxed-simd' && !relaxed) {
    return 'this runtime does not validate relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd)';
  }
  // The int8 kernel has no float multiply-adds, so relaxed SIMD changes nothing for it: int8 runs the standard build.
  const kind: WasmKernelKind =
    choice === 'wasm-simd' || !relaxed || (storage === 'int8' && choice === 'auto') ? 'wasm-simd' : 'wasm-relaxed-simd';
  try {
    return { module: await compileMaxsimWasm(kind), kind };
  } catch (err) {
    return (
      `compiling WebAssembly from bytes was refused (${err instanceof Error ? err.message : String(err)}); ` +
      "pass the precompiled module: cpu: { wasmModule } from import 'webgpu-maxsim/maxsim.wasm'"
    );
  }
}

function typescriptEngine(
  storage: CpuStorage,
  whyNotWasm: string | undefined,
  threadsReason: string | undefined,
): CpuEngine {
  const info: ScorerInfo = {
    backend: 'cpu',
    summary: cpuSummary(
      'typescript',
      storage,
      1,
      threadsReason,
      whyNotWasm === undefined ? undefined : `no wasm-simd: ${whyNotWasm}`,
    ),
    kernel: 'typescript',
    precision: storage,
    threads: 1,
    ...(threadsReason === undefined ? {} : { threadsReason }),
  };
  if (storage === 'int8') {
    return {
      backend: 'cpu',
      info,
      // Quantized now: scores must not follow later changes to the caller's documents.
      upload: async (packed) => ({ kind: 'typescript-int8', docs: quantizeDocuments(packed) }),
      score: async (queries, corpus) => {
        const docs =
          'kind' in corpus ? (corpus.kind === 'typescript-int8' ? corpus.docs : undefined) : quantizeDocuments(corpus);
        if (docs === undefined) throw new InvalidArgumentError('corpus was uploaded by another CPU engine');
        return queries.map((query) => {
          const out = new Float32Array(docs.count);
          maxsimInt8Ts(quantizeQuery(query), docs, out);
          return out;
        });
      },
      release: () => {
        // Host memory only, as for f32.
      },
      destroy: () => {
        // Nothing beyond the corpora.
      },
    };
  }
  return {
    backend: 'cpu',
    info,
    // The kernel reads packed rows: pack them now (scores must not follow later changes to the caller's documents).
    upload: async (packed) => ({ kind: 'typescript', packed: hostCopy(packed) }),
    score: async (queries, corpus) => {
      const packed = 'kind' in corpus ? (corpus.kind === 'typescript' ? corpus.packed : undefined) : corpus;
      if (packed === undefined) throw new InvalidArgumentError('corpus was uploaded by another CPU engine');
      return queries.map((query) => {
        const out = new Float32Array(packed.count);
        maxsimPackedTs(query, packed, out);
        return out;
      });
    },
    release: () => {
      // Host memory only: dropping the reference (done by the Corpus handle) is all there is to free.
    },
    destroy: () => {
      // Nothing beyond the corpora, which the scorer releases first.
    },
  };
}

function wasmEngine(
  module: WebAssembly.Module,
  kind: WasmKernelKind,
  storage: CpuStorage,
  threads: number,
  factory: CpuWorkerFactory | undefined,
  threadsReason: string | undefined,
): CpuEngine {
  const info: ScorerInfo = {
    backend: 'cpu',
    get summary() {
      return cpuSummary(kind, storage, threads, threadsReason);
    },
    kernel: kind,
    precision: storage,
    get threads() {
      return threads;
    },
    get threadsReason() {
      return threadsReason;
    },
  };
  /** The worker pool once asked for; `undefined` inside when it failed to start (then the calling thread scores). */
  let pool: Promise<CpuWorkerPool | undefined> | undefined;
  let destroyed = false;
  let nextCorpus = 1;
  /**
   * Transfer buffers the workers handed back, kept for later uploads (at most {@link SPARE_BYTES}). A fresh
   * buffer costs a page fault per 4 KiB when it is first written, on the calling thread: 8 MiB took 25-30 ms of
   * CPU on a 2-core VM, 80-90 ms under load, in one turn of the event loop. A server that scores chunk after chunk
   * (the rerank service: one small upload per chunk of documents) refills the same few buffers instead.
   */
  const spares: Float32Array[] = [];
  let spareBytes = 0;

  /** The smallest spare that holds `floats`, else a new buffer of `capacity` floats. */
  const takeBuffer = (floats: number, capacity: number): Float32Array => {
    let best = -1;
    for (let j = 0; j < spares.length; j++) {
      const n = spares[j]!.length;
      if (n >= floats && (best < 0 || n < spares[best]!.length)) best = j;
    }
    if (best < 0) return new Float32Array(capacity);
    const [buffer] = spares.splice(best, 1);
    spareBytes -= buffer!.byteLength;
    return buffer!;
  };

  const keepBuffer = (buffer: Float32Array): void => {
    if (destroyed || spareBytes + buffer.byteLength > SPARE_BYTES) return;
    spares.push(buffer);
    spareBytes += buffer.byteLength;
  };

  const startPool = (): Promise<CpuWorkerPool | undefined> => {
    // Started on the first corpus that needs threads, so small workloads never pay for them. Workers that cannot
    // start (Node refusing a flag, a bundler that dropped the worker file, a stale build) leave the calling thread
    // to score: slower, never broken, and said in info and once on the console.
    pool ??= startCpuWorkerPool(factory!, module, threads).catch((err: unknown) => {
      const why = err instanceof Error ? err.message : String(err);
      warnOnce(`webgpu-maxsim: the CPU worker threads did not start, so scoring runs on the calling thread: ${why}`);
      threadsReason = `${threads} asked for, but the worker threads did not start: ${why}`;
      threads = 1;
      return undefined;
    });
    return pool;
  };

  const upload = async (
    packed: PackedDocuments,
    onProgress?: (progress: UploadProgress) => void,
  ): Promise<CpuCorpus> => {
    if (storage === 'int8') checkInt8Dim(packed.dim);
    const floats = packed.totalRows * Math.ceil(packed.dim / 4) * 4;
    const parts = Math.min(threads, Math.floor(floats / MIN_FLOATS_PER_THREAD), packed.count);
    const workers = parts <= 1 || factory === undefined ? undefined : await startPool();
    if (workers === undefined) return uploadHere(packed, onProgress);
    const id = nextCorpus++;
    const ranges = splitByTokens(packed, parts);
    const writer = documentProgress(packed, onProgress);
    const uploads = ranges.map((range, i) =>
      streamShare(workers, i, id, packed, range, writer(range.first, range.count)),
    );
    const settled = await Promise.allSettled(uploads);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) {
      releaseParts(workers, id, ranges.length);
      throw failed.reason;
    }
    return { kind: 'threads', count: packed.count, id, parts: ranges };
  };

  /** The corpus in this thread's own WebAssembly memory, copied from the documents in pieces (no packed copy). */
  const uploadHere = (packed: PackedDocuments, onProgress?: (progress: UploadProgress) => void): CpuCorpus => {
    const fill =
      storage === 'int8' ? allocateWasmInt8CorpusSlice(module, packed) : allocateWasmCorpusSlice(module, packed);
    const progress = documentProgress(packed, onProgress)(0, packed.count);
    const chunkRows = rowsPerChunk(packed.dim);
    for (let row = 0; row < packed.totalRows; row += chunkRows) {
      const end = Math.min(packed.totalRows, row + chunkRows);
      forEachRowRun(packed, row, end, (first, data) => fill.writeRows(first, data));
      progress(end);
    }
    if (packed.totalRows === 0) progress(0);
    return { kind: 'wasm', count: packed.count, slice: fill.slice };
  };

  /**
   * Sends worker `i` its share (documents `range`) without a copy of the share on this thread: the worker makes
   * room once, then the rows go over in chunks of {@link CHUNK_BYTES}, at most {@link CHUNKS_IN_FLIGHT} at a time,
   * each buffer transferred there and back and refilled. Peak memory is the workers' shares plus a few chunks.
   * A share smaller than a chunk gets a buffer of its own size (rounded up to a power of two rows, so buffers of
   * similar shares can be reused), not a whole chunk's.
   */
  const streamShare = async (
    workers: CpuWorkerPool,
    i: number,
    id: number,
    packed: PackedDocuments,
    range: { readonly first: number; readonly count: number },
    progress: (rowsDone: number) => void,
  ): Promise<void> => {
    const { dim } = packed;
    const rowStart = packed.rowOffsets[range.first]!;
    const rowEnd = packed.rowOffsets[range.first + range.count]!;
    const rowOffsets = new Uint32Array(range.count + 1);
    for (let j = 0; j <= range.count; j++) rowOffsets[j] = packed.rowOffsets[range.first + j]! - rowStart;
    await workers.call(i, { op: 'allocate', corpus: id, dim, count: range.count, rowOffsets, storage }, [
      rowOffsets.buffer,
    ]);
    const chunkRows = rowsPerChunk(dim);
    const bufferRows = Math.min(chunkRows, 2 ** Math.ceil(Math.log2(Math.max(1, rowEnd - rowStart))));
    const inFlight: Promise<unknown>[] = [];
    for (let row = rowStart; row < rowEnd; row += chunkRows) {
      const rows = Math.min(chunkRows, rowEnd - row);
      const data = takeBuffer(rows * dim, bufferRows * dim);
      copyPackedRows(packed, row, row + rows, data);
      const end = row + rows;
      inFlight.push(
        workers
          .call(i, { op: 'write', corpus: id, firstRow: row - rowStart, rows, data }, [data.buffer as ArrayBuffer])
          .then((reply) => {
            if (reply.data !== undefined) keepBuffer(reply.data);
            progress(end);
          }),
      );
      // Replies from one worker come in order: waiting for the oldest frees a buffer.
      if (inFlight.length >= CHUNKS_IN_FLIGHT) await inFlight.shift();
    }
    await Promise.all(inFlight);
    if (rowEnd === rowStart) progress(rowEnd);
  };

  const releaseParts = (workers: CpuWorkerPool, id: number, parts: number): void => {
    for (let i = 0; i < parts; i++) {
      // A release can only fail if the pool already failed or was destroyed, which frees the memory anyway.
      workers.call(i, { op: 'release', corpus: id }).catch(() => undefined);
    }
  };

  const scoreResident = async (queries: readonly TokenMatrix[], corpus: CpuCorpus): Promise<Float32Array[]> => {
    if (corpus.kind === 'typescript' || corpus.kind === 'typescript-int8') {
      throw new InvalidArgumentError('corpus was uploaded by another CPU engine');
    }
    const interleaved: KernelQueries =
      storage === 'int8' ? queries.map(interleaveInt8Query) : queries.map(interleaveQuery);
    const n = corpus.count;
    if (corpus.kind === 'wasm') {
      const all = corpus.slice.score(interleaved as readonly never[]);
      return queries.map((_, i) => all.slice(i * n, (i + 1) * n));
    }
    const workers = await startPool();
    if (workers === undefined) throw new BackendUnavailableError('the CPU worker threads of this corpus are gone');
    const replies = await Promise.all(
      corpus.parts.map((_, i) => workers.call(i, { op: 'score', corpus: corpus.id, queries: interleaved })),
    );
    return queries.map((_, q) => {
      const out = new Float32Array(n);
      corpus.parts.forEach((part, i) => {
        out.set(replies[i]!.scores!.subarray(q * part.count, (q + 1) * part.count), part.first);
      });
      return out;
    });
  };

  return {
    backend: 'cpu',
    info,
    upload: async (packed, onProgress) => {
      if (destroyed) throw new BackendUnavailableError('the CPU engine was destroyed');
      return upload(packed, onProgress);
    },
    score: async (queries, corpus) => {
      if ('kind' in corpus) return scoreResident(queries, corpus);
      // Plain packed documents (a host copy kept by another backend): make them resident for this call.
      const temporary = await upload(corpus);
      try {
        return await scoreResident(queries, temporary);
      } finally {
        release(temporary);
      }
    },
    release: (corpus) => release(corpus),
    destroy: () => {
      if (destroyed) return;
      destroyed = true;
      spares.length = 0;
      spareBytes = 0;
      const started = pool;
      pool = undefined;
      // The pool may still be starting: destroy it when it is up (or nothing, if it failed to start; the promise
      // never rejects).
      void started?.then((p) => p?.destroy());
    },
  };

  function release(corpus: CpuCorpus): void {
    if (corpus.kind === 'wasm') corpus.slice.release();
    else if (corpus.kind === 'threads' && pool !== undefined) {
      const started = pool;
      void started.then((p) => {
        if (p !== undefined) releaseParts(p, corpus.id, corpus.parts.length);
      });
    }
  }
}

/**
 * Rows per chunk of an upload: {@link CHUNK_BYTES} worth, at least one row. Against a round trip of ~0.1 ms per
 * message, copying 8 MiB is the larger cost, and two chunks in flight per worker bound what an upload holds beyond
 * the workers' shares to 16 MiB per thread (bench/upload-memory.mjs measures the peak).
 */
const CHUNK_BYTES = 8 * 2 ** 20;
const CHUNKS_IN_FLIGHT = 2;
/** Transfer buffers an engine keeps between uploads: two chunks' worth. */
const SPARE_BYTES = CHUNKS_IN_FLIGHT * CHUNK_BYTES;

function rowsPerChunk(dim: number): number {
  return Math.max(1, Math.floor(CHUNK_BYTES / Math.max(4, dim * 4)));
}

/**
 * `onProgress` in documents for an upload written in row chunks by one or several writers: `writer(first, count)`
 * gives the writer of documents `first .. first + count` its callback, `rowsWritten(end)` (rows are numbered in
 * the whole corpus), which counts that writer's documents whose rows all lie before `end` and reports the total
 * over every writer. An empty document counts once the rows before it are written.
 */
function documentProgress(
  packed: PackedDocuments,
  onProgress: ((progress: UploadProgress) => void) | undefined,
): (first: number, count: number) => (rowsWritten: number) => void {
  let done = 0;
  return (first, count) => {
    let next = first;
    return (rowsWritten) => {
      if (onProgress === undefined) return;
      const before = next;
      while (next < first + count && packed.rowOffsets[next + 1]! <= rowsWritten) next++;
      done += next - before;
      onProgress({ done, total: packed.count });
    };
  };
}

/**
 * Contiguous document ranges, one per thread, with about equal work: a document costs its token count plus
 * one token's worth for its setup (measured: resetting and summing the maxima costs less than one token's
 * dot products at Lq 32, d 128), so ragged corpora split by tokens, not by document count.
 */
export function splitByTokens(
  packed: PackedDocuments,
  parts: number,
): { readonly first: number; readonly count: number }[] {
  const perDoc = 1;
  const total = packed.totalRows + perDoc * packed.count;
  const ranges: { first: number; count: number }[] = [];
  let first = 0;
  let done = 0;
  for (let p = 0; p < parts && first < packed.count; p++) {
    const target = (total * (p + 1)) / parts;
    let end = first;
    // Always take at least one document; leave at least one for each later part.
    do {
      done += packed.rowOffsets[end + 1]! - packed.rowOffsets[end]! + perDoc;
      end++;
    } while (end < packed.count - (parts - p - 1) && done < target);
    if (p === parts - 1) end = packed.count;
    ranges.push({ first, count: end - first });
    first = end;
  }
  return ranges;
}
