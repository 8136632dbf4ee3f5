// The work of one /rerank or /score request, bounded: texts are embedded a chunk at a time (a few dozen texts,
// a few thousand tokens), each chunk is scored as soon as it is embedded and then let go, and every token is
// counted against the request's budget and the server's in-flight budget. So one request holds at most a couple
// of chunks of vectors (beyond the embedding cache, which has its own bound), cannot take more than its budget
// of work, and stops at the next chunk when its client leaves or its deadline passes.
import type { Scorer } from '../core/scorer.js';
import type { TokenMatrix } from '../core/token-matrix.js';
import { AbortedError } from '../core/errors.js';
import { TimeSlicer, yieldToEventLoop } from '../core/time-slicer.js';
import type { EmbeddedText, TextEmbedder } from '../embed/text-embedder.js';
import { ServiceError } from './http.js';

/** Token budgets: per request, and over every request in flight. */
export interface TokenBudgets {
  /** Token vectors one request may embed and score (query included). */
  readonly maxRequestTokens: number;
  /** Token vectors all requests in flight may hold together; past it a request gets 429. */
  readonly maxInflightTokens: number;
}

/** The server-wide count of tokens held by requests in flight. */
export class InflightTokens {
  held = 0;

  constructor(readonly limit: number) {}

  /** Takes `n` more tokens for a request that already holds `mine`, or throws 429 naming the limit. */
  take(n: number, mine: number): void {
    if (this.held + n > this.limit) {
      throw new ServiceError(
        429,
        'TooManyRequests',
        `the server is busy: requests in flight hold ${fmt(this.held)} tokens and this one needs ${fmt(mine + n)}; ` +
          `the limit is ${fmt(this.limit)} tokens in flight (maxInflightTokens, serve --max-inflight-tokens). ` +
          'Retry shortly.',
        null,
        { 'retry-after': '1' },
      );
    }
    this.held += n;
  }

  release(n: number): void {
    this.held -= n;
  }
}

/**
 * Texts per embedding chunk, and characters per chunk at dim 256 (a single longer text is a chunk of its own):
 * at most 16,384 characters, fewer for wider vectors (4,096 at dim 1024), so each chunk's response, decode and
 * packing stay a few megabytes and a few milliseconds of work.
 */
const CHUNK_TEXTS = 32;
const CHUNK_CHARS_AT_256 = 16_384;
/** Chunks being embedded at once: enough to keep a /pooling upstream busy, few enough to bound memory. */
const CHUNK_CONCURRENCY = 2;

/** What scoring the texts of a request gives. */
export interface ScoredTexts {
  /** One score per document: against the one query (1:N), or against its own query (N:N). */
  readonly scores: Float32Array;
  /** Prompt tokens of every text, each counted once. */
  readonly promptTokens: number;
}

/** One request's work. */
export interface ScoreJob {
  readonly embedder: TextEmbedder;
  readonly scorer: Scorer;
  readonly queries: readonly string[];
  /** Scored against `queries[0]` when there is one query, else against `queries[i]` (N:N). */
  readonly documents: readonly string[];
  readonly signal: AbortSignal;
  readonly budgets: TokenBudgets;
  readonly inflight: InflightTokens;
}

/**
 * Embeds and scores a request's texts under its budgets. Throws {@link ServiceError} 413 past the request's
 * budget and 429 past the server's in-flight budget; an abort surfaces as `E_ABORTED`.
 */
export async function scoreTexts(job: ScoreJob): Promise<ScoredTexts> {
  const { embedder, scorer, queries, documents, signal, budgets, inflight } = job;
  let held = 0;
  try {
    // An embedder that can count tokens cheaply (the built-in one) lets an oversized request be refused
    // before any embedding work.
    if (embedder.countTokens !== undefined) {
      const slicer = new TimeSlicer(signal, 'counting tokens');
      let total = 0;
      for (const t of [...queries, ...documents]) {
        total += embedder.countTokens(t);
        if (total > budgets.maxRequestTokens) throw overBudget(budgets, `at least ${fmt(total)}`);
        await slicer.pause();
      }
      inflight.take(total, 0);
      held = total;
    }
    let counted = 0;
    let promptTokens = 0;
    const count = (matrices: readonly EmbeddedText[]): void => {
      const rows = matrices.reduce((n, m) => n + m.rows, 0);
      promptTokens += matrices.reduce((n, m) => n + (m.promptTokens ?? m.rows), 0);
      counted += rows;
      if (counted > budgets.maxRequestTokens) throw overBudget(budgets, `more than ${fmt(counted)}`);
      if (counted > held) {
        inflight.take(counted - held, held);
        held = counted;
      }
    };

    const queryMatrices: EmbeddedText[] = [];
    for (const { start, end } of chunkTexts(queries, 2048)) {
      const matrices = await embedder.embed(queries.slice(start, end), { signal });
      count(matrices);
      for (const m of matrices) queryMatrices.push(m);
    }
    const scores = new Float32Array(documents.length);
    const dim = queryMatrices[0]?.dim ?? 256;
    const chunks = chunkTexts(
      documents,
      Math.min(16_384, Math.max(2048, Math.floor((CHUNK_CHARS_AT_256 * 256) / dim))),
    );
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks.length) {
        const { start, end } = chunks[next++]!;
        const docs = await embedder.embed(documents.slice(start, end), { signal });
        count(docs);
        // Decoding the chunk and packing it for the scorer are separate turns of the event loop.
        await yieldToEventLoop();
        if (signal.aborted) throw new AbortedError('scoring', signal.reason);
        if (queryMatrices.length === 1) {
          const [row] = await scorer.score([queryMatrices[0]!], docs);
          scores.set(row!, start);
        } else {
          for (let j = 0; j < docs.length; j++) {
            const [row] = await scorer.score([queryMatrices[start + j]!], [docs[j] as TokenMatrix]);
            scores[start + j] = row![0]!;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CHUNK_CONCURRENCY, chunks.length) }, worker));
    return { scores, promptTokens };
  } finally {
    inflight.release(held);
  }
}

/** Consecutive ranges of at most {@link CHUNK_TEXTS} texts and `maxChars` characters (one text at least). */
function chunkTexts(texts: readonly string[], maxChars: number): { start: number; end: number }[] {
  const chunks: { start: number; end: number }[] = [];
  let start = 0;
  while (start < texts.length) {
    let end = start;
    let chars = 0;
    do {
      chars += texts[end]!.length;
      end++;
    } while (end < texts.length && end - start < CHUNK_TEXTS && chars + texts[end]!.length <= maxChars);
    chunks.push({ start, end });
    start = end;
  }
  return chunks;
}

function overBudget(budgets: TokenBudgets, what: string): ServiceError {
  return new ServiceError(
    413,
    'Payload Too Large',
    `this request needs ${what} tokens; the limit is ${fmt(budgets.maxRequestTokens)} tokens per request ` +
      '(maxRequestTokens, serve --max-request-tokens). Send fewer or shorter documents.',
    'documents',
  );
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
