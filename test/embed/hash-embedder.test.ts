import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { BOS_TOKEN_ID, EOS_TOKEN_ID, HASH_VOCAB_SIZE, createHashEmbedder } from '../../src/embed/hash-embedder.js';
import { maxsimReference } from '../../src/core/reference.js';
import { tokenRow, type TokenMatrix } from '../../src/core/token-matrix.js';

function norms(m: TokenMatrix): number[] {
  const out: number[] = [];
  for (let r = 0; r < m.rows; r++) out.push(Math.hypot(...tokenRow(m, r)));
  return out;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += a[i]! * b[i]!;
  return d / (Math.hypot(...a) * Math.hypot(...b));
}

describe('hash embedder: tokenizer', () => {
  const e = createHashEmbedder({ dim: 64 });

  it('splits lower-cased words and punctuation, marking word starts', () => {
    expect(e.tokenize('Hello, World!')).toEqual(['▁hello', ',', '▁world', '!']);
    expect(e.tokenize('  naïve   CAFÉ ')).toEqual(['▁naïve', '▁café']);
    expect(e.tokenize('')).toEqual([]);
  });

  it('splits long words into subword pieces and CJK into single characters', () => {
    const pieces = e.tokenize('internationalization');
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces[0]!.startsWith('▁')).toBe(true);
    expect(pieces.slice(1).every((p) => !p.startsWith('▁'))).toBe(true);
    expect(pieces.join('').replace('▁', '')).toBe('internationalization');
    expect(e.tokenize('東京タワー')).toHaveLength(5);
    expect(createHashEmbedder({ dim: 8, maxWordLength: Infinity }).tokenize('internationalization')).toEqual([
      '▁internationalization',
    ]);
  });

  it('encodes with <s>=0 and </s>=2 around the text unless addSpecialTokens is false', () => {
    const withSpecials = e.encode('The capital of France is');
    expect(withSpecials.ids[0]).toBe(BOS_TOKEN_ID);
    expect(withSpecials.ids[withSpecials.ids.length - 1]).toBe(EOS_TOKEN_ID);
    expect(withSpecials.tokens[0]).toBe('<s>');
    expect(withSpecials.ids).toHaveLength(e.tokenize('The capital of France is').length + 2);
    const bare = e.encode('The capital of France is', { addSpecialTokens: false });
    expect(bare.ids).toEqual(withSpecials.ids.slice(1, -1));
    for (const id of bare.ids) {
      expect(id).toBeGreaterThanOrEqual(4);
      expect(id).toBeLessThan(HASH_VOCAB_SIZE);
    }
    // A vocabulary id is a property of the token, not of its position or the embedder's seed.
    expect(e.encode('france')).toEqual(createHashEmbedder({ dim: 8, seed: 9 }).encode('France'));
  });
});

