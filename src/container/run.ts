import { WNOHANG } from '../linux/constants';
import { exitCodeOf } from '../ns/spawn-init';
import { cgroupManagerOf } from './cgroups';
import type { RuntimeContext } from './context';
import { createContainer, type CreateOptions } from './create';
import { killAndWait } from './delete';
import { releaseInit } from './start';
import { TerminalRelay } from './terminal-relay';

export interface RunOptions extends CreateOptions {
  detach?: boolean | undefined;
}

/** Signals a foreground `run` passes on to the container instead of dying from them (as runc does). */
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15, SIGWINCH: 28,
};

/**
 * `tsrun run`: create + start, then (unless detached) wait for the init, forwarding signals to it, delete
 * the container and resolve to its exit code (128 + signal when killed). The init is this process's own
 * child (CLONE_PARENT), so it is reaped here through SIGCHLD, without polling.
 */
export async function runContainer(ctx: RuntimeContext, options: RunOptions): Promise<number> {
  const created = createContainer(ctx, { ...options, foreground: !options.detach });
  const dir = ctx.store.containerDir(options.id);
  try {
    releaseInit(ctx, dir, created.initPid);
  } catch (error) {
    killAndWait(ctx, created.initPid);
    reap(ctx, created.initPid);
    cgroupManagerOf(created.state)?.destroy((pid) => ctx.sys.signalIfAlive(pid, 9));
    ctx.store.remove(options.id);
    throw error;
  }
  if (options.detach) return 0;
  const relay = created.terminalMaster === undefined ? undefined : new TerminalRelay(created.terminalMaster);

  const status = await new Promise<number>((resolve) => {
    const forward = (signal: NodeJS.Signals) => {
      ctx.sys.signalIfAlive(created.initPid, SIGNAL_NUMBERS[signal] ?? 15);
    };
    // Signal listeners do not keep Node's event loop alive; this idle timer does (it never fires in practice).
    const keepAlive = setInterval(() => undefined, 2 ** 30);
    const check = () => {
      const result = reap(ctx, created.initPid);
      if (result === undefined) return;
      clearInterval(keepAlive);
      process.off('SIGCHLD', check);
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
      resolve(result);
    };
    process.on('SIGCHLD', check);
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    check(); // it may have exited before the handler was in place
  });
  await relay?.finish();
  ctx.store.withLock(options.id, () => {
    cgroupManagerOf(created.state)?.destroy((pid) => ctx.sys.signalIfAlive(pid, 9));
    ctx.store.remove(options.id);
  });
  return exitCodeOf(status);
}

function reap(ctx: RuntimeContext, pid: number): number | undefined {
  try {
    const result = ctx.sys.waitpid(pid, WNOHANG);
    return result.pid === pid ? result.status : undefined;
  } catch {
    return undefined;
  }
}
