import { RuntimeError } from '../errors';
import { cgroupManagerOf, hostCgroupLayout, planResourceWrites } from './cgroups';
import type { CgroupManager } from '../cgroups/types';
import type { RuntimeContext } from './context';
import { inspectContainer } from './inspect';

/** The runc `update` flags, already parsed into numbers/strings (undefined = not given). */
export interface UpdateFlags {
  blkioWeight?: number;
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShare?: number;
  cpuRtPeriod?: number;
  cpuRtRuntime?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  memory?: number;
  memoryReservation?: number;
  memorySwap?: number;
  pidsLimit?: number;
}

/** linux.resources built from `update`'s flags (the flags win over --resources, as in runc). */
export function resourcesFromFlags(base: Record<string, unknown>, flags: UpdateFlags): Record<string, unknown> {
  const resources = structuredClone(base) as Record<string, Record<string, unknown>>;
  const section = (name: string) => (resources[name] ??= {});
  if (flags.blkioWeight !== undefined) section('blockIO').weight = flags.blkioWeight;
  if (flags.cpuPeriod !== undefined) section('cpu').period = flags.cpuPeriod;
  if (flags.cpuQuota !== undefined) section('cpu').quota = flags.cpuQuota;
  if (flags.cpuShare !== undefined) section('cpu').shares = flags.cpuShare;
  if (flags.cpuRtPeriod !== undefined) section('cpu').realtimePeriod = flags.cpuRtPeriod;
  if (flags.cpuRtRuntime !== undefined) section('cpu').realtimeRuntime = flags.cpuRtRuntime;
  if (flags.cpusetCpus !== undefined) section('cpu').cpus = flags.cpusetCpus;
  if (flags.cpusetMems !== undefined) section('cpu').mems = flags.cpusetMems;
  if (flags.memory !== undefined) section('memory').limit = flags.memory;
  if (flags.memoryReservation !== undefined) section('memory').reservation = flags.memoryReservation;
  if (flags.memorySwap !== undefined) section('memory').swap = flags.memorySwap;
  if (flags.pidsLimit !== undefined) section('pids').limit = flags.pidsLimit;
  return resources;
}

/**
 * memory.checkBeforeUpdate (runc's CheckMemoryUsage): refuse a new memory limit at or below what the container
 * already uses, instead of letting the kernel reclaim or OOM-kill to get there.
 */
function checkMemoryBeforeUpdate(cgroups: CgroupManager, resources: Record<string, unknown>): void {
  const memory = resources.memory as { limit?: number | bigint; checkBeforeUpdate?: boolean } | undefined;
  if (!memory?.checkBeforeUpdate || memory.limit === undefined || BigInt(memory.limit) <= 0n) return;
  const usage = cgroups.stats().memory?.usage.usage;
  if (usage !== undefined && BigInt(Math.round(usage)) >= BigInt(memory.limit)) {
    throw new RuntimeError('memory-check', `linux.resources /memory/limit ${memory.limit}: the container already uses ${usage} bytes (checkBeforeUpdate)`);
  }
}

/** `tsrun update`: writes new limits into a running (or created/paused) container's cgroups. */
export function updateContainer(ctx: RuntimeContext, id: string, resources: Record<string, unknown>): void {
  ctx.store.withLock(id, () => {
    const view = inspectContainer(ctx, id);
    if (view.status === 'stopped') throw new RuntimeError('not-running', `container "${id}" is not running`);
    const cgroups = cgroupManagerOf(view.state);
    if (!cgroups) throw new RuntimeError('no-cgroup', `container "${id}" has no cgroup of its own (rootless?): its limits cannot be updated`);
    // Device rules are not changed by update (runc ignores them there too): the rest is written as given.
    const { devices: _devices, ...rest } = resources;
    checkMemoryBeforeUpdate(cgroups, rest);
    cgroups.apply(planResourceWrites(hostCgroupLayout(), rest, undefined, ctx.warn));
  });
}
