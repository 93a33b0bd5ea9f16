// buildPlan: config.json → the plan the forked children execute. Pure: no file system, no system calls.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, NotSupportedError } from '../../../src/errors';
import { CloneFlags, MountFlags } from '../../../src/linux/constants';
import { buildPlan, DEFAULT_DEVICES, type ContainerPlan } from '../../../src/spec/plan';
import type { NamespaceType, Spec } from '../../../src/spec/types';
import { errorOf } from '../../helpers/errors';

const BUNDLE = '/srv/bundles/c1';
const FIXTURE = fileURLToPath(new URL('../../../fixtures/busybox/config.json', import.meta.url));

/** The smallest config buildPlan accepts: a rootfs, a process and a mount namespace. */
function base(): Spec {
  return {
    ociVersion: '1.2.1',
    root: { path: 'rootfs' },
    process: { cwd: '/', args: ['sh'], user: { uid: 0, gid: 0 } },
    linux: { namespaces: [{ type: 'mount' }] },
  };
}

function fixture(): Spec {
  return JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Spec;
}

/** base() with changes applied by `edit` (which may mutate freely). */
function spec(edit: (s: Spec & { linux: NonNullable<Spec['linux']>; process: NonNullable<Spec['process']> }) => void): Spec {
  const s = base() as Spec & { linux: NonNullable<Spec['linux']>; process: NonNullable<Spec['process']> };
  edit(s);
  return s;
}

function plan(s: Spec, noPivot = false): ContainerPlan {
  return buildPlan(s, { id: 'c1', bundle: BUNDLE, noPivot });
}

