import fs from 'node:fs';
import { ConfigError, RuntimeError } from '../errors';
import type { SeccompPlan } from '../spec/seccomp';
import { SyscallError } from './errno';
import { check, errno, fn, koffi } from './libc';

/**
 * linux.seccomp in two halves:
 *
 * - `compileSeccomp` runs in the runtime (before anything is forked) and has libseccomp turn a SeccompPlan into
 *   a classic-BPF program. libseccomp knows the syscall tables of every architecture and the tricks needed for
 *   64-bit argument comparisons and mixed-architecture filters; writing that by hand is how filters get holes.
 * - `prepareSeccompLoad` readies the one seccomp(2) call the container's init makes right before execve. The
 *   init is a forked copy of Node, so the call must be cheap and must not need libseccomp's allocations: it only
 *   hands the kernel a sock_fprog that was built beforehand.
 *
 * libseccomp (libseccomp.so.2) is loaded on first use, so a container without seccomp never needs it.
 */

type Koffi = ReturnType<typeof koffi>;
type Fn = (...args: unknown[]) => unknown;

/** libseccomp's `enum scmp_filter_attr` value of SCMP_FLTATR_CTL_NNP (seccomp.h). */
const SCMP_FLTATR_CTL_NNP = 3;
/** `seccomp_syscall_resolve_name` result for a name the library does not know (`__NR_SCMP_ERROR`). */
const NR_SCMP_ERROR = -1;
/** sizeof(struct sock_filter): u16 code, u8 jt, u8 jf, u32 k. */
export const SOCK_FILTER_SIZE = 8;
/** The kernel refuses classic-BPF programs longer than this (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;
const SECCOMP_SET_MODE_FILTER = 1;
/** __NR_seccomp: x86_64 and the asm-generic table (arm64). */
export const SECCOMP_SYSCALL_NUMBER = process.arch === 'arm64' ? 277 : 317;
const MFD_CLOEXEC = 1;
const EEXIST = 17;

interface Libseccomp {
  init: Fn;
  release: Fn;
  attrSet: Fn;
  archResolveName: Fn;
  archAdd: Fn;
  syscallResolveName: Fn;
  syscallResolveNameArch: Fn;
  archNative: Fn;
  ruleAddArray: Fn;
  exportBpf: Fn;
  version: string;
  argCmp: ReturnType<Koffi['struct']>;
}

let library: Libseccomp | undefined;

function libseccomp(): Libseccomp {
  if (library) return library;
  const k = koffi();
  let lib: ReturnType<Koffi['load']>;
  try {
    lib = k.load('libseccomp.so.2');
  } catch (error) {
    throw new RuntimeError('seccomp', 'seccomp: libseccomp.so.2 not found: install libseccomp2', { cause: error });
  }
  // struct scmp_arg_cmp { unsigned int arg; enum scmp_compare op; scmp_datum_t datum_a, datum_b; }: the two
  // 32-bit fields share the first 8 bytes, so the struct is 24 bytes without padding (checked in the tests).
  const argCmp = k.struct('tsrun_scmp_arg_cmp', { arg: 'uint32_t', op: 'int', datum_a: 'uint64_t', datum_b: 'uint64_t' });
  const versionType = k.struct('tsrun_scmp_version', { major: 'unsigned int', minor: 'unsigned int', micro: 'unsigned int' });
  const versionFn = lib.func('seccomp_version', k.pointer(versionType), []) as unknown as Fn;
  const v = k.decode(versionFn(), versionType) as { major: number; minor: number; micro: number };
  library = {
    init: lib.func('void *seccomp_init(uint32_t def_action)') as unknown as Fn,
    release: lib.func('void seccomp_release(void *ctx)') as unknown as Fn,
    attrSet: lib.func('int seccomp_attr_set(void *ctx, int attr, uint32_t value)') as unknown as Fn,
    archResolveName: lib.func('uint32_t seccomp_arch_resolve_name(const char *name)') as unknown as Fn,
    archAdd: lib.func('int seccomp_arch_add(void *ctx, uint32_t arch)') as unknown as Fn,
    syscallResolveName: lib.func('int seccomp_syscall_resolve_name(const char *name)') as unknown as Fn,
    syscallResolveNameArch: lib.func('int seccomp_syscall_resolve_name_arch(uint32_t arch, const char *name)') as unknown as Fn,
    archNative: lib.func('uint32_t seccomp_arch_native()') as unknown as Fn,
    ruleAddArray: lib.func('seccomp_rule_add_array', 'int', ['void *', 'uint32_t', 'int', 'unsigned int', k.pointer(argCmp)]) as unknown as Fn,
    exportBpf: lib.func('int seccomp_export_bpf(void *ctx, int fd)') as unknown as Fn,
    version: `${v.major}.${v.minor}.${v.micro}`,
    argCmp,
  };
  return library;
}

