// Errors of the LanceDB-backed document store. LanceDB's own errors are plain `Error`s with long Rust messages
// (source paths, backtraces); they reach callers wrapped in a StoreError whose message is one readable line.
import { MaxsimError } from '../core/errors.js';

/** `@lancedb/lancedb` or `apache-arrow` is not installed (they are optional peer dependencies), or not a usable version. */
export class StoreUnavailableError extends MaxsimError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_STORE_UNAVAILABLE', message, options);
  }
}

/** There is no store where one was asked for: a missing folder, or a folder without a documents table. */
export class StoreNotFoundError extends MaxsimError {
  readonly location: string;

  constructor(location: string, why: string) {
    super('E_STORE_NOT_FOUND', `no store at ${location}: ${why}`);
    this.location = location;
  }
}

/** The store holds vectors of another model or width than the caller (or its embedder) uses. */
export class StoreMismatchError extends MaxsimError {
  readonly stored: { model: string; dim: number | undefined };
  readonly asked: { model: string | undefined; dim: number | undefined };

  constructor(
    location: string,
    stored: { model: string; dim: number | undefined },
    asked: { model: string | undefined; dim: number | undefined },
    what = 'asked for',
  ) {
    const show = (s: { model: string | undefined; dim: number | undefined }): string =>
      [s.model === undefined ? undefined : `model "${s.model}"`, s.dim === undefined ? undefined : `dim ${s.dim}`]
        .filter((x) => x !== undefined)
        .join(', ');
    super(
      'E_STORE_MISMATCH',
      `the store at ${location} holds ${show(stored)}; ${what} ${show(asked)}. Vectors of different models ` +
        `(or widths) cannot be scored together: use the model the store was indexed with, or index into a new store.`,
    );
    this.stored = stored;
    this.asked = asked;
  }
}

/** A search filter LanceDB could not parse or evaluate (an SQL predicate over `id`, `text`, `metadata`). */
export class StoreFilterError extends MaxsimError {
  readonly filter: string;

  constructor(filter: string, reason: string, options?: { cause?: unknown }) {
    super(
      'E_STORE_FILTER',
      `filter ${JSON.stringify(filter)} is not a valid predicate: ${reason}. Filters are SQL over the columns ` +
        `id, text and metadata (JSON text), e.g. "id IN ('a', 'b')" or "metadata LIKE '%\\"lang\\":\\"en\\"%'".`,
      options,
    );
    this.filter = filter;
  }
}

/** LanceDB failed (I/O, a corrupt table, a conflicting writer that kept winning, ...); the message is its first line. */
export class StoreError extends MaxsimError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_STORE', message, options);
  }
}

/**
 * A LanceDB error as one readable line: the outermost message, without the "Caused by:" chain, Rust source
 * locations or the binding's boilerplate prefixes.
 *
 * @example
 * lanceMessage(new Error('Failed to execute query stream: GenericFailure, lance error: Invalid user input: Schema error: No field named x, /usr/local/cargo/.../sql.rs:113:22  Caused by: ...'));
 * // 'Invalid user input: Schema error: No field named x'
 */
export function lanceMessage(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const outer = raw.split(/\s*Caused by:/)[0] ?? raw;
  return outer
    .replace(/,?\s*(?:\/[^\s,]*)?\/[^\s,/]+\.rs:\d+:\d+/g, '')
    .replace(/^(?:Failed to execute query stream: )?(?:GenericFailure, )?(?:lance error: )?/, '')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\.$/, '');
}
