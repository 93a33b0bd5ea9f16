import { FsCgroupManager } from '../cgroups/fs-manager';
import { RuntimeError } from '../errors';
import { SIGKILL } from '../linux/constants';
import { cgroupManagerOf, destroyContainerCgroups } from './cgroups';
import type { RuntimeContext } from './context';
import { inspectContainer } from './inspect';
import { runPoststop } from './lifecycle-hooks';
import { checkTransition } from './status';
import { pauseAt } from './test-pause';

export interface DeleteOptions {
  id: string;
  force?: boolean | undefined;
}

/** How long delete waits for a SIGKILLed init to die before giving up (runc waits the same). */
const KILL_TIMEOUT_MS = 10_000;

/** Sends SIGKILL to the init and waits, event-driven through a pidfd, until it has exited. */
export function killAndWait(ctx: RuntimeContext, pid: number): void {
  const { sys } = ctx;
  let pidfd: number;
  try {
    pidfd = sys.pidfdOpen(pid);
  } catch {
    return; // already gone
  }
  try {
    sys.signalIfAlive(pid, SIGKILL);
    const [events] = sys.poll([pidfd], KILL_TIMEOUT_MS);
    if (((events ?? 0) & 0x1) === 0) {
      throw new RuntimeError('kill-timeout', `container init ${pid} did not exit within ${KILL_TIMEOUT_MS / 1000} s of SIGKILL`);
    }
  } finally {
    sys.close(pidfd);
  }
}

/**
 * `tsrun delete [--force] ID`. A created container is deleted without --force (its parked init is killed),
 * as runc does and containerd relies on; a running one needs --force. Unknown IDs with --force succeed.
 */
export function deleteContainer(ctx: RuntimeContext, options: DeleteOptions): void {
  const { store } = ctx;
  if (options.force && !store.exists(options.id)) {
    store.remove(options.id);
    return;
  }
  store.withLock(options.id, () => {
    let view;
    try {
      view = inspectContainer(ctx, options.id);
    } catch (error) {
      // A state dir without a readable state.json (e.g. tsrun was killed during create) is removable by force,
      // with the cgroups that create recorded before it had a state.json (killing whatever is in them).
      if (options.force && store.exists(options.id)) {
        const cgroup = store.readCreating(options.id)?.cgroup;
        if (cgroup) destroyContainerCgroups(ctx, FsCgroupManager.fromState(cgroup));
        store.remove(options.id);
        return;
      }
      throw error;
    }
    checkTransition('delete', view.status, { id: options.id, force: options.force });
    pauseAt(ctx.testPause, 'delete-checked');
    const cgroups = cgroupManagerOf(view.state);
    // A frozen init cannot die: thaw after SIGKILL is queued (cgroup v1 freezer), as runc does.
    if (view.status === 'paused') {
      ctx.sys.signalIfAlive(view.state.initPid, SIGKILL);
      cgroups?.thaw();
    }
    if (view.status !== 'stopped') killAndWait(ctx, view.state.initPid);
    pauseAt(ctx.testPause, 'delete-killed');
    // Whatever else is left in the cgroup is killed, then only the directories tsrun made are removed.
    destroyContainerCgroups(ctx, cgroups);
    pauseAt(ctx.testPause, 'delete-cgroups-removed');
    store.remove(options.id);
    // runtime-spec: poststop runs after the container is deleted, before delete returns.
    runPoststop(ctx, view.state);
  });
}
