import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Sandbox, integrationSkipReason, needsPrivilege, processAlive } from '../helpers/tsrun';

describe.skipIf(integrationSkipReason !== undefined)(`namespaces${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox('tsrun-ns');
  });
  afterEach(() => {
    sb.cleanup();
  });

  function userNsConfig(args: string[], uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings = uidMappings) {
    const config = sb.config(args);
    config.linux.namespaces.push({ type: 'user' });
    Object.assign(config.linux, { uidMappings, gidMappings });
    return config;
  }

  it.skipIf(needsPrivilege('maps other host IDs; rootless maps are tested in rootless.test.ts')[0])(`a new user namespace gets the configured maps, and the container runs as its root${needsPrivilege('maps other host IDs; rootless maps are tested in rootless.test.ts')[1]}`, () => {
    const script = 'cat /proc/self/uid_map /proc/self/gid_map; id -u; echo x > /dev/null && echo devnull-ok; touch /tmp/f && stat -c %u /tmp/f; hostname';
    const r = sb.tsrun(['run', '-b', sb.bundle(userNsConfig(['sh', '-c', script])), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
    expect(lines).toEqual(['0 100000 65536', '0 100000 65536', '0', 'devnull-ok', '0', 'tsrun']);
  });

  it.skipIf(needsPrivilege('maps other host IDs; rootless maps are tested in rootless.test.ts')[0])(`multi-range maps are written in one go${needsPrivilege('maps other host IDs; rootless maps are tested in rootless.test.ts')[1]}`, () => {
    const maps = [{ containerID: 0, hostID: 100000, size: 1000 }, { containerID: 1000, hostID: 300000, size: 1000 }];
    const r = sb.tsrun(['run', '-b', sb.bundle(userNsConfig(['cat', '/proc/self/uid_map'], maps)), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '))).toEqual(['0 100000 1000', '1000 300000 1000']);
  });

  it.skipIf(needsPrivilege('maps other host IDs; rootless maps are tested in rootless.test.ts')[0])(`the init of a user-namespaced container is owned by the mapped root on the host${needsPrivilege('maps other host IDs; rootless maps are tested in rootless.test.ts')[1]}`, () => {
    const id = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(userNsConfig(['sleep', '1000'])), id]).status).toBe(0);
    const pid = sb.state(id).pid;
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/\nUid:\s+100000\s+100000\s+100000\s+100000\n/);
    expect(sb.tsrun(['delete', '--force', id]).status).toBe(0);
    expect(processAlive(pid)).toBe(false);
  });

  it.skipIf(needsPrivilege('maps other host IDs; rootless maps are tested in rootless.test.ts')[0])(`invalid ID maps fail create with the field named and nothing left${needsPrivilege('maps other host IDs; rootless maps are tested in rootless.test.ts')[1]}`, () => {
    const id = sb.newId();
    const overlapping = [{ containerID: 0, hostID: 100000, size: 10 }, { containerID: 5, hostID: 200000, size: 10 }];
    const r = sb.tsrun(['create', '-b', sb.bundle(userNsConfig(['true'], overlapping)), id]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('/linux/uidMappings');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('a new network namespace has its loopback up, as with runc; sharing the host\'s network leaves it alone', () => {
    const config = sb.config(['sh', '-c', 'cat /sys/class/net/lo/flags; ls /sys/class/net']);
    if (!config.linux.namespaces.some((ns: { type: string }) => ns.type === 'network')) config.linux.namespaces.push({ type: 'network' });
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    // IFF_UP (0x1) | IFF_LOOPBACK (0x8); the interface list shows nothing but lo.
    expect(r.stdout.trim().split(/\s+/)).toEqual(['0x9', 'lo']);
  });

  it.skipIf(needsPrivilege('joining namespaces owned by another user namespace needs privilege over it')[0])(`joins namespaces by path: the second container shares the first one's network and UTS namespaces${needsPrivilege('joining namespaces owned by another user namespace needs privilege over it')[1]}`, () => {
    const first = sb.newId();
    const config = sb.config(['sleep', '1000']);
    config.hostname = 'first';
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(config), first]).status).toBe(0);
    const pid = sb.state(first).pid;
    const second = sb.config(['sh', '-c', 'readlink /proc/self/ns/net; readlink /proc/self/ns/uts; hostname']);
    delete second.hostname;
    second.linux.namespaces = second.linux.namespaces.map((ns: { type: string }) =>
      ns.type === 'network' ? { type: 'network', path: `/proc/${pid}/ns/net` } : ns.type === 'uts' ? { type: 'uts', path: `/proc/${pid}/ns/uts` } : ns);
    const r = sb.tsrun(['run', '-b', sb.bundle(second), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([
      fs.readlinkSync(`/proc/${pid}/ns/net`),
      fs.readlinkSync(`/proc/${pid}/ns/uts`),
      'first',
    ]);
  });

  const mapsOtherIds = needsPrivilege('maps other host IDs; rootless maps are tested in rootless.test.ts');

  it.skipIf(mapsOtherIds[0])(`in a user namespace that maps root elsewhere: oomScoreAdj and timeOffsets apply${mapsOtherIds[1]}`, () => {
    // Becoming that namespace's root makes stage 1 non-dumpable, so its /proc files belong to the host's root.
    // Negative values need CAP_SYS_RESOURCE, which this project's CI host withholds even from root.
    for (const adj of [250, 999]) {
      const config = userNsConfig(['sh', '-c', 'cat /proc/self/oom_score_adj; cat /proc/self/timens_offsets']);
      config.process.oomScoreAdj = adj;
      config.linux.namespaces.push({ type: 'time' });
      config.linux.timeOffsets = { monotonic: { secs: 3600, nanosecs: 0 } };
      const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
      expect(r.stderr).toBe('');
      const lines = r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
      expect(lines[0]).toBe(String(adj));
      expect(lines).toContain('monotonic 3600 0');
    }
  });

  it.skipIf(mapsOtherIds[0])(`joining a user namespace that does not map the host's root: the container runs as that namespace's root${mapsOtherIds[1]}`, () => {
    const first = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(userNsConfig(['sleep', '1000'])), first]).status).toBe(0);
    const pid = sb.state(first).pid;
    const config = sb.config(['sh', '-c', 'id -u; touch /tmp/joined && stat -c %u /tmp/joined; cat /proc/self/uid_map']);
    config.linux.namespaces.push({ type: 'user', path: `/proc/${pid}/ns/user` });
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '))).toEqual(['0', '0', '0 100000 65536']);
  });

  it('a namespace path of the wrong type or a missing one is refused, naming both', () => {
    const first = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(sb.config(['sleep', '1000'])), first]).status).toBe(0);
    const pid = sb.state(first).pid;
    const wrong = sb.config(['true']);
    wrong.linux.namespaces = wrong.linux.namespaces.map((ns: { type: string }) => (ns.type === 'network' ? { type: 'network', path: `/proc/${pid}/ns/uts` } : ns));
    const id = sb.newId();
    const r = sb.tsrun(['create', '-b', sb.bundle(wrong), id]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(new RegExp(`^config\\.json: /linux/namespaces/\\d+/path "/proc/${pid}/ns/uts" is a uts namespace, not a network namespace$`));
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);

    const missing = sb.config(['true']);
    missing.linux.namespaces = missing.linux.namespaces.map((ns: { type: string }) => (ns.type === 'ipc' ? { type: 'ipc', path: '/nonexistent/ns' } : ns));
    const m = sb.tsrun(['create', '-b', sb.bundle(missing), sb.newId()]);
    expect(m.status).toBe(1);
    expect(m.stderr).toMatch(/\/linux\/namespaces\/\d+\/path "\/nonexistent\/ns": ENOENT/);
  });

  it('a new time namespace gets linux.timeOffsets', () => {
    const config = sb.config(['sh', '-c', 'cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime']);
    config.linux.namespaces.push({ type: 'time' });
    config.linux.timeOffsets = { monotonic: { secs: 86400, nanosecs: 0 }, boottime: { secs: 1000000, nanosecs: 5 } };
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
    expect(lines).toContain('monotonic 86400 0');
    expect(lines).toContain('boottime 1000000 5');
    expect(Number(lines.at(-1))).toBeGreaterThanOrEqual(1000000);
  });

  it('cgroup and time namespaces are new when asked for', () => {
    const config = sb.config(['sh', '-c', 'readlink /proc/self/ns/cgroup; readlink /proc/self/ns/time']);
    config.linux.namespaces.push({ type: 'cgroup' }, { type: 'time' });
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    const [cgroup, time] = r.stdout.trim().split('\n');
    expect(cgroup).not.toBe(fs.readlinkSync('/proc/self/ns/cgroup'));
    expect(time).not.toBe(fs.readlinkSync('/proc/self/ns/time'));
  });
});
