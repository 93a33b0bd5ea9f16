import { CliContext } from './cli-context';
import { fail } from './fail';
import { Logger } from './logger';
import { runWithYargs } from './yargs-cli';

/**
 * The entry of the second bundle (dist/yargs-cli.cjs): every command line the fast path does not take. It is
 * a bundle of its own so the hot verbs never read yargs, the cold verbs and their dependencies; it shares no
 * objects with the fast bundle (each has its own copy of the error classes), so it handles its errors and exit
 * status itself.
 */
export async function mainWithYargs(argv: string[]): Promise<void> {
  const cli = new CliContext(new Logger(undefined, 'text', false));
  try {
    await runWithYargs(cli, argv);
  } catch (error) {
    fail(cli, error);
  }
  process.exit(cli.exitCode);
}
