/**
 * Every error this library throws on purpose is a {@link MaxsimError} with a stable `code`, so callers can
 * branch on `err.code` instead of parsing messages. Messages say what was wrong, with the values, and how to
 * fix it.
 *
 * @example
 * try { await createScorer({ backend: 'webgpu' }); }
 * catch (err) { if (err instanceof MaxsimError && err.code === 'E_BACKEND_UNAVAILABLE') useCpu(); }
 */
export class MaxsimError extends Error {
  /** Stable machine-readable code, e.g. `E_DIM_MISMATCH`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** A token matrix is malformed: wrong length, non-finite value, bad shape. Names the row and column. */
export class InvalidTokenMatrixError extends MaxsimError {
  /** Row of the first bad value, when the problem is a value. */
  readonly row: number | undefined;
  /** Column of the first bad value, when the problem is a value. */
  readonly column: number | undefined;

  constructor(message: string, where: { row?: number; column?: number } = {}) {
    super('E_INVALID_MATRIX', message);
    this.row = where.row;
    this.column = where.column;
  }
}

/** Query and document (or two documents) have different embedding widths. */
export class DimensionMismatchError extends MaxsimError {
  readonly expected: number;
  readonly actual: number;

  constructor(expected: number, actual: number, what: string) {
    super(
      'E_DIM_MISMATCH',
      `${what} has dim ${actual} but ${expected} was expected: every query and document must come from the same ` +
        `embedding model (same vector width). Re-embed with one model, or check that you did not mix up dims.`,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/** An argument outside what the API accepts (bad option value, wrong type). */
export class InvalidArgumentError extends MaxsimError {
  constructor(message: string) {
    super('E_INVALID_ARGUMENT', message);
  }
}

/** The requested backend cannot run here; the message says why and what to do instead. */
export class BackendUnavailableError extends MaxsimError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_BACKEND_UNAVAILABLE', message, options);
  }
}

/** A scorer or corpus was used after `destroy()`. */
export class DestroyedError extends MaxsimError {
  constructor(what: string) {
    super('E_DESTROYED', `${what} was used after destroy(). Create a new one with createScorer() / scorer.upload().`);
  }
}

/** A caller's `AbortSignal` fired (a deadline, or a client that went away); `cause` is the signal's reason. */
export class AbortedError extends MaxsimError {
  constructor(what: string, reason: unknown) {
    super('E_ABORTED', `${what} was aborted by the caller`, { cause: reason });
  }
}

/**
 * A query and a corpus whose products could overflow float32. Scores are float32 on every backend, and an
 * overflow would give -Infinity on one and -3.4e38 on another, so such a pair is refused before any work: when
 * Σ|query values| × max|document value| ≥ 2^127 (half of float32's range, leaving room for rounding), no score
 * is computed. Below that bound no product, dot product or sum can overflow, in any summation order.
 */
export class ScoreOverflowError extends MaxsimError {
  constructor(what: string, queryAbsSum: number, docMaxAbs: number) {
    super(
      'E_SCORE_OVERFLOW',
      `${what} against these documents could overflow float32: the sum of |query values| (${queryAbsSum.toPrecision(3)}) ` +
        `times the largest |document value| (${docMaxAbs.toPrecision(3)}) is ${(queryAbsSum * docMaxAbs).toPrecision(3)}, ` +
        'at least 2^127 (1.7e38), so a dot product or a sum could pass float32 range (3.4e38). Scale the embeddings ' +
        'down (normalise rows, as embedding models do) before scoring.',
    );
  }
}

/** A corpus was passed to a scorer other than the one that uploaded it. */
export class ForeignCorpusError extends MaxsimError {
  constructor() {
    super(
      'E_FOREIGN_CORPUS',
      'This corpus was uploaded by a different scorer. Upload the documents with the scorer you score with ' +
        '(scorer.upload(docs)), or pass the TokenMatrix[] directly.',
    );
  }
}

/** What was wrong with a corpus file, for code that branches on more than {@link CorpusFileError.code}. */
export type CorpusFileProblem =
  /** The 8-byte header size is missing, too large, or points past the end of the bytes. */
  | 'header-size'
  /** The header is not UTF-8 JSON of the safetensors shape (an object of tensor entries and `__metadata__`). */
  | 'header-json'
  /** `__metadata__` is not an object of strings, or contradicts the tensors (format, version, dim, documents). */
  | 'metadata'
  /** A dtype that safetensors does not define, or one this tensor may not have. */
  | 'dtype'
  /** A shape that is not a list of integers, or shapes that disagree with each other or with the byte ranges. */
  | 'shape'
  /** `data_offsets` outside the data, not `[begin, end]`, not aligned to the element size, or leaving gaps. */
  | 'data-offsets'
  /** A required tensor (`embeddings`, `offsets`, `scales` for I8, the pair of `ids`/`id_offsets`, …) is absent. */
  | 'missing-tensor'
  /** Row or byte offsets that do not start at 0, go backwards, or do not end at the total. */
  | 'row-offsets'
  /** A NaN or ±Infinity embedding value, a negative or non-finite int8 scale, or text that is not UTF-8. */
  | 'values'
  /** The bytes end before the data the header describes, or go on after it. */
  | 'truncated'
  /** The decoded corpus would not fit in one Float32Array. */
  | 'too-large';

/**
 * A corpus file (safetensors, see `readCorpusFile`) is malformed. `problem` says which check failed and
 * `tensor` names the tensor when one is at fault; the message gives the values and how to fix the file.
 */
export class CorpusFileError extends MaxsimError {
  readonly problem: CorpusFileProblem;
  readonly tensor: string | undefined;

  constructor(problem: CorpusFileProblem, message: string, tensor?: string) {
    super('E_CORPUS_FORMAT', message);
    this.problem = problem;
    this.tensor = tensor;
  }
}

/**
 * The chain of `message`s (and `code`s) of an error and its causes, for one-line reports.
 *
 * @example
 * describeCause(new Error('fetch failed', { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) }));
 * // 'fetch failed ← ECONNREFUSED refused'
 */
export function describeCause(cause: unknown): string {
  const parts: string[] = [];
  let c: unknown = cause;
  for (let depth = 0; depth < 4 && c !== undefined && c !== null; depth++) {
    const e = c as { message?: unknown; code?: unknown; cause?: unknown };
    const text = [typeof e.code === 'string' ? e.code : '', typeof e.message === 'string' ? e.message : String(c)]
      .filter((s) => s !== '')
      .join(' ');
    if (text !== '' && !parts.includes(text)) parts.push(text);
    c = e.cause;
  }
  return parts.length === 0 ? 'unknown network error' : parts.join(' ← ');
}

/**
 * A value as error messages show it: numbers and short strings as themselves, arrays by length, objects by class.
 *
 * @example
 * describeValue([1, 2]); // 'an array of length 2'
 * describeValue(undefined); // 'missing'
 */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'missing';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}
