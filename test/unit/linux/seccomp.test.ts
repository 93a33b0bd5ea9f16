import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, RuntimeError } from '../../../src/errors';
import { SyscallError } from '../../../src/linux/errno';
import { koffi } from '../../../src/linux/libc';
import {
  compileSeccomp, libseccompVersion, prepareSeccompLoad, seccompArchToken, seccompSyscallNumber, SOCK_FILTER_SIZE,
} from '../../../src/linux/seccomp';
import { planSeccomp, type SeccompPlan } from '../../../src/spec/seccomp';
import { errorOf } from '../../helpers/errors';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const ALLOW = 0x7fff0000;
const KILL_THREAD = 0;
const errnoAction = (errno: number): number => (0x00050000 | errno) >>> 0;

/** What the kernel hands a seccomp filter (struct seccomp_data): nr, arch, instruction pointer, 6 args. */
interface SeccompData {
  nr: number;
  arch?: number;
  args?: bigint[];
}

/**
 * A classic-BPF interpreter for the instructions libseccomp emits, so the tests can check what a compiled filter
 * decides for a syscall without loading it (loading needs a throw-away process, see the last test).
 */
function runFilter(program: Buffer, data: SeccompData): number {
  const input = Buffer.alloc(64);
  input.writeInt32LE(data.nr, 0);
  input.writeUInt32LE(data.arch ?? seccompArchToken()!, 4);
  (data.args ?? []).forEach((arg, i) => input.writeBigUInt64LE(BigInt.asUintN(64, arg), 16 + 8 * i));
  const memory = new Array<number>(16).fill(0);
  let a = 0;
  let x = 0;
  for (let pc = 0; pc < program.length / SOCK_FILTER_SIZE; pc++) {
    const at = pc * SOCK_FILTER_SIZE;
    const code = program.readUInt16LE(at);
    const jt = program.readUInt8(at + 2);
    const jf = program.readUInt8(at + 3);
    const k = program.readUInt32LE(at + 4);
    const operand = (code & 0x08) !== 0 ? x : k;
    switch (code & 0x07) {
      case 0x00: // BPF_LD
        if ((code & 0xe0) === 0x20) a = input.readUInt32LE(k);
        else if ((code & 0xe0) === 0x00) a = k;
        else if ((code & 0xe0) === 0x60) a = memory[k]!;
        else if ((code & 0xe0) === 0x80) a = 64;
        else throw new Error(`unexpected ld 0x${code.toString(16)}`);
        break;
      case 0x01: // BPF_LDX
        if ((code & 0xe0) === 0x00) x = k;
        else if ((code & 0xe0) === 0x60) x = memory[k]!;
        else if ((code & 0xe0) === 0x80) x = 64;
        else throw new Error(`unexpected ldx 0x${code.toString(16)}`);
        break;
      case 0x02: memory[k] = a; break; // BPF_ST
      case 0x03: memory[k] = x; break; // BPF_STX
      case 0x04: { // BPF_ALU
        const ops: Record<number, () => number> = {
          0x00: () => a + operand, 0x10: () => a - operand, 0x20: () => Math.imul(a, operand), 0x40: () => a | operand,
          0x50: () => a & operand, 0x60: () => a << operand, 0x70: () => a >>> operand, 0x80: () => -a, 0xa0: () => a ^ operand,
        };
        const op = ops[code & 0xf0];
        if (!op) throw new Error(`unexpected alu 0x${code.toString(16)}`);
        a = op() >>> 0;
        break;
      }
      case 0x05: { // BPF_JMP
        const op = code & 0xf0;
        if (op === 0x00) { pc += k; break; }
        const taken = op === 0x10 ? a === operand : op === 0x20 ? a > operand : op === 0x30 ? a >= operand : op === 0x40 ? (a & operand) !== 0 : undefined;
        if (taken === undefined) throw new Error(`unexpected jmp 0x${code.toString(16)}`);
        pc += taken ? jt : jf;
        break;
      }
      case 0x06: return ((code & 0x18) === 0x10 ? a : k) >>> 0; // BPF_RET
      case 0x07: if (code === 0x07) x = a; else a = x; break; // BPF_MISC: TAX, TXA
    }
  }
  throw new Error('the filter ran off its end');
}

