/**
 * `linux.resources` → cgroup v1 control-file writes (pure: no file is read or written here).
 *
 * Semantics follow runc's fs driver (opencontainers/cgroups fs/*.go): a value of 0 leaves a file unchanged,
 * -1 means unlimited, controllers are visited in runc's order (cpuset, memory, cpu, pids, blkio, hugetlb,
 * net_cls, net_prio, rdma). Where the kernel checks one file against another (memory vs memory+swap, CFS quota
 * vs burst, RT runtime vs period) the writes are ordered against the cgroup's current values, which a new
 * cgroup has at the kernel defaults and `update` passes in `options.current`. `devices` is planned elsewhere.
 */
import type { CgroupWrite } from './types';
import {
  emitInValidOrder,
  INT64_MAX,
  pidsMax,
  PlanBuilder,
  planHugetlb,
  planRdma,
  type PlanOptions,
  type ResourcePlan,
  UINT64_MAX,
} from './docker-units';

/** Values the cgroup has now, for ordering dependent writes; absent ones are the kernel's defaults for a new cgroup. */
export interface V1Current {
  /** memory.limit_in_bytes (the kernel shows "unlimited" as 9223372036854771712; -1 is accepted too). */
  memoryLimit?: bigint;
  /** cpu.cfs_quota_us (-1: no quota), cpu.cfs_period_us, cpu.cfs_burst_us. */
  cpuQuota?: bigint;
  cpuPeriod?: bigint;
  cpuBurst?: bigint;
  /** cpu.rt_runtime_us (-1: unlimited), cpu.rt_period_us. */
  rtRuntime?: bigint;
  rtPeriod?: bigint;
}

export interface V1PlanOptions extends PlanOptions {
  current?: V1Current;
  /**
   * What to do with `unified` (cgroup v2 files): `error` (default, as runc on a v1 host) or `ignore`, for hybrid
   * hosts whose manager writes them to the cgroup2 mount itself (see `planUnifiedWrites` in resources-v2.ts).
   */
  unified?: 'error' | 'ignore';
}

/** Kernel defaults of a new cgroup (kernel/sched/core.c, kernel/sched/rt.c). */
const CFS_PERIOD_DEFAULT = 100000n;
const RT_PERIOD_DEFAULT = 1000000n;
const SHARES_MIN = 2n;
const SHARES_MAX = 262144n;

/** The writes for `resources` on a cgroup v1 host; see `planV1` for the warnings. */
export function planV1Writes(resources: unknown, available: (controller: string) => boolean, options: V1PlanOptions = {}): CgroupWrite[] {
  return planV1(resources, available, options).writes;
}

/**
 * The writes for `resources` on a cgroup v1 host (one `controller` per v1 hierarchy), plus warnings for what is
 * ignored on purpose. A field that needs a controller `available` denies is a ConfigError naming the field.
 */
export function planV1(resources: unknown, available: (controller: string) => boolean, options: V1PlanOptions = {}): ResourcePlan {
  const plan = new PlanBuilder(available, options);
  const res = plan.object(resources, plan.base);
  if (res === undefined) return { writes: [], warnings: [] };
  const current = options.current ?? {};
  const cpu = plan.object(res.cpu, plan.at('cpu'));

  if (cpu !== undefined) planCpuset(plan, cpu);
  const memory = plan.object(res.memory, plan.at('memory'));
  if (memory !== undefined) planMemory(plan, memory, current);
  if (cpu !== undefined) planCpu(plan, cpu, current);
  planPids(plan, res.pids);
  planBlkio(plan, res.blockIO);
  planHugetlb(plan, res.hugepageLimits, { limit: 'limit_in_bytes', reservation: 'rsvd.limit_in_bytes' });
  planNetwork(plan, res.network);
  planRdma(plan, res.rdma);

  const unified = plan.object(res.unified, plan.at('unified'));
  if (unified !== undefined && Object.keys(unified).length > 0 && options.unified !== 'ignore') {
    plan.fail(plan.at('unified'), 'can only be used on a cgroup v2 host (this host uses cgroup v1)', unified);
  }
  return { writes: plan.writes, warnings: plan.warnings };
}

// ---------------------------------------------------------------------------------------------------------

function planCpuset(plan: PlanBuilder, cpu: Record<string, unknown>): void {
  for (const key of ['cpus', 'mems'] as const) {
    const pointer = plan.at('cpu', key);
    const list = plan.string(cpu, key, pointer);
    if (list === undefined || list === '') continue;
    if (/[\r\n]/.test(list)) plan.fail(pointer, 'must be a list such as "0-3,7" on one line', list);
    plan.write('cpuset', `cpuset.${key}`, list, pointer);
  }
}

