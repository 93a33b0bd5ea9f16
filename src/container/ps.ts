import type { RuntimeContext } from './context';
import { cgroupManagerOf } from './cgroups';
import { processesInPidNamespaceOf } from './container-processes';
import { inspectContainer } from './inspect';

/** Host PIDs of the container's processes: its cgroup's members (or, without one, its PID namespace's). */
export function containerPids(ctx: RuntimeContext, id: string): number[] {
  const view = inspectContainer(ctx, id);
  const cgroups = cgroupManagerOf(view.state);
  if (cgroups) return cgroups.pids();
  if (view.status === 'stopped') return [];
  const ownPidNamespace = Array.isArray(view.state.namespaces) && view.state.namespaces.includes('pid');
  return ownPidNamespace ? processesInPidNamespaceOf(view.state.initPid) : [view.state.initPid];
}

/**
 * runc's `ps --format table`: the host's `ps` output (header + the lines whose PID column is a container
 * process). `psOutput` is what `ps <args>` printed.
 */
export function filterPsTable(psOutput: string, pids: readonly number[]): string {
  const lines = psOutput.split('\n');
  const header = lines[0] ?? '';
  const pidColumn = header.trim().split(/\s+/).indexOf('PID');
  if (pidColumn < 0) throw new Error('ps output has no PID column');
  const wanted = new Set(pids);
  const rows = lines.slice(1).filter((line) => line.trim() !== '' && wanted.has(Number(line.trim().split(/\s+/)[pidColumn])));
  return [header, ...rows].join('\n') + '\n';
}
