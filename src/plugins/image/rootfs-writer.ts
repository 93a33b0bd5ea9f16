import fs from 'node:fs';
import { RuntimeError } from '../../errors';
import { OpenFlags } from '../../linux/constants';
import { SyscallError } from '../../linux/errno';
import { fchmodat, fchownat, linkat, mknodat, setxattrAt, utimensat } from '../../linux/fs-at';
import { mkdirat, openat2, Resolve, symlinkat } from '../../linux/openat2';
import { joinPath, type EntryPath, type LayerEntry, type NodeMetadata } from './layer-entry';

/**
 * Writes layer entries into one directory tree without ever leaving it. Every directory is reached with
 * openat2(RESOLVE_BENEATH) from the tree's root: a symlink inside the tree may be followed when it stays
 * inside (`lib -> usr/lib`), but one that points out of the tree or is absolute makes the entry fail with
 * "leaves the rootfs" (EXDEV) instead of being followed (so a layer can never write through `x -> /etc`). The
 * final component is never followed: nodes are created with O_EXCL/mkdirat/symlinkat/mknodat/linkat and their
 * metadata set with the *at calls of src/linux/fs-at.ts that do not follow symlinks.
 *
 * Two ways of treating whiteouts (image-spec layer.md):
 * - 'flatten': the layers are applied one over another into a plain rootfs; a whiteout deletes.
 * - 'overlay': the tree holds one layer to be an overlayfs lower directory; a whiteout becomes overlayfs's own
 *   whiteout (a 0/0 character device), an opaque directory gets trusted.overlay.opaque=y.
 */
export type WhiteoutMode = 'flatten' | 'overlay';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const EXDEV = 18;
const ENOENT = 2;
const ELOOP = 40;
const ENOTDIR = 20;
const DIR_FLAGS = OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.CLOEXEC;
const BENEATH = Resolve.BENEATH | Resolve.NO_MAGICLINKS;

export class RootfsWriter {
  private readonly rootFd: number;
  /** Paths ('a/b') this layer created: whiteouts apply only to lower layers, never to the layer's own entries. */
  private created = new Set<string>();
  /** Directory mtimes, set when the layer is done (creating a child changes its directory's mtime). */
  private directoryTimes: Array<{ path: string[]; mtime: number }> = [];
  private label = '';

  constructor(readonly root: string, private readonly mode: WhiteoutMode) {
    this.rootFd = fs.openSync(root, OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC);
  }

  beginLayer(label: string): void {
    this.label = label;
    this.created = new Set();
    this.directoryTimes = [];
  }

  /** Applies one entry; `data` is a regular file's content (the tar entry's stream). */
  async write(entry: LayerEntry, data: AsyncIterable<Buffer>): Promise<void> {
    switch (entry.kind) {
      case 'whiteout':
        return this.whiteout(entry.path, entry.entryName);
      case 'opaque':
        return this.opaque(entry.dir, entry.entryName);
      case 'root':
        this.setMetadata(this.rootFd, '', entry, true);
        this.directoryTimes.push({ path: [], mtime: entry.mtime });
        return;
      default:
        return this.node(entry, data);
    }
  }

  /** Sets the directory times the layer's entries gave, deepest first. */
  endLayer(): void {
    for (const { path, mtime } of this.directoryTimes.reverse()) {
      const fd = this.openDirectory(path, false, path.join('/'));
      if (fd === undefined) continue; // deleted again later in the same layer
      try {
        utimensat(fd, '', { sec: mtime, nsec: 0 }, { sec: mtime, nsec: 0 });
      } finally {
        fs.closeSync(fd);
      }
    }
    this.directoryTimes = [];
  }

  close(): void {
    fs.closeSync(this.rootFd);
  }

  private fail(entryName: string, why: string, cause?: unknown): RuntimeError {
    return new RuntimeError('image', `${this.label}: entry ${JSON.stringify(entryName)}: ${why}`, { cause });
  }

