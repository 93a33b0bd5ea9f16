import path from 'node:path';
import { ConfigError, RuntimeError } from '../errors';
import type { CgroupEntry } from '../linux/proc-parsers';
import type { CgroupLayout, Hierarchy } from './types';

/**
 * Where a container's cgroup lives in every hierarchy, for the cgroupfs driver. Pure: the layout, the config value
 * and tsrun's own /proc/self/cgroup come in as data.
 *
 * runc's rules (opencontainers/runc libcontainer/cgroups/fs/paths.go and fs2/defaultpath.go), followed here:
 * - cgroupsPath empty or absent → the inner path is the container ID, a RELATIVE path (runc's spec conversion sets
 *   the cgroup's Name to the ID and leaves Path empty; the fs driver then joins Parent "" and Name);
 * - a relative path is taken relative to the cgroup the runtime itself is in, per hierarchy (its /proc/self/cgroup
 *   line, mapped through the hierarchy's mount root). On a pure cgroup v2 host runc uses the PARENT of its own cgroup
 *   instead, because the runtime's own cgroup has processes in it and v2's "no internal processes" rule would stop
 *   controllers from being enabled for a child of it; on a hybrid host the unified hierarchy is handled like one more
 *   v1 hierarchy (runc's fs driver joins "" there with its own cgroup as the base), so there it is the own cgroup;
 * - an absolute path is taken from the top of each hierarchy. runc joins it to the mount point without looking at
 *   the mount's root; tsrun maps it through the root when it lies under it (a mount whose root is /a shows cgroup
 *   /a/b at <mountPoint>/b, as in a container of containers without a cgroup namespace) and otherwise falls back to
 *   runc's join, so the usual case (root `/`) is exactly runc's;
 * - runc cleans the path lexically (a `..` cannot climb out); tsrun refuses `..` components instead of silently
 *   rewriting them, and refuses a path that names a hierarchy's root, tsrun's own cgroup or an ancestor of it: a
 *   kill-all there would hit processes that are not the container's (tsrun itself among them).
 * - `slice:prefix:name` is the systemd driver's syntax; tsrun has no systemd driver yet and says so.
 *
 * The result maps every v1 controller (co-mounted ones share a directory; `name=systemd` included like any
 * controller) and, when there is a unified hierarchy, `unified` to an absolute directory.
 */

export interface ResolveCgroupPathsOptions {
  /** linux.cgroupsPath of config.json; empty and absent mean the same. */
  cgroupsPath: string | undefined;
  /** The container ID, the default inner path. */
  id: string;
  /** tsrun's own /proc/self/cgroup, parsed. */
  ownCgroups: CgroupEntry[];
}

const POINTER = '/linux/cgroupsPath';

/** `slice:prefix:name` (two colons, no slash): what containerd and podman pass for the systemd cgroup driver. */
export function isSystemdCgroupsPath(cgroupsPath: string): boolean {
  return /^[^/:]*:[^/:]*:[^/:]*$/.test(cgroupsPath);
}

function innerPath(options: ResolveCgroupPathsOptions): string {
  const given = options.cgroupsPath ?? '';
  if (given === '') {
    if (options.id === '' || options.id.includes('/') || options.id === '.' || options.id === '..') {
      throw new RuntimeError('cgroups', `container ID ${JSON.stringify(options.id)} cannot name a cgroup`);
    }
    return options.id;
  }
  if (isSystemdCgroupsPath(given)) {
    throw new RuntimeError('not-supported', `cgroupsPath ${JSON.stringify(given)} is a systemd path: the systemd cgroup driver is not supported yet`);
  }
  if (given.includes('\0')) throw new ConfigError(POINTER, `${JSON.stringify(given)} must not contain a NUL byte`);
  if (given.split('/').includes('..')) throw new ConfigError(POINTER, `${JSON.stringify(given)} must not contain ".." components`);
  const normalized = path.posix.normalize(given).replace(/(.)\/+$/, '$1');
  if (normalized === '/' || normalized === '.') {
    throw new ConfigError(POINTER, `${JSON.stringify(given)} names ${normalized === '/' ? 'the root cgroup' : "tsrun's own cgroup"}, not a cgroup of the container's own`);
  }
  return normalized;
}

function ownEntry(ownCgroups: CgroupEntry[], name: string): CgroupEntry | undefined {
  return name === 'unified'
    ? ownCgroups.find((e) => e.hierarchyId === 0 && e.controllers.length === 0)
    : ownCgroups.find((e) => e.hierarchyId !== 0 && e.controllers.includes(name));
}

function isUnder(cgroupPath: string, root: string): boolean {
  return root === '/' || cgroupPath === root || cgroupPath.startsWith(`${root}/`);
}

/** The directory of `cgroupPath` (a path from the hierarchy's top) under the mount that shows `hierarchy.root`. */
function directoryOf(hierarchy: Hierarchy, cgroupPath: string): string | undefined {
  if (!isUnder(cgroupPath, hierarchy.root)) return undefined;
  return path.posix.join(hierarchy.mountPoint, hierarchy.root === '/' ? cgroupPath : cgroupPath.slice(hierarchy.root.length));
}

function resolveOne(name: string, hierarchy: Hierarchy, inner: string, ownCgroups: CgroupEntry[], useParentOfOwn: boolean): string {
  const own = ownEntry(ownCgroups, name)?.path;
  let dir: string | undefined;
  if (inner.startsWith('/')) {
    dir = directoryOf(hierarchy, inner) ?? path.posix.join(hierarchy.mountPoint, inner);
  } else {
    if (own === undefined) {
      throw new RuntimeError('cgroups', `/proc/self/cgroup has no line for the ${name === 'unified' ? 'cgroup v2 (unified)' : name} hierarchy`);
    }
    const base = useParentOfOwn ? path.posix.dirname(own) : own;
    dir = directoryOf(hierarchy, path.posix.join(base, inner));
    if (dir === undefined) {
      throw new RuntimeError('cgroups', `tsrun's own cgroup ${own} in the ${name} hierarchy is outside the part of it mounted at ${hierarchy.mountPoint} (mount root ${hierarchy.root})`);
    }
  }
  const shown = JSON.stringify(inner);
  if (dir === path.posix.normalize(hierarchy.mountPoint)) {
    throw new ConfigError(POINTER, `${shown} names the root cgroup of the ${name} hierarchy (${hierarchy.mountPoint})`);
  }
  // The container's cgroup must not hold tsrun itself: killing "every process in it" would kill tsrun and whatever
  // shares its cgroup (a shell session, the shim), and it could never be removed.
  const ownDir = own === undefined ? undefined : directoryOf(hierarchy, own);
  if (ownDir !== undefined && (ownDir === dir || ownDir.startsWith(`${dir}/`))) {
    throw new ConfigError(POINTER, `${shown} is ${ownDir === dir ? '' : 'an ancestor of '}tsrun's own cgroup in the ${name} hierarchy (${ownDir})`);
  }
  return dir;
}

export function resolveCgroupPaths(layout: CgroupLayout, options: ResolveCgroupPathsOptions): Record<string, string> {
  const inner = innerPath(options);
  const paths: Record<string, string> = {};
  if (layout.mode !== 'v2') {
    for (const [name, hierarchy] of Object.entries(layout.v1)) {
      paths[name] = resolveOne(name, hierarchy, inner, options.ownCgroups, false);
    }
  }
  if (layout.unified) {
    paths.unified = resolveOne('unified', layout.unified, inner, options.ownCgroups, layout.mode === 'v2');
  }
  return paths;
}
