import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsCgroupManager } from '../../src/cgroups/fs-manager';
import { detectHostLayout, type DetectedCgroupLayout } from '../../src/cgroups/layout';
import { resolveCgroupPaths } from '../../src/cgroups/paths';
import { parseCgroupFile } from '../../src/linux/proc-parsers';
import { isRoot, processAlive, waitUntil } from '../helpers/tsrun';

/**
 * The cgroupfs manager against this host's REAL cgroups. Every cgroup the test makes sits below the test process's
 * own cgroup (a relative cgroupsPath `tsrun-test-<pid>-<n>`), and afterEach removes whatever the manager recorded as
 * created, also when the test failed half-way.
 */

function layoutOrReason(): [DetectedCgroupLayout | undefined, string | undefined] {
  if (!isRoot) return [undefined, 'needs root'];
  try {
    const layout = detectHostLayout();
    const missing = ['memory', 'pids', 'freezer'].filter((name) => layout.mode === 'v2' || !(name in layout.v1));
    return missing.length > 0 ? [layout, `needs v1 ${missing.join(', ')} hierarchies (written for this host's hybrid layout)`] : [layout, undefined];
  } catch (error) {
    return [undefined, `no usable cgroup layout: ${error instanceof Error ? error.message : String(error)}`];
  }
}

const [layout, skipReason] = layoutOrReason();

