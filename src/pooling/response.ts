// Reading vLLM's /pooling responses: the JSON envelope (items in `index` order, `usage`), and the checks that a
// token-level answer really is one (row counts against prompt tokens). Decoding the vectors is decode.ts's job.
import type { TokenMatrix } from '../core/token-matrix.js';
import type { MaxsimError } from '../core/errors.js';
import { BodyStreamError, PoolingEmbedTaskError, PoolingResponseError } from './errors.js';

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

/** Default `maxResponseBytes`: 256 MiB, far above any batch of ordinary texts (a 32 × 512-token base64 batch at dim 1024 is ~90 MB). */
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

function tooLarge(url: string, cap: number, declared?: number): PoolingResponseError {
  return new PoolingResponseError(
    `${url} sent a response body of more than ${cap} bytes${declared === undefined ? '' : ` (it declared ${declared})`}: ` +
      'the limit is maxResponseBytes. Lower batchSize so each response holds fewer inputs, or raise maxResponseBytes.',
    { code: 'E_POOLING_TOO_LARGE' },
  );
}

/**
 * Reads a response body chunk by chunk, refusing it (and cancelling the rest) past `cap` bytes: checked on the
 * declared Content-Length first, then on what arrives (chunked bodies have none). `onChunk` sees each chunk (the
 * text reader decodes as it goes). A body that stops arriving is a {@link BodyStreamError}, worth a retry.
 */
async function readChunks(
  res: Response,
  cap: number,
  url: string,
  onChunk: (chunk: Uint8Array) => void,
): Promise<number> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > cap) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(url, cap, declared);
  }
  if (res.body === null) return 0;
  const reader = res.body.getReader();
  let total = 0;
  for (;;) {
    let step: ReadableStreamReadResult<Uint8Array>;
    try {
      step = await reader.read();
    } catch (cause) {
      throw new BodyStreamError(total, cause);
    }
    if (step.done) return total;
    total += step.value.byteLength;
    if (total > cap) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(url, cap);
    }
    onChunk(step.value);
  }
}

/** The whole body as bytes, at most `cap` of them. */
export async function readBytes(res: Response, cap: number, url: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const total = await readChunks(res, cap, url, (c) => chunks.push(c));
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** The body parsed as JSON (decoded as it arrives, at most `cap` bytes); anything else is a typed error naming why. */
export async function readJson(res: Response, url: string, cap = DEFAULT_MAX_RESPONSE_BYTES): Promise<unknown> {
  const decoder = new TextDecoder();
  const parts: string[] = [];
  let text: string;
  try {
    await readChunks(res, cap, url, (c) => parts.push(decoder.decode(c, { stream: true })));
    parts.push(decoder.decode());
    text = parts.join('');
  } catch (err) {
    if (err instanceof PoolingResponseError || err instanceof BodyStreamError) throw err;
    // e.g. a RangeError: the text is longer than this runtime's longest string.
    throw new PoolingResponseError(
      `${url}: the response body could not be read as text (${(err as Error).message}); lower batchSize or ` +
        "maxResponseBytes, or use encoding 'bytes'",
      { cause: err },
    );
  }
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

/**
 * Row counts against the server's own counts: every item must hold one row per prompt token, or one fewer
 * (configuration C drops `<s>`), so the rows of a response lie between `usage − n` and `usage`. Vectors of
 * another width (base64 has no shape: they read as more or fewer rows), missing rows and empty items fail here.
 * Token-id inputs are checked one by one (their length is known); a text always gives at least one row unless
 * the special tokens are off.
 */
export function checkRowCounts(
  matrices: readonly TokenMatrix[],
  usage: PoolingUsage | undefined,
  inputs: readonly (string | readonly number[])[],
  options: { addSpecialTokens?: boolean | undefined; truncated: boolean },
  url: string,
): void {
  const n = matrices.length;
  const rows = matrices.reduce((a, m) => a + m.rows, 0);
  const dim = matrices[0]?.dim;
  if (usage !== undefined && (usage.promptTokens < rows || usage.promptTokens > rows + n)) {
    throw new PoolingResponseError(
      `${url}: the ${n} items hold ${rows} rows of ${dim} values but usage counts ${usage.promptTokens} prompt ` +
        'tokens; a token-level server returns one row per prompt token (or one fewer per input, <s> dropped). ' +
        'Vectors of another width than the client expects, or a response that lost rows.',
      { code: 'E_POOLING_ROW_COUNTS' },
    );
  }
  matrices.forEach((m, i) => {
    const input = inputs[i];
    if (typeof input === 'string') {
      if (m.rows === 0 && options.addSpecialTokens !== false) {
        throw new PoolingResponseError(
          `${url}: item ${i} has no rows, but a text with special tokens gives at least one row per token`,
          { code: 'E_POOLING_ROW_COUNTS' },
        );
      }
    } else if (input !== undefined) {
      const tooFew = !options.truncated && m.rows < input.length - 1;
      if (m.rows > input.length || tooFew) {
        throw new PoolingResponseError(
          `${url}: item ${i} has ${m.rows} rows for a prompt of ${input.length} token ids`,
          { code: 'E_POOLING_ROW_COUNTS' },
        );
      }
    }
  });
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
