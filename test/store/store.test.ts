// The LanceDB store through its library API, on small corpora in temporary folders: exact search equal to the
// float64 reference over the stored vectors (f32 and f16), upsert/delete/count, refusals that leave the
// table untouched, interrupted adds completed by a re-run, reloads when another writer commits, first stages
// with their recall against exact search, filters, and the typed errors.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float16BitsToFloat, float32ToFloat16Bits } from '../../src/core/float16.js';
import { maxsimReference } from '../../src/core/reference.js';
import { seededRandom } from '../../src/core/seeded-random.js';
import type { TokenMatrix } from '../../src/core/token-matrix.js';
import { createHashEmbedder, createScorer, hashTextEmbedder, type Scorer, type TextEmbedder } from '../../src/node.js';
import {
  openStore,
  StoreFilterError,
  StoreMismatchError,
  StoreNotFoundError,
  StoreUnavailableError,
  type Store,
} from '../../src/store.js';
import { lanceMessage } from '../../src/store/errors.js';
import { loadLanceWith } from '../../src/store/lancedb.js';

const DIM = 32;
const hash = createHashEmbedder({ dim: DIM });

/** A hashing embedder that counts the texts it embeds, and can be told to fail on a text. */
function countingEmbedder(base: TextEmbedder = hashTextEmbedder(hash)): TextEmbedder & {
  texts: string[];
  failOn: string | undefined;
} {
  const self = {
    model: base.model,
    texts: [] as string[],
    failOn: undefined as string | undefined,
    embed: async (texts: readonly string[]) => {
      if (self.failOn !== undefined && texts.includes(self.failOn)) throw new Error(`embedder down at ${self.failOn}`);
      self.texts.push(...texts);
      return base.embed(texts);
    },
  };
  return self;
}

const TOPICS = ['river', 'mountain', 'city', 'music', 'garden', 'engine', 'ocean', 'forest'];
const WORDS = ['old', 'large', 'quiet', 'famous', 'green', 'small', 'busy', 'cold', 'bright', 'ancient'];

/** Documents of a few words around a topic each: structure for the pooled first stage to find. */
function corpus(n: number, seed = 1): { id: string; text: string; metadata: { topic: string; n: number } }[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const topic = TOPICS[i % TOPICS.length]!;
    const words = Array.from(
      { length: 4 + Math.floor(random() * 6) },
      () => WORDS[Math.floor(random() * WORDS.length)],
    );
    return {
      id: `doc-${i}`,
      text: `${words.join(' ')} ${topic} ${topic}s near the ${words[0]} ${topic}`,
      metadata: { topic, n: i },
    };
  });
}

function roundF16(m: TokenMatrix): TokenMatrix {
  return { ...m, data: m.data.map((v) => float16BitsToFloat(float32ToFloat16Bits(v))) };
}

/** The exact top-k by the float64 reference, over `docs` as `store` keeps them. */
function referenceTopK(
  query: string,
  docs: readonly { id: string; text: string }[],
  k: number,
  precision: 'f16' | 'f32',
): { id: string; score: number }[] {
  const q = hash.embedText(query);
  return docs
    .map((d) => {
      const m = hash.embedText(d.text);
      return { id: d.id, score: maxsimReference(q, precision === 'f16' ? roundF16(m) : m) };
    })
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
    .slice(0, k);
}

let root: string;
let scorer: Scorer;
let n = 0;
const folder = (): string => join(root, `store-${n++}`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'maxsim-store-'));
  scorer = await createScorer({ backend: 'cpu' });
});

afterAll(async () => {
  scorer.destroy();
  await rm(root, { recursive: true, force: true });
});

async function filled(
  docs: ReturnType<typeof corpus>,
  options: { precision?: 'f16' | 'f32'; memoryBudgetBytes?: number } = {},
): Promise<Store> {
  const store = await openStore(folder(), { create: true, embedder: hashTextEmbedder(hash), scorer, ...options });
  await store.addTexts(docs, { batchSize: 16 });
  return store;
}

