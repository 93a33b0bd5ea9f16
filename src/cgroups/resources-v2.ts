/**
 * `linux.resources` → cgroup v2 control-file writes (pure: no file is read or written here). Every write is filed
 * under the `unified` controller; availability is checked against the v2 controller each file belongs to.
 *
 * The runtime-spec speaks cgroup v1; the conversions are runc's (opencontainers/cgroups fs2/*.go, utils.go):
 * shares → cpu.weight, quota/period → cpu.max, memory+swap → memory.swap.max, reservation → memory.low,
 * blkio weight → io.bfq.weight as is (BFQ) or io.weight converted, throttles → io.max. Files are visited in runc's
 * order (pids, memory, io, cpu, cpuset, hugetlb, rdma) and `unified` comes last, so its values win. What v2 has
 * no file for (kernel memory, swappiness, OOM-killer switch, realtime, net_cls/net_prio, leaf weights) is ignored
 * as runc ignores it, with a warning. `devices` is planned elsewhere.
 */
import type { CgroupWrite } from './types';
import {
  blkioWeightToIoWeight,
  cpuSharesToWeight,
  emitInValidOrder,
  memorySwapToV2,
  pidsMax,
  PlanBuilder,
  planHugetlb,
  planRdma,
  type PlanOptions,
  type ResourcePlan,
  UINT64_MAX,
  v2Limit,
} from './docker-units';

/** Values the cgroup has now, for ordering dependent writes; absent ones are the kernel's defaults for a new cgroup. */
export interface V2Current {
  /** cpu.max: quota in µs (-1 for `max`) and period in µs. */
  cpuQuota?: bigint;
  cpuPeriod?: bigint;
  /** cpu.max.burst in µs. */
  cpuBurst?: bigint;
}

export interface V2PlanOptions extends PlanOptions {
  current?: V2Current;
}

export interface V2Plan extends ResourcePlan {
  /**
   * Set when `memory.checkBeforeUpdate` asks for it: before the memory writes, the manager reads
   * memory.current and refuses (naming `pointer`) when the usage is not below `limit` (runc's CheckMemoryUsage).
   */
  memoryCheck?: { limit: bigint; pointer: string };
}

/** The controller written to: cgroup v2 has one hierarchy. */
const UNIFIED = 'unified';
/** cpu.max period when none is given or known (the kernel default, also runc's). */
const CFS_PERIOD_DEFAULT = 100000n;
/** Files holding one line per device or key: a `unified` value adds to the converted writes instead of replacing them. */
const KEYED_FILES = new Set(['io.max', 'io.weight', 'io.bfq.weight', 'io.latency', 'rdma.max']);

/** The writes for `resources` on a cgroup v2 host; see `planV2` for the warnings and the memory check. */
export function planV2Writes(resources: unknown, available: (controller: string) => boolean, options: V2PlanOptions = {}): CgroupWrite[] {
  return planV2(resources, available, options).writes;
}

/**
 * The writes for `resources` on a cgroup v2 host. `available(controller)` says whether the v2 controller is
 * enabled for the container's cgroup (cgroup.controllers); a field that needs a missing one is a ConfigError
 * naming the field.
 */
export function planV2(resources: unknown, available: (controller: string) => boolean, options: V2PlanOptions = {}): V2Plan {
  const plan = new PlanBuilder(available, options, UNIFIED);
  const res = plan.object(resources, plan.base);
  if (res === undefined) return { writes: [], warnings: [] };
  const current = options.current ?? {};

  const pids = plan.object(res.pids, plan.at('pids'));
  if (pids !== undefined) {
    const limit = plan.integer(pids, 'limit', plan.at('pids', 'limit'), 'int64');
    if (limit !== undefined) plan.write('pids', 'pids.max', pidsMax(limit), plan.at('pids', 'limit'), limit);
  }
  const memory = plan.object(res.memory, plan.at('memory'));
  const memoryCheck = memory === undefined ? undefined : planMemory(plan, memory);
  planIo(plan, res.blockIO);
  const cpu = plan.object(res.cpu, plan.at('cpu'));
  if (cpu !== undefined) planCpu(plan, cpu, current);
  if (cpu !== undefined) {
    for (const key of ['cpus', 'mems'] as const) {
      const pointer = plan.at('cpu', key);
      const list = plan.string(cpu, key, pointer);
      if (list === undefined || list === '') continue;
      if (/[\r\n]/.test(list)) plan.fail(pointer, 'must be a list such as "0-3,7" on one line', list);
      plan.write('cpuset', `cpuset.${key}`, list, pointer);
    }
  }
  planHugetlb(plan, res.hugepageLimits, { limit: 'max', reservation: 'rsvd.max' });
  planRdma(plan, res.rdma);
  planNetwork(plan, res.network);

  const unified = planUnified(plan, res.unified);
  const files = new Set(unified.map((write) => write.file));
  const writes = plan.writes.filter((write) => unified.includes(write) || !files.has(write.file) || KEYED_FILES.has(write.file));
  const result: V2Plan = { writes, warnings: plan.warnings };
  if (memoryCheck !== undefined) result.memoryCheck = memoryCheck;
  return result;
}

