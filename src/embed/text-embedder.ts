import type { HashEmbedder } from './hash-embedder.js';
import type { PoolingClient } from '../pooling/client.js';
import type { TokenMatrix } from '../core/token-matrix.js';

/** A text's token matrix, with its prompt's token count when that differs from `rows` (e.g. `<s>` dropped). */
export interface EmbeddedText extends TokenMatrix {
  /** Tokens the model read for this text; absent means `rows`. */
  readonly promptTokens?: number;
}

/** Anything that turns texts into token matrices: a vLLM `/pooling` client, the built-in hashing embedder, ... */
export interface TextEmbedder {
  /** The model name reported to callers and used in cache keys. */
  readonly model: string;
  /** One matrix per text, in input order. */
  embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<EmbeddedText[]>;
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
 * A {@link TextEmbedder} over the built-in hashing embedder (lexical, no server; see `createHashEmbedder`).
 *
 * @example
 * const embedder = hashTextEmbedder(createHashEmbedder({ dim: 128 }));
 */
export function hashTextEmbedder(embedder: HashEmbedder, model = `hash-embedder-d${embedder.dim}`): TextEmbedder {
  return {
    model,
    embed: async (texts, options = {}) => {
      options.signal?.throwIfAborted();
      return texts.map((t) => embedder.embedText(t));
    },
  };
}

/** Options for {@link createEmbeddingCache}. */
export interface EmbeddingCacheOptions {
  /** Upper bound on cached matrix bytes plus key bytes; least recently used entries go first. Default 256 MiB. */
  readonly maxBytes?: number;
}

/**
 * A bounded LRU cache in front of a {@link TextEmbedder}, keyed by model and exact text, so repeated candidate
 * documents are embedded once. Concurrent requests for the same text share one upstream call; failures are not
 * cached.
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
  const inflight = new Map<string, Promise<EmbeddedText>>();
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

  const embed = async (texts: readonly string[], opts: { signal?: AbortSignal } = {}): Promise<EmbeddedText[]> => {
    const out = new Array<Promise<EmbeddedText>>(texts.length);
    const missing: string[] = [];
    const missingKeys: string[] = [];
    const settle = new Map<string, { resolve: (m: EmbeddedText) => void; reject: (e: unknown) => void }>();
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
      if (pending !== undefined) {
        stats.hits++;
        out[i] = pending;
        return;
      }
      stats.misses++;
      const promise = new Promise<EmbeddedText>((resolve, reject) => settle.set(key, { resolve, reject }));
      // Callers that share this promise attach their own handlers; this one only keeps an unobserved
      // rejection from being reported as unhandled when every sharer has gone.
      promise.catch(() => undefined);
      inflight.set(key, promise);
      missing.push(text);
      missingKeys.push(key);
      out[i] = promise;
    });
    if (missing.length > 0) {
      try {
        const matrices = await embedder.embed(missing, opts);
        missingKeys.forEach((key, j) => {
          const m = matrices[j]!;
          remember(key, m);
          settle.get(key)!.resolve(m);
        });
      } catch (err) {
        for (const key of missingKeys) settle.get(key)!.reject(err);
      } finally {
        for (const key of missingKeys) inflight.delete(key);
      }
    }
    return Promise.all(out);
  };

  return { model: embedder.model, embed, stats };
}
