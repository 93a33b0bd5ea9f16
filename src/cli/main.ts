import yargs, { type Argv } from 'yargs';
import { RuntimeError } from '../errors';
import { normalizeArgv, separateExecCommand } from './argv';
import { CliContext } from './cli-context';
import { createCommand } from './commands/create';
import { deleteCommand } from './commands/delete';
import { killCommand } from './commands/kill';
import { eventsCommand } from './commands/events';
import { execCommand } from './commands/exec';
import { featuresCommand } from './commands/features';
import { listCommand } from './commands/list';
import { pauseCommand, resumeCommand } from './commands/pause';
import { psCommand } from './commands/ps';
import { runCommand } from './commands/run';
import { specCommand } from './commands/spec';
import { startCommand } from './commands/start';
import { stateCommand } from './commands/state';
import { updateCommand } from './commands/update';
import { makeLogger, type GlobalArgs } from './globals';
import { Logger } from './logger';
import { printErr, printOut } from './output';
import { versionText } from './version';

/**
 * Forking from Node is only safe when V8 keeps garbage collection on the main thread (docs/architecture.md).
 * These flags cannot come through NODE_OPTIONS, so bin/tsrun passes them; refuse to run without them.
 */
const COMMANDS = new Set(['create', 'start', 'state', 'kill', 'delete', 'run', 'list', 'ls', 'spec', 'pause', 'resume', 'ps', 'update', 'events', 'exec', 'features']);

const REQUIRED_V8_FLAGS = ['--single-threaded', '--minor-ms', '--no-concurrent-minor-ms-marking'];

function globalOptions(y: Argv): Argv<GlobalArgs> {
  return y
    .option('root', { type: 'string', global: true, describe: 'directory for container state (default /run/tsrun)' })
    .option('log', { type: 'string', global: true, describe: 'append log entries to this file instead of stderr' })
    .option('log-format', { type: 'string', choices: ['text', 'json'], default: 'text', global: true })
    .option('debug', { type: 'boolean', default: false, global: true, describe: 'log debug output and error stacks' })
    .option('systemd-cgroup', { type: 'boolean', default: false, global: true, describe: 'use the systemd cgroup driver (not supported yet)' })
    .option('rootless', { type: 'string', global: true, describe: 'true, false or auto (default: rootless when not run as root)' })
    .option('cgroup-manager', { type: 'string', global: true, hidden: true })
    .option('criu', { type: 'string', global: true, hidden: true }) as unknown as Argv<GlobalArgs>;
}

function fail(cli: CliContext, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  const line = message.split('\n')[0] ?? message;
  // With --log the entry goes to the file (containerd and podman read the last error there) and the line to
  // stderr too, as runc does; without --log, stderr gets the one line only.
  if (cli.logger.toFile) cli.logger.log('error', line);
  if (cli.globals.debug && error instanceof Error && error.stack) printErr(`${error.stack}\n`);
  else printErr(`${line}\n`);
  process.exit(error instanceof RuntimeError ? error.exitCode : 1);
}

async function main(argv: string[]): Promise<void> {
  const missing = REQUIRED_V8_FLAGS.filter((flag) => !process.execArgv.includes(flag));
  if (missing.length > 0) {
    printErr(`tsrun: start tsrun through bin/tsrun: node is missing the V8 flags ${missing.join(' ')}\n`);
    process.exit(1);
  }
  if (argv.some((a) => a === '--version' || a === '-v') && !argv.some((a) => COMMANDS.has(a))) {
    printOut(versionText());
    return;
  }
  const cli = new CliContext(new Logger(undefined, 'text', false));
  const parser = globalOptions(yargs(argv))
    .scriptName('tsrun')
    .usage('tsrun [global options] <command> [options] <container-id>')
    .middleware((args) => {
      cli.globals = args as GlobalArgs;
      cli.logger = makeLogger(cli.globals);
    })
    .command(createCommand(cli))
    .command(startCommand(cli))
    .command(stateCommand(cli))
    .command(killCommand(cli))
    .command(deleteCommand(cli))
    .command(runCommand(cli))
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
  try {
    await parser.parseAsync();
  } catch (error) {
    fail(cli, error);
  }
  process.exit(cli.exitCode);
}

void main(separateExecCommand(normalizeArgv(process.argv.slice(2))));
