import yargs, { type Argv } from 'yargs';
import { RuntimeError } from '../errors';
import type { CliContext } from './cli-context';
import { GLOBAL_OPTIONS } from './global-options';
import { makeLogger, type GlobalArgs } from './globals';
import { commandModule, groupModule, yargsOptions, type Verb } from './verb';
import { VERB_GROUPS, VERBS } from './verbs';

/** The full CLI through yargs: every verb, help, and the error for anything malformed. */
export async function runWithYargs(cli: CliContext, argv: string[]): Promise<void> {
  // yargs takes `---` (three or more dashes) for a plain argument, and a variadic positional then lost it.
  const end = argv.indexOf('--');
  const dashes = (end < 0 ? argv : argv.slice(0, end)).find((arg) => arg.startsWith('---'));
  if (dashes !== undefined) throw new RuntimeError('usage', `Unknown argument: ${dashes}`);
  let ran = false;
  const verbs = VERBS.map((verb) => ({
    ...verb,
    handler: (c: CliContext, args: never) => {
      ran = true;
      return verb.handler(c, args);
    },
  }));
  await yargsParser(cli, argv, verbs).parseAsync();
  // yargs takes what follows `--` as plain arguments, also a command's name: `tsrun -- state x` ran nothing and exited 0.
  if (!ran) throw new RuntimeError('usage', `tsrun: a command is required (see --help)${argv.includes('--') ? ': arguments after "--" are not commands' : ''}`);
}

/** The yargs parser of the CLI for these verbs (tests compare it with the fast path). */
export function yargsParser(cli: CliContext, argv: string[], verbs: readonly Verb<never>[]): Argv<GlobalArgs> {
  const globalOptions = Object.fromEntries(Object.entries(yargsOptions(GLOBAL_OPTIONS)).map(([name, spec]) => [name, { ...spec, global: true }]));
  let parser = (yargs(argv).options(globalOptions) as unknown as Argv<GlobalArgs>)
    .scriptName('tsrun')
    .usage('tsrun [global options] <command> [options] <container-id>')
    .middleware((args) => {
      cli.globals = args as GlobalArgs;
      cli.logger = makeLogger(cli.globals);
    });
  for (const verb of verbs) if (!verb.name.includes(' ')) parser = parser.command(commandModule(cli, verb));
  for (const [group, describe] of VERB_GROUPS) {
    const members = verbs.filter((verb) => verb.name.startsWith(`${group} `));
    parser = parser.command(groupModule(cli, group, members, describe));
  }
  parser = parser
    .demandCommand(1, 'tsrun: a command is required (see --help)')
    .strict()
    .version(false)
    .option('version', { alias: 'v', type: 'boolean', describe: 'print the version' })
    .help()
    // Not greedy: `--cap X ID` is one capability and the ID, as in runc (one value per occurrence of a flag).
    .parserConfiguration({ 'strip-aliased': true, 'boolean-negation': false, 'greedy-arrays': false })
    .fail((msg, err) => {
      throw err ?? new RuntimeError('usage', msg);
    });
  return parser;
}
