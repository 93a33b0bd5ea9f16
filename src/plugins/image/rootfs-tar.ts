import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { RuntimeError } from '../../errors';
import { OpenFlags } from '../../linux/constants';
import { getxattrAt } from '../../linux/fs-at';
import { readlinkat } from '../../linux/openat2';
import { listXattrsAt } from '../../linux/xattr-list';
import { drained } from './pack-drain';

/**
 * A directory tree (a container's rootfs) as a tar, in the form an image layer has (image-spec layer.md) and
 * src/plugins/image/layer-entry.ts reads: `./` for the tree's root, then every entry by its path relative to the
 * root (`etc/passwd`, directories with a trailing `/`), depth first with each directory's entries sorted by the
 * bytes of their names, so the same tree always gives the same tar.
 *
 * What goes in: regular files, directories, symlinks (the target as stored), character and block devices
 * (major/minor), FIFOs; a second or later path of an inode with more than one link becomes a hard link entry
 * to the first path written. Each entry carries mode (07777), uid, gid and mtime (whole seconds), and its
 * extended attributes as PAX `SCHILY.xattr.<name>` records (a hard link entry none: they went with the first
 * path). Left out: sockets (tar has no type for them, and a socket means nothing without its listening
 * process), `security.selinux` (the host's label for the file; a container's files carry their own MCS
 * categories, and docker and containerd leave it out of layers too), entries removed between listing their
 * directory and opening them (a running container's temporary files), and anything below a mount point (see
 * below). User and group names are not written: IDs are what a layer means.
 *
 * Never leaving the tree: the root is opened once; every entry is opened O_PATH|O_NOFOLLOW through
 * `/proc/self/fd/<directory fd>/<name>` (Node has no openat), so `name` is one component resolved inside the
 * directory the descriptor holds, and a symlink is opened as itself. Type and metadata come from fstat of that
 * descriptor, a directory is listed and a file read through it (a regular file is reopened through its own
 * magic link, which reaches the same inode), and a symlink's target is read with readlinkat on it. A path
 * swapped for a symlink while the walk runs is therefore written as that symlink and never followed; a device
 * swapped in is never opened (O_PATH opens no device).
 *
 * Mounts: anything on another file system than the root is a mount below it (a container's /proc, /sys, a
 * volume, a bind-mounted /etc/resolv.conf) and is not the container's own content. As with `tar
 * --one-file-system`, a directory on another device is written as an empty directory (the mount point must
 * exist for the image to be usable) with the metadata the mount shows, without extended attributes, and
 * nothing below it is read; a non-directory on another device can only be a file bind mount, whose content is
 * the host's, and is left out. docker export behaves alike: it reads the container's own rootfs mount only.
 * Comparing st_dev cannot see a bind mount from the same file system; a tsrun container's mounts live in its
 * own mount namespace and are not visible in the bundle's rootfs anyway.
 *
 * tar-stream's limits are checked rather than written damaged: uid and gid above 2097151 and device numbers
 * above 262143 (the octal header fields) are refused, as are names, symlink targets and xattr values that are
 * not valid UTF-8 (tar-stream decodes them as UTF-8, and so does tsrun's layer reader, which refuses what it
 * cannot carry intact). An mtime outside 1970..2038 is written clamped into that range in the header and exact
 * in a PAX `mtime` record. A file that changes size while it is read fails the export.
 */

export interface TreeTarOptions {
  /**
   * Leaves out the entry at `relPath` (`etc/passwd`, no leading `./` nor trailing `/`), and for a directory
   * everything below it. Not asked about the root.
   */
  exclude?: (relPath: string) => boolean;
}

export interface TreeTarResult {
  /** Tar entries written, the root's `./` included. */
  entries: number;
  /** Bytes of the tar stream. */
  bytes: number;
}

type TarHeader = Partial<tarStream.Header> & { name: string; pax?: Record<string, string> };

/** The largest value of an octal header field of tar-stream: 7 digits for uid/gid, 6 for device numbers. */
const MAX_ID = 0o7777777;
const MAX_DEVICE_NUMBER = 0o777777;
/** tar-stream writes mtime as a signed 32-bit number of seconds. */
const MAX_HEADER_MTIME = 2 ** 31 - 1;
const READ_CHUNK = 1024 * 1024;
const XATTR_PAX_PREFIX = 'SCHILY.xattr.';
/** Left out of every entry (see above). */
const SKIPPED_XATTRS: ReadonlySet<string> = new Set(['security.selinux']);

