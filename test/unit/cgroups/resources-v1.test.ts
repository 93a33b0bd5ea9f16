import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';
import type { CgroupWrite } from '../../../src/cgroups/types';
import { planV1, planV1Writes, type V1PlanOptions } from '../../../src/cgroups/resources-v1';
import { parseJsonLossless } from '../../../src/spec/json';
import { errorOf } from '../../helpers/errors';

const R = '/linux/resources';
const everything = (): boolean => true;

/** The ConfigError `fn` throws, checked for its pointer and its whole message. */
function configError(fn: () => unknown, pointer: string, message: string, source = 'config.json'): void {
  const error = errorOf(fn);
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).pointer).toBe(pointer);
  expect(error.message).toBe(`${source}: ${pointer} ${message}`);
}

/** Writes as `[controller, file, value, pointer]` rows, in order. */
function rows(writes: CgroupWrite[]): string[][] {
  return writes.map((w) => [w.controller, w.file, w.value, w.pointer]);
}

function plan(resources: unknown, options: V1PlanOptions = {}, available: (c: string) => boolean = everything): string[][] {
  return rows(planV1Writes(resources, available, options));
}

/** A hasFile that knows exactly the listed `controller/file` entries. */
function files(...present: string[]): (controller: string, file: string) => boolean {
  return (controller, file) => present.includes(`${controller}/${file}`);
}

describe('planV1: the resources object', () => {
  it('plans nothing for absent, null or empty resources', () => {
    expect(planV1(undefined, everything)).toEqual({ writes: [], warnings: [] });
    expect(planV1(null, everything)).toEqual({ writes: [], warnings: [] });
    expect(planV1({}, everything)).toEqual({ writes: [], warnings: [] });
  });

  it('refuses resources that are not an object', () => {
    configError(() => planV1([], everything), R, 'must be an object, got []');
    configError(() => planV1({ memory: 5 }, everything), `${R}/memory`, 'must be an object, got 5');
  });

  it('leaves devices to the device planner', () => {
    expect(plan({ devices: [{ allow: false, access: 'rwm' }] })).toEqual([]);
  });

  it('visits controllers in runc order: cpuset, memory, cpu, pids, blkio, hugetlb, net_cls, net_prio, rdma', () => {
    const writes = planV1Writes(
      {
        rdma: { mlx5_0: { hcaHandles: 1 } },
        network: { classID: 1, priorities: [{ name: 'eth0', priority: 1 }] },
        hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
        blockIO: { weight: 500 },
        pids: { limit: 10 },
        cpu: { shares: 512, cpus: '0' },
        memory: { limit: 1048576 },
      },
      everything,
    );
    expect(writes.map((w) => w.controller)).toEqual(['cpuset', 'memory', 'cpu', 'pids', 'blkio', 'hugetlb', 'net_cls', 'net_prio', 'rdma']);
  });

  it('uses the pointer base and source it is given (update --resources)', () => {
    expect(plan({ pids: { limit: 5 } }, { pointer: '' })).toEqual([['pids', 'pids.max', '5', '/pids/limit']]);
    configError(() => planV1({ pids: { limit: 'x' } }, everything, { pointer: '', source: 'resources.json' }), '/pids/limit', 'must be an integer between -9223372036854775808 and 9223372036854775807 (int64), got "x"', 'resources.json');
  });

  it('refuses unified on a v1 host unless told to ignore it (hybrid hosts write it to the cgroup2 mount)', () => {
    configError(() => plan({ unified: { 'memory.high': '1G' } }), `${R}/unified`, 'can only be used on a cgroup v2 host (this host uses cgroup v1), got {"memory.high":"1G"}');
    expect(plan({ unified: { 'memory.high': '1G' } }, { unified: 'ignore' })).toEqual([]);
    expect(plan({ unified: {} })).toEqual([]);
  });
});

