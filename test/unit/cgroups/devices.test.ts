import { describe, expect, it } from 'vitest';
import {
  BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE, BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR, BpfOp,
  DEFAULT_ALLOWED_DEVICES, compileDeviceProgram, deviceCgroupModel, parseDeviceRules, planV1DeviceWrites,
  type DeviceCgroupModel,
} from '../../../src/cgroups/devices';
import { ConfigError } from '../../../src/errors';
import { errorOf } from '../../helpers/errors';

// ---------------------------------------------------------------------------------------------------------
// A tiny eBPF interpreter for exactly the opcodes compileDeviceProgram emits, strict like the verifier:
// unknown opcodes, backward or out-of-range jumps, unreadable context offsets, reads of registers never
// written and an exit without r0 all fail the test. Registers are 64-bit (bigint) so sign extension of
// immediates behaves as in the kernel.
// ---------------------------------------------------------------------------------------------------------

const U64 = (value: bigint): bigint => BigInt.asUintN(64, value);
const U32 = (value: bigint): bigint => BigInt.asUintN(32, value);
const imm64 = (imm: number): bigint => U64(BigInt(imm)); // sign-extended imm, as JMP/ALU64 see it

interface Insn { op: number; dst: number; src: number; off: number; imm: number }

function decode(program: Buffer): Insn[] {
  expect(program.length % 8).toBe(0);
  const insns: Insn[] = [];
  for (let at = 0; at < program.length; at += 8) {
    insns.push({ op: program.readUInt8(at), dst: program.readUInt8(at + 1) & 0xf, src: program.readUInt8(at + 1) >> 4, off: program.readInt16LE(at + 2), imm: program.readInt32LE(at + 4) });
  }
  return insns;
}

const CTX = 0xc0ffee00n; // the pointer value r1 holds; loads through it read the context

function run(program: Buffer, type: number, access: number, major: number, minor: number): number {
  const insns = decode(program);
  const ctx = [((access << 16) | type) >>> 0, major >>> 0, minor >>> 0];
  const regs: (bigint | undefined)[] = new Array(11).fill(undefined);
  regs[1] = CTX;
  const read = (r: number): bigint => {
    const value = regs[r];
    if (value === undefined) throw new Error(`read of uninitialized r${r}`);
    return value;
  };
  let pc = 0;
  for (let steps = 0; steps < 10_000; steps++) {
    const insn = insns[pc];
    if (!insn) throw new Error(`pc ${pc} out of the program`);
    let next = pc + 1;
    const jump = (taken: boolean): void => {
      if (insn.off < 0) throw new Error(`backward jump at ${pc}`);
      if (taken) next = pc + 1 + insn.off;
    };
    switch (insn.op) {
      case BpfOp.LDX_MEM_W: {
        if (read(insn.src) !== CTX || ![0, 4, 8].includes(insn.off)) throw new Error(`bad context load at ${pc}`);
        regs[insn.dst] = BigInt(ctx[insn.off / 4]!);
        break;
      }
      case BpfOp.ALU32_AND_K: regs[insn.dst] = U32(read(insn.dst) & U32(BigInt(insn.imm))); break;
      case BpfOp.ALU32_RSH_K: regs[insn.dst] = U32(read(insn.dst)) >> BigInt(insn.imm); break;
      case BpfOp.ALU32_MOV_K: regs[insn.dst] = U32(BigInt(insn.imm)); break;
      case BpfOp.ALU32_MOV_X: regs[insn.dst] = U32(read(insn.src)); break;
      case BpfOp.JMP_JNE_K: jump(read(insn.dst) !== imm64(insn.imm)); break;
      case BpfOp.JMP_JNE_X: jump(read(insn.dst) !== read(insn.src)); break;
      case BpfOp.JMP_JEQ_K: jump(read(insn.dst) === imm64(insn.imm)); break;
      case BpfOp.JMP_EXIT: return Number(read(0));
      default: throw new Error(`opcode 0x${insn.op.toString(16)} at ${pc} is not one the compiler should emit`);
    }
    pc = next;
  }
  throw new Error('no exit');
}

