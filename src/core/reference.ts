import { DimensionMismatchError, InvalidArgumentError } from './errors.js';
import type { TokenMatrix } from './token-matrix.js';

/**
 * How per-query-token maxima are combined into one score.
 * - `'sum'` (default): Σ over query tokens of the best dot product. ColBERT's original MaxSim and vLLM's
 *   `/score` late-interaction route (`compute_maxsim_score`) use this.
 * - `'mean'`: the same sum divided by the number of query tokens. BGE-M3's FlagEmbedding `colbert_score`
 *   uses this, so scores stay in [-1, 1] for normalised vectors.
 * The ranking for one query is the same under both; only the numbers differ (by the factor `query.rows`).
 */
export type Scale = 'sum' | 'mean';

/** Score given to a document with no tokens (for a query with at least one token): the max over an empty set. */
export const EMPTY_DOCUMENT_SCORE = Number.NEGATIVE_INFINITY;

/**
 * MaxSim of one query against one document, accumulated in float64: for each query row, the largest dot
 * product with any document row; summed over query rows (or averaged with `scale: 'mean'`).
 * The yardstick every backend is tested against; O(Lq·Ld·d), so use a scorer for real work.
 *
 * Edge cases: a query with no rows scores 0 against everything; a document with no rows scores
 * {@link EMPTY_DOCUMENT_SCORE} (-Infinity) for any non-empty query, so it ranks below every other document.
 *
 * @example
 * const s = maxsimReference(query, doc);            // vLLM / ColBERT convention
 * const m = maxsimReference(query, doc, 'mean');    // BGE-M3 / FlagEmbedding convention
 */
export function maxsimReference(query: TokenMatrix, doc: TokenMatrix, scale: Scale = 'sum'): number {
  if (query.dim !== doc.dim) throw new DimensionMismatchError(query.dim, doc.dim, 'document');
  if (query.rows === 0) return 0;
  if (doc.rows === 0) return EMPTY_DOCUMENT_SCORE;
  const dim = query.dim;
  const q = query.data;
  const d = doc.data;
  let total = 0;
  for (let i = 0; i < query.rows; i++) {
    let best = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < doc.rows; j++) {
      let dot = 0;
      for (let c = 0; c < dim; c++) dot += q[i * dim + c]! * d[j * dim + c]!;
      if (dot > best) best = dot;
    }
    total += best;
  }
  return applyScale(total, query.rows, scale);
}

/** Turns a MaxSim sum into the requested scale. A query with no rows scores 0 under both. */
export function applyScale(sum: number, queryRows: number, scale: Scale): number {
  return scale === 'mean' && queryRows > 0 ? sum / queryRows : sum;
}

/** Throws unless `scale` is `'sum'` or `'mean'`. */
export function checkScale(scale: unknown): Scale {
  if (scale !== 'sum' && scale !== 'mean') {
    throw new InvalidArgumentError(`scale must be 'sum' or 'mean', got ${JSON.stringify(scale)}`);
  }
  return scale;
}