describe('planV1: memory', () => {
  it('writes every memory file of a new cgroup in runc order', () => {
    const result = planV1(
      { memory: { limit: 536870912, reservation: 268435456, swap: 1073741824, swappiness: 60, disableOOMKiller: true, useHierarchy: true, checkBeforeUpdate: true } },
      everything,
    );
    expect(rows(result.writes)).toEqual([
      ['memory', 'memory.use_hierarchy', '1', `${R}/memory/useHierarchy`],
      ['memory', 'memory.limit_in_bytes', '536870912', `${R}/memory/limit`],
      ['memory', 'memory.memsw.limit_in_bytes', '1073741824', `${R}/memory/swap`],
      ['memory', 'memory.soft_limit_in_bytes', '268435456', `${R}/memory/reservation`],
      ['memory', 'memory.oom_control', '1', `${R}/memory/disableOOMKiller`],
      ['memory', 'memory.swappiness', '60', `${R}/memory/swappiness`],
    ]);
    expect(result.warnings).toEqual([]);
  });

  it('writes 64-bit limits exactly as parsed (bigint)', () => {
    const resources = parseJsonLossless('{"memory":{"limit":9223372036854775807,"reservation":9007199254740993}}') as Record<string, unknown>;
    expect(plan(resources)).toEqual([
      ['memory', 'memory.limit_in_bytes', '9223372036854775807', `${R}/memory/limit`],
      ['memory', 'memory.soft_limit_in_bytes', '9007199254740993', `${R}/memory/reservation`],
    ]);
  });

  it('treats 0 as "leave unchanged" and false switches as nothing to write', () => {
    expect(plan({ memory: { limit: 0, reservation: 0, swap: 0, kernel: 0, disableOOMKiller: false } })).toEqual([]);
  });

  it('lifts the swap limit with an unlimited memory limit (-1 without swap), memory+swap first', () => {
    expect(plan({ memory: { limit: -1 } })).toEqual([
      ['memory', 'memory.memsw.limit_in_bytes', '-1', `${R}/memory/limit`],
      ['memory', 'memory.limit_in_bytes', '-1', `${R}/memory/limit`],
    ]);
    // Not where the kernel does not account swap.
    expect(plan({ memory: { limit: -1 } }, { hasFile: files() })).toEqual([['memory', 'memory.limit_in_bytes', '-1', `${R}/memory/limit`]]);
  });

  it('writes unlimited swap (-1) before the memory limit', () => {
    expect(plan({ memory: { limit: 104857600, swap: -1 } })).toEqual([
      ['memory', 'memory.memsw.limit_in_bytes', '-1', `${R}/memory/swap`],
      ['memory', 'memory.limit_in_bytes', '104857600', `${R}/memory/limit`],
    ]);
  });

  it('orders memory and memory+swap against the current limit, as runc does on update', () => {
    // Raising both: memory+swap first, or the kernel refuses memory > memory+swap.
    expect(plan({ memory: { limit: 314572800, swap: 419430400 } }, { current: { memoryLimit: 104857600n } })).toEqual([
      ['memory', 'memory.memsw.limit_in_bytes', '419430400', `${R}/memory/swap`],
      ['memory', 'memory.limit_in_bytes', '314572800', `${R}/memory/limit`],
    ]);
    // Lowering both: memory first, or the kernel refuses memory+swap < memory.
    expect(plan({ memory: { limit: 104857600, swap: 209715200 } }, { current: { memoryLimit: 314572800n } })).toEqual([
      ['memory', 'memory.limit_in_bytes', '104857600', `${R}/memory/limit`],
      ['memory', 'memory.memsw.limit_in_bytes', '209715200', `${R}/memory/swap`],
    ]);
    // The kernel's "unlimited" (and -1) count as the largest limit.
    expect(plan({ memory: { limit: 104857600, swap: 209715200 } }, { current: { memoryLimit: 9223372036854771712n } })[0]![1]).toBe('memory.limit_in_bytes');
    expect(plan({ memory: { limit: 104857600, swap: 209715200 } }, { current: { memoryLimit: -1n } })[0]![1]).toBe('memory.limit_in_bytes');
  });

  it('checks swap is the memory+swap total', () => {
    configError(() => plan({ memory: { swap: 1073741824 } }), `${R}/memory/swap`, 'needs linux.resources.memory.limit as well: swap is the memory+swap total, got 1073741824');
    configError(() => plan({ memory: { limit: 209715200, swap: 104857600 } }), `${R}/memory/swap`, 'must be at least the memory limit (209715200): swap is the memory+swap total, got 104857600');
    configError(() => plan({ memory: { limit: -1, swap: 104857600 } }), `${R}/memory/swap`, 'must be -1 as well when the memory limit is -1: swap is the memory+swap total, got 104857600');
    // On update the current limit counts.
    expect(plan({ memory: { swap: 209715200 } }, { current: { memoryLimit: 104857600n } })).toEqual([
      ['memory', 'memory.memsw.limit_in_bytes', '209715200', `${R}/memory/swap`],
    ]);
    configError(() => plan({ memory: { swap: 104857600 } }, { current: { memoryLimit: 209715200n } }), `${R}/memory/swap`, 'must be at least the memory limit (209715200): swap is the memory+swap total, got 104857600');
  });

  it('refuses swap where the kernel does not account it', () => {
    configError(
      () => plan({ memory: { limit: 104857600, swap: 209715200 } }, { hasFile: files() }),
      `${R}/memory/swap`,
      "cannot be applied: the host's kernel does not account swap (no memory.memsw.limit_in_bytes; boot with swapaccount=1), got 209715200",
    );
  });

  it('writes kernel memory limits only where the kernel has the files, and warns otherwise', () => {
    const ignored = planV1({ memory: { kernel: 104857600, kernelTCP: -1 } }, everything);
    expect(ignored.writes).toEqual([]);
    expect(ignored.warnings).toEqual([
      'config.json: /linux/resources/memory/kernel is ignored: kernel memory limits are deprecated and the host has no memory.kmem.limit_in_bytes',
      'config.json: /linux/resources/memory/kernelTCP is ignored: kernel memory limits are deprecated and the host has no memory.kmem.tcp.limit_in_bytes',
    ]);
    const kmem = planV1({ memory: { limit: 209715200, kernel: 104857600, kernelTCP: -1 } }, everything, {
      hasFile: files('memory/memory.memsw.limit_in_bytes', 'memory/memory.kmem.limit_in_bytes', 'memory/memory.kmem.tcp.limit_in_bytes'),
    });
    expect(rows(kmem.writes)).toEqual([
      ['memory', 'memory.limit_in_bytes', '209715200', `${R}/memory/limit`],
      ['memory', 'memory.kmem.limit_in_bytes', '104857600', `${R}/memory/kernel`],
      ['memory', 'memory.kmem.tcp.limit_in_bytes', '-1', `${R}/memory/kernelTCP`],
    ]);
    expect(kmem.warnings).toEqual([]);
  });

  it('writes swappiness 0…100, leaves -1 (2^64-1 as uint64) alone and refuses more', () => {
    expect(plan({ memory: { swappiness: 0 } })).toEqual([['memory', 'memory.swappiness', '0', `${R}/memory/swappiness`]]);
    expect(plan({ memory: { swappiness: 18446744073709551615n } })).toEqual([]);
    configError(() => plan({ memory: { swappiness: 101 } }), `${R}/memory/swappiness`, 'must be between 0 and 100, got 101');
  });

  it('ignores useHierarchy false with a warning (recent kernels refuse 0)', () => {
    const result = planV1({ memory: { useHierarchy: false } }, everything);
    expect(result.writes).toEqual([]);
    expect(result.warnings).toEqual(['config.json: /linux/resources/memory/useHierarchy is ignored: recent kernels always account memory hierarchically (runc ignores it too)']);
  });

  it('refuses values that are not byte counts', () => {
    configError(() => plan({ memory: { limit: -2 } }), `${R}/memory/limit`, 'must be a number of bytes, or -1 for unlimited, got -2');
    configError(() => plan({ memory: { reservation: '1G' } }), `${R}/memory/reservation`, 'must be an integer between -9223372036854775808 and 9223372036854775807 (int64), got "1G"');
    configError(() => plan({ memory: { limit: 1.5 } }), `${R}/memory/limit`, 'must be an integer between -9223372036854775808 and 9223372036854775807 (int64), got 1.5');
    configError(() => plan({ memory: { limit: 9223372036854775808n } }), `${R}/memory/limit`, 'must be an integer between -9223372036854775808 and 9223372036854775807 (int64), got 9223372036854775808');
    configError(() => plan({ memory: { disableOOMKiller: 'yes' } }), `${R}/memory/disableOOMKiller`, 'must be true or false, got "yes"');
  });

  it('names the field when the host has no memory controller', () => {
    const noMemory = (c: string) => c !== 'memory';
    configError(() => plan({ memory: { limit: 536870912 } }, {}, noMemory), `${R}/memory/limit`, 'cannot be applied: the host has no memory cgroup controller, got 536870912');
    configError(() => plan({ memory: { swap: -1 } }, {}, noMemory), `${R}/memory/swap`, 'cannot be applied: the host has no memory cgroup controller, got -1');
    configError(() => plan({ memory: { disableOOMKiller: true } }, {}, noMemory), `${R}/memory/disableOOMKiller`, 'cannot be applied: the host has no memory cgroup controller, got true');
    // Nothing to write, nothing to refuse.
    expect(plan({ memory: { limit: 0, disableOOMKiller: false } }, {}, noMemory)).toEqual([]);
  });
});

