import { RuntimeError } from '../errors';

/** errno numbers of Linux (x86_64 and arm64 share them) → symbolic names, for messages users can search for. */
const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 6: 'ENXIO', 7: 'E2BIG', 8: 'ENOEXEC', 9: 'EBADF',
  10: 'ECHILD', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 14: 'EFAULT', 15: 'ENOTBLK', 16: 'EBUSY', 17: 'EEXIST',
  18: 'EXDEV', 19: 'ENODEV', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL', 23: 'ENFILE', 24: 'EMFILE', 25: 'ENOTTY',
  26: 'ETXTBSY', 27: 'EFBIG', 28: 'ENOSPC', 29: 'ESPIPE', 30: 'EROFS', 31: 'EMLINK', 32: 'EPIPE', 33: 'EDOM',
  34: 'ERANGE', 35: 'EDEADLK', 36: 'ENAMETOOLONG', 38: 'ENOSYS', 39: 'ENOTEMPTY', 40: 'ELOOP', 61: 'ENODATA',
  75: 'EOVERFLOW', 90: 'EMSGSIZE', 95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL',
  101: 'ENETUNREACH', 105: 'ENOBUFS', 110: 'ETIMEDOUT', 111: 'ECONNREFUSED',
};

const ERRNO_TEXT: Record<string, string> = {
  EPERM: 'Operation not permitted', ENOENT: 'No such file or directory', ESRCH: 'No such process',
  EINTR: 'Interrupted system call', EIO: 'Input/output error', ENXIO: 'No such device or address',
  E2BIG: 'Argument list too long', ENOEXEC: 'Exec format error', EBADF: 'Bad file descriptor',
  ECHILD: 'No child processes', EAGAIN: 'Resource temporarily unavailable', ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied', EFAULT: 'Bad address', ENOTBLK: 'Block device required',
  EBUSY: 'Device or resource busy', EEXIST: 'File exists', EXDEV: 'Invalid cross-device link',
  ENODEV: 'No such device', ENOTDIR: 'Not a directory', EISDIR: 'Is a directory', EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system', EMFILE: 'Too many open files',
  ENOTTY: 'Inappropriate ioctl for device', ETXTBSY: 'Text file busy', EFBIG: 'File too large',
  ENOSPC: 'No space left on device', ESPIPE: 'Illegal seek', EROFS: 'Read-only file system',
  EMLINK: 'Too many links', EPIPE: 'Broken pipe', ERANGE: 'Numerical result out of range',
  EDEADLK: 'Resource deadlock avoided', ENAMETOOLONG: 'File name too long', ENOSYS: 'Function not implemented',
  ENOTEMPTY: 'Directory not empty', ELOOP: 'Too many levels of symbolic links', ENODATA: 'No data available',
  EOVERFLOW: 'Value too large for defined data type', EOPNOTSUPP: 'Operation not supported',
  ETIMEDOUT: 'Connection timed out', EADDRINUSE: 'Address already in use', ECONNREFUSED: 'Connection refused',
  EMSGSIZE: 'Message too long', EAFNOSUPPORT: 'Address family not supported by protocol',
  EADDRNOTAVAIL: 'Cannot assign requested address', ENETUNREACH: 'Network is unreachable',
  ENOBUFS: 'No buffer space available',
};

export const Errno = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, ECHILD: 10, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EBUSY: 16, EEXIST: 17,
  ENOTDIR: 20, EISDIR: 21, EINVAL: 22, ENOSPC: 28, EROFS: 30, ENOSYS: 38, ENOTEMPTY: 39, ELOOP: 40,
} as const;

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

export function errnoText(errno: number): string {
  return ERRNO_TEXT[errnoName(errno)] ?? 'Unknown error';
}

/** A failed system call: `<operation> <object>: <ENAME> (<text>)`, e.g. ``mount `proc` on `/rootfs/proc`: EPERM (...)``. */
export class SyscallError extends RuntimeError {
  readonly errno: number;
  readonly operation: string;

  constructor(operation: string, errno: number, object?: string) {
    super('syscall', `${operation}${object ? ` ${object}` : ''}: ${errnoName(errno)} (${errnoText(errno)})`);
    this.name = 'SyscallError';
    this.errno = errno;
    this.operation = operation;
  }
}

/** Node's fs errors carry `code` (e.g. 'ENOENT') and `errno` (negative). */
export function nodeErrorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}
