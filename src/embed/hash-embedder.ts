// A deterministic, dependency-free token embedder built from hashing. It is LEXICAL, not a neural model: two
// tokens get similar vectors when they are the same word, share character trigrams, or stand next to the same
// neighbours. That is enough to make late-interaction (MaxSim) scores reward word overlap, which is what tests,
// demos and a stand-in /pooling server need, with no weights to download and bit-identical output everywhere.
import { InvalidArgumentError } from '../core/errors.js';
import { fmix32 } from '../core/seeded-random.js';
import type { TokenMatrix } from '../core/token-matrix.js';

/** Token id of `<s>` (BOS/CLS), as in XLM-RoBERTa / BGE-M3. */
export const BOS_TOKEN_ID = 0;
/** Token id of `<pad>`, as in XLM-RoBERTa / BGE-M3. */
export const PAD_TOKEN_ID = 1;
/** Token id of `</s>` (EOS/SEP), as in XLM-RoBERTa / BGE-M3. */
export const EOS_TOKEN_ID = 2;
/** Token id of `<unk>`, as in XLM-RoBERTa / BGE-M3. */
export const UNK_TOKEN_ID = 3;
/** Size of the simulated vocabulary (BGE-M3's): valid token ids are `0 … HASH_VOCAB_SIZE - 1`. */
export const HASH_VOCAB_SIZE = 250_002;

/** Options for {@link createHashEmbedder}. */
export interface HashEmbedderOptions {
  /** Vector width. Default 1024 (BGE-M3's). */
  readonly dim?: number;
  /** Seeds the random projections: different seeds give unrelated embedding spaces. Default 0. */
  readonly seed?: number;
  /**
   * Words longer than this many characters are split into subword pieces (about 5 characters each), so the row
   * count is close to a real subword tokenizer's. `Infinity` keeps whole words. Default 6.
   */
  readonly maxWordLength?: number;
}

/** Per-call options for the embedding functions. */
export interface HashEmbedOptions {
  /** Add `<s>` before and `</s>` after a text's tokens (as BGE-M3's tokenizer does). Default true. */
  readonly addSpecialTokens?: boolean;
  /** L2-normalise every row (vLLM's default `use_activation`). `false` returns the raw sums. Default true. */
  readonly normalize?: boolean;
}

/**
 * A tokenised text: parallel arrays of token ids and token strings (`null` for tokens known only by id, e.g.
 * the rows of a token-id prompt). Slice both arrays together to truncate.
 */
export interface HashEncoding {
  readonly ids: readonly number[];
  readonly tokens: readonly (string | null)[];
}

/**
 * The embedder made by {@link createHashEmbedder}. Every function is pure: the same input and options give
 * bit-identical output in every JavaScript runtime.
 */
export interface HashEmbedder {
  readonly dim: number;
  readonly seed: number;
  /** Lower-cased word and punctuation pieces of `text`, sentencepiece-style (`▁` starts a word). */
  tokenize(text: string): string[];
  /** Token ids and strings of `text`, with `<s>`/`</s>` unless `addSpecialTokens` is false. */
  encode(text: string, options?: Pick<HashEmbedOptions, 'addSpecialTokens'>): HashEncoding;
  /** One row per token of `text` (including `<s>` and `</s>` by default). */
  embedText(text: string, options?: HashEmbedOptions): TokenMatrix;
  /** One row per id of a pre-tokenised prompt; ids are used as given (no specials added). */
  embedTokenIds(ids: readonly number[], options?: Pick<HashEmbedOptions, 'normalize'>): TokenMatrix;
  /** One row per token of an encoding (from {@link HashEmbedder.encode}, possibly truncated). */
  embedEncoding(encoding: HashEncoding, options?: Pick<HashEmbedOptions, 'normalize'>): TokenMatrix;
  /**
   * {@link HashEmbedder.embedText} in steps of a few milliseconds each (about 16,384 values of work): call
   * `next()` until it is `done`; its `value` is then the same matrix `embedText` returns, bit for bit. Lets a
   * server yield to its event loop between steps instead of blocking it for one long text.
   */
  embedTextStepwise(text: string, options?: HashEmbedOptions): Iterator<undefined, TokenMatrix, undefined>;
}

