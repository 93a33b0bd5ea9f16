import { normalizeArgv, separateExecCommand } from './argv';
import { CliContext } from './cli-context';
import { fail } from './fail';
import { parseFast } from './fast-path';
import { GLOBAL_OPTIONS } from './global-options';
import { makeLogger, type GlobalArgs } from './globals';
import { Logger } from './logger';
import { printErr, printOut } from './output';
import { checkPathArguments } from './verb';
import { VERB_GROUPS, VERBS_BY_NAME } from './verbs';
import { versionText } from './version';

/**
 * Forking from Node is only safe when V8 keeps garbage collection on the main thread (docs/architecture.md).
 * These flags cannot come through NODE_OPTIONS, so bin/tsrun passes them; refuse to run without them.
 */
const REQUIRED_V8_FLAGS = ['--single-threaded', '--minor-ms', '--no-concurrent-minor-ms-marking'];

async function main(argv: string[]): Promise<void> {
  const missing = REQUIRED_V8_FLAGS.filter((flag) => !process.execArgv.includes(flag));
  if (missing.length > 0) {
    printErr(`tsrun: start tsrun through bin/tsrun: node is missing the V8 flags ${missing.join(' ')}\n`);
    process.exit(1);
  }
  if (argv.some((a) => a === '--version' || a === '-v') && !argv.some((a) => VERBS_BY_NAME.has(a) || VERB_GROUPS.has(a))) {
    printOut(versionText());
    return;
  }
  const fast = parseFast(argv, GLOBAL_OPTIONS, VERBS_BY_NAME);
  if (!fast) {
    // yargs and its CLI are a second bundle next to this one (scripts/build.mjs). require, not import(): an
    // import() of a file goes through the ES module loader, which waits on the thread pool.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built bundle is CommonJS (see above)
    const { mainWithYargs } = require('./yargs-cli.cjs') as typeof import('./yargs-main');
    return mainWithYargs(argv);
  }
  const cli = new CliContext(new Logger(undefined, 'text', false));
  try {
    cli.globals = fast.globals as GlobalArgs;
    cli.logger = makeLogger(cli.globals);
    const verb = VERBS_BY_NAME.get(fast.verb)!;
    checkPathArguments(verb, fast.args);
    await verb.handler(cli, fast.args as never);
  } catch (error) {
    fail(cli, error);
  }
  process.exit(cli.exitCode);
}

void main(separateExecCommand(normalizeArgv(process.argv.slice(2))));