describe('exact search over the stored vectors', () => {
  for (const precision of ['f32', 'f16'] as const) {
    it(`${precision}: returns the reference top-k, best first, with the reference scores`, async () => {
      const docs = corpus(60);
      const store = await filled(docs, { precision });
      try {
        expect(store.precision).toBe(precision);
        expect(await store.count()).toBe(60);
        for (const query of ['quiet river', 'famous ancient city', 'green garden music']) {
          const found = await store.search(query, { topK: 7 });
          expect(found.mode).toBe('exact');
          expect(found.scored).toBe(60);
          expect(found.backend).toBe('cpu');
          expect(found.queryTokens).toBe(hash.encode(query).ids.length);
          const want = referenceTopK(query, docs, 7, precision);
          expect(found.results.map((r) => r.id)).toEqual(want.map((w) => w.id));
          for (let i = 0; i < want.length; i++) expect(found.results[i]!.score).toBeCloseTo(want[i]!.score, 4);
          const doc = docs.find((d) => d.id === found.results[0]!.id)!;
          expect(found.results[0]).toMatchObject({ text: doc.text, metadata: doc.metadata });
        }
        const resident = store.resident!;
        expect(resident.documents).toBe(60);
        expect(resident.bytes).toBe(resident.tokens * DIM * 4);
        expect(resident.duplicates).toBe(0);
      } finally {
        store.close();
      }
    });
  }

  it('a new process-like reader (another Store on the folder) gets the same answer as the writer', async () => {
    const docs = corpus(30);
    const writer = await filled(docs);
    const reader = await openStore(writer.location, { embedder: hashTextEmbedder(hash), scorer });
    try {
      const a = await writer.search('cold ocean', { topK: 5 });
      const b = await reader.search('cold ocean', { topK: 5 });
      expect(b.results).toEqual(a.results);
      expect(reader.model).toBe(`hash-embedder-d${DIM}`);
      expect(reader.dim).toBe(DIM);
    } finally {
      writer.close();
      reader.close();
    }
  });

  it('reloads the resident corpus when another writer commits a new version', async () => {
    const docs = corpus(20);
    const reader = await filled(docs);
    const writer = await openStore(reader.location, { embedder: hashTextEmbedder(hash), scorer });
    try {
      const before = await reader.search('purple submarine', { topK: 3 });
      const v1 = reader.resident!.version;
      await writer.addTexts([{ id: 'new', text: 'a purple submarine under the sea' }]);
      const after = await reader.search('purple submarine', { topK: 3 });
      expect(before.results.map((r) => r.id)).not.toContain('new');
      expect(after.results[0]!.id).toBe('new');
      expect(reader.resident!.version).toBeGreaterThan(v1);
      expect(reader.resident!.documents).toBe(21);
      await writer.delete(['new']);
      expect((await reader.search('purple submarine', { topK: 3 })).results.map((r) => r.id)).not.toContain('new');
    } finally {
      writer.close();
      reader.close();
    }
  });

  it('concurrent searches across a reload all answer, from the version they saw or a newer one', async () => {
    const store = await filled(corpus(20));
    try {
      const first = store.search('busy city', { topK: 3 });
      const writing = store.addTexts([{ id: 'late', text: 'a busy city at night' }]);
      const more = [
        first,
        writing.then(() => store.search('busy city', { topK: 3 })),
        store.search('quiet', { topK: 2 }),
      ];
      const results = await Promise.all(more);
      expect((results[1] as Awaited<typeof first>).results[0]!.id).toBe('late');
      for (const r of results) expect(r.results.length).toBeGreaterThan(0);
    } finally {
      store.close();
    }
  });
});

