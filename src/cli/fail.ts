import { RuntimeError } from '../errors';
import type { CliContext } from './cli-context';
import { oneLine, printErr } from './output';

/**
 * The one error funnel: one line on stderr (the stack with --debug), the entry in the --log file too (containerd
 * and podman read the last error there, as runc writes it), and the error's exit code.
 */
export function fail(cli: CliContext, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  const line = oneLine(message) || 'failed without a message';
  // Only into a log file that opened: the fallback is stderr, which gets the line below anyway.
  if (cli.logger.toFile && cli.logger.fileOpened()) cli.logger.log('error', line);
  if (cli.globals.debug && error instanceof Error && error.stack) printErr(`${error.stack}\n`);
  else printErr(`${line}\n`);
  process.exit(error instanceof RuntimeError ? error.exitCode : 1);
}
