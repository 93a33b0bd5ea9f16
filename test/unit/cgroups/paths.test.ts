import { describe, expect, it } from 'vitest';
import { isSystemdCgroupsPath, resolveCgroupPaths } from '../../../src/cgroups/paths';
import type { CgroupLayout } from '../../../src/cgroups/types';
import { parseCgroupFile } from '../../../src/linux/proc-parsers';
import { errorOf } from '../../helpers/errors';

const root = (mountPoint: string, cgroupRoot = '/') => ({ mountPoint, root: cgroupRoot });

/** This host: hybrid, tsrun's memory cgroup is /process_api/ea4e…, everything else at the root. */
const HYBRID: CgroupLayout = {
  mode: 'hybrid',
  v1: {
    cpu: root('/sys/fs/cgroup/cpu'),
    cpuacct: root('/sys/fs/cgroup/cpuacct'),
    memory: root('/sys/fs/cgroup/memory'),
    freezer: root('/sys/fs/cgroup/freezer'),
    'name=systemd': root('/sys/fs/cgroup/systemd'),
  },
  unified: root('/sys/fs/cgroup/unified'),
};
const HYBRID_OWN = parseCgroupFile(`9:name=systemd:/
6:freezer:/
4:memory:/process_api/ea4e93d99fa5075887e2512a73e13c2e
2:cpuacct:/
1:cpu:/
0::/
`);

const cpuacct = root('/sys/fs/cgroup/cpu,cpuacct');
const V1: CgroupLayout = { mode: 'v1', v1: { cpu: cpuacct, cpuacct, memory: root('/sys/fs/cgroup/memory'), 'name=systemd': root('/sys/fs/cgroup/systemd') }, unified: undefined };
const V1_OWN = parseCgroupFile(`12:memory:/user.slice/user-1000.slice/session-2.scope
4:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
`);

const V2: CgroupLayout = { mode: 'v2', v1: {}, unified: root('/sys/fs/cgroup') };
const V2_OWN = parseCgroupFile('0::/user.slice/user-1000.slice/session-2.scope\n');