/**
 * Just the `unified` map's writes (keys validated, controllers checked): for hybrid hosts, whose manager writes
 * them to the cgroup2 mount while `planV1` handles the rest.
 */
export function planUnifiedWrites(unified: unknown, available: (controller: string) => boolean, options: PlanOptions = {}): CgroupWrite[] {
  const plan = new PlanBuilder(available, options, UNIFIED);
  return planUnified(plan, unified);
}

// ---------------------------------------------------------------------------------------------------------

function planUnified(plan: PlanBuilder, value: unknown): CgroupWrite[] {
  const unified = plan.object(value, plan.at('unified'));
  if (unified === undefined) return [];
  const writes: CgroupWrite[] = [];
  for (const [key, content] of Object.entries(unified)) {
    const pointer = plan.at('unified', key);
    if (key === '' || key === '.' || key === '..' || /[/\0]/.test(key) || key.includes('..')) {
      plan.fail(pointer, 'must be the name of a file in the cgroup directory (no "/" or "..")', key);
    }
    const dot = key.indexOf('.');
    if (dot <= 0 || dot === key.length - 1) plan.fail(pointer, 'must be a file name of the form CONTROLLER.PARAMETER, e.g. "memory.high"', key);
    if (typeof content !== 'string') plan.fail(pointer, 'must be a string (written to the file as is)', content);
    const controller = key.slice(0, dot);
    // cgroup.* files belong to the cgroup core and exist without any controller (runc makes the same exception).
    if (controller === 'cgroup') {
      writes.push({ controller: UNIFIED, file: key, value: content, pointer });
      plan.writes.push(writes[writes.length - 1]!);
    } else {
      writes.push(plan.write(controller, key, content, pointer));
    }
  }
  return writes;
}

function planMemory(plan: PlanBuilder, memory: Record<string, unknown>): V2Plan['memoryCheck'] {
  const at = (key: string) => plan.at('memory', key);
  const limit = plan.memoryBytes(memory, 'limit', at('limit'));
  const reservation = plan.memoryBytes(memory, 'reservation', at('reservation'));
  const swap = plan.memoryBytes(memory, 'swap', at('swap'));
  const kernel = plan.memoryBytes(memory, 'kernel', at('kernel'));
  const kernelTCP = plan.memoryBytes(memory, 'kernelTCP', at('kernelTCP'));
  const swappiness = plan.integer(memory, 'swappiness', at('swappiness'), 'uint64');
  const disableOOMKiller = plan.boolean(memory, 'disableOOMKiller', at('disableOOMKiller'));
  const useHierarchy = plan.boolean(memory, 'useHierarchy', at('useHierarchy'));
  const checkBeforeUpdate = plan.boolean(memory, 'checkBeforeUpdate', at('checkBeforeUpdate'));

  let check: V2Plan['memoryCheck'];
  if (limit !== 0n || reservation !== 0n || swap !== 0n) {
    const converted = memorySwapToV2(swap, limit);
    if (typeof converted !== 'bigint') plan.fail(at('swap'), converted.error, swap);
    // Equal memory and swap totals mean "no swap": memory.swap.max 0 (never an empty write).
    const swapMax = v2Limit(converted) ?? (swap > 0n ? '0' : undefined);
    if (swapMax !== undefined) {
      const pointer = swap !== 0n ? at('swap') : at('limit');
      plan.require('memory', pointer, swap !== 0n ? swap : limit);
      if (plan.probe('memory', 'memory.swap.max') === false) {
        // Without swap accounting there is no swap to limit: "max" and "0" hold anyway (runc skips them too).
        if (swapMax !== 'max' && swapMax !== '0') {
          plan.fail(pointer, "cannot be applied: the host's kernel does not account swap (no memory.swap.max)", swap);
        }
      } else {
        plan.write('memory', 'memory.swap.max', swapMax, pointer, swap !== 0n ? swap : limit);
      }
    }
    const max = v2Limit(limit);
    if (max !== undefined) plan.write('memory', 'memory.max', max, at('limit'), limit);
    if (checkBeforeUpdate === true && limit > 0n) check = { limit, pointer: at('limit') };
    const low = v2Limit(reservation);
    if (low !== undefined) plan.write('memory', 'memory.low', low, at('reservation'), reservation);
  }

  if (kernel !== 0n) plan.warn(at('kernel'), 'is ignored: cgroup v2 has no kernel memory limit (runc ignores it too)');
  if (kernelTCP !== 0n) plan.warn(at('kernelTCP'), 'is ignored: cgroup v2 has no kernel TCP memory limit (runc ignores it too)');
  if (swappiness !== undefined && swappiness !== UINT64_MAX) plan.warn(at('swappiness'), 'is ignored: cgroup v2 has no per-cgroup swappiness (runc ignores it too)');
  if (disableOOMKiller === true) plan.warn(at('disableOOMKiller'), 'is ignored: cgroup v2 cannot disable the OOM killer (runc ignores it too)');
  if (useHierarchy === false) plan.warn(at('useHierarchy'), 'is ignored: cgroup v2 always accounts memory hierarchically');
  return check;
}