const OPEN_PATH = OpenFlags.PATH | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC;
const OPEN_ROOT = OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.CLOEXEC;

/**
 * Writes the tree at `root` as a tar to `output`, which is ended when the tar is complete. On failure `output`
 * is destroyed with the error: a file behind it is the caller's to remove.
 */
export async function writeTreeAsTar(root: string, output: NodeJS.WritableStream | Writable, options: TreeTarOptions = {}): Promise<TreeTarResult> {
  let rootFd: number;
  try {
    rootFd = fs.openSync(root, OPEN_ROOT);
  } catch (error) {
    throw new RuntimeError('image', `${root}: cannot open the directory to export: ${errorText(error)}`, { cause: error });
  }
  const pack = tarStream.pack();
  let bytes = 0;
  const piping = pipeline(async function* counted() {
    for await (const chunk of pack as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      yield chunk;
    }
  }, output);
  // Seen by the walk as soon as it happens: an output that fails stops the walk at the next entry.
  let outputError: unknown;
  piping.catch((error: unknown) => {
    outputError = error;
    // The pipeline does not end the generator reading the pack: destroying the pack wakes whatever waits on it.
    pack.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  const walker = new TreeWalker(root, rootFd, pack, options.exclude, () => outputError);
  try {
    await walker.walkRoot();
    pack.finalize();
    await piping;
  } catch (error) {
    pack.destroy(error instanceof Error ? error : new Error(String(error)));
    const pipeError = await piping.then(() => undefined, (e: unknown) => e);
    // The walk's own error (a file it could not export) unless the walk only failed because the output did.
    throw asExportError(error instanceof RuntimeError && error !== outputError ? error : outputError ?? pipeError ?? error, root);
  } finally {
    fs.closeSync(rootFd);
  }
  return { entries: walker.entries, bytes };
}

function asExportError(error: unknown, root: string): unknown {
  if (error instanceof RuntimeError) return error;
  return new RuntimeError('image', `${root}: cannot write the tar: ${errorText(error)}`, { cause: error });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** major() and minor() as glibc defines them for a 64-bit dev_t. */
function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/** A name or text the tar must carry as UTF-8: undefined when it cannot (decoding produced U+FFFD). */
function utf8(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  return text.includes('\uFFFD') ? undefined : text;
}

class TreeWalker {
  entries = 0;
  /** `dev:ino` → the path written first, for inodes with more than one link. */
  readonly #links = new Map<string, string>();
  #rootDev = 0n;

  constructor(
    private readonly root: string,
    private readonly rootFd: number,
    private readonly pack: tarStream.Pack,
    private readonly exclude: ((relPath: string) => boolean) | undefined,
    private readonly outputError: () => unknown,
  ) {}

  /** How errors name an entry: the root's path joined with the entry's. */
  #where(rel: string): string {
    return rel === '' ? this.root : `${this.root.replace(/\/+$/, '')}/${rel}`;
  }

  #fail(rel: string, why: string, cause?: unknown): RuntimeError {
    return new RuntimeError('image', `${this.#where(rel)}: ${why}`, cause === undefined ? {} : { cause });
  }

  async walkRoot(): Promise<void> {
    const stat = fs.fstatSync(this.rootFd, { bigint: true });
    if (!stat.isDirectory()) throw this.#fail('', 'not a directory');
    this.#rootDev = stat.dev;
    await this.#add(this.#header('./', 'directory', stat, ''), this.#xattrs(this.rootFd, '', ''));
    await this.#walkDirectory(this.rootFd, '');
  }

  async #walkDirectory(dirFd: number, rel: string): Promise<void> {
    let raw: Buffer[];
    try {
      raw = fs.readdirSync(`/proc/self/fd/${dirFd}`, { encoding: 'buffer' });
    } catch (error) {
      throw this.#fail(rel, `cannot list the directory: ${errorText(error)}`, error);
    }
    raw.sort(Buffer.compare);
    for (const bytes of raw) {
      const name = utf8(bytes);
      if (name === undefined) {
        throw this.#fail(rel, `entry ${JSON.stringify(bytes.toString('utf8'))}: the name is not valid UTF-8, which tsrun's tar cannot carry intact`);
      }
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (this.exclude?.(childRel)) continue;
      await this.#entry(dirFd, name, childRel);
    }
  }

  async #entry(dirFd: number, name: string, rel: string): Promise<void> {
    let fd: number;
    try {
      fd = fs.openSync(`/proc/self/fd/${dirFd}/${name}`, OPEN_PATH);
    } catch (error) {
      // Removed since the directory was listed (a running container's temporary file): it is not there to export.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw this.#fail(rel, `cannot open: ${errorText(error)}`, error);
    }
    try {
      await this.#node(fd, dirFd, name, rel);
    } finally {
      fs.closeSync(fd);
    }
  }

  async #node(fd: number, dirFd: number, name: string, rel: string): Promise<void> {
    const stat = fs.fstatSync(fd, { bigint: true });
    const otherMount = stat.dev !== this.#rootDev;
    if (stat.isDirectory()) {
      if (otherMount) {
        await this.#add(this.#header(`${rel}/`, 'directory', stat, rel));
        return;
      }
      await this.#add(this.#header(`${rel}/`, 'directory', stat, rel), this.#xattrs(fd, '', rel));
      await this.#walkDirectory(fd, rel);
      return;
    }
    if (otherMount || stat.isSocket()) return;
    const isSymlink = stat.isSymbolicLink();
    // xattr calls go by path: a symlink by its name with the l- variant, anything else through its descriptor.
    const xattrs = (): Record<string, string> => (isSymlink ? this.#xattrs(dirFd, name, rel) : this.#xattrs(fd, '', rel));
    if (stat.nlink > 1n) {
      const key = `${stat.dev}:${stat.ino}`;
      const first = this.#links.get(key);
      if (first !== undefined) {
        // The inode's extended attributes went with its first path; a link entry only names it again.
        await this.#add({ ...this.#header(rel, 'link', stat, rel), linkname: first });
        return;
      }
      this.#links.set(key, rel);
    }
    if (stat.isFile()) {
      await this.#file(fd, rel, stat, xattrs());
    } else if (isSymlink) {
      const target = this.#linkTarget(fd, rel);
      await this.#add({ ...this.#header(rel, 'symlink', stat, rel), linkname: target }, xattrs());
    } else if (stat.isCharacterDevice() || stat.isBlockDevice()) {
      const { major, minor } = deviceNumbers(stat.rdev);
      if (major > MAX_DEVICE_NUMBER || minor > MAX_DEVICE_NUMBER) {
        throw this.#fail(rel, `device ${major}:${minor} has a number above ${MAX_DEVICE_NUMBER}, which tsrun's tar writer cannot store`);
      }
      const type = stat.isCharacterDevice() ? 'character-device' : 'block-device';
      await this.#add({ ...this.#header(rel, type, stat, rel), devmajor: major, devminor: minor }, xattrs());
    } else if (stat.isFIFO()) {
      await this.#add(this.#header(rel, 'fifo', stat, rel), xattrs());
    } else {
      throw this.#fail(rel, `file type ${(stat.mode & 0o170000n).toString(8)} is not one a tar can hold`);
    }
  }

  /** The header fields every entry has. The mode keeps its file type bits: tar-stream turns a mode of 0 into 0644. */
  #header(name: string, type: tarStream.Header['type'], stat: fs.BigIntStats, rel: string): TarHeader {
    const uid = Number(stat.uid);
    const gid = Number(stat.gid);
    if (uid > MAX_ID || gid > MAX_ID) {
      throw this.#fail(rel, `owner ${uid}:${gid} is above ${MAX_ID}, which tsrun's tar writer cannot store`);
    }
    const seconds = Number(stat.mtimeNs / 1_000_000_000n) - (stat.mtimeNs < 0n && stat.mtimeNs % 1_000_000_000n !== 0n ? 1 : 0);
    const header: TarHeader = {
      name, type, mode: Number(stat.mode), uid, gid,
      mtime: new Date(Math.min(Math.max(seconds, 0), MAX_HEADER_MTIME) * 1000),
      size: type === 'file' ? Number(stat.size) : 0,
    };
    if (seconds < 0 || seconds > MAX_HEADER_MTIME) header.pax = { mtime: String(seconds) };
    return header;
  }

  #linkTarget(fd: number, rel: string): string {
    let target: string;
    try {
      // readlinkat on the O_PATH descriptor of the symlink itself (an empty path): the link that was opened.
      target = readlinkat(fd, '');
    } catch (error) {
      throw this.#fail(rel, `cannot read the symlink: ${errorText(error)}`, error);
    }
    if (target.includes('\uFFFD')) throw this.#fail(rel, 'the symlink target is not valid UTF-8, which tsrun\'s tar cannot carry intact');
    return target;
  }

  /** The entry's extended attributes as PAX records, sorted by name. */
  #xattrs(dirFd: number, name: string, rel: string): Record<string, string> {
    let names: string[];
    try {
      names = listXattrsAt(dirFd, name);
    } catch (error) {
      throw this.#fail(rel, `cannot list extended attributes: ${errorText(error)}`, error);
    }
    const records: Record<string, string> = {};
    for (const attribute of names.sort()) {
      if (SKIPPED_XATTRS.has(attribute)) continue;
      if (attribute.includes('\uFFFD') || attribute.includes('=')) {
        throw this.#fail(rel, `extended attribute ${JSON.stringify(attribute)}: the name is not valid UTF-8 or contains "=", which a PAX record cannot carry`);
      }
      let value: Buffer | undefined;
      try {
        value = getxattrAt(dirFd, name, attribute);
      } catch (error) {
        throw this.#fail(rel, `cannot read extended attribute ${attribute}: ${errorText(error)}`, error);
      }
      if (value === undefined) continue; // removed since it was listed
      const text = utf8(value);
      if (text === undefined) {
        throw this.#fail(rel, `extended attribute ${attribute} has a binary value (${value.length} bytes, not valid UTF-8), which tsrun's tar cannot carry intact`);
      }
      records[`${XATTR_PAX_PREFIX}${attribute}`] = text;
    }
    return records;
  }

  /** One entry without content; `pax` records are merged into the header's own (mtime). */
  async #add(header: TarHeader, pax: Record<string, string> = {}): Promise<void> {
    this.#checkOutput();
    const records = { ...header.pax, ...pax };
    const full: TarHeader = { ...header };
    if (Object.keys(records).length > 0) full.pax = records;
    else delete full.pax;
    await new Promise<void>((resolve, reject) => {
      // Errors reach the callback; an 'error' event without a listener would be thrown out of tar-stream.
      this.pack.entry(full, Buffer.alloc(0), (error) => (error ? reject(error) : resolve())).on('error', () => {});
    });
    this.entries++;
  }

  #read(fd: number, buffer: Buffer, length: number, position: number, rel: string): Promise<number> {
    return new Promise((resolve, reject) => {
      fs.read(fd, buffer, 0, length, position, (error, n) => (error ? reject(this.#fail(rel, `cannot read: ${error.message}`, error)) : resolve(n)));
    });
  }

  #checkOutput(): void {
    const error = this.outputError();
    if (error !== undefined) throw error;
  }

  /** A regular file: reopened for reading through its O_PATH descriptor, streamed into the entry. */
  async #file(pathFd: number, rel: string, stat: fs.BigIntStats, pax: Record<string, string>): Promise<void> {
    this.#checkOutput();
    let fd: number;
    try {
      fd = fs.openSync(`/proc/self/fd/${pathFd}`, OpenFlags.RDONLY | OpenFlags.CLOEXEC);
    } catch (error) {
      throw this.#fail(rel, `cannot open: ${errorText(error)}`, error);
    }
    const size = Number(stat.size);
    const header = this.#header(rel, 'file', stat, rel);
    const records = { ...header.pax, ...pax };
    if (Object.keys(records).length > 0) header.pax = records;
    const done = Promise.withResolvers<void>();
    done.promise.catch(() => {}); // awaited below; it may fail while the file is still being read
    let sink: ReturnType<tarStream.Pack['entry']> | undefined;
    try {
      sink = this.pack.entry(header, (error) => (error ? done.reject(error) : done.resolve()));
      sink.on('error', () => {}); // reported through the callback
      const buffer = Buffer.alloc(Math.min(READ_CHUNK, Math.max(size, 1)));
      let offset = 0;
      while (offset < size) {
        const n = await this.#read(fd, buffer, Math.min(buffer.length, size - offset), offset, rel);
        if (n === 0) throw this.#fail(rel, `changed while it was read: it has ${offset} bytes, ${size} when the export reached it`);
        offset += n;
        // The sink keeps the chunk: hand it a copy, the buffer is read into again.
        if (!sink.write(Buffer.from(buffer.subarray(0, n)))) await drained(sink);
        this.#checkOutput();
      }
      if ((await this.#read(fd, buffer, 1, size, rel)) !== 0) {
        throw this.#fail(rel, `changed while it was read: it grew beyond the ${size} bytes it had when the export reached it`);
      }
      sink.end(undefined);
    } catch (error) {
      sink?.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    } finally {
      fs.closeSync(fd);
    }
    await done.promise;
    this.entries++;
  }
}

