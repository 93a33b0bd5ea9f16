import { describe, expect, it } from 'vitest';
import { parseCgroupFile, parseMountInfo } from '../../../src/linux/proc-parsers';
import { planCgroupMount } from '../../../src/spec/cgroup-mount-plan';

const HYBRID = parseMountInfo([
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '50 31 0:40 / /proc proc rw - proc proc rw',
].join('\n'));
const UNIFIED = parseMountInfo('30 20 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n');
const CGROUPS = parseCgroupFile('4:memory:/box/c1\n3:cpu,cpuacct:/box/c1\n1:name=systemd:/\n0::/box/c1\n');

describe('planCgroupMount', () => {
  it('on a hybrid host with a cgroup namespace mounts each hierarchy fresh, plus links for co-mounted controllers', () => {
    expect(planCgroupMount('/sys/fs/cgroup', { mounts: HYBRID, cgroups: CGROUPS, cgroupNamespace: true, userNamespace: false })).toEqual([
      { kind: 'tmpfs', target: '/sys/fs/cgroup' },
      { kind: 'cgroup-v1', target: '/sys/fs/cgroup/cpu,cpuacct', controllers: 'cpu,cpuacct' },
      { kind: 'symlink', link: '/sys/fs/cgroup/cpu', to: 'cpu,cpuacct' },
      { kind: 'symlink', link: '/sys/fs/cgroup/cpuacct', to: 'cpu,cpuacct' },
      { kind: 'cgroup-v1', target: '/sys/fs/cgroup/memory', controllers: 'memory' },
      { kind: 'cgroup-v1', target: '/sys/fs/cgroup/systemd', controllers: 'name=systemd' },
      { kind: 'cgroup2', target: '/sys/fs/cgroup/unified' },
    ]);
  });

  it('without a cgroup namespace binds the container\'s own cgroup of each hierarchy', () => {
    const actions = planCgroupMount('/sys/fs/cgroup', { mounts: HYBRID, cgroups: CGROUPS, cgroupNamespace: false, userNamespace: false });
    expect(actions.filter((a) => a.kind === 'bind')).toEqual([
      { kind: 'bind', source: '/sys/fs/cgroup/cpu,cpuacct/box/c1', target: '/sys/fs/cgroup/cpu,cpuacct' },
      { kind: 'bind', source: '/sys/fs/cgroup/memory/box/c1', target: '/sys/fs/cgroup/memory' },
      { kind: 'bind', source: '/sys/fs/cgroup/systemd', target: '/sys/fs/cgroup/systemd' },
      { kind: 'bind', source: '/sys/fs/cgroup/unified/box/c1', target: '/sys/fs/cgroup/unified' },
    ]);
  });

  it('in a user namespace binds v1 hierarchies (they cannot be mounted there) but mounts cgroup2', () => {
    const actions = planCgroupMount('/sys/fs/cgroup', { mounts: HYBRID, cgroups: CGROUPS, cgroupNamespace: true, userNamespace: true });
    expect(actions.map((a) => a.kind)).toEqual(['tmpfs', 'bind', 'symlink', 'symlink', 'bind', 'bind', 'cgroup2']);
  });

  it('on a unified host mounts cgroup2 itself, or binds the container\'s cgroup without a namespace', () => {
    expect(planCgroupMount('/sys/fs/cgroup', { mounts: UNIFIED, cgroups: CGROUPS, cgroupNamespace: true, userNamespace: false }))
      .toEqual([{ kind: 'cgroup2', target: '/sys/fs/cgroup' }]);
    expect(planCgroupMount('/sys/fs/cgroup', { mounts: UNIFIED, cgroups: CGROUPS, cgroupNamespace: false, userNamespace: false }))
      .toEqual([{ kind: 'bind', source: '/sys/fs/cgroup/box/c1', target: '/sys/fs/cgroup' }]);
  });

  it('never binds above a mount\'s root, even when /proc/self/cgroup points outside it', () => {
    const mounts = parseMountInfo('35 31 0:32 /box /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n');
    const actions = planCgroupMount('/c', { mounts, cgroups: parseCgroupFile('4:memory:/elsewhere\n'), cgroupNamespace: false, userNamespace: false });
    expect(actions).toContainEqual({ kind: 'bind', source: '/sys/fs/cgroup/memory', target: '/c/memory' });
  });
});