/** Work per step of {@link HashEmbedder.embedTextStepwise}, in row values (rows × dim). */
const STEP_VALUES = 16_384;

// Feature weights. The token itself dominates, so a shared word is the strongest signal; character trigrams
// give partial credit to inflections and to the pieces of split words (embedding / embeddings); neighbour
// bigrams make a repeated word differ a little between contexts, as contextual models do.
const W_UNIGRAM = 1;
const W_TRIGRAMS = 0.7; // total over a token's trigrams
const W_NEIGHBOUR = 0.35;
const W_SPECIAL = 0.6; // `<s>` / `</s>`: their own feature plus the mean of the text's rows (like a pooled CLS)

// CJK ideographs and kana are a token each, as subword tokenizers mostly split them.
const TOKEN_PATTERN =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|(?:(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}])[\p{L}\p{M}\p{N}])+|[^\s\p{L}\p{M}\p{N}]/gu;
const WORD_START = '\u2581';
const CACHE_FLOATS = 1 << 22; // memoised token vectors: 32 MiB (Float64) at most per embedder
const PAGE_FLOATS = 1 << 16; // in pages of 512 KiB

/**
 * Creates a deterministic hashing token embedder: text → one L2-normalised `dim`-wide row per token, built from
 * seeded ±1 random projections of hashed features (the token id, its character trigrams, and its neighbour
 * bigrams). `<s>` (id 0) and `</s>` (id 2) rows carry the mean of the text's rows, like a pooled CLS.
 *
 * This is a lexical model, not a neural one: MaxSim with it rewards shared words and shared character
 * n-grams, never synonyms or meaning. Use it for tests, demos, benchmarks that need realistic shapes, and the
 * local `/pooling` stand-in server; use a real model (BGE-M3 behind vLLM) for retrieval quality.
 *
 * @example
 * const embedder = createHashEmbedder({ dim: 128 });
 * const q = embedder.embedText('capital of France');            // rows: <s>, capital, of, france, </s>
 * const d = embedder.embedText('Paris is the capital of France.');
 * const ids = embedder.encode('capital of France').ids;          // [0, …, 2]
 * const same = embedder.embedTokenIds(ids);                      // token-id prompt, one row per id
 */
