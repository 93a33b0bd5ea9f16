import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';
import { parseJsonLossless } from '../../../src/spec/json';
import {
  IOPRIO_CLASSES,
  MAX_CPU,
  PERSONALITY_DOMAINS,
  SCHED_FLAGS,
  SCHED_POLICIES,
  parseCpuList,
  planCpuAffinity,
  planIoPriority,
  planPersonality,
  planScheduler,
} from '../../../src/spec/process-settings';
import { errorOf } from '../../helpers/errors';

/** The ConfigError `fn` throws, checked for its pointer and its whole message. */
function configError(fn: () => unknown, pointer: string, message: string): void {
  const error = errorOf(fn);
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).pointer).toBe(pointer);
  expect(error.message).toBe(`config.json: ${pointer} ${message}`);
}

/** A CPU mask from a list of CPU numbers, as 64-bit words. */
function mask(...cpus: number[]): bigint[] {
  const words = new Array<bigint>((Math.max(0, ...cpus) >> 6) + 1).fill(0n);
  for (const cpu of cpus) words[cpu >> 6] = words[cpu >> 6]! | (1n << BigInt(cpu & 63));
  return words;
}

const NOT_OBJECTS: unknown[] = ['x', 7, true, [], ['IOPRIO_CLASS_BE']];

describe('planIoPriority', () => {
  it('plans nothing when ioPriority is absent or null', () => {
    expect(planIoPriority(undefined)).toBeUndefined();
    expect(planIoPriority(null)).toBeUndefined();
  });

  it('has the IOPRIO_CLASS_* numbers of include/uapi/linux/ioprio.h', () => {
    expect(IOPRIO_CLASSES).toEqual({ IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 });
  });

  it.each([
    ['IOPRIO_CLASS_RT', 0, 0x2000],
    ['IOPRIO_CLASS_RT', 7, 0x2007],
    ['IOPRIO_CLASS_BE', 0, 0x4000],
    ['IOPRIO_CLASS_BE', 4, 0x4004],
    ['IOPRIO_CLASS_BE', 6, 0x4006],
    ['IOPRIO_CLASS_IDLE', 0, 0x6000],
    ['IOPRIO_CLASS_IDLE', 7, 0x6007],
  ])('%s priority %i → ioprio 0x%s', (ioClass, priority, ioprio) => {
    expect(planIoPriority({ class: ioClass, priority })).toEqual({ ioprio });
  });

  it.each(NOT_OBJECTS)('refuses a non-object ioPriority %j', (value) => {
    configError(() => planIoPriority(value), '/process/ioPriority', `must be an object, got ${JSON.stringify(value)}`);
  });

  it.each([['IOPRIO_CLASS_NONE'], ['ioprio_class_be'], ['BE'], [''], [2], ['toString'], [null]])('refuses the class %j', (ioClass) => {
    configError(
      () => planIoPriority({ class: ioClass, priority: 0 }),
      '/process/ioPriority/class',
      `must be one of IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, got ${JSON.stringify(ioClass)}`,
    );
  });

  it('refuses a missing class', () => {
    configError(
      () => planIoPriority({ priority: 0 }),
      '/process/ioPriority/class',
      'must be one of IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, got undefined',
    );
  });

  it.each([[-1], [8], [1.5], ['3'], [null], [3n]])('refuses the priority %s', (priority) => {
    const shown = typeof priority === 'bigint' ? priority.toString() : JSON.stringify(priority);
    configError(
      () => planIoPriority({ class: 'IOPRIO_CLASS_BE', priority }),
      '/process/ioPriority/priority',
      `must be an integer from 0 (highest) to 7 (lowest), got ${shown}`,
    );
  });

  it('refuses a missing priority (REQUIRED in the spec)', () => {
    configError(
      () => planIoPriority({ class: 'IOPRIO_CLASS_IDLE' }),
      '/process/ioPriority/priority',
      'must be an integer from 0 (highest) to 7 (lowest), got undefined',
    );
  });
});

