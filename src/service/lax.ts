// Pydantic v2's lax-mode coercion, which is what vLLM (FastAPI) applies to request fields: integers from integral
// floats, booleans and numeric strings; booleans from 0/1 and a few words. Rules from pydantic-core v2.41
// (src/input/shared.rs, input_python.rs). Universal: used by the rerank service and by the /pooling stand-in.

/** A field that failed coercion: pydantic's error `type` and `msg`, and the offending input. */
export interface LaxError {
  readonly type: string;
  readonly msg: string;
  readonly input: unknown;
}

/** The result of a lax coercion: the value, or the error pydantic would report. */
export type LaxResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: LaxError };

const ok = <T>(value: T): LaxResult<T> => ({ ok: true, value });
const fail = (type: string, msg: string, input: unknown): LaxResult<never> => ({
  ok: false,
  error: { type, msg, input },
});

const INT_TYPE = 'Input should be a valid integer';
const INT_PARSING = 'Input should be a valid integer, unable to parse string as an integer';

/**
 * An `int` field in lax mode: integers as they are, integral floats (`5.0`), booleans (1/0) and numeric strings
 * (`" +005 "`, `"5.000"`, `"1_000"`); `null`, lists and objects are `int_type`; fractions are `int_from_float`.
 *
 * @example
 * laxInt('5.0'); // { ok: true, value: 5 }
 * laxInt('5.5'); // { ok: false, error: { type: 'int_parsing', ... } }
 */
export function laxInt(input: unknown): LaxResult<number> {
  if (typeof input === 'boolean') return ok(input ? 1 : 0);
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return fail('finite_number', 'Input should be a finite number', input);
    if (!Number.isInteger(input)) {
      return fail('int_from_float', 'Input should be a valid integer, got a number with a fractional part', input);
    }
    return ok(input);
  }
  if (typeof input === 'string') {
    const s = input.trim();
    if (s.length > 4300)
      return fail('int_parsing_size', 'Unable to parse input string as an integer, exceeds maximum size', input);
    const parsed = parseIntString(s);
    return parsed === undefined ? fail('int_parsing', INT_PARSING, input) : ok(parsed);
  }
  return fail('int_type', INT_TYPE, input);
}

/** `[+-]digits` with single underscores between digits, then optionally `.` and one or more zeros. */
function parseIntString(s: string): number | undefined {
  const m = /^([+-]?)(\d+(?:_\d+)*)(?:\.0+)?$/.exec(s);
  if (m === null) return undefined;
  const value = Number(`${m[1]}${m[2]!.replaceAll('_', '')}`);
  // Beyond 2^53 a JSON number would have lost precision anyway; pydantic would keep a big int.
  return Number.isSafeInteger(value) ? value : undefined;
}

const BOOL_PARSING = 'Input should be a valid boolean, unable to interpret input';

/**
 * A `bool` field in lax mode: booleans, 0/1 (also 0.0/1.0), and the strings pydantic accepts (case-insensitive
 * `true/t/yes/y/on` and `false/f/no/n/off`, or exactly `"1"`/`"0"`); no trimming, nothing else.
 *
 * @example
 * laxBool('Yes'); // { ok: true, value: true }
 */
export function laxBool(input: unknown): LaxResult<boolean> {
  if (typeof input === 'boolean') return ok(input);
  if (typeof input === 'number') {
    if (input === 0) return ok(false);
    if (input === 1) return ok(true);
    return Number.isInteger(input)
      ? fail('bool_parsing', BOOL_PARSING, input)
      : fail('bool_type', 'Input should be a valid boolean', input);
  }
  if (typeof input === 'string') {
    if (input === '1') return ok(true);
    if (input === '0') return ok(false);
    const lower = input.toLowerCase();
    if (['t', 'y', 'on', 'yes', 'true'].includes(lower)) return ok(true);
    if (['f', 'n', 'no', 'off', 'false'].includes(lower)) return ok(false);
    return fail('bool_parsing', BOOL_PARSING, input);
  }
  return fail('bool_type', 'Input should be a valid boolean', input);
}
