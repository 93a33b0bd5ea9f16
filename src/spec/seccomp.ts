import { ConfigError, describeValue } from '../errors';

/**
 * Planning of `linux.seccomp` (runtime-spec v1.2.1, config-linux.md "Seccomp"), pure: no system calls.
 * `planSeccomp` turns the config value into numbers libseccomp and seccomp(2) take; src/linux/seccomp.ts
 * compiles the plan into a classic-BPF program in the runtime and the container's init loads it just
 * before execve.
 *
 * Where the spec is silent tsrun does what runc does (libcontainer/seccomp and its specconv), so a config that
 * works with runc works here, except that a few things runc accepts and then ignores are refused with a
 * message (a filter that silently differs from the one asked for is a security hole).
 */

/** libseccomp's `enum scmp_compare` (seccomp.h). */
export const SECCOMP_OPERATORS = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
} as const;

/**
 * SECCOMP_RET_* action values (include/uapi/linux/seccomp.h) without their 16 data bits. SCMP_ACT_KILL is
 * libseccomp's old name for killing the thread, which is what the kernel's SECCOMP_RET_KILL (0) does.
 */
export const SECCOMP_ACTIONS = {
  SCMP_ACT_KILL: 0x00000000,
  SCMP_ACT_KILL_PROCESS: 0x80000000,
  SCMP_ACT_KILL_THREAD: 0x00000000,
  SCMP_ACT_TRAP: 0x00030000,
  SCMP_ACT_ERRNO: 0x00050000,
  SCMP_ACT_TRACE: 0x7ff00000,
  SCMP_ACT_ALLOW: 0x7fff0000,
  SCMP_ACT_LOG: 0x7ffc0000,
  SCMP_ACT_NOTIFY: 0x7fc00000,
} as const;

/** Spec architecture names → libseccomp's names (what `seccomp_arch_resolve_name` takes). */
export const SECCOMP_ARCHES = {
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_ARM: 'arm',
  SCMP_ARCH_AARCH64: 'aarch64',
  SCMP_ARCH_LOONGARCH64: 'loongarch64',
  SCMP_ARCH_M68K: 'm68k',
  SCMP_ARCH_MIPS: 'mips',
  SCMP_ARCH_MIPS64: 'mips64',
  SCMP_ARCH_MIPS64N32: 'mips64n32',
  SCMP_ARCH_MIPSEL: 'mipsel',
  SCMP_ARCH_MIPSEL64: 'mipsel64',
  SCMP_ARCH_MIPSEL64N32: 'mipsel64n32',
  SCMP_ARCH_PPC: 'ppc',
  SCMP_ARCH_PPC64: 'ppc64',
  SCMP_ARCH_PPC64LE: 'ppc64le',
  SCMP_ARCH_S390: 's390',
  SCMP_ARCH_S390X: 's390x',
  SCMP_ARCH_SH: 'sh',
  SCMP_ARCH_SHEB: 'sheb',
  SCMP_ARCH_PARISC: 'parisc',
  SCMP_ARCH_PARISC64: 'parisc64',
  SCMP_ARCH_RISCV64: 'riscv64',
} as const;

/** SECCOMP_FILTER_FLAG_* bits of seccomp(2) (include/uapi/linux/seccomp.h). */
export const SECCOMP_FILTER_FLAGS = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_NEW_LISTENER: 8,
  SECCOMP_FILTER_FLAG_TSYNC_ESRCH: 16,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
} as const;

/** The flags config.json may name (the spec's list); NEW_LISTENER and TSYNC_ESRCH are the runtime's business. */
export const SECCOMP_KNOWN_FLAGS = [
  'SECCOMP_FILTER_FLAG_TSYNC',
  'SECCOMP_FILTER_FLAG_LOG',
  'SECCOMP_FILTER_FLAG_SPEC_ALLOW',
  'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV',
] as const;

/** Every known flag is accepted; whether the running kernel has it is only found out when the filter is loaded. */
export const SECCOMP_SUPPORTED_FLAGS: readonly string[] = SECCOMP_KNOWN_FLAGS;

