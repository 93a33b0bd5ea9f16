import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOTLESS_USER, Sandbox, integrationSkipReason, needsPrivilege, rootlessRun } from '../helpers/tsrun';

/** One config.json field per test, each asserted from inside the container, plus the failure path where there is one. */
describe.skipIf(integrationSkipReason !== undefined)(`config.json fields${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox('tsrun-fields');
  });
  afterEach(() => {
    sb.cleanup();
  });

  function run(edit: (config: ReturnType<Sandbox['config']>) => void, script: string) {
    const config = sb.config(['sh', '-c', script]);
    edit(config);
    return sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
  }

  it('linux.sysctl is written in the container\'s namespaces', () => {
    const r = run((c) => {
      c.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.msgmax': '4096' };
      c.linux.readonlyPaths = c.linux.readonlyPaths.filter((p: string) => p !== '/proc/sys');
    }, 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1\n4096\n');
    expect(fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8').trim()).not.toBe('4096');
  });

  it('a sysctl the kernel does not have fails create naming it', () => {
    const r = run((c) => {
      c.linux.sysctl = { 'net.ipv4.no_such_setting': '1' };
    }, 'true');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^linux\.sysctl net\.ipv4\.no_such_setting="1": write \/proc\/sys\/net\/ipv4\/no_such_setting: ENOENT$/);
  });

  it('hostname and domainname', () => {
    const r = run((c) => {
      c.hostname = 'box';
      c.domainname = 'example.test';
    }, 'hostname; cat /proc/sys/kernel/domainname');
    expect(r.stdout).toBe('box\nexample.test\n');
  });

  it('oomScoreAdj and umask', () => {
    const r = run((c) => {
      c.process.oomScoreAdj = 321;
      c.process.user.umask = 0o027;
    }, 'cat /proc/self/oom_score_adj; umask');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('321\n0027\n');
  });

  it.skipIf(needsPrivilege('only the uid of the caller exists in a rootless container')[0])(`ambient and inheritable capabilities survive into a non-root process${needsPrivilege('only the uid of the caller exists in a rootless container')[1]}`, () => {
    const r = run((c) => {
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.noNewPrivileges = false;
      const caps = ['CAP_NET_BIND_SERVICE', 'CAP_KILL'];
      c.process.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: caps, ambient: ['CAP_NET_BIND_SERVICE'] };
    }, 'grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb)" /proc/self/status');
    expect(r.stderr).toBe('');
    // NET_BIND_SERVICE = bit 10 (0x400), KILL = bit 5 (0x20); a non-root exec keeps only the ambient set.
    expect(r.stdout).toMatch(/CapInh:\s+0000000000000420/);
    expect(r.stdout).toMatch(/CapPrm:\s+0000000000000400/);
    expect(r.stdout).toMatch(/CapEff:\s+0000000000000400/);
    expect(r.stdout).toMatch(/CapBnd:\s+0000000000000420/);
    expect(r.stdout).toMatch(/CapAmb:\s+0000000000000400/);
  });

  it('an unknown capability name fails create naming it', () => {
    const r = run((c) => {
      c.process.capabilities.bounding.push('CAP_FLY');
    }, 'true');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('config.json: /process/capabilities/bounding/3 must be a Linux capability name (e.g. CAP_KILL), got "CAP_FLY"');
  });

  it.skipIf(needsPrivilege('in a user namespace device nodes are bind-mounted from the host, not made')[0])(`linux.devices get their type, numbers, mode and owner${needsPrivilege('in a user namespace device nodes are bind-mounted from the host, not made')[1]}`, () => {
    const r = run((c) => {
      c.linux.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o640, uid: 7, gid: 8 }];
    }, 'stat -c "%F %t:%T %a %u:%g" /dev/fuse');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('character special file a:e5 640 7:8');
  });

  it('rlimits of several kinds', () => {
    const r = run((c) => {
      c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 }, { type: 'RLIMIT_NPROC', soft: 77, hard: 77 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }];
    }, 'ulimit -n; ulimit -Hn; ulimit -u; ulimit -c');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('512\n1024\n77\n0\n');
  });

  it('rootfsPropagation shared makes / a shared mount inside', () => {
    const r = run((c) => {
      c.linux.rootfsPropagation = 'shared';
    }, 'awk \'$5 == "/"\' /proc/self/mountinfo | grep -c shared:');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('1');
  });

  it('an overlay mount with lower, upper and work directories from the host', () => {
    const lower = path.join(sb.dir, 'lower');
    const upper = path.join(sb.dir, 'upper');
    const work = path.join(sb.dir, 'work');
    for (const d of [lower, upper, work]) {
      fs.mkdirSync(d);
      if (rootlessRun) fs.chownSync(d, ROOTLESS_USER.uid, ROOTLESS_USER.gid);
    }
    fs.writeFileSync(path.join(lower, 'from-lower'), 'lower\n');
    const r = run((c) => {
      c.mounts.push({ destination: '/tmp/ov', type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`] });
    }, 'cat /tmp/ov/from-lower; echo new > /tmp/ov/written');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('lower\n');
    expect(fs.readFileSync(path.join(upper, 'written'), 'utf8')).toBe('new\n');
  });

  it('a device outside /dev and a relative mount destination are refused by the config check', () => {
    const device = run((c) => {
      c.linux.devices = [{ path: '/tmp/dev', type: 'c', major: 1, minor: 3 }];
    }, 'true');
    expect(device.status).toBe(1);
    expect(device.stderr).toMatch(/^config\.json: \/linux\/devices\/0\/path /);
    const mount = run((c) => {
      c.mounts.push({ destination: 'relative', type: 'tmpfs', source: 'tmpfs' });
    }, 'true');
    expect(mount.status).toBe(1);
    expect(mount.stderr).toMatch(/^config\.json: \/mounts\/7\/destination /);
  });
});