const POLICY_LIST = 'SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_ISO, SCHED_IDLE, SCHED_DEADLINE';
const FLAG_LIST = 'SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_RECLAIM, SCHED_FLAG_DL_OVERRUN, SCHED_FLAG_KEEP_POLICY, '
  + 'SCHED_FLAG_KEEP_PARAMS, SCHED_FLAG_UTIL_CLAMP_MIN, SCHED_FLAG_UTIL_CLAMP_MAX';
const ZERO = { flags: 0, nice: 0, priority: 0, runtime: 0n, deadline: 0n, period: 0n };
const DEADLINE = { policy: 'SCHED_DEADLINE', runtime: 10_000_000, deadline: 30_000_000, period: 30_000_000 };

describe('planScheduler: policies and defaults', () => {
  it('plans nothing when scheduler is absent or null', () => {
    expect(planScheduler(undefined)).toBeUndefined();
    expect(planScheduler(null)).toBeUndefined();
  });

  it('has the SCHED_* and SCHED_FLAG_* numbers of include/uapi/linux/sched.h', () => {
    expect(SCHED_POLICIES).toEqual({
      SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2, SCHED_BATCH: 3, SCHED_ISO: 4, SCHED_IDLE: 5, SCHED_DEADLINE: 6,
    });
    expect(SCHED_FLAGS).toEqual({
      SCHED_FLAG_RESET_ON_FORK: 0x01, SCHED_FLAG_RECLAIM: 0x02, SCHED_FLAG_DL_OVERRUN: 0x04, SCHED_FLAG_KEEP_POLICY: 0x08,
      SCHED_FLAG_KEEP_PARAMS: 0x10, SCHED_FLAG_UTIL_CLAMP_MIN: 0x20, SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
    });
  });

  it.each([
    ['SCHED_OTHER', 0], ['SCHED_BATCH', 3], ['SCHED_ISO', 4], ['SCHED_IDLE', 5],
  ])('%s alone → policy %i with every other field 0 (the spec defaults)', (policy, number) => {
    expect(planScheduler({ policy })).toEqual({ ...ZERO, policy: number });
  });

  it.each([['SCHED_FIFO', 1], ['SCHED_RR', 2]])('%s with a priority → policy %i', (policy, number) => {
    expect(planScheduler({ policy, priority: 50 })).toEqual({ ...ZERO, policy: number, priority: 50 });
  });

  it('SCHED_DEADLINE with its three parameters → policy 6, parameters as bigint nanoseconds', () => {
    expect(planScheduler(DEADLINE)).toEqual({ ...ZERO, policy: 6, runtime: 10_000_000n, deadline: 30_000_000n, period: 30_000_000n });
  });

  it('SCHED_BATCH with nice 5 and SCHED_FLAG_RESET_ON_FORK', () => {
    expect(planScheduler({ policy: 'SCHED_BATCH', nice: 5, flags: ['SCHED_FLAG_RESET_ON_FORK'] }))
      .toEqual({ ...ZERO, policy: 3, nice: 5, flags: 1 });
  });

  it('takes null fields as unset', () => {
    expect(planScheduler({ policy: 'SCHED_OTHER', nice: null, priority: null, flags: null, runtime: null, deadline: null, period: null }))
      .toEqual({ ...ZERO, policy: 0 });
  });

  it('accepts explicit zeros for the fields a policy does not use', () => {
    expect(planScheduler({ policy: 'SCHED_OTHER', priority: 0, runtime: 0, deadline: 0n, period: 0 })).toEqual({ ...ZERO, policy: 0 });
  });

  it.each(NOT_OBJECTS)('refuses a non-object scheduler %j', (value) => {
    configError(() => planScheduler(value), '/process/scheduler', `must be an object, got ${JSON.stringify(value)}`);
  });

  it.each([['sched_other'], ['OTHER'], ['SCHED_NORMAL'], ['SCHED_EXT'], [''], [0], ['hasOwnProperty']])('refuses the policy %j', (policy) => {
    configError(() => planScheduler({ policy }), '/process/scheduler/policy', `must be one of ${POLICY_LIST}, got ${JSON.stringify(policy)}`);
  });

  it('refuses a missing policy (REQUIRED)', () => {
    configError(() => planScheduler({ nice: 1 }), '/process/scheduler/policy', `must be one of ${POLICY_LIST}, got undefined`);
  });
});

