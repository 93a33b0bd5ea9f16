import { ConfigError, describeValue } from '../errors';
import type { CgroupWrite } from './types';

/**
 * Device access control for containers (linux.resources.devices), pure: what to write to a cgroup v1
 * `devices` hierarchy, and the eBPF program that does the same job on cgroup v2 (which has no devices
 * controller files; a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup decides instead).
 *
 * Semantics, identical on both versions: the container starts from "deny everything", the config's rules
 * apply in order (a later rule overrides an earlier one), then runc's default rules (DEFAULT_ALLOWED_DEVICES)
 * apply last, so a config cannot take those away — runc behaves like this too.
 *
 * "Apply in order" means what the cgroup v1 kernel code does with each rule, because that is what a v1 host
 * gets whatever tsrun intends. The cgroup keeps a default (allow or deny) and a list of exceptions:
 * - a rule of type `a` resets everything: the default becomes the rule's verdict and the exceptions are
 *   dropped (its major, minor and access are ignored, as the kernel ignores them);
 * - a rule whose verdict differs from the default adds an exception (access bits merge per device spec);
 * - a rule whose verdict equals the default removes access bits from the exception with EXACTLY the same
 *   type/major/minor; the kernel never splits a wildcard exception. A rule that would need that split
 *   ("punching a hole", e.g. `allow c 1:* rwm` then `deny c 1:3 w`) is refused with a ConfigError, as runc
 *   refuses it, instead of silently not applying.
 * An access is then decided like the kernel decides it: with default deny it is allowed when ONE exception
 * matches the device and holds every requested bit; with default allow it is denied when an exception
 * matches the device and holds ANY requested bit. compileDeviceProgram emits exactly this decision, so the
 * v2 program and the v1 kernel state agree by construction (runc's devicefilter package builds its program
 * from the same kind of emulated state).
 */

export type DeviceType = 'a' | 'b' | 'c';

/** One validated device cgroup rule; `major`/`minor` undefined mean the wildcard `*`. */
export interface DeviceRule {
  allow: boolean;
  type: DeviceType;
  major?: number;
  minor?: number;
  /** Non-empty subset of `rwm`, always in that order. */
  access: string;
}

/**
 * The rules runc adds after the config's own, so every container may use these devices (runc 1.1 and
 * 1.2.4+: libcontainer/specconv/spec_linux.go `AllowedDevices`, same order; runc 1.2.0-1.2.3 left out
 * tun/tap, 1.2.4 put it back). /dev/console is not among them: runc allows it only through the pty it
 * creates, like tsrun.
 */
export const DEFAULT_ALLOWED_DEVICES: readonly DeviceRule[] = Object.freeze([
  { allow: true, type: 'c', access: 'm' }, // mknod of any character device
  { allow: true, type: 'b', access: 'm' }, // mknod of any block device
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
].map((rule) => Object.freeze(rule as DeviceRule)));

/** The leading rule that puts the cgroup into "deny everything" before any other rule. */
const DENY_ALL: DeviceRule = Object.freeze({ allow: false, type: 'a', access: 'rwm' });

/** `struct bpf_cgroup_dev_ctx` access_type: the low 16 bits are the device type… */
export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;
/** …and the high 16 bits the requested access. */
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;

const ACCESS_BITS: Readonly<Record<string, number>> = { r: BPF_DEVCG_ACC_READ, w: BPF_DEVCG_ACC_WRITE, m: BPF_DEVCG_ACC_MKNOD };
const ALL_ACCESS = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
const U32_MAX = 0xffffffff;

// ---------------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------------

/** A rule plus the JSON pointer it came from (undefined for DEFAULT_ALLOWED_DEVICES and the leading deny). */
interface PlacedRule {
  rule: DeviceRule;
  pointer: string | undefined;
}

function deviceNumber(value: unknown, pointer: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const big = typeof value === 'bigint' ? value : typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : undefined;
  if (big === undefined || big < 0n || big > BigInt(U32_MAX)) {
    throw new ConfigError(pointer, `must be a device number from 0 to ${U32_MAX} (absent means any), got ${describeValue(value)}`);
  }
  return Number(big);
}

