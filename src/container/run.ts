import { exitCodeOf } from '../ns/spawn-init';
import { cgroupManagerOf, destroyContainerCgroups } from './cgroups';
import type { RuntimeContext } from './context';
import { createContainer, type CreateOptions } from './create';
import { killAndWait } from './delete';
import { runPoststart, runPoststop } from './lifecycle-hooks';
import { releaseInit } from './start';
import { reapIfDone, waitForChild } from './wait-child';

export interface RunOptions extends CreateOptions {
  detach?: boolean | undefined;
}

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
    reapIfDone(ctx.sys, created.initPid);
    destroyContainerCgroups(ctx, cgroupManagerOf(created.state));
    ctx.store.remove(options.id);
    runPoststop(ctx, created.state);
    throw error;
  }
  runPoststart(ctx, created.state);
  if (options.detach) return 0;
  // Loaded only with a terminal: it pulls in node:tty, node:net and node:stream (~10 ms of start-up).
  const relay = created.terminalMaster === undefined ? undefined : new (await import('./terminal-relay')).TerminalRelay(created.terminalMaster);

  const status = await waitForChild(ctx.sys, created.initPid);
  await relay?.finish();
  ctx.store.withLock(options.id, () => {
    destroyContainerCgroups(ctx, cgroupManagerOf(created.state));
    ctx.store.remove(options.id);
    runPoststop(ctx, created.state);
  });
  return exitCodeOf(status);
}