function planIo(plan: PlanBuilder, value: unknown): void {
  const blkio = plan.object(value, plan.at('blockIO'));
  if (blkio === undefined) return;
  const at = (...tokens: Array<string | number>) => plan.at('blockIO', ...tokens);
  const weight = plan.integer(blkio, 'weight', at('weight'), 'uint16') ?? 0n;
  const leafWeight = plan.integer(blkio, 'leafWeight', at('leafWeight'), 'uint16') ?? 0n;
  // BFQ takes blkio weights as they are (io.bfq.weight, also per device); otherwise io.weight, converted.
  const bfq = (controllerPointer: string, raw: unknown): boolean => {
    plan.require('io', controllerPointer, raw);
    return plan.probe('io', 'io.bfq.weight') === true;
  };

  if (weight !== 0n) {
    if (bfq(at('weight'), weight)) {
      plan.write('io', 'io.bfq.weight', weight.toString(), at('weight'), weight);
    } else {
      if (weight < 10n || weight > 1000n) plan.fail(at('weight'), 'must be between 10 and 1000 to be converted to io.weight', weight);
      plan.write('io', 'io.weight', blkioWeightToIoWeight(weight).toString(), at('weight'), weight);
    }
  }
  if (leafWeight !== 0n) plan.warn(at('leafWeight'), 'is ignored: cgroup v2 has no leaf weights (runc ignores it too)');

  plan.array(blkio.weightDevice, at('weightDevice')).forEach((item, i) => {
    const pointer = at('weightDevice', i);
    const entry = plan.object(item, pointer) ?? plan.fail(pointer, 'must be an object', item);
    const device = plan.device(entry, pointer);
    const w = plan.integer(entry, 'weight', `${pointer}/weight`, 'uint16');
    const lw = plan.integer(entry, 'leafWeight', `${pointer}/leafWeight`, 'uint16');
    if (w === undefined && lw === undefined) plan.fail(pointer, 'must have weight, leafWeight or both', entry);
    if (w !== undefined && w !== 0n) {
      if (bfq(`${pointer}/weight`, w)) plan.write('io', 'io.bfq.weight', `${device} ${w}`, `${pointer}/weight`, w);
      else plan.warn(`${pointer}/weight`, 'is ignored: per-device weights need the BFQ I/O scheduler (io.bfq.weight)');
    }
    if (lw !== undefined && lw !== 0n) plan.warn(`${pointer}/leafWeight`, 'is ignored: cgroup v2 has no leaf weights (runc ignores it too)');
  });

  for (const [key, name] of [
    ['throttleReadBpsDevice', 'rbps'],
    ['throttleWriteBpsDevice', 'wbps'],
    ['throttleReadIOPSDevice', 'riops'],
    ['throttleWriteIOPSDevice', 'wiops'],
  ] as const) {
    plan.array(blkio[key], at(key)).forEach((item, i) => {
      const entry = plan.object(item, at(key, i)) ?? plan.fail(at(key, i), 'must be an object', item);
      const device = plan.device(entry, at(key, i));
      const rate = plan.integer(entry, 'rate', at(key, i, 'rate'), 'uint64');
      if (rate === undefined) plan.fail(at(key, i, 'rate'), 'must be set', entry.rate);
      // One line per limit, as runc writes them: io.max keeps the keys a line does not name.
      plan.write('io', 'io.max', `${device} ${name}=${rate}`, at(key, i, 'rate'), rate);
    });
  }
}

