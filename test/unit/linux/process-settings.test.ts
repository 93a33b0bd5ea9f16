import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SCHED_ATTR_SIZE,
  decodeSchedAttr,
  describeCpuMask,
  encodeCpuMask,
  encodeSchedAttr,
  type SchedulerAttributes,
} from '../../../src/linux/process-settings';
import { planCpuAffinity, planIoPriority, planPersonality, planScheduler } from '../../../src/spec/process-settings';

/**
 * The calls change the process that makes them, so each case runs in a child node process: the module is
 * bundled with esbuild into a temp dir, the child applies the settings and reads them back with calls of its
 * own (ioprio_get, sched_getattr, personality(0xffffffff), sched_getaffinity) and from /proc/self, and can run
 * a program to show what execve hands on. When the tests run as root, the cases that must work without
 * privilege run as nobody (uid 65534), to prove it.
 */

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../../..');
const NODE = path.join(REPO, 'node_modules', '.bin', 'node');
const ROOT = process.getuid?.() === 0;
const X64 = process.arch !== 'arm64';
const NOBODY = 65534;

const CHILD = `
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import koffi from 'koffi';
import * as settings from './settings.mjs';

const NR = process.arch === 'arm64' ? { ioprio_get: 31, sched_getattr: 275 } : { ioprio_get: 252, sched_getattr: 315 };
const libc = koffi.load('libc.so.6');
const syscall = libc.func('long syscall(long, ...)');
const personality = libc.func('int personality(unsigned long)');
const getaffinity = libc.func('int sched_getaffinity(int, size_t, void *)');

function read() {
  const attr = Buffer.alloc(56);
  const got = Number(syscall(NR.sched_getattr, 'int', 0, 'void *', attr, 'unsigned int', 56, 'unsigned int', 0));
  const mask = Buffer.alloc(1024);
  getaffinity(0, mask.length, mask);
  const cpus = [];
  for (let cpu = 0; cpu < mask.length * 8; cpu++) if (mask[cpu >> 3] & (1 << (cpu & 7))) cpus.push(cpu);
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 of proc(5)
  return {
    ioprio: Number(syscall(NR.ioprio_get, 'int', 1, 'int', 0)),
    sched: got < 0 ? null : {
      policy: attr.readUInt32LE(4), flags: Number(attr.readBigUInt64LE(8)), nice: attr.readInt32LE(16),
      priority: attr.readUInt32LE(20), runtime: String(attr.readBigUInt64LE(24)),
      deadline: String(attr.readBigUInt64LE(32)), period: String(attr.readBigUInt64LE(40)),
    },
    personality: personality(0xffffffff),
    cpus,
    cpusAllowedList: /Cpus_allowed_list:\\s*(\\S+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1],
    statNice: Number(fields[16]),
    statRtPriority: Number(fields[37]),
    statPolicy: Number(fields[38]),
  };
}

const revive = (_key, value) => (typeof value === 'string' && /^-?\\d+n$/.test(value) ? BigInt(value.slice(0, -1)) : value);
const steps = JSON.parse(process.argv[2], revive);
const exec = JSON.parse(process.argv[3]);
const result = { before: read() };
try {
  for (const [name, arg] of steps) settings[name](arg);
} catch (error) {
  result.error = { name: error.name, message: error.message, errno: error.errno, operation: error.operation };
}
result.after = read();
const sched = settings.getScheduler();
result.getters = {
  ioprio: settings.getIoPriority(),
  sched: { ...sched, runtime: String(sched.runtime), deadline: String(sched.deadline), period: String(sched.period) },
  personality: settings.getPersonality(),
  affinity: settings.getCpuAffinity().map(String),
};
if (exec.length > 0) {
  const ran = spawnSync(exec[0], exec.slice(1), { encoding: 'utf8' });
  result.exec = { status: ran.status, stdout: ran.stdout, stderr: ran.stderr, error: ran.error?.message };
}
console.log(JSON.stringify(result));
`;

interface Reading {
  ioprio: number;
  sched: { policy: number; flags: number; nice: number; priority: number; runtime: string; deadline: string; period: string } | null;
  personality: number;
  cpus: number[];
  cpusAllowedList: string;
  statNice: number;
  statRtPriority: number;
  statPolicy: number;
}

