// Reading vLLM's /pooling responses: the JSON envelope (items in `index` order, `usage`), and the checks that a
// token-level answer really is one (row counts against prompt tokens). Decoding the vectors is decode.ts's job.
import type { TokenMatrix } from '../core/token-matrix.js';
import type { MaxsimError } from '../core/errors.js';
import { PoolingEmbedTaskError, PoolingResponseError } from './errors.js';

/** Token counts the server reported, summed over requests. */
export interface PoolingUsage {
  readonly promptTokens: number;
  readonly totalTokens: number;
}

export function bytesOnlyNeedsTokenize(status: number, url: string): MaxsimError | undefined {
  if (status !== 404 && status !== 405) return undefined;
  return new PoolingResponseError(
    `encoding "bytes_only" sends no per-input shapes, so the client counts each text's tokens with /tokenize, ` +
      `but ${url} answered ${status}. Use encoding "bytes" or "base64", or pass token-id lists as inputs.`,
    { code: 'E_POOLING_ROW_COUNTS' },
  );
}

/**
 * Per-input rows from `/tokenize` counts and the body's total rows. Configuration B returns every token
 * (rows = count); configuration C drops `<s>` (rows = count − 1): the totals say which.
 */
export function reconcileRowCounts(counts: readonly number[], totalRows: number, url: string): number[] {
  const n = counts.length;
  const sum = counts.reduce((a, b) => a + b, 0);
  if (totalRows === n && sum !== n && sum !== 2 * n) {
    throw new PoolingEmbedTaskError(`${url}: the bytes_only body holds one row per input for ${sum} prompt tokens`);
  }
  const dropped = (sum - totalRows) / n;
  if (
    Number.isInteger(totalRows) &&
    Number.isInteger(dropped) &&
    (dropped === 0 || dropped === 1) &&
    counts.every((c) => c - dropped >= 0)
  ) {
    return counts.map((c) => c - dropped);
  }
  throw new PoolingResponseError(
    `${url}: the bytes_only body holds ${totalRows} rows but /tokenize counted ${sum} tokens for ${n} inputs, ` +
      'which fits neither "every token" nor "all but <s>": truncated body, wrong dim, or a model that filters ' +
      'tokens differently. Use encoding "bytes" (its metadata carries each shape).',
  );
}

export async function readJson(res: Response, url: string): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new PoolingResponseError(
      `${url} answered ${res.status} with a body that is not JSON (${(cause as Error).message}): ` +
        JSON.stringify(text.slice(0, 120)),
      { cause },
    );
  }
}

export interface PoolingItem {
  readonly index: number;
  readonly data: unknown;
}

/** The `data` list of a JSON response, checked and put in `index` order. */
export function checkItems(json: unknown, n: number, url: string): PoolingItem[] {
  const data = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) {
    throw new PoolingResponseError(`${url}: response has no "data" list (got ${JSON.stringify(json)?.slice(0, 120)})`);
  }
  if (data.length !== n) {
    throw new PoolingResponseError(`${url}: response has ${data.length} items for ${n} inputs`);
  }
  const items = new Array<PoolingItem>(n);
  for (let k = 0; k < n; k++) {
    const item = data[k] as { index?: unknown; data?: unknown } | null;
    const index = item?.index;
    if (
      typeof index !== 'number' ||
      !Number.isInteger(index) ||
      index < 0 ||
      index >= n ||
      items[index] !== undefined
    ) {
      throw new PoolingResponseError(
        `${url}: item ${k} has index ${JSON.stringify(index)}; expected each of 0..${n - 1} exactly once`,
      );
    }
    items[index] = { index, data: item!.data };
  }
  return items;
}

export function firstRowLength(items: readonly PoolingItem[]): number | undefined {
  for (const item of items) {
    const first: unknown = Array.isArray(item.data) ? item.data[0] : undefined;
    if (Array.isArray(first)) return first.length;
  }
  return undefined;
}

export function readUsage(json: unknown): PoolingUsage | undefined {
  const usage = (json as { usage?: { prompt_tokens?: unknown; total_tokens?: unknown } } | null)?.usage;
  if (usage === null || typeof usage !== 'object' || typeof usage.prompt_tokens !== 'number') return undefined;
  return {
    promptTokens: usage.prompt_tokens,
    totalTokens: typeof usage.total_tokens === 'number' ? usage.total_tokens : usage.prompt_tokens,
  };
}

/**
 * base64 has no shape, so an `embed`-task server's one `[dim]` vector per input would decode as one row. A
 * token-level server returns (about) one row per prompt token: every input one row while the prompts were
 * longer than two tokens each means pooled vectors.
 */
export function checkTokenLevel(matrices: readonly TokenMatrix[], usage: PoolingUsage | undefined, url: string): void {
  const n = matrices.length;
  if (n === 0 || usage === undefined || !matrices.every((m) => m.rows === 1)) return;
  if (usage.promptTokens !== n && usage.promptTokens !== 2 * n) {
    throw new PoolingEmbedTaskError(
      `${url}: all ${n} items decoded to a single row while the prompts had ${usage.promptTokens} tokens`,
    );
  }
}

export function dropFirstRow(m: TokenMatrix): TokenMatrix {
  if (m.rows === 0) return m;
  return { data: m.data.subarray(m.dim), rows: m.rows - 1, dim: m.dim };
}