describe('planScheduler: nice', () => {
  it.each([['SCHED_OTHER', -20], ['SCHED_OTHER', 19], ['SCHED_BATCH', -20], ['SCHED_BATCH', 19], ['SCHED_BATCH', 0]])(
    '%s accepts nice %i',
    (policy, nice) => {
      expect(planScheduler({ policy, nice })?.nice).toBe(nice);
    },
  );

  it.each([['SCHED_OTHER', -21], ['SCHED_OTHER', 20], ['SCHED_BATCH', -21], ['SCHED_BATCH', 100]])(
    '%s refuses nice %i (runc: -20..19 for the policies that use nice)',
    (policy, nice) => {
      configError(() => planScheduler({ policy, nice }), '/process/scheduler/nice', `must be between -20 and 19 for ${policy}, got ${nice}`);
    },
  );

  it.each([['SCHED_IDLE'], ['SCHED_ISO']])('does not range-check nice for %s, which does not use it (as runc)', (policy) => {
    expect(planScheduler({ policy, nice: 40 })?.nice).toBe(40);
  });

  it('does not range-check nice for SCHED_FIFO and SCHED_DEADLINE either', () => {
    expect(planScheduler({ policy: 'SCHED_FIFO', priority: 1, nice: -40 })?.nice).toBe(-40);
    expect(planScheduler({ ...DEADLINE, nice: 20 })?.nice).toBe(20);
  });

  it.each([[1.5], ['5'], [true], [2 ** 31], [-(2 ** 31) - 1], [5n]])('refuses the nice value %s (not an int32)', (nice) => {
    const shown = typeof nice === 'bigint' ? nice.toString() : JSON.stringify(nice);
    configError(() => planScheduler({ policy: 'SCHED_OTHER', nice }), '/process/scheduler/nice', `must be an integer (int32), got ${shown}`);
  });
});

describe('planScheduler: priority', () => {
  it.each([['SCHED_FIFO', 1], ['SCHED_FIFO', 99], ['SCHED_RR', 1], ['SCHED_RR', 99]])('%s accepts priority %i', (policy, priority) => {
    expect(planScheduler({ policy, priority })?.priority).toBe(priority);
  });

  it.each([['SCHED_OTHER'], ['SCHED_BATCH'], ['SCHED_ISO'], ['SCHED_IDLE']])('%s refuses a non-zero priority (runc)', (policy) => {
    configError(
      () => planScheduler({ policy, priority: 10 }),
      '/process/scheduler/priority',
      'must be 0 or unset unless policy is SCHED_FIFO or SCHED_RR, got 10',
    );
  });

  it('SCHED_DEADLINE refuses a non-zero priority (runc)', () => {
    configError(
      () => planScheduler({ ...DEADLINE, priority: -1 }),
      '/process/scheduler/priority',
      'must be 0 or unset unless policy is SCHED_FIFO or SCHED_RR, got -1',
    );
  });

  it.each([['SCHED_FIFO', 0], ['SCHED_FIFO', 100], ['SCHED_RR', -5], ['SCHED_RR', 1000]])(
    '%s refuses priority %i (kernel: real-time priorities are 1..99)',
    (policy, priority) => {
      configError(() => planScheduler({ policy, priority }), '/process/scheduler/priority', `must be between 1 and 99 for ${policy}, got ${priority}`);
    },
  );

  it('SCHED_FIFO refuses an unset priority, which the spec makes 0', () => {
    configError(() => planScheduler({ policy: 'SCHED_FIFO' }), '/process/scheduler/priority', 'must be between 1 and 99 for SCHED_FIFO, got undefined');
  });

  it('SCHED_RR with SCHED_FLAG_KEEP_PARAMS needs no priority: the kernel keeps the current one', () => {
    expect(planScheduler({ policy: 'SCHED_RR', flags: ['SCHED_FLAG_KEEP_PARAMS'] })).toEqual({ ...ZERO, policy: 2, flags: 0x10 });
  });

  it.each([[1.5], ['1'], [2 ** 31]])('refuses the priority %j (not an int32)', (priority) => {
    configError(() => planScheduler({ policy: 'SCHED_FIFO', priority }), '/process/scheduler/priority', `must be an integer (int32), got ${JSON.stringify(priority)}`);
  });
});

