// A document store on LanceDB: one `documents` table per folder (or object-storage URI) holding each
// document's id, text, metadata, token matrix and pooled vector (layout in rows.ts). Index once, search many:
// search scores every stored document exactly on a resident corpus when it fits a memory budget, or picks
// candidates with a first stage (pooled-vector ANN, or LanceDB's own multivector search) and reranks them
// exactly. Node-only (LanceDB is a native module); LanceDB and Apache Arrow load on first use.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type * as Arrow from 'apache-arrow';
import type * as LanceDb from '@lancedb/lancedb';
import { InvalidArgumentError, InvalidTokenMatrixError, MaxsimError } from '../core/errors.js';
import type { Corpus, Scorer } from '../core/scorer.js';
import { topK as selectTopK } from '../core/top-k.js';
import { validateTokenMatrix, type TokenMatrix } from '../core/token-matrix.js';
import type { TextEmbedder } from '../embed/text-embedder.js';
import { createScorer, type ScorerOptions } from '../node.js';
import { lanceMessage, StoreError, StoreFilterError, StoreMismatchError, StoreNotFoundError } from './errors.js';
import { loadLance, type LanceModules } from './lancedb.js';
import {
  checkStorable,
  decodeMatrices,
  decodeStrings,
  encodeDocuments,
  makeSchema,
  pooledInto,
  readLayout,
  TABLE_NAME,
  type EncodedDocument,
} from './rows.js';
import type { StoreLayout, StorePrecision } from './layout.js';

export type { StorePrecision } from './layout.js';

/** How a search picks the documents it scores exactly. */
export type FirstStage = 'auto' | 'exact' | 'pooled' | 'multivector';

/** Options for {@link openStore}. */
export interface OpenStoreOptions {
  /** Create the folder and the table when missing (default false: a missing store is a StoreNotFoundError). */
  readonly create?: boolean;
  /**
   * Embeds document texts (`addTexts`) and text queries (`search('...')`). Its `model` must be the store's;
   * its vectors' width is checked against the store's on first use.
   */
  readonly embedder?: TextEmbedder;
  /** The model the caller means; refused (naming both) when the store holds another. Default: the embedder's. */
  readonly model?: string;
  /** The width the caller means; refused when the store holds another. */
  readonly dim?: number;
  /** Storage of the token matrices when creating: `'f16'` (default: half the bytes) or `'f32'`. */
  readonly precision?: StorePrecision;
  /** LanceDB storage options (object stores: `aws_access_key_id`, `region`, `endpoint`, `allow_http`, ...). */
  readonly storageOptions?: Readonly<Record<string, string>>;
  /** The scorer searches use (shared, never destroyed by the store). Default: one made on first search. */
  readonly scorer?: Scorer;
  /** Options of the scorer the store makes when `scorer` is absent (default `{ backend: 'auto' }`). */
  readonly scorerOptions?: ScorerOptions;
  /**
   * Bytes of f32 token vectors a resident corpus may take (the scorer holds 4 bytes per value whatever the
   * stored precision). Larger stores are searched through a first stage. Default: a quarter of the machine's
   * memory, at most 8 GiB.
   */
  readonly memoryBudgetBytes?: number;
  /**
   * How often (ms) a search checks for a newer table version to reload: default 0 (every search) for a local
   * folder, 1,000 for an object-storage URI (each check reads the latest manifest: a request there).
   */
  readonly refreshMs?: number;
}

/** A document to add with its text (embedded by the store's embedder). */
export interface TextDocument {
  /** Upsert key. Default: the first 16 hex digits of the text's SHA-256 (so re-adding a text is idempotent). */
  readonly id?: string;
  readonly text: string;
  /** A JSON object kept with the document (filterable as JSON text: `metadata LIKE '%"lang":"en"%'`). */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** A document with its token matrix already computed. */
export interface MatrixDocument extends TextDocument {
  readonly id: string;
  readonly matrix: TokenMatrix;
}

/** Progress of {@link Store.addTexts} / {@link Store.add}, after each committed batch. */
export interface AddProgress {
  /** Input documents handled so far (committed or found unchanged), of `total`. */
  readonly done: number;
  readonly total: number;
  readonly inserted: number;
  readonly updated: number;
  /** Documents whose id, text and metadata were already stored (not re-embedded). */
  readonly unchanged: number;
  /** Table version after the batch. */
  readonly version: number;
}

/** Options for {@link Store.addTexts} and {@link Store.add}. */
export interface AddOptions {
  /** Documents per committed batch (one LanceDB version each). Default 256. */
  readonly batchSize?: number;
  readonly onProgress?: (progress: AddProgress) => void;
  readonly signal?: AbortSignal;
  /** Skip documents whose stored text and metadata are identical (default true; only `addTexts`). */
  readonly skipUnchanged?: boolean;
}

/** What an add did. */
export interface AddResult {
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly version: number;
}

/** Options for {@link Store.search}. */
export interface StoreSearchOptions {
  /** Results to return (default 10). */
  readonly topK?: number;
  /** An SQL predicate over `id`, `text`, `metadata` (LanceDB's filter syntax), applied before ranking. */
  readonly filter?: string;
  /** Default: the store's (`'auto'`: exact when the corpus fits the memory budget, else `'pooled'`). */
  readonly firstStage?: FirstStage;
  /** Candidates a first stage hands to the exact rerank (default max(100, 10 × topK)). */
  readonly candidates?: number;
  readonly signal?: AbortSignal;
}

/** One search hit, best first. */
export interface StoreHit {
  readonly id: string;
  /** MaxSim of the query against the document (the scorer's scale). */
  readonly score: number;
  readonly text: string;
  readonly metadata?: Record<string, unknown>;
}

/** A stored document, as {@link Store.get} reads it back (f16 stores: the widened f16 values). */
export interface StoredDocument {
  readonly id: string;
  readonly text: string;
  readonly metadata?: Record<string, unknown>;
  readonly matrix: TokenMatrix;
}

/** What a search returns. */
export interface StoreSearchResult {
  readonly results: StoreHit[];
  /** `'exact'`: every (matching) document scored; otherwise the first stage that picked the candidates. */
  readonly mode: 'exact' | 'pooled' | 'multivector';
  /** The scorer's backend. */
  readonly backend: 'cpu' | 'webgpu';
  /** The table version searched. */
  readonly version: number;
  /** Query token rows (the embedding usage of a search). */
  readonly queryTokens: number;
  /** Documents scored exactly. */
  readonly scored: number;
  readonly timings: {
    readonly embedMs: number;
    /** Time spent (re)loading the resident corpus in this call, if it did. */
    readonly loadMs: number;
    readonly firstStageMs: number;
    readonly fetchMs: number;
    readonly scoreMs: number;
  };
}

/** The resident corpus: what was loaded, how long it took, what it costs. */
export interface ResidentStats {
  readonly version: number;
  readonly documents: number;
  readonly tokens: number;
  /** f32 token-vector bytes the scorer holds. */
  readonly bytes: number;
  /** Reading the table (LanceDB scan to Arrow). */
  readonly readMs: number;
  /** Arrow → token matrices (f16 widening). */
  readonly decodeMs: number;
  /** scorer.upload (packing, and copying to workers or the GPU). */
  readonly uploadMs: number;
  /** Process RSS after the load minus before (includes transient Arrow buffers not yet collected). */
  readonly rssDeltaBytes: number;
  /** Duplicate ids found (0 unless concurrent writers raced without the primary key). */
  readonly duplicates: number;
}

/** Recall of a first stage against exact search, for one candidate count. */
export interface FirstStageRecall {
  readonly firstStage: 'pooled' | 'multivector';
  readonly candidates: number;
  /** Mean over queries of |exact top-k ∩ candidates| / k (= recall@k after the exact rerank). */
  readonly recall: number;
  readonly firstStageMs: number;
}

const PK_METADATA_KEY = 'lance-schema:unenforced-primary-key:position';
const ID_CHUNK = 1000;
const READ_BATCH = 128;

/**
 * The SQL string literal of `s` for LanceDB filters: single quotes doubled (backslashes are literal in
 * DataFusion strings).
 *
 * @example
 * sqlString("it's"); // "'it''s'"
 */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** The default id of a text: the first 16 hex digits of its SHA-256. */
export function contentId(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

const isUri = (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

/** Runs a LanceDB call, turning its errors into StoreErrors (ours pass through). */
async function lance<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof MaxsimError) throw err;
    throw new StoreError(`${what} failed: ${lanceMessage(err)}`, { cause: err });
  }
}

