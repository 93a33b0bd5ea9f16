import { SyscallError } from './errno';
import { check, errno, fn } from './libc';

/**
 * Descriptor-relative metadata calls for writing a tree that must never be left through a symlink: each one
 * names one entry `name` inside the directory `dirFd` holds, and none follows `name` when it is a symlink.
 * Every call checks its result and throws a SyscallError naming the call, the entry and the errno.
 */

const AT_SYMLINK_NOFOLLOW = 0x100;
const ENODATA = 61;
const AT_EMPTY_PATH = 0x1000;
/** fchmodat2 (Linux 6.6): the first chmod that takes AT_SYMLINK_NOFOLLOW itself. Same number on arm64. */
const SYS_FCHMODAT2 = 452;

function where(dirFd: number, name: string): string {
  return `${JSON.stringify(name)} (at fd ${dirFd})`;
}

/** makedev() as glibc defines it for 32-bit majors and minors. */
export function makeDev(major: number, minor: number): bigint {
  return (BigInt(major & 0xfffff000) << 32n) | (BigInt(major & 0xfff) << 8n) | (BigInt(minor & 0xffffff00) << 12n) | BigInt(minor & 0xff);
}

/** mknodat: `mode` carries the file type (S_IFCHR, S_IFBLK, S_IFIFO) and the permission bits. */
export function mknodat(dirFd: number, name: string, mode: number, major: number, minor: number): void {
  check(fn('int mknodat(int, const char *, uint32_t, uint64_t)')(dirFd, name, mode, makeDev(major, minor)), 'mknodat', where(dirFd, name));
}

/** A hard link `newDirFd/newName` to the entry `oldDirFd/oldName` itself (a symlink is linked, not followed). */
export function linkat(oldDirFd: number, oldName: string, newDirFd: number, newName: string): void {
  check(fn('int linkat(int, const char *, int, const char *, int)')(oldDirFd, oldName, newDirFd, newName, 0), 'linkat',
    `${where(newDirFd, newName)} to ${where(oldDirFd, oldName)}`);
}

/** lchown of one entry; with name '' the descriptor's own object (an O_PATH descriptor works too). */
export function fchownat(dirFd: number, name: string, uid: number, gid: number): void {
  const flags = name === '' ? AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW : AT_SYMLINK_NOFOLLOW;
  check(fn('int fchownat(int, const char *, uint32_t, uint32_t, int)')(dirFd, name, uid, gid, flags), 'fchownat', where(dirFd, name));
}

/**
 * chmod of one entry that is not a symlink (Linux has no modes on symlinks): fchmodat2 with AT_SYMLINK_NOFOLLOW,
 * so an entry swapped for a symlink is refused (EOPNOTSUPP) instead of followed. With name '' the descriptor's
 * own object.
 */
export function fchmodat(dirFd: number, name: string, mode: number): void {
  const flags = name === '' ? AT_EMPTY_PATH : AT_SYMLINK_NOFOLLOW;
  check(fn('long syscall(long, int, const char *, uint32_t, int)')(SYS_FCHMODAT2, dirFd, name, mode, flags), 'fchmodat2', where(dirFd, name));
}

/** Access and modification times (seconds and nanoseconds) of one entry, a symlink's own when it is one. */
export function utimensat(dirFd: number, name: string, atime: { sec: number; nsec: number }, mtime: { sec: number; nsec: number }): void {
  const times = Buffer.alloc(32);
  times.writeBigInt64LE(BigInt(atime.sec), 0);
  times.writeBigInt64LE(BigInt(atime.nsec), 8);
  times.writeBigInt64LE(BigInt(mtime.sec), 16);
  times.writeBigInt64LE(BigInt(mtime.nsec), 24);
  const flags = name === '' ? AT_EMPTY_PATH : AT_SYMLINK_NOFOLLOW;
  check(fn('int utimensat(int, const char *, void *, int)')(dirFd, name, times, flags), 'utimensat', where(dirFd, name));
}

/**
 * The path an xattr call on one entry uses: /proc/self/fd/<dirFd>/<name> with the l- variant (the magic link
 * stands for the directory; `name` is one component and not followed), or for name '' /proc/self/fd/<dirFd>
 * itself with the following variant: not following there would address the magic link, which has no xattrs.
 */
function xattrTarget(dirFd: number, name: string): { path: string; prefix: '' | 'l' } {
  return name === '' ? { path: `/proc/self/fd/${dirFd}`, prefix: '' } : { path: `/proc/self/fd/${dirFd}/${name}`, prefix: 'l' };
}

/** Sets an extended attribute on one entry without following it (name '': the descriptor's own object). */
export function setxattrAt(dirFd: number, name: string, attribute: string, value: Buffer): void {
  const { path, prefix } = xattrTarget(dirFd, name);
  check(fn(`int ${prefix}setxattr(const char *, const char *, void *, size_t, int)`)(path, attribute, value, value.length, 0), `${prefix}setxattr`,
    `${attribute} on ${where(dirFd, name)}`);
}

/** One extended attribute of one entry (not followed), or undefined when it has none of that name (ENODATA). */
export function getxattrAt(dirFd: number, name: string, attribute: string): Buffer | undefined {
  const { path, prefix } = xattrTarget(dirFd, name);
  const get = fn(`long ${prefix}getxattr(const char *, const char *, void *, size_t)`);
  const size = Number(get(path, attribute, null, 0));
  if (size < 0) {
    const failure = errno();
    if (failure === ENODATA) return undefined;
    throw new SyscallError(`${prefix}getxattr`, failure, `${attribute} on ${where(dirFd, name)}`);
  }
  const buffer = Buffer.alloc(size);
  const read = check(get(path, attribute, buffer, size), `${prefix}getxattr`, `${attribute} on ${where(dirFd, name)}`);
  return buffer.subarray(0, read);
}

const RENAME_NOREPLACE = 1;

/** renameat2(RENAME_NOREPLACE): moves one entry to another directory; an existing target is an error (EEXIST). */
export function renameNoReplace(oldDirFd: number, oldName: string, newDirFd: number, newName: string): void {
  check(fn('int renameat2(int, const char *, int, const char *, unsigned int)')(oldDirFd, oldName, newDirFd, newName, RENAME_NOREPLACE), 'renameat2',
    `${where(oldDirFd, oldName)} to ${where(newDirFd, newName)}`);
}
