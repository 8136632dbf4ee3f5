// Validation errors shaped like vLLM's RequestValidationError handler (status 400, message
// "<n> validation error(s):\n  {python repr of each pydantic error}", param = dotted location), and the field
// readers that collect them the way pydantic does: every bad field reported, not only the first.
import type { IncomingMessage } from 'node:http';
import { laxBool, laxInt } from '../../service/lax.js';
import { HttpError } from './envelope.js';
import type { ServerState } from './server.js';

export interface FieldError {
  readonly type: string;
  readonly loc: readonly (string | number)[];
  readonly msg: string;
  readonly input: unknown;
  readonly ctx?: Readonly<Record<string, string>>;
}

export function validationError(state: ServerState, errors: readonly (FieldError | string)[]): HttpError {
  const shown = errors.slice(0, 10).map((e) => {
    const text = typeof e === 'string' ? e : pyRepr(errorRecord(e));
    return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
  });
  const n = errors.length;
  const message = `${n} validation error${n === 1 ? '' : 's'}:\n  ${shown.join('\n  ')}`;
  const first = errors[0];
  const param = first === undefined || typeof first === 'string' ? null : first.loc.join('.');
  return new HttpError(400, state.mode === 'newest' ? 'Bad Request' : 'BadRequestError', message, param);
}

function errorRecord(e: FieldError): PyValue {
  const input = typeof e.input === 'string' && e.input.length > 200 ? `${e.input.slice(0, 200)}…` : e.input;
  const rec: Record<string, PyValue> = {
    type: e.type,
    loc: { tuple: e.loc.map((x) => x) },
    msg: e.msg,
    input: toPy(input),
  };
  if (e.ctx !== undefined) rec['ctx'] = { ...e.ctx };
  return rec;
}

type PyValue = string | number | boolean | null | PyValue[] | { tuple: PyValue[] } | { [k: string]: PyValue };

function toPy(v: unknown): PyValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.slice(0, 20).map(toPy);
  if (typeof v === 'object') {
    const out: Record<string, PyValue> = {};
    for (const [k, x] of Object.entries(v as object).slice(0, 20)) out[k] = toPy(x);
    return out;
  }
  return String(v);
}

/** Python's `repr` for the values pydantic errors hold (str quotes, True/False/None, tuples). */
function pyRepr(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyFloat(v);
  if (typeof v === 'string') return pyStr(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if ('tuple' in v && Array.isArray(v['tuple'])) {
    const items = (v['tuple'] as PyValue[]).map(pyRepr);
    return `(${items.join(', ')}${items.length === 1 ? ',' : ''})`;
  }
  return `{${Object.entries(v)
    .map(([k, x]) => `${pyStr(k)}: ${pyRepr(x)}`)
    .join(', ')}}`;
}

function pyFloat(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  return String(v);
}

export function pyStr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch < ' ') out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** Pydantic's wording for a literal set: `'a', 'b' or 'c'`. */
function expectedLiterals(values: readonly string[]): string {
  const quoted = values.map((v) => `'${v}'`);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]!}`;
}

export function checkJsonRequest(state: ServerState, req: IncomingMessage, jsonError: string | undefined): void {
  const type = (headerValue(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw validationError(state, ["Unsupported Media Type: Only 'application/json' is allowed"]);
  }
  if (jsonError !== undefined) {
    throw validationError(state, [
      { type: 'json_invalid', loc: ['body'], msg: 'JSON decode error', input: {}, ctx: { error: jsonError } },
    ]);
  }
}

export function literal<T extends string>(
  body: Record<string, unknown>,
  key: string,
  values: readonly T[],
  errors: FieldError[],
): T | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
  const expected = expectedLiterals(values);
  errors.push({
    type: 'literal_error',
    loc: ['body', key],
    msg: `Input should be ${expected}`,
    input: v,
    ctx: { expected },
  });
  return undefined;
}

export function typed(
  body: Record<string, unknown>,
  key: string,
  type: 'string',
  errors: FieldError[],
): string | null | undefined;
export function typed(
  body: Record<string, unknown>,
  key: string,
  type: 'boolean',
  errors: FieldError[],
): boolean | null | undefined;
export function typed(
  body: Record<string, unknown>,
  key: string,
  type: 'string' | 'boolean',
  errors: FieldError[],
): string | boolean | null | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (type === 'boolean') {
    // pydantic's lax mode: 0/1, "yes"/"off"/… are booleans too.
    const r = laxBool(v);
    if (r.ok) return r.value;
    errors.push({ type: r.error.type, loc: ['body', key], msg: r.error.msg, input: v });
    return undefined;
  }
  if (typeof v === type) return v as string;
  errors.push({ type: 'string_type', loc: ['body', key], msg: 'Input should be a valid string', input: v });
  return undefined;
}

export function integer(
  body: Record<string, unknown>,
  key: string,
  min: number | undefined,
  errors: FieldError[],
): number | null | undefined {
  const raw = body[key];
  if (raw === undefined) return undefined;
  if (raw === null) return null;
  // pydantic's lax mode: integral floats, booleans and numeric strings ("5", " +5 ", "5.0") are integers too.
  const r = laxInt(raw);
  if (!r.ok) {
    errors.push({ type: r.error.type, loc: ['body', key], msg: r.error.msg, input: raw });
    return undefined;
  }
  const v = r.value;
  if (min !== undefined && v < min) {
    errors.push({
      type: 'greater_than_equal',
      loc: ['body', key],
      msg: `Input should be greater than or equal to ${min}`,
      input: raw,
      ctx: { ge: String(min) },
    });
    return undefined;
  }
  return v;
}

/** A JSON object (not an array, not null). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The first value of a request header. */
export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