describe('planScheduler: flags', () => {
  it.each(Object.entries(SCHED_FLAGS))('%s → 0x%s', (name, bit) => {
    expect(planScheduler({ policy: 'SCHED_OTHER', flags: [name] })?.flags).toBe(bit);
  });

  it('ORs several flags together, repeated ones once', () => {
    const flags = ['SCHED_FLAG_RESET_ON_FORK', 'SCHED_FLAG_UTIL_CLAMP_MIN', 'SCHED_FLAG_UTIL_CLAMP_MAX', 'SCHED_FLAG_RESET_ON_FORK'];
    expect(planScheduler({ policy: 'SCHED_BATCH', flags })?.flags).toBe(0x61);
    expect(planScheduler({ policy: 'SCHED_OTHER', flags: Object.keys(SCHED_FLAGS) })?.flags).toBe(0x7f);
  });

  it('takes an empty array as no flags', () => {
    expect(planScheduler({ policy: 'SCHED_OTHER', flags: [] })?.flags).toBe(0);
  });

  it.each([['SCHED_FLAG_SUGOV'], ['sched_flag_reset_on_fork'], ['RESET_ON_FORK'], [1], [null], ['constructor']])(
    'refuses the flag %j at its index',
    (flag) => {
      configError(
        () => planScheduler({ policy: 'SCHED_OTHER', flags: ['SCHED_FLAG_RESET_ON_FORK', flag] }),
        '/process/scheduler/flags/1',
        `must be one of ${FLAG_LIST}, got ${JSON.stringify(flag)}`,
      );
    },
  );

  it.each([['SCHED_FLAG_RESET_ON_FORK'], [1], [{}]])('refuses flags that are not an array: %j', (flags) => {
    configError(
      () => planScheduler({ policy: 'SCHED_OTHER', flags }),
      '/process/scheduler/flags',
      `must be an array of scheduler flags such as "SCHED_FLAG_RESET_ON_FORK", got ${JSON.stringify(flags)}`,
    );
  });
});