/**
 * Opens the store at `location` (a folder, or `s3://`, `gs://`, `az://`, `memory://` URI), creating it
 * with `create: true`. Refuses, naming both, a store of another model or width than `model`/`dim`/the
 * embedder's; a missing store is one StoreNotFoundError.
 *
 * @example
 * const store = await openStore('./docs.lance', { create: true, embedder });
 * await store.addTexts([{ id: 'a', text: 'Paris is the capital of France.' }]);
 * const { results } = await store.search('capital of France', { topK: 5 });
 * store.close();
 */
export function openStore(location: string, options: OpenStoreOptions = {}): Promise<Store> {
  return Store.open(location, options);
}

async function layoutOf(table: LanceDb.Table, location: string): Promise<StoreLayout> {
  const schema = await lance(`reading the schema of ${location}`, () => table.schema());
  const layout = readLayout(schema);
  if (typeof layout === 'string') throw new StoreNotFoundError(location, layout);
  return layout;
}

interface Resident {
  readonly stats: ResidentStats;
  readonly ids: string[];
  readonly texts: (string | null)[];
  readonly metadata: (string | null)[];
  readonly corpus: Corpus;
  refs: number;
  retired: boolean;
}

/** A LanceDB-backed document store; make one with {@link openStore}. */
export class Store {
  readonly location: string;
  readonly #modules: LanceModules;
  readonly #db: LanceDb.Connection;
  readonly #options: OpenStoreOptions;
  readonly #pending: { model: string; precision: StorePrecision };
  #table: LanceDb.Table | undefined;
  #layout: StoreLayout | undefined;
  #schema: Arrow.Schema | undefined;
  #primaryKeyChecked = false;
  #scorer: Promise<Scorer> | undefined;
  #ownsScorer = false;
  #resident: Resident | undefined;
  #loading: Promise<Resident> | undefined;
  #sizes: { version: number; documents: number; tokens: number } | undefined;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #version = -1;
  #closed = false;

  private constructor(
    modules: LanceModules,
    db: LanceDb.Connection,
    location: string,
    options: OpenStoreOptions,
    table: LanceDb.Table | undefined,
    layout: StoreLayout | undefined,
    pending: { model: string; precision: StorePrecision },
  ) {
    this.#modules = modules;
    this.#db = db;
    this.location = location;
    this.#options = options;
    this.#table = table;
    this.#layout = layout;
    this.#pending = pending;
  }