interface ChildResult {
  before: Reading;
  after: Reading;
  error?: { name: string; message: string; errno: number; operation: string };
  /** What the module's own getters report after the steps. */
  getters: { ioprio: number; sched: NonNullable<Reading['sched']>; personality: number; affinity: string[] };
  exec?: { status: number | null; stdout: string; stderr: string; error?: string };
}

type Step =
  | ['setIoPriority', number]
  | ['setScheduler', SchedulerAttributes]
  | ['setPersonality', number]
  | ['setCpuAffinity', bigint[]];

let dir = '';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-process-settings-'));
  fs.chmodSync(dir, 0o755); // nobody runs the child too
  buildSync({
    entryPoints: [path.join(REPO, 'src', 'linux', 'process-settings.ts')],
    outfile: path.join(dir, 'settings.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    external: ['koffi'],
    logLevel: 'silent',
  });
  fs.writeFileSync(path.join(dir, 'child.mjs'), CHILD);
  // libc.ts resolves koffi next to the bundle: let it find the repo's.
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `steps` in a fresh child (as nobody when `unprivileged` and the tests run as root), then `exec`. */
function run(steps: Step[], options: { unprivileged?: boolean; exec?: string[] } = {}): ChildResult {
  const encoded = JSON.stringify(steps, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value));
  const asNobody = options.unprivileged === true && ROOT;
  const child = spawnSync(NODE, [path.join(dir, 'child.mjs'), encoded, JSON.stringify(options.exec ?? [])], {
    encoding: 'utf8',
    timeout: 30_000,
    ...(asNobody ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  return JSON.parse(child.stdout) as ChildResult;
}

/** nice a child may take without privilege: no lower than what it inherits. */
const NICE = Math.max(5, os.getPriority());
const ioprio = (ioClass: string, priority: number) => planIoPriority({ class: ioClass, priority })!.ioprio;
const scheduler = (value: Record<string, unknown>) => planScheduler(value)!;

describe('sched_attr and cpu mask encoding', () => {
  it('lays out struct sched_attr as include/uapi/linux/sched/types.h (56 bytes)', () => {
    const attr: SchedulerAttributes = {
      policy: 6, flags: 0x41, nice: -3, priority: 7, runtime: 0x1122334455667788n, deadline: 2n ** 63n - 1n, period: 2n ** 64n - 1n,
    };
    const buffer = encodeSchedAttr(attr);
    expect(buffer.length).toBe(SCHED_ATTR_SIZE);
    expect(SCHED_ATTR_SIZE).toBe(56);
    expect(buffer.readUInt32LE(0)).toBe(56);
    expect(buffer.readUInt32LE(4)).toBe(6);
    expect(buffer.readBigUInt64LE(8)).toBe(0x41n);
    expect(buffer.readInt32LE(16)).toBe(-3);
    expect(buffer.readUInt32LE(20)).toBe(7);
    expect(buffer.readBigUInt64LE(24)).toBe(0x1122334455667788n);
    expect(buffer.readBigUInt64LE(32)).toBe(2n ** 63n - 1n);
    expect(buffer.readBigUInt64LE(40)).toBe(2n ** 64n - 1n);
    expect(buffer.readUInt32LE(48)).toBe(0); // sched_util_min: the spec has no value (runc passes 0 too)
    expect(buffer.readUInt32LE(52)).toBe(0); // sched_util_max
    expect(decodeSchedAttr(buffer)).toEqual(attr);
  });

  it('writes cpu masks as 64-bit words, CPU n at bit n % 64 of word n / 64', () => {
    const mask = planCpuAffinity({ initial: '0,9,64-65' })!.initial!;
    const buffer = encodeCpuMask(mask);
    expect(buffer.length).toBe(16);
    expect([...buffer]).toEqual([0x01, 0x02, 0, 0, 0, 0, 0, 0, 0x03, 0, 0, 0, 0, 0, 0, 0]);
    expect(encodeCpuMask([]).length).toBe(8);
  });

  it('describes masks as cpu lists for messages', () => {
    expect(describeCpuMask(planCpuAffinity({ initial: '0-3,7,9-10,63-64' })!.initial!)).toBe('cpus 0-3,7,9-10,63-64');
    expect(describeCpuMask([0n])).toBe('no cpus');
    expect(describeCpuMask([])).toBe('no cpus');
  });
});

describe('setIoPriority (ioprio_set)', () => {
  it('sets IOPRIO_CLASS_BE priority 6 without privilege', () => {
    const result = run([['setIoPriority', ioprio('IOPRIO_CLASS_BE', 6)]], { unprivileged: true });
    expect(result.error).toBeUndefined();
    expect(result.before.ioprio).not.toBe(0x4006);
    expect(result.after.ioprio).toBe(0x4006);
  });

  it('sets the idle class without privilege', () => {
    const result = run([['setIoPriority', ioprio('IOPRIO_CLASS_IDLE', 0)]], { unprivileged: true });
    expect(result.error).toBeUndefined();
    expect(result.after.ioprio >> 13).toBe(3);
  });

  it.skipIf(!fs.existsSync('/usr/bin/ionice'))('is inherited by what the process runs (ionice agrees)', () => {
    const result = run([['setIoPriority', ioprio('IOPRIO_CLASS_BE', 6)]], { unprivileged: true, exec: ['/usr/bin/ionice'] });
    expect(result.exec?.stdout.trim()).toBe('best-effort: prio 6');
  });

  it('refuses the real-time class without privilege, naming the call and the class', () => {
    const result = run([['setIoPriority', ioprio('IOPRIO_CLASS_RT', 4)]], { unprivileged: true });
    expect(result.error).toEqual({
      name: 'SyscallError', operation: 'ioprio_set', errno: 1,
      message: 'ioprio_set IOPRIO_CLASS_RT priority 4: EPERM (Operation not permitted)',
    });
    expect(result.after.ioprio).toBe(result.before.ioprio);
  });

  it.skipIf(!ROOT)('sets the real-time class as root', () => {
    const result = run([['setIoPriority', ioprio('IOPRIO_CLASS_RT', 4)]]);
    expect(result.error).toBeUndefined();
    expect(result.after.ioprio).toBe(0x2004);
  });

  it('reports EINVAL for a class the kernel does not have', () => {
    const result = run([['setIoPriority', 7 << 13]], { unprivileged: true });
    expect(result.error).toEqual({
      name: 'SyscallError', operation: 'ioprio_set', errno: 22, message: 'ioprio_set class 7 priority 0: EINVAL (Invalid argument)',
    });
  });
});

describe('setScheduler (sched_setattr)', () => {
  it(`sets SCHED_BATCH with nice ${NICE} without privilege`, () => {
    const result = run([['setScheduler', scheduler({ policy: 'SCHED_BATCH', nice: NICE })]], { unprivileged: true });
    expect(result.error).toBeUndefined();
    expect(result.before.sched?.policy).toBe(0);
    expect(result.after.sched).toMatchObject({ policy: 3, nice: NICE, priority: 0, flags: 0 });
    expect(result.after.statPolicy).toBe(3);
    expect(result.after.statNice).toBe(NICE);
  });

  it('hands policy and nice on to what the process runs', () => {
    const result = run([['setScheduler', scheduler({ policy: 'SCHED_BATCH', nice: NICE })]], { unprivileged: true, exec: ['cat', '/proc/self/stat'] });
    const stat = result.exec!.stdout;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    expect(Number(fields[38])).toBe(3);
    expect(Number(fields[16])).toBe(NICE);
  });

  it('passes the flags: sched_getattr reports SCHED_FLAG_RESET_ON_FORK', () => {
    const plan = scheduler({ policy: 'SCHED_BATCH', nice: NICE, flags: ['SCHED_FLAG_RESET_ON_FORK'] });
    const result = run([['setScheduler', plan]], { unprivileged: true, exec: ['cat', '/proc/self/stat'] });
    expect(result.error).toBeUndefined();
    expect(result.after.sched).toMatchObject({ policy: 3, nice: NICE, flags: 1 });
    // The flag resets only real-time and deadline policies and negative nice values on fork: SCHED_BATCH stays.
    const stat = result.exec!.stdout;
    expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38])).toBe(3);
  });

  it('sets SCHED_IDLE without privilege', () => {
    const result = run([['setScheduler', scheduler({ policy: 'SCHED_IDLE' })]], { unprivileged: true });
    expect(result.error).toBeUndefined();
    expect(result.after.sched?.policy).toBe(5);
    expect(result.after.statPolicy).toBe(5);
  });

  it('refuses a lower nice without privilege, naming the call and the settings', () => {
    const result = run([['setScheduler', scheduler({ policy: 'SCHED_OTHER', nice: -5 })]], { unprivileged: true });
    expect(result.error).toEqual({
      name: 'SyscallError', operation: 'sched_setattr', errno: 1, message: 'sched_setattr SCHED_OTHER nice -5: EPERM (Operation not permitted)',
    });
    expect(result.after.sched).toEqual(result.before.sched);
  });

  it('refuses SCHED_FIFO without privilege', () => {
    const result = run([['setScheduler', scheduler({ policy: 'SCHED_FIFO', priority: 10 })]], { unprivileged: true });
    expect(result.error?.message).toBe('sched_setattr SCHED_FIFO priority 10: EPERM (Operation not permitted)');
  });

  it.skipIf(!ROOT)('sets SCHED_RR with its priority as root; SCHED_FLAG_RESET_ON_FORK gives children SCHED_OTHER', () => {
    const plan = scheduler({ policy: 'SCHED_RR', priority: 10, flags: ['SCHED_FLAG_RESET_ON_FORK'] });
    const result = run([['setScheduler', plan]], { exec: ['cat', '/proc/self/stat'] });
    expect(result.error).toBeUndefined();
    expect(result.after.sched).toMatchObject({ policy: 2, priority: 10, flags: 1 });
    expect(result.after.statPolicy).toBe(2);
    expect(result.after.statRtPriority).toBe(10);
    const stat = result.exec!.stdout;
    expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38])).toBe(0);
  });

  it.skipIf(!ROOT)('without SCHED_FLAG_RESET_ON_FORK children keep SCHED_RR', () => {
    const result = run([['setScheduler', scheduler({ policy: 'SCHED_RR', priority: 10 })]], { exec: ['cat', '/proc/self/stat'] });
    expect(result.error).toBeUndefined();
    const stat = result.exec!.stdout;
    expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38])).toBe(2);
  });

  it.skipIf(!ROOT)('sets SCHED_DEADLINE with its 64-bit parameters as root', (context) => {
    const plan = scheduler({ policy: 'SCHED_DEADLINE', runtime: 10_000_000, deadline: 30_000_000, period: 40_000_000 });
    const result = run([['setScheduler', plan]]);
    // Admission control or a missing CAP_SYS_NICE (root in a container) can refuse it: nothing to check then.
    if (result.error && ['EBUSY', 'EPERM'].some((name) => result.error!.message.includes(name))) context.skip();
    expect(result.error).toBeUndefined();
    expect(result.after.sched).toMatchObject({ policy: 6, runtime: '10000000', deadline: '30000000', period: '40000000' });
  });

  it('reports EINVAL for a policy the kernel does not have', () => {
    const result = run([['setScheduler', { ...scheduler({ policy: 'SCHED_OTHER' }), policy: 99 }]], { unprivileged: true });
    expect(result.error).toEqual({
      name: 'SyscallError', operation: 'sched_setattr', errno: 22, message: 'sched_setattr policy 99: EINVAL (Invalid argument)',
    });
  });
});

