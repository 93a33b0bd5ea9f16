import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CGROUP_UNLIMITED, FsCgroupManager } from '../../../src/cgroups/fs-manager';
import { resolveCgroupPaths } from '../../../src/cgroups/paths';
import type { CgroupLayout, CgroupState } from '../../../src/cgroups/types';
import { parseCgroupFile } from '../../../src/linux/proc-parsers';
import { errorOf } from '../../helpers/errors';

/**
 * Fake cgroupfs trees in a temp dir. A real kernel creates a cgroup's control files on mkdir, lets rmdir remove a
 * directory that still holds them (but not one with tasks or child cgroups), and answers some writes
 * asynchronously; `Kernel` (a subclass standing in for the kernel through the manager's seams) does the same, and
 * the tests write the kernel's answers into the files themselves.
 */

let tmp: string;

function put(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

function read(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

function errnoError(code: string): Error {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

class Kernel extends FsCgroupManager {
  /** Files a new cgroup directory gets, by directory → name → content. */
  controlFiles: (dir: string) => Record<string, string> = () => ({});
  naps: number[] = [];
  onNap: (count: number) => void = () => {};
  writes: Array<[string, string]> = [];
  /** Returns true when it handled (or refused, by throwing) the write itself. */
  onWrite: (file: string, value: string) => boolean = () => false;
  removed: string[] = [];
  /** Advance Date.now() by each nap instead of sleeping (with fake timers on). */
  fakeClock = false;

  protected override makeDir(dir: string): void {
    super.makeDir(dir);
    for (const [name, content] of Object.entries(this.controlFiles(dir))) fs.writeFileSync(path.join(dir, name), content);
  }

  protected override writeFile(file: string, value: string): void {
    this.writes.push([file, value]);
    if (this.onWrite(file, value)) return;
    super.writeFile(file, value);
  }

  protected override nap(ms: number): void {
    this.naps.push(ms);
    if (this.fakeClock) vi.setSystemTime(Date.now() + ms);
    this.onNap(this.naps.length);
  }

  /** cgroupfs rmdir: EBUSY while tasks or child cgroups remain; the control files go with the directory. */
  protected override removeDir(dir: string): void {
    if (!fs.existsSync(dir)) throw errnoError('ENOENT');
    const procs = fs.existsSync(path.join(dir, 'cgroup.procs')) ? read(path.join(dir, 'cgroup.procs')).trim() : '';
    const children = fs.readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory());
    if (procs !== '' || children.length > 0) throw errnoError('EBUSY');
    fs.rmSync(dir, { recursive: true });
    this.removed.push(dir);
  }
}

/** A layout whose hierarchies are directories of the temp dir. */
function v1Layout(): CgroupLayout {
  const cpu = { mountPoint: `${tmp}/cpu,cpuacct`, root: '/' };
  return {
    mode: 'v1',
    v1: {
      cpu,
      cpuacct: cpu,
      cpuset: { mountPoint: `${tmp}/cpuset`, root: '/' },
      memory: { mountPoint: `${tmp}/memory`, root: '/' },
      freezer: { mountPoint: `${tmp}/freezer`, root: '/' },
      pids: { mountPoint: `${tmp}/pids`, root: '/' },
      blkio: { mountPoint: `${tmp}/blkio`, root: '/' },
      hugetlb: { mountPoint: `${tmp}/hugetlb`, root: '/' },
      'name=systemd': { mountPoint: `${tmp}/systemd`, root: '/' },
    },
    unified: undefined,
  };
}

/** Like this project's test host: separate cpu and cpuacct, hugetlb only in the cgroup2 mount at unified. */
function hybridLayout(): CgroupLayout {
  return {
    mode: 'hybrid',
    v1: {
      cpu: { mountPoint: `${tmp}/cpu`, root: '/' },
      cpuacct: { mountPoint: `${tmp}/cpuacct`, root: '/' },
      memory: { mountPoint: `${tmp}/memory`, root: '/' },
      freezer: { mountPoint: `${tmp}/freezer`, root: '/' },
      pids: { mountPoint: `${tmp}/pids`, root: '/' },
      blkio: { mountPoint: `${tmp}/blkio`, root: '/' },
      'name=systemd': { mountPoint: `${tmp}/systemd`, root: '/' },
    },
    unified: { mountPoint: `${tmp}/unified`, root: '/' },
  };
}

function v2Layout(): CgroupLayout {
  return { mode: 'v2', v1: {}, unified: { mountPoint: `${tmp}/v2`, root: '/' } };
}

const ROOT_OWN = parseCgroupFile('0::/\n');
function ownAtRoot(layout: CgroupLayout) {
  const lines = Object.keys(layout.v1).map((name, i) => ({ hierarchyId: i + 1, controllers: [name], path: '/' }));
  return [...lines, ...ROOT_OWN];
}

/** Makes the layout's mount points (a mounted hierarchy always exists) and returns the container's paths. */
function setUp(layout: CgroupLayout, cgroupsPath: string): Record<string, string> {
  for (const h of [...Object.values(layout.v1), ...(layout.unified ? [layout.unified] : [])]) fs.mkdirSync(h.mountPoint, { recursive: true });
  return resolveCgroupPaths(layout, { cgroupsPath, id: 'c1', ownCgroups: ownAtRoot(layout) });
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-cgroupfs-'));
});
afterEach(() => {
  vi.useRealTimers();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('create and destroy', () => {
  it('creates every missing level, records them parent first, and destroy removes exactly those', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'parent/c1');
    fs.mkdirSync(`${tmp}/memory/parent`); // pre-existing in one hierarchy
    const manager = new FsCgroupManager(layout, paths);
    manager.create();
    for (const dir of Object.values(paths)) expect(fs.statSync(dir).isDirectory()).toBe(true);
    const created = manager.state.created;
    expect(created).toContain(`${tmp}/cpu,cpuacct/parent`);
    expect(created).toContain(`${tmp}/cpu,cpuacct/parent/c1`);
    expect(created).toContain(`${tmp}/memory/parent/c1`);
    expect(created).not.toContain(`${tmp}/memory/parent`);
    expect(created.indexOf(`${tmp}/pids/parent`)).toBeLessThan(created.indexOf(`${tmp}/pids/parent/c1`));
    // cpu and cpuacct share a directory: made (and recorded) once.
    expect(created.filter((d) => d.startsWith(`${tmp}/cpu,cpuacct`))).toHaveLength(2);
    expect(created).toHaveLength(2 * 8 - 1);

    const killed: number[] = [];
    manager.destroy((pid) => killed.push(pid));
    expect(killed).toEqual([]);
    for (const dir of created) expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(`${tmp}/memory/parent`)).toBe(true);
    expect(fs.existsSync(`${tmp}/memory`)).toBe(true);
    expect(manager.state.created).toEqual([]);
  });

  it('state survives JSON (state.json) and fromState destroys the same directories', () => {
    const layout = hybridLayout();
    const paths = setUp(layout, 'a/b');
    const manager = new FsCgroupManager(layout, paths);
    manager.create();
    const state = JSON.parse(JSON.stringify(manager.state)) as CgroupState;
    expect(state).toEqual({ driver: 'cgroupfs', mode: 'hybrid', paths, created: manager.state.created });
    expect(state.paths.unified).toBe(`${tmp}/unified/a/b`);
    FsCgroupManager.fromState(state).destroy(() => {});
    for (const dir of state.created) expect(fs.existsSync(dir)).toBe(false);
  });

  it('fromState refuses a driver it does not have', () => {
    const error = errorOf(() => FsCgroupManager.fromState({ driver: 'systemd' as 'cgroupfs', mode: 'v2', paths: {}, created: [] }));
    expect(error.message).toContain('"systemd"');
  });

  it('a container cgroup that already existed is emptied but never removed', () => {
    const layout = v2Layout();
    const paths = setUp(layout, 'existing');
    put(`${paths.unified}/cgroup.procs`, '4242\n');
    const manager = new Kernel(layout, paths);
    manager.create();
    expect(manager.state.created).toEqual([]);
    const killed: number[] = [];
    manager.destroy((pid) => {
      killed.push(pid);
      put(`${paths.unified}/cgroup.procs`, '');
    });
    expect(killed).toEqual([4242]);
    expect(manager.removed).toEqual([]);
    expect(fs.existsSync(paths.unified ?? '')).toBe(true);
  });

  it('destroy kills every leftover pid (sub-cgroups included), then retries rmdir with 10 ms naps while the tasks leave', () => {
    const layout = hybridLayout();
    const paths = setUp(layout, 'c1');
    const manager = new Kernel(layout, paths);
    manager.controlFiles = () => ({ 'cgroup.procs': '' });
    manager.create();
    put(`${paths.freezer}/cgroup.procs`, '300\n100\n');
    put(`${paths.freezer}/sub/cgroup.procs`, '200\n');
    put(`${paths.unified}/cgroup.procs`, '100\n200\n300\n');
    manager.onNap = (count) => {
      if (count === 3) {
        for (const dir of [paths.freezer, `${paths.freezer}/sub`, paths.unified]) put(`${dir}/cgroup.procs`, '');
      }
    };
    const killed: number[] = [];
    manager.destroy((pid) => killed.push(pid));
    expect(killed.slice(0, 3)).toEqual([100, 200, 300]);
    expect(manager.naps.every((ms) => ms === 10)).toBe(true);
    expect(manager.naps.length).toBeGreaterThanOrEqual(3);
    expect(manager.removed).toContain(`${paths.freezer}/sub`);
    for (const dir of Object.values(paths)) expect(fs.existsSync(dir)).toBe(false);
    expect(manager.state.created).toEqual([]);
  });

  it('gives up after 5 s, naming the directory and the pids still in it, and keeps it in `created`', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const layout = v2Layout();
    const paths = setUp(layout, 'c1');
    const manager = new Kernel(layout, paths);
    manager.fakeClock = true;
    manager.create();
    put(`${paths.unified}/cgroup.procs`, '77\n');
    const error = errorOf(() => manager.destroy(() => {}));
    expect(error.code).toBe('cgroups');
    expect(error.message).toContain(`rmdir ${paths.unified}: EBUSY after 5 s, processes still in it: 77`);
    expect(manager.naps.length).toBe(500);
    expect(manager.state.created).toEqual([paths.unified]);
  });

  it('kills a frozen container before thawing it (runc#3134), then thaws every frozen level', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'c1');
    const manager = new Kernel(layout, paths);
    manager.controlFiles = (dir): Record<string, string> => (dir.startsWith(`${tmp}/freezer`) ? { 'freezer.state': 'FROZEN\n', 'cgroup.procs': '' } : { 'cgroup.procs': '' });
    manager.create();
    put(`${paths.freezer}/cgroup.procs`, '10\n');
    put(`${paths.freezer}/inner/freezer.state`, 'FROZEN\n');
    put(`${paths.freezer}/inner/cgroup.procs`, '11\n');
    const events: string[] = [];
    manager.onWrite = (file, value) => {
      if (file.endsWith('freezer.state')) events.push(`${path.relative(tmp, file)}=${value}`);
      return false;
    };
    manager.destroy((pid) => {
      events.push(`kill ${pid}`);
      for (const dir of [paths.freezer, `${paths.freezer}/inner`]) put(`${dir}/cgroup.procs`, '');
    });
    expect(events.slice(0, 4)).toEqual(['kill 10', 'kill 11', 'freezer/c1/freezer.state=THAWED', 'freezer/c1/inner/freezer.state=THAWED']);
    expect(fs.existsSync(paths.freezer ?? '')).toBe(false);
  });

  it('a created parent that now holds another container\'s cgroup stays, silently', () => {
    const layout = v2Layout();
    const paths = setUp(layout, 'shared/c1');
    const manager = new Kernel(layout, paths);
    manager.create();
    fs.mkdirSync(`${tmp}/v2/shared/c2`);
    manager.destroy(() => {});
    expect(fs.existsSync(`${tmp}/v2/shared/c1`)).toBe(false);
    expect(fs.existsSync(`${tmp}/v2/shared/c2`)).toBe(true);
  });

  it('ignores ESRCH from kill (the process exited meanwhile) and reports other kill failures', () => {
    const layout = v2Layout();
    const paths = setUp(layout, 'c1');
    const manager = new Kernel(layout, paths);
    manager.create();
    put(`${paths.unified}/cgroup.procs`, '5\n6\n');
    const gone = (pid: number) => {
      put(`${paths.unified}/cgroup.procs`, '');
      throw Object.assign(new Error(`kill pid ${pid}: ESRCH`), { errno: 3 });
    };
    manager.destroy(gone);
    expect(fs.existsSync(paths.unified ?? '')).toBe(false);

    const again = new Kernel(layout, paths);
    again.create();
    put(`${paths.unified}/cgroup.procs`, '5\n');
    const error = errorOf(() => again.destroy(() => {
      put(`${paths.unified}/cgroup.procs`, '');
      throw errnoError('EPERM');
    }));
    expect(error.message).toContain('kill 5: EPERM');
  });

  it('never kills tsrun itself even if its pid shows up in the cgroup', () => {
    const layout = v2Layout();
    const paths = setUp(layout, 'c1');
    const manager = new Kernel(layout, paths);
    manager.create();
    put(`${paths.unified}/cgroup.procs`, `${process.pid}\n`);
    const killed: number[] = [];
    manager.onNap = () => put(`${paths.unified}/cgroup.procs`, '');
    manager.destroy((pid) => killed.push(pid));
    expect(killed).toEqual([]);
  });

  it('v1 cpuset: copies cpuset.cpus and cpuset.mems from the parent into every level it made', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'p/c1');
    put(`${tmp}/cpuset/cpuset.cpus`, '0-3\n');
    put(`${tmp}/cpuset/cpuset.mems`, '0\n');
    const manager = new Kernel(layout, paths);
    manager.controlFiles = (dir): Record<string, string> => (dir.startsWith(`${tmp}/cpuset`) ? { 'cpuset.cpus': '\n', 'cpuset.mems': '\n' } : {});
    manager.create();
    expect(read(`${tmp}/cpuset/p/cpuset.cpus`)).toBe('0-3');
    expect(read(`${tmp}/cpuset/p/c1/cpuset.cpus`)).toBe('0-3');
    expect(read(`${tmp}/cpuset/p/c1/cpuset.mems`)).toBe('0');
  });

  it('v1 cpuset: also fills a parent that another tsrun made but has not filled yet (concurrent creates)', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'p/c1');
    put(`${tmp}/cpuset/cpuset.cpus`, '0-1\n');
    put(`${tmp}/cpuset/cpuset.mems`, '0\n');
    // The other tsrun's mkdir of p has happened, its copy of the values not yet.
    put(`${tmp}/cpuset/p/cpuset.cpus`, '\n');
    put(`${tmp}/cpuset/p/cpuset.mems`, '\n');
    put(`${tmp}/cpuset/p/other/cpuset.cpus`, '1\n');
    const manager = new Kernel(layout, paths);
    manager.controlFiles = (dir): Record<string, string> => (dir.startsWith(`${tmp}/cpuset`) ? { 'cpuset.cpus': '\n', 'cpuset.mems': '\n' } : {});
    manager.create();
    expect(manager.state.created).not.toContain(`${tmp}/cpuset/p`);
    expect(read(`${tmp}/cpuset/p/cpuset.cpus`)).toBe('0-1');
    expect(read(`${tmp}/cpuset/p/c1/cpuset.cpus`)).toBe('0-1');
    expect(read(`${tmp}/cpuset/p/c1/cpuset.mems`)).toBe('0');
    // A level that has values keeps them.
    expect(read(`${tmp}/cpuset/p/other/cpuset.cpus`)).toBe('1\n');
    expect(manager.writes.map(([file]) => file)).not.toContain(`${tmp}/cpuset/cpuset.cpus`);
  });

  it('makes a parent again that another tsrun removed between the look and the mkdir, and owns it then', () => {
    const layout = v2Layout();
    const paths = setUp(layout, 'shared/c1');
    fs.mkdirSync(`${tmp}/v2/shared`);
    let raced = false;
    class Racing extends Kernel {
      protected override makeDir(dir: string): void {
        if (!raced && dir === paths.unified) {
          raced = true;
          fs.rmdirSync(`${tmp}/v2/shared`); // the other container's delete: it made `shared` and saw it empty
        }
        super.makeDir(dir);
      }
    }
    const manager = new Racing(layout, paths);
    manager.create();
    expect(raced).toBe(true);
    expect(fs.statSync(paths.unified ?? '').isDirectory()).toBe(true);
    expect(manager.state.created).toEqual([`${tmp}/v2/shared`, `${tmp}/v2/shared/c1`]);
    manager.destroy(() => {});
    expect(fs.existsSync(`${tmp}/v2/shared`)).toBe(false);
  });

  it('v2: enables the available controllers from the mount root down to the container\'s parent', () => {
    const layout = v2Layout();
    const paths = setUp(layout, 'p/c1');
    put(`${tmp}/v2/cgroup.controllers`, 'cpuset cpu io memory pids\n');
    put(`${tmp}/v2/cgroup.subtree_control`, 'memory\n');
    const manager = new Kernel(layout, paths);
    manager.controlFiles = () => ({ 'cgroup.controllers': 'cpu memory pids\n', 'cgroup.subtree_control': '' });
    // The kernel refuses `io` at the root together with the rest (say), then accepts the others one by one.
    manager.onWrite = (file, value) => {
      if (file === `${tmp}/v2/cgroup.subtree_control` && value.includes('+io')) {
        if (value === '+io') throw errnoError('EBUSY');
        throw errnoError('EINVAL');
      }
      return false;
    };
    manager.create();
    const controlWrites = manager.writes.filter(([file]) => file.endsWith('cgroup.subtree_control'));
    expect(controlWrites).toEqual([
      [`${tmp}/v2/cgroup.subtree_control`, '+cpuset +cpu +io +pids'],
      [`${tmp}/v2/cgroup.subtree_control`, '+cpuset'],
      [`${tmp}/v2/cgroup.subtree_control`, '+cpu'],
      [`${tmp}/v2/cgroup.subtree_control`, '+io'],
      [`${tmp}/v2/cgroup.subtree_control`, '+pids'],
      [`${tmp}/v2/p/cgroup.subtree_control`, '+cpu +memory +pids'],
    ]);
  });

  it('a mkdir failure names the directory and the errno', () => {
    const layout = v2Layout();
    const paths = setUp(layout, 'c1');
    fs.writeFileSync(`${tmp}/v2/c1`, 'a file where the cgroup should go');
    const error = errorOf(() => new FsCgroupManager(layout, { unified: `${tmp}/v2/c1/x` }).create());
    expect(error.message).toBe(`cgroup: mkdir ${tmp}/v2/c1/x: ENOTDIR`);
    expect(paths.unified).toBe(`${tmp}/v2/c1`);
  });
});

