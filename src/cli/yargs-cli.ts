import yargs, { type Argv, type Options } from 'yargs';
import { RuntimeError } from '../errors';
import type { CliContext } from './cli-context';
import { createVerb } from './commands/create';
import { deleteVerb } from './commands/delete';
import { eventsCommand } from './commands/events';
import { execCommand } from './commands/exec';
import { featuresCommand } from './commands/features';
import { killVerb } from './commands/kill';
import { listCommand } from './commands/list';
import { pauseCommand, resumeCommand } from './commands/pause';
import { psCommand } from './commands/ps';
import { runVerb } from './commands/run';
import { specCommand } from './commands/spec';
import { startVerb } from './commands/start';
import { stateVerb } from './commands/state';
import { updateCommand } from './commands/update';
import { GLOBAL_OPTIONS } from './global-options';
import { makeLogger, type GlobalArgs } from './globals';
import { commandModule } from './verb';

/** The full CLI through yargs: every verb, help, and the error for anything malformed. */
export async function runWithYargs(cli: CliContext, argv: string[]): Promise<void> {
  const globalOptions = Object.fromEntries(Object.entries(GLOBAL_OPTIONS).map(([name, spec]) => [name, { ...spec, global: true }]));
  const parser = (yargs(argv).options(globalOptions as Record<string, Options>) as unknown as Argv<GlobalArgs>)
    .scriptName('tsrun')
    .usage('tsrun [global options] <command> [options] <container-id>')
    .middleware((args) => {
      cli.globals = args as GlobalArgs;
      cli.logger = makeLogger(cli.globals);
    })
    .command(commandModule(cli, createVerb))
    .command(commandModule(cli, startVerb))
    .command(commandModule(cli, stateVerb))
    .command(commandModule(cli, killVerb))
    .command(commandModule(cli, deleteVerb))
    .command(commandModule(cli, runVerb))
    .command(listCommand(cli))
    .command(specCommand(cli))
    .command(pauseCommand(cli))
    .command(resumeCommand(cli))
    .command(psCommand(cli))
    .command(updateCommand(cli))
    .command(eventsCommand(cli))
    .command(execCommand(cli))
    .command(featuresCommand(cli))
    .demandCommand(1, 'tsrun: a command is required (see --help)')
    .strict()
    .version(false)
    .option('version', { alias: 'v', type: 'boolean', describe: 'print the version' })
    .help()
    .parserConfiguration({ 'strip-aliased': true, 'boolean-negation': false })
    .fail((msg, err) => {
      throw err ?? new RuntimeError('usage', msg);
    });
  await parser.parseAsync();
}
