import { endianness } from 'node:os';
import { check, fn, rawSyscall } from './libc';

/**
 * The per-process settings of runtime-spec v1.2.1 that tsrun applies right before execve: I/O priority,
 * scheduler (sched_setattr), personality and CPU affinity. Planning and validation live in
 * src/spec/process-settings.ts; these functions only make the calls, check the result and throw a
 * SyscallError naming the call and the value.
 *
 * ioprio_set, sched_setattr and sched_setaffinity with pid 0 act on the calling *thread*, and personality
 * on the calling task: in tsrun they run in the single-threaded forked init (or exec) process, and execve
 * hands every one of them on to the container's program.
 */

/** Numbers of the calls glibc has no (or no convenient) wrapper for: asm-generic (arm64) and x86_64 tables. */
const NUMBERS_X64 = { ioprio_set: 251, ioprio_get: 252, sched_setattr: 314, sched_getattr: 315 };
const NUMBERS_ARM64 = { ioprio_set: 30, ioprio_get: 31, sched_setattr: 274, sched_getattr: 275 };
export const PROCESS_SETTINGS_SYSCALLS: Readonly<typeof NUMBERS_X64> = process.arch === 'arm64' ? NUMBERS_ARM64 : NUMBERS_X64;

/** ioprio_set(2) `which`: one thread (pid 0 = the caller). */
export const IOPRIO_WHO_PROCESS = 1;
/** personality(2) with this argument changes nothing and returns the current persona. */
export const PERSONALITY_QUERY = 0xffffffff;
/** Size of `struct sched_attr` with the utilization clamps (SCHED_ATTR_SIZE_VER1, Linux 5.3+). */
export const SCHED_ATTR_SIZE = 56;

/** The fields of `struct sched_attr` tsrun sets (see sched_setattr(2)). */
export interface SchedulerAttributes {
  /** SCHED_* number (SCHED_OTHER 0 … SCHED_DEADLINE 6). */
  policy: number;
  /** SCHED_FLAG_* bits. */
  flags: number;
  /** Nice value, used by SCHED_OTHER and SCHED_BATCH. */
  nice: number;
  /** Static priority, used by SCHED_FIFO and SCHED_RR (1..99). */
  priority: number;
  /** SCHED_DEADLINE parameters in nanoseconds (uint64). */
  runtime: bigint;
  deadline: bigint;
  period: bigint;
}

const POLICY_NAMES = ['SCHED_OTHER', 'SCHED_FIFO', 'SCHED_RR', 'SCHED_BATCH', 'SCHED_ISO', 'SCHED_IDLE', 'SCHED_DEADLINE'];
const IOPRIO_CLASS_NAMES = ['IOPRIO_CLASS_NONE', 'IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE'];
const LITTLE_ENDIAN = endianness() === 'LE';

/** Sets the caller's I/O priority: `ioprio` is `(class << 13) | level`, as planIoPriority computes it. */
export function setIoPriority(ioprio: number): void {
  const result = rawSyscall(PROCESS_SETTINGS_SYSCALLS.ioprio_set, 'int', IOPRIO_WHO_PROCESS, 'int', 0, 'int', ioprio);
  check(result, 'ioprio_set', describeIoPriority(ioprio));
}

/** The caller's I/O priority as ioprio_get(IOPRIO_WHO_PROCESS, 0) reports it. */
export function getIoPriority(): number {
  return check(rawSyscall(PROCESS_SETTINGS_SYSCALLS.ioprio_get, 'int', IOPRIO_WHO_PROCESS, 'int', 0), 'ioprio_get');
}

/**
 * `struct sched_attr` (include/uapi/linux/sched/types.h), 56 bytes in the machine's byte order:
 * size u32 @0, sched_policy u32 @4, sched_flags u64 @8, sched_nice i32 @16, sched_priority u32 @20,
 * sched_runtime u64 @24, sched_deadline u64 @32, sched_period u64 @40, sched_util_min u32 @48,
 * sched_util_max u32 @52. The runtime-spec has no values for the utilization clamps; like runc (whose
 * unix.SchedAttr leaves them zero) tsrun passes 0, which matters only with SCHED_FLAG_UTIL_CLAMP_MIN/MAX.
 */
export function encodeSchedAttr(attr: SchedulerAttributes): Buffer {
  const buffer = Buffer.alloc(SCHED_ATTR_SIZE);
  const u32 = (value: number, offset: number) => (LITTLE_ENDIAN ? buffer.writeUInt32LE(value, offset) : buffer.writeUInt32BE(value, offset));
  const u64 = (value: bigint, offset: number) => (LITTLE_ENDIAN ? buffer.writeBigUInt64LE(value, offset) : buffer.writeBigUInt64BE(value, offset));
  u32(SCHED_ATTR_SIZE, 0);
  u32(attr.policy, 4);
  u64(BigInt(attr.flags), 8);
  if (LITTLE_ENDIAN) buffer.writeInt32LE(attr.nice, 16);
  else buffer.writeInt32BE(attr.nice, 16);
  u32(attr.priority, 20);
  u64(attr.runtime, 24);
  u64(attr.deadline, 32);
  u64(attr.period, 40);
  return buffer;
}