export const SECCOMP_RET_DATA = 0x0000ffff;
const EPERM = 1;
/** seccomp(2) passes on 6 syscall arguments. */
const MAX_ARGS = 6;
const UINT64_MAX = (1n << 64n) - 1n;
/** The name of the listener fd in the agent's message (runtime-spec `SeccompFdName`). */
export const SECCOMP_FD_NAME = 'seccompFd';

export interface SeccompCondition {
  index: number;
  /** libseccomp `enum scmp_compare`: NE=1 LT=2 LE=3 EQ=4 GE=5 GT=6 MASKED_EQ=7. */
  op: number;
  /** For MASKED_EQ the mask, otherwise the value compared with (libseccomp datum_a). */
  value: bigint;
  /** For MASKED_EQ the value the masked argument must equal (libseccomp datum_b); otherwise unused. */
  valueTwo: bigint;
}

export interface SeccompRule {
  /** Syscall names as written; names libseccomp does not know are skipped when compiling (as runc does). */
  names: string[];
  /** JSON pointer of the syscalls entry the rule comes from, for error messages. */
  pointer: string;
  /** Full 32-bit SECCOMP_RET_* value including its data (errno, trace message), unsigned. */
  action: number;
  /** ANDed together; empty for an unconditional rule. */
  conditions: SeccompCondition[];
}

export interface SeccompPlan {
  /** Full 32-bit SECCOMP_RET_* value, unsigned. */
  defaultAction: number;
  /** libseccomp arch names in config order ('x86_64', 'x86', ...); `architectures[i]` is config index i. */
  architectures: string[];
  /** SECCOMP_FILTER_FLAG_* bits for the seccomp(2) call that loads the filter. */
  flags: number;
  rules: SeccompRule[];
  /** Set when a rule uses SCMP_ACT_NOTIFY: where to send the listener fd and what to say with it. */
  notify?: { listenerPath: string; listenerMetadata: string };
}

function fail(pointer: string, expectation: string, value: unknown): never {
  throw new ConfigError(pointer, `${expectation}, got ${describeValue(value)}`);
}

function lookup<T>(table: Readonly<Record<string, T>>, name: unknown): T | undefined {
  return typeof name === 'string' && Object.hasOwn(table, name) ? table[name] : undefined;
}

function list(value: unknown, pointer: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(pointer, 'must be an array', value);
  return value;
}

function optionalString(value: unknown, pointer: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') fail(pointer, 'must be a string', value);
  return value;
}

function uint64(value: unknown, pointer: string): bigint {
  const big = typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : typeof value === 'bigint' ? value : undefined;
  if (big === undefined || big < 0n || big > UINT64_MAX) fail(pointer, 'must be an integer from 0 to 18446744073709551615 (uint64)', value);
  return big;
}

/**
 * An action name and its optional errno → the full SECCOMP_RET_* value. Like runc, ERRNO and TRACE without
 * an explicit value carry EPERM, and an errno given to any other action is an error. Only 16 bits of data fit
 * in the action (SECCOMP_RET_DATA), so a larger value is refused instead of cut short as runc's int16 does.
 */
function action(name: unknown, errnoRet: unknown, actionPointer: string, errnoPointer: string): number {
  const base = lookup(SECCOMP_ACTIONS, name);
  if (base === undefined) fail(actionPointer, `must be one of ${Object.keys(SECCOMP_ACTIONS).join(', ')}`, name);
  const takesData = name === 'SCMP_ACT_ERRNO' || name === 'SCMP_ACT_TRACE';
  if (errnoRet === undefined || errnoRet === null) return takesData ? (base | EPERM) >>> 0 : base >>> 0;
  if (!takesData) fail(errnoPointer, `is only allowed with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not with ${String(name)}`, errnoRet);
  if (typeof errnoRet !== 'number' || !Number.isInteger(errnoRet) || errnoRet < 0 || errnoRet > SECCOMP_RET_DATA) {
    fail(errnoPointer, `must be an integer from 0 to ${SECCOMP_RET_DATA} (the 16 data bits of a seccomp action)`, errnoRet);
  }
  return (base | errnoRet) >>> 0;
}

