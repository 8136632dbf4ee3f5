// A client for vLLM's POST /pooling with token-level (`token_embed`) models such as BGE-M3: texts in, one
// TokenMatrix per text out. Universal core: only `fetch`, `AbortController`, timers and `crypto.randomUUID`
// when present, so it runs in browsers, Deno, Bun and Workers; the Node entry adds an undici dispatcher.
import {
  EMBED_DTYPES,
  EMBED_DTYPE_BYTES,
  ENDIANNESSES,
  POOLING_ENCODINGS,
  type EmbedDtype,
  type Endianness,
  type PoolingEncoding,
} from './dtypes.js';
import { InvalidArgumentError } from '../core/errors.js';
import { PoolingAbortedError, PoolingResponseError, PoolingTimeoutError } from './errors.js';
import { TimeSlicer } from '../core/time-slicer.js';
import {
  bytesOnlyNeedsTokenize,
  checkItems,
  checkRowCounts,
  DEFAULT_MAX_RESPONSE_BYTES,
  checkTokenLevel,
  dropFirstRow,
  firstRowLength,
  readBytes,
  readJson,
  readUsage,
  reconcileRowCounts,
  type PoolingUsage,
} from './response.js';
import { PoolingTransport, SiblingFailed, type CallContext } from './transport.js';
import {
  decodeBase64Matrix,
  decodeBytesBody,
  decodeFloatMatrix,
  parseBytesMetadata,
  splitBytesOnlyBody,
  type Base64Decoder,
} from './decode.js';
import type { TokenMatrix } from '../core/token-matrix.js';

export type { PoolingEncoding } from './dtypes.js';
export type { PoolingUsage } from './response.js';

/** One prompt: a text, or a pre-tokenised list of token ids (sent as is, no special tokens added). */
export type PoolingInput = string | readonly number[];

/** Progress of an {@link PoolingClient.embed} call, reported after each finished request. */
export interface PoolingProgress {
  /** Inputs embedded so far (the `{ done, total }` shape of `scorer.upload`'s progress). */
  readonly done: number;
  /** Inputs embedded so far (the same as `done`). */
  readonly completed: number;
  readonly total: number;
  /** Requests finished so far, and in all. */
  readonly requestsCompleted: number;
  readonly requests: number;
}

