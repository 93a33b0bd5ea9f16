import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../errors';
import { MNT_DETACH, MountFlags, OpenFlags } from '../linux/constants';
import { Errno, errnoName, SyscallError } from '../linux/errno';
import { AT_FDCWD, openat2, readlinkat, Resolve, symlinkat } from '../linux/openat2';
import { parseMountInfo } from '../linux/proc-parsers';
import type { Sys } from '../linux/sys';
import type { CgroupMountAction } from '../spec/cgroup-mount-plan';
import type { ContainerPlan, MountStep } from '../spec/plan';
import { createDevices, createDevSymlinks } from './devices';
import {
  checkMountedOn, ensureFileInRoot, fdPath, mkdirAllInRoot, openParentInRoot, openRootDir, procFd, reopenMounted, type RootDir,
} from './secure-path';

/** Mounts flags a bind remount may change; anything else is left as the source had it. */
const REMOUNT_FLAGS = MountFlags.RDONLY | MountFlags.NOSUID | MountFlags.NODEV | MountFlags.NOEXEC
  | MountFlags.NOATIME | MountFlags.NODIRATIME | MountFlags.RELATIME | MountFlags.STRICTATIME | MountFlags.NOSYMFOLLOW;

/** MOUNT_ATTR_RDONLY of mount_setattr and fsmount. */
const MOUNT_ATTR_RDONLY = 0x1;

/** The mount point of a bind: a directory for a directory source, a file otherwise (created when missing). */
function prepareBindTarget(root: RootDir, step: MountStep): number {
  let sourceIsDir: boolean;
  try {
    sourceIsDir = fs.statSync(step.source).isDirectory();
  } catch (error) {
    throw new RuntimeError('mount-source', `mount ${step.destination}: source ${step.source}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (error as Error).message}`);
  }
  return sourceIsDir ? mkdirAllInRoot(root.fd, step.destination) : ensureFileInRoot(root.fd, step.destination);
}

/**
 * Mounts onto the descriptor `target` through /proc/self/fd/N: the kernel follows that magic link to exactly
 * the file the descriptor holds, so no path component can be swapped in between. The host's /proc is still
 * the init's /proc here (before pivot_root). Then takes a descriptor of the new mount and checks that it is
 * the mount just made, on `target`, inside the rootfs; the remounts and propagation changes that follow go to
 * that descriptor. Returns it (the caller closes it).
 */
function mountOnto(root: RootDir, target: number, attach: (at: string) => void): number {
  attach(procFd(target));
  let mounted: number;
  try {
    mounted = reopenMounted(root, target);
  } catch (error) {
    // The entry was renamed or replaced meanwhile: the mount cannot be vouched for.
    const why = error instanceof SyscallError ? errnoName(error.errno) : (error as Error).message;
    throw new RuntimeError('mount-target', `the mount on ${fdPath(target)} cannot be checked: looking it up again failed (${why})`);
  }
  try {
    checkMountedOn(mounted, target, root.path);
  } catch (error) {
    fs.closeSync(mounted);
    throw error;
  }
  return mounted;
}

/**
 * Flags for a bind remount: what was asked, plus what the mount already has and was not asked to clear. The
 * kernel refuses (EPERM) a remount inside a user namespace that would drop nosuid/nodev/noexec or change the
 * atime mode of a mount it inherited locked, so keep them unless config.json says otherwise.
 */
function remountFlags(sys: Sys, target: string, requested: number, cleared: number): number {
  const current = sys.mountFlagsOf(target) & REMOUNT_FLAGS & ~MountFlags.RDONLY;
  const atimeRequested = (requested & (MountFlags.NOATIME | MountFlags.RELATIME | MountFlags.STRICTATIME)) !== 0;
  const keep = atimeRequested ? current & ~(MountFlags.NOATIME | MountFlags.RELATIME | MountFlags.STRICTATIME) : current;
  return (requested & REMOUNT_FLAGS) | (keep & ~cleared);
}