describe('buildPlan: the fixture config', () => {
  it('plans the busybox bundle completely', () => {
    const p = plan(fixture());
    expect(p.id).toBe('c1');
    expect(p.bundle).toBe(BUNDLE);
    expect(p.rootfs).toBe(`${BUNDLE}/rootfs`);
    expect(p.readonlyRoot).toBe(true);
    expect(p.noPivot).toBe(false);
    expect(p.namespaces).toEqual(['pid', 'network', 'ipc', 'uts', 'mount']);
    expect(p.newNamespaceFlags).toBe(CloneFlags.NEWPID | CloneFlags.NEWNET | CloneFlags.NEWIPC | CloneFlags.NEWUTS | CloneFlags.NEWNS);
    expect(p.joinNamespaces).toEqual([]);
    expect(p.userNamespace).toBeUndefined();
    expect(p.inUserNamespace).toBe(false);
    expect(p.timeOffsets).toEqual([]);
    expect(p.rootPropagation).toBe(MountFlags.SLAVE | MountFlags.REC);
    expect(p.setupDev).toBe(true);
    expect(p.devices).toEqual([]);
    expect(p.hostname).toBe('tsrun');
    expect(p.domainname).toBeUndefined();
    expect(p.sysctl).toEqual([]);
    expect(p.maskedPaths).toContain('/proc/kcore');
    expect(p.readonlyPaths).toEqual(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
    expect(p.mounts.map((m) => [m.destination, m.type, m.source])).toEqual([
      ['/proc', 'proc', 'proc'],
      ['/dev', 'tmpfs', 'tmpfs'],
      ['/dev/pts', 'devpts', 'devpts'],
      ['/dev/shm', 'tmpfs', 'shm'],
      ['/dev/mqueue', 'mqueue', 'mqueue'],
      ['/sys', 'sysfs', 'sysfs'],
      ['/tmp', 'tmpfs', 'tmpfs'],
    ]);
    expect(p.mounts[1]).toEqual({
      destination: '/dev',
      source: 'tmpfs',
      type: 'tmpfs',
      bind: false,
      recursiveBind: false,
      flags: MountFlags.NOSUID | MountFlags.STRICTATIME,
      clearedFlags: 0,
      propagation: [],
      data: 'mode=755,size=65536k',
      recursive: { set: 0, clear: 0 },
      copyUp: false,
    });
    expect(p.mounts[5]!.flags).toBe(MountFlags.NOSUID | MountFlags.NOEXEC | MountFlags.NODEV | MountFlags.RDONLY);
    const bit = (n: number) => 1n << BigInt(n);
    const caps = bit(29) | bit(5) | bit(10); // AUDIT_WRITE, KILL, NET_BIND_SERVICE
    expect(p.process).toEqual({
      args: ['sh', '-c', 'echo hello from a tsrun container: $(hostname), pid $$'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'],
      cwd: '/',
      uid: 0,
      gid: 0,
      additionalGids: [],
      umask: undefined,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: 0n, ambient: 0n },
      rlimits: [{ resource: 7, soft: 1024n, hard: 1024n }],
      noNewPrivileges: true,
      oomScoreAdj: undefined,
      terminal: false,
    });
  });

  it('passes noPivot and the id through', () => {
    const p = buildPlan(base(), { id: 'other', bundle: '/b', noPivot: true });
    expect(p.noPivot).toBe(true);
    expect(p.id).toBe('other');
    expect(p.bundle).toBe('/b');
  });

  it('does not modify the spec it is given', () => {
    const s = fixture();
    const before = JSON.stringify(s);
    plan(s);
    expect(JSON.stringify(s)).toBe(before);
  });
});

describe('buildPlan: namespaces', () => {
  const FLAGS: Array<[NamespaceType, number]> = [
    ['pid', CloneFlags.NEWPID],
    ['network', CloneFlags.NEWNET],
    ['ipc', CloneFlags.NEWIPC],
    ['uts', CloneFlags.NEWUTS],
    ['cgroup', CloneFlags.NEWCGROUP],
    ['time', CloneFlags.NEWTIME],
  ];

  it('gives a mount namespace alone CLONE_NEWNS', () => {
    const p = plan(base());
    expect(p.newNamespaceFlags).toBe(CloneFlags.NEWNS);
    expect(p.newNamespaceFlags).toBe(0x00020000);
    expect(p.namespaces).toEqual(['mount']);
  });

  it.each(FLAGS)('maps %s to its CLONE_NEW* flag', (type, flag) => {
    const p = plan(spec((s) => {
      s.linux.namespaces = [{ type }, { type: 'mount' }];
    }));
    expect(p.newNamespaceFlags).toBe(flag | CloneFlags.NEWNS);
    expect(p.namespaces).toEqual([type, 'mount']);
  });

  it('uses the kernel values of the flags', () => {
    expect(Object.fromEntries(FLAGS)).toEqual({
      pid: 0x20000000,
      network: 0x40000000,
      ipc: 0x08000000,
      uts: 0x04000000,
      cgroup: 0x02000000,
      time: 0x00000080,
    });
  });

  it('ors every namespace together', () => {
    const p = plan(spec((s) => {
      s.linux.namespaces = [...FLAGS.map(([type]) => ({ type })), { type: 'mount' }];
    }));
    expect(p.newNamespaceFlags).toBe(FLAGS.reduce<number>((acc, [, flag]) => acc | flag, CloneFlags.NEWNS));
    expect(p.newNamespaceFlags).toBe(0x6e020080);
  });

  it('refuses a container without a mount namespace', () => {
    const e = errorOf(() => plan(spec((s) => {
      s.linux.namespaces = [{ type: 'pid' }, { type: 'uts' }];
    })));
    expect(e).toBeInstanceOf(NotSupportedError);
    expect(e.code).toBe('not-supported');
    expect(e.message).toBe('config.json: not supported yet: /linux/namespaces (a container without a mount namespace entry)');
  });

  it('refuses a config without linux or without namespaces the same way', () => {
    const msg = 'config.json: not supported yet: /linux/namespaces (a container without a mount namespace entry)';
    expect(errorOf(() => plan(spec((s) => {
      delete (s as Partial<Spec>).linux;
    }))).message).toBe(msg);
    expect(errorOf(() => plan(spec((s) => {
      s.linux.namespaces = [];
    }))).message).toBe(msg);
  });

  it('accepts an empty namespace path as "new namespace"', () => {
    const p = plan(spec((s) => {
      s.linux.namespaces = [{ type: 'mount', path: '' }, { type: 'pid', path: '' }];
    }));
    expect(p.newNamespaceFlags).toBe(CloneFlags.NEWNS | CloneFlags.NEWPID);
    expect(p.joinNamespaces).toEqual([]);
  });
});

describe('buildPlan: joined namespaces', () => {
  it('joins a namespace with a path instead of creating it, keeping its pointer', () => {
    const p = plan(spec((s) => {
      s.linux.namespaces = [{ type: 'mount' }, { type: 'pid' }, { type: 'network', path: '/var/run/netns/x' }];
    }));
    expect(p.joinNamespaces).toEqual([{ type: 'network', path: '/var/run/netns/x', pointer: '/linux/namespaces/2' }]);
    expect(p.newNamespaceFlags).toBe(CloneFlags.NEWNS | CloneFlags.NEWPID);
    expect(p.namespaces).toEqual(['mount', 'pid', 'network']);
    expect(p.inUserNamespace).toBe(false);
    expect(p.userNamespace).toBeUndefined();
  });

  it('keeps the joins in config order (stage 1 orders them)', () => {
    const p = plan(spec((s) => {
      s.linux.namespaces = [
        { type: 'mount', path: '/proc/1/ns/mnt' },
        { type: 'uts', path: '/proc/1/ns/uts' },
        { type: 'pid' },
        { type: 'user', path: '/proc/1/ns/user' },
        { type: 'ipc', path: '/proc/1/ns/ipc' },
      ];
    }));
    expect(p.joinNamespaces).toEqual([
      { type: 'mount', path: '/proc/1/ns/mnt', pointer: '/linux/namespaces/0' },
      { type: 'uts', path: '/proc/1/ns/uts', pointer: '/linux/namespaces/1' },
      { type: 'user', path: '/proc/1/ns/user', pointer: '/linux/namespaces/3' },
      { type: 'ipc', path: '/proc/1/ns/ipc', pointer: '/linux/namespaces/4' },
    ]);
    expect(p.newNamespaceFlags).toBe(CloneFlags.NEWPID);
    expect(p.namespaces).toEqual(['mount', 'uts', 'pid', 'user', 'ipc']);
  });

  it('accepts a joined mount namespace as the mount namespace entry', () => {
    const p = plan(spec((s) => {
      s.linux.namespaces = [{ type: 'mount', path: '/proc/1/ns/mnt' }];
    }));
    expect(p.newNamespaceFlags).toBe(0);
    expect(p.joinNamespaces).toEqual([{ type: 'mount', path: '/proc/1/ns/mnt', pointer: '/linux/namespaces/0' }]);
  });

  it('joins a user namespace with a path: in a user namespace, but no maps to write', () => {
    const p = plan(spec((s) => {
      s.linux.namespaces = [{ type: 'user', path: '/proc/1/ns/user' }, { type: 'mount' }];
    }));
    expect(p.joinNamespaces).toEqual([{ type: 'user', path: '/proc/1/ns/user', pointer: '/linux/namespaces/0' }]);
    expect(p.userNamespace).toBeUndefined();
    expect(p.inUserNamespace).toBe(true);
    expect(p.newNamespaceFlags).toBe(CloneFlags.NEWNS);
  });
});

describe('buildPlan: user namespaces', () => {
  const UID_MAPS = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const GID_MAPS = [{ containerID: 0, hostID: 200000, size: 1 }, { containerID: 1, hostID: 300000, size: 100 }];

  it('plans a new user namespace with its maps, never as a CLONE_NEW* flag of the unshare', () => {
    const p = plan(spec((s) => {
      s.linux.namespaces = [{ type: 'mount' }, { type: 'user' }];
      s.linux.uidMappings = UID_MAPS;
      s.linux.gidMappings = GID_MAPS;
    }));
    expect(p.userNamespace).toEqual({ uidMappings: UID_MAPS, gidMappings: GID_MAPS });
    expect(p.inUserNamespace).toBe(true);
    expect(p.newNamespaceFlags).toBe(CloneFlags.NEWNS);
    expect(p.newNamespaceFlags & CloneFlags.NEWUSER).toBe(0);
    expect(p.namespaces).toEqual(['mount', 'user']);
    expect(p.joinNamespaces).toEqual([]);
  });

  it('treats an empty path as a new user namespace', () => {
    const p = plan(spec((s) => {
      s.linux.namespaces = [{ type: 'user', path: '' }, { type: 'mount' }];
      s.linux.uidMappings = UID_MAPS;
      s.linux.gidMappings = UID_MAPS;
    }));
    expect(p.userNamespace).toEqual({ uidMappings: UID_MAPS, gidMappings: UID_MAPS });
    expect(p.joinNamespaces).toEqual([]);
  });

  it('defaults missing maps to empty lists', () => {
    const p = plan(spec((s) => {
      s.linux.namespaces = [{ type: 'mount' }, { type: 'user' }];
    }));
    expect(p.userNamespace).toEqual({ uidMappings: [], gidMappings: [] });
  });

  it('has no user namespace without a user entry', () => {
    const p = plan(base());
    expect(p.userNamespace).toBeUndefined();
    expect(p.inUserNamespace).toBe(false);
  });
});

describe('buildPlan: timeOffsets', () => {
  function offsetsOf(timeOffsets: NonNullable<NonNullable<Spec['linux']>['timeOffsets']>) {
    return plan(spec((s) => {
      s.linux.namespaces = [{ type: 'mount' }, { type: 'time' }];
      s.linux.timeOffsets = timeOffsets;
    })).timeOffsets;
  }

  it('plans both clocks in config order with bigint seconds', () => {
    expect(offsetsOf({ boottime: { secs: 10, nanosecs: 5 }, monotonic: { secs: -3, nanosecs: 999999999 } })).toEqual([
      { clock: 'boottime', secs: 10n, nanosecs: 5 },
      { clock: 'monotonic', secs: -3n, nanosecs: 999999999 },
    ]);
  });

  it('keeps seconds beyond 2^53 exact', () => {
    const [offset] = offsetsOf({ monotonic: { secs: 9007199254740993n } });
    expect(offset).toEqual({ clock: 'monotonic', secs: 9007199254740993n, nanosecs: 0 });
    expect(typeof offset!.secs).toBe('bigint');
  });

  it('defaults missing secs and nanosecs to 0', () => {
    expect(offsetsOf({ monotonic: {}, boottime: { nanosecs: 7 } })).toEqual([
      { clock: 'monotonic', secs: 0n, nanosecs: 0 },
      { clock: 'boottime', secs: 0n, nanosecs: 7 },
    ]);
  });

  it('plans no offsets for an empty object or none', () => {
    expect(offsetsOf({})).toEqual([]);
    expect(plan(base()).timeOffsets).toEqual([]);
  });

  it.each(['realtime', 'Monotonic', 'boot time', ''])('refuses the clock name %j with its pointer', (clock) => {
    const e = errorOf(() => offsetsOf({ monotonic: { secs: 1 }, [clock]: { secs: 1 } }));
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).pointer).toBe(`/linux/timeOffsets/${clock}`);
    expect(e.message).toBe(`config.json: /linux/timeOffsets/${clock} must be "monotonic" or "boottime", got ${JSON.stringify(clock)}`);
  });
});