describe('planV1: cpu and cpuset', () => {
  it('writes every cpu file of a new cgroup in runc order', () => {
    expect(plan({ cpu: { shares: 1024, quota: 50000, period: 100000, burst: 10000, realtimeRuntime: 950000, realtimePeriod: 1000000, idle: 1, cpus: '0-3,7', mems: '0' } })).toEqual([
      ['cpuset', 'cpuset.cpus', '0-3,7', `${R}/cpu/cpus`],
      ['cpuset', 'cpuset.mems', '0', `${R}/cpu/mems`],
      ['cpu', 'cpu.shares', '1024', `${R}/cpu/shares`],
      ['cpu', 'cpu.cfs_period_us', '100000', `${R}/cpu/period`],
      ['cpu', 'cpu.cfs_burst_us', '10000', `${R}/cpu/burst`],
      ['cpu', 'cpu.cfs_quota_us', '50000', `${R}/cpu/quota`],
      ['cpu', 'cpu.idle', '1', `${R}/cpu/idle`],
      ['cpu', 'cpu.rt_period_us', '1000000', `${R}/cpu/realtimePeriod`],
      ['cpu', 'cpu.rt_runtime_us', '950000', `${R}/cpu/realtimeRuntime`],
    ]);
  });

  it('writes quota -1 as is, skips zeros and empty lists, and writes burst 0 and idle 0', () => {
    expect(plan({ cpu: { shares: 0, quota: -1, period: 0, burst: 0, idle: 0, cpus: '', mems: '' } })).toEqual([
      ['cpu', 'cpu.cfs_burst_us', '0', `${R}/cpu/burst`],
      ['cpu', 'cpu.cfs_quota_us', '-1', `${R}/cpu/quota`],
      ['cpu', 'cpu.idle', '0', `${R}/cpu/idle`],
    ]);
  });

  it('refuses shares outside the kernel range 2…262144 (the kernel would clamp them)', () => {
    expect(plan({ cpu: { shares: 2 } })).toEqual([['cpu', 'cpu.shares', '2', `${R}/cpu/shares`]]);
    expect(plan({ cpu: { shares: 262144 } })).toEqual([['cpu', 'cpu.shares', '262144', `${R}/cpu/shares`]]);
    configError(() => plan({ cpu: { shares: 1 } }), `${R}/cpu/shares`, 'must be between 2 and 262144, got 1');
    configError(() => plan({ cpu: { shares: 262145 } }), `${R}/cpu/shares`, 'must be between 2 and 262144, got 262145');
  });

  it('refuses a burst above the quota and an idle other than 0 or 1', () => {
    configError(() => plan({ cpu: { quota: 50000, burst: 60000 } }), `${R}/cpu/burst`, 'must be no larger than the quota (50000), got 60000');
    configError(() => plan({ cpu: { idle: 2 } }), `${R}/cpu/idle`, 'must be 0 or 1 (SCHED_IDLE), got 2');
    configError(() => plan({ cpu: { realtimeRuntime: 2000, realtimePeriod: 1000 } }), `${R}/cpu/realtimeRuntime`, 'must be no larger than the realtime period (1000), got 2000');
  });

  it('ignores burst with a warning where the kernel has no cpu.cfs_burst_us', () => {
    const result = planV1({ cpu: { quota: 50000, burst: 10000 } }, everything, { hasFile: files() });
    expect(rows(result.writes)).toEqual([['cpu', 'cpu.cfs_quota_us', '50000', `${R}/cpu/quota`]]);
    expect(result.warnings).toEqual(['config.json: /linux/resources/cpu/burst is ignored: the host kernel has no cpu.cfs_burst_us (CFS burst needs Linux 5.14)']);
  });

  it('orders quota and burst against the current values (the kernel refuses burst > quota)', () => {
    // Raising both: quota first.
    expect(plan({ cpu: { quota: 200000, burst: 150000 } }, { current: { cpuQuota: 50000n, cpuBurst: 50000n } }).map((r) => r[1])).toEqual(['cpu.cfs_quota_us', 'cpu.cfs_burst_us']);
    // Lowering both: burst first.
    expect(plan({ cpu: { quota: 40000, burst: 20000 } }, { current: { cpuQuota: 100000n, cpuBurst: 50000n } }).map((r) => r[1])).toEqual(['cpu.cfs_burst_us', 'cpu.cfs_quota_us']);
    // Period stays first (runc's order) when nothing forbids it.
    expect(plan({ cpu: { period: 50000, quota: 25000, burst: 0 } }, { current: { cpuQuota: 100000n, cpuPeriod: 100000n, cpuBurst: 0n } }).map((r) => r[1])).toEqual([
      'cpu.cfs_period_us',
      'cpu.cfs_burst_us',
      'cpu.cfs_quota_us',
    ]);
  });

  it('orders realtime runtime and period against the current values', () => {
    expect(plan({ cpu: { realtimeRuntime: 300000, realtimePeriod: 400000 } }, { current: { rtRuntime: 500000n, rtPeriod: 1000000n } }).map((r) => r[1])).toEqual([
      'cpu.rt_runtime_us',
      'cpu.rt_period_us',
    ]);
    expect(plan({ cpu: { realtimeRuntime: -1 } })).toEqual([['cpu', 'cpu.rt_runtime_us', '-1', `${R}/cpu/realtimeRuntime`]]);
  });

  it('names the field when the host has no cpu or cpuset controller', () => {
    configError(() => plan({ cpu: { cpus: '0-1' } }, {}, (c) => c !== 'cpuset'), `${R}/cpu/cpus`, 'cannot be applied: the host has no cpuset cgroup controller, got "0-1"');
    configError(() => plan({ cpu: { shares: 512 } }, {}, (c) => c !== 'cpu'), `${R}/cpu/shares`, 'cannot be applied: the host has no cpu cgroup controller, got 512');
    configError(() => plan({ cpu: { burst: 0 } }, {}, (c) => c !== 'cpu'), `${R}/cpu/burst`, 'cannot be applied: the host has no cpu cgroup controller, got 0');
    expect(plan({ cpu: { cpus: '0' } }, {}, (c) => c !== 'cpu')).toEqual([['cpuset', 'cpuset.cpus', '0', `${R}/cpu/cpus`]]);
  });

  it('refuses a cpu list with a line break', () => {
    configError(() => plan({ cpu: { cpus: '0\n1' } }), `${R}/cpu/cpus`, 'must be a list such as "0-3,7" on one line, got "0\\n1"');
  });
});