function nr(name: string, arch?: string): number {
  const value = seccompSyscallNumber(name, arch);
  if (value === undefined) throw new Error(`no syscall ${name}`);
  return value;
}

function plan(overrides: Partial<SeccompPlan>): SeccompPlan {
  return { defaultAction: ALLOW, architectures: [], flags: 0, rules: [], ...overrides };
}

describe('libseccomp binding', () => {
  it('loads libseccomp and resolves names', () => {
    expect(libseccompVersion()).toMatch(/^2\.\d+\.\d+$/);
    expect(seccompSyscallNumber('definitely_not_a_syscall')).toBeUndefined();
    expect(seccompArchToken('x86_64')).toBe(0xc000003e);
    expect(seccompArchToken('no-such-arch')).toBeUndefined();
    expect(seccompSyscallNumber('getpid', 'x86')).toBe(20);
    expect(seccompSyscallNumber('getpid', 'x86_64')).toBe(39);
  });

  it('lays out struct scmp_arg_cmp as libseccomp does (24 bytes, datum_a at 8)', () => {
    const k = koffi();
    const type = k.struct({ arg: 'uint32_t', op: 'int', datum_a: 'uint64_t', datum_b: 'uint64_t' });
    expect(k.sizeof(type)).toBe(24);
    expect(k.offsetof(type, 'datum_a')).toBe(8);
    expect(k.offsetof(type, 'datum_b')).toBe(16);
  });
});