describe('planScheduler: runtime, deadline, period', () => {
  it.each([['runtime'], ['deadline'], ['period']])('refuses a non-zero %s unless policy is SCHED_DEADLINE (runc)', (field) => {
    for (const policy of ['SCHED_OTHER', 'SCHED_BATCH', 'SCHED_IDLE', 'SCHED_ISO']) {
      configError(
        () => planScheduler({ policy, [field]: 1000 }),
        `/process/scheduler/${field}`,
        'must be 0 or unset unless policy is SCHED_DEADLINE, got 1000',
      );
    }
    configError(
      () => planScheduler({ policy: 'SCHED_FIFO', priority: 1, [field]: 5n }),
      `/process/scheduler/${field}`,
      'must be 0 or unset unless policy is SCHED_DEADLINE, got 5',
    );
  });

  it.each([[-1], [1.5], ['1000'], [true], [2n ** 64n], [-1n]])('refuses the value %s (not a uint64)', (runtime) => {
    const shown = typeof runtime === 'bigint' ? runtime.toString() : JSON.stringify(runtime);
    configError(
      () => planScheduler({ ...DEADLINE, runtime }),
      '/process/scheduler/runtime',
      `must be a number of nanoseconds (an integer from 0 to 2^64-1), got ${shown}`,
    );
  });

  it('checks the type of period and deadline too', () => {
    configError(() => planScheduler({ ...DEADLINE, period: 'x' }), '/process/scheduler/period', 'must be a number of nanoseconds (an integer from 0 to 2^64-1), got "x"');
    configError(() => planScheduler({ ...DEADLINE, deadline: -3 }), '/process/scheduler/deadline', 'must be a number of nanoseconds (an integer from 0 to 2^64-1), got -3');
  });

  it('accepts bigint values (config.json is parsed losslessly)', () => {
    expect(planScheduler({ policy: 'SCHED_DEADLINE', runtime: 2n ** 60n, deadline: 2n ** 61n, period: 2n ** 62n }))
      .toEqual({ ...ZERO, policy: 6, runtime: 2n ** 60n, deadline: 2n ** 61n, period: 2n ** 62n });
  });

  it('accepts runtime = deadline = period, and period 0 (which the kernel reads as "same as deadline")', () => {
    expect(planScheduler({ policy: 'SCHED_DEADLINE', runtime: 1024, deadline: 1024, period: 1024 })?.period).toBe(1024n);
    expect(planScheduler({ policy: 'SCHED_DEADLINE', runtime: 5000, deadline: 9000 })).toEqual({ ...ZERO, policy: 6, runtime: 5000n, deadline: 9000n });
  });

  it('SCHED_DEADLINE needs a deadline (kernel: deadline != 0)', () => {
    configError(
      () => planScheduler({ policy: 'SCHED_DEADLINE', runtime: 1000000 }),
      '/process/scheduler/deadline',
      'must be set to a positive number of nanoseconds for SCHED_DEADLINE, got undefined',
    );
    configError(
      () => planScheduler({ ...DEADLINE, deadline: 0 }),
      '/process/scheduler/deadline',
      'must be set to a positive number of nanoseconds for SCHED_DEADLINE, got 0',
    );
  });

  it('SCHED_DEADLINE needs a runtime of at least 1024 ns (kernel: 1 << DL_SCALE)', () => {
    expect(planScheduler({ ...DEADLINE, runtime: 1024 })?.runtime).toBe(1024n);
    configError(() => planScheduler({ ...DEADLINE, runtime: 1023 }), '/process/scheduler/runtime', 'must be at least 1024 nanoseconds for SCHED_DEADLINE, got 1023');
    configError(() => planScheduler({ ...DEADLINE, runtime: undefined }), '/process/scheduler/runtime', 'must be at least 1024 nanoseconds for SCHED_DEADLINE, got undefined');
  });

  it('SCHED_DEADLINE refuses runtime > deadline', () => {
    configError(
      () => planScheduler({ ...DEADLINE, runtime: 30_000_001 }),
      '/process/scheduler/runtime',
      'must not exceed deadline (30000000), got 30000001',
    );
  });

  it('SCHED_DEADLINE refuses deadline > period when a period is given', () => {
    configError(
      () => planScheduler({ ...DEADLINE, period: 20_000_000 }),
      '/process/scheduler/period',
      'must be 0 (same as deadline) or at least deadline (30000000), got 20000000',
    );
  });

  it('SCHED_DEADLINE refuses a deadline or period with bit 63 set (kernel)', () => {
    configError(
      () => planScheduler({ ...DEADLINE, deadline: 2n ** 63n, period: 2n ** 63n }),
      '/process/scheduler/deadline',
      'must be below 2^63 (9223372036854775808) nanoseconds, got 9223372036854775808',
    );
    configError(
      () => planScheduler({ ...DEADLINE, period: 2n ** 64n - 1n }),
      '/process/scheduler/period',
      'must be below 2^63 (9223372036854775808) nanoseconds, got 18446744073709551615',
    );
    expect(planScheduler({ ...DEADLINE, deadline: 2n ** 63n - 1n, period: 2n ** 63n - 1n })?.deadline).toBe(2n ** 63n - 1n);
  });

  it('SCHED_DEADLINE with SCHED_FLAG_KEEP_PARAMS needs no parameters: the kernel keeps the current ones', () => {
    expect(planScheduler({ policy: 'SCHED_DEADLINE', flags: ['SCHED_FLAG_KEEP_PARAMS'] })).toEqual({ ...ZERO, policy: 6, flags: 0x10 });
  });

  it('names the field of a huge value read losslessly from config.json', () => {
    const spec = parseJsonLossless('{"policy":"SCHED_DEADLINE","runtime":1000000,"deadline":10000000,"period":18446744073709551616}') as unknown;
    configError(
      () => planScheduler(spec),
      '/process/scheduler/period',
      'must be a number of nanoseconds (an integer from 0 to 2^64-1), got 18446744073709551616',
    );
  });
});

