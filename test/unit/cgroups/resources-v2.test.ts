import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';
import type { CgroupWrite } from '../../../src/cgroups/types';
import {
  blkioWeightToIoWeight,
  cpuSharesToWeight,
  cpuSharesToWeightLinear,
  memorySwapToV2,
  v2Limit,
} from '../../../src/cgroups/docker-units';
import { planUnifiedWrites, planV2, planV2Writes, type V2PlanOptions } from '../../../src/cgroups/resources-v2';
import { parseJsonLossless } from '../../../src/spec/json';
import { errorOf } from '../../helpers/errors';

const R = '/linux/resources';
const everything = (): boolean => true;

function configError(fn: () => unknown, pointer: string, message: string): void {
  const error = errorOf(fn);
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).pointer).toBe(pointer);
  expect(error.message).toBe(`config.json: ${pointer} ${message}`);
}

/** Writes as `[file, value, pointer]` rows (every v2 write goes to the `unified` controller). */
function rows(writes: CgroupWrite[]): string[][] {
  for (const write of writes) expect(write.controller).toBe('unified');
  return writes.map((w) => [w.file, w.value, w.pointer]);
}

function plan(resources: unknown, options: V2PlanOptions = {}, available: (c: string) => boolean = everything): string[][] {
  return rows(planV2Writes(resources, available, options));
}

function files(...present: string[]): (controller: string, file: string) => boolean {
  return (controller, file) => controller === 'unified' && present.includes(file);
}

describe('conversions', () => {
  it('maps cpu shares to cpu.weight with runc’s current formula (opencontainers/cgroups v0.0.5 test table)', () => {
    const cases: Array<[bigint, bigint]> = [
      [0n, 0n], // unset
      [1n, 1n], // below the minimum
      [2n, 1n],
      [3n, 2n],
      [512n, 59n],
      [1024n, 100n], // the v1 default lands on the v2 default
      [2048n, 174n],
      [262143n, 10000n],
      [262144n, 10000n],
      [262145n, 10000n], // above the maximum
      [18446744073709551615n, 10000n],
    ];
    for (const [shares, weight] of cases) expect([shares, cpuSharesToWeight(shares)]).toEqual([shares, weight]);
  });

  it('keeps the linear formula runc used before 1.3.2', () => {
    expect(cpuSharesToWeightLinear(0n)).toBe(0n);
    expect(cpuSharesToWeightLinear(2n)).toBe(1n);
    expect(cpuSharesToWeightLinear(1024n)).toBe(39n);
    expect(cpuSharesToWeightLinear(262144n)).toBe(10000n);
  });

  it('maps blkio weight to io.weight: 1 + (w − 10) × 9999 / 990', () => {
    expect(blkioWeightToIoWeight(0n)).toBe(0n);
    expect(blkioWeightToIoWeight(10n)).toBe(1n);
    expect(blkioWeightToIoWeight(100n)).toBe(910n);
    expect(blkioWeightToIoWeight(500n)).toBe(4950n);
    expect(blkioWeightToIoWeight(1000n)).toBe(10000n);
  });

  it('converts memory+swap to memory.swap.max as runc does', () => {
    const cases: Array<[bigint, bigint, bigint | string]> = [
      // [swap, memory, result]
      [0n, 0n, 0n],
      [-1n, 0n, -1n],
      [-1n, -1n, -1n],
      [0n, -1n, -1n],
      [-1n, 1000n, -1n],
      [1000n, 1000n, 0n],
      [500n, 200n, 300n],
      [500n, -1n, 500n],
      [300n, 0n, 'needs linux.resources.memory.limit as well: swap is the memory+swap total'],
      [300n, 400n, 'must be at least the memory limit (400): swap is the memory+swap total'],
    ];
    for (const [swap, memory, result] of cases) {
      const converted = memorySwapToV2(swap, memory);
      expect(typeof converted === 'bigint' ? converted : converted.error).toEqual(result);
    }
  });

  it('spells v1-style limits the v2 way', () => {
    expect(v2Limit(0n)).toBeUndefined();
    expect(v2Limit(-1n)).toBe('max');
    expect(v2Limit(9223372036854775807n)).toBe('9223372036854775807');
  });
});

