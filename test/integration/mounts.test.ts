import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SHARED_ROOTFS, Sandbox, integrationSkipReason, needsPrivilege, rootlessRun } from '../helpers/tsrun';

describe.skipIf(integrationSkipReason !== undefined)(`mounts${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox('tsrun-mounts');
  });
  afterEach(() => {
    sb.cleanup();
  });

  const probe = (p: string, name: string) => `touch ${p} 2>/dev/null && echo ${name}=rw || echo ${name}=ro`;

  it('rro makes a bind mount and every mount under it read-only; plain ro only the top one', () => {
    // Mounts are made in the container's mount namespace before pivot_root, so a bind source may name a tree
    // built by earlier entries: a tmpfs at /tmp/t with a tmpfs submount at /tmp/t/sub.
    const tree = `${SHARED_ROOTFS}/tmp/t`;
    const config = sb.config(['sh', '-c', [probe('/tmp/r/sub/x', 'rro-sub'), probe('/tmp/r/y', 'rro-top'), probe('/tmp/p/sub/x', 'ro-sub'), probe('/tmp/p/y', 'ro-top')].join('; ')]);
    config.mounts.push(
      { destination: '/tmp/t', type: 'tmpfs', source: 'tmpfs', options: ['mode=777'] },
      { destination: '/tmp/t/sub', type: 'tmpfs', source: 'tmpfs', options: ['mode=777'] },
      { destination: '/tmp/r', type: 'bind', source: tree, options: ['rbind', 'rro'] },
      { destination: '/tmp/p', type: 'bind', source: tree, options: ['rbind', 'ro'] },
    );
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['rro-sub=ro', 'rro-top=ro', 'ro-sub=rw', 'ro-top=ro']);
  });

  it('recursive options show in mountinfo of the submounts (rnosuid, rnodev, rnoexec, rnoatime)', () => {
    const tree = `${SHARED_ROOTFS}/tmp/t`;
    const config = sb.config(['sh', '-c', 'grep " /tmp/r/sub " /proc/self/mountinfo | cut -d" " -f6']);
    config.mounts.push(
      { destination: '/tmp/t', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/tmp/t/sub', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/tmp/r', type: 'bind', source: tree, options: ['rbind', 'rnosuid', 'rnodev', 'rnoexec', 'rnoatime'] },
    );
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split(',').sort()).toEqual(['noatime', 'nodev', 'noexec', 'nosuid', 'rw'].sort());
  });

  it('tmpcopyup fills the new tmpfs with what the directory held (runc extension)', () => {
    const config = sb.config(['sh', '-c', 'head -1 /etc/passwd; stat -c "%a %u" /etc/passwd; touch /etc/new && echo writable; grep " /etc " /proc/self/mountinfo | cut -d" " -f9']);
    config.mounts.push({ destination: '/etc', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup', 'mode=755'] });
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['root:x:0:0:root:/root:/bin/sh', '644 0', 'writable', 'tmpfs']);
  });

  it.skipIf(needsPrivilege('idmapping to other host IDs needs privilege')[0])(`an idmapped bind mount shows files through the mount's maps${needsPrivilege('idmapping to other host IDs needs privilege')[1]}`, () => {
    const source = path.join(sb.dir, 'idmapped');
    fs.mkdirSync(source);
    fs.writeFileSync(path.join(source, 'f'), 'x');
    fs.chownSync(path.join(source, 'f'), 0, 0);
    const config = sb.config(['stat', '-c', '%u:%g', '/mnt/f']);
    config.mounts.push({
      destination: '/mnt', type: 'bind', source, options: ['bind', 'idmap'],
      uidMappings: [{ containerID: 0, hostID: 1000, size: 10 }], gidMappings: [{ containerID: 0, hostID: 2000, size: 10 }],
    });
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('1000:2000');
  });

  it.skipIf(needsPrivilege('the test sets up a user namespace with other host IDs')[0])(`idmap without maps of its own uses the container's user namespace: its root owns the files${needsPrivilege('the test sets up a user namespace with other host IDs')[1]}`, () => {
    fs.chmodSync(sb.dir, 0o755); // the init runs as host uid 100000 and must reach the source
    const source = path.join(sb.dir, 'shared');
    fs.mkdirSync(source, { mode: 0o755 });
    fs.writeFileSync(path.join(source, 'f'), 'x');
    const config = sb.config(['sh', '-c', 'stat -c %u:%g /tmp/plain/f /tmp/mapped/f']);
    config.linux.namespaces.push({ type: 'user' });
    config.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    config.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    config.mounts.push(
      { destination: '/tmp/plain', type: 'bind', source, options: ['bind'] },
      { destination: '/tmp/mapped', type: 'bind', source, options: ['bind', 'idmap'] },
    );
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['65534:65534', '0:0']);
  });

  it('an unknown mount type fails create naming the config entry, and nothing is left', () => {
    const config = sb.config(['true']);
    config.mounts.push({ destination: '/tmp/x', type: 'nosuchfs', source: 'none' });
    const id = sb.newId();
    const r = sb.tsrun(['create', '-b', sb.bundle(config), id]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('mount (config.json /mounts/7: nosuchfs "none" on /tmp/x): ENODEV (No such device)');
    expect(sb.tsrun(['state', id]).stderr).toContain('does not exist');
  });

  it.each([
    ['with a cgroup namespace', [{ type: 'cgroup' }]],
    ['without a cgroup namespace', []],
    // The rootless pass runs every case in a user namespace already.
    ...(rootlessRun ? [] : [['in a user namespace', [{ type: 'cgroup' }, { type: 'user' }]]]),
  ] as Array<[string, Array<{ type: string }>]>)('a cgroup mount shows every host hierarchy, read-only (%s)', (_name, extra) => {
    const config = sb.config(['sh', '-c', 'ls /sys/fs/cgroup | tr "\\n" " "; echo; ls /sys/fs/cgroup/memory/cgroup.procs; touch /sys/fs/cgroup/memory/x 2>/dev/null && echo rw || echo ro']);
    config.mounts.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
    config.linux.namespaces.push(...extra);
    if (extra.some((ns) => ns.type === 'user')) {
      config.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      config.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    }
    const hostHierarchies = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      .filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]!).filter((p) => p.startsWith('/sys/fs/cgroup/')).map((p) => p.slice('/sys/fs/cgroup/'.length)).sort();
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    const [list, procs, probe] = r.stdout.trim().split('\n');
    if (hostHierarchies.length > 0) expect(list!.trim().split(' ').filter((e) => hostHierarchies.includes(e)).sort()).toEqual(hostHierarchies);
    expect(procs).toBe('/sys/fs/cgroup/memory/cgroup.procs');
    expect(probe).toBe('ro');
  });
});

