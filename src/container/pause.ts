import { RuntimeError } from '../errors';
import { cgroupManagerOf } from './cgroups';
import type { RuntimeContext } from './context';
import { inspectContainer } from './inspect';
import { checkTransition } from './status';

function managerOrError(ctx: RuntimeContext, id: string) {
  const view = inspectContainer(ctx, id);
  const cgroups = cgroupManagerOf(view.state);
  if (!cgroups) throw new RuntimeError('no-cgroup', `container "${id}" has no cgroup of its own (rootless?): it cannot be paused`);
  return { view, cgroups };
}

/** `tsrun pause ID`: freezes every process of the container (v1 freezer or cgroup.freeze). */
export function pauseContainer(ctx: RuntimeContext, id: string): void {
  ctx.store.withLock(id, () => {
    const { view, cgroups } = managerOrError(ctx, id);
    checkTransition('pause', view.status, { id });
    cgroups.freeze();
  });
}

/** `tsrun resume ID`. */
export function resumeContainer(ctx: RuntimeContext, id: string): void {
  ctx.store.withLock(id, () => {
    const { view, cgroups } = managerOrError(ctx, id);
    checkTransition('resume', view.status, { id });
    cgroups.thaw();
  });
}
