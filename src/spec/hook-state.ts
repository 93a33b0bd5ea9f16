import { RuntimeError } from '../errors';

/**
 * The OCI state a hook reads on its stdin (runtime-spec "State"), as tsrun's own hook subcommands (`network
 * setup`, `volume populate`) need it: the container's id, its init's PID and the bundle.
 */

/** The parts of the OCI state tsrun's hook subcommands read. */
export interface HookState {
  id: string;
  pid?: number;
  bundle?: string;
}

export function parseHookState(text: string): HookState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RuntimeError('usage', `container state on stdin: not JSON (${(error as Error).message}); run as an OCI hook or pass the container ID`);
  }
  const state = value as Partial<HookState> | null;
  if (typeof state !== 'object' || state === null || typeof state.id !== 'string' || state.id === '') {
    throw new RuntimeError('usage', 'container state on stdin: "id" must be a non-empty string');
  }
  if (state.pid !== undefined && (!Number.isInteger(state.pid) || state.pid < 0)) throw new RuntimeError('usage', `container state on stdin: "pid" must be a PID, got ${JSON.stringify(state.pid)}`);
  return { id: state.id, pid: state.pid, bundle: typeof state.bundle === 'string' ? state.bundle : undefined };
}