function condition(value: unknown, pointer: string): SeccompCondition {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(pointer, 'must be an object', value);
  const arg = value as Record<string, unknown>;
  const index = arg.index;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= MAX_ARGS) {
    fail(`${pointer}/index`, `must be a syscall argument index from 0 to ${MAX_ARGS - 1}`, index);
  }
  const op = lookup(SECCOMP_OPERATORS, arg.op);
  if (op === undefined) fail(`${pointer}/op`, `must be one of ${Object.keys(SECCOMP_OPERATORS).join(', ')}`, arg.op);
  const valueTwo = arg.valueTwo === undefined || arg.valueTwo === null ? 0n : uint64(arg.valueTwo, `${pointer}/valueTwo`);
  return { index, op, value: uint64(arg.value, `${pointer}/value`), valueTwo };
}

/**
 * `spec.linux.seccomp` (schema-validated; 64-bit values may be bigint) → SeccompPlan. Rules, in order:
 * - defaultAction and every rule's action are SCMP_ACT_* names; defaultErrnoRet/errnoRet only with ERRNO/TRACE;
 * - SCMP_ACT_NOTIFY is refused as the default action (every syscall of the init, execve included, would wait
 *   for an agent that only gets the listener fd afterwards; runc refuses it too) and for `write` (runc's rule:
 *   a runtime writes to its sync pipe between loading the filter and execve, so it would deadlock);
 * - NOTIFY rules need listenerPath and add SECCOMP_FILTER_FLAG_NEW_LISTENER; listenerPath or listenerMetadata
 *   without a NOTIFY rule is an error (nothing would ever be sent to the agent);
 * - a syscalls entry with args becomes one rule whose conditions are ANDed, unless two args name the same
 *   index: then, like runc, every arg becomes a rule of its own (ORed), since an AND of two conditions on one
 *   argument is mostly unsatisfiable and libseccomp refuses some of those combinations;
 * - a rule whose action equals the default action is dropped: it changes nothing, and libseccomp refuses it.
 */