  /** Opens or creates a store; see {@link openStore}. */
  static async open(location: string, options: OpenStoreOptions = {}): Promise<Store> {
    if (typeof location !== 'string' || location === '') {
      throw new InvalidArgumentError(`the store location must be a folder or a URI, got ${JSON.stringify(location)}`);
    }
    const precision = options.precision ?? 'f16';
    if (precision !== 'f16' && precision !== 'f32') {
      throw new InvalidArgumentError(`precision must be 'f16' or 'f32', got ${JSON.stringify(precision)}`);
    }
    if (options.dim !== undefined && (!Number.isInteger(options.dim) || options.dim <= 0)) {
      throw new InvalidArgumentError(`dim must be a positive integer, got ${String(options.dim)}`);
    }
    const model = options.model ?? options.embedder?.model;
    if (options.model !== undefined && options.embedder !== undefined && options.model !== options.embedder.model) {
      throw new InvalidArgumentError(
        `model "${options.model}" and the embedder's model "${options.embedder.model}" differ: pass one model`,
      );
    }
    const local = !isUri(location) || location.startsWith('file://');
    if (local && options.create !== true) {
      // connect() creates a missing folder silently: check first.
      const path = location.startsWith('file://') ? fileURLToPath(location) : location;
      if (!existsSync(path)) {
        throw new StoreNotFoundError(location, 'the folder does not exist (create it with `webgpu-maxsim index`)');
      }
      if (!statSync(path).isDirectory()) throw new StoreNotFoundError(location, 'it is not a folder');
    }
    const modules = loadLance();
    const db = await lance(`opening ${location}`, () =>
      modules.lancedb.connect(
        location,
        options.storageOptions === undefined ? {} : { storageOptions: { ...options.storageOptions } },
      ),
    );
    try {
      // openTable rather than tableNames(): listing is what S3-compatible stores get wrong most (s3rver lists
      // nothing under a LanceDB namespace), and opening is one request fewer.
      let table: LanceDb.Table | undefined;
      try {
        table = await db.openTable(TABLE_NAME);
      } catch (err) {
        if (!/not found/i.test(lanceMessage(err))) {
          throw new StoreError(`opening ${location} failed: ${lanceMessage(err)}`, { cause: err });
        }
      }
      let layout: StoreLayout | undefined;
      if (table !== undefined) {
        layout = await layoutOf(table, location);
        if (
          (model !== undefined && model !== layout.model) ||
          (options.dim !== undefined && options.dim !== layout.dim)
        ) {
          throw new StoreMismatchError(location, layout, { model, dim: options.dim });
        }
      } else if (options.create !== true) {
        const names = await lance(`listing the tables of ${location}`, () => db.tableNames());
        throw new StoreNotFoundError(
          location,
          `it has no '${TABLE_NAME}' table${names.length > 0 ? ` (it has: ${names.join(', ')})` : ''}; ` +
            'create it with `webgpu-maxsim index`',
        );
      } else if (model === undefined) {
        throw new InvalidArgumentError('creating a store needs a model name: pass `embedder` or `model`');
      }
      return new Store(modules, db, location, options, table, layout, { model: model ?? '', precision });
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** The model whose vectors the store holds (or will hold, before the first add). */
  get model(): string {
    return this.#layout?.model ?? this.#pending.model;
  }

  /** The vector width, once known (a new store learns it from its first document). */
  get dim(): number | undefined {
    return this.#layout?.dim ?? this.#options.dim;
  }

  get precision(): StorePrecision {
    return this.#layout?.precision ?? this.#pending.precision;
  }

  /** The resident corpus's figures, once a search (or {@link load}) loaded it. */
  get resident(): ResidentStats | undefined {
    return this.#resident?.stats;
  }

  /** The latest table version (0 before the table exists). */
  async version(): Promise<number> {
    this.#alive();
    const table = this.#table;
    if (table === undefined) return 0;
    return lance('reading the table version', async () => {
      await table.checkoutLatest();
      return table.version();
    });
  }

  /** Documents in the latest version, optionally only those matching an SQL `filter`. */
  async count(filter?: string): Promise<number> {
    this.#alive();
    const table = this.#table;
    if (table === undefined) return 0;
    await lance('reading the table version', () => table.checkoutLatest());
    return this.#filtered(filter, () => table.countRows(filter));
  }

  /**
   * Embeds `docs` with the store's embedder and upserts them by id (last duplicate wins), `batchSize` at a
   * time; each batch is one committed LanceDB version, so an interrupted call leaves the table consistent
   * (a prefix committed) and calling again completes it. Documents whose stored text and metadata are
   * unchanged are skipped without embedding. Every document is validated before anything is embedded.
   */
  async addTexts(docs: readonly TextDocument[], options: AddOptions = {}): Promise<AddResult> {
    this.#alive();
    const embedder = this.#embedder('adding texts');
    const unique = prepare(docs);
    return this.#write(unique, options, async (batch) => {
      const matrices = await embedder.embed(
        batch.map((d) => d.text),
        options.signal === undefined ? {} : { signal: options.signal },
      );
      if (!Array.isArray(matrices) || matrices.length !== batch.length) {
        throw new InvalidArgumentError(
          `the embedder returned ${Array.isArray(matrices) ? matrices.length : 'no'} matrices for ${batch.length} texts`,
        );
      }
      return batch.map((d, i) => ({ ...d, matrix: matrices[i]! }));
    });
  }