/** File systems that take an SELinux `context=` mount option (proc, sysfs and cgroups do not). */
const LABELLED_TYPES = new Set(['tmpfs', 'devpts', 'mqueue', 'shm']);

function withMountLabel(step: MountStep, mountLabel: string | undefined): string {
  if (mountLabel === undefined || !LABELLED_TYPES.has(step.type)) return step.data;
  return [step.data, `context="${mountLabel}"`].filter((d) => d !== '').join(',');
}

function mountOne(sys: Sys, root: RootDir, step: MountStep, mountLabel?: string): void {
  if (!step.bind && step.cgroupActions) {
    mountCgroupView(sys, root, step, step.cgroupActions);
    return;
  }
  const target = step.bind ? prepareBindTarget(root, step) : mkdirAllInRoot(root.fd, step.destination);
  let mounted: number | undefined;
  try {
    const data = withMountLabel(step, mountLabel);
    mounted = mountOnto(root, target, (at) => {
      if (!step.bind) sys.mount(step.source === '' ? step.type : step.source, at, step.type, step.flags & ~MountFlags.REMOUNT, data === '' ? null : data);
      // move_mount would not follow the /proc/self/fd link (no MOVE_MOUNT_T_SYMLINKS): name the target by descriptor.
      else if (step.idmap?.treeFd !== undefined) sys.moveMountFd(step.idmap.treeFd, target);
      else sys.mount(step.source, at, null, MountFlags.BIND | (step.recursiveBind ? MountFlags.REC : 0), null);
    });
    const at = procFd(mounted);
    // A bind mount ignores every flag but MS_REC on creation: the requested ones need a remount.
    if (step.bind && ((step.flags & REMOUNT_FLAGS) !== 0 || step.clearedFlags !== 0)) {
      sys.mount(null, at, null, MountFlags.BIND | MountFlags.REMOUNT | remountFlags(sys, at, step.flags, step.clearedFlags), null);
    }
    // tmpcopyup: `target` still holds the directory the tmpfs now covers.
    if (!step.bind && step.copyUp) copyTree(target, at);
    for (const propagation of step.propagation) sys.mount(null, at, null, propagation, null);
    applyRecursive(sys, at, step);
  } finally {
    if (mounted !== undefined) fs.closeSync(mounted);
    fs.closeSync(target);
  }
}

/**
 * Copies a directory tree with modes, owners and symlinks as they are (tmpcopyup). The source is walked by
 * descriptor, never following a symlink, so an entry swapped for a link meanwhile cannot pull in host files.
 */
function copyTree(fromFd: number, to: string): void {
  for (const name of fs.readdirSync(procFd(fromFd))) {
    const entry = openat2(fromFd, name, OpenFlags.PATH | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC, Resolve.BENEATH | Resolve.NO_SYMLINKS);
    try {
      const stat = fs.fstatSync(entry);
      const target = path.join(to, name);
      if (stat.isDirectory()) {
        fs.mkdirSync(target, { mode: stat.mode & 0o7777 });
        copyTree(entry, target);
      } else if (stat.isSymbolicLink()) {
        fs.symlinkSync(readlinkat(fromFd, name), target);
      } else if (stat.isFile()) {
        fs.copyFileSync(procFd(entry), target);
      } else {
        continue; // devices, fifos and sockets are not copied (as runc's copy-up)
      }
      try {
        fs.lchownSync(target, stat.uid, stat.gid);
      } catch (error) {
        // In a user namespace an owner without a mapping shows as the overflow ID and cannot be given back.
        if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
      }
      if (!stat.isSymbolicLink()) fs.chmodSync(target, stat.mode & 0o7777);
    } finally {
      fs.closeSync(entry);
    }
  }
}

