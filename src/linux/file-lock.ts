import { LOCK_EX, OpenFlags } from './constants';
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