describe('planPersonality', () => {
  it('plans nothing when personality is absent or null', () => {
    expect(planPersonality(undefined)).toBeUndefined();
    expect(planPersonality(null)).toBeUndefined();
  });

  it('maps the domains to PER_LINUX and PER_LINUX32', () => {
    expect(PERSONALITY_DOMAINS).toEqual({ LINUX: 0, LINUX32: 8 });
    expect(planPersonality({ domain: 'LINUX' })).toEqual({ persona: 0 });
    expect(planPersonality({ domain: 'LINUX32' })).toEqual({ persona: 8 });
  });

  it('accepts empty or null flags', () => {
    expect(planPersonality({ domain: 'LINUX32', flags: [] })).toEqual({ persona: 8 });
    expect(planPersonality({ domain: 'LINUX', flags: null })).toEqual({ persona: 0 });
  });

  it.each([['linux'], ['LINUX64'], ['PER_LINUX32'], [''], [8], ['valueOf']])('refuses the domain %j', (domain) => {
    configError(() => planPersonality({ domain }), '/linux/personality/domain', `must be one of LINUX, LINUX32, got ${JSON.stringify(domain)}`);
  });

  it('refuses a missing domain (REQUIRED)', () => {
    configError(() => planPersonality({ flags: [] }), '/linux/personality/domain', 'must be one of LINUX, LINUX32, got undefined');
  });

  it.each([[['ADDR_NO_RANDOMIZE']], [['UNAME26', 'READ_IMPLIES_EXEC']], [['']]])(
    'refuses any flag, naming the first (the spec defines none; runc ignores them): %j',
    (flags) => {
      configError(
        () => planPersonality({ domain: 'LINUX', flags }),
        '/linux/personality/flags/0',
        `must not be given: runtime-spec v1.2.1 defines no personality flags (runc ignores them with a warning, tsrun refuses them), got ${JSON.stringify(flags[0])}`,
      );
    },
  );

  it('refuses flags that are not an array', () => {
    configError(() => planPersonality({ domain: 'LINUX', flags: 'ADDR_NO_RANDOMIZE' }), '/linux/personality/flags', 'must be an array of strings, got "ADDR_NO_RANDOMIZE"');
  });

  it.each(NOT_OBJECTS)('refuses a non-object personality %j', (value) => {
    configError(() => planPersonality(value), '/linux/personality', `must be an object, got ${JSON.stringify(value)}`);
  });
});

describe('parseCpuList (runc ToCPUSet cases)', () => {
  const P = '/process/execCPUAffinity/initial';

  it('takes the empty string as unset', () => {
    expect(parseCpuList('', P)).toBeUndefined();
  });

  it.each([
    ['0', [0]],
    ['1', [1]],
    ['0-1', [0, 1]],
    ['0,1', [0, 1]],
    [',0,1,', [0, 1]],
    ['0-3', [0, 1, 2, 3]],
    ['0,1,2-3', [0, 1, 2, 3]],
    ['4-7', [4, 5, 6, 7]],
    ['0-15', Array.from({ length: 16 }, (_, i) => i)],
    ['16', [16]],
    ['1, 2, 1-2', [1, 2]],
    ['    , 1   , 3  ,  5-7,    ', [1, 3, 5, 6, 7]],
    ['0-3,32-33', [0, 1, 2, 3, 32, 33]],
    ['127-129, 1', [1, 127, 128, 129]],
    ['1023', [1023]],
    ['1024', [1024]],
    ['8191', [8191]],
    ['4096-4098', [4096, 4097, 4098]],
    ['0,65536', [0, 65536]],
    ['65536', [65536]],
    ['0-3,7,9-10', [0, 1, 2, 3, 7, 9, 10]],
    ['007', [7]],
    ['63', [63]],
    ['64', [64]],
  ])('%j → CPUs %j', (list, cpus) => {
    expect(parseCpuList(list, P)).toEqual(mask(...cpus));
  });

  it('sets whole words for long ranges', () => {
    expect(parseCpuList('0-63', P)).toEqual([(1n << 64n) - 1n]);
    expect(parseCpuList('0-127', P)).toEqual([(1n << 64n) - 1n, (1n << 64n) - 1n]);
    const all = parseCpuList(`0-${MAX_CPU}`, P)!;
    expect(all).toHaveLength(1025);
    expect(all.slice(0, 1024).every((word) => word === (1n << 64n) - 1n)).toBe(true);
    expect(all[1024]).toBe(1n);
  });

  it.each([
    ['-', '"-" is neither a CPU number nor a range first-last'],
    ['1-', '"1-" is neither a CPU number nor a range first-last'],
    ['-3', '"-3" is neither a CPU number nor a range first-last'],
    ['1 - 2', '"1 - 2" is neither a CPU number nor a range first-last'],
    ['1-2-3', '"1-2-3" is neither a CPU number nor a range first-last'],
    ['a', '"a" is neither a CPU number nor a range first-last'],
    ['1;2', '"1;2" is neither a CPU number nor a range first-last'],
    ['+1', '"+1" is neither a CPU number nor a range first-last'],
    ['1.5', '"1.5" is neither a CPU number nor a range first-last'],
  ])('refuses %j: %s', (list, reason) => {
    configError(() => parseCpuList(list, P), P, `must be a CPU list such as "0-3,7" (${reason}), got ${JSON.stringify(list)}`);
  });

  it.each([[','], [' '], [' , ,']])('refuses %j, which names no CPU', (list) => {
    configError(() => parseCpuList(list, P), P, `must name at least one CPU, e.g. "0-3,7" (or be empty to leave the affinity unset), got ${JSON.stringify(list)}`);
  });

  it('refuses a range that ends before it starts', () => {
    configError(() => parseCpuList('54-53', P), P, 'must have ranges written low-high ("54-53" ends before it starts), got "54-53"');
  });

  it.each([['65537', '65537'], ['0-65537', '0-65537'], ['1,99999999999999999999', '99999999999999999999']])(
    'refuses CPUs above 65536: %j',
    (list, item) => {
      configError(() => parseCpuList(list, P), P, `must name CPUs from 0 to 65536 ("${item}" is beyond), got ${JSON.stringify(list)}`);
    },
  );
});

