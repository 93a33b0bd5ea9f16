import type { RuntimeContext } from '../container/context';
import { RuntimeError } from '../errors';
import { makeContext, type GlobalArgs } from './globals';
import type { Logger } from './logger';

/** What command modules get from the CLI: the runtime context (made on first use), the logger, exit status. */
export class CliContext {
  private runtime: RuntimeContext | undefined;
  exitCode = 0;
  globals: GlobalArgs = {};

  constructor(public logger: Logger) {}

  context(): RuntimeContext {
    this.runtime ??= makeContext(this.globals, this.logger);
    return this.runtime;
  }

  /** Refuses a flag tsrun accepts for compatibility but cannot honour yet, instead of ignoring it. */
  refuse(condition: boolean, message: string): void {
    if (condition) throw new RuntimeError('not-supported', message);
  }

  setExitCode(code: number): void {
    this.exitCode = code;
  }
}