describe('planV2: the resources object', () => {
  it('plans nothing for absent or empty resources', () => {
    expect(planV2(undefined, everything)).toEqual({ writes: [], warnings: [] });
    expect(planV2({}, everything)).toEqual({ writes: [], warnings: [] });
    configError(() => planV2('x', everything), R, 'must be an object, got "x"');
  });

  it('visits files in runc order: pids, memory, io, cpu, cpuset, hugetlb, rdma, then unified', () => {
    const writes = plan({
      unified: { 'memory.high': '1G' },
      rdma: { mlx5_0: { hcaHandles: 1 } },
      hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
      cpu: { shares: 1024, cpus: '0' },
      blockIO: { weight: 500 },
      memory: { limit: 1048576 },
      pids: { limit: 10 },
      devices: [{ allow: false, access: 'rwm' }],
    });
    expect(writes.map((w) => w[0])).toEqual(['pids.max', 'memory.max', 'io.weight', 'cpu.weight', 'cpuset.cpus', 'hugetlb.2MB.max', 'rdma.max', 'memory.high']);
  });
});

describe('planV2: memory', () => {
  it('writes swap (minus memory), memory.max and memory.low in runc order', () => {
    expect(plan({ memory: { limit: 536870912, swap: 1073741824, reservation: 268435456 } })).toEqual([
      ['memory.swap.max', '536870912', `${R}/memory/swap`],
      ['memory.max', '536870912', `${R}/memory/limit`],
      ['memory.low', '268435456', `${R}/memory/reservation`],
    ]);
  });

  it('writes 64-bit limits exactly as parsed (bigint)', () => {
    const resources = parseJsonLossless('{"memory":{"limit":9223372036854775807}}');
    expect(plan(resources)).toEqual([['memory.max', '9223372036854775807', `${R}/memory/limit`]]);
  });

  it('handles -1 and equal totals the docker way', () => {
    // Unlimited memory without a swap setting: both unlimited.
    expect(plan({ memory: { limit: -1 } })).toEqual([
      ['memory.swap.max', 'max', `${R}/memory/limit`],
      ['memory.max', 'max', `${R}/memory/limit`],
    ]);
    // Unlimited swap.
    expect(plan({ memory: { limit: 104857600, swap: -1 } })).toEqual([
      ['memory.swap.max', 'max', `${R}/memory/swap`],
      ['memory.max', '104857600', `${R}/memory/limit`],
    ]);
    // memory == memory+swap: no swap at all.
    expect(plan({ memory: { limit: 104857600, swap: 104857600 } })).toEqual([
      ['memory.swap.max', '0', `${R}/memory/swap`],
      ['memory.max', '104857600', `${R}/memory/limit`],
    ]);
    // A limit alone leaves swap alone; a reservation of -1 is "max".
    expect(plan({ memory: { limit: 104857600, reservation: -1 } })).toEqual([
      ['memory.max', '104857600', `${R}/memory/limit`],
      ['memory.low', 'max', `${R}/memory/reservation`],
    ]);
  });

  it('refuses swap it cannot convert', () => {
    configError(() => plan({ memory: { swap: 1073741824 } }), `${R}/memory/swap`, 'needs linux.resources.memory.limit as well: swap is the memory+swap total, got 1073741824');
    configError(() => plan({ memory: { limit: 209715200, swap: 104857600 } }), `${R}/memory/swap`, 'must be at least the memory limit (209715200): swap is the memory+swap total, got 104857600');
    configError(() => plan({ memory: { limit: -3 } }), `${R}/memory/limit`, 'must be a number of bytes, or -1 for unlimited, got -3');
  });

  it('skips "max" and "0" swap where the kernel does not account swap, and refuses a real swap limit there', () => {
    const noSwap = { hasFile: files() };
    expect(plan({ memory: { limit: -1 } }, noSwap)).toEqual([['memory.max', 'max', `${R}/memory/limit`]]);
    expect(plan({ memory: { limit: 100, swap: 100 } }, noSwap)).toEqual([['memory.max', '100', `${R}/memory/limit`]]);
    configError(
      () => plan({ memory: { limit: 100, swap: 200 } }, noSwap),
      `${R}/memory/swap`,
      "cannot be applied: the host's kernel does not account swap (no memory.swap.max), got 200",
    );
  });

  it('asks the manager for the usage check when checkBeforeUpdate is set', () => {
    expect(planV2({ memory: { limit: 104857600, checkBeforeUpdate: true } }, everything).memoryCheck).toEqual({ limit: 104857600n, pointer: `${R}/memory/limit` });
    expect(planV2({ memory: { limit: -1, checkBeforeUpdate: true } }, everything).memoryCheck).toBeUndefined();
    expect(planV2({ memory: { limit: 104857600 } }, everything).memoryCheck).toBeUndefined();
  });

  it('ignores what cgroup v2 has no file for, with a warning each', () => {
    const result = planV2({ memory: { kernel: 1048576, kernelTCP: -1, swappiness: 60, disableOOMKiller: true, useHierarchy: false } }, everything);
    expect(result.writes).toEqual([]);
    expect(result.warnings).toEqual([
      'config.json: /linux/resources/memory/kernel is ignored: cgroup v2 has no kernel memory limit (runc ignores it too)',
      'config.json: /linux/resources/memory/kernelTCP is ignored: cgroup v2 has no kernel TCP memory limit (runc ignores it too)',
      'config.json: /linux/resources/memory/swappiness is ignored: cgroup v2 has no per-cgroup swappiness (runc ignores it too)',
      'config.json: /linux/resources/memory/disableOOMKiller is ignored: cgroup v2 cannot disable the OOM killer (runc ignores it too)',
      'config.json: /linux/resources/memory/useHierarchy is ignored: cgroup v2 always accounts memory hierarchically',
    ]);
    // Values that ask for nothing are quiet.
    expect(planV2({ memory: { swappiness: 18446744073709551615n, disableOOMKiller: false, useHierarchy: true } }, everything)).toEqual({ writes: [], warnings: [] });
  });

  it('names the field when the memory controller is not available', () => {
    configError(() => plan({ memory: { limit: 536870912 } }, {}, (c) => c !== 'memory'), `${R}/memory/limit`, 'cannot be applied: the host has no memory cgroup controller, got 536870912');
    configError(() => plan({ memory: { limit: 100, swap: 200 } }, {}, (c) => c !== 'memory'), `${R}/memory/swap`, 'cannot be applied: the host has no memory cgroup controller, got 200');
  });
});

