import type { HashEmbedder } from './hash-embedder.js';
import type { PoolingClient } from '../pooling/client.js';
import type { TokenMatrix } from '../core/token-matrix.js';
import { AbortedError } from '../core/errors.js';
import { TimeSlicer } from '../core/time-slicer.js';

/** A text's token matrix, with its prompt's token count when that differs from `rows` (e.g. `<s>` dropped). */
export interface EmbeddedText extends TokenMatrix {
  /** Tokens the model read for this text; absent means `rows`. */
  readonly promptTokens?: number;
}

/** Anything that turns texts into token matrices: a vLLM `/pooling` client, the built-in hashing embedder, ... */
export interface TextEmbedder {
  /** The model name reported to callers and used in cache keys. */
  readonly model: string;
  /**
   * One matrix per text, in input order. When `signal` aborts, rejects with an `E_ABORTED` error (and stops
   * working for this caller).
   */
  embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<EmbeddedText[]>;
  /** The exact token count of a text, when the embedder can tell without embedding it (cheaply). */
  countTokens?(text: string): number;
}

/**
 * A {@link TextEmbedder} over a vLLM `/pooling` client.
 *
 * @example
 * const embedder = poolingTextEmbedder(new PoolingClient({ baseUrl }), 'BAAI/bge-m3');
 */
export function poolingTextEmbedder(client: PoolingClient, model: string): TextEmbedder {
  return {
    model,
    embed: async (texts, options = {}) => {
      const result = await client.embed(texts, options.signal === undefined ? {} : { signal: options.signal });
      return result.matrices.map((m, i) => ({ ...m, promptTokens: result.promptTokens[i] ?? m.rows }));
    },
  };
}

/**
 * A {@link TextEmbedder} over the built-in hashing embedder (lexical, no server; see `createHashEmbedder`). Long
 * inputs are embedded in slices of about 5 ms with a yield to the event loop between them, so a server using
 * it keeps answering other requests; the signal is checked between slices.
 *
 * @example
 * const embedder = hashTextEmbedder(createHashEmbedder({ dim: 128 }));
 */
export function hashTextEmbedder(embedder: HashEmbedder, model = `hash-embedder-d${embedder.dim}`): TextEmbedder {
  return {
    model,
    embed: async (texts, options = {}) => {
      const { signal } = options;
      if (signal?.aborted === true) throw new AbortedError('embedding', signal.reason);
      const slicer = new TimeSlicer(signal, 'embedding');
      const out: TokenMatrix[] = [];
      for (const text of texts) {
        const steps = embedder.embedTextStepwise(text);
        for (;;) {
          const step = steps.next();
          if (step.done === true) {
            out.push(step.value);
            break;
          }
          await slicer.pause();
        }
        await slicer.pause();
      }
      return out;
    },
    countTokens: (text) => embedder.encode(text).ids.length,
  };
}

/** Options for {@link createEmbeddingCache}. */
export interface EmbeddingCacheOptions {
  /** Upper bound on cached matrix bytes plus key bytes; least recently used entries go first. Default 256 MiB. */
  readonly maxBytes?: number;
}

/** One upstream call for the texts a caller missed, shared with later callers that want the same texts. */
interface SharedCall {
  readonly controller: AbortController;
  /** Callers (of any key of this call) still waiting for it. */
  waiters: number;
  settled: boolean;
}

interface Pending {
  readonly promise: Promise<EmbeddedText>;
  readonly call: SharedCall;
}

/**
 * A bounded LRU cache in front of a {@link TextEmbedder}, keyed by model and exact text, so repeated candidate
 * documents are embedded once. Concurrent requests for the same text share one upstream call; failures are not
 * cached. A shared call belongs to nobody: one caller's abort or deadline only ends that caller's wait (it
 * rejects with `E_ABORTED`), and the upstream call is cancelled only when every caller waiting on it has gone.
 *
 * @example
 * const cached = createEmbeddingCache(embedder, { maxBytes: 64 << 20 });
 * const [a, b] = await cached.embed(['same text', 'same text']); // one upstream embedding
 */
