import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../errors';
import { OpenFlags } from '../linux/constants';
import { Errno, SyscallError } from '../linux/errno';
import { mkdirat, openat2, readlinkat, Resolve } from '../linux/openat2';
import { parseMountInfo } from '../linux/proc-parsers';

/*
 * Paths inside the container's root, resolved by the kernel and held by descriptor.
 *
 * config.json and the image are untrusted: a component of a mount destination may be a symlink, and a process
 * of another container sharing a volume can swap a directory for a symlink at any moment. Resolving a path in
 * userspace and then handing the joined string to mount(2) lets such a swap redirect the mount outside the
 * rootfs (CVE-2021-30465). Here every lookup is one openat2(RESOLVE_IN_ROOT) from a descriptor of the rootfs,
 * so symlinks and ".." are resolved by the kernel as if the rootfs were "/", every creation is relative to a
 * descriptor resolved that way, and the mount is made onto the descriptor (`/proc/self/fd/N`), not a path.
 */

/** Links followed while creating missing components, as the kernel's limit for one lookup. */
const MAX_SYMLINKS = 40;
/** openat2 answers EAGAIN when a rename raced a ".." lookup it must keep inside the root; it is worth retrying. */
const EAGAIN_RETRIES = 64;
/** Walks that start over when a component vanished under them (see createInRoot). */
const CREATE_RETRIES = 8;

/**
 * Magic links (/proc/PID/root, /proc/PID/fd/N) jump without regard to the root: the container's /proc may be
 * mounted already, and /proc/1/root would then lead to the host's "/".
 */
const IN_ROOT = Resolve.IN_ROOT | Resolve.NO_MAGICLINKS;

