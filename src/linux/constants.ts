/** Linux constants tsrun passes to the kernel. Values are the same on x86_64 and arm64 unless noted. */

export const CloneFlags = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
  NEWTIME: 0x00000080,
  PARENT: 0x00008000,
} as const;

export const SIGCHLD = 17;
export const SIGKILL = 9;

export const MountFlags = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

export const MNT_DETACH = 2;

export const OpenFlags = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

export const FileType = { IFCHR: 0o020000, IFBLK: 0o060000, IFIFO: 0o010000 } as const;

export const Prctl = {
  SET_PDEATHSIG: 1,
  GET_DUMPABLE: 3,
  SET_DUMPABLE: 4,
  SET_KEEPCAPS: 8,
  CAPBSET_DROP: 24,
  SET_NO_NEW_PRIVS: 38,
  CAP_AMBIENT: 47,
  CAP_AMBIENT_RAISE: 2,
  CAP_AMBIENT_CLEAR_ALL: 4,
} as const;

export const CLOSE_RANGE_CLOEXEC = 4;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const WNOHANG = 1;
export const POLLIN = 0x1;
export const POLLHUP = 0x10;

/** System call numbers for the calls glibc has no wrapper for (or whose wrapper does more than we want). */
const SYSCALLS_X64 = { open_tree: 428, move_mount: 429, mount_setattr: 442, keyctl: 250, clone: 56, pivot_root: 155, prctl: 157, capget: 125, capset: 126, close_range: 436, pidfd_open: 434, pidfd_send_signal: 424 };
const SYSCALLS_ARM64 = { open_tree: 428, move_mount: 429, mount_setattr: 442, keyctl: 219, clone: 220, pivot_root: 41, prctl: 167, capget: 90, capset: 91, close_range: 436, pidfd_open: 434, pidfd_send_signal: 424 };
export type SyscallName = keyof typeof SYSCALLS_X64;
export const SYSCALLS: Record<SyscallName, number> = process.arch === 'arm64' ? SYSCALLS_ARM64 : SYSCALLS_X64;
