import { RuntimeError } from '../errors';
import { processesInPidNamespaceOf } from './container-processes';
import { cgroupManagerOf } from './cgroups';
import type { RuntimeContext } from './context';
import { inspectContainer } from './inspect';
import { checkTransition } from './status';

export interface KillOptions {
  id: string;
  signal: number;
  all?: boolean | undefined;
}

/** `tsrun kill ID SIGNAL`: signals the container's init (with a private PID namespace, the whole container). */
export function killContainer(ctx: RuntimeContext, options: KillOptions): void {
  const view = inspectContainer(ctx, options.id);
  checkTransition('kill', view.status, { id: options.id, all: options.all });
  const cgroups = cgroupManagerOf(view.state);
  if (options.all) {
    // Every process of the container: from its cgroup (which also finds what outlived the init), else from its
    // own PID namespace (never the host's: that would be every process of the machine). The init last: for
    // most signals, killing PID 1 first would make the kernel SIGKILL the rest anyway.
    const ownPidNamespace = Array.isArray(view.state.namespaces) && view.state.namespaces.includes('pid');
    const members = cgroups ? cgroups.pids() : ownPidNamespace ? processesInPidNamespaceOf(view.state.initPid) : [];
    for (const pid of members.filter((p) => p !== view.state.initPid)) ctx.sys.signalIfAlive(pid, options.signal);
  }
  if (view.status === 'stopped') return; // --all on a stopped container: the cgroup's leftovers were signalled
  const alive = ctx.sys.signalIfAlive(view.state.initPid, options.signal);
  // Frozen tasks only die of a queued SIGKILL once thawed (cgroup v1 freezer), with or without --all.
  if (view.status === 'paused' && options.signal === 9) cgroups?.thaw();
  if (!alive) {
    if (options.all) return;
    throw new RuntimeError('not-running', 'container not running');
  }
}