describe('buildPlan: sysfs in a user namespace', () => {
  const SYSFS = { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] };
  const SYSFS_FLAGS = MountFlags.NOSUID | MountFlags.NOEXEC | MountFlags.NODEV | MountFlags.RDONLY;

  function sysMount(namespaces: NonNullable<NonNullable<Spec['linux']>['namespaces']>) {
    return plan(spec((s) => {
      s.linux.namespaces = namespaces;
      s.mounts = [{ destination: '/proc', type: 'proc', source: 'proc' }, SYSFS];
    })).mounts;
  }

  it('bind-mounts the host /sys recursively and read-only in a new user namespace without a new network namespace', () => {
    const mounts = sysMount([{ type: 'mount' }, { type: 'user' }]);
    expect(mounts[1]).toEqual({
      destination: '/sys',
      source: '/sys',
      type: 'bind',
      bind: true,
      recursiveBind: true,
      flags: SYSFS_FLAGS,
      clearedFlags: 0,
      propagation: [],
      data: '',
      recursive: { set: 0x1, clear: 0 }, // MOUNT_ATTR_RDONLY: read-only below the top too
      copyUp: false,
    });
    expect(mounts[0]).toMatchObject({ type: 'proc', bind: false });
  });

  it('adds nosuid, nodev and noexec to the bind even when the sysfs entry lacks them', () => {
    const mounts = plan(spec((s) => {
      s.linux.namespaces = [{ type: 'mount' }, { type: 'user' }];
      s.mounts = [{ destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['ro'] }];
    })).mounts;
    expect(mounts[0]).toMatchObject({ type: 'bind', source: '/sys', flags: SYSFS_FLAGS });
  });

  it('does the same in a joined user namespace and with a joined network namespace', () => {
    expect(sysMount([{ type: 'mount' }, { type: 'user', path: '/proc/1/ns/user' }])[1]).toMatchObject({ type: 'bind', source: '/sys', recursiveBind: true });
    expect(sysMount([{ type: 'mount' }, { type: 'user' }, { type: 'network', path: '/var/run/netns/x' }])[1]).toMatchObject({ type: 'bind', source: '/sys' });
  });

  it('mounts sysfs itself with a new network namespace', () => {
    expect(sysMount([{ type: 'mount' }, { type: 'user' }, { type: 'network' }])[1]).toMatchObject({
      type: 'sysfs', source: 'sysfs', bind: false, recursiveBind: false, flags: SYSFS_FLAGS,
    });
  });

  it('mounts sysfs itself outside a user namespace, with or without a network namespace', () => {
    expect(sysMount([{ type: 'mount' }])[1]).toMatchObject({ type: 'sysfs', source: 'sysfs', bind: false });
    expect(sysMount([{ type: 'mount' }, { type: 'network' }])[1]).toMatchObject({ type: 'sysfs', source: 'sysfs', bind: false });
  });

  it('leaves other mounts alone, and a sysfs elsewhere is rewritten too', () => {
    const mounts = plan(spec((s) => {
      s.linux.namespaces = [{ type: 'mount' }, { type: 'user' }];
      s.mounts = [
        { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] },
        { destination: '/host-sys', type: 'sysfs', source: 'sysfs' },
      ];
    })).mounts;
    expect(mounts[0]).toMatchObject({ type: 'tmpfs', source: 'tmpfs', bind: false, flags: MountFlags.NOSUID });
    expect(mounts[1]).toMatchObject({ destination: '/host-sys', type: 'bind', source: '/sys', bind: true, recursiveBind: true });
  });

  it('keeps /dev populated when sysfs becomes a bind', () => {
    expect(plan(spec((s) => {
      s.linux.namespaces = [{ type: 'mount' }, { type: 'user' }];
      s.mounts = [SYSFS];
    })).setupDev).toBe(true);
  });
});