describe('apply and join', () => {
  it('writes each value into its controller\'s directory, unified ones into the cgroup2 directory', () => {
    const layout = hybridLayout();
    const paths = setUp(layout, 'c1');
    const manager = new Kernel(layout, paths);
    manager.controlFiles = (dir): Record<string, string> => (dir.startsWith(`${tmp}/memory`) ? { 'memory.limit_in_bytes': '9223372036854771712\n' } : dir.startsWith(`${tmp}/pids`) ? { 'pids.max': 'max\n' } : dir.startsWith(`${tmp}/unified`) ? { 'hugetlb.2MB.max': 'max\n' } : {});
    manager.create();
    manager.apply([
      { controller: 'memory', file: 'memory.limit_in_bytes', value: '104857600', pointer: '/linux/resources/memory/limit' },
      { controller: 'pids', file: 'pids.max', value: '64', pointer: '/linux/resources/pids/limit' },
      { controller: 'unified', file: 'hugetlb.2MB.max', value: '0', pointer: '/linux/resources/hugepageLimits/0' },
    ]);
    expect(read(`${paths.memory}/memory.limit_in_bytes`)).toBe('104857600');
    expect(read(`${paths.pids}/pids.max`)).toBe('64');
    expect(read(`${paths.unified}/hugetlb.2MB.max`)).toBe('0');
  });

  it('a file the kernel does not have: the message names dir, file, value, config field and ENOENT', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'c1');
    const manager = new Kernel(layout, paths);
    manager.create();
    const error = errorOf(() => manager.apply([{ controller: 'memory', file: 'memory.kmem.limit_in_bytes', value: '1024', pointer: '/linux/resources/memory/kernel' }]));
    expect(error.code).toBe('cgroup-write');
    expect(error.message).toBe(`cgroup: write ${paths.memory}/memory.kmem.limit_in_bytes "1024" (config.json /linux/resources/memory/kernel): ENOENT (this kernel has no such file: the controller or feature is missing)`);
    // cgroupfs never creates files: no O_CREAT, the fake tree stays as it was.
    expect(fs.existsSync(`${paths.memory}/memory.kmem.limit_in_bytes`)).toBe(false);
  });

  it.each([
    ['EINVAL', 'the kernel refused the value'],
    ['EBUSY', 'the kernel refused the change while the cgroup is in use'],
  ])('a value the kernel refuses with %s', (code, explanation) => {
    const layout = v1Layout();
    const paths = setUp(layout, 'c1');
    const manager = new Kernel(layout, paths);
    manager.create();
    manager.onWrite = () => {
      throw errnoError(code);
    };
    const error = errorOf(() => manager.apply([{ controller: 'cpu', file: 'cpu.cfs_quota_us', value: '-5', pointer: '/linux/resources/cpu/quota' }]));
    expect(error.message).toBe(`cgroup: write ${paths.cpu}/cpu.cfs_quota_us "-5" (config.json /linux/resources/cpu/quota): ${code} (${explanation})`);
  });

  it('a write for a controller this host does not mount says so', () => {
    const layout = v2Layout();
    const manager = new FsCgroupManager(layout, setUp(layout, 'c1'));
    const error = errorOf(() => manager.apply([{ controller: 'memory', file: 'memory.limit_in_bytes', value: '1', pointer: '/linux/resources/memory/limit' }]));
    expect(error.code).toBe('cgroup-write');
    expect(error.message).toContain('there is no memory hierarchy on this host');
    expect(error.message).toContain('/linux/resources/memory/limit');
  });

  it('join writes the pid into cgroup.procs of every distinct directory (v1 and unified)', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'c1');
    const manager = new Kernel(layout, paths);
    manager.controlFiles = () => ({ 'cgroup.procs': '' });
    manager.create();
    manager.join(1234);
    const procs = manager.writes.filter(([file]) => file.endsWith('cgroup.procs'));
    expect(procs).toHaveLength(8); // 9 keys, cpu and cpuacct co-mounted
    for (const dir of new Set(Object.values(paths))) expect(read(`${dir}/cgroup.procs`)).toBe('1234');

    const hybrid = hybridLayout();
    fs.rmSync(tmp, { recursive: true, force: true });
    const hybridPaths = setUp(hybrid, 'c1');
    const second = new Kernel(hybrid, hybridPaths);
    second.controlFiles = () => ({ 'cgroup.procs': '' });
    second.create();
    second.join(99);
    expect(read(`${hybridPaths.unified}/cgroup.procs`)).toBe('99');
    expect(read(`${hybridPaths['name=systemd']}/cgroup.procs`)).toBe('99');
  });

  it('join failure names the directory; ENOSPC gets the cpuset hint', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'c1');
    const manager = new Kernel(layout, paths);
    manager.controlFiles = () => ({ 'cgroup.procs': '' });
    manager.create();
    manager.onWrite = (file) => {
      if (file.startsWith(`${tmp}/cpuset`)) throw errnoError('ENOSPC');
      return false;
    };
    const error = errorOf(() => manager.join(5));
    expect(error.message).toBe(`cgroup: join ${paths.cpuset}: write cgroup.procs 5: ENOSPC (a v1 cpuset cgroup with an empty cpuset.cpus or cpuset.mems refuses tasks)`);
  });
});