/** Options for {@link PoolingClient}. Only `baseUrl` (or `host`/`port`) matters for a default vLLM server. */
export interface PoolingClientOptions {
  /** Server root, e.g. `http://localhost:8000` (the client posts to `${baseUrl}/pooling`). Default from host/port. */
  readonly baseUrl?: string;
  /** Used when `baseUrl` is absent. Default `localhost`. */
  readonly host?: string;
  /** Used when `baseUrl` is absent. Default 8000 (vLLM's). */
  readonly port?: number;
  /** Served model name; omitted from requests when absent (the server then uses its only model). */
  readonly model?: string;
  /** Sent as `Authorization: Bearer …` (vLLM's `--api-key`). Never logged nor put in error messages. */
  readonly apiKey?: string;
  /** Wire format, default `'base64'` (works on every vLLM version, ~4× smaller than float JSON). */
  readonly encoding?: PoolingEncoding;
  /** Element type for base64/bytes (`embed_dtype`, v0.11.1+). Default `'float32'`. */
  readonly embedDtype?: EmbedDtype;
  /** Byte order asked for (`endianness`). Default `'little'`, always sent with base64/bytes. */
  readonly endianness?: Endianness;
  /**
   * Vector width. Binary encodings carry no shape, so without it the client learns it once with a one-input
   * float request (which also detects an `embed`-task server). Checked against every response.
   */
  readonly dim?: number;
  /**
   * `task` field, sent only when set. From vLLM v0.21 it must equal the task the server was started with
   * (`--pooler-config.task token_embed`), else 400; older servers pick `token_embed` for `/pooling` by default.
   */
  readonly task?: string;
  /** `truncate_prompt_tokens`: keep k tokens, or -1 for the model's maximum. Unset: over-long inputs are a 400. */
  readonly truncatePromptTokens?: number;
  /** `add_special_tokens` (server default true: BGE-M3 wraps texts in `<s>` … `</s>`). Sent only when set. */
  readonly addSpecialTokens?: boolean;
  /**
   * Drop the first row of every matrix: BGE-M3's ColBERT convention (FlagEmbedding's `colbert_vecs` skip `<s>`).
   * Use it with server configuration B (`--pooler-config.task token_embed` without the BgeM3EmbeddingModel
   * override), which returns every token; configuration C already drops `<s>` on the server (and applies
   * `colbert_linear`, which B does not), so leave this off there. See the README's "Embedding with vLLM" (configurations A, B, C).
   */
  readonly dropLeadingToken?: boolean;
  /** Inputs per request, capped at 1024 (vLLM's `VLLM_MAX_COMPLETION_PROMPTS`). Default 32. */
  readonly batchSize?: number;
  /** Requests in flight at once. Default 4. */
  readonly concurrency?: number;
  /** Per attempt, body included. Default 120000. */
  readonly timeoutMs?: number;
  /**
   * A bound on a whole `embed()` call: every request, retry and wait (a server's `Retry-After` included). A retry
   * whose wait would pass it is not made: the call fails at once with the server's error. Unset: no bound beyond
   * `timeoutMs` per attempt, `maxRetries` and `maxRetryDelayMs`.
   */
  readonly deadlineMs?: number;
  /**
   * Largest response body accepted, in bytes; a larger one is `E_POOLING_TOO_LARGE` (not retried). Default
   * 256 MiB. Lower it to bound memory per request; lower batchSize if real answers exceed it.
   */
  readonly maxResponseBytes?: number;
  /** Retries after the first attempt for connection errors, timeouts, 408, 409, 429 and 5xx (not 501). Default 2. */
  readonly maxRetries?: number;
  /** First backoff delay; doubles per retry, with jitter, up to `maxRetryDelayMs`. Default 500. */
  readonly retryDelayMs?: number;
  /** Longest wait between attempts, `Retry-After` included. Default 30000. */
  readonly maxRetryDelayMs?: number;
  /**
   * Response header budget of the HTTP stack (Node's fetch: 16 KiB). `bytes` requests are batched so vLLM's
   * `metadata` header (~110 bytes per input) fits. The Node entry's `createNodePoolingClient` raises both.
   */
  readonly maxHeaderSize?: number;
  /** Cancels every call of this client. */
  readonly signal?: AbortSignal;
  /** Called after each finished request. */
  readonly onProgress?: (progress: PoolingProgress) => void;
  /** A `fetch` to use instead of the global one (tests, proxies, undici with a custom dispatcher). */
  readonly fetch?: typeof fetch;
  /** A base64 decoder to use instead of the portable one (the Node entry passes a native, checked one). */
  readonly decodeBase64?: Base64Decoder;
}

/** Per-call options of {@link PoolingClient.embed}. */
export interface EmbedCallOptions {
  /** Cancels this call (in addition to the client's `signal`). */
  readonly signal?: AbortSignal;
  /** Called after each finished request of this call (in addition to the client's `onProgress`). */
  readonly onProgress?: (progress: PoolingProgress) => void;
}

/** What {@link PoolingClient.embed} returns. */
export interface EmbedResult {
  /** One matrix per input, in input order. */
  readonly matrices: TokenMatrix[];
  readonly usage: PoolingUsage;
  /**
   * Prompt tokens of each input, in input order: its rows, plus the row the server (configuration C) or
   * `dropLeadingToken` dropped. From the server's `usage` (or `/tokenize` for `bytes_only`); rows when the
   * server sends no usage.
   */
  readonly promptTokens: readonly number[];
  /** HTTP requests that succeeded (`/pooling` and `/tokenize`), retries not counted. */
  readonly requests: number;
}

