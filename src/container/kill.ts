import { RuntimeError } from '../errors';
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
  if (!ctx.sys.signalIfAlive(view.state.initPid, options.signal)) {
    if (options.all) return;
    throw new RuntimeError('not-running', 'container not running');
  }
}
