import type { FlagSpec, ParsedArgs, Verb } from './verb';

/**
 * A parser for the plain invocations of the hot verbs (state, start, kill, delete, create, run): global flags,
 * the verb, its flags and positionals, spelled `--name value`, `--name=value` or `-a`. It returns undefined for
 * anything else — help, unknown or combined flags, `--`, a missing or extra argument, a bad number or choice —
 * and the caller hands the whole command line to yargs, which says what is wrong. So the fast path never decides
 * an error, and never accepts what yargs would refuse.
 */
export interface FastInvocation {
  verb: string;
  globals: ParsedArgs;
  args: ParsedArgs;
}

export function parseFast(argv: readonly string[], globals: Readonly<Record<string, FlagSpec>>, verbs: ReadonlyMap<string, Verb<never>>): FastInvocation | undefined {
  const globalValues = defaults(globals);
  let verb: Verb<never> | undefined;
  let args: ParsedArgs = {};
  const positionals: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      // The rest is the variadic positional's (exec's command), whatever it looks like.
      if (!verb?.positionals.some((p) => p.variadic)) return undefined;
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith('-') || token === '-') {
      if (verb) {
        positionals.push(token);
        continue;
      }
      verb = verbs.get(token);
      // A verb of a group (`network create`): two words.
      if (!verb && argv[i + 1] !== undefined && verbs.has(`${token} ${argv[i + 1]}`)) verb = verbs.get(`${token} ${argv[++i]}`);
      if (!verb) return undefined;
      args = defaults(verb.options);
      continue;
    }
    const flag = splitFlag(token);
    if (!flag) return undefined;
    // Global flags are accepted anywhere (yargs: global: true); the verb's own only after the verb.
    const found = (verb && lookup(verb.options, flag.name, flag.short)) ?? lookup(globals, flag.name, flag.short);
    if (!found) return undefined;
    const [name, spec] = found;
    const target = verb && lookup(verb.options, flag.name, flag.short) ? args : globalValues;
    let value: string | boolean | number;
    if (spec.type === 'boolean') {
      if (flag.inline !== undefined) return undefined;
      value = true;
    } else {
      const raw = flag.inline ?? argv[++i];
      if (raw === undefined || (flag.inline === undefined && raw.startsWith('-') && raw !== '-')) return undefined;
      if (spec.type === 'number') {
        if (!/^-?\d+$/.test(raw)) return undefined;
        value = Number(raw);
      } else {
        if (spec.choices && !spec.choices.includes(raw)) return undefined;
        value = raw;
      }
    }
    if (spec.array) {
      const key = camel(name);
      target[key] = [...(seen.has(name) ? (target[key] as (string | number)[]) : []), value] as string[] | number[];
      seen.add(name);
      continue;
    }
    // Repeated: yargs makes an array of it (or refuses it), so it is yargs' to decide.
    if (seen.has(name)) return undefined;
    seen.add(name);
    target[camel(name)] = value;
  }
  if (!verb) return undefined;
  const fixed = verb.positionals.filter((p) => !p.variadic);
  const required = fixed.filter((p) => p.default === undefined).length;
  const variadic = verb.positionals.find((p) => p.variadic);
  if (positionals.length < required || (!variadic && positionals.length > fixed.length)) return undefined;
  fixed.forEach((p, i) => {
    args[p.name] = positionals[i] ?? p.default;
  });
  if (variadic) args[variadic.name] = positionals.slice(fixed.length);
  return { verb: verb.name, globals: globalValues, args };
}

function splitFlag(token: string): { name: string; short: boolean; inline?: string } | undefined {
  const long = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(token);
  if (long) return long[2] === undefined ? { name: long[1]!, short: false } : { name: long[1]!, short: false, inline: long[2] };
  const short = /^-([a-zA-Z])$/.exec(token);
  return short ? { name: short[1]!, short: true } : undefined;
}

function lookup(table: Readonly<Record<string, FlagSpec>>, name: string, short: boolean): [string, FlagSpec] | undefined {
  if (!short) return Object.hasOwn(table, name) ? [name, table[name]!] : undefined;
  return Object.entries(table).find(([, spec]) => spec.alias === name);
}

function defaults(table: Readonly<Record<string, FlagSpec>>): ParsedArgs {
  const values: ParsedArgs = {};
  for (const [name, spec] of Object.entries(table)) {
    if (spec.default !== undefined) values[camel(name)] = Array.isArray(spec.default) ? [] : (spec.default as string | boolean | number);
  }
  return values;
}

/** yargs' key for a dashed option: `pid-file` → `pidFile`. */
export function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