/** The path of a descriptor through the host's /proc (the init still has it before pivot_root). */
export function procFd(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/** Where a descriptor is now, as the kernel names it. */
export function fdPath(fd: number): string {
  return fs.readlinkSync(procFd(fd));
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

function openRetrying(dirFd: number, p: string, flags: number, resolve: number): number {
  for (let attempt = 0; ; attempt++) {
    try {
      return openat2(dirFd, p, flags, resolve);
    } catch (error) {
      if (!(error instanceof SyscallError) || error.errno !== Errno.EAGAIN || attempt >= EAGAIN_RETRIES) throw error;
    }
  }
}

/**
 * An O_PATH descriptor of `containerPath` inside the root `rootFd`: symlinks (also the last component unless
 * `flags` has O_NOFOLLOW) and ".." are resolved by the kernel and cannot leave the root.
 */
export function openInRoot(rootFd: number, containerPath: string, flags = 0): number {
  const relative = components(containerPath).join('/');
  return openRetrying(rootFd, relative === '' ? '.' : relative, OpenFlags.PATH | OpenFlags.CLOEXEC | flags, IN_ROOT);
}

function errnoOf(error: unknown): number | undefined {
  return error instanceof SyscallError ? error.errno : undefined;
}

/**
 * Makes one component `name` in the directory `parent` holds: a directory, or for the last component of a
 * file mount point an empty file. Returns the symlink's text when `name` is a symlink (to be followed inside
 * the root), undefined once something that is not a symlink is there.
 */
function makeComponent(parent: number, name: string, file: boolean, mode: number): string | undefined {
  try {
    if (file) {
      // O_EXCL: never opens through a symlink planted at the name, it fails with EEXIST instead.
      fs.closeSync(openat2(parent, name, OpenFlags.CREAT | OpenFlags.EXCL | OpenFlags.WRONLY | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC, Resolve.BENEATH | Resolve.NO_SYMLINKS, mode));
    } else {
      mkdirat(parent, name, mode);
    }
    return undefined;
  } catch (error) {
    if (errnoOf(error) !== Errno.EEXIST) throw error;
  }
  try {
    return readlinkat(parent, name);
  } catch (error) {
    // EINVAL: not a symlink. ENOENT: removed meanwhile; the next lookup from the root decides.
    if (errnoOf(error) === Errno.EINVAL || errnoOf(error) === Errno.ENOENT) return undefined;
    throw error;
  }
}

/** The container's root directory, held open, and the host path the kernel gives it (for checks and messages). */
export interface RootDir {
  fd: number;
  path: string;
}

/** Opens the rootfs (a trusted host path from the bundle) as the root of every later lookup. */
export function openRootDir(rootfs: string): RootDir {
  const fd = fs.openSync(rootfs, OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.CLOEXEC);
  return { fd, path: fdPath(fd) };
}

/**
 * Opens `containerPath` in the root, creating what is missing: directories, and with `file` an empty file as
 * the last component (a mount point for a file). A symlink on the way, dangling ones included, is followed
 * inside the root — /etc/resolv.conf → ../run/systemd/resolve/stub-resolv.conf gets the file where the link
 * points. Each component is created relative to a descriptor of its parent that was itself resolved from
 * the root, so a concurrent swap can only ever make it land elsewhere inside the root.
 */
function createInRoot(rootFd: number, containerPath: string, file: boolean, dirMode: number): number {
  const lastFlags = file ? 0 : OpenFlags.DIRECTORY;
  for (let attempt = 0; ; attempt++) {
    try {
      try {
        return openInRoot(rootFd, containerPath, lastFlags);
      } catch (error) {
        if (errnoOf(error) !== Errno.ENOENT) throw error;
      }
      return walkCreating(rootFd, containerPath, file, dirMode);
    } catch (error) {
      // A component made or looked at a moment ago can be gone (renamed, replaced by a link) when the next step
      // looks it up: start over from the root a few times before giving up.
      if (errnoOf(error) !== Errno.ENOENT || attempt >= CREATE_RETRIES) throw error;
    }
  }
}

function walkCreating(rootFd: number, containerPath: string, file: boolean, dirMode: number): number {
  const queue = components(containerPath);
  let prefix: string[] = [];
  let links = 0;
  while (queue.length > 0) {
    const name = queue.shift()!;
    // ".." always exists; the kernel applies it to where the prefix led, never above the root.
    if (name !== '..') {
      const parent = openInRoot(rootFd, prefix.join('/'), OpenFlags.DIRECTORY);
      const lastFile = file && queue.length === 0;
      let link: string | undefined;
      try {
        link = makeComponent(parent, name, lastFile, lastFile ? 0o644 : dirMode);
      } finally {
        fs.closeSync(parent);
      }
      if (link !== undefined) {
        if (++links > MAX_SYMLINKS) throw new SyscallError('openat2', Errno.ELOOP, `${JSON.stringify(containerPath)} in the container`);
        queue.unshift(...components(link));
        if (link.startsWith('/')) prefix = [];
        continue;
      }
    }
    prefix.push(name);
  }
  return openInRoot(rootFd, prefix.join('/'), file ? 0 : OpenFlags.DIRECTORY);
}

/** mkdir -p of a container path inside the root; returns an O_PATH descriptor of the directory. */
export function mkdirAllInRoot(rootFd: number, containerPath: string, mode = 0o755): number {
  return createInRoot(rootFd, containerPath, false, mode);
}

/** A file at a container path inside the root (created empty, 0644, when missing); returns an O_PATH descriptor. */
export function ensureFileInRoot(rootFd: number, containerPath: string): number {
  return createInRoot(rootFd, containerPath, true, 0o755);
}

/**
 * The directory holding the last component of `containerPath` (created when missing, followed through symlinks
 * inside the root) and that component's name: for calls on the entry itself, which must not follow it.
 */
export function openParentInRoot(rootFd: number, containerPath: string): { dirFd: number; name: string } {
  const parts = components(containerPath);
  const name = parts.pop();
  if (name === undefined || name === '..') {
    throw new RuntimeError('mount-target', `${JSON.stringify(containerPath)} does not name an entry in a directory`);
  }
  return { dirFd: mkdirAllInRoot(rootFd, parts.join('/')), name };
}

/**
 * A descriptor of what is mounted on `target` now. `target` itself stays on the covered file (and
 * /proc/self/fd/N jumps to exactly that), so the entry is looked up once more by its name in its parent
 * directory, which crosses into the mount on it. The parent of a directory is its "..", whatever its path is
 * now, so renaming the directories above does not get in the way; a file has no "..", its parent is looked
 * up by the path the kernel gives it, with no symlink allowed. checkMountedOn then says whether the result
 * is the new mount.
 */
export function reopenMounted(root: RootDir, target: number): number {
  const place = fdPath(target);
  const parent = fs.fstatSync(target).isDirectory()
    ? openat2(target, '..', OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.CLOEXEC, 0)
    : openRetrying(root.fd, path.relative(root.path, path.dirname(place)) || '.', OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.CLOEXEC, IN_ROOT | Resolve.NO_SYMLINKS);
  try {
    return openat2(parent, path.basename(place), OpenFlags.PATH | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC, Resolve.BENEATH | Resolve.NO_SYMLINKS | Resolve.NO_MAGICLINKS);
  } finally {
    fs.closeSync(parent);
  }
}

/** The ID of the mount a descriptor is on (fdinfo's mnt_id, as in mountinfo's first field). */
export function mountIdOf(fd: number): number {
  const match = /^mnt_id:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!match) throw new RuntimeError('mount-target', `/proc/self/fdinfo/${fd}: no mnt_id`);
  return Number(match[1]);
}

/**
 * Checks, after a mount onto `/proc/self/fd/<target>`, that `mounted` (from reopenMounted) is the root of a
 * new mount sitting directly on `target`, at the same place, inside `rootPath`. Refuses anything else: the
 * mount did not land where config.json asked, or the layout moved while it was made (a rename of the
 * directories above between the two looks is refused too: safe, if pessimistic). Nothing may run on top.
 */
export function checkMountedOn(mounted: number, target: number, rootPath: string): void {
  const place = fdPath(target);
  const inside = rootPath === '/' || place === rootPath || place.startsWith(`${rootPath}/`);
  const refuse = (why: string): never => {
    throw new RuntimeError('mount-target', `the mount on ${place} is not confirmed inside the rootfs ${rootPath}: ${why}`);
  };
  if (!inside) refuse('the mount point is outside it');
  const seen = fdPath(mounted);
  if (seen !== place) refuse(`looking it up again leads to ${seen}`);
  const parent = mountIdOf(target);
  const id = mountIdOf(mounted);
  if (id === parent) refuse('no new mount is there');
  const entry = parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).find((e) => e.mountId === id);
  if (entry?.parentId !== parent) refuse(`mount ${id} is not mounted on mount ${parent}`);
}