  /** An error of a system call on an entry as one line naming the layer, the entry and the errno. */
  private failCall(entryName: string, error: unknown): unknown {
    if (error instanceof SyscallError) {
      if (error.errno === EXDEV) return this.fail(entryName, 'the path leaves the rootfs through a symlink', error);
      return this.fail(entryName, error.message, error);
    }
    return error;
  }

  /**
   * The directory `path` (components below the root) opened O_PATH, reached without leaving the tree.
   * Missing directories are created (mode 0755, owned by root, as other layer tools do) when `create`;
   * otherwise undefined is returned for a missing one.
   */
  private openDirectory(path: string[], create: boolean, entryName: string): number | undefined {
    if (path.length === 0) return fs.openSync(`/proc/self/fd/${this.rootFd}`, DIR_FLAGS);
    try {
      return openat2(this.rootFd, path.join('/'), DIR_FLAGS, BENEATH);
    } catch (error) {
      if (!(error instanceof SyscallError)) throw error;
      if (error.errno === ENOTDIR || error.errno === ELOOP) {
        throw this.fail(entryName, `${JSON.stringify(path.join('/'))} is not a directory inside the rootfs`, error);
      }
      if (error.errno !== ENOENT) throw this.failCall(entryName, error);
      if (!create) return undefined;
    }
    // Create what is missing, one component at a time, each reached again with RESOLVE_BENEATH.
    let fd = fs.openSync(`/proc/self/fd/${this.rootFd}`, DIR_FLAGS);
    try {
      for (const component of path) {
        let next: number;
        try {
          next = openat2(fd, component, DIR_FLAGS, BENEATH);
        } catch (error) {
          if (!(error instanceof SyscallError) || error.errno !== ENOENT) throw error;
          mkdirat(fd, component, 0o755);
          next = openat2(fd, component, DIR_FLAGS, BENEATH);
        }
        fs.closeSync(fd);
        fd = next;
      }
      return fd;
    } catch (error) {
      fs.closeSync(fd);
      throw this.failCall(entryName, error);
    }
  }

  private whiteout(path: EntryPath, entryName: string): void {
    const key = joinPath(path);
    if (this.mode === 'overlay') {
      const dir = this.openDirectory(path.dir, true, entryName)!;
      try {
        if (this.exists(dir, path.name)) return; // this layer's own entry: the whiteout is for lower layers only
        mknodat(dir, path.name, S_IFCHR, 0, 0);
      } catch (error) {
        throw this.failCall(entryName, error);
      } finally {
        fs.closeSync(dir);
      }
      return;
    }
    if (this.created.has(key)) return;
    const dir = this.openDirectory(path.dir, false, entryName);
    if (dir === undefined) return; // nothing below to hide
    try {
      this.removeTree(dir, path.name);
    } finally {
      fs.closeSync(dir);
    }
  }

  private opaque(path: string[], entryName: string): void {
    const dir = this.openDirectory(path, this.mode === 'overlay', entryName);
    if (dir === undefined) return;
    try {
      if (this.mode === 'overlay') {
        setxattrAt(dir, '', 'trusted.overlay.opaque', Buffer.from('y'));
      } else {
        this.clearLower(dir, path);
      }
    } catch (error) {
      throw this.failCall(entryName, error);
    } finally {
      fs.closeSync(dir);
    }
  }

  /** Removes what lower layers left in a directory; entries this layer made stay (their lower content goes). */
  private clearLower(dir: number, path: string[]): void {
    for (const name of fs.readdirSync(`/proc/self/fd/${dir}`)) {
      const childPath = [...path, name];
      if (!this.created.has(childPath.join('/'))) {
        this.removeTree(dir, name);
        continue;
      }
      if (!fs.lstatSync(`/proc/self/fd/${dir}/${name}`).isDirectory()) continue;
      const child = openat2(dir, name, DIR_FLAGS | OpenFlags.NOFOLLOW, BENEATH);
      try {
        this.clearLower(child, childPath);
      } finally {
        fs.closeSync(child);
      }
    }
  }

  private exists(dir: number, name: string): fs.Stats | undefined {
    return fs.lstatSync(`/proc/self/fd/${dir}/${name}`, { throwIfNoEntry: false });
  }

