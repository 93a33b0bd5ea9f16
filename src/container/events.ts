import { RuntimeError } from '../errors';
import type { CgroupStats } from '../cgroups/types';
import { cgroupManagerOf } from './cgroups';
import type { RuntimeContext } from './context';
import { inspectContainer } from './inspect';

const lastOomCount = new Map<string, number>();

/**
 * The container's statistics for `events`, and whether an OOM kill happened since the previous call (from the
 * memory cgroup's oom_kill counter, part of the raw memory stats).
 */
export function containerStats(ctx: RuntimeContext, id: string): { stats: CgroupStats; oom: boolean } {
  const view = inspectContainer(ctx, id);
  if (view.status === 'stopped') throw new RuntimeError('not-running', `container with id ${id} is not running`);
  const cgroups = cgroupManagerOf(view.state);
  if (!cgroups) throw new RuntimeError('no-cgroup', `container "${id}" has no cgroup of its own (rootless?): no statistics`);
  const stats = cgroups.stats();
  const kills = stats.memory?.raw?.oom_kill;
  const previous = lastOomCount.get(id);
  if (kills !== undefined) lastOomCount.set(id, kills);
  return { stats, oom: kills !== undefined && previous !== undefined && kills > previous };
}
