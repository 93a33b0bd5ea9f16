import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CgroupState } from '../cgroups/types';
import { fsSyscallError, writeFileAtomic } from '../linux/atomic-file';
import { nodeErrorCode } from '../linux/errno';

/**
 * Parent cgroups tsrun made: the levels of a cgroupsPath above a container's own cgroup (`a/b` of `a/b/c`) that
 * did not exist before its create. The container that made one removes it at its delete when it is empty, but
 * other containers may have joined it meanwhile: then the last of them to leave removes it, because every made
 * parent is recorded under --root, in `@cgroup-parents/<hash of the path>` (the path inside). The directory exists
 * only while a parent is recorded. runc removes no parent at all; tsrun removes only these, never a level someone
 * else made (an orchestrator's slice).
 *
 * Recording and removal run under one lock. A create that finds a parent removed between its look and its mkdir
 * inside gets ENOENT and makes the parent again (FsCgroupManager's mkdir walk), then records it after the removal
 * has dropped the old record, so a parent that exists is always recorded again.
 */
export const PARENTS_DIR_NAME = '@cgroup-parents';

export interface ParentRegistryDeps {
  /** The state root (`--root`). */
  root: string;
  /** Runs `fn` holding the registry's lock across processes. */
  withLock<T>(fn: () => T): T;
}

function entryName(dir: string): string {
  return createHash('sha256').update(dir).digest('hex');
}

/** The levels `state.created` holds above the container's own cgroups: the parents this create made. */
export function madeParents(state: CgroupState): string[] {
  const own = new Set(Object.values(state.paths));
  return state.created.filter((dir) => !own.has(dir));
}

/** Records the parents a create made (nothing to do when it made none: the usual, one-level cgroupsPath). */
export function recordMadeParents(deps: ParentRegistryDeps, state: CgroupState): void {
  const parents = madeParents(state);
  if (parents.length === 0) return;
  const dir = path.join(deps.root, PARENTS_DIR_NAME);
  deps.withLock(() => {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if (nodeErrorCode(error) !== 'EEXIST') throw fsSyscallError('mkdir', dir, error);
    }
    for (const parent of parents) writeFileAtomic(dir, entryName(parent), parent, 0o600);
  });
}

/**
 * After a container's cgroups are gone: walks up from each of its cgroups and removes every recorded parent that
 * is now empty, stopping at the first level that is not recorded (not tsrun's) or not empty (still in use).
 * Returns what could not be done, for warnings: the container is deleted either way, and a parent left recorded
 * is tried again by the next container that leaves it.
 */
export function removeEmptyParents(deps: ParentRegistryDeps, state: CgroupState): string[] {
  const dir = path.join(deps.root, PARENTS_DIR_NAME);
  if (!fs.existsSync(dir)) return []; // no create under this root ever made a parent
  const problems: string[] = [];
  deps.withLock(() => {
    for (const own of new Set(Object.values(state.paths))) {
      for (let level = path.dirname(own); level !== path.dirname(level); level = path.dirname(level)) {
        const entry = path.join(dir, entryName(level));
        if (!fs.existsSync(entry)) break;
        try {
          fs.rmdirSync(level);
        } catch (error) {
          const code = nodeErrorCode(error);
          if (code === 'ENOTEMPTY' || code === 'EBUSY' || code === 'EEXIST') break; // other containers still in it
          if (code !== 'ENOENT') {
            problems.push(`cgroup: cannot remove the parent ${level}: ${code ?? String(error)}`);
            break;
          }
        }
        fs.rmSync(entry, { force: true });
      }
    }
    // An empty registry goes too, so --root holds nothing but what lives there (recordMadeParents makes it again).
    try {
      fs.rmdirSync(dir);
    } catch {
      // parents still recorded (ENOTEMPTY)
    }
  });
  return problems;
}
