import { check, fn, rawSyscall } from './libc';

/**
 * Descriptor-relative path calls Node's fs lacks (openat2, mkdirat, ...). They are plain file system calls that
 * need no privilege, so the init uses them directly, like node:fs; mount and mknod stay behind `Sys`.
 * Every call checks its result and throws a SyscallError naming the call, the path and the errno.
 */

/** openat2's `resolve` flags (include/uapi/linux/openat2.h). */
export const Resolve = {
  NO_XDEV: 0x01,
  NO_MAGICLINKS: 0x02,
  NO_SYMLINKS: 0x04,
  BENEATH: 0x08,
  IN_ROOT: 0x10,
} as const;

export const AT_FDCWD = -100;

/** openat2 has the same number on x86_64 and arm64: it is newer than the unified syscall table (424+). */
const SYS_OPENAT2 = 437;

/** Where a call happened, for messages: the path relative to a descriptor says little without the descriptor. */
function where(dirFd: number, path: string): string {
  return dirFd === AT_FDCWD ? JSON.stringify(path) : `${JSON.stringify(path)} (at fd ${dirFd})`;
}

/**
 * openat2(dirFd, path, {flags, mode, resolve}). The struct open_how is three u64 (flags, mode, resolve) and
 * its size is passed along, so the kernel can tell this layout from later, longer ones.
 */
export function openat2(dirFd: number, path: string, flags: number, resolve: number, mode = 0): number {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(flags), 0);
  how.writeBigUInt64LE(BigInt(mode), 8);
  how.writeBigUInt64LE(BigInt(resolve), 16);
  return check(rawSyscall(SYS_OPENAT2, 'int', dirFd, 'const char *', path, 'void *', how, 'size_t', 24), 'openat2', where(dirFd, path));
}

export function mkdirat(dirFd: number, name: string, mode: number): void {
  check(fn('int mkdirat(int, const char *, uint32_t)')(dirFd, name, mode), 'mkdirat', where(dirFd, name));
}

export function unlinkat(dirFd: number, name: string, removeDir = false): void {
  check(fn('int unlinkat(int, const char *, int)')(dirFd, name, removeDir ? 0x200 : 0), 'unlinkat', where(dirFd, name));
}

export function symlinkat(target: string, dirFd: number, name: string): void {
  check(fn('int symlinkat(const char *, int, const char *)')(target, dirFd, name), 'symlinkat', where(dirFd, name));
}

/** readlinkat(dirFd, name): the link's text. EINVAL means `name` is not a symbolic link. */
export function readlinkat(dirFd: number, name: string): string {
  const buffer = Buffer.alloc(4096);
  const length = check(fn('long readlinkat(int, const char *, void *, size_t)')(dirFd, name, buffer, buffer.length), 'readlinkat', where(dirFd, name));
  return buffer.subarray(0, length).toString('utf8');
}

/*
 * Mount calls that take descriptors instead of paths (the "new mount API"). After pivot_root the container may
 * have no /proc, so /proc/self/fd/N cannot name a descriptor there; these calls need no path at all.
 */

const AT_EMPTY_PATH = 0x1000;
const AT_RECURSIVE = 0x8000;
const OPEN_TREE_CLONE = 1;
const OPEN_TREE_CLOEXEC = 0o2000000;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH = 0x40;
/** The new mount API's numbers are the same on x86_64 and arm64 (unified table). */
const SYS_OPEN_TREE = 428;
const SYS_MOVE_MOUNT = 429;
const SYS_FSOPEN = 430;
const SYS_FSCONFIG = 431;
const SYS_FSMOUNT = 432;
const SYS_MOUNT_SETATTR = 442;
const FSCONFIG_CMD_CREATE = 6;

function closeFd(fd: number): void {
  check(fn('int close(int)')(fd), 'close', `fd ${fd}`);
}

/** open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH): a detached copy of the mount (tree) at exactly what fd holds. */
export function cloneTree(fd: number, recursive: boolean): number {
  const flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
  return check(rawSyscall(SYS_OPEN_TREE, 'int', fd, 'const char *', '', 'unsigned int', flags), 'open_tree', `fd ${fd}`);
}

/** mount_setattr(fd, "", AT_EMPTY_PATH, {set, clear}) on the one mount fd holds, attached or detached. */
export function mountSetattrFd(fd: number, set: number, clear: number): void {
  const attr = Buffer.alloc(32); // struct mount_attr: attr_set, attr_clr, propagation, userns_fd (u64 each)
  attr.writeBigUInt64LE(BigInt(set), 0);
  attr.writeBigUInt64LE(BigInt(clear), 8);
  check(rawSyscall(SYS_MOUNT_SETATTR, 'int', fd, 'const char *', '', 'unsigned int', AT_EMPTY_PATH, 'void *', attr, 'size_t', 32), 'mount_setattr', `fd ${fd}`);
}

/** move_mount of a detached tree onto exactly what targetFd holds (both named by descriptor, no path walk). */
export function moveMountFd(treeFd: number, targetFd: number): void {
  check(
    rawSyscall(SYS_MOVE_MOUNT, 'int', treeFd, 'const char *', '', 'int', targetFd, 'const char *', '', 'unsigned int', MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
    'move_mount', `fd ${treeFd} onto fd ${targetFd}`,
  );
}

/** A new, empty, detached tmpfs (fsopen + fsconfig CMD_CREATE + fsmount) with the MOUNT_ATTR_* flags given. */
export function detachedTmpfs(attrFlags: number): number {
  const FSOPEN_CLOEXEC = 1;
  const FSMOUNT_CLOEXEC = 1;
  const context = check(rawSyscall(SYS_FSOPEN, 'const char *', 'tmpfs', 'unsigned int', FSOPEN_CLOEXEC), 'fsopen', '"tmpfs"');
  try {
    check(rawSyscall(SYS_FSCONFIG, 'int', context, 'unsigned int', FSCONFIG_CMD_CREATE, 'const char *', null, 'const void *', null, 'int', 0), 'fsconfig create', '"tmpfs"');
    return check(rawSyscall(SYS_FSMOUNT, 'int', context, 'unsigned int', FSMOUNT_CLOEXEC, 'unsigned int', attrFlags), 'fsmount', '"tmpfs"');
  } finally {
    closeFd(context);
  }
}