describe('compileSeccomp', () => {
  it('returns a whole number of sock_filter instructions', () => {
    const program = compileSeccomp(plan({}));
    expect(program.length).toBeGreaterThan(0);
    expect(program.length % SOCK_FILTER_SIZE).toBe(0);
    expect(runFilter(program, { nr: nr('getpid') })).toBe(ALLOW);
  });

  it('applies the default action and unconditional rules', () => {
    const program = compileSeccomp(plan({
      defaultAction: errnoAction(1),
      rules: [{ names: ['getpid', 'getppid'], pointer: '/linux/seccomp/syscalls/0', action: ALLOW, conditions: [] }],
    }));
    expect(runFilter(program, { nr: nr('getpid') })).toBe(ALLOW);
    expect(runFilter(program, { nr: nr('getppid') })).toBe(ALLOW);
    expect(runFilter(program, { nr: nr('getuid') })).toBe(errnoAction(1));
  });

  it('skips syscall names libseccomp does not know, also next to known ones', () => {
    const only = compileSeccomp(plan({ rules: [{ names: ['no_such_syscall'], pointer: '/linux/seccomp/syscalls/0', action: errnoAction(5), conditions: [] }] }));
    expect(runFilter(only, { nr: nr('getpid') })).toBe(ALLOW);
    const mixed = compileSeccomp(plan({
      rules: [{ names: ['no_such_syscall', 'getpid'], pointer: '/linux/seccomp/syscalls/0', action: errnoAction(5), conditions: [] }],
    }));
    expect(runFilter(mixed, { nr: nr('getpid') })).toBe(errnoAction(5));
    expect(runFilter(mixed, { nr: nr('getuid') })).toBe(ALLOW);
  });

  it('ANDs the args of one entry and ORs entries that repeat an index (through planSeccomp)', () => {
    const program = compileSeccomp(planSeccomp({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        {
          names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 3,
          args: [{ index: 0, value: 5, op: 'SCMP_CMP_EQ' }, { index: 1, value: 0xff, valueTwo: 9, op: 'SCMP_CMP_MASKED_EQ' }],
        },
        {
          names: ['dup'], action: 'SCMP_ACT_ERRNO', errnoRet: 4,
          args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 0, value: 2, op: 'SCMP_CMP_EQ' }],
        },
      ],
    }));
    expect(runFilter(program, { nr: nr('kill'), args: [5n, 0x109n] })).toBe(errnoAction(3));
    expect(runFilter(program, { nr: nr('kill'), args: [5n, 0x108n] })).toBe(ALLOW);
    expect(runFilter(program, { nr: nr('kill'), args: [6n, 0x109n] })).toBe(ALLOW);
    expect(runFilter(program, { nr: nr('dup'), args: [1n] })).toBe(errnoAction(4));
    expect(runFilter(program, { nr: nr('dup'), args: [2n] })).toBe(errnoAction(4));
    expect(runFilter(program, { nr: nr('dup'), args: [3n] })).toBe(ALLOW);
  });

  it('compares full 64-bit values', () => {
    const big = (1n << 63n) + 5n;
    const program = compileSeccomp(planSeccomp({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['lseek'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0x100000000n, op: 'SCMP_CMP_GT' }] },
        { names: ['read'], action: 'SCMP_ACT_TRAP', args: [{ index: 2, value: big, op: 'SCMP_CMP_EQ' }] },
        { names: ['write'], action: 'SCMP_ACT_LOG', args: [{ index: 0, value: 2, op: 'SCMP_CMP_NE' }] },
      ],
    }));
    expect(runFilter(program, { nr: nr('lseek'), args: [0n, 0x100000001n] })).toBe(errnoAction(1));
    expect(runFilter(program, { nr: nr('lseek'), args: [0n, 0x100000000n] })).toBe(ALLOW);
    expect(runFilter(program, { nr: nr('lseek'), args: [0n, 0xffffffffn] })).toBe(ALLOW);
    expect(runFilter(program, { nr: nr('read'), args: [0n, 0n, big] })).toBe(0x00030000);
    expect(runFilter(program, { nr: nr('read'), args: [0n, 0n, 5n] })).toBe(ALLOW);
    expect(runFilter(program, { nr: nr('write'), args: [1n] })).toBe(0x7ffc0000);
    expect(runFilter(program, { nr: nr('write'), args: [2n] })).toBe(ALLOW);
  });

  it('adds architectures (the native one again is fine) and kills other ones', () => {
    const program = compileSeccomp(plan({
      architectures: ['x86_64', 'x86', 'x32'],
      rules: [{ names: ['getpid'], pointer: '/linux/seccomp/syscalls/0', action: errnoAction(7), conditions: [] }],
    }));
    expect(runFilter(program, { nr: nr('getpid', 'x86'), arch: seccompArchToken('x86')! })).toBe(errnoAction(7));
    expect(runFilter(program, { nr: nr('getuid', 'x86'), arch: seccompArchToken('x86')! })).toBe(ALLOW);
    expect(runFilter(program, { nr: nr('getpid', 'aarch64'), arch: seccompArchToken('aarch64')! })).toBe(KILL_THREAD);
  });

  it('compiles KILL_PROCESS, TRACE and NOTIFY actions', () => {
    const program = compileSeccomp(planSeccomp({
      defaultAction: 'SCMP_ACT_ALLOW',
      listenerPath: '/run/agent.sock',
      syscalls: [
        { names: ['getpid'], action: 'SCMP_ACT_KILL_PROCESS' },
        { names: ['getuid'], action: 'SCMP_ACT_TRACE', errnoRet: 42 },
        { names: ['getgid'], action: 'SCMP_ACT_NOTIFY' },
      ],
    }));
    expect(runFilter(program, { nr: nr('getpid') })).toBe(0x80000000);
    expect(runFilter(program, { nr: nr('getuid') })).toBe(0x7ff0002a);
    expect(runFilter(program, { nr: nr('getgid') })).toBe(0x7fc00000);
  });

  it('names the architecture libseccomp does not know', () => {
    const error = errorOf(() => compileSeccomp(plan({ architectures: ['x86_64', 'vax'] })));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/^config\.json: \/linux\/seccomp\/architectures\/1 names an architecture libseccomp 2\.\d+\.\d+ does not know, got "vax"$/);
  });

  it('names the call, the syscall and the pointer when libseccomp refuses a rule', () => {
    const error = errorOf(() => compileSeccomp(plan({
      rules: [{ names: ['getpid'], pointer: '/linux/seccomp/syscalls/4', action: errnoAction(1), conditions: [{ index: 0, op: 99, value: 0n, valueTwo: 0n }] }],
    })));
    expect(error).toBeInstanceOf(SyscallError);
    expect(error.message).toBe('seccomp: seccomp_rule_add_array `getpid` (/linux/seccomp/syscalls/4): EINVAL (Invalid argument)');
  });
});