function normalizeAccess(value: unknown, pointer: string): string {
  // An absent access means every kind of access, like an absent type or number means every device.
  if (value === undefined || value === null) return 'rwm';
  if (typeof value !== 'string' || value === '' || [...value].some((ch) => !(ch in ACCESS_BITS))) {
    throw new ConfigError(pointer, `must be a non-empty combination of r, w and m, got ${describeValue(value)}`);
  }
  return accessString(accessBits(value));
}

/** Validates linux.resources.devices: an array of {allow, type?, major?, minor?, access?}. */
export function parseDeviceRules(rules: unknown, pointerBase = '/linux/resources/devices'): DeviceRule[] {
  if (rules === undefined || rules === null) return [];
  if (!Array.isArray(rules)) throw new ConfigError(pointerBase, `must be an array of device rules, got ${describeValue(rules)}`);
  return rules.map((entry: unknown, i) => {
    const pointer = `${pointerBase}/${i}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new ConfigError(pointer, `must be a device rule object, got ${describeValue(entry)}`);
    }
    const raw = entry as Record<string, unknown>;
    if (typeof raw.allow !== 'boolean') throw new ConfigError(`${pointer}/allow`, `must be true or false, got ${describeValue(raw.allow)}`);
    const type = raw.type ?? 'a';
    if (type !== 'a' && type !== 'b' && type !== 'c') {
      throw new ConfigError(`${pointer}/type`, `must be "a" (all), "b" (block) or "c" (char), got ${describeValue(raw.type)}`);
    }
    const rule: DeviceRule = { allow: raw.allow, type, access: normalizeAccess(raw.access, `${pointer}/access`) };
    const major = deviceNumber(raw.major, `${pointer}/major`);
    const minor = deviceNumber(raw.minor, `${pointer}/minor`);
    if (major !== undefined) rule.major = major;
    if (minor !== undefined) rule.minor = minor;
    return rule;
  });
}

function accessBits(access: string): number {
  let bits = 0;
  for (const ch of access) bits |= ACCESS_BITS[ch] ?? 0;
  return bits;
}

function accessString(bits: number): string {
  return `${bits & BPF_DEVCG_ACC_READ ? 'r' : ''}${bits & BPF_DEVCG_ACC_WRITE ? 'w' : ''}${bits & BPF_DEVCG_ACC_MKNOD ? 'm' : ''}`;
}

/** The cgroup v1 form of a rule, `type major:minor access`; type `a` is always `a *:* rwm` (the kernel reads nothing else of it). */
export function deviceRuleString(rule: DeviceRule): string {
  if (rule.type === 'a') return 'a *:* rwm';
  return `${rule.type} ${rule.major ?? '*'}:${rule.minor ?? '*'} ${rule.access}`;
}

// ---------------------------------------------------------------------------------------------------------
// The cgroup v1 model: default verdict + exceptions
// ---------------------------------------------------------------------------------------------------------

/** One exception of the emulated cgroup: a device spec (b or c) and the access bits it holds. */
export interface DeviceException {
  type: 'b' | 'c';
  major: number | undefined;
  minor: number | undefined;
  access: number;
}

/** What a cgroup v1 devices controller holds after the rules are applied. */
export interface DeviceCgroupModel {
  defaultAllow: boolean;
  exceptions: DeviceException[];
}

function specKey(type: string, major: number | undefined, minor: number | undefined): string {
  return `${type} ${major ?? '*'}:${minor ?? '*'}`;
}

/**
 * Applies rules the way the cgroup v1 kernel code does (see the top of this file) and returns the result.
 * Throws a ConfigError for a rule that would have to split a wildcard exception.
 */
function emulate(rules: readonly PlacedRule[], pointerBase: string): DeviceCgroupModel {
  let defaultAllow = true; // a new cgroup's own state does not matter: the first rule is always type `a`
  let exceptions = new Map<string, DeviceException & { origin: PlacedRule }>();
  for (const placed of rules) {
    const { rule } = placed;
    if (rule.type === 'a') {
      defaultAllow = rule.allow;
      exceptions = new Map();
      continue;
    }
    const key = specKey(rule.type, rule.major, rule.minor);
    const bits = accessBits(rule.access);
    if (rule.allow !== defaultAllow) {
      const existing = exceptions.get(key);
      if (existing) existing.access |= bits;
      else exceptions.set(key, { type: rule.type, major: rule.major, minor: rule.minor, access: bits, origin: placed });
      continue;
    }
    // Removal: only the exact spec is touched; a covering wildcard exception would silently stay in force.
    for (const wider of [specKey(rule.type, undefined, rule.minor), specKey(rule.type, rule.major, undefined), specKey(rule.type, undefined, undefined)]) {
      const exception = wider === key ? undefined : exceptions.get(wider);
      if (exception && exception.access & bits) {
        const verdict = rule.allow ? 'allow' : 'deny';
        const wide = `${specKey(exception.type, exception.major, exception.minor)} ${accessString(exception.access)}`;
        const pointer = placed.pointer ?? exception.origin.pointer ?? pointerBase;
        const name = (origin: PlacedRule): string =>
          origin.pointer === undefined ? ' (a default rule every container gets)' : origin.pointer === pointer ? '' : ` (${origin.pointer})`;
        throw new ConfigError(
          pointer,
          `cannot ${verdict} \`${deviceRuleString(rule)}\`${name(placed)} inside the wider rule \`${wide}\`${name(exception.origin)}: the devices cgroup only removes exact matches, name the devices one by one instead`,
        );
      }
    }
    const exact = exceptions.get(key);
    if (exact) {
      exact.access &= ~bits;
      if (exact.access === 0) exceptions.delete(key);
    }
  }
  return {
    defaultAllow,
    exceptions: [...exceptions.values()].map(({ type, major, minor, access }) => ({ type, major, minor, access })),
  };
}