describe('planV1: pids', () => {
  it('writes a positive limit, and max for 0 or below', () => {
    expect(plan({ pids: { limit: 100 } })).toEqual([['pids', 'pids.max', '100', `${R}/pids/limit`]]);
    expect(plan({ pids: { limit: 0 } })).toEqual([['pids', 'pids.max', 'max', `${R}/pids/limit`]]);
    expect(plan({ pids: { limit: -1 } })).toEqual([['pids', 'pids.max', 'max', `${R}/pids/limit`]]);
    expect(plan({ pids: { limit: 9223372036854775807n } })).toEqual([['pids', 'pids.max', '9223372036854775807', `${R}/pids/limit`]]);
    expect(plan({ pids: {} })).toEqual([]);
  });

  it('names the field when the host has no pids controller', () => {
    configError(() => plan({ pids: { limit: 10 } }, {}, () => false), `${R}/pids/limit`, 'cannot be applied: the host has no pids cgroup controller, got 10');
  });
});

describe('planV1: blkio', () => {
  const blockIO = {
    weight: 500,
    leafWeight: 300,
    weightDevice: [
      { major: 8, minor: 0, weight: 600, leafWeight: 200 },
      { major: 8, minor: 16, weight: 700 },
    ],
    throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
    throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 2097152 }],
    throttleReadIOPSDevice: [{ major: 8, minor: 16, rate: 300 }],
    throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 18446744073709551615n }],
  };

  it('writes weights and throttles as "major:minor value" lines (CFQ files)', () => {
    expect(plan({ blockIO })).toEqual([
      ['blkio', 'blkio.weight', '500', `${R}/blockIO/weight`],
      ['blkio', 'blkio.leaf_weight', '300', `${R}/blockIO/leafWeight`],
      ['blkio', 'blkio.weight_device', '8:0 600', `${R}/blockIO/weightDevice/0/weight`],
      ['blkio', 'blkio.leaf_weight_device', '8:0 200', `${R}/blockIO/weightDevice/0/leafWeight`],
      ['blkio', 'blkio.weight_device', '8:16 700', `${R}/blockIO/weightDevice/1/weight`],
      ['blkio', 'blkio.throttle.read_bps_device', '8:0 1048576', `${R}/blockIO/throttleReadBpsDevice/0/rate`],
      ['blkio', 'blkio.throttle.write_bps_device', '8:0 2097152', `${R}/blockIO/throttleWriteBpsDevice/0/rate`],
      ['blkio', 'blkio.throttle.read_iops_device', '8:16 300', `${R}/blockIO/throttleReadIOPSDevice/0/rate`],
      ['blkio', 'blkio.throttle.write_iops_device', '8:16 18446744073709551615', `${R}/blockIO/throttleWriteIOPSDevice/0/rate`],
    ]);
  });

  it('uses the BFQ weight files where blkio.weight is missing, and refuses leaf weights there', () => {
    const bfq = files('blkio/blkio.bfq.weight', 'blkio/blkio.bfq.weight_device');
    expect(plan({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 600 }] } }, { hasFile: bfq })).toEqual([
      ['blkio', 'blkio.bfq.weight', '500', `${R}/blockIO/weight`],
      ['blkio', 'blkio.bfq.weight_device', '8:0 600', `${R}/blockIO/weightDevice/0/weight`],
    ]);
    configError(() => plan({ blockIO: { leafWeight: 300 } }, { hasFile: bfq }), `${R}/blockIO/leafWeight`, 'cannot be applied: the host has no blkio.leaf_weight (leaf weights need the CFQ I/O scheduler), got 300');
  });

  it('refuses weights where neither CFQ nor BFQ is in use (throttles still work)', () => {
    configError(
      () => plan({ blockIO: { weight: 500 } }, { hasFile: files() }),
      `${R}/blockIO/weight`,
      'cannot be applied: the host has no blkio.weight or blkio.bfq.weight (no CFQ or BFQ I/O scheduler), got 500',
    );
    expect(plan({ blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1 }] } }, { hasFile: files() })).toHaveLength(1);
  });

  it('checks device entries', () => {
    configError(() => plan({ blockIO: { weightDevice: [{ major: 8, minor: 0 }] } }), `${R}/blockIO/weightDevice/0`, 'must have weight, leafWeight or both, got {"major":8,"minor":0}');
    configError(() => plan({ blockIO: { weightDevice: [{ major: -8, minor: 0, weight: 10 }] } }), `${R}/blockIO/weightDevice/0/major`, 'must be a device number (0 or more), got -8');
    configError(() => plan({ blockIO: { throttleReadBpsDevice: [{ minor: 0, rate: 1 }] } }), `${R}/blockIO/throttleReadBpsDevice/0/major`, 'must be a device number (0 or more), got undefined');
    configError(() => plan({ blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0 }] } }), `${R}/blockIO/throttleReadBpsDevice/0/rate`, 'must be set, got undefined');
    configError(() => plan({ blockIO: { throttleReadBpsDevice: {} } }), `${R}/blockIO/throttleReadBpsDevice`, 'must be an array, got {}');
    configError(() => plan({ blockIO: { weight: 70000 } }), `${R}/blockIO/weight`, 'must be an integer between 0 and 65535 (uint16), got 70000');
  });

  it('skips zero weights and names the field when the host has no blkio controller', () => {
    expect(plan({ blockIO: { weight: 0, leafWeight: 0, weightDevice: [{ major: 8, minor: 0, weight: 0 }] } }, {}, () => false)).toEqual([]);
    configError(() => plan({ blockIO: { weight: 10 } }, {}, () => false), `${R}/blockIO/weight`, 'cannot be applied: the host has no blkio cgroup controller, got 10');
    configError(
      () => plan({ blockIO: { throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 5 }] } }, {}, () => false),
      `${R}/blockIO/throttleWriteIOPSDevice/0/rate`,
      'cannot be applied: the host has no blkio cgroup controller, got 5',
    );
  });
});

