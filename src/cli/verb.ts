import type { Argv, CommandModule, Options } from 'yargs';
import type { CliContext } from './cli-context';

/**
 * A verb declared as data: its positionals and options once, used by both parsers — yargs (help, errors, every
 * unusual spelling) and the fast path (fast-path.ts: the plain invocations containerd and scripts make, without
 * loading yargs, whose start-up is most of a tsrun call).
 */
export interface FlagSpec {
  type: 'string' | 'boolean' | 'number';
  alias?: string;
  default?: string | boolean | number;
  choices?: readonly string[];
  describe?: string;
  hidden?: boolean;
}

export interface PositionalSpec {
  name: string;
  /** Optional positionals take their default when absent. */
  default?: string;
  describe?: string;
}

export type ParsedArgs = Record<string, string | boolean | number | undefined>;

export interface Verb<A = ParsedArgs> {
  name: string;
  describe: string;
  /** Required positionals first, then optional ones. */
  positionals: readonly PositionalSpec[];
  options: Readonly<Record<string, FlagSpec>>;
  handler(cli: CliContext, args: A): void | Promise<void>;
}

/** The same verb as a yargs command. */
export function commandModule<A>(cli: CliContext, verb: Verb<A>): CommandModule<object, A> {
  const usage = verb.positionals.map((p) => (p.default === undefined ? `<${p.name}>` : `[${p.name}]`)).join(' ');
  return {
    command: `${verb.name} ${usage}`,
    describe: verb.describe,
    builder: (y) => {
      let built: Argv = y;
      for (const p of verb.positionals) {
        built = built.positional(p.name, { type: 'string', ...(p.default === undefined ? { demandOption: true } : { default: p.default }), ...(p.describe ? { describe: p.describe } : {}) });
      }
      return built.options(verb.options as Record<string, Options>) as unknown as Argv<A>;
    },
    handler: (args) => verb.handler(cli, args as unknown as A),
  };
}