/** The leading deny-all, the config's rules in order, then (unless `defaults` is false) runc's default rules. */
function effectiveRules(rules: unknown, pointerBase: string, defaults: boolean): PlacedRule[] {
  return [
    { rule: DENY_ALL, pointer: undefined },
    ...parseDeviceRules(rules, pointerBase).map((rule, i) => ({ rule, pointer: `${pointerBase}/${i}` })),
    ...(defaults ? DEFAULT_ALLOWED_DEVICES.map((rule) => ({ rule, pointer: undefined })) : []),
  ];
}

export interface DeviceRuleOptions {
  /** JSON pointer of the rules array, for error messages. */
  pointerBase?: string;
  /** Append DEFAULT_ALLOWED_DEVICES after the config's rules (default true, as runc always does). */
  defaults?: boolean;
}

/** The state a cgroup reaches from these rules (deny-all first, defaults last unless disabled). */
export function deviceCgroupModel(rules: unknown, options: DeviceRuleOptions = {}): DeviceCgroupModel {
  const pointerBase = options.pointerBase ?? '/linux/resources/devices';
  return emulate(effectiveRules(rules, pointerBase, options.defaults ?? true), pointerBase);
}

/**
 * The cgroup v1 writes for linux.resources.devices: `a *:* rwm` to devices.deny first, then every config
 * rule in order to devices.allow or devices.deny, then DEFAULT_ALLOWED_DEVICES to devices.allow. Rules the
 * kernel would silently not apply (see the top of this file) are refused here, before anything is written.
 */
export function planV1DeviceWrites(rules: unknown, pointerBase = '/linux/resources/devices'): CgroupWrite[] {
  const placed = effectiveRules(rules, pointerBase, true);
  emulate(placed, pointerBase);
  return placed.map(({ rule, pointer }) => ({
    controller: 'devices',
    file: rule.allow ? 'devices.allow' : 'devices.deny',
    value: deviceRuleString(rule),
    pointer: pointer ?? pointerBase,
  }));
}

// ---------------------------------------------------------------------------------------------------------
// A small eBPF assembler
// ---------------------------------------------------------------------------------------------------------