describe('writes', () => {
  it('upserts by id (the last duplicate wins), skips unchanged documents, deletes by id', async () => {
    const embedder = countingEmbedder();
    const store = await openStore(folder(), { create: true, embedder, scorer });
    try {
      const r1 = await store.addTexts([
        { id: 'a', text: 'first text of a' },
        { id: 'b', text: 'text of b' },
        { id: 'a', text: 'second text of a' },
      ]);
      expect(r1).toMatchObject({ inserted: 2, updated: 0, unchanged: 0 });
      expect(embedder.texts).toEqual(['text of b', 'second text of a']);
      embedder.texts.length = 0;
      const r2 = await store.addTexts([
        { id: 'a', text: 'second text of a' },
        { id: 'b', text: 'text of b, edited' },
        { id: 'c', text: 'text of c', metadata: { lang: 'en' } },
      ]);
      expect(r2).toMatchObject({ inserted: 1, updated: 1, unchanged: 1 });
      expect(embedder.texts).toEqual(['text of b, edited', 'text of c']);
      expect(await store.count()).toBe(3);
      const top = await store.search('edited', { topK: 1 });
      expect(top.results[0]).toMatchObject({ id: 'b', text: 'text of b, edited' });
      // Changed metadata alone is an update too.
      expect(await store.addTexts([{ id: 'c', text: 'text of c', metadata: { lang: 'fr' } }])).toMatchObject({
        updated: 1,
      });
      expect(await store.count(`metadata LIKE '%"lang":"fr"%'`)).toBe(1);
      // Ids with quotes, backslashes and SQL are data, not SQL.
      const odd = ["it's", 'back\\slash', "'); DROP TABLE documents; --", 'ünï'];
      await store.addTexts(odd.map((id) => ({ id, text: `document ${id}` })));
      expect(await store.count()).toBe(7);
      expect(await store.delete([...odd, 'not-there'])).toBe(4);
      expect(await store.delete(['a'])).toBe(1);
      expect(await store.count()).toBe(2);
      expect((await store.search('text', { topK: 5 })).results.map((r) => r.id).sort()).toEqual(['b', 'c']);
    } finally {
      store.close();
    }
  });

  it('get reads documents back by id, matrices as stored (f16-rounded)', async () => {
    const docs = corpus(10);
    const store = await filled(docs);
    try {
      const got = await store.get(['doc-3', 'missing', 'doc-7']);
      expect(got.map((d) => d.id).sort()).toEqual(['doc-3', 'doc-7']);
      for (const d of got) {
        const src = docs.find((x) => x.id === d.id)!;
        expect(d).toMatchObject({ text: src.text, metadata: src.metadata });
        expect(Array.from(d.matrix.data)).toEqual(Array.from(roundF16(hash.embedText(src.text)).data));
      }
    } finally {
      store.close();
    }
  });

  it('documents() reads every document back in batches, matrices as stored, and stops when the caller does', async () => {
    const docs = corpus(45);
    for (const precision of ['f16', 'f32'] as const) {
      const store = await filled(docs, { precision });
      try {
        const sizes: number[] = [];
        const seen = new Map<string, { text: string; metadata?: unknown; data: number[]; rows: number }>();
        for await (const batch of store.documents({ batchSize: 10 })) {
          sizes.push(batch.length);
          for (const d of batch) {
            seen.set(d.id, {
              text: d.text,
              metadata: d.metadata,
              data: Array.from(d.matrix.data),
              rows: d.matrix.rows,
            });
          }
        }
        expect(sizes.every((s) => s >= 1 && s <= 10)).toBe(true);
        expect(sizes.reduce((a, b) => a + b, 0)).toBe(45);
        expect([...seen.keys()].sort()).toEqual(docs.map((d) => d.id).sort());
        for (const src of docs) {
          const m = hash.embedText(src.text);
          const want = precision === 'f16' ? roundF16(m) : m;
          expect(seen.get(src.id), `${precision} ${src.id}`).toEqual({
            text: src.text,
            metadata: src.metadata,
            data: Array.from(want.data),
            rows: want.rows,
          });
        }
        let batches = 0;
        for await (const _ of store.documents({ batchSize: 5 })) {
          if (++batches === 2) break; // ends LanceDB's scan; the store stays usable
        }
        expect(batches).toBe(2);
        expect(await store.count()).toBe(45);
        await expect(store.documents({ batchSize: 0 }).next()).rejects.toThrow(/batchSize must be an integer >= 1/);
      } finally {
        store.close();
      }
    }
  });

  it('ids default to the text hash, so re-adding the same lines is idempotent', async () => {
    const store = await openStore(folder(), { create: true, embedder: hashTextEmbedder(hash), scorer });
    try {
      await store.addTexts([{ text: 'one line' }, { text: 'another line' }]);
      const again = await store.addTexts([{ text: 'one line' }, { text: 'another line' }, { text: 'a third' }]);
      expect(again).toMatchObject({ inserted: 1, unchanged: 2 });
      expect(await store.count()).toBe(3);
      const [hit] = (await store.search('one line', { topK: 1 })).results;
      expect(hit!.id).toMatch(/^[0-9a-f]{16}$/);
    } finally {
      store.close();
    }
  });

  it('an interrupted add leaves whole committed batches; running it again completes it without duplicates', async () => {
    const docs = corpus(40);
    const embedder = countingEmbedder();
    const store = await openStore(folder(), { create: true, embedder, scorer });
    try {
      embedder.failOn = docs[25]!.text; // the fourth batch of 8 fails
      const progress: number[] = [];
      await expect(store.addTexts(docs, { batchSize: 8, onProgress: (p) => progress.push(p.done) })).rejects.toThrow(
        /embedder down/,
      );
      expect(progress).toEqual([8, 16, 24]);
      expect(await store.count()).toBe(24);
      embedder.failOn = undefined;
      embedder.texts.length = 0;
      const r = await store.addTexts(docs, { batchSize: 8 });
      expect(r).toMatchObject({ inserted: 16, updated: 0, unchanged: 24 });
      expect(embedder.texts).toHaveLength(16); // only what was missing was embedded
      expect(await store.count()).toBe(40);
      await store.load();
      expect(store.resident).toMatchObject({ documents: 40, duplicates: 0 });
    } finally {
      store.close();
    }
  });

  it('bad input is refused before anything is written', async () => {
    const store = await filled(corpus(8));
    try {
      const version = await store.version();
      await expect(
        store.addTexts([
          { id: 'x', text: 'fine' },
          { id: 'y', text: '   ' },
        ]),
      ).rejects.toThrow(/document 1 has an empty text/);
      await expect(store.addTexts([{ id: '', text: 'no id' }])).rejects.toThrow(/non-empty string/);
      await expect(store.addTexts([{ id: 'x', text: 't', metadata: [1] as never }])).rejects.toThrow(
        /metadata must be a JSON object/,
      );
      await expect(store.addTexts([{ id: 'x', text: 't', metadata: { n: 1n } as never }])).rejects.toThrow(
        /not JSON-serialisable/,
      );
      expect(await store.version()).toBe(version);
      expect(await store.count()).toBe(8);
    } finally {
      store.close();
    }
  });

  it('f16 stores refuse values beyond float16 range (naming where), f32 stores keep them', async () => {
    const big: TokenMatrix = { data: new Float32Array(DIM).fill(0.5), rows: 1, dim: DIM };
    big.data[3] = 70000;
    const f16 = await openStore(folder(), { create: true, model: 'm', scorer });
    const f32 = await openStore(folder(), { create: true, model: 'm', precision: 'f32', scorer });
    try {
      await expect(f16.add([{ id: 'big', text: 'big', matrix: big }])).rejects.toThrow(
        /70000 at row 0, column 3, beyond float16's range.*precision 'f32'/,
      );
      expect(await f16.count()).toBe(0);
      await f32.add([{ id: 'big', text: 'big', matrix: big }]);
      const q: TokenMatrix = { data: new Float32Array(DIM).fill(0), rows: 1, dim: DIM };
      q.data[3] = 1;
      expect((await f32.search(q, { topK: 1 })).results[0]!.score).toBe(70000);
    } finally {
      f16.close();
      f32.close();
    }
  });
});