/** vLLM's default cap on inputs per request (`VLLM_MAX_COMPLETION_PROMPTS`). */
export const MAX_PROMPTS_PER_REQUEST = 1024;
// Generous upper bound of one `bytes` metadata item (`{"index": 1023, "embed_dtype": "bfloat16", …}` ≈ 120 B),
// plus room for id/model/usage and the other response headers.
const METADATA_BYTES_PER_ITEM = 160;
const HEADER_RESERVE = 2048;

interface Batch {
  readonly start: number;
  readonly inputs: readonly PoolingInput[];
  readonly tokens: boolean;
}

interface BatchResult {
  readonly matrices: TokenMatrix[];
  readonly usage: PoolingUsage | undefined;
  readonly promptTokens: number[];
  readonly requests: number;
}

/**
 * A client for vLLM's `POST /pooling` returning one {@link TokenMatrix} per input (one row per token).
 * Splits large inputs into requests under the server's prompt cap, sends them with bounded concurrency,
 * retries transient failures, reassembles by `index`, and never returns partial or garbled matrices.
 *
 * @example
 * // vllm serve BAAI/bge-m3 --pooler-config.task token_embed
 * const client = new PoolingClient({ baseUrl: 'http://localhost:8000', model: 'BAAI/bge-m3' });
 * const { matrices } = await client.embed(['What is MaxSim?', 'MaxSim sums per-token maxima.']);
 * matrices[0].rows; // tokens of the first text (with <s> and </s>), matrices[0].dim === 1024
 */
export class PoolingClient {
  readonly baseUrl: string;
  readonly encoding: PoolingEncoding;
  readonly embedDtype: EmbedDtype;
  readonly endianness: Endianness;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  readonly maxResponseBytes: number;
  readonly deadlineMs: number | undefined;
  readonly #options: PoolingClientOptions;
  readonly #transport: PoolingTransport;
  #dim: number | undefined;

