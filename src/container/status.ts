import { Phrases, RuntimeError } from '../errors';
import { parseProcStat } from '../linux/proc-parsers';
import type { ContainerStatus } from '../spec/types';

export type DerivedStatus = 'created' | 'running' | 'paused' | 'stopped';

export interface StatusInput {
  /** Host PID of the container's init as recorded at create (0 when none was recorded). */
  initPid: number;
  /** Field 22 of /proc/<pid>/stat recorded at create. */
  recordedStartTime: string;
  /** Current content of /proc/<initPid>/stat, or null when it could not be read (process gone). */
  procStat: string | null;
  /** Whether <container dir>/exec.fifo still exists (removed by `start`). */
  execFifoExists: boolean;
  /** Whether the container's cgroup is frozen. */
  frozen: boolean;
}

/** Is the recorded init still the same, live process? A PID alone is not enough: PIDs are reused. */
function initAlive(input: StatusInput): boolean {
  if (!Number.isInteger(input.initPid) || input.initPid <= 0 || input.procStat === null) return false;
  let stat;
  try {
    stat = parseProcStat(input.procStat);
  } catch {
    return false;
  }
  // A zombie has exited already (only its exit status waits for the reaper); X (x on old kernels) is dead.
  if (stat.state === 'Z' || stat.state === 'X' || stat.state === 'x') return false;
  return stat.pid === input.initPid && stat.startTime === input.recordedStartTime;
}

/**
 * The container's status, derived the way runc derives it on every command (nothing is trusted from a stored
 * status field). Order matters and is runc's: a frozen cgroup reads `paused` before anything else — containerd
 * calls `resume` on a paused container whose init exited, and that must still find it paused; then no live init
 * (pid 0, no /proc entry, zombie or dead, or a different start time, i.e. a reused PID) is `stopped`; the exec
 * FIFO, which `start` consumes, separates `created` from `running`.
 */
export function deriveStatus(input: StatusInput): DerivedStatus {
  if (input.frozen) return 'paused';
  if (!initAlive(input)) return 'stopped';
  if (input.execFifoExists) return 'created';
  return 'running';
}

export type LifecycleOperation = 'start' | 'kill' | 'delete' | 'pause' | 'resume' | 'exec';

export interface TransitionOptions {
  /** Container id, named in the delete refusal. */
  id?: string;
  /** delete --force: kill and remove whatever the status. */
  force?: boolean;
  /** kill --all: since runc 1.2 it only suppresses "container not running". */
  all?: boolean;
  /** exec --ignore-paused. */
  ignorePaused?: boolean;
}

type Verdict = 'ok' | ((status: ContainerStatus, options: TransitionOptions) => RuntimeError | 'ok');

const notRunning = (): RuntimeError => new RuntimeError('not-running', Phrases.notRunning);

/**
 * What each operation accepts, by status (runc's rules; messages are runc's because callers match them):
 * - start: only `created`.
 * - kill: anything with a live init (created, running, paused — SIGKILL then thaws a v1 freezer); `stopped` is
 *   "container not running" unless --all.
 * - delete: `stopped`, and `created` without --force (runc kills the waiting init: containerd deletes tasks that
 *   were created but never started, and failing there would leak them); running/paused only with --force.
 * - pause: created or running (runc freezes both).
 * - resume: only paused.
 * - exec: not stopped; not paused unless --ignore-paused.
 * `creating` (state written but create not finished) is treated as not yet startable and not stopped.
 */
const TRANSITIONS: Record<LifecycleOperation, Record<ContainerStatus, Verdict>> = {
  start: {
    created: 'ok',
    running: () => new RuntimeError('invalid-status', 'cannot start an already running container'),
    stopped: () => new RuntimeError('invalid-status', 'cannot start a container that has stopped'),
    paused: () => new RuntimeError('invalid-status', 'cannot start a container in the paused state'),
    creating: () => new RuntimeError('invalid-status', 'cannot start a container in the creating state'),
  },
  kill: {
    created: 'ok',
    running: 'ok',
    paused: 'ok',
    stopped: (_status, options) => (options.all ? 'ok' : notRunning()),
    creating: 'ok',
  },
  delete: {
    stopped: 'ok',
    created: 'ok',
    running: refuseUnlessForced,
    paused: refuseUnlessForced,
    creating: refuseUnlessForced,
  },
  pause: { created: 'ok', running: 'ok', paused: notRunning, stopped: notRunning, creating: notRunning },
  resume: {
    paused: 'ok',
    created: notPaused,
    running: notPaused,
    stopped: notPaused,
    creating: notPaused,
  },
  exec: {
    created: 'ok',
    running: 'ok',
    paused: (_status, options) =>
      options.ignorePaused
        ? 'ok'
        : new RuntimeError('invalid-status', 'cannot exec in a paused container (use --ignore-paused to override)'),
    stopped: () => new RuntimeError('invalid-status', 'cannot exec in a stopped container'),
    creating: () => new RuntimeError('invalid-status', 'cannot exec in a container in the creating state'),
  },
};

function refuseUnlessForced(status: ContainerStatus, options: TransitionOptions): RuntimeError | 'ok' {
  if (options.force) return 'ok';
  const who = options.id === undefined ? 'container' : `container ${options.id}`;
  return new RuntimeError('not-stopped', `cannot delete ${who} that is not stopped: ${status}`);
}

function notPaused(): RuntimeError {
  return new RuntimeError('not-paused', 'container not paused');
}

/** Throws the error runc gives when `operation` is not allowed in `status`; returns when it is. */
export function checkTransition(
  operation: LifecycleOperation,
  status: ContainerStatus,
  options: TransitionOptions = {},
): void {
  const verdict = TRANSITIONS[operation][status];
  if (verdict === 'ok') return;
  const result = verdict(status, options);
  if (result !== 'ok') throw result;
}