/** Executes a planned cgroup view (src/spec/cgroup-mount-plan.ts); a read-only mount is read-only throughout. */
function mountCgroupView(sys: Sys, root: RootDir, step: MountStep, actions: readonly CgroupMountAction[]): void {
  const base = (step.flags | MountFlags.NOSUID | MountFlags.NODEV | MountFlags.NOEXEC) & ~MountFlags.REMOUNT;
  const readonly = (step.flags & MountFlags.RDONLY) !== 0;
  let tmpfs: number | undefined;
  try {
    for (const action of actions) {
      if (action.kind === 'symlink') {
        symlinkInRoot(root, action.link, action.to);
        continue;
      }
      const target = mkdirAllInRoot(root.fd, action.target);
      let mounted: number | undefined;
      try {
        mounted = mountOnto(root, target, (at) => {
          switch (action.kind) {
            case 'tmpfs':
              // Writable while the entries are made; made read-only at the end when asked.
              sys.mount('tmpfs', at, 'tmpfs', base & ~MountFlags.RDONLY, 'mode=755');
              break;
            case 'cgroup-v1':
              sys.mount('cgroup', at, 'cgroup', base, action.controllers);
              break;
            case 'cgroup2':
              sys.mount('cgroup2', at, 'cgroup2', base, null);
              break;
            case 'bind':
              sys.mount(action.source, at, null, MountFlags.BIND | MountFlags.REC, null);
              break;
          }
        });
        if (action.kind === 'bind') {
          const at = procFd(mounted);
          sys.mount(null, at, null, MountFlags.BIND | MountFlags.REMOUNT | remountFlags(sys, at, base, 0), null);
        }
        if (action.kind === 'tmpfs') {
          // Kept open: the read-only remount at the end goes to this very mount.
          tmpfs = mounted;
          mounted = undefined;
        }
      } finally {
        if (mounted !== undefined) fs.closeSync(mounted);
        fs.closeSync(target);
      }
    }
    if (tmpfs !== undefined && readonly) sys.mount(null, procFd(tmpfs), null, MountFlags.REMOUNT | base, 'mode=755');
  } finally {
    if (tmpfs !== undefined) fs.closeSync(tmpfs);
  }
}

/** A symlink at a container path (an existing entry there is left as it is); never follows the link's own name. */
function symlinkInRoot(root: RootDir, link: string, to: string): void {
  const { dirFd, name } = openParentInRoot(root.fd, link);
  try {
    symlinkat(to, dirFd, name);
  } catch (error) {
    if (!(error instanceof SyscallError) || error.errno !== Errno.EEXIST) throw error;
  } finally {
    fs.closeSync(dirFd);
  }
}

function applyRecursive(sys: Sys, target: string, step: MountStep): void {
  if (step.recursive.set !== 0 || step.recursive.clear !== 0) sys.mountSetattrRecursive(target, step.recursive.set, step.recursive.clear);
}

/**
 * Builds the container's root in the new mount namespace: propagation of `/`, the rootfs bind, the mounts of
 * config.json, /dev, then pivot_root (or MS_MOVE + chroot with --no-pivot). Runs in the container init.
 * `beforePivot` runs once every mount is in place and the host's root is still `/` (the hooks' moment).
 */
