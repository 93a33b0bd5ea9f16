import fs from 'node:fs';
import { RuntimeError } from '../errors';
import { parseMountInfo } from '../linux/proc-parsers';
import type { CgroupLayout, Hierarchy } from './types';

/**
 * Detection of the host's cgroup layout from the text of /proc/self/mountinfo.
 *
 * Only mounts of type `cgroup` (v1) and `cgroup2` count; /sys/fs/cgroup is never listed, because other tools create
 * plain directories there. Rules:
 * - every v1 mount is keyed by each controller in its super-options (`cpu`, `cpuacct`, …) and by its named hierarchy
 *   (`name=systemd`); co-mounted controllers (`cpu,cpuacct`) share one `Hierarchy` object;
 * - the FIRST mount of a controller wins. A container of containers (or a host with a container's rootfs mounted
 *   somewhere) can show the same hierarchy several times; mountinfo lists mounts in mount order, so the first one is
 *   the one the system mounted for itself. The same holds for the cgroup2 mount;
 * - mode: v1 controllers and no cgroup2 → `v1`; v1 controllers plus a cgroup2 mount (wherever it is, usually
 *   /sys/fs/cgroup/unified) → `hybrid`; a cgroup2 mount without v1 controllers → `v2`. A v1 hierarchy that carries
 *   no controller at all, only a name (e.g. a `name=systemd` mount made for an old systemd on a v2 host), does not
 *   turn a v2 host into a hybrid one: it is ignored there, since nothing can be limited through it;
 * - no cgroup mount at all → RuntimeError 'cgroups'.
 */

/** What `detectLayout` returns: the shared shape plus the controllers the unified hierarchy's root offers. */
export interface DetectedCgroupLayout extends CgroupLayout {
  /** cgroup.controllers of the unified mount's root (empty when there is no unified mount, or nobody read it). */
  unifiedControllers: string[];
}

/**
 * Super-options of a v1 cgroup mount that are not controller names (see the cgroup v1 mount options in the kernel's
 * cgroup-v1 documentation). `name=…` is kept (it names a hierarchy); any other `key=value` option is dropped.
 */
const NON_CONTROLLER_OPTIONS = new Set(['rw', 'ro', 'none', 'all', 'noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode', 'favordynmods']);

function v1Controllers(superOptions: string[]): string[] {
  return superOptions.filter((option) => option.startsWith('name=') || (!option.includes('=') && !NON_CONTROLLER_OPTIONS.has(option)));
}

export function detectLayout(mountinfo: string, unifiedControllers?: (mountPoint: string) => string[]): DetectedCgroupLayout {
  const v1: Record<string, Hierarchy> = {};
  let unified: Hierarchy | undefined;
  const namedOnlyV1: Record<string, Hierarchy> = {};
  let sawCgroupMount = false;
  let realV1Controllers = 0;

  for (const entry of parseMountInfo(mountinfo)) {
    if (entry.fsType === 'cgroup2') {
      sawCgroupMount = true;
      unified ??= { mountPoint: entry.mountPoint, root: entry.root };
      continue;
    }
    if (entry.fsType !== 'cgroup') continue;
    sawCgroupMount = true;
    // A controller already seen belongs to an earlier mount of its hierarchy: the later view is skipped.
    const controllers = v1Controllers(entry.superOptions).filter((name) => v1[name] === undefined && namedOnlyV1[name] === undefined);
    if (controllers.length === 0) continue;
    const hierarchy: Hierarchy = { mountPoint: entry.mountPoint, root: entry.root };
    const named = controllers.every((name) => name.startsWith('name='));
    for (const name of controllers) {
      if (named) namedOnlyV1[name] = hierarchy;
      else v1[name] = hierarchy;
    }
    if (!named) realV1Controllers += controllers.length;
  }

  if (!sawCgroupMount) throw new RuntimeError('cgroups', 'no cgroup file system is mounted (no cgroup or cgroup2 entry in /proc/self/mountinfo)');

  let mode: CgroupLayout['mode'];
  if (realV1Controllers > 0) {
    mode = unified ? 'hybrid' : 'v1';
    Object.assign(v1, namedOnlyV1);
  } else if (unified) {
    mode = 'v2';
  } else {
    // Only named v1 hierarchies and no cgroup2: nothing to limit, but processes can still be grouped.
    mode = 'v1';
    Object.assign(v1, namedOnlyV1);
  }
  return {
    mode,
    v1: mode === 'v2' ? {} : v1,
    unified,
    unifiedControllers: unified && unifiedControllers ? unifiedControllers(unified.mountPoint) : [],
  };
}

/** Reads `<mountPoint>/cgroup.controllers`; an unreadable file gives no controllers (never an error). */
export function readUnifiedControllers(mountPoint: string): string[] {
  try {
    return fs.readFileSync(`${mountPoint}/cgroup.controllers`, 'utf8').split(/\s+/).filter((name) => name !== '');
  } catch {
    return [];
  }
}

/** The layout of the host tsrun runs on: /proc/self/mountinfo plus the unified root's cgroup.controllers. */
export function detectHostLayout(): DetectedCgroupLayout {
  return detectLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8'), readUnifiedControllers);
}
