/**
 * The kinds of value a hyperparameter can have: integer, number, boolean, one of a set of
 * strings, or a list of such strings. A kind checks a JSON value strictly — no coercion:
 * `"3"`, `true`, `""` or a non-finite number is never an integer — and describes itself
 * for error messages, the docs table and the JSON Schemas generated from the table
 * (REST body, trainer spec).
 */

/** The subset of JSON Schema the generated schemas use (the trainer validates it by hand). */
export interface ValueSchema {
  type: 'integer' | 'number' | 'boolean' | 'string' | 'array';
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  enum?: readonly string[];
  items?: ValueSchema;
  minItems?: number;
}

export interface Kind<T> {
  readonly name: 'integer' | 'number' | 'boolean' | 'enum' | 'list';
  /** The value when `raw` is a valid one, else undefined. */
  accept(raw: unknown): T | undefined;
  /** For errors: "an integer from 1 to 100". */
  readonly describe: string;
  /** For the docs table: "1–100". */
  readonly range: string;
  readonly schema: ValueSchema;
}

/** Bounds of a numeric kind; `minOpen`/`maxOpen` exclude the bound itself. */
export interface Bounds {
  min?: number;
  max?: number;
  minOpen?: boolean;
  maxOpen?: boolean;
}

const fmt = (n: number) => (Number.isInteger(n) && Math.abs(n) >= 10_000 ? n.toLocaleString('en-US') : String(n));

function inBounds(n: number, b: Bounds): boolean {
  if (b.min !== undefined && (b.minOpen ? n <= b.min : n < b.min)) return false;
  if (b.max !== undefined && (b.maxOpen ? n >= b.max : n > b.max)) return false;
  return true;
}

function boundsText(b: Bounds, integer: boolean): { words: string; range: string } {
  const lo = b.min === undefined ? undefined : `${b.minOpen ? '>' : '≥'} ${fmt(b.min)}`;
  const hi = b.max === undefined ? undefined : `${b.maxOpen ? '<' : '≤'} ${fmt(b.max)}`;
  if (integer && lo && hi && !b.minOpen && !b.maxOpen) {
    return { words: `from ${fmt(b.min!)} to ${fmt(b.max!)}`, range: `${fmt(b.min!)}–${fmt(b.max!)}` };
  }
  if (lo && hi) {
    return {
      words: `${lo} and ${hi}`,
      range: `${b.minOpen ? '(' : '['}${fmt(b.min!)}, ${fmt(b.max!)}${b.maxOpen ? ')' : ']'}`,
    };
  }
  return { words: lo ?? hi ?? '', range: lo ?? hi ?? 'any' };
}

function boundsSchema(type: 'integer' | 'number', b: Bounds): ValueSchema {
  const s: ValueSchema = { type };
  if (b.min !== undefined) s[b.minOpen ? 'exclusiveMinimum' : 'minimum'] = b.min;
  if (b.max !== undefined) s[b.maxOpen ? 'exclusiveMaximum' : 'maximum'] = b.max;
  return s;
}

/** A whole number (a JSON number without a fraction; `2.0` counts, `"2"` does not). */
export function integerKind(b: Bounds): Kind<number> {
  const text = boundsText(b, true);
  return {
    name: 'integer',
    accept: (raw) => (typeof raw === 'number' && Number.isSafeInteger(raw) && inBounds(raw, b) ? raw : undefined),
    describe: `an integer ${text.words}`.trim(),
    range: text.range,
    schema: boundsSchema('integer', b),
  };
}

/** A finite number. */
export function numberKind(b: Bounds): Kind<number> {
  const text = boundsText(b, false);
  return {
    name: 'number',
    accept: (raw) => (typeof raw === 'number' && Number.isFinite(raw) && inBounds(raw, b) ? raw : undefined),
    describe: `a finite number ${text.words}`.trim(),
    range: text.range,
    schema: boundsSchema('number', b),
  };
}

export function booleanKind(): Kind<boolean> {
  return {
    name: 'boolean',
    accept: (raw) => (typeof raw === 'boolean' ? raw : undefined),
    describe: 'true or false',
    range: 'true, false',
    schema: { type: 'boolean' },
  };
}

/** One of `values` (exact spelling). */
export function enumKind<const V extends string>(values: readonly V[]): Kind<V> {
  return {
    name: 'enum',
    accept: (raw) => (typeof raw === 'string' && (values as readonly string[]).includes(raw) ? (raw as V) : undefined),
    describe: `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`,
    range: values.join(', '),
    schema: { type: 'string', enum: values },
  };
}

/** A non-empty list of strings from `values`. */
export function listKind<const V extends string>(values: readonly V[]): Kind<V[]> {
  return {
    name: 'list',
    accept: (raw) =>
      Array.isArray(raw) && raw.length > 0 && raw.every((v) => typeof v === 'string' && (values as readonly string[]).includes(v))
        ? [...(raw as V[])]
        : undefined,
    describe: `a non-empty list of names from ${values.join(', ')}`,
    range: values.join(', '),
    schema: { type: 'array', items: { type: 'string', enum: values }, minItems: 1 },
  };
}

/** A JSON value as an error message quotes it: `Infinity` and `undefined` too, long text cut. */
export function quote(raw: unknown): string {
  if (typeof raw === 'number' && !Number.isFinite(raw)) return String(raw);
  const text = JSON.stringify(raw) ?? String(raw);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
