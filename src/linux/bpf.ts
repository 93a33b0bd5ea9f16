import { RuntimeError } from '../errors';
import { Errno, SyscallError } from './errno';
import { errno, koffi, rawSyscall } from './libc';

/**
 * The bpf(2) calls cgroup v2 device control needs: load a BPF_PROG_TYPE_CGROUP_DEVICE program (built by
 * src/cgroups/devices.ts), attach it to a cgroup directory, list and detach the programs attached there.
 *
 * `union bpf_attr` is laid out by hand in a Buffer (LP64, little-endian; include/uapi/linux/bpf.h):
 *   BPF_PROG_LOAD     u32 prog_type @0, u32 insn_cnt @4, u64 insns @8, u64 license @16, u32 log_level @24,
 *                     u32 log_size @28, u64 log_buf @32, … (the rest stays zero)
 *   BPF_PROG_ATTACH/  u32 target_fd @0, u32 attach_bpf_fd @4, u32 attach_type @8, u32 attach_flags @12
 *   BPF_PROG_DETACH
 *   BPF_PROG_QUERY    u32 target_fd @0, u32 attach_type @4, u32 query_flags @8, u32 attach_flags @12 (out),
 *                     u64 prog_ids @16 (u32 array), u32 prog_cnt @24 (in: room, out: count)
 *   BPF_PROG_GET_FD_BY_ID  u32 prog_id @0
 * The attr is passed with size ATTR_SIZE; the kernel accepts a size other than its own sizeof(union bpf_attr)
 * as long as the bytes it does not know are zero.
 *
 * Pointers inside the attr (instructions, license, log, id array) point into the SAME Buffer as the attr,
 * found with `koffi.address(buffer)` as in unix-socket.ts: the Buffer is passed as the `void *` argument (no
 * copy), stays referenced for the whole call, and is larger than 64 bytes so its memory is off the V8 heap
 * and never moves.
 *
 * Program fds come back close-on-exec (the kernel always opens them O_CLOEXEC); callers close them with
 * fs.closeSync. A program stays attached after its fd is closed, until detached or the cgroup is removed.
 */

/** __NR_bpf: x86_64 and the asm-generic table (arm64). */
export const BPF_SYSCALL_NUMBER = process.arch === 'arm64' ? 280 : 321;

const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
const BPF_PROG_DETACH = 9;
const BPF_PROG_GET_FD_BY_ID = 13;
const BPF_PROG_QUERY = 16;

export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_CGROUP_DEVICE = 6;
/** Several programs may be attached to the cgroup; the access is allowed only if all of them allow it. */
export const BPF_F_ALLOW_MULTI = 2;

const ATTR_SIZE = 128;
const INSN_SIZE = 8;
/** Verifier log room for a failed load; the programs tsrun builds give a few lines per instruction. */
const LOG_SIZE = 256 * 1024;
/** How many verifier log lines a load error quotes (the last ones say what was refused). */
const LOG_LINES = 12;
/** How often a load interrupted by a pending signal (EAGAIN) is repeated before the EAGAIN is reported. */
const LOAD_ATTEMPTS = 5;

function bpf(command: number, attr: Buffer): number {
  return rawSyscall(BPF_SYSCALL_NUMBER, 'int', command, 'void *', attr, 'unsigned int', ATTR_SIZE);
}

function address(buffer: Buffer, offset: number): bigint {
  return koffi().address(buffer) + BigInt(offset);
}

/**
 * One BPF_PROG_LOAD of `insns` with `license`; with `logSize` > 0 the verifier log goes to the end of the
 * buffer. Returns the fd, or -errno, and the log text.
 */
function tryLoad(insns: Buffer, license: string, logSize: number): { fd: number; errno: number; log: string } {
  const licenseBytes = Buffer.byteLength(license) + 1;
  const insnsOffset = ATTR_SIZE;
  const licenseOffset = insnsOffset + insns.length;
  const logOffset = licenseOffset + ((licenseBytes + 7) & ~7);
  const buffer = Buffer.alloc(logOffset + logSize);
  insns.copy(buffer, insnsOffset);
  buffer.write(license, licenseOffset, 'utf8');

  buffer.writeUInt32LE(BPF_PROG_TYPE_CGROUP_DEVICE, 0); // prog_type
  buffer.writeUInt32LE(insns.length / INSN_SIZE, 4); // insn_cnt
  buffer.writeBigUInt64LE(address(buffer, insnsOffset), 8); // insns
  buffer.writeBigUInt64LE(address(buffer, licenseOffset), 16); // license
  if (logSize > 0) {
    buffer.writeUInt32LE(1, 24); // log_level: the verifier's normal log
    buffer.writeUInt32LE(logSize, 28); // log_size
    buffer.writeBigUInt64LE(address(buffer, logOffset), 32); // log_buf
  }
  // The verifier gives up with EAGAIN when a signal is pending for the calling thread (Node's threads get
  // SIGCHLD, SIGWINCH, …); the same load succeeds or fails for real when repeated, as libbpf does.
  let fd = -1;
  let failure = 0;
  for (let attempt = 0; attempt < LOAD_ATTEMPTS; attempt++) {
    fd = bpf(BPF_PROG_LOAD, buffer);
    failure = fd < 0 ? errno() : 0;
    if (failure !== Errno.EAGAIN) break;
  }
  let log = '';
  if (logSize > 0) {
    const end = buffer.indexOf(0, logOffset);
    log = buffer.toString('utf8', logOffset, end < 0 ? buffer.length : end);
  }
  return { fd, errno: failure, log };
}

