import fs from 'node:fs';
import { RuntimeError } from '../errors';
import type { CgroupStats } from '../cgroups/types';
import { cgroupManagerOf } from './cgroups';
import type { RuntimeContext } from './context';
import { inspectContainer } from './inspect';

const lastOomCount = new Map<string, number>();

/** The kernel's count of OOM kills in the container's memory cgroup: memory.oom_control (v1), memory.events (v2). */
function oomKillCount(paths: Record<string, string>): number | undefined {
  const candidates: Array<[string | undefined, string]> = [[paths.memory, 'memory.oom_control'], [paths.unified, 'memory.events']];
  for (const [dir, file] of candidates) {
    if (dir === undefined) continue;
    try {
      const match = /^oom_kill (\d+)$/m.exec(fs.readFileSync(`${dir}/${file}`, 'utf8'));
      if (match) return Number(match[1]);
    } catch {
      // not this cgroup version
    }
  }
  return undefined;
}

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
  const kills = oomKillCount(cgroups.state.paths);
  const previous = lastOomCount.get(id);
  if (kills !== undefined) lastOomCount.set(id, kills);
  return { stats, oom: kills !== undefined && previous !== undefined && kills > previous };
}