describe('planV2: cpu and cpuset', () => {
  it('writes idle, weight, burst and cpu.max in runc order for a new cgroup', () => {
    expect(plan({ cpu: { shares: 1024, quota: 50000, period: 100000, burst: 10000, idle: 1, cpus: '0-3', mems: '0' } })).toEqual([
      ['cpu.idle', '1', `${R}/cpu/idle`],
      ['cpu.weight', '100', `${R}/cpu/shares`],
      ['cpu.max.burst', '10000', `${R}/cpu/burst`],
      ['cpu.max', '50000 100000', `${R}/cpu/quota`],
      ['cpuset.cpus', '0-3', `${R}/cpu/cpus`],
      ['cpuset.mems', '0', `${R}/cpu/mems`],
    ]);
  });

  it('converts shares exactly (2 → 1, 262144 → 10000) and skips 0', () => {
    expect(plan({ cpu: { shares: 2 } })).toEqual([['cpu.weight', '1', `${R}/cpu/shares`]]);
    expect(plan({ cpu: { shares: 262144 } })).toEqual([['cpu.weight', '10000', `${R}/cpu/shares`]]);
    expect(plan({ cpu: { shares: 0 } })).toEqual([]);
  });

  it('spells cpu.max "quota period", with max for -1 and the default or current period', () => {
    expect(plan({ cpu: { quota: -1 } })).toEqual([['cpu.max', 'max 100000', `${R}/cpu/quota`]]);
    expect(plan({ cpu: { period: 250000 } })).toEqual([['cpu.max', 'max 250000', `${R}/cpu/period`]]);
    expect(plan({ cpu: { quota: 20000 } })).toEqual([['cpu.max', '20000 100000', `${R}/cpu/quota`]]);
    expect(plan({ cpu: { quota: 20000 } }, { current: { cpuPeriod: 50000n } })).toEqual([['cpu.max', '20000 50000', `${R}/cpu/quota`]]);
    expect(plan({ cpu: { quota: 0, period: 0 } })).toEqual([]);
  });

  it('orders cpu.max and cpu.max.burst against the current values (the kernel refuses burst > quota)', () => {
    expect(plan({ cpu: { quota: 200000, burst: 150000 } }, { current: { cpuQuota: 50000n, cpuBurst: 50000n } }).map((r) => r[0])).toEqual(['cpu.max', 'cpu.max.burst']);
    expect(plan({ cpu: { quota: 40000, burst: 20000 } }, { current: { cpuQuota: 100000n, cpuBurst: 50000n } }).map((r) => r[0])).toEqual(['cpu.max.burst', 'cpu.max']);
    configError(() => plan({ cpu: { quota: 50000, burst: 60000 } }), `${R}/cpu/burst`, 'must be no larger than the quota (50000), got 60000');
  });

  it('warns that realtime settings have no v2 file', () => {
    const result = planV2({ cpu: { realtimeRuntime: 950000, realtimePeriod: 1000000 } }, everything);
    expect(result.writes).toEqual([]);
    expect(result.warnings).toEqual([
      'config.json: /linux/resources/cpu/realtimeRuntime is ignored: cgroup v2 has no realtime CPU bandwidth (runc ignores it too)',
      'config.json: /linux/resources/cpu/realtimePeriod is ignored: cgroup v2 has no realtime CPU bandwidth (runc ignores it too)',
    ]);
  });

  it('names the field when cpu or cpuset is not available', () => {
    configError(() => plan({ cpu: { shares: 1024 } }, {}, (c) => c !== 'cpu'), `${R}/cpu/shares`, 'cannot be applied: the host has no cpu cgroup controller, got 1024');
    configError(() => plan({ cpu: { mems: '0' } }, {}, (c) => c !== 'cpuset'), `${R}/cpu/mems`, 'cannot be applied: the host has no cpuset cgroup controller, got "0"');
    configError(() => plan({ cpu: { idle: 3 } }), `${R}/cpu/idle`, 'must be 0 or 1 (SCHED_IDLE), got 3');
  });
});