export function createEmbeddingCache(
  embedder: TextEmbedder,
  options: EmbeddingCacheOptions = {},
): TextEmbedder & { readonly stats: { hits: number; misses: number; bytes: number; entries: number } } {
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  const entries = new Map<string, { matrix: EmbeddedText; bytes: number }>();
  const inflight = new Map<string, Pending>();
  const stats = { hits: 0, misses: 0, bytes: 0, entries: 0 };

  const keyOf = (text: string): string => `${embedder.model}\u0000${text}`;

  const remember = (key: string, matrix: EmbeddedText): void => {
    const bytes = matrix.data.byteLength + key.length * 2 + 64;
    if (bytes > maxBytes) return;
    const old = entries.get(key);
    if (old !== undefined) {
      entries.delete(key);
      stats.bytes -= old.bytes;
    }
    entries.set(key, { matrix, bytes });
    stats.bytes += bytes;
    // Map iteration order is insertion order: the first key is the least recently used.
    for (const [k, v] of entries) {
      if (stats.bytes <= maxBytes) break;
      entries.delete(k);
      stats.bytes -= v.bytes;
    }
    stats.entries = entries.size;
  };

  /** Starts one upstream call for `texts`, under a signal of its own that no single caller owns. */
  const startCall = (texts: string[], keys: string[]): { call: SharedCall; promises: Promise<EmbeddedText>[] } => {
    const call: SharedCall = { controller: new AbortController(), waiters: 0, settled: false };
    const settle: { resolve: (m: EmbeddedText) => void; reject: (e: unknown) => void }[] = [];
    const promises = keys.map((key) => {
      const promise = new Promise<EmbeddedText>((resolve, reject) => settle.push({ resolve, reject }));
      // Waiters attach their own handlers; this one keeps a rejection nobody waits for any more (every caller
      // aborted) from being reported as unhandled.
      promise.catch(() => undefined);
      inflight.set(key, { promise, call });
      return promise;
    });
    embedder
      .embed(texts, { signal: call.controller.signal })
      .then(
        (matrices) => {
          keys.forEach((key, j) => {
            remember(key, matrices[j]!);
            settle[j]!.resolve(matrices[j]!);
          });
        },
        (err: unknown) => {
          for (const s of settle) s.reject(err);
        },
      )
      .finally(() => {
        call.settled = true;
        for (const key of keys) if (inflight.get(key)?.call === call) inflight.delete(key);
      });
    return { call, promises };
  };

  const embed = async (texts: readonly string[], opts: { signal?: AbortSignal } = {}): Promise<EmbeddedText[]> => {
    const { signal } = opts;
    if (signal?.aborted === true) throw new AbortedError('embedding', signal.reason);
    const out = new Array<Promise<EmbeddedText>>(texts.length);
    const calls = new Set<SharedCall>();
    const missing: string[] = [];
    const missingKeys: string[] = [];
    const missingAt: number[] = [];
    texts.forEach((text, i) => {
      const key = keyOf(text);
      const hit = entries.get(key);
      if (hit !== undefined) {
        entries.delete(key);
        entries.set(key, hit);
        stats.hits++;
        out[i] = Promise.resolve(hit.matrix);
        return;
      }
      const pending = inflight.get(key);
      // A call whose every waiter left is being cancelled: do not join it, start afresh.
      if (pending !== undefined && !pending.call.controller.signal.aborted) {
        stats.hits++;
        out[i] = pending.promise;
        calls.add(pending.call);
        return;
      }
      const first = missingKeys.indexOf(key);
      if (first >= 0) {
        stats.hits++;
        missingAt.push(i);
        return;
      }
      stats.misses++;
      missing.push(text);
      missingKeys.push(key);
      missingAt.push(i);
    });
    if (missing.length > 0) {
      const { call, promises } = startCall(missing, missingKeys);
      calls.add(call);
      for (const i of missingAt) out[i] = promises[missingKeys.indexOf(keyOf(texts[i]!))]!;
    }
    for (const call of calls) call.waiters++;
    try {
      return await untilAborted(Promise.all(out), signal);
    } finally {
      for (const call of calls) {
        call.waiters--;
        if (call.waiters === 0 && !call.settled) call.controller.abort(new Error('every caller waiting for it left'));
      }
    }
  };

  return { model: embedder.model, embed, stats, ...countTokensOf(embedder) };
}

function countTokensOf(embedder: TextEmbedder): Pick<TextEmbedder, 'countTokens'> {
  const count = embedder.countTokens;
  return count === undefined ? {} : { countTokens: (text: string) => count.call(embedder, text) };
}

/** `promise`, or an `E_ABORTED` rejection as soon as `signal` aborts (the promise itself runs on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError('embedding', signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