export function planSeccomp(seccomp: Record<string, unknown>): SeccompPlan {
  const base = '/linux/seccomp';
  const defaultAction = action(seccomp.defaultAction, seccomp.defaultErrnoRet, `${base}/defaultAction`, `${base}/defaultErrnoRet`);
  if (seccomp.defaultAction === 'SCMP_ACT_NOTIFY') {
    fail(`${base}/defaultAction`, 'must not be SCMP_ACT_NOTIFY (the container\'s first syscalls would wait for an agent that is not yet connected)', seccomp.defaultAction);
  }

  const architectures = list(seccomp.architectures, `${base}/architectures`).map((name, i) => {
    const arch = lookup(SECCOMP_ARCHES, name);
    if (arch === undefined) fail(`${base}/architectures/${i}`, `must be one of ${Object.keys(SECCOMP_ARCHES).join(', ')}`, name);
    return arch;
  });

  let flags = 0;
  let waitKillableIndex = -1;
  list(seccomp.flags, `${base}/flags`).forEach((name, i) => {
    if (name === 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV') waitKillableIndex = i;
    const flag = typeof name === 'string' && (SECCOMP_KNOWN_FLAGS as readonly string[]).includes(name) ? lookup(SECCOMP_FILTER_FLAGS, name) : undefined;
    if (flag === undefined) fail(`${base}/flags/${i}`, `must be one of ${SECCOMP_KNOWN_FLAGS.join(', ')}`, name);
    flags |= flag;
  });
  // TSYNC synchronizes the filter onto the caller's other threads. The init that loads the filter is a forked,
  // single-threaded process, so it has nothing to do; and the kernel refuses TSYNC together with NEW_LISTENER.
  // runc ignores the flag for the same reason.
  flags &= ~SECCOMP_FILTER_FLAGS.SECCOMP_FILTER_FLAG_TSYNC;

  const rules: SeccompRule[] = [];
  let notifyRules = 0;
  list(seccomp.syscalls, `${base}/syscalls`).forEach((entry, i) => {
    const pointer = `${base}/syscalls/${i}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(pointer, 'must be an object', entry);
    const syscall = entry as Record<string, unknown>;
    const names = list(syscall.names, `${pointer}/names`).map((name, j) => {
      if (typeof name !== 'string') fail(`${pointer}/names/${j}`, 'must be a string', name);
      return name;
    });
    if (names.length === 0) fail(`${pointer}/names`, 'must name at least one syscall', syscall.names);
    const ruleAction = action(syscall.action, syscall.errnoRet, `${pointer}/action`, `${pointer}/errnoRet`);
    if (syscall.action === 'SCMP_ACT_NOTIFY') {
      notifyRules++;
      const write = names.indexOf('write');
      if (write >= 0) fail(`${pointer}/names/${write}`, 'must not be "write" with SCMP_ACT_NOTIFY (the runtime writes to the container\'s init after the filter is loaded and would deadlock)', 'write');
    }
    const conditions = list(syscall.args, `${pointer}/args`).map((arg, j) => condition(arg, `${pointer}/args/${j}`));
    if (ruleAction === defaultAction) return;
    const indexes = new Set(conditions.map((c) => c.index));
    if (indexes.size < conditions.length) {
      for (const c of conditions) rules.push({ names, pointer, action: ruleAction, conditions: [c] });
    } else {
      rules.push({ names, pointer, action: ruleAction, conditions });
    }
  });

  const listenerPath = optionalString(seccomp.listenerPath, `${base}/listenerPath`);
  const listenerMetadata = optionalString(seccomp.listenerMetadata, `${base}/listenerMetadata`);
  if (notifyRules > 0 && listenerPath === '') {
    fail(`${base}/listenerPath`, 'must be set when a syscall rule uses SCMP_ACT_NOTIFY (the path of the seccomp agent\'s unix socket)', seccomp.listenerPath);
  }
  if (notifyRules === 0 && listenerPath !== '') {
    fail(`${base}/listenerPath`, 'must only be set when a syscall rule uses SCMP_ACT_NOTIFY', listenerPath);
  }
  if (notifyRules === 0 && listenerMetadata !== '') {
    fail(`${base}/listenerMetadata`, 'must only be set when a syscall rule uses SCMP_ACT_NOTIFY', listenerMetadata);
  }
  if (waitKillableIndex >= 0 && notifyRules === 0) {
    fail(`${base}/flags/${waitKillableIndex}`, 'needs a syscall rule with SCMP_ACT_NOTIFY (the kernel refuses the flag without a listener)', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV');
  }

  const plan: SeccompPlan = { defaultAction, architectures, flags, rules };
  // Every NOTIFY rule is in `rules`: it could only be dropped by equalling the default, which is never NOTIFY.
  if (notifyRules > 0) {
    plan.flags |= SECCOMP_FILTER_FLAGS.SECCOMP_FILTER_FLAG_NEW_LISTENER;
    plan.notify = { listenerPath, listenerMetadata };
  }
  return plan;
}

/** The runtime-spec state of the container as the seccomp agent sees it (runtime-spec runtime.md "State"). */
export interface SeccompAgentContainerState {
  ociVersion: string;
  id: string;
  status: string;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string> | undefined;
}

/**
 * The message sent to `listenerPath` together with the listener fd (SCM_RIGHTS), runtime-spec
 * config-linux.md "containerProcessState": `fds` names the fds in the order they are attached. `metadata` is
 * left out when empty and `annotations` when absent, as runc does.
 */
export function notifyStateMessage(input: { ociVersion: string; pid: number; metadata?: string; state: SeccompAgentContainerState }): string {
  const { state } = input;
  return JSON.stringify({
    ociVersion: input.ociVersion,
    fds: [SECCOMP_FD_NAME],
    pid: input.pid,
    ...(input.metadata ? { metadata: input.metadata } : {}),
    state: {
      ociVersion: state.ociVersion,
      id: state.id,
      status: state.status,
      ...(state.pid === undefined ? {} : { pid: state.pid }),
      bundle: state.bundle,
      ...(state.annotations ? { annotations: state.annotations } : {}),
    },
  });
}