/** The libseccomp version in use, e.g. "2.5.4" (loads the library). */
export function libseccompVersion(): string {
  return libseccomp().version;
}

/**
 * The AUDIT_ARCH_* token (what `seccomp_data.arch` holds) of a libseccomp arch name, of this machine's
 * architecture without one; undefined for a name libseccomp does not know.
 */
export function seccompArchToken(name?: string): number | undefined {
  const lib = libseccomp();
  const token = Number(name === undefined ? lib.archNative() : lib.archResolveName(name));
  return token === 0 ? undefined : token;
}

/**
 * The number of a syscall on an architecture (libseccomp name; this machine's without one) as libseccomp
 * knows it; undefined for an unknown name. Negative numbers are libseccomp's pseudo-syscalls, names that
 * exist on other architectures only.
 */
export function seccompSyscallNumber(name: string, arch?: string): number | undefined {
  const lib = libseccomp();
  const token = seccompArchToken(arch);
  if (token === undefined) return undefined;
  const nr = Number(arch === undefined ? lib.syscallResolveName(name) : lib.syscallResolveNameArch(token, name));
  return nr === NR_SCMP_ERROR ? undefined : nr;
}

/** libseccomp returns -errno; anything negative becomes a SyscallError naming the call and what it was about. */
function checkLib(result: unknown, operation: string, object?: string): number {
  const value = Number(result);
  if (value < 0) throw new SyscallError(`seccomp: ${operation}`, -value, object);
  return value;
}

/**
 * Builds the plan's filter with libseccomp and returns it as an array of `struct sock_filter` (8 bytes each,
 * host byte order), ready for `prepareSeccompLoad`. Syscall names libseccomp does not know are skipped, as
 * runc does: profiles list syscalls of newer kernels and other architectures.
 */
export function compileSeccomp(plan: SeccompPlan): Buffer {
  const lib = libseccomp();
  const ctx = lib.init(plan.defaultAction >>> 0);
  if (ctx === null) {
    throw new RuntimeError('seccomp', `seccomp: seccomp_init refused the default action 0x${(plan.defaultAction >>> 0).toString(16)} (libseccomp ${lib.version})`);
  }
  try {
    // NNP only matters to seccomp_load, which tsrun does not use; cleared so that libseccomp never sets
    // no_new_privs behind the config's back should a later version consult it elsewhere. The seccomp(2) flags
    // are not given to libseccomp either: the loader passes plan.flags itself.
    checkLib(lib.attrSet(ctx, SCMP_FLTATR_CTL_NNP, 0), 'seccomp_attr_set', 'SCMP_FLTATR_CTL_NNP');

    plan.architectures.forEach((name, i) => {
      const token = Number(lib.archResolveName(name));
      if (token === 0) {
        throw new ConfigError(`/linux/seccomp/architectures/${i}`, `names an architecture libseccomp ${lib.version} does not know, got "${name}"`);
      }
      const result = Number(lib.archAdd(ctx, token));
      // The native architecture is in every new filter already.
      if (result !== -EEXIST) checkLib(result, 'seccomp_arch_add', `\`${name}\` (/linux/seccomp/architectures/${i})`);
    });

    for (const rule of plan.rules) {
      const conditions = rule.conditions.map((c) => ({ arg: c.index, op: c.op, datum_a: c.value, datum_b: c.valueTwo }));
      for (const name of rule.names) {
        const nr = Number(lib.syscallResolveName(name));
        if (nr === NR_SCMP_ERROR) continue;
        checkLib(
          lib.ruleAddArray(ctx, rule.action >>> 0, nr, conditions.length, conditions.length > 0 ? conditions : null),
          'seccomp_rule_add_array',
          `\`${name}\` (${rule.pointer})`,
        );
      }
    }
    return exportBpf(lib, ctx);
  } finally {
    lib.release(ctx);
  }
}