describe('pids', () => {
  it('hybrid/v1: the union of cgroup.procs below the freezer directory, sorted, without duplicates', () => {
    const layout = hybridLayout();
    const paths = setUp(layout, 'c1');
    put(`${paths.freezer}/cgroup.procs`, '30\n4\n');
    put(`${paths.freezer}/a/cgroup.procs`, '100\n4\n');
    put(`${paths.freezer}/a/b/cgroup.procs`, '7\n');
    put(`${paths.memory}/cgroup.procs`, '999\n');
    expect(new FsCgroupManager(layout, paths).pids()).toEqual([4, 7, 30, 100]);
  });

  it('v1 without a freezer uses pids (then memory); v2 uses the unified directory', () => {
    const layout = v1Layout();
    delete layout.v1.freezer;
    const paths = setUp(layout, 'c1');
    put(`${paths.pids}/cgroup.procs`, '8\n');
    put(`${paths.memory}/cgroup.procs`, '9\n');
    expect(new FsCgroupManager(layout, paths).pids()).toEqual([8]);

    const v2 = v2Layout();
    const v2Paths = setUp(v2, 'c2');
    put(`${v2Paths.unified}/cgroup.procs`, '12\n11\n');
    put(`${v2Paths.unified}/child/cgroup.procs`, '13\n');
    expect(new FsCgroupManager(v2, v2Paths).pids()).toEqual([11, 12, 13]);
  });

  it('a cgroup that does not exist (any more) has no pids', () => {
    const layout = v2Layout();
    expect(new FsCgroupManager(layout, setUp(layout, 'gone')).pids()).toEqual([]);
  });
});