export function createHashEmbedder(options: HashEmbedderOptions = {}): HashEmbedder {
  const dim = options.dim ?? 1024;
  const seed = options.seed ?? 0;
  const maxWordLength = options.maxWordLength ?? 6;
  if (!Number.isInteger(dim) || dim < 1) {
    throw new InvalidArgumentError(`createHashEmbedder: dim is ${String(dim)}, expected an integer >= 1`);
  }
  if (!Number.isInteger(seed)) {
    throw new InvalidArgumentError(`createHashEmbedder: seed is ${String(seed)}, expected an integer`);
  }
  if (!(maxWordLength >= 1)) {
    throw new InvalidArgumentError(
      `createHashEmbedder: maxWordLength is ${String(maxWordLength)}, expected a number >= 1 (or Infinity)`,
    );
  }
  const seedKey = fmix32(seed ^ 0x5bd1e995);
  const words = Math.ceil(dim / 32);
  // The memo lives in fixed pages of token vectors with an offset per token, not a typed array per token: tens of
  // thousands of small ArrayBuffers made every garbage collection of a long-running server slower, and one
  // growing slab stalled it for tens of milliseconds at each copy.
  const cache = new Map<string, number>();
  const pageFloats = Math.max(1, Math.floor(PAGE_FLOATS / dim)) * dim;
  const pages: Float64Array[] = [];
  let cachedFloats = 0;

  /** Adds `w · r(key)` to `acc`, where r(key) is a seeded pseudo-random ±1 vector. */
  function addFeature(acc: Float64Array, key: number, w: number): void {
    let s = fmix32(key ^ seedKey) || 0x9e3779b9;
    for (let k = 0; k < words; k++) {
      // xorshift32: 32 signs per step keeps this at ~1 add per dimension.
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      const base = k * 32;
      const end = Math.min(32, dim - base);
      for (let b = 0; b < end; b++) acc[base + b]! += (s >>> b) & 1 ? w : -w;
    }
  }

  /** The context-free part of a text token: unigram (by id) and character trigrams. Memoised. */
  function tokenVector(id: number, token: string): Float64Array {
    const hit = cache.get(token);
    if (hit !== undefined) {
      const page = pages[Math.floor(hit / pageFloats)]!;
      const at = hit % pageFloats;
      return page.subarray(at, at + dim);
    }
    if (cachedFloats + dim > CACHE_FLOATS) {
      cache.clear();
      cachedFloats = 0;
    }
    // Vectors never straddle pages: skip to the next page when this one has no room left.
    const room = pageFloats - (cachedFloats % pageFloats);
    if (room < dim) cachedFloats += room;
    const index = Math.floor(cachedFloats / pageFloats);
    pages[index] ??= new Float64Array(pageFloats);
    const at = cachedFloats % pageFloats;
    const v = pages[index]!.subarray(at, at + dim);
    v.fill(0);
    addFeature(v, mix(id, 0x11), W_UNIGRAM);
    const grams = trigrams(token);
    const wg = W_TRIGRAMS / Math.sqrt(grams.length);
    for (const g of grams) addFeature(v, mix(fnv1a(g), 0x22), wg);
    cache.set(token, cachedFloats);
    cachedFloats += dim;
    return v;
  }

  function tokenize(text: string): string[] {
    return pieces(text, maxWordLength);
  }

  function encode(text: string, opts: Pick<HashEmbedOptions, 'addSpecialTokens'> = {}): HashEncoding {
    const addSpecial = opts.addSpecialTokens ?? true;
    const ids: number[] = addSpecial ? [BOS_TOKEN_ID] : [];
    const tokens: string[] = addSpecial ? ['<s>'] : [];
    for (const token of tokenize(text)) {
      ids.push(vocabId(token));
      tokens.push(token);
    }
    if (addSpecial) {
      ids.push(EOS_TOKEN_ID);
      tokens.push('</s>');
    }
    return { ids, tokens };
  }

  function embedEncoding(encoding: HashEncoding, opts: Pick<HashEmbedOptions, 'normalize'> = {}): TokenMatrix {
    const steps = embedSteps(encoding, opts);
    for (;;) {
      const step = steps.next();
      if (step.done === true) return step.value;
    }
  }

  /** The work of {@link embedEncoding}, pausing (yielding) after every `STEP_VALUES` of row values. */
  function* embedSteps(
    encoding: HashEncoding,
    opts: Pick<HashEmbedOptions, 'normalize'>,
  ): Generator<undefined, TokenMatrix, undefined> {
    const { ids, tokens } = encoding;
    const rowsPerStep = Math.max(1, Math.floor(STEP_VALUES / dim));
    const n = ids.length;
    if (tokens.length !== n) {
      throw new InvalidArgumentError(`embedEncoding: ${n} ids but ${tokens.length} tokens; slice both together`);
    }
    // Each row is built in float64 in one scratch row and written out (scaled, as float32) as soon as it is final:
    // no float64 copy of the whole matrix, which was twice the output's size (64 MiB for a 32,768-character text
    // at dim 1024) and, fresh for every text, cost a page fault per 4 KiB on the thread that embeds.
    const data = new Float32Array(n * dim);
    const normalize = opts.normalize ?? true;
    const row = new Float64Array(dim);
    /** Writes the finished `row` as row `i` of `data`; `sq` is its squared norm. */
    const emit = (i: number, sq: number): void => {
      const scale = normalize ? (sq > 0 ? 1 / Math.sqrt(sq) : 0) : 1;
      const base = i * dim;
      for (let c = 0; c < dim; c++) data[base + c] = row[c]! * scale;
    };
    const context = new Float64Array(dim);
    let contextRows = 0;
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= HASH_VOCAB_SIZE) {
        throw new InvalidArgumentError(
          `token id ${String(id)} at position ${i} is outside the vocabulary (0 … ${HASH_VOCAB_SIZE - 1})`,
        );
      }
      if (isSpecial(id)) continue;
      const token = tokens[i] ?? null;
      if (token === null) {
        row.fill(0);
        addFeature(row, mix(id, 0x11), W_UNIGRAM);
      } else row.set(tokenVector(id, token));
      if (i > 0) addFeature(row, mix(mix(ids[i - 1]!, id), 0x44), W_NEIGHBOUR);
      if (i + 1 < n) addFeature(row, mix(mix(id, ids[i + 1]!), 0x44), W_NEIGHBOUR);
      let sq = 0;
      for (let c = 0; c < dim; c++) sq += row[c]! * row[c]!;
      const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
      for (let c = 0; c < dim; c++) context[c]! += row[c]! * inv;
      contextRows++;
      emit(i, sq);
      if ((i + 1) % rowsPerStep === 0) yield;
    }
    // Specials summarise the text (a pooled CLS / SEP) plus a feature of their own, scaled like a token row.
    let csq = 0;
    for (let c = 0; c < dim; c++) csq += context[c]! * context[c]!;
    const cscale = contextRows > 0 && csq > 0 ? Math.sqrt(dim) / Math.sqrt(csq) : 0;
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (!isSpecial(id)) continue;
      row.fill(0);
      addFeature(row, mix(id, 0x55), W_SPECIAL);
      for (let c = 0; c < dim; c++) row[c]! += context[c]! * cscale;
      let sq = 0;
      for (let c = 0; c < dim; c++) sq += row[c]! * row[c]!;
      emit(i, sq);
    }
    return { data, rows: n, dim };
  }

  return {
    dim,
    seed,
    tokenize,
    encode,
    embedText: (text, opts = {}) =>
      embedEncoding(
        encode(text, opts.addSpecialTokens === undefined ? {} : { addSpecialTokens: opts.addSpecialTokens }),
        opts.normalize === undefined ? {} : { normalize: opts.normalize },
      ),
    embedTokenIds: (ids, opts = {}) => embedEncoding({ ids, tokens: ids.map(() => null) }, opts),
    embedEncoding,
    embedTextStepwise: (text, opts = {}) =>
      embedSteps(
        encode(text, opts.addSpecialTokens === undefined ? {} : { addSpecialTokens: opts.addSpecialTokens }),
        opts.normalize === undefined ? {} : { normalize: opts.normalize },
      ),
  };
}