describe('setPersonality (personality)', () => {
  it('sets PER_LINUX32 without privilege, and execve keeps it: uname -m shows the 32-bit machine', (context) => {
    const result = run([['setPersonality', planPersonality({ domain: 'LINUX32' })!.persona]], { unprivileged: true, exec: ['uname', '-m'] });
    expect(result.error).toBeUndefined();
    expect(result.before.personality).toBe(0);
    expect(result.after.personality).toBe(8);
    const machine = result.exec?.stdout.trim();
    if (!X64 && machine === 'aarch64') context.skip(); // an arm64 kernel without 32-bit support
    expect(machine).toBe(X64 ? 'i686' : 'armv8l');
  });

  it('sets PER_LINUX back', () => {
    const steps: Step[] = [['setPersonality', 8], ['setPersonality', planPersonality({ domain: 'LINUX' })!.persona]];
    const result = run(steps, { unprivileged: true, exec: ['uname', '-m'] });
    expect(result.error).toBeUndefined();
    expect(result.after.personality).toBe(0);
    expect(result.exec?.stdout.trim()).toBe(os.machine());
  });
});

describe('setCpuAffinity (sched_setaffinity)', () => {
  it('pins the process to CPU 0 without privilege, and execve keeps it', () => {
    const mask = planCpuAffinity({ final: '0' })!.final!;
    const result = run([['setCpuAffinity', mask]], { unprivileged: true, exec: ['cat', '/proc/self/status'] });
    expect(result.error).toBeUndefined();
    expect(result.after.cpus).toEqual([0]);
    expect(result.after.cpusAllowedList).toBe('0');
    expect(/Cpus_allowed_list:\s*(\S+)/.exec(result.exec!.stdout)?.[1]).toBe('0');
  });

  it('applies initial then final, final winning (the order the init applies them)', () => {
    const plan = planCpuAffinity({ initial: '0', final: `0-${os.availableParallelism() - 1}` })!;
    const result = run([['setCpuAffinity', plan.initial!], ['setCpuAffinity', plan.final!]], { unprivileged: true });
    expect(result.error).toBeUndefined();
    expect(result.after.cpus).toEqual(result.before.cpus);
  });

  it('accepts masks longer than the kernel\'s and ignores CPUs it does not have', () => {
    const mask = planCpuAffinity({ initial: '0,65536' })!.initial!;
    expect(mask).toHaveLength(1025);
    const result = run([['setCpuAffinity', mask]], { unprivileged: true });
    expect(result.error).toBeUndefined();
    expect(result.after.cpus).toEqual([0]);
  });

  it('reports EINVAL for a mask without a CPU the machine has', () => {
    const mask = planCpuAffinity({ initial: '65536' })!.initial!;
    const result = run([['setCpuAffinity', mask]], { unprivileged: true });
    expect(result.error).toEqual({
      name: 'SyscallError', operation: 'sched_setaffinity', errno: 22, message: 'sched_setaffinity cpus 65536: EINVAL (Invalid argument)',
    });
    expect(result.after.cpus).toEqual(result.before.cpus);
  });
});