/** Every instruction reachable from the first (the verifier refuses dead code), jumps forward and in range. */
function checkShape(program: Buffer): void {
  const insns = decode(program);
  const reached = new Set<number>();
  const todo = [0];
  while (todo.length > 0) {
    const pc = todo.pop()!;
    if (reached.has(pc)) continue;
    expect(pc).toBeLessThan(insns.length);
    reached.add(pc);
    const insn = insns[pc]!;
    if (insn.op === BpfOp.JMP_EXIT) continue;
    if ([BpfOp.JMP_JNE_K, BpfOp.JMP_JNE_X, BpfOp.JMP_JEQ_K].includes(insn.op as never)) {
      expect(insn.off).toBeGreaterThanOrEqual(0);
      todo.push(pc + 1 + insn.off);
    }
    todo.push(pc + 1);
  }
  expect(reached.size).toBe(insns.length);
  expect(insns.at(-1)!.op).toBe(BpfOp.JMP_EXIT);
}

type Kind = 'b' | 'c';
type Case = [Kind, number, number, string, 'allow' | 'deny'];

const KIND = { b: BPF_DEVCG_DEV_BLOCK, c: BPF_DEVCG_DEV_CHAR };
const BITS: Record<string, number> = { r: BPF_DEVCG_ACC_READ, w: BPF_DEVCG_ACC_WRITE, m: BPF_DEVCG_ACC_MKNOD };
const bits = (access: string): number => [...access].reduce((sum, ch) => sum | BITS[ch]!, 0);

function verdicts(program: Buffer, cases: Case[]): string[] {
  return cases.map(([kind, major, minor, access]) => {
    const result = run(program, KIND[kind], bits(access), major, minor);
    return `${kind} ${major}:${minor} ${access} ${result === 1 ? 'allow' : result === 0 ? 'deny' : `returned ${result}`}`;
  });
}

function expectTable(rules: unknown, cases: Case[], options: { defaults?: boolean } = { defaults: false }): void {
  const program = compileDeviceProgram(rules, options);
  checkShape(program);
  expect(verdicts(program, cases)).toEqual(cases.map(([kind, major, minor, access, verdict]) => `${kind} ${major}:${minor} ${access} ${verdict}`));
}

/**
 * The cgroup v1 kernel's decision over a model, written from the kernel's devcgroup_legacy_check_permission:
 * default deny → one exception must hold all requested bits; default allow → any matching exception holding
 * any requested bit denies.
 */
function kernelDecision(model: DeviceCgroupModel, kind: Kind, major: number, minor: number, access: number): number {
  const matching = model.exceptions.filter((e) => e.type === kind && (e.major === undefined || e.major === major) && (e.minor === undefined || e.minor === minor));
  if (model.defaultAllow) return matching.some((e) => (e.access & access) !== 0) ? 0 : 1;
  return matching.some((e) => (access & ~e.access) === 0) ? 1 : 0;
}

describe('DEFAULT_ALLOWED_DEVICES', () => {
  it('is runc\'s AllowedDevices list, in its order', () => {
    expect(DEFAULT_ALLOWED_DEVICES.map((r) => `${r.type} ${r.major ?? '*'}:${r.minor ?? '*'} ${r.access}`)).toEqual([
      'c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:8 rwm', 'c 1:7 rwm', 'c 5:0 rwm', 'c 1:5 rwm', 'c 1:9 rwm',
      'c 136:* rwm', 'c 5:2 rwm', 'c 10:200 rwm',
    ]);
    expect(DEFAULT_ALLOWED_DEVICES.every((r) => r.allow)).toBe(true);
    expect(Object.isFrozen(DEFAULT_ALLOWED_DEVICES) && Object.isFrozen(DEFAULT_ALLOWED_DEVICES[0])).toBe(true);
  });
});