describe('refusals', () => {
  it('another model or width is refused naming both', async () => {
    const store = await filled(corpus(4));
    store.close();
    await expect(openStore(store.location, { model: 'BAAI/bge-m3' })).rejects.toThrow(
      new RegExp(`holds model "hash-embedder-d${DIM}", dim ${DIM}; asked for model "BAAI/bge-m3"`),
    );
    await expect(openStore(store.location, { dim: 64 })).rejects.toBeInstanceOf(StoreMismatchError);
    // Same model name, other width: found when the embedder's first vectors arrive.
    const liar = hashTextEmbedder(createHashEmbedder({ dim: 16 }), `hash-embedder-d${DIM}`);
    const reopened = await openStore(store.location, { embedder: liar, scorer });
    try {
      await expect(reopened.search('river')).rejects.toThrow(/dim 32; the embedder gave .*dim 16/);
      await expect(reopened.addTexts([{ id: 'z', text: 'river' }])).rejects.toBeInstanceOf(StoreMismatchError);
      expect(await reopened.count()).toBe(4);
    } finally {
      reopened.close();
    }
  });

  it('a missing folder, a file, or a folder without a store is one StoreNotFoundError, and nothing is created', async () => {
    const missing = join(root, 'missing');
    await expect(openStore(missing)).rejects.toThrow(`no store at ${missing}: the folder does not exist`);
    const { existsSync } = await import('node:fs');
    expect(existsSync(missing)).toBe(false);
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    await expect(openStore(file)).rejects.toBeInstanceOf(StoreNotFoundError);
    await expect(openStore(root)).rejects.toThrow(/has no 'documents' table/);
  });

  it('bad filters are StoreFilterErrors in every mode; bad options are refused', async () => {
    const store = await filled(corpus(10));
    try {
      for (const firstStage of ['exact', 'pooled', 'multivector'] as const) {
        await expect(store.search('river', { filter: 'nosuchcolumn = 1', firstStage })).rejects.toBeInstanceOf(
          StoreFilterError,
        );
      }
      await expect(store.count('((')).rejects.toThrow(/filter "\(\(" is not a valid predicate: .*sql parser error/);
      await expect(store.search('river', { topK: 0 })).rejects.toThrow(/topK must be an integer >= 1/);
      await expect(store.search('   ')).rejects.toThrow(/query is empty/);
      await expect(store.search('x', { firstStage: 'fast' as never })).rejects.toThrow(/firstStage must be/);
    } finally {
      store.close();
    }
  });

  it('without LanceDB installed, opening a store says what to install', () => {
    const missing = Object.assign(
      (name: string) => {
        throw Object.assign(new Error(`Cannot find module '${name}'`), { code: 'MODULE_NOT_FOUND' });
      },
      { resolve: (name: string) => name },
    );
    expect(() => loadLanceWith(missing)).toThrow(StoreUnavailableError);
    expect(() => loadLanceWith(missing)).toThrow(
      /apache-arrow is not installed\. Install it with `npm install -E @lancedb\/lancedb@0\.31\.0 apache-arrow@18\.1\.0`/,
    );
  });

  it("LanceDB's messages are cut to one line without Rust source paths", () => {
    const raw =
      'Failed to execute query stream: GenericFailure, lance error: Invalid user input: Schema error: No field named x, ' +
      '/usr/local/cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lance-datafusion-8.0.0/src/sql.rs:113:22  ' +
      'Caused by: Invalid user input: Schema error: No field named x.';
    expect(lanceMessage(new Error(raw))).toBe('Invalid user input: Schema error: No field named x');
  });
});

