import type { Argv, CommandModule, Options } from 'yargs';
import { RuntimeError } from '../errors';
import type { CliContext } from './cli-context';
import { camel } from './fast-path';

/**
 * A verb declared as data: its positionals and options once, used by both parsers — yargs (help, errors, every
 * unusual spelling) and the fast path (fast-path.ts: the plain invocations containerd and scripts make, without
 * loading yargs, whose start-up is most of a tsrun call).
 */
export interface FlagSpec {
  type: 'string' | 'boolean' | 'number';
  alias?: string;
  /** Repeatable (`-e A -e B`): the values in order, one per occurrence; the default is then []. */
  array?: boolean;
  default?: string | boolean | number | readonly never[];
  choices?: readonly string[];
  describe?: string;
  hidden?: boolean;
  /** A path (type string): an empty value is refused, as for PositionalSpec.path. */
  path?: boolean;
}

export interface PositionalSpec {
  name: string;
  /** Optional positionals take their default when absent. */
  default?: string;
  /** The last positional may take the rest of the line (`exec ID [command..]`), also what follows `--`. */
  variadic?: boolean;
  /**
   * A path. An empty one is refused: open("") fails with ENOENT, but path.resolve("") is the working directory, so
   * a handler would otherwise act on whatever directory tsrun was started in.
   */
  path?: boolean;
  describe?: string;
}

export type ParsedArgs = Record<string, string | boolean | number | string[] | number[] | undefined>;

export interface Verb<A = ParsedArgs> {
  name: string;
  aliases?: readonly string[];
  describe: string;
  /** Required positionals first, then optional ones. */
  positionals: readonly PositionalSpec[];
  options: Readonly<Record<string, FlagSpec>>;
  handler(cli: CliContext, args: A): void | Promise<void>;
}

/**
 * The flags as yargs options. yargs makes an array of a flag given twice, which no handler expects (a path
 * argument that is an array crashed deep in node:path); as with runc (Go's flag package), the last one counts.
 * Repeatable flags (`array`) keep every value. Numbers are read as the fast path reads them, decimal integers only:
 * yargs' own conversion took "" for 0 and "abc" for NaN.
 */
export function yargsOptions(flags: Readonly<Record<string, FlagSpec>>): Record<string, Options> {
  const last = (value: unknown) => (Array.isArray(value) ? value[value.length - 1] : value);
  return Object.fromEntries(Object.entries(flags).map(([name, flag]) => {
    // `path` is tsrun's (checkPathArguments), not a yargs option.
    const { path: _path, ...spec } = flag;
    if (spec.type !== 'number') return [name, spec.array ? (spec as Options) : { ...(spec as Options), coerce: last }];
    const integer = (value: unknown): unknown => {
      if (typeof value === 'string' && !/^-?\d+$/.test(value)) throw new RuntimeError('usage', `--${name} ${JSON.stringify(value)}: must be an integer`);
      return typeof value === 'string' ? Number(value) : value;
    };
    // Every occurrence must be a number (Go's flag package parses each one), the last one counts.
    const coerce = spec.array ? (value: unknown) => [value].flat().map(integer) : (value: unknown) => last([value].flat().map(integer));
    return [name, { ...(spec as Options), type: 'string', coerce }];
  }));
}

/** Refuses an empty value for a positional or flag that is a path (both parsers call this before the handler). */
export function checkPathArguments(verb: Pick<Verb<unknown>, 'positionals' | 'options'>, args: Readonly<Record<string, unknown>>): void {
  for (const p of verb.positionals) {
    if (p.path && args[p.name] === '') throw new RuntimeError('usage', `${p.name.toUpperCase()} "": expected a path, got an empty string`);
  }
  for (const [name, spec] of Object.entries(verb.options)) {
    if (spec.path && args[camel(name)] === '') throw new RuntimeError('usage', `--${name} "": expected a path, got an empty string`);
  }
}

/** The same verb as a yargs command. */
export function commandModule<A>(cli: CliContext, verb: Verb<A>): CommandModule<object, A> {
  const words = verb.name.split(' ');
  const name = words[words.length - 1]!;
  const usage = verb.positionals.map((p) => {
    const name = p.variadic ? `${p.name}..` : p.name;
    return p.default === undefined && !p.variadic ? `<${name}>` : `[${name}]`;
  }).join(' ');
  const variadic = verb.positionals.find((p) => p.variadic);
  return {
    command: [`${name} ${usage}`.trim(), ...(verb.aliases ?? [])],
    describe: verb.describe,
    builder: (y) => {
      let built: Argv = y;
      for (const p of verb.positionals) {
        const presence = p.variadic ? { array: true } : p.default === undefined ? { demandOption: true } : { default: p.default };
        built = built.positional(p.name, { type: 'string', ...presence, ...(p.describe ? { describe: p.describe } : {}) });
      }
      return built.options(yargsOptions(verb.options)) as unknown as Argv<A>;
    },
    handler: (args) => {
      // What follows `--` is left in `_` (behind the verb's words): it belongs to the variadic positional.
      const raw = args as unknown as Record<string, unknown> & { _: unknown[] };
      const rest = raw._.slice(words.length);
      if (variadic) raw[variadic.name] = [...((raw[variadic.name] as unknown[] | undefined) ?? []), ...rest].map(String);
      // yargs' strict mode does not look behind `--`: `list -- x` ignored the x (runc refuses extra arguments).
      else if (rest.length > 0) throw new RuntimeError('usage', `Unknown argument${rest.length > 1 ? 's' : ''}: ${rest.map(String).join(', ')}`);
      checkPathArguments(verb, raw);
      return verb.handler(cli, args as unknown as A);
    },
  };
}

/** A group of verbs named `<group> <verb>` (`network create`) as one yargs command with subcommands. */
export function groupModule(cli: CliContext, group: string, verbs: readonly Verb<never>[], describe: string): CommandModule {
  return {
    command: `${group} <command>`,
    describe,
    builder: (y) => {
      let built: Argv = y;
      for (const verb of verbs) built = built.command(commandModule(cli, verb) as unknown as CommandModule);
      return built.demandCommand(1, `tsrun ${group}: a command is required (see tsrun ${group} --help)`);
    },
    handler: () => undefined,
  };
}
