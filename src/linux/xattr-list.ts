import { SyscallError } from './errno';
import { errno, fn } from './libc';

/**
 * The names of the extended attributes of one entry, the counterpart of getxattrAt (src/linux/fs-at.ts) and
 * addressed the same way: `/proc/self/fd/<dirFd>/<name>` with llistxattr (the magic link stands for the
 * directory, `name` is one component and is not followed), or for name '' `/proc/self/fd/<dirFd>` itself with
 * listxattr (not following there would address the magic link). A descriptor opened O_PATH works: the call
 * goes through the path, not the descriptor.
 */

const ERANGE = 34;
const ENOTSUP = 95;

function where(dirFd: number, name: string): string {
  return `${JSON.stringify(name)} (at fd ${dirFd})`;
}

/**
 * The attribute names, in the order the file system lists them. Names are decoded as UTF-8: bytes that are not
 * show as U+FFFD, and such a name cannot be read back with getxattrAt (the caller refuses it). A file system
 * without extended attributes (ENOTSUP) has none.
 */
export function listXattrsAt(dirFd: number, name: string): string[] {
  const [path, call] = name === '' ? [`/proc/self/fd/${dirFd}`, 'listxattr'] : [`/proc/self/fd/${dirFd}/${name}`, 'llistxattr'];
  const list = fn(`long ${call}(const char *, void *, size_t)`);
  // The list may grow between asking its size and reading it (ERANGE): ask again.
  for (let attempt = 0; ; attempt++) {
    const size = Number(list(path, null, 0));
    if (size < 0) {
      const failure = errno();
      if (failure === ENOTSUP) return [];
      throw new SyscallError(call, failure, where(dirFd, name));
    }
    if (size === 0) return [];
    const buffer = Buffer.alloc(size);
    const read = Number(list(path, buffer, size));
    if (read < 0) {
      const failure = errno();
      if (failure === ERANGE && attempt < 8) continue;
      throw new SyscallError(call, failure, where(dirFd, name));
    }
    return buffer.subarray(0, read).toString('utf8').split('\0').filter((attribute) => attribute !== '');
  }
}
