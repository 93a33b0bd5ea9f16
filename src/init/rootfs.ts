import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../errors';
import { MNT_DETACH, MountFlags } from '../linux/constants';
import { SyscallError } from '../linux/errno';
import { parseMountInfo } from '../linux/proc-parsers';
import type { Sys } from '../linux/sys';
import type { CgroupMountAction } from '../spec/cgroup-mount-plan';
import type { ContainerPlan, MountStep } from '../spec/plan';
import { createDevices, createDevSymlinks } from './devices';
import { mkdirAllInRoot, resolveInRoot } from './secure-path';

/** Mounts flags a bind remount may change; anything else is left as the source had it. */
const REMOUNT_FLAGS = MountFlags.RDONLY | MountFlags.NOSUID | MountFlags.NODEV | MountFlags.NOEXEC
  | MountFlags.NOATIME | MountFlags.NODIRATIME | MountFlags.RELATIME | MountFlags.STRICTATIME | MountFlags.NOSYMFOLLOW;

function prepareBindTarget(rootfs: string, step: MountStep): string {
  let sourceIsDir: boolean;
  try {
    sourceIsDir = fs.statSync(step.source).isDirectory();
  } catch (error) {
    throw new RuntimeError('mount-source', `mount ${step.destination}: source ${step.source}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (error as Error).message}`);
  }
  if (sourceIsDir) return mkdirAllInRoot(rootfs, step.destination);
  // Resolve first: the destination may be a symlink (e.g. /etc/resolv.conf) whose target's directory is missing.
  const target = resolveInRoot(rootfs, step.destination);
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
  if (!fs.existsSync(target)) fs.closeSync(fs.openSync(target, 'a', 0o644));
  return target;
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

function mountOne(sys: Sys, rootfs: string, step: MountStep, mountLabel?: string): void {
  if (step.bind) {
    const target = prepareBindTarget(rootfs, step);
    if (step.idmap?.treeFd !== undefined) sys.moveMount(step.idmap.treeFd, target);
    else sys.mount(step.source, target, null, MountFlags.BIND | (step.recursiveBind ? MountFlags.REC : 0), null);
    // A bind mount ignores every flag but MS_REC on creation: the requested ones need a remount.
    if ((step.flags & REMOUNT_FLAGS) !== 0 || step.clearedFlags !== 0) {
      sys.mount(null, target, null, MountFlags.BIND | MountFlags.REMOUNT | remountFlags(sys, target, step.flags, step.clearedFlags), null);
    }
    for (const propagation of step.propagation) sys.mount(null, target, null, propagation, null);
    applyRecursive(sys, target, step);
    return;
  }
  if (step.cgroupActions) {
    mountCgroupView(sys, rootfs, step, step.cgroupActions);
    return;
  }
  const target = mkdirAllInRoot(rootfs, step.destination);
  const data = withMountLabel(step, mountLabel);
  // tmpcopyup: keep a handle on the directory the tmpfs is about to cover, then copy from it into the tmpfs.
  const covered = step.copyUp ? fs.openSync(target, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY) : undefined;
  try {
    sys.mount(step.source === '' ? step.type : step.source, target, step.type, step.flags & ~MountFlags.REMOUNT, data === '' ? null : data);
    if (covered !== undefined) copyTree(`/proc/self/fd/${covered}`, target);
  } finally {
    if (covered !== undefined) fs.closeSync(covered);
  }
  for (const propagation of step.propagation) sys.mount(null, target, null, propagation, null);
  applyRecursive(sys, target, step);
}

/** Copies a directory tree with modes, owners and symlinks as they are (tmpcopyup). */
function copyTree(from: string, to: string): void {
  for (const name of fs.readdirSync(from)) {
    const source = path.join(from, name);
    const target = path.join(to, name);
    const stat = fs.lstatSync(source);
    if (stat.isDirectory()) {
      fs.mkdirSync(target, { mode: stat.mode & 0o7777 });
      copyTree(source, target);
    } else if (stat.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(source), target);
    } else if (stat.isFile()) {
      fs.copyFileSync(source, target);
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
  }
}

/** Executes a planned cgroup view (src/spec/cgroup-mount-plan.ts); a read-only mount is read-only throughout. */
function mountCgroupView(sys: Sys, rootfs: string, step: MountStep, actions: readonly CgroupMountAction[]): void {
  const base = (step.flags | MountFlags.NOSUID | MountFlags.NODEV | MountFlags.NOEXEC) & ~MountFlags.REMOUNT;
  const readonly = (step.flags & MountFlags.RDONLY) !== 0;
  let tmpfs: string | undefined;
  for (const action of actions) {
    if (action.kind === 'symlink') {
      const link = resolveInRoot(rootfs, action.link);
      if (!fs.existsSync(link)) fs.symlinkSync(action.to, link);
      continue;
    }
    const target = mkdirAllInRoot(rootfs, action.target);
    switch (action.kind) {
      case 'tmpfs':
        // Writable while the entries are made; made read-only at the end when asked.
        sys.mount('tmpfs', target, 'tmpfs', base & ~MountFlags.RDONLY, 'mode=755');
        tmpfs = target;
        break;
      case 'cgroup-v1':
        sys.mount('cgroup', target, 'cgroup', base, action.controllers);
        break;
      case 'cgroup2':
        sys.mount('cgroup2', target, 'cgroup2', base, null);
        break;
      case 'bind':
        sys.mount(action.source, target, null, MountFlags.BIND | MountFlags.REC, null);
        sys.mount(null, target, null, MountFlags.BIND | MountFlags.REMOUNT | remountFlags(sys, target, base, 0), null);
        break;
    }
  }
  if (tmpfs !== undefined && readonly) sys.mount(null, tmpfs, null, MountFlags.REMOUNT | base, 'mode=755');
}

function applyRecursive(sys: Sys, target: string, step: MountStep): void {
  if (step.recursive.set !== 0 || step.recursive.clear !== 0) sys.mountSetattrRecursive(target, step.recursive.set, step.recursive.clear);
}

/**
 * Builds the container's root in the new mount namespace: propagation of `/`, the rootfs bind, the mounts of
 * config.json, /dev, then pivot_root (or MS_MOVE + chroot with --no-pivot). Runs in the container init.
 */
export function prepareRootfs(sys: Sys, plan: ContainerPlan): void {
  sys.mount(null, '/', null, plan.rootPropagation, null);
  const shared = (plan.rootPropagation & MountFlags.SHARED) !== 0;
  // pivot_root refuses a shared new root or a shared parent of it: with rootfsPropagation shared, keep the
  // rootfs' parent mount private now and apply the propagation to / after the pivot.
  if (shared) sys.mount(null, parentMountPoint(plan.rootfs), null, MountFlags.PRIVATE, null);
  // pivot_root needs the new root to be a mount point; the bind also keeps the rootfs' own submounts.
  sys.mount(plan.rootfs, plan.rootfs, null, MountFlags.BIND | MountFlags.REC, null);
  if (shared) sys.mount(null, plan.rootfs, null, MountFlags.PRIVATE, null);
  plan.mounts.forEach((step, i) => {
    try {
      mountOne(sys, plan.rootfs, step, plan.mountLabel);
    } catch (error) {
      // Name the config entry: the host path alone does not tell the user which mount failed.
      const where = `config.json /mounts/${i}: ${step.type} ${JSON.stringify(step.source)} on ${step.destination}`;
      if (error instanceof SyscallError) throw new SyscallError(`${error.operation} (${where})`, error.errno);
      // Node's fs errors (creating the mount point, say) carry their own operation, path and errno.
      if (!(error instanceof RuntimeError) && (error as NodeJS.ErrnoException).code !== undefined) {
        throw new RuntimeError('mount', `mount (${where}): ${(error as Error).message}`);
      }
      throw error;
    }
  });
  if (plan.setupDev) {
    createDevices(sys, plan.rootfs, plan.devices, plan.inUserNamespace);
    createDevSymlinks(plan.rootfs);
  }
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

/** The mount point of the mount that holds `dir` (the longest mount point that is a prefix of it). */
function parentMountPoint(dir: string): string {
  let best = '/';
  for (const entry of parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))) {
    const point = entry.mountPoint;
    if ((dir === point || dir.startsWith(point.endsWith('/') ? point : `${point}/`)) && point.length > best.length) best = point;
  }
  return best;
}

function existingKind(p: string): 'dir' | 'other' | undefined {
  try {
    return fs.statSync(p).isDirectory() ? 'dir' : 'other';
  } catch {
    return undefined;
  }
}

/** After pivot_root: readonlyPaths, maskedPaths and the read-only root, in runc's order. */
export function finalizeRootfs(sys: Sys, plan: ContainerPlan): void {
  for (const p of plan.readonlyPaths) {
    if (existingKind(p) === undefined) continue;
    sys.mount(p, p, null, MountFlags.BIND | MountFlags.REC, null);
    sys.mount(null, p, null, MountFlags.BIND | MountFlags.REMOUNT | MountFlags.REC | remountFlags(sys, p, MountFlags.RDONLY, 0), null);
  }
  for (const p of plan.maskedPaths) {
    const kind = existingKind(p);
    if (kind === undefined) continue;
    if (kind === 'dir') sys.mount('tmpfs', p, 'tmpfs', MountFlags.RDONLY, null);
    else sys.mount('/dev/null', p, null, MountFlags.BIND, null);
  }
  if (plan.readonlyRoot) {
    sys.mount(null, '/', null, MountFlags.BIND | MountFlags.REMOUNT | remountFlags(sys, '/', MountFlags.RDONLY, 0), null);
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