describe('buildPlan: fields not supported yet', () => {
  const cases: Array<[string, (s: Spec & { linux: NonNullable<Spec['linux']>; process: NonNullable<Spec['process']> }) => void, string]> = [
    ['username', (s) => { s.process.user.username = 'root'; }, '/process/user/username (Windows only)'],
    ['memoryPolicy', (s) => { s.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0' }; }, '/linux/memoryPolicy'],
    ['netDevices', (s) => { s.linux.netDevices = { eth1: { name: 'eth1' } }; }, '/linux/netDevices'],
  ];

  it.each(cases)('refuses %s with its pointer', (_name, edit, rest) => {
    const e = errorOf(() => plan(spec(edit)));
    expect(e).toBeInstanceOf(NotSupportedError);
    expect(e.code).toBe('not-supported');
    expect(e.exitCode).toBe(1);
    expect(e.message).toBe(`config.json: not supported yet: ${rest}`);
  });

  it('plans an idmapped bind mount with its own maps (idmap by default, ridmap recursive)', () => {
    const maps = [{ containerID: 0, hostID: 1000, size: 1 }];
    const p = plan(spec((s) => {
      s.mounts = [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/data', type: 'bind', source: '/srv', uidMappings: maps, gidMappings: maps },
        { destination: '/tree', type: 'bind', source: '/srv', options: ['rbind', 'ridmap'], uidMappings: maps, gidMappings: maps },
      ];
    }));
    expect(p.mounts[1]!.idmap).toEqual({ uidMappings: maps, gidMappings: maps, recursive: false });
    expect(p.mounts[2]!.idmap).toEqual({ uidMappings: maps, gidMappings: maps, recursive: true });
  });

  it('idmap without maps takes the container user namespace maps, and fails without any', () => {
    const maps = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const p = plan(spec((s) => {
      s.linux.namespaces!.push({ type: 'user' });
      s.linux.uidMappings = maps;
      s.linux.gidMappings = maps;
      s.mounts = [{ destination: '/proc', type: 'proc', source: 'proc' }, { destination: '/data', type: 'bind', source: '/srv', options: ['bind', 'idmap'] }];
    }));
    expect(p.mounts[1]!.idmap).toEqual({ uidMappings: maps, gidMappings: maps, recursive: false });
    const e = errorOf(() => plan(spec((s) => {
      s.mounts = [{ destination: '/proc', type: 'proc', source: 'proc' }, { destination: '/data', type: 'bind', source: '/srv', options: ['bind', 'idmap'] }];
    })));
    expect(e.message).toBe('config.json: /mounts/1/options idmap needs uidMappings and gidMappings on the mount or a user namespace with maps');
  });

  it('refuses idmapping a mount that is not a bind mount', () => {
    const maps = [{ containerID: 0, hostID: 1000, size: 1 }];
    const e = errorOf(() => plan(spec((s) => {
      s.mounts = [{ destination: '/proc', type: 'proc', source: 'proc', uidMappings: maps, gidMappings: maps }];
    })));
    expect(e.message).toBe('config.json: /mounts/0 can only be idmapped (idmap, ridmap, uidMappings) when it is a bind mount');
  });

  it('refuses before looking at anything else (even a config without root)', () => {
    const e = errorOf(() => plan(spec((s) => {
      delete s.root;
      s.linux.netDevices = { eth1: { name: 'eth1' } };
    })));
    expect(e.message).toBe('config.json: not supported yet: /linux/netDevices');
  });

  it('accepts terminal: false', () => {
    expect(plan(spec((s) => {
      s.process.terminal = false;
    })).process.terminal).toBe(false);
  });

  it('plans a terminal with its console size, and ignores the size without a terminal', () => {
    const withTerminal = plan(spec((s) => {
      s.process.terminal = true;
      s.process.consoleSize = { height: 24, width: 80 };
    })).process;
    expect(withTerminal.terminal).toBe(true);
    expect(withTerminal.consoleSize).toEqual({ rows: 24, cols: 80 });
    expect(plan(spec((s) => {
      s.process.terminal = true;
    })).process.consoleSize).toBeUndefined();
    expect(plan(spec((s) => {
      s.process.consoleSize = { height: 24, width: 80 };
    })).process.consoleSize).toBeUndefined();
  });

  it.each<[string, (s: Spec & { linux: NonNullable<Spec['linux']>; process: NonNullable<Spec['process']> }) => void]>([
    ['hooks {}', (s) => { s.hooks = {}; }],
    ['apparmorProfile null', (s) => { (s.process as unknown as Record<string, unknown>).apparmorProfile = null; }],
    ['execCPUAffinity {}', (s) => { s.process.execCPUAffinity = {}; }],
    ['uidMappings []', (s) => { s.linux.uidMappings = []; }],
    ['gidMappings []', (s) => { s.linux.gidMappings = []; }],
    ['resources {}', (s) => { s.linux.resources = {}; }],
    ['timeOffsets {}', (s) => { s.linux.timeOffsets = {}; }],
    ['intelRdt {}', (s) => { s.linux.intelRdt = {}; }],
    ['memoryPolicy {}', (s) => { s.linux.memoryPolicy = {}; }],
    ['netDevices {}', (s) => { s.linux.netDevices = {}; }],
    ['mount uidMappings/gidMappings []', (s) => { s.mounts = [{ destination: '/proc', type: 'proc', source: 'proc', uidMappings: [], gidMappings: [] }]; }],
  ])('counts %s as absent', (_name, edit) => {
    expect(() => plan(spec(edit))).not.toThrow();
  });
});

describe('buildPlan: hooks and seccomp', () => {
  it('lists every hook kind, empty where config.json has none, in config order', () => {
    const p = plan(spec((s) => {
      s.hooks = { prestart: [{ path: '/a' }, { path: '/b', args: ['b', '1'], env: ['X=1'], timeout: 3 }], poststop: [{ path: '/c' }] };
    }));
    expect(p.hooks).toEqual({
      prestart: [{ path: '/a' }, { path: '/b', args: ['b', '1'], env: ['X=1'], timeout: 3 }],
      createRuntime: [], createContainer: [], startContainer: [], poststart: [], poststop: [{ path: '/c' }],
    });
    expect(Object.values(plan(spec(() => undefined)).hooks).every((list) => list.length === 0)).toBe(true);
  });

  it('plans linux.seccomp (its errors name the field) and leaves it undefined when absent', () => {
    expect(plan(spec(() => undefined)).seccomp).toBeUndefined();
    expect(plan(spec((s) => { s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW' }; })).seccomp).toMatchObject({ defaultAction: 0x7fff0000, rules: [] });
    const e = errorOf(() => plan(spec((s) => { s.linux.seccomp = { defaultAction: 'SCMP_ACT_NOPE' }; })));
    expect(e.message).toContain('/linux/seccomp/defaultAction');
  });
});

describe('buildPlan: scheduling, I/O priority, personality, CPU affinity', () => {
  it('plans each through src/spec/process-settings', () => {
    const p = plan(spec((s) => {
      s.process.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 0 };
      s.process.scheduler = { policy: 'SCHED_BATCH', nice: 3 };
      s.process.execCPUAffinity = { initial: '0', final: '0-1' };
      s.linux.personality = { domain: 'LINUX32' };
    })).process;
    expect(p.ioPriority).toBe(3 << 13);
    expect(p.scheduler).toMatchObject({ policy: 3, nice: 3 });
    expect(p.personality).toBe(0x0008);
    expect(p.cpuAffinity).toEqual({ initial: [1n], final: [3n] });
  });

  it('leaves them undefined when config.json has none', () => {
    const p = plan(spec(() => undefined)).process;
    expect([p.ioPriority, p.scheduler, p.personality, p.cpuAffinity]).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe('buildPlan: rootfs and root propagation', () => {
  it('resolves a relative root.path against the bundle', () => {
    expect(plan(base()).rootfs).toBe('/srv/bundles/c1/rootfs');
    expect(plan(spec((s) => {
      s.root = { path: '../shared/rootfs/' };
    })).rootfs).toBe('/srv/bundles/shared/rootfs');
  });

  it('keeps an absolute root.path', () => {
    expect(plan(spec((s) => {
      s.root = { path: '/var/lib/rootfs' };
    })).rootfs).toBe('/var/lib/rootfs');
  });

  it('takes root.readonly, false by default', () => {
    expect(plan(base()).readonlyRoot).toBe(false);
    expect(plan(spec((s) => {
      s.root = { path: 'rootfs', readonly: true };
    })).readonlyRoot).toBe(true);
  });

  it('refuses a config without root.path', () => {
    for (const edit of [(s: Spec) => delete s.root, (s: Spec) => (s.root = { path: '' })]) {
      const e = errorOf(() => plan(spec(edit)));
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.message).toBe('config.json: /root/path must name the root filesystem directory');
    }
  });

  it('defaults to rslave', () => {
    expect(plan(base()).rootPropagation).toBe(MountFlags.SLAVE | MountFlags.REC);
    expect(plan(spec((s) => {
      s.linux.rootfsPropagation = '';
    })).rootPropagation).toBe(MountFlags.SLAVE | MountFlags.REC);
  });

  it.each([
    ['private', MountFlags.PRIVATE],
    ['rprivate', MountFlags.PRIVATE],
    ['slave', MountFlags.SLAVE],
    ['rslave', MountFlags.SLAVE],
    ['shared', MountFlags.SHARED],
    ['rshared', MountFlags.SHARED],
    ['unbindable', MountFlags.UNBINDABLE],
    ['runbindable', MountFlags.UNBINDABLE],
  ])('maps rootfsPropagation %s to that propagation, recursively', (name, flag) => {
    expect(plan(spec((s) => {
      s.linux.rootfsPropagation = name;
    })).rootPropagation).toBe(flag | MountFlags.REC);
  });

  it('refuses an unknown rootfsPropagation with the list of valid ones', () => {
    const e = errorOf(() => plan(spec((s) => {
      s.linux.rootfsPropagation = 'bogus';
    })));
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).pointer).toBe('/linux/rootfsPropagation');
    expect(e.message).toBe(
      'config.json: /linux/rootfsPropagation must be one of private, rprivate, slave, rslave, shared, rshared, unbindable, runbindable, got "bogus"',
    );
  });
});

describe('buildPlan: mounts', () => {
  function mountsOf(mounts: NonNullable<Spec['mounts']>) {
    return plan(spec((s) => {
      s.mounts = mounts;
    })).mounts;
  }

  it('resolves a relative bind source against the bundle', () => {
    const [m] = mountsOf([{ destination: '/data', type: 'bind', source: 'data/in' }]);
    expect(m).toMatchObject({ source: '/srv/bundles/c1/data/in', type: 'bind', bind: true, recursiveBind: false });
  });

  it('resolves "./x" and "../x" bind sources against the bundle too', () => {
    const mounts = mountsOf([
      { destination: '/a', source: './x', options: ['bind'] },
      { destination: '/b', source: '../x', options: ['rbind'] },
    ]);
    expect(mounts.map((m) => m.source)).toEqual(['/srv/bundles/c1/x', '/srv/bundles/x']);
  });

  it('keeps an absolute bind source', () => {
    const [m] = mountsOf([{ destination: '/data', source: '/var/data', options: ['rbind', 'ro'] }]);
    expect(m).toEqual({
      destination: '/data',
      source: '/var/data',
      type: 'bind',
      bind: true,
      recursiveBind: true,
      flags: MountFlags.RDONLY,
      clearedFlags: 0,
      propagation: [],
      data: '',
      recursive: { set: 0, clear: 0 },
      copyUp: false,
    });
  });

  it('treats type "bind" without options as a non-recursive bind', () => {
    const [m] = mountsOf([{ destination: '/etc/hosts', type: 'bind', source: '/etc/hosts' }]);
    expect(m).toMatchObject({ type: 'bind', bind: true, recursiveBind: false, flags: 0 });
  });

  it('makes a "bind" option win over another type', () => {
    const [m] = mountsOf([{ destination: '/data', type: 'none', source: '/srv', options: ['bind'] }]);
    expect(m).toMatchObject({ type: 'bind', bind: true });
  });

  it('keeps a non-bind source as given (never resolved against the bundle)', () => {
    const mounts = mountsOf([
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/x', type: 'tmpfs' },
    ]);
    expect(mounts.map((m) => [m.source, m.type, m.bind])).toEqual([['proc', 'proc', false], ['', 'tmpfs', false]]);
  });

  it('normalizes the destination', () => {
    const mounts = mountsOf([
      { destination: '/dev//shm', type: 'tmpfs', source: 'shm' },
      { destination: '/a/./b/../c', type: 'tmpfs', source: 'tmpfs' },
    ]);
    expect(mounts.map((m) => m.destination)).toEqual(['/dev/shm', '/a/c']);
  });

  it('carries flags, cleared flags, propagation and data', () => {
    const [m] = mountsOf([{ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid', 'rw', 'rprivate', 'mode=700', 'uid=1'] }]);
    expect(m).toMatchObject({
      flags: MountFlags.NOSUID,
      clearedFlags: MountFlags.RDONLY,
      propagation: [MountFlags.PRIVATE | MountFlags.REC],
      data: 'mode=700,uid=1',
    });
  });

  it('refuses a non-bind mount without a type', () => {
    for (const type of [undefined, '']) {
      const e = errorOf(() => mountsOf([{ destination: '/proc', type: 'proc', source: 'proc' }, { destination: '/x', source: 'tmpfs', type }]));
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).pointer).toBe('/mounts/1/type');
      expect(e.message).toBe('config.json: /mounts/1/type must be set for a mount that is not a bind mount (options "bind" or "rbind")');
    }
  });

  it('refuses a bind mount without a source', () => {
    const e = errorOf(() => mountsOf([{ destination: '/x', type: 'bind' }]));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe('config.json: /mounts/0/source must be set for a bind mount');
  });

  it('refuses tmpcopyup on anything but tmpfs', () => {
    const e = errorOf(() => mountsOf([
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/data', source: '/srv', options: ['rbind', 'tmpcopyup'] },
    ]));
    expect(e.message).toBe('config.json: /mounts/1/options tmpcopyup only applies to tmpfs mounts, got type ""');
  });

  it('plans no mounts when there are none', () => {
    expect(plan(base()).mounts).toEqual([]);
  });

  it('populates /dev unless /dev is a bind mount', () => {
    expect(plan(fixture()).setupDev).toBe(true);
    expect(plan(spec((s) => {
      s.mounts = [{ destination: '/dev', type: 'tmpfs', source: 'tmpfs' }];
    })).setupDev).toBe(true);
    expect(plan(spec((s) => {
      s.mounts = [{ destination: '/dev', source: '/dev', options: ['rbind'] }];
    })).setupDev).toBe(false);
    expect(plan(spec((s) => {
      s.mounts = [{ destination: '//dev', type: 'bind', source: '/dev' }];
    })).setupDev).toBe(false);
    // A bind mount below /dev does not replace it.
    expect(plan(spec((s) => {
      s.mounts = [{ destination: '/dev/fuse', type: 'bind', source: '/dev/fuse' }];
    })).setupDev).toBe(true);
  });

  // regression test (was a bug): src/spec/plan.ts planMounts keeps a trailing slash (path.posix.normalize('/dev/') is '/dev/'), so
  // buildPlan's `m.destination === '/dev'` misses a bind mount of "/dev/": setupDev stays true and
  // createDevices would unlink and mknod over the bind-mounted host /dev.
  it('treats a bind mount on "/dev/" like one on "/dev"', () => {
    expect(plan(spec((s) => {
      s.mounts = [{ destination: '/dev/', source: '/dev', options: ['rbind'] }];
    })).setupDev).toBe(false);
  });
});

describe('buildPlan: devices', () => {
  function devicesOf(devices: NonNullable<NonNullable<Spec['linux']>['devices']>) {
    return plan(spec((s) => {
      s.linux.devices = devices;
    })).devices;
  }

  it('fills in fileMode 0666 and uid/gid 0, and maps "u" to "c"', () => {
    expect(devicesOf([{ type: 'u', path: '/dev/fuse', major: 10, minor: 229 }])).toEqual([
      { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 },
    ]);
  });

  it('keeps given modes, owners and types', () => {
    expect(devicesOf([
      { type: 'b', path: '/dev/sda', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
      { type: 'c', path: '/dev/ttyS0', major: 4, minor: 64, fileMode: 0o620, uid: 1000, gid: 5 },
      { type: 'p', path: '/dev/myfifo' },
    ])).toEqual([
      { path: '/dev/sda', type: 'b', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
      { path: '/dev/ttyS0', type: 'c', major: 4, minor: 64, fileMode: 0o620, uid: 1000, gid: 5 },
      { path: '/dev/myfifo', type: 'p', major: 0, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
    ]);
  });

  it('turns bigint numbers into numbers and normalizes the path', () => {
    expect(devicesOf([{ type: 'c', path: '/dev//x/../null2', major: 1n, minor: 3n }])).toEqual([
      { path: '/dev/null2', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
    ]);
  });

  it('refuses an unknown type', () => {
    const e = errorOf(() => devicesOf([{ type: 'x', path: '/dev/x', major: 1, minor: 1 }]));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe('config.json: /linux/devices/0/type must be one of c, b, u, p, got "x"');
  });

  it.each(['c', 'b', 'u'])('refuses a %s device without major or minor', (type) => {
    for (const numbers of [{ minor: 1 }, { major: 1 }, {}]) {
      const e = errorOf(() => devicesOf([{ type: 'p', path: '/dev/ok' }, { type, path: '/dev/x', ...numbers }]));
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.message).toBe('config.json: /linux/devices/1 must have major and minor for a character or block device');
    }
  });

  it('exports the runtime-spec default device list', () => {
    expect(DEFAULT_DEVICES.map((d) => [d.path, d.type, d.major, d.minor, d.fileMode])).toEqual([
      ['/dev/null', 'c', 1, 3, 0o666],
      ['/dev/zero', 'c', 1, 5, 0o666],
      ['/dev/full', 'c', 1, 7, 0o666],
      ['/dev/random', 'c', 1, 8, 0o666],
      ['/dev/urandom', 'c', 1, 9, 0o666],
      ['/dev/tty', 'c', 5, 0, 0o666],
    ]);
  });
});

describe('buildPlan: process', () => {
  const bit = (n: number) => 1n << BigInt(n);

  it('computes capability masks as bits of the capability numbers', () => {
    const p = plan(spec((s) => {
      s.process.capabilities = {
        bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN', 'CAP_CHECKPOINT_RESTORE'],
        effective: ['CAP_NET_BIND_SERVICE'],
        permitted: ['CAP_MAC_OVERRIDE', 'CAP_BPF'],
        inheritable: ['CAP_SETFCAP', 'CAP_SETFCAP'],
        ambient: [],
      };
    }));
    expect(p.process.capabilities).toEqual({
      bounding: bit(0) | bit(5) | bit(21) | bit(40),
      effective: bit(10),
      permitted: bit(32) | bit(39),
      inheritable: bit(31),
      ambient: 0n,
    });
    expect(p.process.capabilities!.bounding).toBe(0x10000200021n);
  });

  it('gives missing sets an empty mask, and no capabilities when the object is absent', () => {
    expect(plan(spec((s) => {
      s.process.capabilities = { bounding: ['CAP_KILL'] };
    })).process.capabilities).toEqual({ bounding: bit(5), effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n });
    expect(plan(base()).process.capabilities).toBeUndefined();
  });

  it.each(['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const)('refuses an unknown name in %s, naming its index', (set) => {
    const e = errorOf(() => plan(spec((s) => {
      s.process.capabilities = { [set]: ['CAP_KILL', 'CAP_CHOWN', 'CAP_BOGUS'] };
    })));
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).pointer).toBe(`/process/capabilities/${set}/2`);
    expect(e.message).toBe(`config.json: /process/capabilities/${set}/2 must be a Linux capability name (e.g. CAP_KILL), got "CAP_BOGUS"`);
  });

  it('refuses capability names in the wrong case or without the CAP_ prefix', () => {
    for (const name of ['cap_kill', 'KILL', 'CAP_KILL ']) {
      const e = errorOf(() => plan(spec((s) => {
        s.process.capabilities = { effective: [name] };
      })));
      expect(e.message).toBe(`config.json: /process/capabilities/effective/0 must be a Linux capability name (e.g. CAP_KILL), got ${JSON.stringify(name)}`);
    }
  });

  // regression test (was a bug): src/spec/plan.ts capabilityMask looks names up with CAPABILITIES[name] on a plain object literal, so
  // names of Object.prototype members ("toString", "constructor", "__proto__") are found; BigInt(<function>)
  // then throws a SyntaxError instead of the ConfigError naming the pointer. The schema does not restrict
  // capability names, so such a config.json reaches buildPlan.
  it('refuses "toString" as a capability name with a ConfigError', () => {
    const e = errorOf(() => plan(spec((s) => {
      s.process.capabilities = { bounding: ['toString'] };
    })));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe('config.json: /process/capabilities/bounding/0 must be a Linux capability name (e.g. CAP_KILL), got "toString"');
  });

  it('maps rlimits to resource numbers with bigint limits', () => {
    const p = plan(spec((s) => {
      s.process.rlimits = [
        { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 },
        { type: 'RLIMIT_CORE', soft: 18446744073709551615n, hard: 18446744073709551615n },
        { type: 'RLIMIT_RTTIME', soft: 0, hard: 9007199254740993n },
        { type: 'RLIMIT_CPU', soft: 1n, hard: 2 },
      ];
    }));
    expect(p.process.rlimits).toEqual([
      { resource: 7, soft: 1024n, hard: 4096n },
      { resource: 4, soft: 18446744073709551615n, hard: 18446744073709551615n },
      { resource: 15, soft: 0n, hard: 9007199254740993n },
      { resource: 0, soft: 1n, hard: 2n },
    ]);
    for (const r of p.process.rlimits) {
      expect(typeof r.soft).toBe('bigint');
      expect(typeof r.hard).toBe('bigint');
    }
  });

  it('refuses an unknown rlimit type', () => {
    const e = errorOf(() => plan(spec((s) => {
      s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }];
    })));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe('config.json: /process/rlimits/1/type must be an RLIMIT_* name, got "RLIMIT_BOGUS"');
  });

  it('takes user, env, cwd, umask, oomScoreAdj and noNewPrivileges', () => {
    const p = plan(spec((s) => {
      s.process = {
        cwd: '/home/u',
        args: ['/bin/app', '--flag'],
        env: ['A=1'],
        user: { uid: 1000, gid: 100, umask: 0o077, additionalGids: [5, 6] },
        oomScoreAdj: -500,
        noNewPrivileges: false,
      };
    }));
    expect(p.process).toEqual({
      args: ['/bin/app', '--flag'],
      env: ['A=1'],
      cwd: '/home/u',
      uid: 1000,
      gid: 100,
      additionalGids: [5, 6],
      umask: 0o077,
      capabilities: undefined,
      rlimits: [],
      noNewPrivileges: false,
      oomScoreAdj: -500,
      terminal: false,
    });
  });

  it('defaults env, additionalGids and noNewPrivileges', () => {
    const p = plan(base());
    expect(p.process.env).toEqual([]);
    expect(p.process.additionalGids).toEqual([]);
    expect(p.process.noNewPrivileges).toBe(false);
    expect(p.process.rlimits).toEqual([]);
  });

  it('refuses a config without process or without args', () => {
    expect(errorOf(() => plan(spec((s) => delete (s as Partial<Spec>).process))).message).toBe(
      'config.json: /process must be set: tsrun needs a process to run',
    );
    for (const args of [undefined, []]) {
      const e = errorOf(() => plan(spec((s) => {
        s.process.args = args;
      })));
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.message).toBe('config.json: /process/args must be a non-empty array');
    }
  });
});

describe('buildPlan: security labels', () => {
  it('carries the AppArmor profile, the SELinux process label and the mount label', () => {
    const p = plan(spec((s) => {
      s.process.apparmorProfile = 'docker-default';
      s.process.selinuxLabel = 'system_u:system_r:container_t:s0';
      s.linux.mountLabel = 'system_u:object_r:container_file_t:s0';
    }));
    expect(p.process.apparmorProfile).toBe('docker-default');
    expect(p.process.selinuxLabel).toBe('system_u:system_r:container_t:s0');
    expect(p.mountLabel).toBe('system_u:object_r:container_file_t:s0');
  });

  it('treats empty or missing labels as none', () => {
    const p = plan(spec((s) => {
      s.process.apparmorProfile = '';
      s.process.selinuxLabel = '';
      s.linux.mountLabel = '';
    }));
    expect(p.process.apparmorProfile).toBeUndefined();
    expect(p.process.selinuxLabel).toBeUndefined();
    expect(p.mountLabel).toBeUndefined();
    expect(plan(base()).mountLabel).toBeUndefined();
  });
});

describe('buildPlan: other linux fields', () => {
  it('keeps sysctl entries in order, and masked/readonly paths', () => {
    const p = plan(spec((s) => {
      s.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '4096' };
      s.linux.maskedPaths = ['/proc/kcore'];
      s.linux.readonlyPaths = ['/proc/sys'];
      s.hostname = 'h';
      s.domainname = 'example.test';
    }));
    expect(p.sysctl).toEqual([['net.ipv4.ip_forward', '1'], ['kernel.shmmax', '4096']]);
    expect(p.maskedPaths).toEqual(['/proc/kcore']);
    expect(p.readonlyPaths).toEqual(['/proc/sys']);
    expect(p.hostname).toBe('h');
    expect(p.domainname).toBe('example.test');
  });

  it('defaults masked and readonly paths to none', () => {
    const p = plan(base());
    expect(p.maskedPaths).toEqual([]);
    expect(p.readonlyPaths).toEqual([]);
    expect(p.hostname).toBeUndefined();
  });
});
