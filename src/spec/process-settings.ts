import { ConfigError, describeValue } from '../errors';
import type { SchedulerAttributes } from '../linux/process-settings';

/**
 * Planning of four per-process settings of runtime-spec v1.2.1 (pure: no system calls):
 * `process.ioPriority`, `process.scheduler`, `process.execCPUAffinity` and `linux.personality`.
 * Each planner takes the raw config.json value (undefined or null when absent) and returns what
 * src/linux/process-settings.ts needs, or throws a ConfigError naming the JSON pointer of the bad field.
 *
 * Validation follows runc (libcontainer/configs/validate/validator.go `scheduler` and `ioPriority`,
 * libcontainer/configs/config.go `ToSchedAttr`, libcontainer/specconv personality handling,
 * libcontainer/configs `ToCPUSet`), plus the static checks the kernel makes in sched_setattr(2)
 * (`__checkparam_dl`, the real-time priority range), so a config the kernel would refuse with EINVAL
 * fails at `create` with a message naming the field instead of deep inside the container's init.
 */

// ---------------------------------------------------------------------------------------------------------
// process.ioPriority

/** IOPRIO_CLASS_* numbers (include/uapi/linux/ioprio.h). */
export const IOPRIO_CLASSES = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 } as const;
export const IOPRIO_CLASS_SHIFT = 13;

/** `{class, priority}` → the ioprio value for ioprio_set(2): `(class << 13) | priority`. */
export function planIoPriority(value: unknown): { ioprio: number } | undefined {
  if (value === undefined || value === null) return undefined;
  const pointer = '/process/ioPriority';
  const object = expectObject(value, pointer);
  const ioClass = lookup(IOPRIO_CLASSES, object.class);
  if (ioClass === undefined) fail(`${pointer}/class`, `must be one of ${Object.keys(IOPRIO_CLASSES).join(', ')}`, object.class);
  // The spec makes priority REQUIRED (runc reads a missing one as 0; tsrun's schema refuses it too).
  const priority = object.priority;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0 || priority > 7) {
    fail(`${pointer}/priority`, 'must be an integer from 0 (highest) to 7 (lowest)', priority);
  }
  return { ioprio: (ioClass << IOPRIO_CLASS_SHIFT) | priority };
}

// ---------------------------------------------------------------------------------------------------------
// process.scheduler

/** SCHED_* policy numbers (include/uapi/linux/sched.h). SCHED_ISO is reserved: mainline kernels refuse it. */
export const SCHED_POLICIES = {
  SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2, SCHED_BATCH: 3, SCHED_ISO: 4, SCHED_IDLE: 5, SCHED_DEADLINE: 6,
} as const;

/** SCHED_FLAG_* bits for sched_setattr(2) (include/uapi/linux/sched.h). */
export const SCHED_FLAGS = {
  SCHED_FLAG_RESET_ON_FORK: 0x01,
  SCHED_FLAG_RECLAIM: 0x02,
  SCHED_FLAG_DL_OVERRUN: 0x04,
  SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10,
  SCHED_FLAG_UTIL_CLAMP_MIN: 0x20,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
} as const;

/** What sched_setattr(2) gets: see SchedulerAttributes in src/linux/process-settings.ts. */
export type SchedulerPlan = SchedulerAttributes;

