import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { RuntimeError } from '../../errors';
import { quote } from './digest';
import { DOCUMENT_LIMIT } from './image-source';

/**
 * Reads files of a directory tree without ever following a symlink below the tree's root (the root itself may be
 * one: it is what the user named).
 *
 * How: the root is opened once, and each path is walked one component at a time, each component opened with
 * O_NOFOLLOW relative to the descriptor of its parent through `/proc/self/fd/<parent>/<name>` — Node has no
 * openat(), and that path resolves `<name>` inside the directory the descriptor refers to, whatever happens to
 * the tree's paths meanwhile. Checking each component with lstat and then opening the joined path would leave a
 * window in which a directory could be swapped for a symlink; this has none. A symlink anywhere (a directory
 * component or the file itself) is refused, as is anything but a regular file at the end (opened O_NONBLOCK so a
 * FIFO cannot block the open).
 */
export class TreeReader {
  readonly #rootFd: number;
  #closed = false;

  private constructor(rootFd: number, readonly display: string) {
    this.#rootFd = rootFd;
  }

  /** `display` is how errors name the tree (an archive's path rather than its temporary extraction). */
  static open(dir: string, display: string = dir): TreeReader {
    let fd: number;
    try {
      fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch (error) {
      throw new RuntimeError('image', `${display}: cannot open the directory: ${errorText(error)}`, { cause: error });
    }
    return new TreeReader(fd, display);
  }

  /** `display/rel`, how errors name a file of the tree. */
  where(rel: string): string {
    return `${this.display}/${rel}`;
  }

  /**
   * Normalises a path inside the tree (`./a//b` → `a/b`); refuses absolute paths, `..` components, NUL bytes
   * and empty paths. `field` names where the path came from.
   */
  static relativePath(value: unknown, field: string): string {
    if (typeof value !== 'string' || value.length === 0 || value.startsWith('/') || value.includes('\0')) {
      throw new RuntimeError('image', `${field}: ${quote(value)} is not a relative path inside the image`);
    }
    const parts = value.split('/').filter((part) => part !== '' && part !== '.');
    if (parts.length === 0 || parts.includes('..')) {
      throw new RuntimeError('image', `${field}: ${quote(value)} is not a relative path inside the image`);
    }
    return parts.join('/');
  }

  /** A descriptor of the regular file `rel` (a normalised relative path); the caller closes it. */
  openFile(rel: string): number {
    if (this.#closed) throw new RuntimeError('image', `${this.display}: the image source is closed`);
    const parts = TreeReader.relativePath(rel, this.display).split('/');
    const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
    let dirFd = this.#rootFd;
    let walked = '';
    try {
      for (const [i, part] of parts.entries()) {
        walked = walked === '' ? part : `${walked}/${part}`;
        const last = i === parts.length - 1;
        const entry = `/proc/self/fd/${dirFd}/${part}`;
        let fd: number;
        try {
          fd = fs.openSync(entry, last ? O_RDONLY | O_NOFOLLOW | O_NONBLOCK : O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        } catch (error) {
          throw this.#openError(entry, walked, last, error);
        }
        if (dirFd !== this.#rootFd) fs.closeSync(dirFd);
        dirFd = fd;
      }
      if (!fs.fstatSync(dirFd).isFile()) {
        throw new RuntimeError('image', `${this.where(walked)}: not a regular file`);
      }
      const fd = dirFd;
      dirFd = this.#rootFd;
      return fd;
    } finally {
      if (dirFd !== this.#rootFd) fs.closeSync(dirFd);
    }
  }

  #openError(entry: string, walked: string, last: boolean, error: unknown): RuntimeError {
    const code = (error as NodeJS.ErrnoException).code;
    const where = this.where(walked);
    if (code === 'ENOENT') return new RuntimeError('image', `${where}: missing`, { cause: error });
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      let symlink = code === 'ELOOP';
      try {
        symlink = fs.lstatSync(entry).isSymbolicLink();
      } catch {
        // keep the guess from the error code
      }
      if (symlink) return new RuntimeError('image', `${where}: is a symbolic link (tsrun follows no links inside an image)`, { cause: error });
      if (!last) return new RuntimeError('image', `${where}: not a directory`, { cause: error });
    }
    return new RuntimeError('image', `${where}: cannot open: ${errorText(error)}`, { cause: error });
  }

  /** Whether `rel` names something in the tree (anything, not following a final symlink). */
  exists(rel: string): boolean {
    if (this.#closed) return false;
    const parts = rel.split('/');
    const name = parts.pop() as string;
    let dirFd: number | undefined;
    try {
      dirFd = parts.length === 0 ? undefined : this.openDirectory(parts.join('/'));
      fs.lstatSync(`/proc/self/fd/${dirFd ?? this.#rootFd}/${name}`);
      return true;
    } catch {
      return false;
    } finally {
      if (dirFd !== undefined) fs.closeSync(dirFd);
    }
  }

  private openDirectory(rel: string): number {
    const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
    let dirFd = this.#rootFd;
    for (const part of rel.split('/')) {
      const fd = fs.openSync(`/proc/self/fd/${dirFd}/${part}`, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      if (dirFd !== this.#rootFd) fs.closeSync(dirFd);
      dirFd = fd;
    }
    return dirFd;
  }

  /** The whole regular file `rel`, at most `limit` bytes (more is an error naming the file). */
  readFile(rel: string, limit: number = DOCUMENT_LIMIT): Buffer {
    const fd = this.openFile(rel);
    try {
      return readAll(fd, limit, this.where(rel));
    } finally {
      fs.closeSync(fd);
    }
  }

  /** A stream of the regular file `rel`, which closes the file when it ends or is destroyed. */
  createReadStream(rel: string): Readable {
    const fd = this.openFile(rel);
    return fs.createReadStream(this.where(rel), { fd });
  }

  /** Closes the tree's root descriptor; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    fs.closeSync(this.#rootFd);
  }
}

/**
 * The whole file behind `fd`, at most `limit` bytes (more is an error naming `where`); a file that grows while
 * it is read is an error too.
 */
export function readAll(fd: number, limit: number, where: string): Buffer {
  const size = fs.fstatSync(fd).size;
  if (size > limit) throw new RuntimeError('image', `${where}: ${size} bytes is more than the ${limit} tsrun reads for a document`);
  // One byte more than fstat said, to notice a file that grows while it is read.
  const buffer = Buffer.alloc(Math.min(size, limit) + 1);
  let length = 0;
  for (;;) {
    const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
    if (n === 0) break;
    length += n;
    if (length === buffer.length) throw new RuntimeError('image', `${where}: changed while it was read`);
  }
  return buffer.subarray(0, length);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
