import { describe, expect, it } from 'vitest';
import { detectLayout } from '../../../src/cgroups/layout';
import { errorOf } from '../../helpers/errors';

/** The cgroup lines of this project's test host (hybrid: cpu and cpuacct apart, name=systemd, cgroup2 at unified). */
const THIS_HOST = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

/** A typical systemd v1 host (Ubuntu 18.04-like): co-mounted cpu,cpuacct and net_cls,net_prio; no cgroup2. */
const V1_HOST = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
27 25 0:25 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
29 27 0:27 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
32 27 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
33 27 0:31 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
34 27 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
35 27 0:33 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset,clone_children
36 27 0:34 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids
37 27 0:35 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,freezer
38 27 0:36 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,hugetlb
39 27 0:37 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup rw,devices
40 27 0:38 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:22 - cgroup cgroup rw,blkio
41 27 0:39 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:23 - cgroup cgroup rw,perf_event
42 27 0:40 / /sys/fs/cgroup/rdma rw,nosuid,nodev,noexec,relatime shared:24 - cgroup cgroup rw,rdma
`;

const V2_HOST = `22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

describe('detectLayout', () => {
  it('reads this host as hybrid: each v1 controller its own hierarchy, name=systemd included, cgroup2 at unified', () => {
    const layout = detectLayout(THIS_HOST);
    expect(layout.mode).toBe('hybrid');
    expect(Object.keys(layout.v1).sort()).toEqual(['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'name=systemd', 'pids']);
    expect(layout.v1.cpu).toEqual({ mountPoint: '/sys/fs/cgroup/cpu', root: '/' });
    expect(layout.v1.cpuacct).toEqual({ mountPoint: '/sys/fs/cgroup/cpuacct', root: '/' });
    expect(layout.v1['name=systemd']).toEqual({ mountPoint: '/sys/fs/cgroup/systemd', root: '/' });
    expect(layout.unified).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    expect(layout.unifiedControllers).toEqual([]);
  });

  it('asks for the unified root controllers through the callback, with the mount point', () => {
    const asked: string[] = [];
    const layout = detectLayout(THIS_HOST, (mountPoint) => {
      asked.push(mountPoint);
      return ['hugetlb'];
    });
    expect(asked).toEqual(['/sys/fs/cgroup/unified']);
    expect(layout.unifiedControllers).toEqual(['hugetlb']);
  });

  it('reads a v1 host: co-mounted controllers share one Hierarchy; mount options are not controllers', () => {
    const layout = detectLayout(V1_HOST, () => ['never asked']);
    expect(layout.mode).toBe('v1');
    expect(layout.unified).toBeUndefined();
    expect(layout.unifiedControllers).toEqual([]);
    expect(layout.v1.cpu).toEqual({ mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/' });
    expect(layout.v1.cpu).toBe(layout.v1.cpuacct);
    expect(layout.v1.net_cls).toBe(layout.v1.net_prio);
    expect(layout.v1.cpuset?.mountPoint).toBe('/sys/fs/cgroup/cpuset');
    expect(layout.v1['name=systemd']?.mountPoint).toBe('/sys/fs/cgroup/systemd');
    expect(Object.keys(layout.v1)).not.toContain('clone_children');
    expect(Object.keys(layout.v1)).not.toContain('xattr');
    expect(Object.keys(layout.v1)).not.toContain('rw');
    expect(Object.keys(layout.v1).length).toBe(14);
  });

  it('reads a v2-only host, with the root controllers from the callback', () => {
    const layout = detectLayout(V2_HOST, () => ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc']);
    expect(layout).toEqual({
      mode: 'v2',
      v1: {},
      unified: { mountPoint: '/sys/fs/cgroup', root: '/' },
      unifiedControllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'],
    });
  });

  it('keeps a v2 host v2 when only a named v1 hierarchy is mounted too (old systemd in a container)', () => {
    const text = `${V2_HOST}30 26 0:40 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n`;
    const layout = detectLayout(text);
    expect(layout.mode).toBe('v2');
    expect(layout.v1).toEqual({});
  });

  it('a named-only v1 hierarchy without cgroup2 is still a (controller-less) v1 layout', () => {
    const layout = detectLayout('30 1 0:40 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n');
    expect(layout.mode).toBe('v1');
    expect(Object.keys(layout.v1)).toEqual(['name=systemd']);
  });

  it('nested container: mount roots that are not / are kept, and the FIRST mount of a controller wins', () => {
    const text = [
      '700 600 0:29 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory',
      '701 600 0:30 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct',
      '702 600 0:38 /docker/abc /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
      // The same hierarchies again, seen through a nested container's rootfs.
      '800 700 0:29 /docker/abc/inner /run/rootfs/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
      '801 700 0:38 /docker/abc/inner /run/rootfs/sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
      '',
    ].join('\n');
    const layout = detectLayout(text);
    expect(layout.mode).toBe('hybrid');
    expect(layout.v1.memory).toEqual({ mountPoint: '/sys/fs/cgroup/memory', root: '/docker/abc' });
    expect(layout.v1.cpuacct).toEqual({ mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/docker/abc' });
    expect(layout.unified).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/docker/abc' });
  });

  it('unescapes octal escapes in mount points and roots', () => {
    const layout = detectLayout('40 31 0:37 /a\\040b /sys/fs/cgroup/my\\040mem rw - cgroup cgroup rw,memory\n');
    expect(layout.v1.memory).toEqual({ mountPoint: '/sys/fs/cgroup/my mem', root: '/a b' });
  });

  it('no cgroup mount at all is an error naming what is missing', () => {
    const error = errorOf(() => detectLayout('22 27 0:21 / /proc rw,relatime - proc proc rw\n'));
    expect(error.code).toBe('cgroups');
    expect(error.message).toContain('no cgroup file system is mounted');
    expect(errorOf(() => detectLayout('')).message).toContain('no cgroup file system is mounted');
  });

  it('ignores tmpfs at /sys/fs/cgroup and other file systems', () => {
    const layout = detectLayout(THIS_HOST);
    expect(Object.values(layout.v1).every((h) => h.mountPoint !== '/sys/fs/cgroup')).toBe(true);
  });
});
