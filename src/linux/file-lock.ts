import { LOCK_EX, LOCK_NB, OpenFlags } from './constants';
import { Errno, SyscallError } from './errno';
import type { Sys } from './sys';

/**
 * An exclusive flock(2) on `path` (created if missing). The kernel drops it when the holder dies, so a tsrun
 * killed mid-operation never leaves a stale lock behind.
 */
export function createFileLock(sys: Sys): (path: string) => { release(): void } {
  return (path: string) => {
    const fd = sys.open(path, OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.CLOEXEC, 0o600);
    try {
      sys.flock(fd, LOCK_EX);
    } catch (error) {
      sys.close(fd);
      throw error;
    }
    return { release: () => sys.close(fd) };
  };
}

/**
 * The same lock without waiting (flock LOCK_NB): undefined when another open file description holds it now.
 */
export function createTryFileLock(sys: Sys): (path: string) => { release(): void } | undefined {
  return (path: string) => {
    const fd = sys.open(path, OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.CLOEXEC, 0o600);
    try {
      sys.flock(fd, LOCK_EX | LOCK_NB);
    } catch (error) {
      sys.close(fd);
      if (error instanceof SyscallError && error.errno === Errno.EAGAIN) return undefined;
      throw error;
    }
    return { release: () => sys.close(fd) };
  };
}
