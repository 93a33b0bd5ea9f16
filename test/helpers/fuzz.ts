/**
 * Hostile-input fuzzing helpers: a small seeded PRNG and mutators for JSON documents (config.json) and command
 * lines. Everything is deterministic for a seed, so a failing case is reproduced by its seed (and case number).
 * Pure: no file system, no processes (test/integration/fuzz-config.test.ts runs the results through bin/tsrun).
 */

/** sfc32 seeded through splitmix32: fast, good enough for test-case generation, identical on every platform. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }
}

/** The seed of case `index` of a run seeded with `seed`: cases can be replayed one by one. */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return (h ^ (h >>> 15)) >>> 0;
}

/** TSRUN_FUZZ_SEED (decimal or 0x hex) or a fresh seed; the caller prints it. */
export function fuzzSeedFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.TSRUN_FUZZ_SEED;
  if (text !== undefined && text !== '') {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`TSRUN_FUZZ_SEED ${text}: must be an integer 0..4294967295`);
    return value;
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON documents with the things JSON.stringify cannot write: verbatim fragments and duplicate keys.

/** A JSON fragment written verbatim (numbers beyond double precision, 10,000 levels of nesting, invalid tokens). */
export class Raw {
  constructor(readonly text: string) {}
}

/** An object written with these entries in this order, duplicate keys included. */
export class Entries {
  constructor(readonly entries: [string, Doc][]) {}
}

export type Doc = null | boolean | number | string | Raw | Entries | Doc[] | { [key: string]: Doc };

/** Marks the place of raw bytes inside a string (invalid UTF-8), replaced after encoding. */
const BYTES_MARK = '\uE000fuzz-bytes\uE000';

function isPlainObject(value: unknown): value is Record<string, Doc> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Raw) && !(value instanceof Entries);
}