describe('planV1DeviceWrites', () => {
  const defaultWrites = DEFAULT_ALLOWED_DEVICES.map((r) => ({
    controller: 'devices', file: 'devices.allow', value: `${r.type} ${r.major ?? '*'}:${r.minor ?? '*'} ${r.access}`, pointer: '/linux/resources/devices',
  }));
  const denyAll = { controller: 'devices', file: 'devices.deny', value: 'a *:* rwm', pointer: '/linux/resources/devices' };

  it('runc\'s default config: deny all, the config\'s deny-all, then the default allow rules', () => {
    expect(planV1DeviceWrites([{ allow: false, access: 'rwm' }])).toEqual([
      denyAll,
      { controller: 'devices', file: 'devices.deny', value: 'a *:* rwm', pointer: '/linux/resources/devices/0' },
      ...defaultWrites,
    ]);
  });

  it('no rules at all still denies everything but the defaults', () => {
    expect(planV1DeviceWrites(undefined)).toEqual([denyAll, ...defaultWrites]);
    expect(planV1DeviceWrites([])).toEqual([denyAll, ...defaultWrites]);
  });

  it('writes the config\'s rules in order, to allow or deny, with wildcards and normalized access', () => {
    const writes = planV1DeviceWrites([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 10, minor: 229, access: 'mwr' },
      { allow: true, type: 'b', major: 8, access: 'r' },
      { allow: true, type: 'c', minor: 7, access: 'w' },
      { allow: false, type: 'c', major: 10, minor: 229, access: 'm' },
      { allow: true, type: 'c', major: 4000000000n, minor: 0, access: 'rw' },
    ], '/x/devices');
    expect(writes.slice(0, 7).map((w) => [w.file, w.value, w.pointer])).toEqual([
      ['devices.deny', 'a *:* rwm', '/x/devices'],
      ['devices.deny', 'a *:* rwm', '/x/devices/0'],
      ['devices.allow', 'c 10:229 rwm', '/x/devices/1'],
      ['devices.allow', 'b 8:* r', '/x/devices/2'],
      ['devices.allow', 'c *:7 w', '/x/devices/3'],
      ['devices.deny', 'c 10:229 m', '/x/devices/4'],
      ['devices.allow', 'c 4000000000:0 rw', '/x/devices/5'],
    ]);
    expect(writes).toHaveLength(7 + DEFAULT_ALLOWED_DEVICES.length);
    expect(writes.every((w) => w.controller === 'devices')).toBe(true);
  });

  it('a type-a rule is written as `a *:* rwm` whatever else it names (the kernel reads nothing else of it)', () => {
    const writes = planV1DeviceWrites([{ allow: true, type: 'a', major: 1, access: 'r' }]);
    expect(writes[1]).toEqual({ controller: 'devices', file: 'devices.allow', value: 'a *:* rwm', pointer: '/linux/resources/devices/0' });
  });

  it.each([
    [{}, '/linux/resources/devices', 'must be an array'],
    [[null], '/linux/resources/devices/0', 'must be a device rule object'],
    [[{ access: 'rwm' }], '/linux/resources/devices/0/allow', 'must be true or false'],
    [[{ allow: 'yes' }], '/linux/resources/devices/0/allow', 'must be true or false'],
    [[{ allow: true, type: 'p' }], '/linux/resources/devices/0/type', '"a" (all), "b" (block) or "c" (char)'],
    [[{ allow: true, type: 'u' }], '/linux/resources/devices/0/type', 'got "u"'],
    [[{ allow: true, access: '' }], '/linux/resources/devices/0/access', 'non-empty combination of r, w and m'],
    [[{ allow: true, access: 'rx' }], '/linux/resources/devices/0/access', 'got "rx"'],
    [[{ allow: true, access: 7 }], '/linux/resources/devices/0/access', 'got 7'],
    [[{ allow: true }, { allow: true, type: 'c', major: -1 }], '/linux/resources/devices/1/major', 'from 0 to 4294967295'],
    [[{ allow: true, type: 'c', minor: 1.5 }], '/linux/resources/devices/0/minor', 'got 1.5'],
    [[{ allow: true, type: 'c', major: '1' }], '/linux/resources/devices/0/major', 'got "1"'],
    [[{ allow: true, type: 'c', major: 2n ** 40n }], '/linux/resources/devices/0/major', 'got 1099511627776'],
  ])('rejects bad rules (case %#) at %s', (rules, pointer, message) => {
    const error = errorOf(() => planV1DeviceWrites(rules));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).pointer).toBe(pointer);
    expect(error.message).toContain(message);
    expect(error.message.split('\n')).toHaveLength(1);
    // The v2 path validates the same way.
    expect((errorOf(() => compileDeviceProgram(rules)) as ConfigError).pointer).toBe(pointer);
  });

  it('names the custom pointer base in errors', () => {
    expect((errorOf(() => planV1DeviceWrites([{ allow: 1 }], '/resources/devices')) as ConfigError).pointer).toBe('/resources/devices/0/allow');
  });

  it('absent type, numbers and access mean all; null numbers too', () => {
    expect(parseDeviceRules([{ allow: false }, { allow: true, type: 'b', major: null, minor: 3 }])).toEqual([
      { allow: false, type: 'a', access: 'rwm' },
      { allow: true, type: 'b', minor: 3, access: 'rwm' },
    ]);
  });

  it('refuses to punch a hole in a wider rule, which cgroup v1 would silently ignore', () => {
    const error = errorOf(() => planV1DeviceWrites([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]));
    expect((error as ConfigError).pointer).toBe('/linux/resources/devices/2');
    expect(error.message).toContain('cannot deny `c 1:3 w` inside the wider rule `c 1:* rwm` (/linux/resources/devices/1)');
    // The same in a deny-by-default... allow-by-default cgroup: allowing part of a denied wildcard.
    const allowInDeny = errorOf(() => compileDeviceProgram([{ allow: true, access: 'rwm' }, { allow: false, type: 'b', access: 'r' }, { allow: true, type: 'b', major: 8, minor: 0, access: 'rw' }], { defaults: false }));
    expect((allowInDeny as ConfigError).pointer).toBe('/linux/resources/devices/2');
    // Removing exactly what was added, or bits the wide rule does not hold, is fine.
    expect(() => planV1DeviceWrites([{ allow: false }, { allow: true, type: 'c', major: 1, access: 'r' }, { allow: false, type: 'c', major: 1, access: 'r' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }])).not.toThrow();
  });

  it('a default rule that would punch a hole names the config rule it collides with', () => {
    const error = errorOf(() => planV1DeviceWrites([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 5, access: 'rwm' }]));
    expect((error as ConfigError).pointer).toBe('/linux/resources/devices/1');
    expect(error.message).toContain('cannot allow `c 5:0 rwm` (a default rule every container gets) inside the wider rule `c 5:* rwm`:');
  });
});