  /** Removes an entry and, for a directory, everything in it; symlinks are removed, never followed. */
  private removeTree(dir: number, name: string): void {
    fs.rmSync(`/proc/self/fd/${dir}/${name}`, { recursive: true, force: true });
  }

  private async node(entry: Exclude<LayerEntry, { kind: 'whiteout' | 'opaque' | 'root' }>, data: AsyncIterable<Buffer>): Promise<void> {
    const { path, entryName } = entry;
    const dir = this.openDirectory(path.dir, true, entryName)!;
    try {
      const existing = this.exists(dir, path.name);
      const keepDirectory = entry.kind === 'directory' && existing?.isDirectory();
      if (existing && !keepDirectory) this.removeTree(dir, path.name);
      switch (entry.kind) {
        case 'directory':
          if (!keepDirectory) mkdirat(dir, path.name, 0o700);
          this.setMetadata(dir, path.name, entry, true);
          this.directoryTimes.push({ path: [...path.dir, path.name], mtime: entry.mtime });
          break;
        case 'file':
          await this.writeFile(dir, path.name, entry, data);
          break;
        case 'symlink':
          symlinkat(entry.target, dir, path.name);
          this.setMetadata(dir, path.name, entry, false);
          break;
        case 'hardlink': {
          const sourceDir = this.openDirectory(entry.source.dir, false, entryName);
          if (sourceDir === undefined) throw this.fail(entryName, `the hard link's target ${JSON.stringify(joinPath(entry.source))} does not exist`);
          try {
            linkat(sourceDir, entry.source.name, dir, path.name);
          } finally {
            fs.closeSync(sourceDir);
          }
          break;
        }
        case 'fifo':
        case 'char':
        case 'block': {
          const type = entry.kind === 'fifo' ? S_IFIFO : entry.kind === 'char' ? S_IFCHR : S_IFBLK;
          const [major, minor] = 'major' in entry ? [entry.major, entry.minor] : [0, 0];
          mknodat(dir, path.name, type | 0o600, major, minor);
          this.setMetadata(dir, path.name, entry, true);
          break;
        }
      }
      this.created.add(joinPath(path));
    } catch (error) {
      throw this.failCall(entryName, error);
    } finally {
      fs.closeSync(dir);
    }
  }

  private async writeFile(dir: number, name: string, entry: NodeMetadata & { size: number; entryName: string }, data: AsyncIterable<Buffer>): Promise<void> {
    const fd = openat2(dir, name, OpenFlags.WRONLY | OpenFlags.CREAT | OpenFlags.EXCL | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC, BENEATH, 0o600);
    try {
      let written = 0;
      for await (const chunk of data) {
        for (let offset = 0; offset < chunk.length;) offset += fs.writeSync(fd, chunk, offset, chunk.length - offset);
        written += chunk.length;
      }
      if (written !== entry.size) throw this.fail(entry.entryName, `the layer ended inside the file (${written} of ${entry.size} bytes)`);
      // Owner before mode: chown clears the setuid and setgid bits.
      fs.fchownSync(fd, entry.uid, entry.gid);
      fs.fchmodSync(fd, entry.mode);
      for (const [attribute, value] of entry.xattrs) setxattrAt(dir, name, attribute, value);
      fs.futimesSync(fd, entry.mtime, entry.mtime);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Owner, mode (not for symlinks: Linux has none), extended attributes and, except for directories, times. */
  private setMetadata(dir: number, name: string, entry: NodeMetadata & { kind: string }, hasMode: boolean): void {
    fchownat(dir, name, entry.uid, entry.gid);
    if (hasMode) fchmodat(dir, name, entry.mode);
    for (const [attribute, value] of entry.xattrs) setxattrAt(dir, name, attribute, value);
    if (entry.kind !== 'directory' && entry.kind !== 'root') utimensat(dir, name, { sec: entry.mtime, nsec: 0 }, { sec: entry.mtime, nsec: 0 });
  }
}