/**
 * Loads a cgroup device program (BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE) and returns its fd. When the
 * kernel refuses it, the load is repeated with the verifier log on and the error quotes the log's last lines.
 */
export function loadDeviceProgram(insns: Buffer, license = 'Apache'): number {
  if (insns.length === 0 || insns.length % INSN_SIZE !== 0) {
    throw new RuntimeError('bpf', `a BPF program is a non-empty array of 8-byte instructions, got ${insns.length} bytes`);
  }
  const first = tryLoad(insns, license, 0);
  if (first.fd >= 0) return first.fd;
  const object = `cgroup device program (${insns.length / INSN_SIZE} instructions)`;
  const error = new SyscallError('bpf BPF_PROG_LOAD', first.errno, object);
  const retry = tryLoad(insns, license, LOG_SIZE);
  if (retry.fd >= 0) return retry.fd; // refused once, accepted with the log on: keep it
  const lines = retry.log.split('\n').map((line) => line.trim()).filter(Boolean);
  if (lines.length > 0) error.message += `; verifier log: ${lines.slice(-LOG_LINES).join(' | ')}`;
  throw error;
}

function attachAttr(cgroupDirFd: number, progFd: number, flags: number): Buffer {
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(cgroupDirFd, 0); // target_fd
  attr.writeUInt32LE(progFd, 4); // attach_bpf_fd
  attr.writeUInt32LE(BPF_CGROUP_DEVICE, 8); // attach_type
  attr.writeUInt32LE(flags, 12); // attach_flags
  return attr;
}

/**
 * Attaches a loaded device program to the cgroup whose directory `cgroupDirFd` is open (O_RDONLY |
 * O_DIRECTORY), with BPF_F_ALLOW_MULTI so programs can be swapped without a moment of no filter (attach the
 * new one, then detach the old ones).
 */
export function attachDeviceProgram(cgroupDirFd: number, progFd: number): void {
  if (bpf(BPF_PROG_ATTACH, attachAttr(cgroupDirFd, progFd, BPF_F_ALLOW_MULTI)) < 0) {
    throw new SyscallError('bpf BPF_PROG_ATTACH', errno(), `device program (fd ${progFd}) to cgroup (fd ${cgroupDirFd})`);
  }
}

/** Detaches the device program `progFd` (an fd of the attached program, see deviceProgramFd) from the cgroup. */
export function detachDeviceProgram(cgroupDirFd: number, progFd: number): void {
  if (bpf(BPF_PROG_DETACH, attachAttr(cgroupDirFd, progFd, 0)) < 0) {
    throw new SyscallError('bpf BPF_PROG_DETACH', errno(), `device program (fd ${progFd}) from cgroup (fd ${cgroupDirFd})`);
  }
}

/** IDs of the device programs attached directly to the cgroup (not inherited ones), in attach order. */
export function queryDevicePrograms(cgroupDirFd: number): number[] {
  for (let room = 64; ; room *= 4) {
    const idsOffset = ATTR_SIZE;
    const attr = Buffer.alloc(ATTR_SIZE + room * 4);
    attr.writeUInt32LE(cgroupDirFd, 0); // target_fd
    attr.writeUInt32LE(BPF_CGROUP_DEVICE, 4); // attach_type
    attr.writeBigUInt64LE(address(attr, idsOffset), 16); // prog_ids
    attr.writeUInt32LE(room, 24); // prog_cnt: room in prog_ids
    if (bpf(BPF_PROG_QUERY, attr) < 0) {
      const e = errno();
      // ENOSPC: more programs than room (prog_cnt now holds the real count); ask again with more.
      if (e === 28 && room < 65536) continue;
      throw new SyscallError('bpf BPF_PROG_QUERY', e, `device programs of cgroup (fd ${cgroupDirFd})`);
    }
    const count = attr.readUInt32LE(24);
    return Array.from({ length: count }, (_, i) => attr.readUInt32LE(idsOffset + i * 4));
  }
}

/** An fd (close-on-exec) for the loaded program with this ID, e.g. one queryDevicePrograms returned. */
export function deviceProgramFd(id: number): number {
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(id, 0); // prog_id
  const fd = bpf(BPF_PROG_GET_FD_BY_ID, attr);
  if (fd < 0) throw new SyscallError('bpf BPF_PROG_GET_FD_BY_ID', errno(), `program id ${id}`);
  return fd;
}