  constructor(options: PoolingClientOptions = {}) {
    this.#options = options;
    this.baseUrl = resolveBaseUrl(options);
    this.encoding = oneOf('encoding', options.encoding ?? 'base64', POOLING_ENCODINGS);
    this.embedDtype = oneOf('embedDtype', options.embedDtype ?? 'float32', EMBED_DTYPES);
    this.endianness = oneOf('endianness', options.endianness ?? 'little', ENDIANNESSES);
    const batchSize = positiveInt('batchSize', options.batchSize ?? 32);
    if (batchSize > MAX_PROMPTS_PER_REQUEST) {
      throw new InvalidArgumentError(
        `batchSize is ${batchSize}, above vLLM's ${MAX_PROMPTS_PER_REQUEST}-prompt cap per request ` +
          '(VLLM_MAX_COMPLETION_PROMPTS); use at most 1024',
      );
    }
    this.batchSize =
      this.encoding === 'bytes'
        ? Math.max(
            1,
            Math.min(
              batchSize,
              Math.floor(
                (positiveInt('maxHeaderSize', options.maxHeaderSize ?? 16384) - HEADER_RESERVE) /
                  METADATA_BYTES_PER_ITEM,
              ),
            ),
          )
        : batchSize;
    this.concurrency = positiveInt('concurrency', options.concurrency ?? 4);
    this.timeoutMs = positiveInt('timeoutMs', options.timeoutMs ?? 120_000);
    this.maxRetries = nonNegativeInt('maxRetries', options.maxRetries ?? 2);
    this.maxResponseBytes = positiveInt('maxResponseBytes', options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
    this.deadlineMs = options.deadlineMs === undefined ? undefined : positiveInt('deadlineMs', options.deadlineMs);
    if (options.dim !== undefined) positiveInt('dim', options.dim);
    if (options.truncatePromptTokens !== undefined) {
      const t = options.truncatePromptTokens;
      if (!Number.isInteger(t) || t < -1 || t === 0) {
        throw new InvalidArgumentError(`truncatePromptTokens is ${String(t)}, expected -1 or an integer >= 1`);
      }
    }
    this.#dim = options.dim;
    const f = options.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
    if (typeof f !== 'function') {
      throw new InvalidArgumentError('no fetch in this runtime: pass options.fetch (Node >= 18 has a global fetch)');
    }
    // Called as a plain function, never as a method of this client: browsers throw "Illegal invocation" when
    // window.fetch runs with another `this`.
    this.#transport = new PoolingTransport({
      baseUrl: this.baseUrl,
      fetch: (input, init) => f(input, init),
      apiKey: options.apiKey,
      timeoutMs: this.timeoutMs,
      maxRetries: this.maxRetries,
      retryDelayMs: options.retryDelayMs ?? 500,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
    });
  }

  /** The vector width, once known (from options or a response). */
  get dim(): number | undefined {
    return this.#dim;
  }

  /**
   * Embeds `inputs` (texts, or token-id lists) into one {@link TokenMatrix} each, in input order.
   * Throws {@link PoolingHttpError}, {@link PoolingResponseError} (incl. {@link PoolingEmbedTaskError}),
   * {@link PoolingTimeoutError}, {@link PoolingConnectionError} or {@link PoolingAbortedError}; on any failure
   * the in-flight requests of the call are cancelled and nothing is returned.
   *
   * @example
   * const { matrices, usage } = await client.embed(docs, { onProgress: (p) => console.log(p.completed) });
   */
  async embed(inputs: readonly PoolingInput[], options: EmbedCallOptions = {}): Promise<EmbedResult> {
    if (!Array.isArray(inputs)) {
      throw new InvalidArgumentError(`embed() takes an array of texts or token-id lists, got ${typeof inputs}`);
    }
    const batches = this.#plan(inputs);
    const controller = new AbortController();
    const signals = [this.#options.signal, options.signal].filter((s): s is AbortSignal => s !== undefined);
    const callerAborted = (): AbortSignal | undefined => signals.find((s) => s.aborted);
    const early = callerAborted();
    if (early !== undefined) throw new PoolingAbortedError(early.reason);
    const onAbort = (): void => controller.abort();
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
    const progress = [this.#options.onProgress, options.onProgress].filter(
      (p): p is (progress: PoolingProgress) => void => p !== undefined,
    );
    // The deadline aborts whatever is in flight; the transport reports it as a timeout, not as an abort.
    const deadline =
      this.deadlineMs === undefined ? undefined : { at: Date.now() + this.deadlineMs, ms: this.deadlineMs };
    const deadlineTimer = deadline === undefined ? undefined : setTimeout(() => controller.abort(), deadline.ms);
    const call: CallContext = { signal: controller.signal, callerAborted, deadline };
    try {
      if (
        inputs.length > 0 &&
        this.#dim === undefined &&
        (this.encoding === 'base64' || this.encoding === 'bytes_only')
      ) {
        await this.#learnDim(inputs[0]!, call);
      }
      const matrices: TokenMatrix[] = new Array<TokenMatrix>(inputs.length);
      const perInput: number[] = new Array<number>(inputs.length).fill(0);
      let promptTokens = 0;
      let totalTokens = 0;
      let requests = 0;
      let completed = 0;
      let requestsCompleted = 0;
      let failure: { error: unknown } | undefined;
      let next = 0;
      const worker = async (): Promise<void> => {
        while (failure === undefined && next < batches.length) {
          const batch = batches[next++]!;
          try {
            const result = await this.#runBatch(batch, call);
            if (failure !== undefined) return;
            // Reassembly by position inside the batch (the server's `index`), never by arrival order.
            result.matrices.forEach((m, i) => {
              matrices[batch.start + i] = m;
              perInput[batch.start + i] = result.promptTokens[i]!;
            });
            promptTokens += result.usage?.promptTokens ?? 0;
            totalTokens += result.usage?.totalTokens ?? 0;
            requests += result.requests;
            completed += batch.inputs.length;
            requestsCompleted++;
            const p = { done: completed, completed, total: inputs.length, requestsCompleted, requests: batches.length };
            for (const report of progress) report(p);
          } catch (error) {
            if (failure === undefined && !(error instanceof SiblingFailed)) {
              failure = { error };
              controller.abort();
            }
            return;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, batches.length) }, worker));
      if (failure !== undefined) throw failure.error;
      const aborted = callerAborted();
      if (aborted !== undefined) throw new PoolingAbortedError(aborted.reason);
      if (deadline !== undefined && controller.signal.aborted) {
        throw new PoolingTimeoutError(this.baseUrl, deadline.ms, 1, true);
      }
      return { matrices, usage: { promptTokens, totalTokens }, promptTokens: perInput, requests };
    } finally {
      clearTimeout(deadlineTimer);
      for (const s of signals) s.removeEventListener('abort', onAbort);
    }
  }

  /** Consecutive inputs of one kind (texts or token lists: vLLM wants one kind per request), batchSize at most. */
  #plan(inputs: readonly PoolingInput[]): Batch[] {
    const batches: Batch[] = [];
    let start = 0;
    while (start < inputs.length) {
      const tokens = isTokenList(inputs[start], start);
      let end = start + 1;
      while (end < inputs.length && end - start < this.batchSize && isTokenList(inputs[end], end) === tokens) end++;
      batches.push({ start, inputs: inputs.slice(start, end), tokens });
      start = end;
    }
    return batches;
  }

  async #learnDim(first: PoolingInput, call: CallContext): Promise<void> {
    const body = this.#body([first], 'float');
    const dim = await this.#transport.exchange('/pooling', body, call, async (res, ctx) => {
      const json = await readJson(res, ctx.url, this.maxResponseBytes);
      const items = checkItems(json, 1, ctx.url);
      const m = decodeFloatMatrix(items[0]!.data, { label: 'dim probe item 0' });
      checkRowCounts([m], readUsage(json), [first], this.#checkOptions(), ctx.url);
      return m.dim;
    });
    this.#commitDim(dim);
  }

  async #runBatch(batch: Batch, call: CallContext): Promise<BatchResult> {
    let rowCounts: number[] | undefined;
    let tokenizeRequests = 0;
    if (this.encoding === 'bytes_only') {
      const counted = await this.#countTokens(batch, call);
      rowCounts = counted.counts;
      tokenizeRequests = counted.requests;
    }
    const body = this.#body(batch.inputs, this.encoding);
    const result = await this.#transport.exchange('/pooling', body, call, async (res, ctx) => {
      const decoded = await this.#decode(res, ctx.url, batch, rowCounts, call.signal);
      // Every count the server gave is checked before anything is learned from the answer.
      if (rowCounts === undefined) {
        checkRowCounts(decoded.matrices, decoded.usage, batch.inputs, this.#checkOptions(), ctx.url);
      }
      this.#checkDims(decoded.matrices);
      if (decoded.matrices.length > 0) this.#commitDim(decoded.matrices[0]!.dim);
      return decoded;
    });
    const promptTokens = rowCounts ?? tokensPerItem(result.matrices, result.usage);
    const matrices = this.#options.dropLeadingToken === true ? result.matrices.map(dropFirstRow) : result.matrices;
    return { matrices, usage: result.usage, promptTokens, requests: 1 + tokenizeRequests };
  }

  #body(inputs: readonly PoolingInput[], encoding: PoolingEncoding): string {
    const o = this.#options;
    const body: Record<string, unknown> = {};
    if (o.model !== undefined && o.model !== '') body.model = o.model;
    body.input = inputs;
    body.encoding_format = encoding;
    if (encoding !== 'float') {
      body.embed_dtype = this.embedDtype;
      body.endianness = this.endianness;
    }
    if (o.task !== undefined) body.task = o.task;
    if (o.truncatePromptTokens !== undefined) body.truncate_prompt_tokens = o.truncatePromptTokens;
    if (o.addSpecialTokens !== undefined) body.add_special_tokens = o.addSpecialTokens;
    return JSON.stringify(body);
  }

  async #decode(
    res: Response,
    url: string,
    batch: Batch,
    rowCounts: number[] | undefined,
    signal: AbortSignal,
  ): Promise<{ matrices: TokenMatrix[]; usage: PoolingUsage | undefined }> {
    // Decoding a large answer is split into slices with yields between items, so a server using this client
    // keeps answering its other requests meanwhile.
    const slicer = new TimeSlicer(signal, 'decoding');
    const n = batch.inputs.length;
    const contentType = res.headers.get('content-type') ?? '';
    if (this.encoding === 'bytes' || this.encoding === 'bytes_only') {
      if (contentType.includes('json')) {
        throw new PoolingResponseError(
          `${url} answered JSON to encoding_format "${this.encoding}": the server predates vLLM ` +
            `${this.encoding === 'bytes' ? '0.11.1' : '0.13'}; use encoding "base64"`,
        );
      }
      const body = await readBytes(res, this.maxResponseBytes, url);
      if (this.encoding === 'bytes') {
        const meta = parseBytesMetadata(res.headers.get('metadata'), body.byteLength);
        if (meta.items.length !== n) {
          throw new PoolingResponseError(`${url}: metadata lists ${meta.items.length} items for ${n} inputs`);
        }
        const matrices = decodeBytesBody(body, meta, this.#dimOption());
        return { matrices, usage: meta.usage };
      }
      const dim = this.#dim!;
      const total = body.byteLength / (dim * EMBED_DTYPE_BYTES[this.embedDtype]);
      const counts = reconcileRowCounts(rowCounts!, total, url);
      const matrices = splitBytesOnlyBody(body, {
        rowCounts: counts,
        dim,
        dtype: this.embedDtype,
        endianness: this.endianness,
      });
      const promptTokens = rowCounts!.reduce((a, b) => a + b, 0);
      return { matrices, usage: { promptTokens, totalTokens: promptTokens } };
    }
    const json = await readJson(res, url, this.maxResponseBytes);
    const items = checkItems(json, n, url);
    const matrices: TokenMatrix[] = [];
    const hint = this.#dim ?? firstRowLength(items);
    for (const [i, item] of items.entries()) {
      matrices.push(
        this.encoding === 'float'
          ? decodeFloatMatrix(
              item.data,
              hint === undefined ? { label: `item ${i}` } : { dim: hint, label: `item ${i}` },
            )
          : decodeBase64Matrix(item.data, {
              dim: this.#dim!,
              dtype: this.embedDtype,
              endianness: this.endianness,
              label: `item ${i}`,
              ...(this.#options.decodeBase64 === undefined ? {} : { decodeBase64: this.#options.decodeBase64 }),
            }),
      );
      await slicer.pause();
    }
    const usage = readUsage(json);
    if (this.encoding === 'base64') checkTokenLevel(matrices, usage, url);
    return { matrices, usage };
  }

  #checkOptions(): { addSpecialTokens: boolean | undefined; truncated: boolean } {
    return {
      addSpecialTokens: this.#options.addSpecialTokens,
      truncated: this.#options.truncatePromptTokens !== undefined,
    };
  }

  /** Fixes the width once a response passed every check (concurrent batches must agree with it). */
  #commitDim(dim: number): void {
    if (this.#dim === undefined) this.#dim = dim;
    else if (this.#dim !== dim) {
      throw new PoolingResponseError(
        `the server sent ${dim}-wide vectors but this client has seen ${this.#dim}-wide ones: one client must talk ` +
          'to one model (or pass dim to match it)',
      );
    }
  }

  #dimOption(): { dim?: number } {
    return this.#dim === undefined ? {} : { dim: this.#dim };
  }

  /**
   * Every matrix of the client's life must share one width: the known one, or within a response its first
   * item's. Checks only; {@link PoolingClient.#commitDim} learns the width once everything else passed too.
   */
  #checkDims(matrices: readonly TokenMatrix[]): void {
    const expected = this.#dim ?? matrices[0]?.dim;
    for (let i = 0; i < matrices.length; i++) {
      const dim = matrices[i]!.dim;
      if (dim !== expected) {
        throw new PoolingResponseError(
          `item ${i} has ${dim}-wide vectors but ${this.#dim === undefined ? 'item 0 has' : 'this client has seen'} ` +
            `${expected}-wide ones: one client must talk to one model (or pass dim to match it)`,
        );
      }
    }
  }

  /** Row counts for `bytes_only`: token-id prompts count themselves, texts are counted by `/tokenize`. */
  async #countTokens(batch: Batch, call: CallContext): Promise<{ counts: number[]; requests: number }> {
    const o = this.#options;
    let requests = 0;
    const counts = await Promise.all(
      batch.inputs.map(async (input) => {
        let count: number;
        let maxModelLen: number | undefined;
        if (typeof input !== 'string') {
          count = input.length;
        } else {
          const body: Record<string, unknown> = { prompt: input };
          if (o.model !== undefined && o.model !== '') body.model = o.model;
          if (o.addSpecialTokens !== undefined) body.add_special_tokens = o.addSpecialTokens;
          const info = await this.#transport.exchange(
            '/tokenize',
            JSON.stringify(body),
            call,
            async (res, ctx) => {
              const json = (await readJson(res, ctx.url, this.maxResponseBytes)) as {
                count?: unknown;
                max_model_len?: unknown;
              };
              if (!Number.isInteger(json.count) || (json.count as number) < 0) {
                throw new PoolingResponseError(`${ctx.url}: response has no integer "count"`);
              }
              return {
                count: json.count as number,
                maxModelLen: Number.isInteger(json.max_model_len) ? (json.max_model_len as number) : undefined,
              };
            },
            bytesOnlyNeedsTokenize,
          );
          requests++;
          count = info.count;
          maxModelLen = info.maxModelLen;
        }
        const t = o.truncatePromptTokens;
        if (t !== undefined && t > 0) count = Math.min(count, t);
        if (t === -1 && maxModelLen !== undefined) count = Math.min(count, maxModelLen);
        return count;
      }),
    );
    return { counts, requests };
  }
}

