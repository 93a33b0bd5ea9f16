import path from 'node:path';
import type { CgroupEntry, MountInfoEntry } from '../linux/proc-parsers';

/** One step of building a container's view of cgroupfs at a `type: cgroup` mount's destination. */
export type CgroupMountAction =
  | { kind: 'tmpfs'; target: string }
  | { kind: 'cgroup-v1'; target: string; controllers: string }
  | { kind: 'cgroup2'; target: string }
  | { kind: 'bind'; source: string; target: string }
  | { kind: 'symlink'; link: string; to: string };

export interface CgroupMountContext {
  /** The host mounts (the init's /proc/self/mountinfo before pivot_root). */
  mounts: readonly MountInfoEntry[];
  /** The init's /proc/self/cgroup. */
  cgroups: readonly CgroupEntry[];
  /** The container has its own cgroup namespace: fresh cgroupfs mounts then show the container's cgroup as root. */
  cgroupNamespace: boolean;
  /** In a user namespace cgroup v1 cannot be mounted (only cgroup2 can): bind-mount instead. */
  userNamespace: boolean;
}

/**
 * What runc does for a `cgroup` mount, as data. On a unified (v2-only) host: cgroup2 itself with a cgroup
 * namespace, else a bind of the container's own cgroup directory. On a v1 or hybrid host: a tmpfs with one entry
 * per hierarchy, each a fresh mount of that hierarchy (with a cgroup namespace) or a bind of the container's
 * cgroup in it, plus symlinks for co-mounted controllers (cpu → cpu,cpuacct). Targets are container paths (the
 * init resolves them inside the rootfs). The context is read by tsrun before it forks, from the host's cgroup
 * namespace: inside a new cgroup namespace /proc/self/cgroup would show every path as `/`.
 */
export function planCgroupMount(target: string, context: CgroupMountContext): CgroupMountAction[] {
  const cgroupMounts = context.mounts.filter((m) => (m.fsType === 'cgroup' || m.fsType === 'cgroup2') && m.mountPoint.startsWith('/sys/fs/cgroup'));
  const unifiedOnly = cgroupMounts.length === 1 && cgroupMounts[0]!.fsType === 'cgroup2' && cgroupMounts[0]!.mountPoint === '/sys/fs/cgroup';
  if (unifiedOnly) return [v2Action(cgroupMounts[0]!, target, context)];

  const actions: CgroupMountAction[] = [{ kind: 'tmpfs', target }];
  for (const mount of cgroupMounts) {
    const name = path.basename(mount.mountPoint);
    const entryTarget = path.join(target, name);
    if (mount.fsType === 'cgroup2') {
      actions.push(v2Action(mount, entryTarget, context));
      continue;
    }
    const controllers = mount.superOptions.filter((o) => o !== 'rw' && o !== 'ro' && o !== 'xattr' && !o.startsWith('release_agent='));
    if (context.cgroupNamespace && !context.userNamespace) {
      actions.push({ kind: 'cgroup-v1', target: entryTarget, controllers: controllers.join(',') });
    } else {
      const own = context.cgroups.find((c) => c.hierarchyId !== 0 && controllers.every((ctl) => c.controllers.includes(ctl)));
      actions.push({ kind: 'bind', source: path.join(mount.mountPoint, relativeTo(mount.root, own?.path ?? '/')), target: entryTarget });
    }
    const plain = controllers.filter((c) => !c.startsWith('name='));
    if (plain.length > 1) {
      for (const controller of plain) actions.push({ kind: 'symlink', link: path.join(target, controller), to: name });
    }
  }
  return actions;
}

function v2Action(mount: MountInfoEntry, target: string, context: CgroupMountContext): CgroupMountAction {
  if (context.cgroupNamespace) return { kind: 'cgroup2', target };
  const own = context.cgroups.find((c) => c.hierarchyId === 0);
  return { kind: 'bind', source: path.join(mount.mountPoint, relativeTo(mount.root, own?.path ?? '/')), target };
}

/** A cgroup path from /proc/self/cgroup, relative to the root of the mount that shows it. */
function relativeTo(mountRoot: string, cgroupPath: string): string {
  const relative = path.posix.relative(mountRoot, cgroupPath);
  return relative.startsWith('..') ? '.' : relative;
}