describe('first stages', () => {
  it('filters apply before ranking, exact and pooled', async () => {
    const docs = corpus(48);
    const store = await filled(docs);
    try {
      for (const firstStage of ['exact', 'pooled'] as const) {
        const found = await store.search('quiet river', {
          topK: 5,
          filter: `metadata LIKE '%"topic":"city"%'`,
          firstStage,
        });
        expect(found.results).toHaveLength(5);
        for (const r of found.results) expect(r.metadata!.topic).toBe('city');
        const want = referenceTopK(
          'quiet river',
          docs.filter((d) => d.metadata.topic === 'city'),
          5,
          'f16',
        );
        expect(found.results.map((r) => r.id)).toEqual(want.map((w) => w.id));
      }
    } finally {
      store.close();
    }
  });

  it('over the memory budget, auto searches through the pooled first stage and reranks exactly', async () => {
    const docs = corpus(48);
    const store = await filled(docs, { memoryBudgetBytes: 1024 });
    try {
      const found = await store.search('famous mountain', { topK: 5, candidates: 48 });
      expect(found.mode).toBe('pooled');
      expect(store.resident).toBeUndefined();
      expect(found.scored).toBe(48);
      // With every document a candidate, the rerank is the exact answer.
      expect(found.results.map((r) => r.id)).toEqual(referenceTopK('famous mountain', docs, 5, 'f16').map((w) => w.id));
      const few = await store.search('famous mountain', { topK: 5, candidates: 6 });
      expect(few.scored).toBe(6);
      expect(few.results).toHaveLength(5);
    } finally {
      store.close();
    }
  });

  it("LanceDB's multivector search (no index) picks the exact top candidates for unit-row queries", async () => {
    const docs = corpus(40);
    const store = await filled(docs, { precision: 'f32' });
    try {
      const q = hash.embedText('bright forest');
      const picked = await store.firstStage(q, 5, { firstStage: 'multivector' });
      // LanceDB's cosine multivector distance is 1 - Σ max cos: with unit rows, the MaxSim order.
      const unitDocs = docs.map((d) => ({ ...d, m: hash.embedText(d.text) }));
      const want = unitDocs
        .map((d) => ({ id: d.id, s: maxsimReference(q, d.m) }))
        .sort((a, b) => b.s - a.s)
        .slice(0, 5);
      expect(picked.map((p) => p.id)).toEqual(want.map((w) => w.id));
      const dot = await store.firstStage(q, 5, { firstStage: 'multivector', distance: 'dot' });
      expect(dot.map((p) => p.id)).toEqual(want.map((w) => w.id));
      for (let i = 0; i < 5; i++) expect(1 - dot[i]!.distance).toBeCloseTo(want[i]!.s, 4);
      const found = await store.search(q, { topK: 5, firstStage: 'multivector', candidates: 10 });
      expect(found.mode).toBe('multivector');
      expect(found.results.map((r) => r.id)).toEqual(want.map((w) => w.id));
    } finally {
      store.close();
    }
  });

  it('measures first-stage recall@k against exact search: 1 with every document a candidate, never decreasing', async () => {
    const store = await filled(corpus(64));
    try {
      const queries = ['quiet river', 'old engine', 'cold ocean', 'green garden', 'busy music'].map((t) =>
        hash.embedText(t),
      );
      const rows = await store.measureRecall(queries, { topK: 10, candidates: [10, 20, 64] });
      expect(rows.map((r) => r.candidates)).toEqual([10, 20, 64]);
      expect(rows[2]!.recall).toBe(1);
      expect(rows[0]!.recall).toBeGreaterThan(0);
      expect(rows[0]!.recall).toBeLessThanOrEqual(rows[1]!.recall);
      expect(rows[1]!.recall).toBeLessThanOrEqual(rows[2]!.recall);
    } finally {
      store.close();
    }
  });

  it('an ANN index on the pooled vectors is built, listed, and still finds every document with enough candidates', async () => {
    const docs = corpus(40);
    const store = await filled(docs);
    try {
      await store.createIndex('pooled', 'ivf-flat', { numPartitions: 2 });
      expect((await store.indexes()).map((i) => i.columns)).toContainEqual(['pooled']);
      await store.addTexts([{ id: 'after-index', text: 'an ancient engine room' }]);
      const found = await store.search('ancient engine', { topK: 3, firstStage: 'pooled', candidates: 41 });
      expect(found.scored).toBe(41);
      await store.optimize();
      expect(await store.count()).toBe(41);
    } finally {
      store.close();
    }
  });
});
