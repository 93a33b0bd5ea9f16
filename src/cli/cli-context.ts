import type { RuntimeContext } from '../container/context';
import fs from 'node:fs';
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

  /**
   * Socket activation as runc honours it: LISTEN_FDS descriptors from 3 when LISTEN_PID names this process
   * (bin/tsrun execs node, so the PID systemd saw is ours).
   */
  listenFds(): number {
    const count = Number(process.env.LISTEN_FDS ?? '');
    if (!Number.isInteger(count) || count <= 0 || Number(process.env.LISTEN_PID) !== process.pid) return 0;
    return count;
  }

  /**
   * Descriptors 3..3+count-1 must really come from tsrun's caller: if one is not open, Node's own descriptors
   * (its epoll or io_uring instance) may have taken that number and would be handed to the container.
   */
  checkPassedFds(count: number, what: string): void {
    for (let fd = 3; fd < 3 + count; fd++) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        throw new RuntimeError('usage', `${what}: fd ${fd} is not open`);
      }
      if (/^anon_inode:\[(eventpoll|io_uring)\]$/.test(target)) {
        throw new RuntimeError('usage', `${what}: fd ${fd} was not passed by the caller (it is tsrun's own ${target})`);
      }
    }
  }

  setExitCode(code: number): void {
    this.exitCode = code;
  }
}