/**
 * eBPF instructions are 8 bytes, little-endian on x86_64/arm64:
 *   byte 0     opcode = class (low 3 bits) | source (bit 3: K = immediate, X = register) | operation (high 4 bits)
 *   byte 1     dst register (low nibble) | src register (high nibble)
 *   bytes 2-3  off: signed 16-bit memory offset, or jump distance counted from the NEXT instruction
 *   bytes 4-7  imm: signed 32-bit immediate
 * Only the opcodes below are emitted (the unit tests interpret exactly these).
 */
export const BpfOp = {
  /** dst = *(u32 *)(src + off) — class LDX 0x01 | mode MEM 0x60 | size W 0x00 */
  LDX_MEM_W: 0x61,
  /** dst = (u32)(dst & imm) — class ALU (32-bit) 0x04 | AND 0x50 | K */
  ALU32_AND_K: 0x54,
  /** dst = (u32)dst >> imm — ALU 0x04 | RSH 0x70 | K */
  ALU32_RSH_K: 0x74,
  /** dst = (u32)imm — ALU 0x04 | MOV 0xb0 | K */
  ALU32_MOV_K: 0xb4,
  /** dst = (u32)src — ALU 0x04 | MOV 0xb0 | X 0x08 */
  ALU32_MOV_X: 0xbc,
  /** if (dst != (s64)imm) goto +off — class JMP 0x05 | JNE 0x50 | K */
  JMP_JNE_K: 0x55,
  /** if (dst != src) goto +off — JMP 0x05 | JNE 0x50 | X */
  JMP_JNE_X: 0x5d,
  /** if (dst == (s64)imm) goto +off — JMP 0x05 | JEQ 0x10 | K */
  JMP_JEQ_K: 0x15,
  /** return r0 — JMP 0x05 | EXIT 0x90 */
  JMP_EXIT: 0x95,
} as const;

interface Instruction {
  op: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** For jumps: the label to resolve `off` against. */
  target?: string;
}

const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;

class Assembler {
  private readonly instructions: Instruction[] = [];
  private readonly labels = new Map<string, number>();

  private emit(op: number, dst: number, src: number, off: number, imm: number, target?: string): void {
    this.instructions.push(target === undefined ? { op, dst, src, off, imm } : { op, dst, src, off, imm, target });
  }

  /** Names the position of the next instruction. */
  label(name: string): void {
    this.labels.set(name, this.instructions.length);
  }

  loadWord(dst: number, src: number, offset: number): void { this.emit(BpfOp.LDX_MEM_W, dst, src, offset, 0); }
  and32(dst: number, imm: number): void { this.emit(BpfOp.ALU32_AND_K, dst, 0, 0, imm | 0); }
  rsh32(dst: number, imm: number): void { this.emit(BpfOp.ALU32_RSH_K, dst, 0, 0, imm); }
  mov32(dst: number, imm: number): void { this.emit(BpfOp.ALU32_MOV_K, dst, 0, 0, imm | 0); }
  mov32Reg(dst: number, src: number): void { this.emit(BpfOp.ALU32_MOV_X, dst, src, 0, 0); }
  jneImm(dst: number, imm: number, target: string): void { this.emit(BpfOp.JMP_JNE_K, dst, 0, 0, imm, target); }
  jneReg(dst: number, src: number, target: string): void { this.emit(BpfOp.JMP_JNE_X, dst, src, 0, 0, target); }
  jeqImm(dst: number, imm: number, target: string): void { this.emit(BpfOp.JMP_JEQ_K, dst, 0, 0, imm, target); }
  exit(): void { this.emit(BpfOp.JMP_EXIT, 0, 0, 0, 0); }

