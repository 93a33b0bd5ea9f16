import fs from 'node:fs';
import path from 'node:path';
import type { ContainerStateJson, ContainerStatus } from '../spec/types';
import type { RuntimeContext } from './context';
import { execFifoPath } from './exec-fifo';
import { cgroupManagerOf } from './cgroups';
import type { StoredState } from './state-store';
import { deriveStatus } from './status';

export interface ContainerView {
  state: StoredState;
  status: Exclude<ContainerStatus, 'creating'>;
  dir: string;
}

function readProcStat(pid: number): string | null {
  if (pid <= 0) return null;
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
}

/** Reads a container's stored state and derives its live status (PID and start time, exec.fifo). */
export function inspectContainer(ctx: RuntimeContext, id: string): ContainerView {
  const state = ctx.store.read(id);
  const dir = ctx.store.containerDir(id);
  const status = deriveStatus({
    initPid: state.initPid,
    recordedStartTime: state.initStartTime,
    procStat: readProcStat(state.initPid),
    execFifoExists: fs.existsSync(execFifoPath(dir)),
    frozen: isFrozen(state),
  });
  return { state, status, dir };
}

function isFrozen(state: StoredState): boolean {
  try {
    return cgroupManagerOf(state)?.isFrozen() ?? false;
  } catch {
    return false; // cgroup gone: the status comes from the init alone
  }
}

/** The runtime-spec state document (plus runc's `rootfs`, `created`, `owner`) for `state` and `list`. */
export function stateJson(view: ContainerView): ContainerStateJson {
  const { state, status } = view;
  const json: ContainerStateJson = {
    ociVersion: state.ociVersion,
    id: state.id,
    pid: status === 'stopped' ? 0 : state.initPid,
    status,
    bundle: state.bundle,
    rootfs: state.rootfs,
    created: state.created,
    owner: state.owner,
  };
  if (state.annotations && Object.keys(state.annotations).length > 0) json.annotations = state.annotations;
  return json;
}

export function configPath(bundle: string): string {
  return path.join(bundle, 'config.json');
}