export function prepareRootfs(sys: Sys, plan: ContainerPlan, beforePivot?: () => void): void {
  sys.mount(null, '/', null, plan.rootPropagation, null);
  const shared = (plan.rootPropagation & MountFlags.SHARED) !== 0;
  // pivot_root refuses a shared new root or a shared parent of it: with rootfsPropagation shared, keep the
  // rootfs' parent mount private now and apply the propagation to / after the pivot.
  if (shared) sys.mount(null, parentMountPoint(plan.rootfs), null, MountFlags.PRIVATE, null);
  // pivot_root needs the new root to be a mount point; the bind also keeps the rootfs' own submounts.
  sys.mount(plan.rootfs, plan.rootfs, null, MountFlags.BIND | MountFlags.REC, null);
  if (shared) sys.mount(null, plan.rootfs, null, MountFlags.PRIVATE, null);
  // Opened after the bind, so that every lookup from it walks the mount pivot_root will make the root.
  const root = openRootDir(plan.rootfs);
  try {
    plan.mounts.forEach((step, i) => {
      try {
        mountOne(sys, root, step, plan.mountLabel);
      } catch (error) {
        // Name the config entry: the host path alone does not tell the user which mount failed.
        throw withField(error, `config.json /mounts/${i}: ${step.type} ${JSON.stringify(step.source)} on ${step.destination}`);
      }
    });
    if (plan.setupDev) {
      createDevices(sys, root, plan.devices, plan.inUserNamespace);
      createDevSymlinks(root);
    }
  } finally {
    fs.closeSync(root.fd);
  }
  beforePivot?.();
  sys.chdir(plan.rootfs);
  if (plan.noPivot) {
    sys.mount(plan.rootfs, '/', null, MountFlags.MOVE, null);
    sys.chroot('.');
  } else {
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then drops the old root.
    // Make it a slave first so the unmount does not propagate back to the host.
    sys.pivotRoot('.', '.');
    sys.mount(null, '.', null, MountFlags.SLAVE | MountFlags.REC, null);
    sys.umount2('.', MNT_DETACH);
  }
  sys.chdir('/');
  if (shared) sys.mount(null, '/', null, plan.rootPropagation, null);
}

/**
 * The error of one config entry, as one line naming the entry: the failed call and errno, or what was refused.
 * Calls made on /proc/self/fd/N have no telling path of their own; the entry names the path.
 */
function withField(error: unknown, where: string): unknown {
  if (error instanceof SyscallError) return new SyscallError(`${error.operation} (${where})`, error.errno);
  if (error instanceof RuntimeError) {
    return error.code === 'mount-target' ? new RuntimeError(error.code, `${where}: ${error.message}`) : error;
  }
  // Node's fs errors (creating the mount point, say) carry their own operation, path and errno.
  if ((error as NodeJS.ErrnoException).code !== undefined) return new RuntimeError('mount', `mount (${where}): ${(error as Error).message}`);
  return error;
}

/** The mount point of the mount that holds `dir` (the longest mount point that is a prefix of it). */
function parentMountPoint(dir: string): string {
  let best = '/';
  for (const entry of parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))) {
    const point = entry.mountPoint;
    if ((dir === point || dir.startsWith(point.endsWith('/') ? point : `${point}/`)) && point.length > best.length) best = point;
  }
  return best;
}

/**
 * An O_PATH descriptor of a readonlyPaths/maskedPaths entry, or undefined when there is nothing to act on.
 * Runs after pivot_root, so "/" is the container's; still, no symlink is followed: the image decides where a
 * link points, and masking or write-protecting what it points to would let it choose what gets masked. An
 * entry that is itself a symlink has no content of its own and is left alone, like a missing one; an entry
 * reached through a symlinked directory is refused, as it does not name what it appears to.
 */
function openUnfollowed(p: string): number | undefined {
  let fd: number;
  try {
    fd = openat2(AT_FDCWD, p, OpenFlags.PATH | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC, Resolve.NO_SYMLINKS | Resolve.NO_MAGICLINKS);
  } catch (error) {
    const errno = error instanceof SyscallError ? error.errno : undefined;
    if (errno === Errno.ENOENT || errno === Errno.ENOTDIR) return undefined;
    if (errno === Errno.ELOOP) throw new RuntimeError('mount-target', 'a directory on the way is a symbolic link, which masked and read-only paths never follow');
    throw error;
  }
  if (fs.fstatSync(fd).isSymbolicLink()) {
    fs.closeSync(fd);
    return undefined;
  }
  return fd;
}

/**
 * The container's /dev/null, checked to be the null device (1:3): a file bind-mounted over a masked path must
 * not be something the image put there (a link to a writable /proc file would unmask instead of mask).
 */