describe('freeze and thaw', () => {
  it('v1: writes FROZEN, returns once freezer.state reads FROZEN; thaw writes THAWED', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'c1');
    put(`${paths.freezer}/freezer.state`, 'THAWED\n');
    const manager = new Kernel(layout, paths);
    expect(manager.isFrozen()).toBe(false);
    manager.freeze();
    expect(read(`${paths.freezer}/freezer.state`)).toBe('FROZEN');
    expect(manager.isFrozen()).toBe(true);
    expect(manager.naps).toEqual([]);
    manager.thaw();
    expect(read(`${paths.freezer}/freezer.state`)).toBe('THAWED');
    expect(manager.isFrozen()).toBe(false);
  });

  it('v1: waits through FREEZING with 1 ms naps until the kernel reports FROZEN', () => {
    const layout = hybridLayout();
    const paths = setUp(layout, 'c1');
    const file = `${paths.freezer}/freezer.state`;
    put(file, 'THAWED\n');
    put(`${paths.unified}/cgroup.freeze`, '0\n');
    const manager = new Kernel(layout, paths);
    // The kernel answers FREEZING until the tasks are in the refrigerator, here after 3 naps.
    manager.onWrite = (target, value) => {
      if (target === file && value === 'FROZEN') {
        put(file, 'FREEZING\n');
        return true;
      }
      return false;
    };
    manager.onNap = (count) => {
      if (count === 3) put(file, 'FROZEN\n');
    };
    manager.freeze();
    expect(manager.naps).toEqual([1, 1, 1]);
    // Hybrid: the v1 freezer is used, cgroup.freeze of the unified directory is left alone.
    expect(read(`${paths.unified}/cgroup.freeze`)).toBe('0\n');
  });

  it('v1: a freeze stuck in FREEZING is re-asked every 100 polls, then thawed and reported after 1000', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'c1');
    const file = `${paths.freezer}/freezer.state`;
    put(file, 'THAWED\n');
    const manager = new Kernel(layout, paths);
    manager.onWrite = (target, value) => {
      if (target === file && value === 'FROZEN') {
        put(file, 'FREEZING\n');
        return true;
      }
      return false;
    };
    const error = errorOf(() => manager.freeze());
    expect(error.message).toBe(`cgroup: ${file} still read "FREEZING" after 1000 ms: some tasks would not freeze, so the container was thawed again`);
    expect(manager.naps).toHaveLength(1000);
    expect(manager.writes.filter(([, v]) => v === 'FROZEN')).toHaveLength(11);
    expect(manager.writes.at(-1)).toEqual([file, 'THAWED']);
    expect(read(file)).toBe('THAWED');
  });

  it('v2: writes cgroup.freeze 1 and waits for "frozen 1" in cgroup.events; thaw writes 0', () => {
    const layout = v2Layout();
    const paths = setUp(layout, 'c1');
    const dir = paths.unified ?? '';
    put(`${dir}/cgroup.freeze`, '0\n');
    put(`${dir}/cgroup.events`, 'populated 1\nfrozen 0\n');
    const manager = new Kernel(layout, paths);
    manager.onNap = (count) => {
      if (count === 2) put(`${dir}/cgroup.events`, 'populated 1\nfrozen 1\n');
    };
    expect(manager.isFrozen()).toBe(false);
    manager.freeze();
    expect(read(`${dir}/cgroup.freeze`)).toBe('1');
    expect(manager.naps).toEqual([1, 1]);
    expect(manager.isFrozen()).toBe(true);
    manager.thaw();
    expect(read(`${dir}/cgroup.freeze`)).toBe('0');
    expect(manager.isFrozen()).toBe(false);
  });

  it('v2: never "frozen 1" → thawed again and reported', () => {
    const layout = v2Layout();
    const paths = setUp(layout, 'c1');
    const dir = paths.unified ?? '';
    put(`${dir}/cgroup.freeze`, '0\n');
    put(`${dir}/cgroup.events`, 'populated 1\nfrozen 0\n');
    const manager = new Kernel(layout, paths);
    expect(errorOf(() => manager.freeze()).message).toContain('did not report "frozen 1" within 1000 ms');
    expect(read(`${dir}/cgroup.freeze`)).toBe('0');
  });

  it('no freezer at all: pause is an error, isFrozen is false', () => {
    const layout = v1Layout();
    delete layout.v1.freezer;
    const manager = new FsCgroupManager(layout, setUp(layout, 'c1'));
    expect(errorOf(() => manager.freeze()).message).toContain('there is no freezer on this host');
    expect(manager.isFrozen()).toBe(false);
  });

  it('a freezer write the kernel refuses names the file', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'c1');
    expect(errorOf(() => new FsCgroupManager(layout, paths).freeze()).message).toBe(`cgroup: write ${paths.freezer}/freezer.state "FROZEN": ENOENT`);
  });
});