function planMemory(plan: PlanBuilder, memory: Record<string, unknown>, current: V1Current): void {
  const at = (key: string) => plan.at('memory', key);
  const limit = plan.memoryBytes(memory, 'limit', at('limit'));
  const reservation = plan.memoryBytes(memory, 'reservation', at('reservation'));
  const swap = plan.memoryBytes(memory, 'swap', at('swap'));
  const kernel = plan.memoryBytes(memory, 'kernel', at('kernel'));
  const kernelTCP = plan.memoryBytes(memory, 'kernelTCP', at('kernelTCP'));
  const swappiness = plan.integer(memory, 'swappiness', at('swappiness'), 'uint64');
  const disableOOMKiller = plan.boolean(memory, 'disableOOMKiller', at('disableOOMKiller'));
  const useHierarchy = plan.boolean(memory, 'useHierarchy', at('useHierarchy'));
  plan.boolean(memory, 'checkBeforeUpdate', at('checkBeforeUpdate')); // v1: the kernel itself refuses a limit below usage

  if (useHierarchy === true) plan.write('memory', 'memory.use_hierarchy', '1', at('useHierarchy'), true);
  if (useHierarchy === false) plan.warn(at('useHierarchy'), 'is ignored: recent kernels always account memory hierarchically (runc ignores it too)');

  // memory and memory+swap: runc's setMemoryAndSwap.
  const memswFile = 'memory.memsw.limit_in_bytes';
  let memsw = swap;
  let memswPointer = at('swap');
  if (limit === -1n && swap === 0n && plan.probe('memory', memswFile) !== false) {
    // An unlimited memory limit with no swap setting lifts the swap limit too, where the kernel accounts swap.
    memsw = -1n;
    memswPointer = at('limit');
  }
  if (swap !== 0n) {
    plan.require('memory', at('swap'), swap);
    if (plan.probe('memory', memswFile) === false) {
      plan.fail(at('swap'), `cannot be applied: the host's kernel does not account swap (no ${memswFile}; boot with swapaccount=1)`, swap);
    }
  }
  if (swap > 0n) {
    if (limit === -1n) plan.fail(at('swap'), 'must be -1 as well when the memory limit is -1: swap is the memory+swap total', swap);
    const effectiveLimit = limit !== 0n ? limit : (current.memoryLimit ?? -1n);
    // 9223372036854771712 (INT64_MAX rounded down to a page) is how the kernel shows "unlimited".
    if (effectiveLimit < 0n || effectiveLimit >= INT64_MAX - 4095n) {
      plan.fail(at('swap'), 'needs linux.resources.memory.limit as well: swap is the memory+swap total', swap);
    }
    if (swap < effectiveLimit) plan.fail(at('swap'), `must be at least the memory limit (${effectiveLimit}): swap is the memory+swap total`, swap);
  }
  const writeLimit = () => {
    if (limit !== 0n) plan.write('memory', 'memory.limit_in_bytes', limit.toString(), at('limit'), limit);
  };
  const writeMemsw = () => {
    if (memsw !== 0n) plan.write('memory', memswFile, memsw.toString(), memswPointer, memsw);
  };
  // The kernel refuses memory > memory+swap: raising both, memory+swap goes first.
  const currentLimit = current.memoryLimit === undefined || current.memoryLimit < 0n ? INT64_MAX : current.memoryLimit;
  if (limit !== 0n && memsw !== 0n && (memsw === -1n || currentLimit < memsw)) {
    writeMemsw();
    writeLimit();
  } else {
    writeLimit();
    writeMemsw();
  }

  // Kernel memory: runc ignores it since 1.1; tsrun writes it only where the kernel still has the files.
  for (const [key, value, file] of [
    ['kernel', kernel, 'memory.kmem.limit_in_bytes'],
    ['kernelTCP', kernelTCP, 'memory.kmem.tcp.limit_in_bytes'],
  ] as const) {
    if (value === 0n) continue;
    if (plan.probe('memory', file) === true) plan.write('memory', file, value.toString(), at(key), value);
    else plan.warn(at(key), `is ignored: kernel memory limits are deprecated and the host has no ${file}`);
  }

  if (reservation !== 0n) plan.write('memory', 'memory.soft_limit_in_bytes', reservation.toString(), at('reservation'), reservation);
  if (disableOOMKiller === true) plan.write('memory', 'memory.oom_control', '1', at('disableOOMKiller'), true);
  if (swappiness !== undefined && swappiness !== UINT64_MAX) {
    if (swappiness > 100n) plan.fail(at('swappiness'), 'must be between 0 and 100', swappiness);
    plan.write('memory', 'memory.swappiness', swappiness.toString(), at('swappiness'), swappiness);
  }
}

interface Cfs {
  quota: bigint;
  period: bigint;
  burst: bigint;
}

interface Rt {
  runtime: bigint;
  period: bigint;
}