  /** Upserts documents whose token matrices are already computed (same semantics as {@link addTexts}). */
  async add(docs: readonly MatrixDocument[], options: AddOptions = {}): Promise<AddResult> {
    this.#alive();
    const unique = prepare(docs);
    const matrices = new Map<string, TokenMatrix>();
    for (const d of docs) matrices.set(d.id, validateTokenMatrix(d.matrix, `document ${JSON.stringify(d.id)}`));
    return this.#write(unique, { ...options, skipUnchanged: false }, async (batch) =>
      batch.map((d) => ({ ...d, matrix: matrices.get(d.id)! })),
    );
  }

  /** Deletes documents by id; returns how many were deleted (ids not stored are ignored). */
  async delete(ids: readonly string[]): Promise<number> {
    this.#alive();
    if (!Array.isArray(ids)) throw new InvalidArgumentError('delete(ids): ids must be an array of strings');
    for (const id of ids) checkId(id);
    const table = this.#table;
    if (table === undefined || ids.length === 0) return 0;
    let deleted = 0;
    for (let i = 0; i < ids.length; i += ID_CHUNK) {
      const list = ids
        .slice(i, i + ID_CHUNK)
        .map(sqlString)
        .join(', ');
      const r = await lance('deleting documents', () => table.delete(`id IN (${list})`));
      deleted += r.numDeletedRows;
    }
    this.#checkedAt = Number.NEGATIVE_INFINITY;
    return deleted;
  }

  /**
   * The `topK` documents best matching `query` (a text, embedded by the store's embedder, or a token
   * matrix), best first. Exact (every matching document scored by the scorer) when the corpus fits the
   * memory budget or `firstStage: 'exact'`; otherwise a first stage picks `candidates` documents and the
   * scorer reranks them exactly.
   */
  async search(query: string | TokenMatrix, options: StoreSearchOptions = {}): Promise<StoreSearchResult> {
    this.#alive();
    const topK = options.topK ?? 10;
    if (!Number.isInteger(topK) || topK < 1) {
      throw new InvalidArgumentError(`topK must be an integer >= 1, got ${String(options.topK)}`);
    }
    const firstStage = options.firstStage ?? 'auto';
    if (!['auto', 'exact', 'pooled', 'multivector'].includes(firstStage)) {
      throw new InvalidArgumentError(
        `firstStage must be 'auto', 'exact', 'pooled' or 'multivector', got ${JSON.stringify(firstStage)}`,
      );
    }
    const candidates = options.candidates ?? Math.max(100, 10 * topK);
    if (!Number.isInteger(candidates) || candidates < 1) {
      throw new InvalidArgumentError(`candidates must be an integer >= 1, got ${String(options.candidates)}`);
    }
    if (options.filter !== undefined && typeof options.filter !== 'string') {
      throw new InvalidArgumentError(`filter must be an SQL predicate string, got ${typeof options.filter}`);
    }
    const filter = options.filter?.trim() === '' ? undefined : options.filter;

    const t0 = performance.now();
    const q = await this.#queryMatrix(query, options.signal);
    const embedMs = performance.now() - t0;
    const table = this.#table;
    // A bad filter is refused before a scorer (a GPU device, worker threads) is started for nothing.
    if (filter !== undefined && table !== undefined) {
      await this.#filtered(filter, () => table.query().where(filter).select(['id']).limit(1).toArray());
    }
    const scorer = await this.scorer();
    const empty = (version: number): StoreSearchResult => ({
      results: [],
      mode: 'exact',
      backend: scorer.backend,
      version,
      queryTokens: q.rows,
      scored: 0,
      timings: { embedMs, loadMs: 0, firstStageMs: 0, fetchMs: 0, scoreMs: 0 },
    });
    if (table === undefined) return empty(0);

    const version = await this.#latestVersion();
    let mode: 'exact' | 'pooled' | 'multivector';
    if (firstStage === 'auto') mode = (await this.#fits(version)) ? 'exact' : 'pooled';
    else mode = firstStage;

    if (mode === 'exact') {
      const t1 = performance.now();
      const resident = await this.#acquire(version);
      const loadMs = performance.now() - t1;
      try {
        let allowed: Set<string> | undefined;
        if (filter !== undefined) {
          const ids = await this.#filtered(filter, async () =>
            decodeStrings(
              (await table.query().where(filter).select(['id']).toArrow({ maxBatchLength: 8192 })).batches,
              'id',
            ),
          );
          allowed = new Set(ids as string[]);
        }
        const t2 = performance.now();
        const [scores] = await scorer.score([q], resident.corpus);
        const s = scores!;
        let scored = resident.ids.length;
        if (allowed !== undefined) {
          scored = 0;
          for (let i = 0; i < s.length; i++) {
            if (allowed.has(resident.ids[i]!)) scored++;
            else s[i] = Number.NEGATIVE_INFINITY;
          }
        }
        const ranked = selectTopK(s, Math.min(topK, scored));
        const scoreMs = performance.now() - t2;
        return {
          results: ranked.map(({ index, score }) =>
            hit(resident.ids[index]!, score, resident.texts[index] ?? '', resident.metadata[index] ?? null),
          ),
          mode,
          backend: scorer.backend,
          version: resident.stats.version,
          queryTokens: q.rows,
          scored,
          timings: { embedMs, loadMs, firstStageMs: 0, fetchMs: 0, scoreMs },
        };
      } finally {
        this.#release(resident);
      }
    }

    const t1 = performance.now();
    const picked = await this.firstStage(q, candidates, {
      firstStage: mode,
      ...(filter === undefined ? {} : { filter }),
    });
    const t2 = performance.now();
    const rows = await this.#fetch(picked.map((p) => p.id));
    const t3 = performance.now();
    if (rows.ids.length === 0) return { ...empty(version), mode };
    const ranked = await scorer.rerank(q, rows.matrices, { topK });
    const t4 = performance.now();
    return {
      results: ranked.map(({ index, score }) =>
        hit(rows.ids[index]!, score, rows.texts[index] ?? '', rows.metadata[index] ?? null),
      ),
      mode,
      backend: scorer.backend,
      version,
      queryTokens: q.rows,
      scored: rows.ids.length,
      timings: { embedMs, loadMs: 0, firstStageMs: t2 - t1, fetchMs: t3 - t2, scoreMs: t4 - t3 },
    };
  }

  /**
   * First-stage candidates for a query matrix, best first: `'pooled'` ranks the pooled vectors by cosine
   * (through an ANN index when one exists), `'multivector'` is LanceDB's own MaxSim over the token matrices
   * (cosine; exact without an index, approximate with one).
   */
  async firstStage(
    query: TokenMatrix,
    n: number,
    options: { firstStage?: 'pooled' | 'multivector'; filter?: string; distance?: 'cosine' | 'dot' } = {},
  ): Promise<{ id: string; distance: number }[]> {
    this.#alive();
    const table = this.#table;
    const layout = this.#layout;
    if (table === undefined || layout === undefined) return [];
    validateTokenMatrix(query, 'query');
    if (query.dim !== layout.dim) {
      throw new StoreMismatchError(this.location, layout, { model: undefined, dim: query.dim }, 'the query has');
    }
    if (query.rows === 0) return [];
    let search: LanceDb.VectorQuery;
    if ((options.firstStage ?? 'pooled') === 'pooled') {
      const v = new Float32Array(layout.dim);
      pooledInto(query, v);
      search = table.vectorSearch(v).column('pooled');
    } else {
      const rows: Float32Array[] = [];
      for (let r = 0; r < query.rows; r++) rows.push(query.data.subarray(r * layout.dim, (r + 1) * layout.dim));
      search = table.vectorSearch(rows).column('vectors');
    }
    // '_distance' selected explicitly: otherwise LanceDB logs a warning on stderr for every query. 'dot' is only
    // for flat multivector search (1 - Σ max dot; the same order as cosine for unit rows, and several times
    // faster); an index answers only the distance it was built for (cosine), and falls back to flat otherwise.
    const distance = options.distance ?? 'cosine';
    if (distance !== 'cosine' && distance !== 'dot') {
      throw new InvalidArgumentError(`distance must be 'cosine' or 'dot', got ${JSON.stringify(distance)}`);
    }
    search = search.distanceType(distance).select(['id', '_distance']).limit(n);
    const filter = options.filter;
    if (filter !== undefined) search = search.where(filter);
    const rows = (await this.#filtered(filter, () => search.toArray())) as { id: string; _distance: number }[];
    return rows.map((r) => ({ id: r.id, distance: r._distance }));
  }

  /** The stored documents with these ids (in store order; ids not stored are left out), token matrices included. */
  async get(ids: readonly string[]): Promise<StoredDocument[]> {
    this.#alive();
    if (!Array.isArray(ids)) throw new InvalidArgumentError('get(ids): ids must be an array of strings');
    for (const id of ids) checkId(id);
    if (this.#table === undefined || ids.length === 0) return [];
    const rows = await this.#fetch(ids);
    return rows.ids.map((id, i) => {
      const metadata = rows.metadata[i] ?? null;
      const doc = { id, text: rows.texts[i] ?? '', matrix: rows.matrices[i]! };
      return metadata === null ? doc : { ...doc, metadata: JSON.parse(metadata) as Record<string, unknown> };
    });
  }

  /**
   * Every stored document, token matrix included, a batch at a time, from one table version (the latest when
   * the scan starts; writers committing meanwhile are not seen): what `export` writes to a corpus file. Batches
   * are read as they are consumed, so a caller that keeps the matrices holds the corpus once: f32 matrices view
   * LanceDB's buffers, f16 ones are widened batch by batch and the f16 bytes let go.
   *
   * @example
   * for await (const batch of store.documents()) for (const d of batch) console.log(d.id, d.matrix.rows);
   */
  async *documents(options: { batchSize?: number; signal?: AbortSignal } = {}): AsyncGenerator<StoredDocument[]> {
    this.#alive();
    const batchSize = options.batchSize ?? READ_BATCH;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new InvalidArgumentError(`batchSize must be an integer >= 1, got ${String(options.batchSize)}`);
    }
    const table = this.#table;
    const layout = this.#layout;
    if (table === undefined || layout === undefined) return;
    await lance('reading the table version', () => table.checkoutLatest());
    // execute() streams batches with a bounded read-ahead (toArrow collects the whole table first); it is
    // `protected` in LanceDB's typings only, and it is what Query's own async iterator calls.
    const query = table.query().select(['id', 'text', 'metadata', 'vectors']) as unknown as {
      execute(o: { maxBatchLength: number }): AsyncGenerator<Arrow.RecordBatch>;
    };
    const batches = query.execute({ maxBatchLength: batchSize });
    try {
      for (;;) {
        options.signal?.throwIfAborted();
        this.#alive();
        const next = await lance('reading the token matrices', () => batches.next());
        if (next.done === true) return;
        const batch = [next.value];
        const matrices = decodeMatrices(batch, layout.dim);
        const ids = decodeStrings(batch, 'id');
        const texts = decodeStrings(batch, 'text');
        const metadata = decodeStrings(batch, 'metadata');
        yield ids.map((id, i) => {
          const doc = { id: id ?? '', text: texts[i] ?? '', matrix: matrices[i]! };
          const m = metadata[i] ?? null;
          return m === null ? doc : { ...doc, metadata: JSON.parse(m) as Record<string, unknown> };
        });
      }
    } finally {
      // A consumer that stops early (break, an error) ends LanceDB's scan too.
      await batches.return(undefined);
    }
  }

  /**
   * Recall of a first stage against exact search over the same table: for each candidate count N, the mean
   * over `queries` of the fraction of the exact top-`topK` among the N candidates (what the exact rerank
   * then returns). Loads the resident corpus for the exact side.
   */
  async measureRecall(
    queries: readonly TokenMatrix[],
    options: { topK?: number; candidates?: readonly number[]; firstStage?: 'pooled' | 'multivector' } = {},
  ): Promise<FirstStageRecall[]> {
    this.#alive();
    const topK = options.topK ?? 10;
    const counts = options.candidates ?? [10, 50, 100, 200];
    const firstStage = options.firstStage ?? 'pooled';
    const exact: Set<string>[] = [];
    for (const q of queries) {
      const r = await this.search(q, { topK, firstStage: 'exact' });
      exact.push(new Set(r.results.map((h) => h.id)));
    }
    const out: FirstStageRecall[] = [];
    for (const n of counts) {
      let sum = 0;
      let ms = 0;
      for (let i = 0; i < queries.length; i++) {
        const t0 = performance.now();
        const picked = await this.firstStage(queries[i]!, n, { firstStage });
        ms += performance.now() - t0;
        const ids = new Set(picked.map((p) => p.id));
        const want = exact[i]!;
        let found = 0;
        for (const id of want) if (ids.has(id)) found++;
        sum += want.size === 0 ? 1 : found / want.size;
      }
      out.push({
        firstStage,
        candidates: n,
        recall: queries.length === 0 ? 1 : sum / queries.length,
        firstStageMs: queries.length === 0 ? 0 : ms / queries.length,
      });
    }
    return out;
  }

  /** Loads (or reloads, if the table changed) the resident corpus now; returns its figures. */
  async load(): Promise<ResidentStats> {
    this.#alive();
    const resident = await this.#acquire(await this.#latestVersion());
    this.#release(resident);
    return resident.stats;
  }

  /**
   * Loads the resident corpus now if searches with `firstStage: 'auto'` would use it (the corpus fits the
   * memory budget), so the first search does not pay for it; returns its figures, or undefined.
   */
  async warmUp(): Promise<ResidentStats | undefined> {
    this.#alive();
    if (this.#table === undefined) return undefined;
    const version = await this.#latestVersion();
    if (!(await this.#fits(version))) return undefined;
    return this.load();
  }

  /**
   * Builds an ANN index: on `'pooled'` (the first stage; IVF_PQ needs ≥ 256 documents, `'ivf-flat'` and
   * `'hnsw-sq'` work on fewer) or on `'vectors'` (LanceDB's multivector search; cosine only). Rows added
   * later are searched flat until {@link optimize} folds them in.
   */
  async createIndex(
    column: 'pooled' | 'vectors',
    kind: 'ivf-pq' | 'ivf-flat' | 'hnsw-sq' = 'ivf-pq',
    options: { numPartitions?: number; numSubVectors?: number } = {},
  ): Promise<void> {
    this.#alive();
    const table = this.#requireTable();
    const { Index } = this.#modules.lancedb;
    const base = {
      distanceType: 'cosine' as const,
      ...(options.numPartitions === undefined ? {} : { numPartitions: options.numPartitions }),
    };
    const config =
      kind === 'ivf-pq'
        ? Index.ivfPq({
            ...base,
            ...(options.numSubVectors === undefined ? {} : { numSubVectors: options.numSubVectors }),
          })
        : kind === 'ivf-flat'
          ? Index.ivfFlat(base)
          : kind === 'hnsw-sq'
            ? Index.hnswSq(base)
            : undefined;
    if (config === undefined) {
      throw new InvalidArgumentError(
        `index kind must be 'ivf-pq', 'ivf-flat' or 'hnsw-sq', got ${JSON.stringify(kind)}`,
      );
    }
    if (column !== 'pooled' && column !== 'vectors') {
      throw new InvalidArgumentError(`index column must be 'pooled' or 'vectors', got ${JSON.stringify(column)}`);
    }
    await lance(`building the ${kind} index on ${column}`, () => table.createIndex(column, { config, replace: true }));
  }

  /** The indexes on the table (name, column, type). */
  async indexes(): Promise<{ name: string; columns: string[]; indexType: string }[]> {
    this.#alive();
    const table = this.#table;
    if (table === undefined) return [];
    return lance('listing indexes', () => table.listIndices());
  }

  /**
   * Compacts small fragments (one per committed batch), folds new rows into indexes and removes versions
   * older than `olderThan` (default: one hour; never the files a running reader may still hold).
   */
  async optimize(olderThan: Date = new Date(Date.now() - 3_600_000)): Promise<void> {
    this.#alive();
    const table = this.#table;
    if (table === undefined) return;
    await lance('optimizing the table', () => table.optimize({ cleanupOlderThan: olderThan }));
  }

  /** The scorer searches use (the given one, or one made now with `scorerOptions`). */
  scorer(): Promise<Scorer> {
    this.#alive();
    if (this.#scorer === undefined) {
      if (this.#options.scorer !== undefined) {
        this.#scorer = Promise.resolve(this.#options.scorer);
      } else {
        this.#ownsScorer = true;
        this.#scorer = createScorer(this.#options.scorerOptions ?? { backend: 'auto' });
        this.#scorer.catch(() => {
          this.#scorer = undefined; // a failed start is retried by the next search
        });
      }
    }
    return this.#scorer;
  }

  /** Frees the resident corpus (and the scorer, if the store made it) and closes the table. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const resident = this.#resident;
    this.#resident = undefined;
    if (resident !== undefined) resident.corpus.destroy();
    if (this.#ownsScorer) {
      void this.#scorer?.then(
        (s) => s.destroy(),
        () => undefined,
      );
    }
    this.#table?.close();
    this.#db.close();
  }

  // ---- internals

  #alive(): void {
    if (this.#closed) throw new StoreError(`the store at ${this.location} was used after close()`);
  }

  #embedder(what: string): TextEmbedder {
    const embedder = this.#options.embedder;
    if (embedder === undefined) {
      throw new InvalidArgumentError(`${what} needs an embedder: open the store with { embedder }`);
    }
    return embedder;
  }

  #requireTable(): LanceDb.Table {
    if (this.#table === undefined) throw new StoreNotFoundError(this.location, 'it has no documents yet');
    return this.#table;
  }

  async #queryMatrix(query: string | TokenMatrix, signal: AbortSignal | undefined): Promise<TokenMatrix> {
    let q: TokenMatrix;
    if (typeof query === 'string') {
      if (query.trim() === '') throw new InvalidArgumentError('the query is empty');
      const embedder = this.#embedder('searching by text');
      const [m] = await embedder.embed([query], signal === undefined ? {} : { signal });
      if (m === undefined) throw new InvalidTokenMatrixError('the embedder returned no matrix for the query');
      q = m;
    } else {
      q = query;
    }
    validateTokenMatrix(q, 'query');
    const dim = this.dim;
    if (dim !== undefined && q.dim !== dim) {
      throw new StoreMismatchError(
        this.location,
        { model: this.model, dim },
        { model: this.#options.embedder?.model, dim: q.dim },
        typeof query === 'string' ? 'the embedder gave' : 'the query has',
      );
    }
    return q;
  }

  /** Runs a query that applies `filter`; when it fails and the filter alone fails too, says so. */
  async #filtered<T>(filter: string | undefined, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof MaxsimError) throw err;
      const table = this.#table;
      if (filter !== undefined && table !== undefined) {
        try {
          await table.query().where(filter).select(['id']).limit(1).toArray();
        } catch (filterErr) {
          throw new StoreFilterError(filter, lanceMessage(filterErr), { cause: filterErr });
        }
      }
      throw new StoreError(`reading the store failed: ${lanceMessage(err)}`, { cause: err });
    }
  }

  async #latestVersion(): Promise<number> {
    const table = this.#requireTable();
    const refreshMs =
      this.#options.refreshMs ?? (isUri(this.location) && !this.location.startsWith('file://') ? 1000 : 0);
    const now = performance.now();
    if (now - this.#checkedAt >= refreshMs || this.#version < 0) {
      this.#version = await lance('reading the table version', async () => {
        await table.checkoutLatest();
        return table.version();
      });
      this.#checkedAt = now;
    }
    return this.#version;
  }

  /** Whether the corpus of `version` fits the memory budget (reads only the `tokens` column). */
  async #fits(version: number): Promise<boolean> {
    if (this.#resident !== undefined && this.#resident.stats.version === version) return true;
    const layout = this.#layout!;
    if (this.#sizes?.version !== version) {
      const table = this.#requireTable();
      const batches = await lance(
        'reading document sizes',
        async () => (await table.query().select(['tokens']).toArrow({ maxBatchLength: 65536 })).batches,
      );
      let documents = 0;
      let tokens = 0;
      for (const b of batches) {
        const col = b.getChild('tokens')!;
        documents += col.length;
        for (const d of col.data) {
          const values = d.values as Int32Array;
          for (let i = 0; i < d.length; i++) tokens += values[i]!;
        }
      }
      this.#sizes = { version, documents, tokens };
    }
    const budget = this.#options.memoryBudgetBytes ?? Math.min(totalmem() / 4, 8 * 2 ** 30);
    return this.#sizes.tokens * layout.dim * 4 <= budget;
  }

  /** The resident corpus of `version` (loading it if needed), counted as in use until {@link #release}. */
  async #acquire(version: number): Promise<Resident> {
    for (;;) {
      const current = this.#resident;
      if (current !== undefined && current.stats.version === version) {
        current.refs++;
        return current;
      }
      if (this.#loading === undefined) {
        this.#loading = this.#loadResident(version).finally(() => {
          this.#loading = undefined;
        });
      }
      const loaded = await this.#loading;
      if (loaded.stats.version >= version) {
        loaded.refs++;
        return loaded;
      }
    }
  }

  #release(resident: Resident): void {
    resident.refs--;
    if (resident.retired && resident.refs === 0) resident.corpus.destroy();
  }

  async #loadResident(version: number): Promise<Resident> {
    const table = this.#requireTable();
    const layout = this.#layout!;
    const scorer = await this.scorer();
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    // maxBatchLength matters: without it a compacted single-fragment table comes back as one batch decoded on
    // one thread (4-5x slower here). The scan reads one consistent version.
    const batches = await lance(
      'reading the token matrices',
      async () =>
        (await table.query().select(['id', 'text', 'metadata', 'vectors']).toArrow({ maxBatchLength: READ_BATCH }))
          .batches,
    );
    const t1 = performance.now();
    let matrices: TokenMatrix[] = decodeMatrices(batches, layout.dim);
    const ids = decodeStrings(batches, 'id') as string[];
    const texts = decodeStrings(batches, 'text');
    const metadata = decodeStrings(batches, 'metadata');
    const t2 = performance.now();
    const corpus = await scorer.upload(matrices);
    const t3 = performance.now();
    const tokens = corpus.totalTokens;
    matrices = [];
    const stats: ResidentStats = {
      version,
      documents: ids.length,
      tokens,
      bytes: tokens * layout.dim * 4,
      readMs: t1 - t0,
      decodeMs: t2 - t1,
      uploadMs: t3 - t2,
      rssDeltaBytes: process.memoryUsage().rss - rss0,
      duplicates: ids.length - new Set(ids).size,
    };
    const resident: Resident = { stats, ids, texts, metadata, corpus, refs: 0, retired: false };
    const old = this.#resident;
    this.#resident = resident;
    if (old !== undefined) {
      old.retired = true;
      if (old.refs === 0) old.corpus.destroy();
    }
    if (this.#closed) corpus.destroy();
    return resident;
  }

  async #fetch(ids: readonly string[]): Promise<{
    ids: string[];
    texts: (string | null)[];
    metadata: (string | null)[];
    matrices: TokenMatrix[];
  }> {
    const table = this.#requireTable();
    const layout = this.#layout!;
    const batches: Arrow.RecordBatch[] = [];
    for (let i = 0; i < ids.length; i += ID_CHUNK) {
      const list = ids
        .slice(i, i + ID_CHUNK)
        .map(sqlString)
        .join(', ');
      const got = await lance('reading candidates', () =>
        table
          .query()
          .where(`id IN (${list})`)
          .select(['id', 'text', 'metadata', 'vectors'])
          .toArrow({ maxBatchLength: READ_BATCH }),
      );
      batches.push(...got.batches);
    }
    return {
      ids: decodeStrings(batches, 'id') as string[],
      texts: decodeStrings(batches, 'text'),
      metadata: decodeStrings(batches, 'metadata'),
      matrices: decodeMatrices(batches, layout.dim),
    };
  }

  /** Creates the table on the first write of a new store (the width comes from the first matrix). */
  async #ensureTable(dim: number): Promise<LanceDb.Table> {
    if (this.#table !== undefined) return this.#table;
    const layout: StoreLayout = { model: this.#pending.model, dim, precision: this.#pending.precision };
    if (this.#options.dim !== undefined && this.#options.dim !== dim) {
      throw new StoreMismatchError(
        this.location,
        { model: layout.model, dim: this.#options.dim },
        { model: this.#options.embedder?.model, dim },
        'the embedder gave',
      );
    }
    const schema = makeSchema(this.#modules.arrow, layout);
    let table: LanceDb.Table;
    try {
      table = await this.#db.createEmptyTable(TABLE_NAME, schema, { mode: 'create', existOk: false });
    } catch (err) {
      if (!/already exists/i.test(lanceMessage(err))) {
        throw new StoreError(`creating the store at ${this.location} failed: ${lanceMessage(err)}`, { cause: err });
      }
      // Another process created it first: use theirs, if it holds the same model and width.
      table = await lance(`opening ${this.location}`, () => this.#db.openTable(TABLE_NAME));
    }
    const stored = await layoutOf(table, this.location);
    if (stored.model !== layout.model || stored.dim !== dim) {
      table.close();
      throw new StoreMismatchError(this.location, stored, { model: layout.model, dim }, 'the embedder gave');
    }
    this.#table = table;
    this.#layout = stored;
    return table;
  }

  /**
   * The unenforced primary key on `id` makes concurrent upserts of the same new id conflict and retry
   * instead of inserting it twice. Set right after creation; repaired here if a creator died in between.
   */
  async #ensurePrimaryKey(table: LanceDb.Table): Promise<void> {
    if (this.#primaryKeyChecked) return;
    const schema = await lance('reading the schema', () => table.schema());
    const id = schema.fields.find((f) => f.name === 'id');
    if (id !== undefined && !id.metadata.has(PK_METADATA_KEY)) {
      await lance('setting the primary key', () => table.setUnenforcedPrimaryKey('id'));
    }
    this.#schema = await lance('reading the schema', () => table.schema());
    this.#primaryKeyChecked = true;
  }

  async #write(
    unique: PreparedDocument[],
    options: AddOptions,
    embed: (batch: PreparedDocument[]) => Promise<(PreparedDocument & { matrix: TokenMatrix })[]>,
  ): Promise<AddResult> {
    const batchSize = options.batchSize ?? 256;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new InvalidArgumentError(`batchSize must be an integer >= 1, got ${String(options.batchSize)}`);
    }
    const skipUnchanged = options.skipUnchanged ?? true;
    let inserted = 0;
    let updated = 0;
    let unchanged = 0;
    let version = await this.version();
    for (let i = 0; i < unique.length; i += batchSize) {
      options.signal?.throwIfAborted();
      let batch = unique.slice(i, i + batchSize);
      if (skipUnchanged && this.#table !== undefined) {
        const same = await this.#unchanged(batch);
        unchanged += same.size;
        batch = batch.filter((d) => !same.has(d.id));
      }
      if (batch.length > 0) {
        const docs = await embed(batch);
        options.signal?.throwIfAborted();
        const dim = docs[0]!.matrix.dim;
        const table = await this.#ensureTable(dim);
        await this.#ensurePrimaryKey(table);
        const layout = this.#layout!;
        for (const d of docs) {
          validateTokenMatrix(d.matrix, `document ${JSON.stringify(d.id)}`);
          if (d.matrix.dim !== layout.dim) {
            throw new StoreMismatchError(
              this.location,
              layout,
              { model: this.#options.embedder?.model, dim: d.matrix.dim },
              `document ${JSON.stringify(d.id)} has`,
            );
          }
          checkStorable(d.matrix, layout, d.id);
        }
        const data = encodeDocuments(this.#modules, this.#schema!, layout, docs as EncodedDocument[]);
        const r = await lance('writing documents', () =>
          table.mergeInsert('id').whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(data),
        );
        inserted += r.numInsertedRows;
        updated += r.numUpdatedRows;
        version = r.version;
        this.#checkedAt = Number.NEGATIVE_INFINITY;
      }
      options.onProgress?.({
        done: Math.min(i + batchSize, unique.length),
        total: unique.length,
        inserted,
        updated,
        unchanged,
        version,
      });
    }
    return { inserted, updated, unchanged, version };
  }

  /** Ids of `batch` whose stored text and metadata equal the given ones. */
  async #unchanged(batch: readonly PreparedDocument[]): Promise<Set<string>> {
    const table = this.#table!;
    const list = batch.map((d) => sqlString(d.id)).join(', ');
    const got = await lance(
      'reading stored documents',
      async () =>
        (
          await table
            .query()
            .where(`id IN (${list})`)
            .select(['id', 'text', 'metadata'])
            .toArrow({ maxBatchLength: 8192 })
        ).batches,
    );
    const ids = decodeStrings(got, 'id');
    const texts = decodeStrings(got, 'text');
    const metadata = decodeStrings(got, 'metadata');
    const stored = new Map<string, { text: string | null; metadata: string | null }>();
    for (let i = 0; i < ids.length; i++) stored.set(ids[i]!, { text: texts[i]!, metadata: metadata[i]! });
    const same = new Set<string>();
    for (const d of batch) {
      const s = stored.get(d.id);
      if (s !== undefined && s.text === d.text && s.metadata === d.metadata) same.add(d.id);
    }
    return same;
  }
}

interface PreparedDocument {
  readonly id: string;
  readonly text: string;
  readonly metadata: string | null;
}

function checkId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id === '') {
    throw new InvalidArgumentError(`a document id must be a non-empty string, got ${JSON.stringify(id) ?? String(id)}`);
  }
  if (id.includes('\u0000')) throw new InvalidArgumentError(`document id ${JSON.stringify(id)} contains NUL`);
}

/** Validates every document (before anything is written) and de-duplicates by id, the last one winning. */
function prepare(docs: readonly TextDocument[]): PreparedDocument[] {
  if (!Array.isArray(docs)) throw new InvalidArgumentError('documents must be an array');
  const byId = new Map<string, PreparedDocument>();
  docs.forEach((d, i) => {
    if (d === null || typeof d !== 'object') {
      throw new InvalidArgumentError(`document ${i} must be an object with "text", got ${JSON.stringify(d)}`);
    }
    if (typeof d.text !== 'string') {
      throw new InvalidArgumentError(`document ${i} has no string "text" (got ${typeof d.text})`);
    }
    if (d.text.trim() === '') throw new InvalidArgumentError(`document ${i} has an empty text`);
    const id = d.id ?? contentId(d.text);
    checkId(id);
    let metadata: string | null = null;
    if (d.metadata !== undefined && d.metadata !== null) {
      if (typeof d.metadata !== 'object' || Array.isArray(d.metadata)) {
        throw new InvalidArgumentError(`document ${JSON.stringify(id)}: metadata must be a JSON object`);
      }
      try {
        metadata = JSON.stringify(d.metadata);
      } catch (err) {
        throw new InvalidArgumentError(
          `document ${JSON.stringify(id)}: metadata is not JSON-serialisable (${(err as Error).message})`,
        );
      }
    }
    byId.delete(id);
    byId.set(id, { id, text: d.text, metadata });
  });
  return [...byId.values()];
}

function hit(id: string, score: number, text: string, metadata: string | null): StoreHit {
  return metadata === null
    ? { id, score, text }
    : { id, score, text, metadata: JSON.parse(metadata) as Record<string, unknown> };
}