describe('stats', () => {
  it('v1 (formats of this host): cpuacct, cpu, memory with memsw/kmem/tcp, pids, blkio, hugetlb', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'c1');
    put(`${paths.cpuacct}/cpuacct.usage`, '3226052909547\n');
    put(`${paths.cpuacct}/cpuacct.usage_percpu`, '1527390634083 1698662275464 \n');
    put(`${paths.cpuacct}/cpuacct.stat`, 'user 162953\nsystem 159651\n');
    put(`${paths.cpu}/cpu.stat`, 'nr_periods 120\nnr_throttled 7\nthrottled_time 81234567\nnr_bursts 0\nburst_time 0\n');
    const m = paths.memory ?? '';
    put(`${m}/memory.usage_in_bytes`, '4108288\n');
    put(`${m}/memory.max_usage_in_bytes`, '9605120\n');
    put(`${m}/memory.limit_in_bytes`, '9223372036854771712\n');
    put(`${m}/memory.failcnt`, '0\n');
    put(`${m}/memory.memsw.usage_in_bytes`, '5160960\n');
    put(`${m}/memory.memsw.max_usage_in_bytes`, '9605120\n');
    put(`${m}/memory.memsw.limit_in_bytes`, '9223372036854771712\n');
    put(`${m}/memory.memsw.failcnt`, '3\n');
    put(`${m}/memory.kmem.usage_in_bytes`, '2244608\n');
    put(`${m}/memory.kmem.limit_in_bytes`, '9223372036854771712\n');
    put(`${m}/memory.kmem.tcp.usage_in_bytes`, '0\n');
    put(`${m}/memory.stat`, 'cache 1019904\nrss 1802240\nrss_huge 0\nshmem 0\nmapped_file 28672\ndirty 24576\nswap 0\nhierarchical_memory_limit 9223372036854771712\ntotal_cache 1019904\ntotal_rss 1802240\n');
    put(`${paths.pids}/pids.current`, '3\n');
    put(`${paths.pids}/pids.max`, 'max\n');
    const b = paths.blkio ?? '';
    put(`${b}/blkio.bfq.io_serviced_recursive`, 'Total 0\n');
    put(`${b}/blkio.throttle.io_service_bytes_recursive`, '254:0 Read 1126400\n254:0 Write 4096\n254:0 Sync 1130496\n254:0 Async 0\n254:0 Discard 0\n254:0 Total 1130496\nTotal 1130496\n');
    put(`${b}/blkio.throttle.io_serviced_recursive`, '254:0 Read 55\n254:0 Write 1\n254:0 Sync 56\n254:0 Async 0\n254:0 Discard 0\n254:0 Total 56\nTotal 56\n');
    put(`${paths.hugetlb}/hugetlb.2MB.usage_in_bytes`, '4194304\n');
    put(`${paths.hugetlb}/hugetlb.2MB.max_usage_in_bytes`, '6291456\n');
    put(`${paths.hugetlb}/hugetlb.2MB.failcnt`, '1\n');
    put(`${paths.hugetlb}/hugetlb.2MB.limit_in_bytes`, '9223372036854771712\n');
    put(`${paths.hugetlb}/hugetlb.1GB.usage_in_bytes`, '0\n');

    const stats = new FsCgroupManager(layout, paths).stats();
    expect(stats.cpu).toEqual({
      usage: { total: 3226052909547, percpu: [1527390634083, 1698662275464], kernel: 1596510000000, user: 1629530000000 },
      throttling: { periods: 120, throttledPeriods: 7, throttledTime: 81234567 },
    });
    expect(stats.memory?.cache).toBe(1019904);
    expect(stats.memory?.usage).toEqual({ usage: 4108288, max: 9605120, limit: 9223372036854771712, failcnt: 0 });
    expect(stats.memory?.swap).toEqual({ usage: 5160960, max: 9605120, limit: 9223372036854771712, failcnt: 3 });
    expect(stats.memory?.kernel).toEqual({ usage: 2244608, max: 0, limit: 9223372036854771712, failcnt: 0 });
    expect(stats.memory?.kernelTCP).toEqual({ usage: 0, max: 0, limit: 0, failcnt: 0 });
    expect(stats.memory?.raw).toMatchObject({ cache: 1019904, rss: 1802240, total_rss: 1802240, hierarchical_memory_limit: 9223372036854771712 });
    expect(stats.pids).toEqual({ current: 3, limit: 0 });
    expect(stats.blkio?.ioServiceBytesRecursive).toEqual([
      { major: 254, minor: 0, op: 'Read', value: 1126400 },
      { major: 254, minor: 0, op: 'Write', value: 4096 },
      { major: 254, minor: 0, op: 'Sync', value: 1130496 },
      { major: 254, minor: 0, op: 'Async', value: 0 },
      { major: 254, minor: 0, op: 'Discard', value: 0 },
      { major: 254, minor: 0, op: 'Total', value: 1130496 },
    ]);
    expect(stats.blkio?.ioServicedRecursive?.[0]).toEqual({ major: 254, minor: 0, op: 'Read', value: 55 });
    expect(Object.keys(stats.blkio ?? {})).toEqual(['ioServiceBytesRecursive', 'ioServicedRecursive']);
    expect(stats.hugetlb).toEqual({ '2MB': { usage: 4194304, max: 6291456, failcnt: 1 }, '1GB': { usage: 0, max: 0, failcnt: 0 } });
  });

  it('v1 CFQ statistics are preferred when they have entries; time and sectors lines have no op', () => {
    const layout = v1Layout();
    const paths = setUp(layout, 'c1');
    const b = paths.blkio ?? '';
    put(`${b}/blkio.io_serviced_recursive`, '8:0 Read 10\n8:0 Write 2\n8:0 Total 12\nTotal 12\n');
    put(`${b}/blkio.time_recursive`, '8:0 5000\n');
    put(`${b}/blkio.sectors_recursive`, '8:0 160\n');
    put(`${b}/blkio.throttle.io_serviced_recursive`, '8:0 Read 999\nTotal 999\n');
    const blkio = new FsCgroupManager(layout, paths).stats().blkio ?? {};
    expect(blkio.ioServicedRecursive?.[0]?.value).toBe(10);
    expect(blkio.ioTimeRecursive).toEqual([{ major: 8, minor: 0, op: '', value: 5000 }]);
    expect(blkio.sectorsRecursive).toEqual([{ major: 8, minor: 0, op: '', value: 160 }]);
  });

  it('v2: cpu.stat in µs → ns, memory.current/max/swap/stat, pids, io.stat, hugetlb', () => {
    const layout = v2Layout();
    const paths = setUp(layout, 'c1');
    const d = paths.unified ?? '';
    put(`${d}/cpu.stat`, 'usage_usec 3264218497\nuser_usec 1670745697\nsystem_usec 1593472799\nnice_usec 435935\nnr_periods 10\nnr_throttled 2\nthrottled_usec 1500\nnr_bursts 0\nburst_usec 0\n');
    put(`${d}/memory.current`, '8716288\n');
    put(`${d}/memory.max`, '104857600\n');
    put(`${d}/memory.peak`, '9043968\n');
    put(`${d}/memory.events`, 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n');
    put(`${d}/memory.swap.current`, '4096\n');
    put(`${d}/memory.swap.max`, '104857600\n');
    put(`${d}/memory.swap.events`, 'high 0\nmax 0\nfail 2\n');
    put(`${d}/memory.stat`, 'anon 1974272\nfile 6123520\nkernel 466944\nkernel_stack 49152\npagetables 65536\nsock 0\nshmem 0\nfile_mapped 2027520\nslab 303440\n');
    put(`${d}/pids.current`, '2\n');
    put(`${d}/pids.max`, '100\n');
    put(`${d}/io.stat`, '254:0 rbytes=1126400 wbytes=4096 rios=55 wios=1 dbytes=0 dios=0\n');
    put(`${d}/hugetlb.2MB.current`, '2097152\n');
    put(`${d}/hugetlb.2MB.max`, 'max\n');
    put(`${d}/hugetlb.2MB.events`, 'max 5\n');
    put(`${d}/hugetlb.2MB.rsvd.current`, '0\n');

    const stats = new FsCgroupManager(layout, paths).stats();
    expect(stats.cpu).toEqual({
      usage: { total: 3264218497000, user: 1670745697000, kernel: 1593472799000 },
      throttling: { periods: 10, throttledPeriods: 2, throttledTime: 1500000 },
    });
    expect(stats.memory?.usage).toEqual({ usage: 8716288, limit: 104857600, max: 9043968, failcnt: 4 });
    // runc reports v2 swap as memory + swap, like v1's memsw.
    expect(stats.memory?.swap).toEqual({ usage: 8716288 + 4096, limit: 209715200, max: 0, failcnt: 2 });
    expect(stats.memory?.cache).toBe(6123520);
    expect(stats.memory?.kernel.usage).toBe(466944);
    expect(stats.memory?.raw.anon).toBe(1974272);
    expect(stats.pids).toEqual({ current: 2, limit: 100 });
    expect(stats.blkio).toEqual({
      ioServiceBytesRecursive: [{ major: 254, minor: 0, op: 'Read', value: 1126400 }, { major: 254, minor: 0, op: 'Write', value: 4096 }],
      ioServicedRecursive: [{ major: 254, minor: 0, op: 'Read', value: 55 }, { major: 254, minor: 0, op: 'Write', value: 1 }],
    });
    expect(stats.hugetlb).toEqual({ '2MB': { usage: 2097152, max: 0, failcnt: 5 } });
  });

  it('v2 "max" limits: memory → runc\'s MaxUint64, swap stays unlimited, pids → 0', () => {
    const layout = v2Layout();
    const paths = setUp(layout, 'c1');
    const d = paths.unified ?? '';
    put(`${d}/memory.current`, '100\n');
    put(`${d}/memory.max`, 'max\n');
    put(`${d}/memory.swap.current`, '0\n');
    put(`${d}/memory.swap.max`, 'max\n');
    put(`${d}/pids.current`, '1\n');
    put(`${d}/pids.max`, 'max\n');
    const stats = new FsCgroupManager(layout, paths).stats();
    expect(stats.memory?.usage.limit).toBe(CGROUP_UNLIMITED);
    expect(stats.memory?.swap.limit).toBe(CGROUP_UNLIMITED);
    expect(stats.pids).toEqual({ current: 1, limit: 0 });
  });

  it('hybrid (this host): v1 files for cpu/memory, hugetlb from the unified directory', () => {
    const layout = hybridLayout();
    const paths = setUp(layout, 'c1');
    put(`${paths.cpuacct}/cpuacct.usage`, '5\n');
    put(`${paths.memory}/memory.usage_in_bytes`, '4096\n');
    put(`${paths.unified}/cpu.stat`, 'usage_usec 99\nuser_usec 1\nsystem_usec 1\n');
    put(`${paths.unified}/hugetlb.2MB.current`, '0\n');
    put(`${paths.unified}/hugetlb.2MB.events`, 'max 0\n');
    const stats = new FsCgroupManager(layout, paths).stats();
    expect(stats.cpu?.usage.total).toBe(5);
    expect(stats.memory?.usage.usage).toBe(4096);
    expect(stats.hugetlb).toEqual({ '2MB': { usage: 0, max: 0, failcnt: 0 } });
  });

  it('missing files are skipped, never an error', () => {
    for (const layout of [v1Layout(), hybridLayout(), v2Layout()]) {
      fs.rmSync(tmp, { recursive: true, force: true });
      const paths = setUp(layout, 'c1');
      expect(new FsCgroupManager(layout, paths).stats()).toEqual({});
      new FsCgroupManager(layout, paths).create();
      expect(new FsCgroupManager(layout, paths).stats()).toEqual({});
    }
    const layout = v1Layout();
    const paths = setUp(layout, 'c2');
    put(`${paths.memory}/memory.usage_in_bytes`, '1\n');
    expect(new FsCgroupManager(layout, paths).stats().memory).toEqual({
      cache: 0,
      usage: { usage: 1, limit: 0, max: 0, failcnt: 0 },
      swap: { usage: 0, limit: 0, max: 0, failcnt: 0 },
      kernel: { usage: 0, limit: 0, max: 0, failcnt: 0 },
      raw: {},
    });
  });
});