function planCpu(plan: PlanBuilder, cpu: Record<string, unknown>, current: V1Current): void {
  const at = (key: string) => plan.at('cpu', key);
  const shares = plan.integer(cpu, 'shares', at('shares'), 'uint64') ?? 0n;
  const quota = plan.integer(cpu, 'quota', at('quota'), 'int64') ?? 0n;
  const period = plan.integer(cpu, 'period', at('period'), 'uint64') ?? 0n;
  let burst = plan.integer(cpu, 'burst', at('burst'), 'uint64');
  const rtRuntime = plan.integer(cpu, 'realtimeRuntime', at('realtimeRuntime'), 'int64') ?? 0n;
  const rtPeriod = plan.integer(cpu, 'realtimePeriod', at('realtimePeriod'), 'uint64') ?? 0n;
  const idle = plan.integer(cpu, 'idle', at('idle'), 'int64');

  if (shares !== 0n) {
    // The kernel clamps cpu.shares to 2…262144 (runc reads it back and fails); refuse before writing.
    if (shares < SHARES_MIN || shares > SHARES_MAX) plan.fail(at('shares'), `must be between ${SHARES_MIN} and ${SHARES_MAX}`, shares);
    plan.write('cpu', 'cpu.shares', shares.toString(), at('shares'), shares);
  }

  if (burst !== undefined && quota > 0n && burst > quota) plan.fail(at('burst'), `must be no larger than the quota (${quota})`, burst);
  if (burst !== undefined) {
    plan.require('cpu', at('burst'), burst);
    if (plan.probe('cpu', 'cpu.cfs_burst_us') === false) {
      plan.warn(at('burst'), 'is ignored: the host kernel has no cpu.cfs_burst_us (CFS burst needs Linux 5.14)');
      burst = undefined;
    }
  }
  const cfs: Array<{ apply: (s: Cfs) => Cfs; emit: () => void }> = [];
  if (period !== 0n) cfs.push({ apply: (s) => ({ ...s, period }), emit: () => plan.write('cpu', 'cpu.cfs_period_us', period.toString(), at('period'), period) });
  if (burst !== undefined) {
    const value = burst;
    cfs.push({ apply: (s) => ({ ...s, burst: value }), emit: () => plan.write('cpu', 'cpu.cfs_burst_us', value.toString(), at('burst'), value) });
  }
  if (quota !== 0n) cfs.push({ apply: (s) => ({ ...s, quota }), emit: () => plan.write('cpu', 'cpu.cfs_quota_us', quota.toString(), at('quota'), quota) });
  const cfsNow: Cfs = { quota: current.cpuQuota ?? -1n, period: current.cpuPeriod ?? CFS_PERIOD_DEFAULT, burst: current.cpuBurst ?? 0n };
  emitInValidOrder(cfsNow, cfs, (s) => s.quota < 0n || s.burst <= s.quota);

  if (idle !== undefined) {
    if (idle !== 0n && idle !== 1n) plan.fail(at('idle'), 'must be 0 or 1 (SCHED_IDLE)', idle);
    plan.write('cpu', 'cpu.idle', idle.toString(), at('idle'), idle);
  }

  const rt: Array<{ apply: (s: Rt) => Rt; emit: () => void }> = [];
  if (rtPeriod !== 0n) rt.push({ apply: (s) => ({ ...s, period: rtPeriod }), emit: () => plan.write('cpu', 'cpu.rt_period_us', rtPeriod.toString(), at('realtimePeriod'), rtPeriod) });
  if (rtRuntime !== 0n) rt.push({ apply: (s) => ({ ...s, runtime: rtRuntime }), emit: () => plan.write('cpu', 'cpu.rt_runtime_us', rtRuntime.toString(), at('realtimeRuntime'), rtRuntime) });
  if (rtRuntime > 0n && rtPeriod !== 0n && rtRuntime > rtPeriod) plan.fail(at('realtimeRuntime'), `must be no larger than the realtime period (${rtPeriod})`, rtRuntime);
  const rtNow: Rt = { runtime: current.rtRuntime ?? 0n, period: current.rtPeriod ?? RT_PERIOD_DEFAULT };
  emitInValidOrder(rtNow, rt, (s) => s.runtime < 0n || s.runtime <= s.period);
}

function planPids(plan: PlanBuilder, value: unknown): void {
  const pids = plan.object(value, plan.at('pids'));
  if (pids === undefined) return;
  const limit = plan.integer(pids, 'limit', plan.at('pids', 'limit'), 'int64');
  if (limit === undefined) return;
  plan.write('pids', 'pids.max', pidsMax(limit), plan.at('pids', 'limit'), limit);
}