describe('prepareSeccompLoad', () => {
  it('refuses a program that is not whole instructions', () => {
    const error = errorOf(() => prepareSeccompLoad(Buffer.alloc(12), 0));
    expect(error).toBeInstanceOf(RuntimeError);
    expect(error.message).toBe('seccomp: the filter is 12 bytes, not a whole number of 8-byte instructions');
  });

  it('refuses a program longer than the kernel takes', () => {
    expect(errorOf(() => prepareSeccompLoad(Buffer.alloc(4097 * 8), 0)).message)
      .toBe('seccomp: the filter has 4097 instructions, the kernel loads at most 4096');
  });

  it('reports the errno of a refused load (an invalid program, so nothing is ever loaded here)', () => {
    // One `A = seccomp_data.nr` without a return: the kernel refuses it with EINVAL, or with EACCES first when
    // the caller has neither no_new_privs nor CAP_SYS_ADMIN. Either way this test process stays unfiltered.
    const invalid = Buffer.alloc(8);
    invalid.writeUInt16LE(0x20, 0);
    const error = errorOf(prepareSeccompLoad(invalid, 0));
    expect(error).toBeInstanceOf(SyscallError);
    expect(['EINVAL', 'EACCES']).toContain(error.message.match(/: (E[A-Z]+) /)?.[1]);
    expect(error.message).toMatch(/^seccomp filter of 1 instructions: /);
  });
});

describe('loading a compiled filter (in a child process)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-seccomp-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('filters the process that loads it and returns the listener fd', () => {
    // The child sets no_new_privs (so no privilege is needed), loads a filter that fails mkdir with EOPNOTSUPP
    // and sends acct(2) to a listener, then reports what it sees. The TypeScript sources are bundled for it;
    // koffi stays external and is found through NODE_PATH.
    const script = `
      import fs from 'node:fs';
      import { compileSeccomp, prepareSeccompLoad } from './src/linux/seccomp';
      import { fn } from './src/linux/libc';
      import { planSeccomp } from './src/spec/seccomp';
      const plan = planSeccomp({
        defaultAction: 'SCMP_ACT_ALLOW',
        listenerPath: '/unused.sock',
        syscalls: [
          { names: ['mkdir', 'mkdirat', 'no_such_syscall'], action: 'SCMP_ACT_ERRNO', errnoRet: 95 },
          { names: ['acct'], action: 'SCMP_ACT_NOTIFY' },
        ],
      });
      const load = prepareSeccompLoad(compileSeccomp(plan), plan.flags);
      if (fn('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)')(38, 1, 0, 0, 0) !== 0) throw new Error('PR_SET_NO_NEW_PRIVS failed');
      const listener = load();
      let mkdir = 'created';
      try { fs.mkdirSync(process.argv[2]); } catch (error) { mkdir = error.code; }
      const status = fs.readFileSync('/proc/self/status', 'utf8');
      console.log(JSON.stringify({
        listener,
        listenerLink: fs.readlinkSync('/proc/self/fd/' + listener),
        mkdir,
        mode: /^Seccomp:\\s*(\\d+)/m.exec(status)[1],
      }));
    `;
    const bundle = path.join(dir, 'load.mjs');
    buildSync({
      stdin: { contents: script, resolveDir: ROOT, loader: 'ts', sourcefile: 'load.ts' },
      bundle: true, platform: 'node', format: 'esm', external: ['koffi'], outfile: bundle, logLevel: 'silent',
    });
    const child = spawnSync(process.execPath, [bundle, path.join(dir, 'made-by-child')], {
      encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') },
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const report = JSON.parse(child.stdout) as { listener: number; listenerLink: string; mkdir: string; mode: string };
    expect(report.mkdir).toMatch(/^(EOPNOTSUPP|ENOTSUP)$/);
    expect(fs.existsSync(path.join(dir, 'made-by-child'))).toBe(false);
    expect(report.mode).toBe('2');
    expect(report.listener).toBeGreaterThan(2);
    expect(report.listenerLink).toBe('anon_inode:seccomp notify');
  });
});
