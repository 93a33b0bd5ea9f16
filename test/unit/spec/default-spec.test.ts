import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultSpec, specToJson, writeDefaultSpec } from '../../../src/spec/default-spec';
import type { Spec } from '../../../src/spec/types';
import { errorOf } from '../../helpers/errors';

const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

// What runc v1.2's `runc spec` writes (hostname aside), keys in the order Go's encoder emits them.
const RUNC_SPEC = {
  ociVersion: '1.2.1',
  process: {
    terminal: true,
    user: { uid: 0, gid: 0 },
    args: ['sh'],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
    cwd: '/',
    capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS },
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
    noNewPrivileges: true,
  },
  root: { path: 'rootfs', readonly: true },
  hostname: 'tsrun',
  mounts: [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ],
  linux: {
    resources: { devices: [{ allow: false, access: 'rwm' }] },
    namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }],
    maskedPaths: [
      '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
      '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
    ],
    readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
  },
};

describe('defaultSpec', () => {
  it('has runc’s content, in runc’s key order', () => {
    expect(JSON.stringify(defaultSpec({ rootless: false }))).toBe(JSON.stringify(RUNC_SPEC));
  });

  it('leaves the cgroup namespace out when asked (runc does on cgroup v1 hosts)', () => {
    const spec = defaultSpec({ rootless: false, cgroupNamespace: false });
    expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount']);
  });

  it('returns a fresh object each time (callers may edit it)', () => {
    const a = defaultSpec({ rootless: false });
    a.process?.capabilities?.bounding?.push('CAP_SYS_ADMIN');
    a.mounts?.[1]?.options?.push('x');
    const b = defaultSpec({ rootless: false });
    expect(b).toEqual(RUNC_SPEC);
    expect(b.process?.capabilities?.effective).toEqual(CAPS);
  });

  it('sets no ambient or inheritable capabilities (runc ≥ 1.2 dropped them)', () => {
    const caps = defaultSpec({ rootless: false }).process?.capabilities;
    expect(caps?.ambient).toBeUndefined();
    expect(caps?.inheritable).toBeUndefined();
  });

  describe('rootless', () => {
    const spec = defaultSpec({ rootless: true, uid: 1000, gid: 1001 });

    it('maps container root to the given uid and gid, mappings first', () => {
      expect(spec.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 1000, size: 1 }]);
      expect(spec.linux?.gidMappings).toEqual([{ containerID: 0, hostID: 1001, size: 1 }]);
      expect(Object.keys(spec.linux ?? {})).toEqual(['uidMappings', 'gidMappings', 'namespaces', 'maskedPaths', 'readonlyPaths']);
    });

    it('has a user namespace and no network namespace', () => {
      expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'cgroup', 'user']);
    });

    it('has no cgroup resources', () => {
      expect(spec.linux?.resources).toBeUndefined();
    });

    it('binds the host’s /sys instead of mounting sysfs, in place', () => {
      expect(spec.mounts?.[5]).toEqual({
        destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
      });
      expect(spec.mounts?.filter((m) => m.type === 'sysfs')).toEqual([]);
    });

    it('drops uid=/gid= options and keeps everything else (the cgroup mount too, as runc)', () => {
      expect(spec.mounts?.[2]?.options).toEqual(['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620']);
      expect(spec.mounts?.map((m) => m.destination)).toEqual(RUNC_SPEC.mounts.map((m) => m.destination));
      expect(spec.mounts?.[0]).toEqual({ destination: '/proc', type: 'proc', source: 'proc' });
      expect(spec.mounts?.every((m) => !(m.options ?? []).some((o) => /^[ug]id=/.test(o)))).toBe(true);
    });

    it('keeps the rest of the rootful spec', () => {
      expect(spec.process).toEqual(RUNC_SPEC.process);
      expect(spec.root).toEqual(RUNC_SPEC.root);
      expect(spec.linux?.maskedPaths).toEqual(RUNC_SPEC.linux.maskedPaths);
      expect(spec.linux?.readonlyPaths).toEqual(RUNC_SPEC.linux.readonlyPaths);
    });

    it('maps uid 0 too (root asking for a rootless spec)', () => {
      expect(defaultSpec({ rootless: true, uid: 0, gid: 0 }).linux?.uidMappings).toEqual([{ containerID: 0, hostID: 0, size: 1 }]);
    });

    it.each([
      [{ rootless: true }],
      [{ rootless: true, uid: 1000 }],
      [{ rootless: true, gid: 1000 }],
      [{ rootless: true, uid: -1, gid: 0 }],
      [{ rootless: true, uid: 1.5, gid: 0 }],
      [{ rootless: true, uid: 0, gid: 4294967295 }],
    ])('needs a valid uid and gid: %j', (options) => {
      expect(errorOf(() => defaultSpec(options)).code).toBe('invalid-argument');
    });
  });
});

describe('writeDefaultSpec', () => {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-spec-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes tab-indented JSON without a trailing newline, mode 0666 minus the umask', () => {
    const spec = defaultSpec({ rootless: false });
    writeDefaultSpec(dir, spec);
    const file = path.join(dir, 'config.json');
    const text = fs.readFileSync(file, 'utf8');
    expect(text.startsWith('{\n\t"ociVersion": "1.2.1",\n\t"process": {\n\t\t"terminal": true,')).toBe(true);
    expect(text.endsWith('}')).toBe(true);
    expect(JSON.parse(text)).toEqual(spec);
    const umask = process.umask();
    expect(fs.statSync(file).mode & 0o777).toBe(0o666 & ~umask);
  });

  it('refuses to overwrite an existing config.json, leaving it untouched', () => {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, 'mine');
    const error = errorOf(() => writeDefaultSpec(dir, defaultSpec({ rootless: false })));
    expect(error.message).toBe(`File ${file} exists. Remove it first.`);
    expect(error.code).toBe('exists');
    expect(fs.readFileSync(file, 'utf8')).toBe('mine');
  });

  it('does not write through a dangling symlink named config.json', () => {
    const target = path.join(dir, 'elsewhere.json');
    fs.symlinkSync(target, path.join(dir, 'config.json'));
    expect(errorOf(() => writeDefaultSpec(dir, defaultSpec({ rootless: false }))).code).toBe('exists');
    expect(fs.existsSync(target)).toBe(false);
  });

  it('reports a missing bundle directory with the path and errno', () => {
    const missing = path.join(dir, 'nope');
    const error = errorOf(() => writeDefaultSpec(missing, defaultSpec({ rootless: false })));
    expect(error.message).toContain(path.join(missing, 'config.json'));
    expect(error.message).toContain('ENOENT');
  });

  it('writes 64-bit values exactly', () => {
    const spec: Spec = { ...defaultSpec({ rootless: false }) };
    spec.process = { user: { uid: 0, gid: 0 }, cwd: '/', rlimits: [{ type: 'RLIMIT_NOFILE', hard: 2n ** 64n - 1n, soft: 5n }] };
    writeDefaultSpec(dir, spec);
    const text = fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
    expect(text).toContain('"hard": 18446744073709551615');
    expect(text).toContain('"soft": 5');
    expect(specToJson(spec)).toBe(text);
  });
});
