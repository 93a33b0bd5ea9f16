import { WNOHANG } from '../linux/constants';
import type { Sys } from '../linux/sys';

/** Signals a foreground `run`/`exec` passes on to the container's process instead of dying from them (as runc). */
const FORWARDED: ReadonlyArray<[NodeJS.Signals, number]> = [
  ['SIGHUP', 1], ['SIGINT', 2], ['SIGQUIT', 3], ['SIGUSR1', 10], ['SIGUSR2', 12], ['SIGTERM', 15], ['SIGWINCH', 28],
];

/** waitpid(pid, WNOHANG): the wait status once `pid` (a child of this process) has exited, else undefined. */
export function reapIfDone(sys: Sys, pid: number): number | undefined {
  try {
    const result = sys.waitpid(pid, WNOHANG);
    return result.pid === pid ? result.status : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolves to the wait status of `pid`, a direct child of this process (CLONE_PARENT makes the container's
 * process one), reaped on SIGCHLD without polling; meanwhile the usual signals are forwarded to it.
 */
export function waitForChild(sys: Sys, pid: number): Promise<number> {
  return new Promise((resolve) => {
    const forwarders = FORWARDED.map(([name, number]) => [name, () => sys.signalIfAlive(pid, number)] as const);
    // Signal listeners do not keep Node's event loop alive; this idle timer does (it never fires in practice).
    const keepAlive = setInterval(() => undefined, 2 ** 30);
    const check = () => {
      const status = reapIfDone(sys, pid);
      if (status === undefined) return;
      clearInterval(keepAlive);
      process.off('SIGCHLD', check);
      for (const [name, forward] of forwarders) process.off(name, forward);
      resolve(status);
    };
    process.on('SIGCHLD', check);
    for (const [name, forward] of forwarders) process.on(name, forward);
    check(); // it may have exited before the handler was in place
  });
}
