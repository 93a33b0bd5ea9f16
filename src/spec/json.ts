import { ConfigError } from '../errors';

/**
 * Lossless JSON for config.json, process.json and update input.
 *
 * `JSON.parse` rounds integers beyond 2^53 (memory limits of 2^63-1, seccomp masks, device numbers), so
 * the parser below looks at each number's source text (the reviver's third argument) and returns an
 * integer outside ±(2^53-1) as a `bigint`, exactly as written. Everything else is what `JSON.parse` gives.
 */

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** A JSON numeral taken apart: sign, integer digits, fraction digits, exponent. */
const NUMERAL = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
/** Integer-valued numerals with more digits than this stay numbers (guards against `1e999999999`). */
const MAX_DIGITS = 400;
/** Cheap pre-check: without a long digit run or an exponent no number can be outside the safe range. */
const MAY_HOLD_BIG_NUMBER = /\d{16}|\d[eE]/;

interface ReviverContext {
  source?: string;
}

type Reviver = (this: unknown, key: string, value: unknown, context?: ReviverContext) => unknown;

/** The exact integer a numeral denotes (`12`, `1.5e3`, `9223372036854775807.0`), undefined if not an integer. */
function exactInteger(source: string): bigint | undefined {
  const match = NUMERAL.exec(source);
  if (match === null) return undefined;
  const [, sign = '', whole = '', fraction = '', exponentText = '0'] = match;
  const exponent = Number(exponentText);
  let digits = (whole + fraction).replace(/^0+(?=\d)/, '');
  let scale = exponent - fraction.length; // value = digits × 10^scale
  if (!Number.isFinite(scale) || Math.abs(scale) > MAX_DIGITS * 2) return undefined;
  if (scale < 0) {
    const keep = digits.length + scale;
    const dropped = keep > 0 ? digits.slice(keep) : digits;
    if (/[1-9]/.test(dropped)) return undefined;
    digits = keep > 0 ? digits.slice(0, keep) : '0';
    scale = 0;
  }
  if (digits.length + scale > MAX_DIGITS) return undefined;
  return BigInt(`${sign}${digits}${'0'.repeat(digits === '0' ? 0 : scale)}`);
}

const keepBigIntegers: Reviver = (_key, value, context) => {
  if (typeof value !== 'number' || Number.isSafeInteger(value) || context?.source === undefined) return value;
  const exact = exactInteger(context.source);
  if (exact === undefined || (exact <= MAX_SAFE && exact >= -MAX_SAFE)) return value;
  return exact;
};

/**
 * Deepest nesting of arrays and objects accepted. Everything that walks a document (validation, copies, state.json)
 * recurses, and 10,000 levels overflow Node's stack; real documents nest fewer than ten levels.
 */
export const MAX_NESTING = 512;

/** Strings of valid JSON text, escapes included: brackets inside them are not nesting. */
const JSON_STRING = /"[^"\\]*(?:\\.[^"\\]*)*"/g;
const BRACKET = /[[\]{}]/g;

/** Offset of the first bracket nested deeper than MAX_NESTING in valid JSON text, or -1. */
function tooDeepAt(text: string): number {
  // Each level needs a bracket: a document with few of them is shallow (the common case costs one regex scan).
  if ((text.match(BRACKET)?.length ?? 0) <= MAX_NESTING) return -1;
  const blanked = text.replace(JSON_STRING, (s) => ' '.repeat(s.length));
  let depth = 0;
  for (const match of blanked.matchAll(BRACKET)) {
    depth += match[0] === '[' || match[0] === '{' ? 1 : -1;
    if (depth > MAX_NESTING) return match.index;
  }
  return -1;
}

/**
 * `JSON.parse`, except that integers outside ±(2^53-1) come back as `bigint` with their exact value.
 * Invalid JSON throws a ConfigError at pointer `/`: `config.json: / is not valid JSON: <reason>`; so does a document
 * nested deeper than MAX_NESTING levels (`config.json: / nests arrays and objects more than 512 levels deep …`).
 */
export function parseJsonLossless(text: string, source?: string): unknown {
  const options = source === undefined ? {} : { source };
  let value: unknown;
  try {
    value = MAY_HOLD_BIG_NUMBER.test(text) ? JSON.parse(text, keepBigIntegers as (this: unknown, key: string, value: unknown) => unknown) : JSON.parse(text);
  } catch (error) {
    if (error instanceof RangeError) throw new ConfigError('', `nests arrays and objects more than ${MAX_NESTING} levels deep`, options);
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError('', `is not valid JSON: ${reason.replace(/\s+/g, ' ').trim()}`, options);
  }
  const at = tooDeepAt(text);
  if (at >= 0) throw new ConfigError('', `nests arrays and objects more than ${MAX_NESTING} levels deep (at character ${at})`, options);
  return value;
}

/** Deep copy of parsed JSON with every `bigint` turned into the nearest `number`. */
export function toPlainNumbers(value: unknown): unknown {
  return mapBigInts(value, Number);
}

/**
 * Deep copy of parsed JSON with every `bigint` replaced by `convert(value)`. Arrays and plain objects are
 * copied (own enumerable keys, `__proto__` included as an ordinary key); other values are returned as is.
 */
export function mapBigInts(value: unknown, convert: (big: bigint) => unknown): unknown {
  if (typeof value === 'bigint') return convert(value);
  if (Array.isArray(value)) return value.map((item) => mapBigInts(item, convert));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapBigInts(item, convert)]));
  }
  return value;
}

const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** `JSON.stringify` that writes a `bigint` as a bare integer (no quotes, no precision loss). */
export function stringifyLossless(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? rawJSON(item.toString()) : item), indent);
}