describe('planV1: hugetlb', () => {
  it('writes hugetlb.<size>.limit_in_bytes, and the reservation limit where the kernel has it', () => {
    const limits = { hugepageLimits: [{ pageSize: '2MB', limit: 209715200 }, { pageSize: '1GB', limit: 18446744073709551615n }] };
    expect(plan(limits)).toEqual([
      ['hugetlb', 'hugetlb.2MB.limit_in_bytes', '209715200', `${R}/hugepageLimits/0/limit`],
      ['hugetlb', 'hugetlb.1GB.limit_in_bytes', '18446744073709551615', `${R}/hugepageLimits/1/limit`],
    ]);
    expect(plan({ hugepageLimits: [limits.hugepageLimits[0]] }, { hasFile: files('hugetlb/hugetlb.2MB.limit_in_bytes', 'hugetlb/hugetlb.2MB.rsvd.limit_in_bytes') })).toEqual([
      ['hugetlb', 'hugetlb.2MB.limit_in_bytes', '209715200', `${R}/hugepageLimits/0/limit`],
      ['hugetlb', 'hugetlb.2MB.rsvd.limit_in_bytes', '209715200', `${R}/hugepageLimits/0/limit`],
    ]);
  });

  it('refuses page sizes that are malformed or that the host does not have', () => {
    configError(() => plan({ hugepageLimits: [{ pageSize: '2MB/../x', limit: 1 }] }), `${R}/hugepageLimits/0/pageSize`, 'must be a page size such as "2MB" (digits, then KB, MB or GB), got "2MB/../x"');
    configError(() => plan({ hugepageLimits: [{ pageSize: '2mb', limit: 1 }] }), `${R}/hugepageLimits/0/pageSize`, 'must be a page size such as "2MB" (digits, then KB, MB or GB), got "2mb"');
    configError(() => plan({ hugepageLimits: [{ pageSize: '2MB' }] }), `${R}/hugepageLimits/0/limit`, 'must be set, got undefined');
    configError(
      () => plan({ hugepageLimits: [{ pageSize: '16GB', limit: 1 }] }, { hasFile: files() }),
      `${R}/hugepageLimits/0/pageSize`,
      'cannot be applied: the host has no 16GB huge pages (no hugetlb.16GB.limit_in_bytes), got "16GB"',
    );
    configError(() => plan({ hugepageLimits: [{ pageSize: '2MB', limit: 1 }] }, {}, () => false), `${R}/hugepageLimits/0/pageSize`, 'cannot be applied: the host has no hugetlb cgroup controller, got "2MB"');
  });
});