/** seccomp_export_bpf writes to an fd; a memfd holds any size (a pipe would block past its 64 KiB). */
function exportBpf(lib: Libseccomp, ctx: unknown): Buffer {
  const fd = check(fn('int memfd_create(const char *name, unsigned int flags)')('tsrun-seccomp', MFD_CLOEXEC), 'memfd_create');
  try {
    checkLib(lib.exportBpf(ctx, fd), 'seccomp_export_bpf');
    const size = fs.fstatSync(fd).size;
    const program = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = fs.readSync(fd, program, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    checkProgram(program.subarray(0, done));
    return program.subarray(0, done);
  } finally {
    fs.closeSync(fd);
  }
}

function checkProgram(program: Buffer): void {
  if (program.length === 0 || program.length % SOCK_FILTER_SIZE !== 0) {
    throw new RuntimeError('seccomp', `seccomp: the filter is ${program.length} bytes, not a whole number of ${SOCK_FILTER_SIZE}-byte instructions`);
  }
  const count = program.length / SOCK_FILTER_SIZE;
  if (count > BPF_MAXINSNS) {
    throw new RuntimeError('seccomp', `seccomp: the filter has ${count} instructions, the kernel loads at most ${BPF_MAXINSNS}`);
  }
}

/**
 * Readies loading `program` (from compileSeccomp) with seccomp(SECCOMP_SET_MODE_FILTER, flags). Everything
 * that allocates happens here: the returned function makes the one system call and returns its result, the
 * listener fd when flags include SECCOMP_FILTER_FLAG_NEW_LISTENER and 0 otherwise, or throws
 * SyscallError('seccomp', errno). The caller must have set no_new_privs or hold CAP_SYS_ADMIN.
 *
 * The sock_fprog and the instructions share one Buffer: `struct sock_fprog { unsigned short len; (6 bytes of
 * padding) struct sock_filter *filter; }` at offset 0 and the program from offset 16 on. The closure keeps the
 * Buffer alive, and a Buffer of more than 64 bytes lives outside the V8 heap, so the address taken here stays
 * valid (the smallest program, 1 instruction, is padded up to keep that true).
 */
export function prepareSeccompLoad(program: Buffer, flags: number): () => number {
  checkProgram(program);
  const FPROG_SIZE = 16;
  const buffer = Buffer.alloc(Math.max(FPROG_SIZE + program.length, 128));
  program.copy(buffer, FPROG_SIZE);
  buffer.writeUInt16LE(program.length / SOCK_FILTER_SIZE, 0);
  const base = koffi().address(buffer);
  buffer.writeBigUInt64LE(base + BigInt(FPROG_SIZE), 8);
  // User-space addresses fit in 47 bits (x86_64, arm64 with 48-bit VA), so a Number carries the pointer exactly
  // and the call marshals no BigInt. glibc's syscall() only moves registers, so declaring it with a fixed
  // argument list is as good as the variadic one and lets koffi prepare the call once.
  const address = Number(base);
  const seccomp = fn('long syscall(long nr, unsigned int operation, unsigned int flags, uintptr_t args)');
  const nr = SECCOMP_SYSCALL_NUMBER;
  const filterFlags = flags >>> 0;
  return () => {
    const result = Number(seccomp(nr, SECCOMP_SET_MODE_FILTER, filterFlags, address));
    // Naming `buffer` here also keeps it alive as long as the closure: V8 closures keep what their body uses.
    if (result < 0) throw new SyscallError('seccomp', errno(), `filter of ${buffer.readUInt16LE(0)} instructions`);
    return result;
  };
}