describe('planCpuAffinity', () => {
  it('plans nothing when execCPUAffinity is absent, null, empty or has only empty lists', () => {
    expect(planCpuAffinity(undefined)).toBeUndefined();
    expect(planCpuAffinity(null)).toBeUndefined();
    expect(planCpuAffinity({})).toBeUndefined();
    expect(planCpuAffinity({ initial: '', final: '' })).toBeUndefined();
    expect(planCpuAffinity({ initial: null })).toBeUndefined();
  });

  it('plans both masks', () => {
    expect(planCpuAffinity({ initial: '7', final: '0-3,7' })).toEqual({ initial: mask(7), final: mask(0, 1, 2, 3, 7) });
  });

  it('plans only the list that is set', () => {
    const onlyInitial = planCpuAffinity({ initial: '0' });
    expect(onlyInitial).toEqual({ initial: mask(0) });
    expect(onlyInitial).not.toHaveProperty('final');
    const onlyFinal = planCpuAffinity({ initial: '', final: '1' });
    expect(onlyFinal).toEqual({ final: mask(1) });
    expect(onlyFinal).not.toHaveProperty('initial');
  });

  it('names initial or final in errors', () => {
    configError(
      () => planCpuAffinity({ initial: '0', final: '3-1' }),
      '/process/execCPUAffinity/final',
      'must have ranges written low-high ("3-1" ends before it starts), got "3-1"',
    );
    configError(
      () => planCpuAffinity({ initial: 'x', final: '0' }),
      '/process/execCPUAffinity/initial',
      'must be a CPU list such as "0-3,7" ("x" is neither a CPU number nor a range first-last), got "x"',
    );
  });

  it.each([[0], [[0, 1]], [{ cpus: '0' }], [true]])('refuses a list that is not a string: %j', (initial) => {
    configError(
      () => planCpuAffinity({ initial }),
      '/process/execCPUAffinity/initial',
      `must be a string with a CPU list such as "0-3,7", got ${JSON.stringify(initial)}`,
    );
    configError(
      () => planCpuAffinity({ final: initial }),
      '/process/execCPUAffinity/final',
      `must be a string with a CPU list such as "0-3,7", got ${JSON.stringify(initial)}`,
    );
  });

  it.each(NOT_OBJECTS)('refuses a non-object execCPUAffinity %j', (value) => {
    configError(() => planCpuAffinity(value), '/process/execCPUAffinity', `must be an object, got ${JSON.stringify(value)}`);
  });
});