/**
 * Each item's prompt tokens: its rows, plus one for each of the first `usage − Σ rows` items (configuration C
 * drops `<s>` from every item, so the surplus is one per item there, none with B).
 */
function tokensPerItem(matrices: readonly TokenMatrix[], usage: PoolingUsage | undefined): number[] {
  const rows = matrices.map((m) => m.rows);
  const surplus = usage === undefined ? 0 : usage.promptTokens - rows.reduce((a, b) => a + b, 0);
  return surplus > 0 && surplus <= rows.length ? rows.map((r, i) => r + (i < surplus ? 1 : 0)) : rows;
}

function resolveBaseUrl(o: PoolingClientOptions): string {
  let url = o.baseUrl;
  if (url === undefined) {
    const host = o.host ?? 'localhost';
    const port = o.port ?? 8000;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InvalidArgumentError(`port is ${String(port)}, expected an integer 1..65535`);
    }
    url = `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
  }
  if (!/^https?:\/\//i.test(url)) {
    throw new InvalidArgumentError(`baseUrl is ${JSON.stringify(url)}, expected http://host:port or https://…`);
  }
  return url.replace(/\/+$/, '');
}

function isTokenList(input: PoolingInput | undefined, i: number): boolean {
  if (typeof input === 'string') return false;
  if (Array.isArray(input) && input.every((t) => Number.isInteger(t) && t >= 0)) return true;
  throw new InvalidArgumentError(
    `input ${i} is ${Array.isArray(input) ? 'a list with a non-integer or negative token id' : typeof input}; ` +
      'each input must be a string or a list of token ids',
  );
}

function oneOf<T extends string>(name: string, value: T, allowed: readonly T[]): T {
  if (!allowed.includes(value)) {
    throw new InvalidArgumentError(`${name} is ${JSON.stringify(value)}, expected one of ${allowed.join(', ')}`);
  }
  return value;
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} is ${String(value)}, expected an integer >= 1`);
  }
  return value;
}

function nonNegativeInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${name} is ${String(value)}, expected an integer >= 0`);
  }
  return value;
}