  /** Resolves the jumps (forward only: the verifier refuses loops) and encodes the program. */
  assemble(): Buffer {
    const out = Buffer.alloc(this.instructions.length * 8);
    this.instructions.forEach((insn, pc) => {
      let off = insn.off;
      if (insn.target !== undefined) {
        const to = this.labels.get(insn.target);
        if (to === undefined || to <= pc || to > this.instructions.length - 1) {
          throw new Error(`internal error: bad jump from ${pc} to label ${insn.target}`);
        }
        off = to - pc - 1;
        if (off > 0x7fff) throw new Error('internal error: device program too large for a 16-bit jump');
      }
      out.writeUInt8(insn.op, pc * 8);
      out.writeUInt8((insn.src << 4) | insn.dst, pc * 8 + 1);
      out.writeInt16LE(off, pc * 8 + 2);
      out.writeInt32LE(insn.imm, pc * 8 + 4);
    });
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The cgroup v2 device program
// ---------------------------------------------------------------------------------------------------------

/**
 * Compares `reg` (a zero-extended u32) with `value` and jumps to `target` when they differ. A JNE with an
 * immediate compares against the sign-extended imm, which is exact up to 2^31-1 (every real major and minor:
 * dev_t has 12 + 20 bits); a larger number goes through r1 instead, whose 32-bit MOV zero-extends.
 */
function jumpUnlessEqual(asm: Assembler, reg: number, value: number, target: string): void {
  if (value <= 0x7fffffff) {
    asm.jneImm(reg, value, target);
  } else {
    asm.mov32(R1, value);
    asm.jneReg(reg, R1, target);
  }
}

/**
 * The cgroup v2 equivalent of the v1 rules: a BPF_PROG_TYPE_CGROUP_DEVICE program returning 1 (allow) or
 * 0 (deny) for `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, where access_type is
 * `(access << 16) | type`. It decides like the v1 kernel code decides over deviceCgroupModel(rules):
 *
 *   prologue   r2 = type, r3 = requested access, r4 = major, r5 = minor
 *   per exception, a block that jumps to the next block when the device or access does not match:
 *     type      if r2 != type: next
 *     major     if r4 != major: next           (left out for a wildcard)
 *     minor     if r5 != minor: next           (left out for a wildcard)
 *     access    default deny:  if (r3 & bits) != r3: next   — this exception must hold every requested bit
 *               default allow: if (r3 & bits) == 0: next    — any requested bit it holds is denied
 *     verdict   r0 = the opposite of the default; exit
 *   epilogue   r0 = the default; exit
 *
 * Every block starts with a conditional jump, so no instruction is unreachable (the verifier refuses dead
 * code), r0 is always set before an exit, and the context is only read with aligned 4-byte loads.
 */
export function compileDeviceProgram(rules: unknown, options: DeviceRuleOptions = {}): Buffer {
  const model = deviceCgroupModel(rules, options);
  const asm = new Assembler();

  // Prologue: unpack the context (r1 points at it) into r2..r5; r1 is free afterwards.
  asm.loadWord(R2, R1, 0);
  asm.and32(R2, 0xffff); // r2 = type (BPF_DEVCG_DEV_BLOCK / _CHAR)
  asm.loadWord(R3, R1, 0);
  asm.rsh32(R3, 16); // r3 = access (BPF_DEVCG_ACC_* bits)
  asm.loadWord(R4, R1, 4); // r4 = major
  asm.loadWord(R5, R1, 8); // r5 = minor

  const verdict = model.defaultAllow ? 0 : 1;
  model.exceptions.forEach((exception, i) => {
    const next = `block-${i + 1}`;
    asm.label(`block-${i}`);
    // Device type, then the numbers the exception names.
    asm.jneImm(R2, exception.type === 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, next);
    if (exception.major !== undefined) jumpUnlessEqual(asm, R4, exception.major, next);
    if (exception.minor !== undefined) jumpUnlessEqual(asm, R5, exception.minor, next);
    // Access: r1 = requested & held.
    if (model.defaultAllow) {
      asm.mov32Reg(R1, R3);
      asm.and32(R1, exception.access);
      asm.jeqImm(R1, 0, next); // none of the requested bits is denied here
    } else if (exception.access !== ALL_ACCESS) {
      asm.mov32Reg(R1, R3);
      asm.and32(R1, exception.access);
      asm.jneReg(R1, R3, next); // some requested bit is not allowed here
    }
    // Matched: the exception's verdict.
    asm.mov32(R0, verdict);
    asm.exit();
  });

  // Epilogue: nothing matched, the default decides.
  asm.label(`block-${model.exceptions.length}`);
  asm.mov32(R0, model.defaultAllow ? 1 : 0);
  asm.exit();
  return asm.assemble();
}
