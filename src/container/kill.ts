import { RuntimeError } from '../errors';
import { processesInPidNamespaceOf } from './container-processes';
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
  if (view.status === 'stopped') return; // --all on a stopped container: nothing left to signal
  // Only a container with its own PID namespace can be enumerated this way: in the host's, the namespace
  // would hold every process of the machine. (cgroup-based enumeration replaces this with cgroup support.)
  const ownPidNamespace = Array.isArray(view.state.namespaces) && view.state.namespaces.includes('pid');
  if (options.all && ownPidNamespace) {
    // The init last: for most signals, killing PID 1 first would make the kernel SIGKILL the rest anyway.
    const pids = processesInPidNamespaceOf(view.state.initPid).filter((pid) => pid !== view.state.initPid);
    for (const pid of pids) ctx.sys.signalIfAlive(pid, options.signal);
  }
  if (!ctx.sys.signalIfAlive(view.state.initPid, options.signal)) {
    if (options.all) return;
    throw new RuntimeError('not-running', 'container not running');
  }
}
