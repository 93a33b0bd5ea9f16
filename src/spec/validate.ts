import { ConfigError, describeValue } from '../errors';
import { validateConfig, validateState, type CompiledValidator, type SchemaError } from './generated/validators';
import { mapBigInts, parseJsonLossless, stringifyLossless } from './json';
import { checkConfigSemantics } from './semantic-checks';
import type { ContainerStateJson, Spec } from './types';

/**
 * config.json (and state) validation: lossless parse → schema (validators compiled ahead of time from
 * src/spec/schema by scripts/compile-schemas.mjs) → semantic checks. Every failure is one ConfigError
 * line: `config.json: <JSON pointer> <expectation>, got <value>`.
 */

/** Parse, validate and check config.json text; returns the lossless document (64-bit values may be bigint). */
export function loadConfig(text: string, source = 'config.json'): Spec {
  return validateConfigObject(parseJsonLossless(text, source), source);
}

/** Validate an already parsed (ideally losslessly) config.json document against the schema and semantic checks. */
export function validateConfigObject(value: unknown, source = 'config.json'): Spec {
  checkConfigSchema(value, source);
  const spec = value as Spec;
  checkConfigSemantics(spec, source);
  return spec;
}

/** Only the schema part of validateConfigObject: throws the ConfigError of the first violation. */
export function checkConfigSchema(value: unknown, source = 'config.json'): void {
  runValidator(validateConfig, value, source);
}

/** Parse and validate a state document (`tsrun state` output, runtime-spec State plus runc's extras). */
export function loadState(text: string, source = 'state.json'): ContainerStateJson {
  return validateStateObject(parseJsonLossless(text, source), source);
}

export function validateStateObject(value: unknown, source = 'state.json'): ContainerStateJson {
  runValidator(validateState, value, source);
  return value as ContainerStateJson;
}

const U64_MAX = 2n ** 64n - 1n;
const I64_MIN = -(2n ** 63n);
const I64_LIMIT = 2n ** 63n;
/** The smallest double above 2^63: anything at or above 2^63 must fail an int64 maximum. */
const ABOVE_I64_MAX = 2 ** 63 + 2048;

/**
 * A bigint as the number the compiled validator sees. Bounds in the schema are doubles (2^64-1 and 2^63-1
 * both round up), so values near them are nudged to keep the range checks exact: above uint64 → 2^65,
 * 2^63..2^64-1 → strictly above 2^63, below int64 → -2^65.
 */
function validatorNumber(value: bigint): number {
  if (value > U64_MAX) return 2 ** 65;
  if (value < I64_MIN) return -(2 ** 65);
  if (value >= I64_LIMIT) return Math.max(Number(value), ABOVE_I64_MAX);
  return Number(value);
}

function runValidator(validator: CompiledValidator, value: unknown, source: string): void {
  if (validator(mapBigInts(value, validatorNumber))) return;
  const { pointer, message } = describeSchemaErrors(validator.errors ?? [], value);
  throw new ConfigError(pointer, message, { source });
}

/** Doubles that stand for exact 64-bit bounds in the schema. */
const EXACT_BOUNDS = new Map<number, string>([
  [2 ** 64, '18446744073709551615'],
  [2 ** 63, '9223372036854775807'],
  [-(2 ** 63), '-9223372036854775808'],
]);

function bound(value: unknown): string {
  return typeof value === 'number' ? (EXACT_BOUNDS.get(value) ?? String(value)) : String(value);
}

type SchemaNode = Record<string, unknown>;

function asNode(value: unknown): SchemaNode | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as SchemaNode) : undefined;
}

/** Noun phrase for what a schema accepts: "an array of strings", "an integer between 0 and 65535", ... */
export function describeSchema(schema: unknown): string {
  const node = asNode(schema);
  if (node === undefined) return schema === false ? 'absent' : 'valid';
  if (typeof node['x-expect'] === 'string') return node['x-expect'];
  if (Array.isArray(node.enum)) return `one of ${node.enum.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}`;
  if ('const' in node) return JSON.stringify(node.const);
  switch (node.type) {
    case 'array': {
      const base = node.minItems === 1 ? 'a non-empty array' : 'an array';
      const items = asNode(node.items);
      return items === undefined || typeof items.$ref === 'string' ? base : `${base} of ${describePlural(items)}`;
    }
    case 'object':
      return 'an object';
    case 'integer':
    case 'number': {
      const noun = node.type === 'integer' ? 'an integer' : 'a number';
      if (node.minimum !== undefined && node.maximum !== undefined) return `${noun} between ${bound(node.minimum)} and ${bound(node.maximum)}`;
      if (node.minimum !== undefined) return `${noun} >= ${bound(node.minimum)}`;
      if (node.maximum !== undefined) return `${noun} <= ${bound(node.maximum)}`;
      return noun;
    }
    case 'boolean':
      return 'true or false';
    case 'null':
      return 'null';
    case 'string':
    default:
      if (typeof node.pattern === 'string') return `a string matching ${node.pattern}`;
      if (node.minLength === 1) return 'a non-empty string';
      return node.type === 'string' ? 'a string' : 'valid';
  }
}

