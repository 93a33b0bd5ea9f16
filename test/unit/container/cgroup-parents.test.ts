import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CgroupState } from '../../../src/cgroups/types';
import { PARENTS_DIR_NAME, madeParents, recordMadeParents, removeEmptyParents, type ParentRegistryDeps } from '../../../src/container/cgroup-parents';

let tmp: string;
let hierarchy: string;
let deps: ParentRegistryDeps;
let locked: number;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-parents-'));
  hierarchy = path.join(tmp, 'cgroup', 'pids');
  fs.mkdirSync(hierarchy, { recursive: true });
  fs.mkdirSync(path.join(tmp, 'root'));
  locked = 0;
  deps = {
    root: path.join(tmp, 'root'),
    withLock: (fn) => {
      locked++;
      return fn();
    },
  };
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** What a create under cgroupsPath `shared/<name>` records when `made` lists the levels it had to make. */
function container(name: string, made: string[]): CgroupState {
  const own = path.join(hierarchy, 'shared', name);
  fs.mkdirSync(own, { recursive: true });
  return { driver: 'cgroupfs', mode: 'v1', paths: { pids: own }, created: made.map((m) => path.join(hierarchy, m)) };
}

function deleteOwn(state: CgroupState): void {
  for (const dir of Object.values(state.paths)) fs.rmdirSync(dir);
}

describe('parent cgroups tsrun made', () => {
  it('the parents are the made levels above the container\'s own cgroups', () => {
    expect(madeParents(container('a', ['shared', 'shared/a']))).toEqual([path.join(hierarchy, 'shared')]);
    expect(madeParents(container('b', ['shared/b']))).toEqual([]);
  });

  it('the last container to leave a shared parent removes it, also when another one made it', () => {
    const maker = container('a', ['shared', 'shared/a']);
    recordMadeParents(deps, maker);
    const joiner = container('b', ['shared/b']);
    recordMadeParents(deps, joiner); // made no parent: nothing to record, no lock taken
    expect(locked).toBe(1);

    deleteOwn(maker);
    expect(removeEmptyParents(deps, maker)).toEqual([]);
    expect(fs.existsSync(path.join(hierarchy, 'shared'))).toBe(true); // b is still in it
    expect(fs.readdirSync(path.join(deps.root, PARENTS_DIR_NAME))).toHaveLength(1);

    deleteOwn(joiner);
    expect(removeEmptyParents(deps, joiner)).toEqual([]);
    expect(fs.existsSync(path.join(hierarchy, 'shared'))).toBe(false);
    expect(fs.readdirSync(deps.root)).toEqual([]); // the empty registry goes too
  });

  it('never removes a level it did not record, nor anything above it', () => {
    const state = container('a', ['shared/a']); // `shared` was there before: someone else's
    deleteOwn(state);
    expect(removeEmptyParents(deps, state)).toEqual([]);
    expect(fs.existsSync(path.join(hierarchy, 'shared'))).toBe(true);
    expect(locked).toBe(0); // no registry, nothing to look at
  });

  it('walks up several recorded levels and drops the record of one already gone', () => {
    const own = path.join(hierarchy, 'x', 'y', 'c');
    fs.mkdirSync(own, { recursive: true });
    const state: CgroupState = { driver: 'cgroupfs', mode: 'v1', paths: { pids: own }, created: ['x', 'x/y', 'x/y/c'].map((m) => path.join(hierarchy, m)) };
    recordMadeParents(deps, state);
    fs.rmdirSync(own);
    fs.rmdirSync(path.join(hierarchy, 'x', 'y')); // removed by hand meanwhile
    expect(removeEmptyParents(deps, state)).toEqual([]);
    expect(fs.existsSync(path.join(hierarchy, 'x'))).toBe(false);
    expect(fs.existsSync(path.join(deps.root, PARENTS_DIR_NAME))).toBe(false);
  });
});