describe('planV1: network and rdma', () => {
  it('writes net_cls.classid and one net_prio.ifpriomap line per interface', () => {
    expect(plan({ network: { classID: 1048577, priorities: [{ name: 'eth0', priority: 500 }, { name: 'eth1', priority: 1000 }] } })).toEqual([
      ['net_cls', 'net_cls.classid', '1048577', `${R}/network/classID`],
      ['net_prio', 'net_prio.ifpriomap', 'eth0 500', `${R}/network/priorities/0`],
      ['net_prio', 'net_prio.ifpriomap', 'eth1 1000', `${R}/network/priorities/1`],
    ]);
    expect(plan({ network: { classID: 0 } })).toEqual([]);
  });

  it('checks interface names and the controllers', () => {
    configError(() => plan({ network: { priorities: [{ name: 'eth0 7\nlo', priority: 1 }] } }), `${R}/network/priorities/0/name`, 'must be an interface name without spaces or line breaks, got "eth0 7\\nlo"');
    configError(() => plan({ network: { priorities: [{ name: 'eth0' }] } }), `${R}/network/priorities/0/priority`, 'must be set, got undefined');
    configError(() => plan({ network: { classID: 1 } }, {}, (c) => c !== 'net_cls'), `${R}/network/classID`, 'cannot be applied: the host has no net_cls cgroup controller, got 1');
    configError(
      () => plan({ network: { priorities: [{ name: 'eth0', priority: 1 }] } }, {}, (c) => c !== 'net_prio'),
      `${R}/network/priorities/0`,
      'cannot be applied: the host has no net_prio cgroup controller, got {"name":"eth0","priority":1}',
    );
  });

  it('writes one rdma.max line per device', () => {
    expect(plan({ rdma: { mlx5_0: { hcaHandles: 2, hcaObjects: 2000 }, 'mlx4/0': { hcaObjects: 1000 } } })).toEqual([
      ['rdma', 'rdma.max', 'mlx5_0 hca_handle=2 hca_object=2000', `${R}/rdma/mlx5_0`],
      ['rdma', 'rdma.max', 'mlx4/0 hca_object=1000', `${R}/rdma/mlx4~10`],
    ]);
  });

  it('checks rdma entries', () => {
    configError(() => plan({ rdma: { mlx5_0: {} } }), `${R}/rdma/mlx5_0`, 'must have hcaHandles, hcaObjects or both, got {}');
    configError(() => plan({ rdma: { 'mlx5 0': { hcaHandles: 1 } } }), `${R}/rdma/mlx5 0`, 'must be an RDMA device name without spaces or line breaks, got "mlx5 0"');
    configError(() => plan({ rdma: { mlx5_0: { hcaHandles: 1 } } }, {}, () => false), `${R}/rdma/mlx5_0`, 'cannot be applied: the host has no rdma cgroup controller, got {"hcaHandles":1}');
  });
});