describe('resolveCgroupPaths', () => {
  it('relative path on this (hybrid) host: below tsrun\'s own cgroup in every hierarchy, unified included', () => {
    const paths = resolveCgroupPaths(HYBRID, { cgroupsPath: 'tsrun-test-1/c1', id: 'c1', ownCgroups: HYBRID_OWN });
    expect(paths).toEqual({
      cpu: '/sys/fs/cgroup/cpu/tsrun-test-1/c1',
      cpuacct: '/sys/fs/cgroup/cpuacct/tsrun-test-1/c1',
      memory: '/sys/fs/cgroup/memory/process_api/ea4e93d99fa5075887e2512a73e13c2e/tsrun-test-1/c1',
      freezer: '/sys/fs/cgroup/freezer/tsrun-test-1/c1',
      'name=systemd': '/sys/fs/cgroup/systemd/tsrun-test-1/c1',
      unified: '/sys/fs/cgroup/unified/tsrun-test-1/c1',
    });
  });

  it('absent or empty cgroupsPath: the container ID, relative to the own cgroup (runc\'s default)', () => {
    for (const cgroupsPath of [undefined, '']) {
      const paths = resolveCgroupPaths(HYBRID, { cgroupsPath, id: 'web', ownCgroups: HYBRID_OWN });
      expect(paths.memory).toBe('/sys/fs/cgroup/memory/process_api/ea4e93d99fa5075887e2512a73e13c2e/web');
      expect(paths.cpu).toBe('/sys/fs/cgroup/cpu/web');
      expect(paths.unified).toBe('/sys/fs/cgroup/unified/web');
    }
  });

  it('absolute path: from the top of each hierarchy, whatever tsrun\'s own cgroup is', () => {
    const paths = resolveCgroupPaths(HYBRID, { cgroupsPath: '/docker/abc', id: 'abc', ownCgroups: HYBRID_OWN });
    expect(paths.memory).toBe('/sys/fs/cgroup/memory/docker/abc');
    expect(paths['name=systemd']).toBe('/sys/fs/cgroup/systemd/docker/abc');
    expect(paths.unified).toBe('/sys/fs/cgroup/unified/docker/abc');
  });

  it('v1 with cpu,cpuacct co-mounted: both keys name the same directory', () => {
    const paths = resolveCgroupPaths(V1, { cgroupsPath: 'ctr', id: 'ctr', ownCgroups: V1_OWN });
    expect(paths).toEqual({
      cpu: '/sys/fs/cgroup/cpu,cpuacct/user.slice/ctr',
      cpuacct: '/sys/fs/cgroup/cpu,cpuacct/user.slice/ctr',
      memory: '/sys/fs/cgroup/memory/user.slice/user-1000.slice/session-2.scope/ctr',
      'name=systemd': '/sys/fs/cgroup/systemd/user.slice/user-1000.slice/session-2.scope/ctr',
    });
    expect(Object.keys(paths)).not.toContain('unified');
  });

  it('v2: a relative path goes below the PARENT of tsrun\'s own cgroup (runc: the own cgroup has processes)', () => {
    expect(resolveCgroupPaths(V2, { cgroupsPath: 'ctr', id: 'ctr', ownCgroups: V2_OWN })).toEqual({
      unified: '/sys/fs/cgroup/user.slice/user-1000.slice/ctr',
    });
    expect(resolveCgroupPaths(V2, { cgroupsPath: undefined, id: 'c9', ownCgroups: V2_OWN }).unified).toBe('/sys/fs/cgroup/user.slice/user-1000.slice/c9');
    expect(resolveCgroupPaths(V2, { cgroupsPath: '/kubepods/pod1/c', id: 'c', ownCgroups: V2_OWN }).unified).toBe('/sys/fs/cgroup/kubepods/pod1/c');
    // In a cgroup namespace the own cgroup is / and so is its parent.
    expect(resolveCgroupPaths(V2, { cgroupsPath: 'ctr', id: 'ctr', ownCgroups: parseCgroupFile('0::/\n') }).unified).toBe('/sys/fs/cgroup/ctr');
  });

  it('v2 ignores v1 keys even if a layout carries some', () => {
    const layout: CgroupLayout = { ...V2, v1: { 'name=systemd': root('/sys/fs/cgroup/systemd') } };
    expect(Object.keys(resolveCgroupPaths(layout, { cgroupsPath: 'x', id: 'x', ownCgroups: V2_OWN }))).toEqual(['unified']);
  });

  describe('nested containers: a mount whose root is not /', () => {
    const nested: CgroupLayout = {
      mode: 'hybrid',
      v1: { memory: root('/sys/fs/cgroup/memory', '/docker/abc'), pids: root('/sys/fs/cgroup/pids', '/docker/abc') },
      unified: root('/sys/fs/cgroup/unified', '/docker/abc'),
    };
    // Without a cgroup namespace /proc/self/cgroup shows host paths.
    const own = parseCgroupFile('5:memory:/docker/abc/shim\n3:pids:/docker/abc\n0::/docker/abc\n');

    it('relative: the own cgroup is mapped through the mount root', () => {
      expect(resolveCgroupPaths(nested, { cgroupsPath: 'c1', id: 'c1', ownCgroups: own })).toEqual({
        memory: '/sys/fs/cgroup/memory/shim/c1',
        pids: '/sys/fs/cgroup/pids/c1',
        unified: '/sys/fs/cgroup/unified/c1',
      });
    });

    it('absolute under the mount root: mapped through it (/docker/abc/b shows at <mountPoint>/b)', () => {
      expect(resolveCgroupPaths(nested, { cgroupsPath: '/docker/abc/b', id: 'b', ownCgroups: own }).memory).toBe('/sys/fs/cgroup/memory/b');
    });

    it('absolute elsewhere: joined to the mount point, as runc does', () => {
      expect(resolveCgroupPaths(nested, { cgroupsPath: '/kubepods/x', id: 'x', ownCgroups: own }).pids).toBe('/sys/fs/cgroup/pids/kubepods/x');
    });

    it('an own cgroup outside the mounted part is an error, not a path outside the mount', () => {
      const elsewhere = parseCgroupFile('5:memory:/system.slice/containerd.service\n3:pids:/docker/abc\n0::/docker/abc\n');
      const error = errorOf(() => resolveCgroupPaths(nested, { cgroupsPath: 'c1', id: 'c1', ownCgroups: elsewhere }));
      expect(error.code).toBe('cgroups');
      expect(error.message).toContain('/system.slice/containerd.service');
      expect(error.message).toContain('/sys/fs/cgroup/memory');
    });

    it('the mount root itself is refused', () => {
      expect(errorOf(() => resolveCgroupPaths(nested, { cgroupsPath: '/docker/abc', id: 'b', ownCgroups: own })).message).toContain('root cgroup');
    });
  });

  it('normalizes duplicate slashes, "." components and a trailing slash', () => {
    const paths = resolveCgroupPaths(HYBRID, { cgroupsPath: '//docker/./abc/', id: 'abc', ownCgroups: HYBRID_OWN });
    expect(paths.cpu).toBe('/sys/fs/cgroup/cpu/docker/abc');
  });

  it.each(['../escape', 'a/../../b', '/docker/..', '/a/../b'])('refuses ".." components: %j', (cgroupsPath) => {
    const error = errorOf(() => resolveCgroupPaths(HYBRID, { cgroupsPath, id: 'x', ownCgroups: HYBRID_OWN }));
    expect(error.code).toBe('config');
    expect(error.message).toContain('/linux/cgroupsPath');
    expect(error.message).toContain('".."');
  });

  it.each(['/', '.', './', '//'])('refuses a path naming a root or tsrun\'s own cgroup: %j', (cgroupsPath) => {
    const error = errorOf(() => resolveCgroupPaths(HYBRID, { cgroupsPath, id: 'x', ownCgroups: HYBRID_OWN }));
    expect(error.code).toBe('config');
    expect(error.message).toContain('/linux/cgroupsPath');
  });

  it('refuses tsrun\'s own cgroup or an ancestor of it named by an absolute path', () => {
    expect(errorOf(() => resolveCgroupPaths(HYBRID, { cgroupsPath: '/process_api', id: 'x', ownCgroups: HYBRID_OWN })).message)
      .toContain("an ancestor of tsrun's own cgroup in the memory hierarchy");
    expect(errorOf(() => resolveCgroupPaths(HYBRID, { cgroupsPath: '/process_api/ea4e93d99fa5075887e2512a73e13c2e', id: 'x', ownCgroups: HYBRID_OWN })).message)
      .toContain("is tsrun's own cgroup in the memory hierarchy");
    // v2: the parent-based default must not land on the own cgroup either.
    expect(errorOf(() => resolveCgroupPaths(V2, { cgroupsPath: 'session-2.scope', id: 'x', ownCgroups: V2_OWN })).message).toContain("tsrun's own cgroup");
  });

  it.each(['system.slice:docker:abc', 'kubepods-burstable.slice:cri-containerd:0123', ':libpod:id', '-:x:y'])(
    'refuses the systemd driver syntax %j with a clear "not supported yet"',
    (cgroupsPath) => {
      const error = errorOf(() => resolveCgroupPaths(HYBRID, { cgroupsPath, id: 'x', ownCgroups: HYBRID_OWN }));
      expect(error.message).toBe(`cgroupsPath ${JSON.stringify(cgroupsPath)} is a systemd path: the systemd cgroup driver is not supported yet`);
    },
  );

  it('isSystemdCgroupsPath only matches slice:prefix:name', () => {
    expect(isSystemdCgroupsPath('a:b:c')).toBe(true);
    expect(isSystemdCgroupsPath('/a:b:c')).toBe(false);
    expect(isSystemdCgroupsPath('a:b')).toBe(false);
    expect(isSystemdCgroupsPath('a/b:c:d')).toBe(false);
    expect(isSystemdCgroupsPath('plain')).toBe(false);
  });

  it('a hierarchy missing from /proc/self/cgroup is an error for relative paths, fine for absolute ones', () => {
    const own = parseCgroupFile('0::/\n1:cpu:/\n');
    expect(errorOf(() => resolveCgroupPaths(HYBRID, { cgroupsPath: 'x', id: 'x', ownCgroups: own })).message).toContain('no line for the cpuacct hierarchy');
    expect(resolveCgroupPaths(HYBRID, { cgroupsPath: '/x', id: 'x', ownCgroups: own }).cpuacct).toBe('/sys/fs/cgroup/cpuacct/x');
  });
});