function pieces(text: string, maxWordLength: number): string[] {
  if (typeof text !== 'string') {
    throw new InvalidArgumentError(`expected a string to tokenize, got ${text === null ? 'null' : typeof text}`);
  }
  const out: string[] = [];
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(TOKEN_PATTERN)) {
    const w = m[0];
    const chars = Array.from(w);
    const isWord = /[\p{L}\p{M}\p{N}]/u.test(w);
    if (!isWord) {
      out.push(w);
      continue;
    }
    if (chars.length <= maxWordLength) {
      out.push(WORD_START + w);
      continue;
    }
    const count = Math.ceil(chars.length / 5);
    const size = chars.length / count;
    for (let k = 0; k < count; k++) {
      const piece = chars.slice(Math.round(k * size), Math.round((k + 1) * size)).join('');
      out.push(k === 0 ? WORD_START + piece : piece);
    }
  }
  return out;
}

function trigrams(token: string): string[] {
  // `▁` marks a word start already; `$` marks the end so suffixes are features too.
  const chars = Array.from(`${token.startsWith(WORD_START) ? token : `#${token}`}$`);
  if (chars.length <= 3) return [chars.join('')];
  const out: string[] = [];
  for (let i = 0; i + 3 <= chars.length; i++) out.push(chars[i]! + chars[i + 1]! + chars[i + 2]!);
  return out;
}

function isSpecial(id: number): boolean {
  return id === BOS_TOKEN_ID || id === EOS_TOKEN_ID;
}

/** Stable id of a token string in the simulated vocabulary (ids 0–3 are reserved for the specials). */
function vocabId(token: string): number {
  return 4 + (fnv1a(token) % (HASH_VOCAB_SIZE - 4));
}

/** FNV-1a over UTF-16 code units, finished with murmur3's fmix32 for avalanche. Unsigned 32-bit. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

function mix(a: number, b: number): number {
  return fmix32((Math.imul(a, 0x9e3779b1) ^ (b + 0x7f4a7c15 + (a << 6) + (a >>> 2))) >>> 0);
}