describe('hash embedder: vectors', () => {
  it('returns one L2-normalised row per token, raw rows with normalize: false', () => {
    const e = createHashEmbedder({ dim: 48 });
    const m = e.embedText('Hello, my name is');
    expect(m.dim).toBe(48);
    expect(m.rows).toBe(e.encode('Hello, my name is').ids.length);
    for (const n of norms(m)) expect(n).toBeCloseTo(1, 5);
    const raw = e.embedText('Hello, my name is', { normalize: false });
    expect(raw.rows).toBe(m.rows);
    for (const n of norms(raw)) expect(Math.abs(n - 1)).toBeGreaterThan(0.5);
    // Normalising the raw rows gives the default rows.
    for (let r = 0; r < m.rows; r++) {
      const row = tokenRow(raw, r);
      const n = Math.hypot(...row);
      row.forEach((v, c) => {
        expect(v / n).toBeCloseTo(m.data[r * 48 + c]!, 5);
      });
    }
    expect(e.embedText('Hello', { addSpecialTokens: false }).rows).toBe(1);
  });

  it('is deterministic: same seed → identical bits, other seed → another space', () => {
    const text = 'Deterministic hashing embeddings, across runtimes: 42 × π!';
    const a = createHashEmbedder({ dim: 96, seed: 7 }).embedText(text);
    const b = createHashEmbedder({ dim: 96, seed: 7 }).embedText(text);
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
    const c = createHashEmbedder({ dim: 96, seed: 8 }).embedText(text);
    expect(Math.abs(cosine(tokenRow(a, 1), tokenRow(c, 1)))).toBeLessThan(0.5);
    // The memo cache must not change results: embed other texts in between and compare again.
    const e = createHashEmbedder({ dim: 96, seed: 7 });
    e.embedText('fill the cache with other words first');
    expect(Array.from(e.embedText(text).data)).toEqual(Array.from(a.data));
  });

  it('embeds token-id prompts one row per id, and rejects ids outside the vocabulary', () => {
    const e = createHashEmbedder({ dim: 32 });
    const ids = e.encode('late interaction scoring').ids;
    const m = e.embedTokenIds(ids);
    expect(m.rows).toBe(ids.length);
    for (const n of norms(m)) expect(n).toBeCloseTo(1, 5);
    expect(Array.from(e.embedTokenIds(ids).data)).toEqual(Array.from(m.data));
    expect(() => e.embedTokenIds([5, HASH_VOCAB_SIZE])).toThrow(InvalidArgumentError);
    expect(() => e.embedTokenIds([1.5])).toThrow(/outside the vocabulary/);
  });

  it('gives the same word in two texts nearly the same row, and unrelated words nearly orthogonal rows', () => {
    const e = createHashEmbedder({ dim: 256 });
    const a = e.embedText('the capital of france', { addSpecialTokens: false });
    const b = e.embedText('france is in europe', { addSpecialTokens: false });
    const at = (text: string, token: string): number => e.tokenize(text).indexOf(token);
    const franceA = tokenRow(a, at('the capital of france', '▁france'));
    const franceB = tokenRow(b, at('france is in europe', '▁france'));
    expect(cosine(franceA, franceB)).toBeGreaterThan(0.7);
    const of = tokenRow(a, at('the capital of france', '▁of'));
    const europe = tokenRow(b, at('france is in europe', '▁europe'));
    expect(Math.abs(cosine(of, europe))).toBeLessThan(0.35);
    // Character trigrams: an inflection scores between "same word" and "unrelated".
    const inflected = cosine(
      tokenRow(e.embedText('embedding', { addSpecialTokens: false }), 0),
      tokenRow(e.embedText('embeddings', { addSpecialTokens: false }), 0),
    );
    expect(inflected).toBeGreaterThan(0.3);
  });

  it('ranks documents that share words with the query above unrelated ones (MaxSim)', () => {
    const e = createHashEmbedder({ dim: 128 });
    const docs = [
      'Paris is the capital and largest city of France.',
      'The mitochondria is the powerhouse of the cell.',
      'Bananas are rich in potassium and grow in tropical climates.',
      'Rust guarantees memory safety without a garbage collector.',
      'The Eiffel Tower was completed in 1889.',
    ].map((t) => e.embedText(t));
    const cases: [string, number][] = [
      ['capital of France', 0],
      ['powerhouse cell', 1],
      ['potassium bananas', 2],
      ['memory safety garbage collector', 3],
      ['when was the Eiffel Tower completed', 4],
    ];
    for (const [query, best] of cases) {
      const q = e.embedText(query);
      const scores = docs.map((d) => maxsimReference(q, d, 'mean'));
      const others = scores.filter((_, i) => i !== best);
      expect(scores[best]!, query).toBeGreaterThan(Math.max(...others) + 0.1);
    }
  });

  it('rejects bad options with InvalidArgumentError', () => {
    expect(() => createHashEmbedder({ dim: 0 })).toThrow(InvalidArgumentError);
    expect(() => createHashEmbedder({ dim: 1.5 })).toThrow(/dim/);
    expect(() => createHashEmbedder({ seed: 0.5 })).toThrow(/seed/);
  });
});