/** "strings", "objects", "integers between 0 and 4294967295": the items of an array. */
function describePlural(items: SchemaNode): string {
  const single = describeSchema(items);
  const plain: Record<string, string> = { 'a string': 'strings', 'an object': 'objects', 'an integer': 'integers', 'true or false': 'booleans' };
  if (plain[single] !== undefined) return plain[single];
  if (single.startsWith('an integer ')) return `integers ${single.slice('an integer '.length)}`;
  if (single.startsWith('a string ')) return `strings ${single.slice('a string '.length)}`;
  return `values that are each ${single}`;
}

/** describeValue, but objects and arrays may hold bigints (written as bare integers). */
function describeGot(value: unknown): string {
  if (value === null || typeof value !== 'object') return describeValue(value);
  const text = stringifyLossless(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The value at a JSON pointer of the (lossless) document, undefined if absent. */
function valueAt(document: unknown, pointer: string): unknown {
  if (pointer === '') return document;
  let current = document;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

const COMBINATORS = new Set(['anyOf', 'oneOf']);
const WRAPPERS = new Set(['if', 'then', 'else', 'allOf', 'not', 'propertyNames']);

/** Turn the compiled validator's errors into one pointer and one human sentence. */
export function describeSchemaErrors(errors: readonly SchemaError[], document: unknown): { pointer: string; message: string } {
  if (errors.length === 0) return { pointer: '', message: 'is invalid' };
  const combinator = errors.findLast((e) => COMBINATORS.has(e.keyword));
  if (combinator !== undefined) {
    const branches = errors.filter((e) => e !== combinator && e.schemaPath.startsWith(`${combinator.schemaPath}/`));
    const deepest = branches.reduce<SchemaError | undefined>(
      (best, e) => (best === undefined || e.instancePath.length > best.instancePath.length ? e : best),
      undefined,
    );
    if (deepest === undefined || deepest.instancePath === combinator.instancePath) {
      const options = Array.isArray(combinator.schema) ? combinator.schema.map(describeSchema) : [];
      const got = describeGot(valueAt(document, combinator.instancePath));
      return {
        pointer: combinator.instancePath,
        message: options.length > 0 ? `must be ${options.join(' or ')}, got ${got}` : `must match one of the allowed forms, got ${got}`,
      };
    }
    return describeOne(deepest, document);
  }
  const first = errors.find((e) => !WRAPPERS.has(e.keyword)) ?? errors[0];
  return describeOne(first as SchemaError, document);
}

function describeOne(error: SchemaError, document: unknown): { pointer: string; message: string } {
  const pointer = error.instancePath;
  const got = `, got ${describeGot(valueAt(document, pointer))}`;
  const params = error.params;
  const parent = error.parentSchema;
  if (error.propertyName !== undefined) {
    const expected = describeSchema(parent);
    if (error.propertyName === '' && expected === 'a non-empty string') return { pointer, message: 'must not have an empty key' };
    return { pointer, message: `has key ${JSON.stringify(error.propertyName)}, but each key must be ${expected}` };
  }
  switch (error.keyword) {
    case 'required':
      return { pointer, message: `must have required property ${JSON.stringify(params.missingProperty)}` };
    case 'dependencies':
    case 'dependentRequired':
      return { pointer, message: `must have property ${JSON.stringify(params.missingProperty)} when ${JSON.stringify(params.property)} is set` };
    case 'additionalProperties':
      return { pointer, message: `must not have property ${JSON.stringify(params.additionalProperty)}` };
    case 'minItems':
      return { pointer, message: `${params.limit === 1 ? 'must be a non-empty array' : `must have at least ${String(params.limit)} items`}${got}` };
    case 'maxItems':
      return { pointer, message: `must have at most ${String(params.limit)} items${got}` };
    case 'uniqueItems':
      return { pointer, message: `must not repeat items (items ${String(params.j)} and ${String(params.i)} are equal)` };
    case 'type':
    case 'enum':
    case 'const':
    case 'pattern':
    case 'format':
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
    case 'minLength':
    case 'maxLength':
    case 'multipleOf':
      return { pointer, message: `must be ${describeSchema(parent)}${got}` };
    default:
      return { pointer, message: `${error.message ?? `fails ${error.keyword}`}${got}` };
  }
}