describe('planV2: pids, io, hugetlb, rdma, network', () => {
  it('writes pids.max like v1', () => {
    expect(plan({ pids: { limit: 32771 } })).toEqual([['pids.max', '32771', `${R}/pids/limit`]]);
    expect(plan({ pids: { limit: 0 } })).toEqual([['pids.max', 'max', `${R}/pids/limit`]]);
    expect(plan({ pids: { limit: -1 } })).toEqual([['pids.max', 'max', `${R}/pids/limit`]]);
    configError(() => plan({ pids: { limit: 1 } }, {}, () => false), `${R}/pids/limit`, 'cannot be applied: the host has no pids cgroup controller, got 1');
  });

  it('converts the blkio weight to io.weight without BFQ, and writes it as is to io.bfq.weight with BFQ', () => {
    expect(plan({ blockIO: { weight: 500 } })).toEqual([['io.weight', '4950', `${R}/blockIO/weight`]]);
    expect(plan({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 300 }] } }, { hasFile: files('io.bfq.weight') })).toEqual([
      ['io.bfq.weight', '500', `${R}/blockIO/weight`],
      ['io.bfq.weight', '8:0 300', `${R}/blockIO/weightDevice/0/weight`],
    ]);
    configError(() => plan({ blockIO: { weight: 5 } }), `${R}/blockIO/weight`, 'must be between 10 and 1000 to be converted to io.weight, got 5');
  });

  it('warns about what io cannot take: leaf weights, per-device weights without BFQ', () => {
    const result = planV2({ blockIO: { leafWeight: 300, weightDevice: [{ major: 8, minor: 0, weight: 300, leafWeight: 100 }] } }, everything);
    expect(result.writes).toEqual([]);
    expect(result.warnings).toEqual([
      'config.json: /linux/resources/blockIO/leafWeight is ignored: cgroup v2 has no leaf weights (runc ignores it too)',
      'config.json: /linux/resources/blockIO/weightDevice/0/weight is ignored: per-device weights need the BFQ I/O scheduler (io.bfq.weight)',
      'config.json: /linux/resources/blockIO/weightDevice/0/leafWeight is ignored: cgroup v2 has no leaf weights (runc ignores it too)',
    ]);
  });

  it('writes one io.max line per throttle', () => {
    expect(
      plan({
        blockIO: {
          throttleReadBpsDevice: [{ major: 259, minor: 0, rate: 2097152 }],
          throttleWriteBpsDevice: [{ major: 259, minor: 0, rate: 1048576 }],
          throttleReadIOPSDevice: [{ major: 253, minor: 0, rate: 120 }],
          throttleWriteIOPSDevice: [{ major: 253, minor: 0, rate: 18446744073709551615n }],
        },
      }),
    ).toEqual([
      ['io.max', '259:0 rbps=2097152', `${R}/blockIO/throttleReadBpsDevice/0/rate`],
      ['io.max', '259:0 wbps=1048576', `${R}/blockIO/throttleWriteBpsDevice/0/rate`],
      ['io.max', '253:0 riops=120', `${R}/blockIO/throttleReadIOPSDevice/0/rate`],
      ['io.max', '253:0 wiops=18446744073709551615', `${R}/blockIO/throttleWriteIOPSDevice/0/rate`],
    ]);
    configError(
      () => plan({ blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1 }] } }, {}, (c) => c !== 'io'),
      `${R}/blockIO/throttleReadBpsDevice/0/rate`,
      'cannot be applied: the host has no io cgroup controller, got 1',
    );
  });

  it('writes hugetlb.<size>.max, and .rsvd.max where the kernel has it', () => {
    expect(plan({ hugepageLimits: [{ pageSize: '1GB', limit: 1073741824 }] })).toEqual([['hugetlb.1GB.max', '1073741824', `${R}/hugepageLimits/0/limit`]]);
    expect(plan({ hugepageLimits: [{ pageSize: '2MB', limit: 209715200 }] }, { hasFile: files('hugetlb.2MB.max', 'hugetlb.2MB.rsvd.max') })).toEqual([
      ['hugetlb.2MB.max', '209715200', `${R}/hugepageLimits/0/limit`],
      ['hugetlb.2MB.rsvd.max', '209715200', `${R}/hugepageLimits/0/limit`],
    ]);
    configError(() => plan({ hugepageLimits: [{ pageSize: '64KB', limit: 1 }] }, { hasFile: files() }), `${R}/hugepageLimits/0/pageSize`, 'cannot be applied: the host has no 64KB huge pages (no hugetlb.64KB.max), got "64KB"');
    configError(() => plan({ hugepageLimits: [{ pageSize: '../2MB', limit: 1 }] }), `${R}/hugepageLimits/0/pageSize`, 'must be a page size such as "2MB" (digits, then KB, MB or GB), got "../2MB"');
  });

  it('writes rdma.max lines like v1', () => {
    expect(plan({ rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 }, rxe3: { hcaObjects: 10000 } } })).toEqual([
      ['rdma.max', 'mlx5_1 hca_handle=3 hca_object=10000', `${R}/rdma/mlx5_1`],
      ['rdma.max', 'rxe3 hca_object=10000', `${R}/rdma/rxe3`],
    ]);
  });

  it('warns that net_cls and net_prio do not exist on v2', () => {
    const result = planV2({ network: { classID: 1048577, priorities: [{ name: 'eth0', priority: 500 }] } }, everything);
    expect(result.writes).toEqual([]);
    expect(result.warnings).toEqual([
      'config.json: /linux/resources/network/classID is ignored: cgroup v2 has no net_cls controller (runc ignores it too)',
      'config.json: /linux/resources/network/priorities is ignored: cgroup v2 has no net_prio controller (runc ignores it too)',
    ]);
  });
});