describe('deviceCgroupModel', () => {
  it('runc\'s default config ends as deny-by-default with the default exceptions', () => {
    const model = deviceCgroupModel([{ allow: false, access: 'rwm' }]);
    expect(model.defaultAllow).toBe(false);
    expect(model.exceptions).toHaveLength(DEFAULT_ALLOWED_DEVICES.length);
  });

  it('merges access per device spec and drops emptied exceptions', () => {
    const model = deviceCgroupModel([
      { allow: true, type: 'c', major: 1, minor: 3, access: 'r' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'w' },
      { allow: true, type: 'b', major: 8, minor: 0, access: 'rw' },
      { allow: false, type: 'b', major: 8, minor: 0, access: 'rwm' },
    ], { defaults: false });
    expect(model).toEqual({ defaultAllow: false, exceptions: [{ type: 'c', major: 1, minor: 3, access: BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE }] });
  });
});

describe('compileDeviceProgram', () => {
  it('deny-all is the prologue plus `return 0`, encoded as 8-byte instructions', () => {
    const program = compileDeviceProgram([], { defaults: false });
    const insns = decode(program);
    expect(insns).toHaveLength(8);
    // r2 = *(u32 *)(r1 + 0): opcode 0x61, dst 2 in the low nibble, src 1 in the high nibble.
    expect([...program.subarray(0, 8)]).toEqual([0x61, 0x12, 0, 0, 0, 0, 0, 0]);
    // r4 = *(u32 *)(r1 + 4), r5 = *(u32 *)(r1 + 8)
    expect(insns[4]).toEqual({ op: 0x61, dst: 4, src: 1, off: 4, imm: 0 });
    expect(insns[5]).toEqual({ op: 0x61, dst: 5, src: 1, off: 8, imm: 0 });
    // r0 = 0; exit
    expect([...program.subarray(48)]).toEqual([0xb4, 0x00, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
    checkShape(program);
    expect(run(program, BPF_DEVCG_DEV_CHAR, BPF_DEVCG_ACC_READ, 1, 3)).toBe(0);
  });

  it('deny all, then allow /dev/null rw', () => {
    expectTable([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }], [
      ['c', 1, 3, 'r', 'allow'],
      ['c', 1, 3, 'w', 'allow'],
      ['c', 1, 3, 'rw', 'allow'],
      ['c', 1, 3, 'm', 'deny'],
      ['c', 1, 3, 'rwm', 'deny'],
      ['c', 1, 5, 'r', 'deny'],
      ['c', 2, 3, 'r', 'deny'],
      ['b', 1, 3, 'r', 'deny'],
    ]);
  });

  it('allow all, then deny c 1:3 w', () => {
    expectTable([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }], [
      ['c', 1, 3, 'r', 'allow'],
      ['c', 1, 3, 'w', 'deny'],
      ['c', 1, 3, 'rw', 'deny'],
      ['c', 1, 3, 'm', 'allow'],
      ['c', 1, 5, 'w', 'allow'],
      ['b', 1, 3, 'w', 'allow'],
      ['b', 8, 0, 'rwm', 'allow'],
    ]);
  });

  it('wildcard majors and minors', () => {
    expectTable([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', minor: 5, access: 'r' },
      { allow: true, type: 'b', major: 8, access: 'rw' },
      { allow: true, type: 'c', access: 'm' },
    ], [
      ['c', 1, 5, 'r', 'allow'],
      ['c', 99, 5, 'r', 'allow'],
      ['c', 1, 5, 'w', 'deny'],
      ['c', 1, 6, 'r', 'deny'],
      ['c', 1234, 99, 'm', 'allow'],
      ['b', 8, 0, 'rw', 'allow'],
      ['b', 8, 17, 'w', 'allow'],
      ['b', 8, 0, 'm', 'deny'],
      ['b', 9, 0, 'r', 'deny'],
      ['c', 8, 0, 'r', 'deny'],
    ]);
  });

  it('a later rule overrides an earlier one for the same device', () => {
    expectTable([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      { allow: false, type: 'c', major: 1, minor: 3, access: 'w' },
      { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
      { allow: false, type: 'c', major: 1, minor: 5, access: 'r' },
      { allow: true, type: 'c', major: 1, minor: 5, access: 'w' },
    ], [
      ['c', 1, 3, 'r', 'allow'],
      ['c', 1, 3, 'w', 'deny'],
      ['c', 1, 3, 'm', 'allow'],
      ['c', 1, 5, 'r', 'deny'],
      ['c', 1, 5, 'w', 'allow'],
    ]);
  });

  it('a type-a rule resets what came before it', () => {
    expectTable([
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      { allow: false, type: 'a', access: 'r' },
      { allow: true, type: 'a' },
      { allow: false, type: 'b', access: 'rwm' },
    ], [
      ['c', 1, 3, 'rwm', 'allow'],
      ['c', 4, 1, 'w', 'allow'],
      ['b', 8, 0, 'r', 'deny'],
      ['b', 8, 0, 'm', 'deny'],
    ]);
  });

  it('default deny needs one rule holding every requested bit, as cgroup v1 does', () => {
    expectTable([{ allow: false }, { allow: true, type: 'c', major: 1, minor: 3, access: 'r' }, { allow: true, type: 'c', major: 1, access: 'w' }], [
      ['c', 1, 3, 'r', 'allow'],
      ['c', 1, 3, 'w', 'allow'],
      ['c', 1, 3, 'rw', 'deny'],
      ['c', 1, 4, 'w', 'allow'],
    ]);
  });

  it('numbers above 2^31 compare exactly', () => {
    expectTable([{ allow: false }, { allow: true, type: 'c', major: 3000000000, minor: 4294967295, access: 'r' }], [
      ['c', 3000000000, 4294967295, 'r', 'allow'],
      ['c', 3000000000, 4294967294, 'r', 'deny'],
      ['c', 3000000000 - 2 ** 31, 4294967295, 'r', 'deny'],
      ['c', 1, 3, 'r', 'deny'],
    ]);
  });

  it('runc\'s default config: the defaults are allowed, everything else is not', () => {
    expectTable([{ allow: false, access: 'rwm' }], [
      ['c', 1, 3, 'rw', 'allow'], // /dev/null
      ['c', 1, 9, 'r', 'allow'], // /dev/urandom
      ['c', 136, 7, 'rw', 'allow'], // /dev/pts/7
      ['c', 5, 2, 'rw', 'allow'], // /dev/ptmx
      ['c', 10, 200, 'rw', 'allow'], // /dev/net/tun
      ['c', 4, 64, 'm', 'allow'], // mknod of any char device…
      ['b', 8, 0, 'm', 'allow'], // …and any block device
      ['b', 8, 0, 'r', 'deny'],
      ['c', 5, 1, 'rw', 'deny'], // /dev/console is not a default
      ['c', 4, 0, 'r', 'deny'],
      ['c', 1, 1, 'r', 'deny'], // /dev/mem
    ], { defaults: true });
  });

  it('the defaults come after the config, so the config cannot take them away', () => {
    expectTable([{ allow: false }, { allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' }], [['c', 1, 3, 'w', 'allow']], { defaults: true });
  });

  it('agrees with the cgroup v1 kernel decision on random rule sets', () => {
    // mulberry32: a small PRNG with well-mixed low bits, seeded so failures reproduce.
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) / 2 ** 32 * n) | 0;
    };
    const pick = <T>(items: T[]): T => items[random(items.length)]!;
    const accesses = ['r', 'w', 'm', 'rw', 'rm', 'wm', 'rwm'];
    const seen = { compiled: 0, refused: 0, allowByDefaultWithExceptions: 0, denyByDefaultWithExceptions: 0 };
    for (let round = 0; round < 400; round++) {
      const rules = Array.from({ length: 1 + random(8) }, () => {
        const rule: Record<string, unknown> = { allow: random(2) === 0, type: pick(['a', 'b', 'c', 'c', 'c']), access: pick(accesses) };
        if (random(3) > 0) rule.major = random(3);
        if (random(3) > 0) rule.minor = random(3);
        return rule;
      });
      let program: Buffer;
      let model: DeviceCgroupModel;
      try {
        model = deviceCgroupModel(rules, { defaults: false });
        program = compileDeviceProgram(rules, { defaults: false });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError); // a refused hole punch
        seen.refused++;
        continue;
      }
      seen.compiled++;
      if (model.exceptions.length > 0) seen[model.defaultAllow ? 'allowByDefaultWithExceptions' : 'denyByDefaultWithExceptions']++;
      checkShape(program);
      for (const kind of ['b', 'c'] as const) {
        for (let major = 0; major < 4; major++) {
          for (let minor = 0; minor < 4; minor++) {
            for (const access of accesses) {
              expect(run(program, KIND[kind], bits(access), major, minor), `${JSON.stringify(rules)}: ${kind} ${major}:${minor} ${access}`)
                .toBe(kernelDecision(model, kind, major, minor, bits(access)));
            }
          }
        }
      }
    }
    // The sample must cover both modes and the refusals, or this test proves little.
    expect(seen.compiled).toBeGreaterThan(150);
    expect(seen.refused).toBeGreaterThan(10);
    expect(seen.allowByDefaultWithExceptions).toBeGreaterThan(30);
    expect(seen.denyByDefaultWithExceptions).toBeGreaterThan(30);
  });
});