function planBlkio(plan: PlanBuilder, value: unknown): void {
  const blkio = plan.object(value, plan.at('blockIO'));
  if (blkio === undefined) return;
  const at = (...tokens: Array<string | number>) => plan.at('blockIO', ...tokens);
  const weight = plan.integer(blkio, 'weight', at('weight'), 'uint16') ?? 0n;
  const leafWeight = plan.integer(blkio, 'leafWeight', at('leafWeight'), 'uint16') ?? 0n;

  // CFQ has blkio.weight; without it (BFQ), runc writes blkio.bfq.weight.
  let weightFiles: [string, string] | undefined;
  const weightFile = (pointer: string, raw: unknown): [string, string] => {
    if (weightFiles !== undefined) return weightFiles;
    plan.require('blkio', pointer, raw);
    if (plan.probe('blkio', 'blkio.weight') !== false) weightFiles = ['blkio.weight', 'blkio.weight_device'];
    else if (plan.probe('blkio', 'blkio.bfq.weight') !== false) weightFiles = ['blkio.bfq.weight', 'blkio.bfq.weight_device'];
    else plan.fail(pointer, 'cannot be applied: the host has no blkio.weight or blkio.bfq.weight (no CFQ or BFQ I/O scheduler)', raw);
    return weightFiles;
  };
  const leafFile = (file: string, pointer: string, raw: unknown): string => {
    plan.require('blkio', pointer, raw);
    if (plan.probe('blkio', file) === false) plan.fail(pointer, `cannot be applied: the host has no ${file} (leaf weights need the CFQ I/O scheduler)`, raw);
    return file;
  };

  if (weight !== 0n) plan.write('blkio', weightFile(at('weight'), weight)[0], weight.toString(), at('weight'), weight);
  if (leafWeight !== 0n) plan.write('blkio', leafFile('blkio.leaf_weight', at('leafWeight'), leafWeight), leafWeight.toString(), at('leafWeight'), leafWeight);

  plan.array(blkio.weightDevice, at('weightDevice')).forEach((item, i) => {
    const entry = plan.object(item, at('weightDevice', i)) ?? plan.fail(at('weightDevice', i), 'must be an object', item);
    const device = plan.device(entry, at('weightDevice', i));
    const w = plan.integer(entry, 'weight', at('weightDevice', i, 'weight'), 'uint16');
    const lw = plan.integer(entry, 'leafWeight', at('weightDevice', i, 'leafWeight'), 'uint16');
    if (w === undefined && lw === undefined) plan.fail(at('weightDevice', i), 'must have weight, leafWeight or both', entry);
    if (w !== undefined && w !== 0n) {
      const pointer = at('weightDevice', i, 'weight');
      plan.write('blkio', weightFile(pointer, w)[1], `${device} ${w}`, pointer, w);
    }
    if (lw !== undefined && lw !== 0n) {
      const pointer = at('weightDevice', i, 'leafWeight');
      plan.write('blkio', leafFile('blkio.leaf_weight_device', pointer, lw), `${device} ${lw}`, pointer, lw);
    }
  });

  for (const [key, file] of [
    ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
    ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
    ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
    ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
  ] as const) {
    plan.array(blkio[key], at(key)).forEach((item, i) => {
      const entry = plan.object(item, at(key, i)) ?? plan.fail(at(key, i), 'must be an object', item);
      const device = plan.device(entry, at(key, i));
      const rate = plan.integer(entry, 'rate', at(key, i, 'rate'), 'uint64');
      if (rate === undefined) plan.fail(at(key, i, 'rate'), 'must be set', entry.rate);
      plan.write('blkio', file, `${device} ${rate}`, at(key, i, 'rate'), rate);
    });
  }
}

function planNetwork(plan: PlanBuilder, value: unknown): void {
  const network = plan.object(value, plan.at('network'));
  if (network === undefined) return;
  const classID = plan.integer(network, 'classID', plan.at('network', 'classID'), 'uint32') ?? 0n;
  if (classID !== 0n) plan.write('net_cls', 'net_cls.classid', classID.toString(), plan.at('network', 'classID'), classID);
  plan.array(network.priorities, plan.at('network', 'priorities')).forEach((item, i) => {
    const pointer = plan.at('network', 'priorities', i);
    const entry = plan.object(item, pointer) ?? plan.fail(pointer, 'must be an object', item);
    const name = plan.string(entry, 'name', `${pointer}/name`);
    if (name === undefined) plan.fail(`${pointer}/name`, 'must be set', entry.name);
    plan.token(name, `${pointer}/name`, 'an interface name');
    const priority = plan.integer(entry, 'priority', `${pointer}/priority`, 'uint32');
    if (priority === undefined) plan.fail(`${pointer}/priority`, 'must be set', entry.priority);
    plan.write('net_prio', 'net_prio.ifpriomap', `${name} ${priority}`, pointer, entry);
  });
}