interface CpuMax {
  quota: bigint;
  burst: bigint;
}

function planCpu(plan: PlanBuilder, cpu: Record<string, unknown>, current: V2Current): void {
  const at = (key: string) => plan.at('cpu', key);
  const shares = plan.integer(cpu, 'shares', at('shares'), 'uint64') ?? 0n;
  const quota = plan.integer(cpu, 'quota', at('quota'), 'int64') ?? 0n;
  const period = plan.integer(cpu, 'period', at('period'), 'uint64') ?? 0n;
  const burst = plan.integer(cpu, 'burst', at('burst'), 'uint64');
  const rtRuntime = plan.integer(cpu, 'realtimeRuntime', at('realtimeRuntime'), 'int64') ?? 0n;
  const rtPeriod = plan.integer(cpu, 'realtimePeriod', at('realtimePeriod'), 'uint64') ?? 0n;
  const idle = plan.integer(cpu, 'idle', at('idle'), 'int64');

  if (idle !== undefined) {
    if (idle !== 0n && idle !== 1n) plan.fail(at('idle'), 'must be 0 or 1 (SCHED_IDLE)', idle);
    plan.write('cpu', 'cpu.idle', idle.toString(), at('idle'), idle);
  }
  const weight = cpuSharesToWeight(shares);
  if (weight !== 0n) plan.write('cpu', 'cpu.weight', weight.toString(), at('shares'), shares);

  if (burst !== undefined && quota > 0n && burst > quota) plan.fail(at('burst'), `must be no larger than the quota (${quota})`, burst);
  const steps: Array<{ apply: (s: CpuMax) => CpuMax; emit: () => void }> = [];
  if (burst !== undefined) {
    steps.push({ apply: (s) => ({ ...s, burst }), emit: () => plan.write('cpu', 'cpu.max.burst', burst.toString(), at('burst'), burst) });
  }
  if (quota !== 0n || period !== 0n) {
    // A quota of -1 (or none) is "max"; a missing period keeps the current one, or the kernel default.
    const effectivePeriod = period !== 0n ? period : (current.cpuPeriod ?? CFS_PERIOD_DEFAULT);
    const value = `${quota > 0n ? quota : 'max'} ${effectivePeriod}`;
    const pointer = quota !== 0n ? at('quota') : at('period');
    steps.push({ apply: (s) => ({ ...s, quota: quota > 0n ? quota : -1n }), emit: () => plan.write('cpu', 'cpu.max', value, pointer, quota !== 0n ? quota : period) });
  }
  const now: CpuMax = { quota: current.cpuQuota ?? -1n, burst: current.cpuBurst ?? 0n };
  emitInValidOrder(now, steps, (s) => s.quota < 0n || s.burst <= s.quota);

  if (rtRuntime !== 0n) plan.warn(at('realtimeRuntime'), 'is ignored: cgroup v2 has no realtime CPU bandwidth (runc ignores it too)');
  if (rtPeriod !== 0n) plan.warn(at('realtimePeriod'), 'is ignored: cgroup v2 has no realtime CPU bandwidth (runc ignores it too)');
}

function planNetwork(plan: PlanBuilder, value: unknown): void {
  const network = plan.object(value, plan.at('network'));
  if (network === undefined) return;
  const classID = plan.integer(network, 'classID', plan.at('network', 'classID'), 'uint32') ?? 0n;
  if (classID !== 0n) plan.warn(plan.at('network', 'classID'), 'is ignored: cgroup v2 has no net_cls controller (runc ignores it too)');
  const priorities = plan.array(network.priorities, plan.at('network', 'priorities'));
  if (priorities.length > 0) plan.warn(plan.at('network', 'priorities'), 'is ignored: cgroup v2 has no net_prio controller (runc ignores it too)');
}