describe.skipIf(skipReason !== undefined)(`cgroupfs manager on this host${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let counter = 0;
  const managers: FsCgroupManager[] = [];
  const children: ChildProcess[] = [];

  function newManager(): { manager: FsCgroupManager; paths: Record<string, string> } {
    if (!layout) throw new Error('no layout');
    const paths = resolveCgroupPaths(layout, {
      cgroupsPath: `tsrun-test-${process.pid}-${counter++}`,
      id: 'unused',
      ownCgroups: parseCgroupFile(fs.readFileSync('/proc/self/cgroup', 'utf8')),
    });
    const manager = new FsCgroupManager(layout, paths);
    managers.push(manager);
    return { manager, paths };
  }

  /** A process that keeps allocating a little (fork + exec), so the memory cgroup charges something after join. */
  function startChild(): ChildProcess & { pid: number } {
    const child = spawn('sh', ['-c', 'while :; do sleep 0.05; done'], { stdio: 'ignore' });
    children.push(child);
    if (child.pid === undefined) throw new Error('spawn failed');
    return child as ChildProcess & { pid: number };
  }

  function exited(child: ChildProcess): Promise<void> {
    return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
  }

  afterEach(async () => {
    // A paused leftover keeps its tasks, even SIGKILLed ones, and so its directory: thaw before anything else.
    for (const manager of managers) {
      const freezer = manager.state.paths.freezer;
      if (freezer && fs.existsSync(`${freezer}/freezer.state`)) fs.writeFileSync(`${freezer}/freezer.state`, 'THAWED');
    }
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited(child);
    }
    for (const manager of managers.splice(0)) {
      for (const dir of [...manager.state.created].reverse()) {
        for (let attempt = 0; fs.existsSync(dir); attempt++) {
          for (const pid of fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) {
            try {
              process.kill(Number(pid), 'SIGKILL');
            } catch {
              // gone already
            }
          }
          try {
            fs.rmdirSync(dir);
          } catch (error) {
            if (attempt >= 100) throw error;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      }
    }
  });

  it('create, apply, join, pids, freeze/thaw, stats, destroy (of a paused container) on the real hierarchies', async () => {
    const { manager, paths } = newManager();
    const own = parseCgroupFile(fs.readFileSync('/proc/self/cgroup', 'utf8'));
    const ownMemory = own.find((entry) => entry.controllers.includes('memory'))?.path ?? '/';
    expect(paths.memory).toBe(path.posix.join('/sys/fs/cgroup/memory', ownMemory, path.basename(paths.memory ?? '')));

    manager.create();
    const created = manager.state.created;
    expect(created.length).toBeGreaterThanOrEqual(new Set(Object.values(paths)).size);
    for (const dir of Object.values(paths)) expect(fs.statSync(dir).isDirectory()).toBe(true);

    const limit = 64 * 1024 * 1024;
    manager.apply([
      { controller: 'pids', file: 'pids.max', value: '32', pointer: '/linux/resources/pids/limit' },
      { controller: 'memory', file: 'memory.limit_in_bytes', value: String(limit), pointer: '/linux/resources/memory/limit' },
    ]);
    expect(fs.readFileSync(`${paths.pids}/pids.max`, 'utf8').trim()).toBe('32');
    expect(Number(fs.readFileSync(`${paths.memory}/memory.limit_in_bytes`, 'utf8'))).toBe(limit);

    // A value the kernel refuses is reported with file, value and config field.
    expect(() => manager.apply([{ controller: 'pids', file: 'pids.max', value: 'lots', pointer: '/linux/resources/pids/limit' }]))
      .toThrow(`cgroup: write ${paths.pids}/pids.max "lots" (config.json /linux/resources/pids/limit): EINVAL`);

    const child = startChild();
    manager.join(child.pid);
    const procCgroup = parseCgroupFile(fs.readFileSync(`/proc/${child.pid}/cgroup`, 'utf8'));
    expect(procCgroup.find((entry) => entry.controllers.includes('memory'))?.path).toBe(path.posix.join(ownMemory, path.basename(paths.memory ?? '')));
    if (paths.unified) expect(procCgroup.find((entry) => entry.hierarchyId === 0)?.path).toMatch(/\/tsrun-test-[0-9]+-[0-9]+$/);
    // The shell's sleeps started after the join are in the cgroup too.
    await waitUntil(() => manager.pids().length >= 2, 5_000, 'a forked sleep in the cgroup');
    expect(manager.pids()).toContain(child.pid);

    manager.freeze();
    expect(manager.isFrozen()).toBe(true);
    expect(fs.readFileSync(`${paths.freezer}/freezer.state`, 'utf8').trim()).toBe('FROZEN');
    const frozenPids = manager.pids();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(manager.pids()).toEqual(frozenPids); // nothing forks while frozen
    manager.thaw();
    expect(manager.isFrozen()).toBe(false);
    expect(fs.readFileSync(`${paths.freezer}/freezer.state`, 'utf8').trim()).toBe('THAWED');

    await waitUntil(() => (manager.stats().memory?.usage.usage ?? 0) > 0, 5_000, 'memory charged to the cgroup');
    const stats = manager.stats();
    expect(stats.memory?.usage.limit).toBe(limit);
    expect(stats.pids?.current).toBeGreaterThanOrEqual(1);
    expect(stats.pids?.limit).toBe(32);
    expect(stats.cpu?.usage.total).toBeGreaterThan(0);

    // delete --force of a paused container: the kill must not hang on frozen tasks.
    manager.freeze();
    const killed: number[] = [];
    manager.destroy((pid) => {
      killed.push(pid);
      process.kill(pid, 'SIGKILL');
    });
    expect(killed).toContain(child.pid);
    await exited(child);
    expect(child.signalCode).toBe('SIGKILL');
    expect(processAlive(child.pid)).toBe(false);
    for (const dir of created) expect(fs.existsSync(dir)).toBe(false);
    expect(manager.state.created).toEqual([]);
  });

  it('destroy leaves the pre-existing parent and removes only what create made (a nested relative path)', () => {
    const { manager: outer, paths: outerPaths } = newManager();
    outer.create();
    const outerName = path.basename(outerPaths.memory ?? '');
    if (!layout) throw new Error('no layout');
    const inner = new FsCgroupManager(layout, resolveCgroupPaths(layout, {
      cgroupsPath: `${outerName}/inner`,
      id: 'unused',
      ownCgroups: parseCgroupFile(fs.readFileSync('/proc/self/cgroup', 'utf8')),
    }));
    managers.push(inner);
    inner.create();
    const innerCreated = inner.state.created;
    expect(innerCreated.length).toBeGreaterThan(0);
    expect(innerCreated.every((dir) => path.basename(dir) === 'inner')).toBe(true);
    inner.destroy(() => {});
    for (const dir of Object.values(outerPaths)) expect(fs.existsSync(dir)).toBe(true);
    for (const dir of innerCreated) expect(fs.existsSync(dir)).toBe(false);
    outer.destroy(() => {});
    for (const dir of Object.values(outerPaths)) expect(fs.existsSync(dir)).toBe(false);
  });
});