describe('the getters', () => {
  it('report what the kernel reports to other callers', () => {
    const steps: Step[] = [
      ['setIoPriority', ioprio('IOPRIO_CLASS_BE', 3)],
      ['setScheduler', scheduler({ policy: 'SCHED_BATCH', nice: NICE, flags: ['SCHED_FLAG_RESET_ON_FORK'] })],
      ['setPersonality', 8],
      ['setCpuAffinity', planCpuAffinity({ initial: '0' })!.initial!],
    ];
    const result = run(steps, { unprivileged: true });
    expect(result.error).toBeUndefined();
    expect(result.getters).toEqual({
      ioprio: result.after.ioprio,
      sched: result.after.sched,
      personality: result.after.personality,
      affinity: ['1'],
    });
    expect(result.getters.ioprio).toBe(0x4003);
  });
});

describe('all four, planned from one config and applied in init order', () => {
  it('applies initial affinity, I/O priority, scheduler, personality, final affinity', () => {
    const spec = {
      process: {
        ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 7 },
        scheduler: { policy: 'SCHED_BATCH', nice: Math.max(10, NICE) },
        execCPUAffinity: { initial: '0', final: '0' },
      },
      linux: { personality: { domain: 'LINUX32' } },
    };
    const affinity = planCpuAffinity(spec.process.execCPUAffinity)!;
    const steps: Step[] = [
      ['setCpuAffinity', affinity.initial!],
      ['setIoPriority', planIoPriority(spec.process.ioPriority)!.ioprio],
      ['setScheduler', planScheduler(spec.process.scheduler)!],
      ['setPersonality', planPersonality(spec.linux.personality)!.persona],
      ['setCpuAffinity', affinity.final!],
    ];
    const result = run(steps, { unprivileged: true, exec: ['uname', '-m'] });
    expect(result.error).toBeUndefined();
    expect(result.after).toMatchObject({
      ioprio: 0x4007,
      sched: { policy: 3, nice: Math.max(10, NICE) },
      personality: 8,
      cpus: [0],
    });
    if (X64) expect(result.exec?.stdout.trim()).toBe('i686');
  });
});