const NICE_MIN = -20;
const NICE_MAX = 19;
const RT_PRIORITY_MIN = 1;
const RT_PRIORITY_MAX = 99;
/** The kernel keeps deadline parameters in units of 2^DL_SCALE ns (DL_SCALE 10) and refuses a smaller runtime. */
const DL_MIN_RUNTIME = 1n << 10n;
/** The kernel uses bit 63 of deadline and period for wrap-around detection and refuses values with it set. */
const DL_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Rules, in the order they are checked:
 * - policy is REQUIRED and one of SCHED_POLICIES (spec; runc `ToSchedAttr`);
 * - nice, priority are int32; runtime, deadline, period are uint64 (number or bigint); all default to 0 (spec);
 * - nice must lie in -20..19 for SCHED_OTHER and SCHED_BATCH, the policies that use it (runc `scheduler`;
 *   for the other policies the kernel ignores nice, and runc does not check it);
 * - flags are names from SCHED_FLAGS (spec; runc `ToSchedAttr`), OR-ed together;
 * - priority must be 0 unless policy is SCHED_FIFO or SCHED_RR (runc `scheduler`); for those two it must lie
 *   in 1..99 (kernel: a real-time policy needs a non-zero priority below MAX_RT_PRIO);
 * - runtime, deadline and period must be 0 unless policy is SCHED_DEADLINE (runc `scheduler`);
 * - for SCHED_DEADLINE (kernel `__checkparam_dl`): deadline > 0, runtime >= 1024 ns, deadline and period
 *   below 2^63, runtime <= deadline, and deadline <= period unless period is 0 (0 means "same as deadline").
 * With SCHED_FLAG_KEEP_PARAMS the kernel keeps the thread's current parameters and ignores the ones given,
 * so the two kernel-derived checks on their values (the real-time range and `__checkparam_dl`) are skipped.
 * The kernel's sysctl bounds on the deadline period (sched_deadline_period_{min,max}_us) and its admission
 * control are not checked here: they depend on the host at the time of the call.
 */
export function planScheduler(value: unknown): SchedulerPlan | undefined {
  if (value === undefined || value === null) return undefined;
  const pointer = '/process/scheduler';
  const object = expectObject(value, pointer);

  const policyName = object.policy;
  const policy = lookup(SCHED_POLICIES, policyName);
  if (policy === undefined) fail(`${pointer}/policy`, `must be one of ${Object.keys(SCHED_POLICIES).join(', ')}`, policyName);

  const nice = int32(object.nice, `${pointer}/nice`);
  const priority = int32(object.priority, `${pointer}/priority`);
  const runtime = uint64(object.runtime, `${pointer}/runtime`);
  const deadline = uint64(object.deadline, `${pointer}/deadline`);
  const period = uint64(object.period, `${pointer}/period`);
  const flags = schedulerFlags(object.flags, `${pointer}/flags`);

  const usesNice = policy === SCHED_POLICIES.SCHED_OTHER || policy === SCHED_POLICIES.SCHED_BATCH;
  if (usesNice && (nice < NICE_MIN || nice > NICE_MAX)) {
    fail(`${pointer}/nice`, `must be between ${NICE_MIN} and ${NICE_MAX} for ${policyName as string}`, object.nice);
  }

  const keepParams = (flags & SCHED_FLAGS.SCHED_FLAG_KEEP_PARAMS) !== 0;
  const realTime = policy === SCHED_POLICIES.SCHED_FIFO || policy === SCHED_POLICIES.SCHED_RR;
  if (!realTime && priority !== 0) {
    fail(`${pointer}/priority`, 'must be 0 or unset unless policy is SCHED_FIFO or SCHED_RR', object.priority);
  }
  if (realTime && !keepParams && (priority < RT_PRIORITY_MIN || priority > RT_PRIORITY_MAX)) {
    fail(`${pointer}/priority`, `must be between ${RT_PRIORITY_MIN} and ${RT_PRIORITY_MAX} for ${policyName as string}`, object.priority);
  }

  const isDeadline = policy === SCHED_POLICIES.SCHED_DEADLINE;
  if (!isDeadline) {
    for (const [field, amount] of [['runtime', runtime], ['deadline', deadline], ['period', period]] as const) {
      if (amount !== 0n) fail(`${pointer}/${field}`, 'must be 0 or unset unless policy is SCHED_DEADLINE', object[field]);
    }
  } else if (!keepParams) {
    if (deadline === 0n) {
      fail(`${pointer}/deadline`, 'must be set to a positive number of nanoseconds for SCHED_DEADLINE', object.deadline);
    }
    if (deadline > DL_MAX) fail(`${pointer}/deadline`, `must be below 2^63 (${DL_MAX + 1n}) nanoseconds`, object.deadline);
    if (period > DL_MAX) fail(`${pointer}/period`, `must be below 2^63 (${DL_MAX + 1n}) nanoseconds`, object.period);
    if (runtime < DL_MIN_RUNTIME) {
      fail(`${pointer}/runtime`, `must be at least ${DL_MIN_RUNTIME} nanoseconds for SCHED_DEADLINE`, object.runtime);
    }
    if (runtime > deadline) fail(`${pointer}/runtime`, `must not exceed deadline (${deadline})`, object.runtime);
    if (period !== 0n && period < deadline) {
      fail(`${pointer}/period`, `must be 0 (same as deadline) or at least deadline (${deadline})`, object.period);
    }
  }

  return { policy, flags, nice, priority, runtime, deadline, period };
}

