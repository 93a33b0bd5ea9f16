import { normalizeArgv, separateExecCommand } from './argv';
import { CliContext } from './cli-context';
import { createVerb } from './commands/create';
import { deleteVerb } from './commands/delete';
import { killVerb } from './commands/kill';
import { runVerb } from './commands/run';
import { startVerb } from './commands/start';
import { stateVerb } from './commands/state';
import { fail } from './fail';
import { parseFast } from './fast-path';
import { GLOBAL_OPTIONS } from './global-options';
import { makeLogger, type GlobalArgs } from './globals';
import { Logger } from './logger';
import { printErr, printOut } from './output';
import type { Verb } from './verb';
import { versionText } from './version';

/**
 * Forking from Node is only safe when V8 keeps garbage collection on the main thread (docs/architecture.md).
 * These flags cannot come through NODE_OPTIONS, so bin/tsrun passes them; refuse to run without them.
 */
const REQUIRED_V8_FLAGS = ['--single-threaded', '--minor-ms', '--no-concurrent-minor-ms-marking'];

const COMMANDS = new Set(['create', 'start', 'state', 'kill', 'delete', 'run', 'list', 'ls', 'spec', 'pause', 'resume', 'ps', 'update', 'events', 'exec', 'features']);

/** The verbs containerd calls for every container: parsed without yargs when spelled plainly (fast-path.ts). */
const HOT_VERBS = new Map<string, Verb<never>>(
  [createVerb, startVerb, stateVerb, killVerb, deleteVerb, runVerb].map((verb) => [verb.name, verb as unknown as Verb<never>]),
);

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
  try {
    const fast = parseFast(argv, GLOBAL_OPTIONS, HOT_VERBS);
    if (fast) {
      cli.globals = fast.globals as GlobalArgs;
      cli.logger = makeLogger(cli.globals);
      await HOT_VERBS.get(fast.verb)!.handler(cli, fast.args as never);
    } else {
      const { runWithYargs } = await import('./yargs-cli');
      await runWithYargs(cli, argv);
    }
  } catch (error) {
    fail(cli, error);
  }
  process.exit(cli.exitCode);
}

void main(separateExecCommand(normalizeArgv(process.argv.slice(2))));