/** The inverse of encodeSchedAttr, for what sched_getattr(2) fills in. */
export function decodeSchedAttr(buffer: Buffer): SchedulerAttributes {
  const u32 = (offset: number) => (LITTLE_ENDIAN ? buffer.readUInt32LE(offset) : buffer.readUInt32BE(offset));
  const u64 = (offset: number) => (LITTLE_ENDIAN ? buffer.readBigUInt64LE(offset) : buffer.readBigUInt64BE(offset));
  return {
    policy: u32(4),
    flags: Number(u64(8)),
    nice: LITTLE_ENDIAN ? buffer.readInt32LE(16) : buffer.readInt32BE(16),
    priority: u32(20),
    runtime: u64(24),
    deadline: u64(32),
    period: u64(40),
  };
}

/** sched_setattr(0, attr, 0): policy, flags and parameters of the calling thread. */
export function setScheduler(attr: SchedulerAttributes): void {
  const buffer = encodeSchedAttr(attr);
  const result = rawSyscall(PROCESS_SETTINGS_SYSCALLS.sched_setattr, 'int', 0, 'void *', buffer, 'unsigned int', 0);
  check(result, 'sched_setattr', describeScheduler(attr));
}

/** sched_getattr(0, …) of the calling thread. */
export function getScheduler(): SchedulerAttributes {
  const buffer = Buffer.alloc(SCHED_ATTR_SIZE);
  const result = rawSyscall(PROCESS_SETTINGS_SYSCALLS.sched_getattr, 'int', 0, 'void *', buffer, 'unsigned int', SCHED_ATTR_SIZE, 'unsigned int', 0);
  check(result, 'sched_getattr');
  return decodeSchedAttr(buffer);
}

/** personality(2): the execution domain (PER_LINUX 0, PER_LINUX32 8) and flags; execve keeps it. */
export function setPersonality(persona: number): void {
  check(fn('int personality(unsigned long)')(persona), 'personality', `0x${persona.toString(16).padStart(4, '0')}`);
}

/** The caller's current persona. */
export function getPersonality(): number {
  return check(fn('int personality(unsigned long)')(PERSONALITY_QUERY), 'personality', 'query');
}

/**
 * sched_setaffinity(0, size, mask): `mask` is a cpu_set_t as 64-bit words, CPU n being bit n % 64 of
 * word n / 64 (what planCpuAffinity returns). A mask shorter than the kernel's is padded with zeros; CPUs
 * beyond the kernel's are ignored, and a mask without any usable CPU fails with EINVAL.
 */
export function setCpuAffinity(mask: readonly bigint[]): void {
  const buffer = encodeCpuMask(mask);
  const result = fn('int sched_setaffinity(int, size_t, const void *)')(0, buffer.length, buffer);
  check(result, 'sched_setaffinity', describeCpuMask(mask));
}

/** The caller's CPU affinity as 64-bit words (room for 8192 CPUs). */
export function getCpuAffinity(): bigint[] {
  const buffer = Buffer.alloc(1024);
  // glibc's wrapper returns 0 and zeroes what the kernel did not fill in.
  check(fn('int sched_getaffinity(int, size_t, void *)')(0, buffer.length, buffer), 'sched_getaffinity');
  const words: bigint[] = [];
  for (let offset = 0; offset < buffer.length; offset += 8) {
    words.push(LITTLE_ENDIAN ? buffer.readBigUInt64LE(offset) : buffer.readBigUInt64BE(offset));
  }
  while (words.length > 1 && words[words.length - 1] === 0n) words.pop();
  return words;
}

export function encodeCpuMask(mask: readonly bigint[]): Buffer {
  const buffer = Buffer.alloc(Math.max(1, mask.length) * 8);
  mask.forEach((word, i) => (LITTLE_ENDIAN ? buffer.writeBigUInt64LE(word, i * 8) : buffer.writeBigUInt64BE(word, i * 8)));
  return buffer;
}

/** `0-3,7` for a mask, for messages. */
export function describeCpuMask(mask: readonly bigint[]): string {
  const ranges: string[] = [];
  let start = -1;
  const total = mask.length * 64;
  for (let cpu = 0; cpu <= total; cpu++) {
    const set = cpu < total && ((mask[cpu >> 6]! >> BigInt(cpu & 63)) & 1n) === 1n;
    if (set && start < 0) start = cpu;
    if (!set && start >= 0) {
      ranges.push(start === cpu - 1 ? `${start}` : `${start}-${cpu - 1}`);
      start = -1;
    }
  }
  return ranges.length > 0 ? `cpus ${ranges.join(',')}` : 'no cpus';
}

function describeIoPriority(ioprio: number): string {
  const ioClass = ioprio >>> 13;
  return `${IOPRIO_CLASS_NAMES[ioClass] ?? `class ${ioClass}`} priority ${ioprio & 0x1fff}`;
}

function describeScheduler(attr: SchedulerAttributes): string {
  const parts = [POLICY_NAMES[attr.policy] ?? `policy ${attr.policy}`];
  if (attr.flags !== 0) parts.push(`flags 0x${attr.flags.toString(16)}`);
  if (attr.nice !== 0) parts.push(`nice ${attr.nice}`);
  if (attr.priority !== 0) parts.push(`priority ${attr.priority}`);
  if (attr.runtime !== 0n || attr.deadline !== 0n || attr.period !== 0n) {
    parts.push(`runtime ${attr.runtime} deadline ${attr.deadline} period ${attr.period}`);
  }
  return parts.join(' ');
}