function schedulerFlags(value: unknown, pointer: string): number {
  if (value === undefined || value === null) return 0;
  if (!Array.isArray(value)) fail(pointer, `must be an array of scheduler flags such as "SCHED_FLAG_RESET_ON_FORK"`, value);
  let flags = 0;
  value.forEach((name: unknown, i) => {
    const bit = lookup(SCHED_FLAGS, name);
    if (bit === undefined) fail(`${pointer}/${i}`, `must be one of ${Object.keys(SCHED_FLAGS).join(', ')}`, name);
    flags |= bit;
  });
  return flags;
}

// ---------------------------------------------------------------------------------------------------------
// linux.personality

/** Execution domains (include/uapi/linux/personality.h) by the names config.json uses. */
export const PERSONALITY_DOMAINS = { LINUX: 0x0000, LINUX32: 0x0008 } as const;

/**
 * `{domain, flags}` → the persona for personality(2). runtime-spec v1.2.1 lists no values for `flags`, and
 * runc ignores any it is given with a warning ("ignoring unsupported personality flags"). tsrun never ignores a
 * setting silently: an empty or absent `flags` is fine, any entry is refused with a ConfigError at its pointer.
 */
export function planPersonality(value: unknown): { persona: number } | undefined {
  if (value === undefined || value === null) return undefined;
  const pointer = '/linux/personality';
  const object = expectObject(value, pointer);
  const persona = lookup(PERSONALITY_DOMAINS, object.domain);
  if (persona === undefined) fail(`${pointer}/domain`, `must be one of ${Object.keys(PERSONALITY_DOMAINS).join(', ')}`, object.domain);
  const flags = object.flags;
  if (flags !== undefined && flags !== null) {
    if (!Array.isArray(flags)) fail(`${pointer}/flags`, 'must be an array of strings', flags);
    if (flags.length > 0) {
      fail(`${pointer}/flags/0`, 'must not be given: runtime-spec v1.2.1 defines no personality flags (runc ignores them with a warning, tsrun refuses them)', flags[0]);
    }
  }
  return { persona };
}

// ---------------------------------------------------------------------------------------------------------
// process.execCPUAffinity

/** A CPU set as cpu_set_t words: CPU n is bit n % 64 of word n / 64 (what setCpuAffinity takes). */
export type CpuMask = bigint[];

export interface CpuAffinityPlan {
  /** Affinity to take before anything else of the process is set up; undefined: leave it. */
  initial?: CpuMask;
  /** Affinity to take last, immediately before execve; undefined: none of its own. */
  final?: CpuMask;
}

/** The highest CPU number a list may name (runc's `ToCPUSet` limit). */
export const MAX_CPU = 65536;

/**
 * `execCPUAffinity` → the two CPU masks. Semantics:
 * - runtime-spec: `initial` is where "a runtime parent process" runs before the transition to the container's
 *   cgroup, `final` where the process runs after it; an omitted or empty `final` means the default affinity of
 *   the cgroup (`linux.resources.cpu.cpus`). The spec also says the setting "is not applicable to the
 *   container's init process".
 * - runc: `initial` is set in nsexec, before the process joins the container's cgroup (so runc's own setup
 *   stages already run there), `final` once it is in its final cgroup; runc's tests exercise both through
 *   `runc exec`, and its `runc run` test expects the first process to get the default (all-CPU) affinity.
 * - tsrun has no cgroups yet, so there is no transition between the two: both are applied in the init right
 *   before execve, `initial` first and `final` last, so `final` wins when both are set. Without `final` the
 *   process keeps `initial` (there is no cgroup whose cpuset the kernel would reset it to).
 * Returns undefined when neither list is set (absent or empty string).
 */
