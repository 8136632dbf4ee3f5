// The scorer contract on the CPU backend: reference maths, properties, edge cases, rerank, destroy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createScorer,
  DimensionMismatchError,
  InvalidTokenMatrixError,
  maxsimReference,
  MaxsimError,
  tokenMatrixFromNested,
  type Scorer,
  type TokenMatrix,
} from '../../src/index.js';
import { randomDocs, randomMatrix, scoreMagnitude, seededRandom } from '../support/random.js';

const RELATIVE_TOLERANCE = 1e-5;

function expectClose(actual: Float32Array, query: TokenMatrix, docs: TokenMatrix[], scale: 'sum' | 'mean' = 'sum') {
  docs.forEach((doc, i) => {
    const ref = maxsimReference(query, doc, scale);
    if (!Number.isFinite(ref)) {
      expect(actual[i], `doc ${i}`).toBe(ref);
      return;
    }
    const bound = RELATIVE_TOLERANCE * Math.max(1, scoreMagnitude(query, doc));
    expect(Math.abs(actual[i]! - ref), `doc ${i}: got ${actual[i]}, reference ${ref}`).toBeLessThanOrEqual(bound);
  });
}

describe('cpu scorer', () => {
  let scorer: Scorer;
  beforeAll(async () => {
    scorer = await createScorer({ backend: 'cpu' });
  });
  afterAll(() => scorer.destroy());

  it('reports what it runs on', () => {
    expect(scorer.backend).toBe('cpu');
    expect(scorer.info.backend).toBe('cpu');
    expect(scorer.info.summary).toMatch(/^cpu/);
    expect(scorer.scale).toBe('sum');
  });

  it('matches the float64 reference on a shape grid', async () => {
    const rand = seededRandom(11);
    for (const dim of [1, 3, 5, 128]) {
      for (const lq of [1, 4, 5, 32]) {
        const docs = [
          ...randomDocs(rand, 6, 1, 40, dim),
          randomMatrix(rand, 1, dim),
          randomMatrix(rand, 0, dim),
          randomMatrix(rand, 67, dim),
        ];
        const queries = [randomMatrix(rand, lq, dim), randomMatrix(rand, 1, dim)];
        const scores = await scorer.score(queries, docs);
        expect(scores).toHaveLength(2);
        queries.forEach((q, i) => {
          expectClose(scores[i]!, q, docs);
        });
      }
    }
  });

  it('gives the same scores from an uploaded corpus as from plain arrays, call after call', async () => {
    const rand = seededRandom(12);
    const docs = randomDocs(rand, 20, 0, 30, 16);
    const queries = [randomMatrix(rand, 8, 16), randomMatrix(rand, 3, 16)];
    const corpus = await scorer.upload(docs);
    expect(corpus).toMatchObject({ count: 20, dim: 16, destroyed: false });
    const a = await scorer.score(queries, corpus);
    const b = await scorer.score(queries, docs);
    const c = await scorer.score(queries, corpus);
    expect(a).toEqual(b);
    expect(c).toEqual(a);
    corpus.destroy();
    corpus.destroy();
    expect(corpus.destroyed).toBe(true);
    await expect(scorer.score(queries, corpus)).rejects.toMatchObject({ code: 'E_DESTROYED' });
  });

  it('applies scale "mean" by dividing by the number of query rows', async () => {
    const rand = seededRandom(13);
    const docs = randomDocs(rand, 5, 1, 10, 8);
    const query = randomMatrix(rand, 6, 8);
    const mean = await createScorer({ backend: 'cpu', scale: 'mean' });
    const [sum] = await scorer.score([query], docs);
    const [avg] = await mean.score([query], docs);
    expectClose(avg!, query, docs, 'mean');
    sum!.forEach((s, i) => {
      expect(avg![i]).toBeCloseTo(s / 6, 6);
    });
    mean.destroy();
  });

  describe('properties', () => {
    const rand = seededRandom(21);
    const dim = 12;
    const query = randomMatrix(rand, 9, dim);
    const docs = randomDocs(rand, 12, 1, 25, dim);

    it('permuting a document’s tokens never changes its score', async () => {
      const [base] = await scorer.score([query], docs);
      const shuffled = docs.map((doc) => {
        const order = Array.from({ length: doc.rows }, (_, i) => i).sort(() => rand() - 0.5);
        const data = new Float32Array(doc.data.length);
        order.forEach((from, to) => {
          data.set(doc.data.subarray(from * dim, (from + 1) * dim), to * dim);
        });
        return { data, rows: doc.rows, dim };
      });
      const [after] = await scorer.score([query], shuffled);
      expect(after).toEqual(base);
    });

    it('adding a token to a document never lowers its score', async () => {
      const [base] = await scorer.score([query], docs);
      const grown = docs.map((doc) => {
        const extra = randomMatrix(rand, 1, dim);
        const data = new Float32Array(doc.data.length + dim);
        data.set(doc.data);
        data.set(extra.data, doc.data.length);
        return { data, rows: doc.rows + 1, dim };
      });
      const [after] = await scorer.score([query], grown);
      after!.forEach((s, i) => {
        expect(s).toBeGreaterThanOrEqual(base![i]!);
      });
    });

    it('a document’s score does not depend on which other documents are scored with it, or their order', async () => {
      const [all] = await scorer.score([query], docs);
      const reversed = [...docs].reverse();
      const [rev] = await scorer.score([query], reversed);
      rev!.forEach((s, i) => {
        expect(s).toBe(all![docs.length - 1 - i]);
      });
      for (let i = 0; i < docs.length; i += 3) {
        const [alone] = await scorer.score([query], [docs[i]!]);
        expect(alone![0]).toBe(all![i]);
      }
    });

    it('batching queries never changes a score', async () => {
      const others = [randomMatrix(rand, 3, dim), randomMatrix(rand, 1, dim)];
      const batch = await scorer.score([others[0]!, query, others[1]!], docs);
      const [single] = await scorer.score([query], docs);
      expect(batch[1]).toEqual(single);
    });
  });

  describe('edge cases', () => {
    it('a query with no rows scores 0 against every document, empty ones included', async () => {
      const docs = [tokenMatrixFromNested([[1, 0]]), tokenMatrixFromNested([], 2)];
      const [scores] = await scorer.score([tokenMatrixFromNested([], 2)], docs);
      expect([...scores!]).toEqual([0, 0]);
    });

    it('an empty document scores -Infinity and ranks below every other document', async () => {
      const docs = [tokenMatrixFromNested([], 2), tokenMatrixFromNested([[-1, -1]]), tokenMatrixFromNested([], 2)];
      const ranked = await scorer.rerank(tokenMatrixFromNested([[1, 1]]), docs);
      expect(ranked.map((r) => r.index)).toEqual([1, 0, 2]);
      expect(ranked[1]!.score).toBe(-Infinity);
    });

    it('no documents gives an empty array per query; no queries gives no arrays', async () => {
      const q = tokenMatrixFromNested([[1, 0]]);
      expect(await scorer.score([q], [])).toEqual([new Float32Array(0)]);
      expect(await scorer.score([], [q])).toEqual([]);
      expect(await scorer.rerank(q, [])).toEqual([]);
    });

    it('a dimension mismatch is a typed error naming both dims', async () => {
      const q = tokenMatrixFromNested([[1, 0, 0]]);
      const d = tokenMatrixFromNested([[1, 0]]);
      await expect(scorer.score([q], [d])).rejects.toThrow(DimensionMismatchError);
      await expect(scorer.score([q], [d])).rejects.toThrow(/dim 2 but 3 was expected/);
      const corpus = await scorer.upload([d]);
      await expect(scorer.score([q], corpus)).rejects.toThrow(/query 0 has dim 3 but 2 was expected/);
      await expect(scorer.upload([d, q])).rejects.toThrow(/document 1 has dim 3 but 2/);
      corpus.destroy();
    });

    it('non-finite input is a typed error at ingestion, not a NaN score', async () => {
      const bad = { data: new Float32Array([0, NaN]), rows: 1, dim: 2 };
      const good = tokenMatrixFromNested([[1, 0]]);
      await expect(scorer.upload([good, bad])).rejects.toThrow(InvalidTokenMatrixError);
      await expect(scorer.upload([good, bad])).rejects.toThrow(
        /document 1 has a non-finite value \(NaN\) at row 0, column 1/,
      );
      await expect(scorer.score([bad], [good])).rejects.toThrow(/query 0 has a non-finite value/);
    });

    it('rejects a corpus uploaded by another scorer', async () => {
      const other = await createScorer({ backend: 'cpu' });
      const corpus = await other.upload([tokenMatrixFromNested([[1]])]);
      await expect(scorer.score([tokenMatrixFromNested([[1]])], corpus)).rejects.toMatchObject({
        code: 'E_FOREIGN_CORPUS',
      });
      other.destroy();
    });

    it('rejects bad options with typed errors', async () => {
      await expect(createScorer({ scale: 'max' as 'sum' })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
      await expect(createScorer({ backend: 'gpu' as 'cpu' })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
      await expect(scorer.rerank(tokenMatrixFromNested([[1]]), [], { topK: -1 })).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
      });
    });
  });

  describe('rerank', () => {
    it('orders best first, breaks ties by lower index, and agrees with score', async () => {
      const q = tokenMatrixFromNested([[1, 0]]);
      const docs = [[[0.2, 1]], [[0.9, 0]], [[0.5, 0]], [[0.9, 0.3]], [[0.5, 9]]].map((d) => tokenMatrixFromNested(d));
      const ranked = await scorer.rerank(q, docs);
      expect(ranked.map((r) => r.index)).toEqual([1, 3, 2, 4, 0]);
      const [scores] = await scorer.score([q], docs);
      ranked.forEach((r) => {
        expect(r.score).toBe(scores![r.index]);
      });
      expect((await scorer.rerank(q, docs, { topK: 2 })).map((r) => r.index)).toEqual([1, 3]);
      expect(await scorer.rerank(q, docs, { topK: 0 })).toEqual([]);
      expect(await scorer.rerank(q, docs, { topK: 99 })).toHaveLength(5);
    });

    it('heap and sort paths give the same top-k on a large corpus with many ties', async () => {
      const rand = seededRandom(5);
      const q = tokenMatrixFromNested([[1]]);
      const docs = Array.from({ length: 500 }, () => tokenMatrixFromNested([[Math.floor(rand() * 20)]]));
      const all = await scorer.rerank(q, docs);
      for (const k of [1, 3, 10, 62, 63, 200])
        expect(await scorer.rerank(q, docs, { topK: k })).toEqual(all.slice(0, k));
      for (let i = 1; i < all.length; i++) {
        const [a, b] = [all[i - 1]!, all[i]!];
        expect(a.score > b.score || (a.score === b.score && a.index < b.index)).toBe(true);
      }
    });
  });

  describe('destroy', () => {
    it('is idempotent, destroys live corpora, and later use throws E_DESTROYED', async () => {
      const s = await createScorer({ backend: 'cpu' });
      const corpus = await s.upload([tokenMatrixFromNested([[1]])]);
      s.destroy();
      s.destroy();
      expect(corpus.destroyed).toBe(true);
      const q = tokenMatrixFromNested([[1]]);
      for (const call of [() => s.score([q], [q]), () => s.upload([q]), () => s.rerank(q, [q])]) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(MaxsimError);
        expect(err).toMatchObject({
          code: 'E_DESTROYED',
          message: expect.stringMatching(/Scorer was used after destroy/),
        });
      }
    });
  });
});
