import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectHostSecurity } from '../../src/container/security-modules';
import { integrationSkipReason, Sandbox } from '../helpers/tsrun';

const host = detectHostSecurity();

describe.skipIf(integrationSkipReason !== undefined)(`AppArmor and SELinux fields${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox('tsrun-lsm');
  });
  afterEach(() => {
    sb.cleanup();
  });

  it.skipIf(host.apparmor)('an AppArmor profile on a host without AppArmor is refused (skipped: this host has AppArmor)', () => {
    const config = sb.config(['true']);
    config.process.apparmorProfile = 'tsrun-test';
    const id = sb.newId();
    const r = sb.tsrun(['create', '-b', sb.bundle(config), id]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('config.json: /process/apparmorProfile "tsrun-test": AppArmor is not enabled on this host');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it.skipIf(host.apparmor)('exec --apparmor on a host without AppArmor is refused before anything runs (skipped: this host has AppArmor)', () => {
    const id = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(sb.config(['sleep', '1000'])), id]).status).toBe(0);
    const r = sb.tsrun(['exec', '--apparmor', 'tsrun-test', id, 'touch', '/tmp/exec-ran']);
    expect(r.status).toBe(255); // exec's failures exit 255, as runc's do
    expect(r.stderr.trim()).toBe('--apparmor "tsrun-test": AppArmor is not enabled on this host');
    expect(sb.tsrun(['exec', id, 'ls', '/tmp']).stdout).not.toContain('exec-ran');
  });

  it.skipIf(host.selinux)('SELinux labels on a host without SELinux are ignored with a warning in the log (skipped: this host has SELinux)', () => {
    const config = sb.config(['echo', 'ran']);
    config.process.selinuxLabel = 'system_u:system_r:container_t:s0';
    config.linux.mountLabel = 'system_u:object_r:container_file_t:s0';
    const log = path.join(sb.dir, 'log.json');
    const r = sb.tsrun(['--log', log, '--log-format', 'json', 'run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ran\n');
    const entries = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(entries.map((e) => [e.level, e.msg])).toEqual([
      ['warning', 'config.json: /process/selinuxLabel ignored: SELinux is not enabled on this host'],
      ['warning', 'config.json: /linux/mountLabel ignored: SELinux is not enabled on this host'],
    ]);
  });

  it.skipIf(host.resctrl)('linux.intelRdt on a host without resctrl is refused (skipped: this host has resctrl)', () => {
    const config = sb.config(['true']);
    config.linux.intelRdt = { closID: 'tsrun-test', l3CacheSchema: 'L3:0=ff' };
    const id = sb.newId();
    const r = sb.tsrun(['create', '-b', sb.bundle(config), id]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('config.json: /linux/intelRdt: Intel RDT is not available on this host (no resctrl file system mounted at /sys/fs/resctrl)');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });
});