export function planCpuAffinity(value: unknown): CpuAffinityPlan | undefined {
  if (value === undefined || value === null) return undefined;
  const pointer = '/process/execCPUAffinity';
  const object = expectObject(value, pointer);
  const initial = cpuListField(object.initial, `${pointer}/initial`);
  const final = cpuListField(object.final, `${pointer}/final`);
  if (initial === undefined && final === undefined) return undefined;
  const plan: CpuAffinityPlan = {};
  if (initial !== undefined) plan.initial = initial;
  if (final !== undefined) plan.final = final;
  return plan;
}

function cpuListField(value: unknown, pointer: string): CpuMask | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') fail(pointer, 'must be a string with a CPU list such as "0-3,7"', value);
  return parseCpuList(value, pointer);
}

/**
 * Parses a CPU list like `0-3,7,9-10` into a mask (undefined for the empty string, which means "unset").
 * Rules (runc's `ToCPUSet`): items are separated by commas; spaces around an item are allowed and empty items
 * are skipped; an item is a CPU number or `first-last` with first <= last and no spaces inside; CPU numbers
 * go up to 65536; a list with no CPU at all (`,` or ` `) is an error.
 */
export function parseCpuList(list: string, pointer: string): CpuMask | undefined {
  if (list === '') return undefined;
  const ranges: Array<[number, number]> = [];
  let highest = 0;
  for (const raw of list.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const match = /^(\d+)(?:-(\d+))?$/.exec(item);
    if (!match) fail(pointer, `must be a CPU list such as "0-3,7" (${JSON.stringify(item)} is neither a CPU number nor a range first-last)`, list);
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last > MAX_CPU || first > MAX_CPU) fail(pointer, `must name CPUs from 0 to ${MAX_CPU} (${JSON.stringify(item)} is beyond)`, list);
    if (first > last) fail(pointer, `must have ranges written low-high (${JSON.stringify(item)} ends before it starts)`, list);
    ranges.push([first, last]);
    highest = Math.max(highest, last);
  }
  if (ranges.length === 0) fail(pointer, 'must name at least one CPU, e.g. "0-3,7" (or be empty to leave the affinity unset)', list);
  const words: CpuMask = new Array<bigint>((highest >> 6) + 1).fill(0n);
  for (const [first, last] of ranges) {
    for (let cpu = first; cpu <= last; cpu++) words[cpu >> 6] = words[cpu >> 6]! | (1n << BigInt(cpu & 63));
  }
  return words;
}

// ---------------------------------------------------------------------------------------------------------
// helpers

function fail(pointer: string, expectation: string, value: unknown): never {
  throw new ConfigError(pointer, `${expectation}, got ${describeValue(value)}`);
}

function expectObject(value: unknown, pointer: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(pointer, 'must be an object', value);
  return value as Record<string, unknown>;
}

/** The value of a name in a table of constants; undefined for anything else (also `toString` and the like). */
function lookup(table: Readonly<Record<string, number>>, name: unknown): number | undefined {
  return typeof name === 'string' && Object.hasOwn(table, name) ? table[name] : undefined;
}

function int32(value: unknown, pointer: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
    fail(pointer, 'must be an integer (int32)', value);
  }
  return value;
}

function uint64(value: unknown, pointer: string): bigint {
  if (value === undefined || value === null) return 0n;
  let big: bigint | undefined;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number' && Number.isInteger(value)) big = BigInt(value);
  if (big === undefined || big < 0n || big > UINT64_MAX) fail(pointer, 'must be a number of nanoseconds (an integer from 0 to 2^64-1)', value);
  return big;
}