/** Writes a Doc as JSON text (two-space indentation like the fixtures; Raw verbatim; Entries with duplicates). */
export function serialize(value: Doc, indent = ''): string {
  if (value instanceof Raw) return value.text;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((item) => inner + serialize(item, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = value instanceof Entries ? value.entries : Object.entries(value);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([key, item]) => `${inner}${JSON.stringify(key)}: ${serialize(item, inner)}`).join(',\n')}\n${indent}}`;
}

/** Deep copy of a Doc that may already hold mutations: Raw texts (not JSON by themselves) and Entries. */
function copyDoc(value: Doc): Doc {
  if (value === null || typeof value !== 'object' || value instanceof Raw) return value;
  if (value instanceof Entries) return new Entries(value.entries.map(([key, item]) => [key, copyDoc(item)]));
  if (Array.isArray(value)) return value.map(copyDoc);
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, copyDoc(item)]));
}

/** Deep copy of plain JSON (as JSON.parse gives) into a Doc. */
export function toDoc(value: unknown): Doc {
  return JSON.parse(JSON.stringify(value)) as Doc;
}

// ---------------------------------------------------------------------------------------------------------------
// Values

/** Strings that have broken parsers and path handling before. None names a mount flag or an existing host file. */
export const INTERESTING_STRINGS: readonly string[] = [
  '', ' ', 'a', 'x y', '-1', '0', 'true', 'null', '.', '..', '../..', '/', '//', '/nonexistent-fuzz', 'rootfs', 'é',
  '😀', '\t', '\n', '\r\n', '%s%n', '${HOME}', 'a=b', '=', 'CAP_SYS_ADMIN', 'SIGKILL', 'RLIMIT_NOFILE', '0x10', '1e3',
  'NaN', 'Infinity', '-Infinity', '\u202e', '\ufeff', '\u0085', '\u2028', 'a\u0000b', '\u0000', '\\', '"', 'sh', '-',
  '--', '1:2', 'a:b:c', '*', '?', 'ä'.repeat(300), '/proc/self/fd/0/x',
];

/** Numbers written verbatim: beyond doubles and 64-bit, negative zero, exponents, and invalid JSON numerals. */
export const HUGE_NUMBERS: readonly string[] = [
  '9007199254740993', '-9007199254740993', '1e308', '-1e308', '1e400', '-1e400', '1e-400', '-1', '-0', '0.5', '-0.0',
  '18446744073709551616', '18446744073709551615', '9223372036854775808', '-9223372036854775809', '4294967296',
  '4294967295', '2147483648', '-2147483649', '65536', '1.0', '1E2', '123456789012345678901234567890', '0e0',
  `1${'0'.repeat(500)}`, '1e999999999',
  // JSON strings that look like numbers
  '"NaN"', '"Infinity"', '"-0"', '"1e3"', '"0x10"', '"12"',
  // Not JSON at all
  'NaN', 'Infinity', '-Infinity', '01', '1.', '.5', '+1', '0x10', '1_000', '-',
];

export function randomString(rng: Rng): string {
  switch (rng.int(4)) {
    case 0:
      return rng.pick(INTERESTING_STRINGS);
    case 1: {
      // printable ASCII
      let s = '';
      for (let i = rng.int(16); i >= 0; i--) s += String.fromCharCode(32 + rng.int(95));
      return s;
    }
    case 2: {
      // any code point but the surrogate halves, including control characters
      let s = '';
      for (let i = rng.int(8); i >= 0; i--) {
        const cp = rng.chance(0.5) ? rng.int(0x80) : rng.int(0x10ffff);
        s += cp >= 0xd800 && cp <= 0xdfff ? 'x' : String.fromCodePoint(cp);
      }
      return s;
    }
    default: {
      // a path-like string
      const parts = Array.from({ length: 1 + rng.int(4) }, () => rng.pick(['a', 'b', '..', '.', '', 'tmp', 'proc', 'x y']));
      return (rng.chance(0.6) ? '/' : '') + parts.join('/');
    }
  }
}

function randomScalar(rng: Rng): Doc {
  switch (rng.int(5)) {
    case 0:
      return randomString(rng);
    case 1:
      return rng.pick([0, 1, -1, 7, 1000, 65535, 2 ** 31, 0.5, -2.5]);
    case 2:
      return rng.chance(0.5);
    case 3:
      return null;
    default:
      return new Raw(rng.pick(HUGE_NUMBERS.filter((n) => /^-?\d/.test(n))));
  }
}

type Kind = 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object';

function kindOf(value: Doc): Kind {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Raw) return 'number';
  if (typeof value === 'object') return 'object';
  return typeof value as Kind;
}

/** A value of another JSON type than `value`. */
function otherType(rng: Rng, value: Doc): Doc {
  const current = kindOf(value);
  const kinds = (['string', 'number', 'boolean', 'null', 'array', 'object'] as const).filter((k) => k !== current);
  switch (rng.pick(kinds)) {
    case 'string':
      return Array.isArray(value) && value.length > 0 && typeof value[0] === 'string' ? value.join(' ') : randomString(rng);
    case 'number':
      return rng.pick([0, 1, -1, 42, 2 ** 32, 0.25]);
    case 'boolean':
      return rng.chance(0.5);
    case 'null':
      return null;
    case 'array':
      return rng.chance(0.3) ? [] : [value];
    default:
      return rng.chance(0.3) ? {} : { value, [randomString(rng)]: randomScalar(rng) };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Walking and editing a Doc by JSON pointer

export interface Node {
  pointer: string;
  value: Doc;
  parent: Doc[] | Record<string, Doc> | undefined;
  key: string | number | undefined;
}

function escapeSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Every node of a document with its pointer and parent (Raw and Entries are leaves). */
export function nodes(root: Doc): Node[] {
  const out: Node[] = [];
  const stack: Node[] = [{ pointer: '', value: root, parent: undefined, key: undefined }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    out.push(node);
    const value = node.value;
    if (Array.isArray(value)) {
      value.forEach((item, i) => stack.push({ pointer: `${node.pointer}/${i}`, value: item, parent: value, key: i }));
    } else if (isPlainObject(value)) {
      for (const [key, item] of Object.entries(value)) stack.push({ pointer: `${node.pointer}/${escapeSegment(key)}`, value: item, parent: value, key });
    }
  }
  return out;
}

function replace(node: Node, value: Doc): void {
  if (node.parent === undefined) throw new Error('cannot replace the root through its node');
  (node.parent as Record<string | number, Doc>)[node.key!] = value;
}

function removeNode(node: Node): void {
  if (Array.isArray(node.parent)) node.parent.splice(node.key as number, 1);
  else if (node.parent) delete node.parent[node.key as string];
}

// ---------------------------------------------------------------------------------------------------------------
// Mutators

/**
 * Keeps a fuzzed config from reaching outside the test's sandbox: a string written at `pointer` passes through
 * here, which may change it (the root filesystem must stay under the bundle, the cgroup under the test's name,
 * hooks and bind mounts must not name existing host files the base config does not name).
 */
export type StringGuard = (pointer: string, value: string) => string;

/** What one mutation did, for the failure message. */
export interface Mutated {
  /** The config.json bytes to write. */
  bytes: Buffer;
  /** One entry per mutation applied, `kind pointer` form. */
  mutations: string[];
}

export interface MutateOptions {
  guard: StringGuard;
  /** Pointers that config.json requires (removing them must fail); removal picks among them half of the time. */
  required: readonly string[];
  /** 1 to this many mutations are stacked (default 2). */
  maxMutations?: number;
}

/** Applies the guard to every string in `value` as written at `pointer` (nested values included). */
function guarded(value: Doc, pointer: string, guard: StringGuard): Doc {
  if (typeof value === 'string') return guard(pointer, value);
  if (Array.isArray(value)) return value.map((item, i) => guarded(item, `${pointer}/${i}`, guard));
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, guarded(v, `${pointer}/${escapeSegment(k)}`, guard)]));
  return value;
}

/** 10,000 levels of arrays and the like, as text (JSON.stringify itself would overflow the stack). */
function deepNesting(rng: Rng): Raw {
  const depth = rng.pick([64, 600, 1000, 5000, 10_000, 100_000]);
  if (rng.chance(0.5)) return new Raw(`${'['.repeat(depth)}${rng.chance(0.5) ? '1' : ''}${']'.repeat(depth)}`);
  return new Raw(`${'{"a":'.repeat(depth)}null${'}'.repeat(depth)}`);
}

function longString(rng: Rng): string {
  const size = rng.pick([4096, 65_537, 1 << 20]);
  const unit = rng.pick(['a', '/a', 'é', '\u0000', '\\', '%', 'a'.repeat(255) + '/']);
  return unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
}

/** Byte sequences that are not UTF-8: a lone continuation byte, a truncated sequence, an overlong '/', a surrogate, 0xff. */
const INVALID_UTF8: readonly number[][] = [[0x80], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0xfe, 0xff], [0xf4, 0x90, 0x80, 0x80]];

type ValueMutator = (rng: Rng, node: Node, options: MutateOptions, state: { bytes: number[][] }) => string | undefined;

const VALUE_MUTATORS: Record<string, ValueMutator> = {
  type(rng, node, options) {
    replace(node, guarded(otherType(rng, node.value), node.pointer, options.guard));
    return 'type';
  },
  remove(_rng, node) {
    removeNode(node);
    return 'remove';
  },
  number(rng, node) {
    replace(node, new Raw(rng.pick(HUGE_NUMBERS)));
    return 'number';
  },
  nest(rng, node) {
    replace(node, deepNesting(rng));
    return 'nest';
  },
  long(rng, node, options) {
    replace(node, options.guard(node.pointer, longString(rng)));
    return 'long-string';
  },
  nul(rng, node, options) {
    const s = typeof node.value === 'string' ? node.value : randomString(rng);
    const at = rng.int(s.length + 1);
    replace(node, options.guard(node.pointer, `${s.slice(0, at)}\u0000${s.slice(at)}`));
    return 'nul';
  },
  utf8(rng, node, options, state) {
    const s = typeof node.value === 'string' ? node.value : 'x';
    const at = rng.int(s.length + 1);
    state.bytes.push(rng.pick(INVALID_UTF8));
    replace(node, options.guard(node.pointer, `${s.slice(0, at)}${BYTES_MARK}${s.slice(at)}`));
    return 'invalid-utf8';
  },
  string(rng, node, options) {
    replace(node, options.guard(node.pointer, randomString(rng)));
    return 'string';
  },
  duplicate(rng, node, options) {
    // The parent object gets this key twice: the other value first or last (JSON.parse keeps the last one).
    if (!isPlainObject(node.parent) || typeof node.key !== 'string') return undefined;
    const other = guarded(otherType(rng, node.value), node.pointer, options.guard);
    const entries = Object.entries(node.parent).flatMap(([k, v]): [string, Doc][] => (k === node.key ? (rng.chance(0.5) ? [[k, other], [k, v]] : [[k, v], [k, other]]) : [[k, v]]));
    for (const k of Object.keys(node.parent)) delete node.parent[k];
    // Replace the parent's contents by an Entries marker under a sentinel key the serializer unwraps.
    (node.parent as Record<string, Doc>)[ENTRIES_KEY] = new Entries(entries);
    return 'duplicate-key';
  },
  unknown(rng, node) {
    // Unknown properties must be accepted (config.md): a still-valid mutation.
    if (!isPlainObject(node.value)) return undefined;
    node.value[`x-fuzz-${rng.int(1000)}`] = rng.chance(0.5) ? randomScalar(rng) : [randomScalar(rng), { a: randomScalar(rng) }];
    return 'unknown-field';
  },
  grow(rng, node) {
    if (!Array.isArray(node.value) || node.value.length === 0) return undefined;
    const item = node.value[rng.int(node.value.length)]!;
    const copies = rng.pick([1, 2, 1000]);
    for (let i = 0; i < copies; i++) node.value.push(copyDoc(item));
    return `grow x${copies}`;
  },
};

const ENTRIES_KEY = '\u0000fuzz-entries';

/** Turns the duplicate-key markers back into Entries objects before writing. */
function unwrapEntries(value: Doc): Doc {
  if (Array.isArray(value)) return value.map(unwrapEntries);
  if (isPlainObject(value)) {
    const marker = value[ENTRIES_KEY];
    if (marker instanceof Entries) return new Entries(marker.entries.map(([k, v]) => [k, unwrapEntries(v)]));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapEntries(v)]));
  }
  return value;
}

/** Whole-file mutations: what is not a JSON object at all, or not only one. */
const FILE_MUTATORS: Record<string, (rng: Rng, text: Buffer) => Buffer> = {
  empty: () => Buffer.alloc(0),
  whitespace: (rng) => Buffer.from(rng.pick([' ', '\n', '\t\r\n ', '\u00a0'])),
  'top-level': (rng, text) => Buffer.from(rng.pick(['[]', '"config"', '42', 'null', 'true', `[${text.toString()}]`, '{}', '""'])),
  'trailing-garbage': (rng, text) => Buffer.concat([text, Buffer.from(rng.pick(['x', '}', ',', '{}', '\n\n garbage', ' // comment', '\u0000', ']']))]),
  'leading-garbage': (rng, text) => Buffer.concat([Buffer.from(rng.pick(['\ufeff', 'x', '// c\n', '\u0000', '['])), text]),
  truncated: (rng, text) => text.subarray(0, rng.int(text.length)),
  'nul-byte': (rng, text) => {
    const at = rng.int(text.length);
    return Buffer.concat([text.subarray(0, at), Buffer.from([0]), text.subarray(at)]);
  },
  'invalid-utf8-outside-strings': (rng, text) => Buffer.concat([text, Buffer.from(rng.pick(INVALID_UTF8))]),
  utf16: (_rng, text) => Buffer.from(`\ufeff${text.toString()}`, 'utf16le'),
  comment: (_rng, text) => Buffer.from(text.toString().replace('{', '{ /* a comment */')),
};

/**
 * One fuzz case from a valid config: 1..maxMutations value mutations at random nodes, sometimes a whole-file
 * mutation instead. Returns the bytes to write and what was done.
 */
export function mutateConfig(rng: Rng, base: Doc, options: MutateOptions): Mutated {
  const doc = toDoc(base);
  const mutations: string[] = [];
  const state = { bytes: [] as number[][] };
  if (rng.chance(0.1)) {
    const name = rng.pick(Object.keys(FILE_MUTATORS));
    mutations.push(`file:${name}`);
    return { bytes: FILE_MUTATORS[name]!(rng, Buffer.from(serialize(doc))), mutations };
  }
  const count = 1 + rng.int(options.maxMutations ?? 2);
  const names = Object.keys(VALUE_MUTATORS);
  for (let i = 0; i < count * 4 && mutations.length < count; i++) {
    const all = nodes(doc).filter((n) => n.parent !== undefined && !n.pointer.includes(ENTRIES_KEY));
    if (all.length === 0) break;
    let node: Node | undefined;
    const name = rng.pick(names);
    if (name === 'remove' && rng.chance(0.5)) node = all.find((n) => n.pointer === rng.pick(options.required));
    node ??= rng.pick(all);
    const done = VALUE_MUTATORS[name]!(rng, node, options, state);
    if (done) mutations.push(`${done} ${node.pointer || '/'}`);
  }
  let text: Buffer = Buffer.from(serialize(unwrapEntries(doc)));
  for (const bytes of state.bytes) {
    const mark = Buffer.from(BYTES_MARK);
    const at = text.indexOf(mark);
    if (at < 0) break;
    text = Buffer.concat([text.subarray(0, at), Buffer.from(bytes), text.subarray(at + mark.length)]);
  }
  if (rng.chance(0.05)) {
    const name = rng.pick(['trailing-garbage', 'nul-byte', 'invalid-utf8-outside-strings']);
    mutations.push(`file:${name}`);
    text = FILE_MUTATORS[name]!(rng, text);
  }
  return { bytes: text, mutations };
}

// ---------------------------------------------------------------------------------------------------------------
// Command lines

/**
 * A command line and whether it is certainly invalid. The generator starts from a valid command line and only
 * marks it invalid for mutations that cannot leave it valid (an unknown flag before the positionals, a missing
 * required argument, an invalid container ID, an unknown verb, a non-number for a number flag).
 */
export interface FuzzedArgv {
  /** Each argument as bytes: arguments may hold bytes that are not UTF-8 (never NUL: execve cannot pass it). */
  argv: Buffer[];
  invalid: boolean;
  mutations: string[];
}

export interface ArgvTemplate {
  /** The words naming the verb (`['create']`, `['network', 'ls']`). */
  verb: string[];
  /** Options before the positionals, flag then value (or a lone boolean flag). */
  options: string[][];
  /** Positionals; `id` marks which one is a container ID (an invalid one must be refused). */
  positionals: { value: string; id?: boolean; required?: boolean }[];
  /** Arguments after the positionals that belong to the verb's variadic part (exec's command). */
  rest?: string[];
  /** Number-valued flags of this verb (a non-number must be refused). */
  numberFlags?: string[];
}

const RAW_MARK = '\uE001raw';

export const INVALID_IDS: readonly string[] = ['', '.', '..', 'a/b', 'a b', '../x', 'x'.repeat(256), 'ä', 'a\nb', '@locks', '-', '*'];

function randomBytesArg(rng: Rng): Buffer {
  const bytes = Buffer.alloc(1 + rng.int(24));
  for (let i = 0; i < bytes.length; i++) bytes[i] = 1 + rng.int(255); // never NUL
  return bytes;
}

function argValue(rng: Rng, sandboxPath: (name: string) => string): string {
  switch (rng.int(6)) {
    case 0:
      return rng.pick(HUGE_NUMBERS.filter((n) => !n.startsWith('"')));
    case 1:
      return sandboxPath(`${'p'.repeat(rng.pick([1, 255, 256, 4096, 5000]))}`);
    case 2:
      return rng.pick(['', ' ', '-', '--', '-1', '0', 'true', 'x=y', '\t', 'é', '😀', '%n']);
    case 3:
      return 'v'.repeat(rng.pick([1000, 100_000, 131_071]));
    default:
      return randomString(rng).replaceAll('\u0000', '').replace(/^\//, `${sandboxPath('')}/`);
  }
}

/**
 * A mutated command line from a valid one. `sandboxPath(name)` gives an absolute path inside the test's sandbox:
 * generated path values never name anything outside it.
 */
export function mutateArgv(rng: Rng, template: ArgvTemplate, sandboxPath: (name: string) => string): FuzzedArgv {
  const options = template.options.map((o) => [...o]);
  const positionals = template.positionals.map((p) => ({ ...p }));
  const rest = [...(template.rest ?? [])];
  const before: string[] = [];
  let verb = [...template.verb];
  // Decided when the command line is complete: a later mutation may undo an earlier one.
  let invalid = false;
  const unknownFlags: string[] = [];
  const numberFlags: string[] = [];
  let dropped = false;
  const mutations: string[] = [];
  // Arguments that are raw bytes stand in the lists as markers until the end.
  const raws: Buffer[] = [];
  let dashdash: number | undefined;
  const count = 1 + rng.int(3);
  for (let i = 0; i < count; i++) {
    const kind = rng.pick([
      'unknown-flag', 'drop-positional', 'invalid-id', 'flag-value', 'dashdash', 'repeat-flag', 'drop-value',
      'long-arg', 'random-bytes', 'unknown-verb', 'empty-arg', 'extra-positional', 'global-flag', 'number-flag',
    ]);
    switch (kind) {
      case 'unknown-flag': {
        const flag = rng.pick(['--bogus', '-Z', '--bundle-x=1', '--no-such-flag', '---', '--=', '-é']);
        options.unshift([flag]);
        unknownFlags.push(flag);
        mutations.push(`unknown-flag ${flag}`);
        break;
      }
      case 'drop-positional': {
        const index = positionals.findLastIndex((p) => p.required);
        if (index < 0) break;
        positionals.splice(index, 1);
        dropped = true;
        mutations.push(`drop-positional ${index}`);
        break;
      }
      case 'invalid-id': {
        const target = positionals.find((p) => p.id);
        if (!target) break;
        target.value = rng.pick(INVALID_IDS);
        mutations.push(`invalid-id ${JSON.stringify(target.value.slice(0, 20))}`);
        break;
      }
      case 'flag-value': {
        const withValue = options.filter((o) => o.length === 2);
        if (withValue.length === 0) break;
        const option = rng.pick(withValue);
        option[1] = argValue(rng, sandboxPath);
        mutations.push(`flag-value ${option[0]}=${JSON.stringify(option[1]!.slice(0, 20))}`);
        break;
      }
      case 'number-flag': {
        const flags = template.numberFlags ?? [];
        if (flags.length === 0) break;
        const flag = rng.pick(flags);
        const value = rng.pick(['abc', '1x', '', '--', 'NaN?']);
        options.push([flag, value]);
        numberFlags.push(value);
        mutations.push(`number-flag ${flag}=${JSON.stringify(value)}`);
        break;
      }
      case 'dashdash':
        if (rng.chance(0.25)) {
          // before the verb: the verb and everything after it are plain arguments then
          before.push('--');
          invalid = true;
          mutations.push('dashdash before the verb');
          break;
        }
        dashdash = rng.int(options.length + 1);
        mutations.push(`dashdash ${dashdash}`);
        break;
      case 'repeat-flag': {
        if (options.length === 0) break;
        const option = rng.pick(options);
        options.push(option.length === 2 ? [option[0]!, argValue(rng, sandboxPath)] : [...option]);
        mutations.push(`repeat-flag ${option[0]}`);
        break;
      }
      case 'drop-value': {
        const withValue = options.filter((o) => o.length === 2);
        if (withValue.length === 0) break;
        const option = rng.pick(withValue);
        option.pop();
        // The flag now takes the next argument (or nothing at the end): not surely invalid.
        mutations.push(`drop-value ${option[0]}`);
        break;
      }
      case 'long-arg': {
        const value = 'L'.repeat(rng.pick([4096, 65_536, 131_071]));
        if (positionals.length > 0 && rng.chance(0.5)) positionals[rng.int(positionals.length)]!.value = value;
        else options.push([value]);
        mutations.push(`long-arg ${value.length}`);
        break;
      }
      case 'random-bytes': {
        const bytes = randomBytesArg(rng);
        const marker = `${RAW_MARK}${raws.push(bytes) - 1}`;
        const withValue = options.filter((o) => o.length === 2);
        if (positionals.length > 0 && (withValue.length === 0 || rng.chance(0.5))) positionals[rng.int(positionals.length)]!.value = marker;
        else if (withValue.length > 0) rng.pick(withValue)[1] = marker;
        else options.push([marker]);
        mutations.push(`random-bytes ${bytes.toString('hex')}`);
        break;
      }
      case 'unknown-verb':
        verb = [rng.pick(['crate', 'CREATE', 'help-me', 'é', '', 'network-x', 'image x'])];
        invalid = verb[0] !== '';
        mutations.push(`unknown-verb ${JSON.stringify(verb[0])}`);
        break;
      case 'empty-arg':
        options.splice(rng.int(options.length + 1), 0, ['']);
        mutations.push('empty-arg');
        break;
      case 'extra-positional':
        positionals.push({ value: rng.pick(['extra', 'x', '--', 'KILL']) });
        mutations.push('extra-positional');
        break;
      case 'global-flag': {
        const flag = rng.pick([['--log-format', rng.pick(['json', 'text', 'xml', ''])], ['--log', sandboxPath(rng.pick(['log', 'no/such/dir/log']))], ['--rootless', rng.pick(['true', 'false', 'auto', 'maybe'])], ['--systemd-cgroup'], ['--criu', 'x']]);
        before.push(...flag);
        mutations.push(`global-flag ${flag.join('=')}`);
        break;
      }
    }
  }
  const optionArgs = options.flatMap((o, i) => (dashdash === i ? ['--', ...o] : o));
  if (dashdash !== undefined && dashdash >= options.length) optionArgs.push('--');
  const words = [...before, ...verb, ...optionArgs, ...positionals.map((p) => p.value), ...rest];
  const argv = words.map((w) => (w.startsWith(RAW_MARK) ? raws[Number(w.slice(RAW_MARK.length))]! : Buffer.from(w)));
  // What follows `--` is plain arguments: an unknown flag or a bad number there is not surely refused.
  const end = words.indexOf('--');
  const beforeEnd = (word: string) => words.some((w, i) => w === word && (end < 0 || i < end));
  if (unknownFlags.some(beforeEnd) || numberFlags.some((v) => words.some((w, i) => w === v && words[i - 1]?.startsWith('--') && (end < 0 || i < end)))) invalid = true;
  // A required positional missing (exec's command would become the ID, an extra positional may take its place).
  const required = template.positionals.filter((p) => p.required).length;
  if (dropped && rest.length === 0 && positionals.length < required) invalid = true;
  // The container ID as it is finally written (a later long or random-bytes argument may replace it).
  const idIndex = positionals.findIndex((p) => p.id);
  if (idIndex >= 0 && !/^[A-Za-z0-9_+.-]{1,255}$/.test(argv[words.length - rest.length - positionals.length + idIndex]!.toString('latin1'))) invalid = true;
  if (idIndex >= 0 && ['.', '..'].includes(positionals[idIndex]!.value)) invalid = true;
  return { argv, invalid, mutations };
}