describe('planV2: unified', () => {
  it('writes keys verbatim, after the converted files', () => {
    expect(plan({ pids: { limit: 5 }, unified: { 'io.max': '259:0 rbps=2097152 wiops=120\n253:0 rbps=2097152 wiops=120', 'hugetlb.1GB.max': '1073741824' } })).toEqual([
      ['pids.max', '5', `${R}/pids/limit`],
      ['io.max', '259:0 rbps=2097152 wiops=120\n253:0 rbps=2097152 wiops=120', `${R}/unified/io.max`],
      ['hugetlb.1GB.max', '1073741824', `${R}/unified/hugetlb.1GB.max`],
    ]);
  });

  it('wins over a converted value for the same file, but adds to line-per-device files', () => {
    expect(plan({ memory: { limit: 104857600, reservation: 1048576 }, unified: { 'memory.max': '1073741824' } })).toEqual([
      ['memory.low', '1048576', `${R}/memory/reservation`],
      ['memory.max', '1073741824', `${R}/unified/memory.max`],
    ]);
    expect(plan({ blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1 }] }, unified: { 'io.max': '8:16 wbps=2' } })).toEqual([
      ['io.max', '8:0 rbps=1', `${R}/blockIO/throttleReadBpsDevice/0/rate`],
      ['io.max', '8:16 wbps=2', `${R}/unified/io.max`],
    ]);
  });

  it('refuses keys that are not a file of an available controller', () => {
    configError(() => plan({ unified: { '../memory.max': '1' } }), `${R}/unified/..~1memory.max`, 'must be the name of a file in the cgroup directory (no "/" or ".."), got "../memory.max"');
    configError(() => plan({ unified: { 'memory/max': '1' } }), `${R}/unified/memory~1max`, 'must be the name of a file in the cgroup directory (no "/" or ".."), got "memory/max"');
    configError(() => plan({ unified: { '..': '1' } }), `${R}/unified/..`, 'must be the name of a file in the cgroup directory (no "/" or ".."), got ".."');
    configError(() => plan({ unified: { memory: '1' } }), `${R}/unified/memory`, 'must be a file name of the form CONTROLLER.PARAMETER, e.g. "memory.high", got "memory"');
    configError(() => plan({ unified: { '.max': '1' } }), `${R}/unified/.max`, 'must be a file name of the form CONTROLLER.PARAMETER, e.g. "memory.high", got ".max"');
    configError(() => plan({ unified: { 'memory.high': 5 } }), `${R}/unified/memory.high`, 'must be a string (written to the file as is), got 5');
    configError(() => plan({ unified: { 'misc.max': 'res_a 1' } }, {}, (c) => c !== 'misc'), `${R}/unified/misc.max`, 'cannot be applied: the host has no misc cgroup controller, got "res_a 1"');
  });

  it('allows cgroup.* core files without any controller', () => {
    expect(plan({ unified: { 'cgroup.max.descendants': '10' } }, {}, () => false)).toEqual([['cgroup.max.descendants', '10', `${R}/unified/cgroup.max.descendants`]]);
  });

  it('plans the unified map alone for hybrid hosts', () => {
    expect(rows(planUnifiedWrites({ 'memory.high': '1G' }, everything))).toEqual([['memory.high', '1G', `${R}/unified/memory.high`]]);
    expect(planUnifiedWrites(undefined, everything)).toEqual([]);
    configError(() => planUnifiedWrites({ 'hugetlb.2MB.max': '0' }, (c) => c !== 'hugetlb'), `${R}/unified/hugetlb.2MB.max`, 'cannot be applied: the host has no hugetlb cgroup controller, got "0"');
  });
});