function openDevNull(): number {
  const fd = openat2(AT_FDCWD, '/dev/null', OpenFlags.PATH | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC, Resolve.NO_SYMLINKS | Resolve.NO_MAGICLINKS);
  const stat = fs.fstatSync(fd, { bigint: true });
  // gnu_dev_major/minor: the 64-bit dev_t keeps the low bits of each number where 16-bit dev_t had them.
  const major = ((stat.rdev >> 8n) & 0xfffn) | ((stat.rdev >> 32n) & 0xfffff000n);
  const minor = (stat.rdev & 0xffn) | ((stat.rdev >> 12n) & 0xffffff00n);
  if (!stat.isCharacterDevice() || major !== 1n || minor !== 3n) {
    fs.closeSync(fd);
    throw new RuntimeError('mount-target', '/dev/null is not the null device (1:3), refusing to bind it over masked paths');
  }
  return fd;
}

/**
 * After pivot_root: readonlyPaths, maskedPaths and the read-only root, in runc's order. The container may have
 * no /proc now, so every mount is made by descriptor with the new mount API: a read-only path gets a
 * recursive clone of itself, made read-only while still detached and then attached exactly on the entry.
 */
export function finalizeRootfs(sys: Sys, plan: ContainerPlan): void {
  plan.readonlyPaths.forEach((p, i) => {
    try {
      const target = openUnfollowed(p);
      if (target === undefined) return;
      try {
        const tree = sys.cloneTree(target, true);
        try {
          // Only the top mount, as a bind remount would: mount_setattr leaves the other flags as they are.
          sys.mountSetattrFd(tree, MOUNT_ATTR_RDONLY, 0);
          sys.moveMountFd(tree, target);
        } finally {
          sys.close(tree);
        }
      } finally {
        fs.closeSync(target);
      }
    } catch (error) {
      throw withField(error, `config.json /linux/readonlyPaths/${i} ${JSON.stringify(p)}`);
    }
  });
  let devNull: number | undefined;
  try {
    plan.maskedPaths.forEach((p, i) => {
      try {
        const target = openUnfollowed(p);
        if (target === undefined) return;
        try {
          let tree: number;
          if (fs.fstatSync(target).isDirectory()) {
            tree = sys.detachedTmpfs(MOUNT_ATTR_RDONLY);
          } else {
            devNull ??= openDevNull();
            tree = sys.cloneTree(devNull, false);
          }
          try {
            sys.moveMountFd(tree, target);
          } finally {
            sys.close(tree);
          }
        } finally {
          fs.closeSync(target);
        }
      } catch (error) {
        throw withField(error, `config.json /linux/maskedPaths/${i} ${JSON.stringify(p)}`);
      }
    });
  } finally {
    if (devNull !== undefined) fs.closeSync(devNull);
  }
  if (plan.readonlyRoot) {
    try {
      sys.mount(null, '/', null, MountFlags.BIND | MountFlags.REMOUNT | remountFlags(sys, '/', MountFlags.RDONLY, 0), null);
    } catch (error) {
      throw withField(error, 'config.json /root/readonly');
    }
  }
}

/** Writes linux.sysctl through the container's /proc/sys (after pivot_root, so the container's namespaces). */
export function applySysctl(entries: Array<[string, string]>): void {
  for (const [key, value] of entries) {
    if (key.includes('/') || key.split('.').some((c) => c === '' || c === '..')) {
      throw new RuntimeError('sysctl', `linux.sysctl: invalid key ${JSON.stringify(key)}`);
    }
    const file = `/proc/sys/${key.replace(/\./g, '/')}`;
    try {
      fs.writeFileSync(file, value);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new RuntimeError('sysctl', `linux.sysctl ${key}=${JSON.stringify(value)}: write ${file}: ${code ?? (error as Error).message}`);
    }
  }
}
