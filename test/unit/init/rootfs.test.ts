// prepareRootfs / finalizeRootfs against a FakeSys: the exact sequence of mount, mknod and pivot calls.
// The rootfs is a real temporary directory (mount points, /dev entries and bind targets are created in it,
// through real openat2 lookups); nothing is mounted. The code mounts onto /proc/self/fd/N: the fake records
// the path that descriptor has, so expectations read as paths. As nothing gets mounted, the check that a
// mount landed on its target is replaced by a mock (secure-path.test.ts tests it; integration tests use it).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeError } from '../../../src/errors';
import { createDevices } from '../../../src/init/devices';
import { finalizeRootfs, prepareRootfs } from '../../../src/init/rootfs';
import { checkMountedOn, openRootDir, type RootDir } from '../../../src/init/secure-path';
import { MNT_DETACH, MountFlags } from '../../../src/linux/constants';
import { Errno, SyscallError } from '../../../src/linux/errno';
import { buildPlan, type ContainerPlan } from '../../../src/spec/plan';
import type { Spec } from '../../../src/spec/types';
import { FakeSys, type SysCall } from '../../helpers/fake-sys';

vi.mock('../../../src/init/secure-path', async (importOriginal) => ({
  ...await importOriginal<typeof import('../../../src/init/secure-path')>(),
  checkMountedOn: vi.fn(),
}));

const FIXTURE = fileURLToPath(new URL('../../../fixtures/busybox/config.json', import.meta.url));
const {
  BIND, REC, REMOUNT, RDONLY, NOSUID, NODEV, NOEXEC, STRICTATIME, SLAVE, PRIVATE, SHARED, UNBINDABLE, MOVE,
  NOATIME, NODIRATIME, RELATIME, NOSYMFOLLOW, SYNCHRONOUS, MANDLOCK,
} = MountFlags;
const IFCHR = 0o020000;
const IFBLK = 0o060000;
const IFIFO = 0o010000;

let scratch: string;
let rootfs: string;
let chowns: unknown[][];

beforeEach(() => {
  scratch = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-rootfs-')));
  rootfs = path.join(scratch, 'rootfs');
  fs.mkdirSync(rootfs);
  chowns = [];
  vi.mocked(checkMountedOn).mockReset();
  // Device nodes are chowned to their owner: only root may do that, and the fake mknod makes plain files.
  vi.spyOn(fs, 'chownSync').mockImplementation((...args: unknown[]) => {
    chowns.push([reached(args[0] as string), ...args.slice(1)]);
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** `/proc/self/fd/N` → the path of that descriptor now (what the call reaches); other paths as they are. */
function reached<T extends string | null>(p: T): T {
  return (p !== null && /^\/proc\/self\/fd\/\d+$/.test(p) ? fs.readlinkSync(p) : p) as T;
}

/** The path of a real descriptor, for calls that take one. */
const fdAt = (fd: number) => fs.readlinkSync(`/proc/self/fd/${fd}`);

/**
 * Records the paths descriptors have in place of /proc/self/fd/N (and of the descriptors of mknodat,
 * cloneTree and moveMountFd's target), read at the time of the call. `targets` keeps what mount was given.
 */
class RootfsFakeSys extends FakeSys {
  readonly targets: string[] = [];
  override mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
    this.targets.push(target);
    super.mount(reached(source), reached(target), fstype, flags, data);
  }
  override mountFlagsOf(p: string): number {
    return super.mountFlagsOf(reached(p));
  }
  override mountSetattrRecursive(p: string, set: number, clear: number): void {
    super.mountSetattrRecursive(reached(p), set, clear);
  }
  override mknodat(dirFd: number, name: string, mode: number, major: number, minor: number): void {
    super.mknodat(fdAt(dirFd) as unknown as number, name, mode, major, minor);
  }
  override cloneTree(fd: number, recursive: boolean): number {
    return super.cloneTree(fdAt(fd) as unknown as number, recursive);
  }
  override moveMountFd(treeFd: number, targetFd: number): void {
    super.moveMountFd(treeFd, fdAt(targetFd) as unknown as number);
  }
}

/** A FakeSys whose mknodat leaves a regular file where the node would be. */
function fakeSys(): RootfsFakeSys {
  return new RootfsFakeSys().implement('mknodat', (dir, name) => {
    fs.writeFileSync(path.join(dir as unknown as string, name), '');
  }) as RootfsFakeSys;
}

/** The rootfs held open as prepareRootfs holds it, for createDevices; closed after the test. */
let rootDirs: RootDir[] = [];
function rootDir(): RootDir {
  const dir = openRootDir(rootfs);
  rootDirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of rootDirs) fs.closeSync(dir.fd);
  rootDirs = [];
});

function fixture(): Spec {
  const spec = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Spec;
  spec.root = { path: rootfs, readonly: true };
  return spec;
}

function base(edit: (s: Spec & { linux: NonNullable<Spec['linux']> }) => void = () => undefined): Spec {
  const s: Spec & { linux: NonNullable<Spec['linux']> } = {
    ociVersion: '1.2.1',
    root: { path: rootfs },
    process: { cwd: '/', args: ['sh'], user: { uid: 0, gid: 0 } },
    linux: { namespaces: [{ type: 'mount' }] },
  };
  edit(s);
  return s;
}

function plan(spec: Spec, noPivot = false): ContainerPlan {
  return buildPlan(spec, { id: 'c1', bundle: scratch, noPivot });
}

const call = (name: SysCall['name'], ...args: unknown[]): SysCall => ({ name, args });
const mount = (source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null) =>
  call('mount', source, target, fstype, flags, data);

const R = () => rootfs;

function defaultDeviceCalls(): SysCall[] {
  return [
    call('umask', 0),
    call('mknodat', `${R()}/dev`, 'null', IFCHR | 0o666, 1, 3),
    call('mknodat', `${R()}/dev`, 'zero', IFCHR | 0o666, 1, 5),
    call('mknodat', `${R()}/dev`, 'full', IFCHR | 0o666, 1, 7),
    call('mknodat', `${R()}/dev`, 'random', IFCHR | 0o666, 1, 8),
    call('mknodat', `${R()}/dev`, 'urandom', IFCHR | 0o666, 1, 9),
    call('mknodat', `${R()}/dev`, 'tty', IFCHR | 0o666, 5, 0),
    call('umask', 0o022),
  ];
}

function pivotCalls(): SysCall[] {
  return [
    call('chdir', R()),
    call('pivotRoot', '.', '.'),
    mount(null, '.', null, SLAVE | REC),
    call('umount2', '.', MNT_DETACH),
    call('chdir', '/'),
  ];
}

describe('prepareRootfs with the fixture config', () => {
  it('makes every call in order: propagation, rootfs bind, mounts, devices, pivot_root', () => {
    const sys = fakeSys();
    prepareRootfs(sys, plan(fixture()));
    expect(sys.calls).toEqual([
      mount(null, '/', null, SLAVE | REC),
      mount(R(), R(), null, BIND | REC),
      mount('proc', `${R()}/proc`, 'proc', 0),
      mount('tmpfs', `${R()}/dev`, 'tmpfs', NOSUID | STRICTATIME, 'mode=755,size=65536k'),
      mount('devpts', `${R()}/dev/pts`, 'devpts', NOSUID | NOEXEC, 'newinstance,ptmxmode=0666,mode=0620'),
      mount('shm', `${R()}/dev/shm`, 'tmpfs', NOSUID | NOEXEC | NODEV, 'mode=1777,size=65536k'),
      mount('mqueue', `${R()}/dev/mqueue`, 'mqueue', NOSUID | NOEXEC | NODEV),
      mount('sysfs', `${R()}/sys`, 'sysfs', NOSUID | NOEXEC | NODEV | RDONLY),
      mount('tmpfs', `${R()}/tmp`, 'tmpfs', NOSUID | NODEV, 'mode=1777'),
      ...defaultDeviceCalls(),
      ...pivotCalls(),
    ]);
  });

  it('uses the kernel values for the /dev tmpfs', () => {
    const sys = fakeSys();
    prepareRootfs(sys, plan(fixture()));
    expect(sys.argsOf('mount')[3]).toEqual(['tmpfs', `${R()}/dev`, 'tmpfs', 0x1000002, 'mode=755,size=65536k']);
  });

  it('creates the mount points and /dev entries in the rootfs', () => {
    prepareRootfs(fakeSys(), plan(fixture()));
    for (const dir of ['proc', 'dev', 'dev/pts', 'dev/shm', 'dev/mqueue', 'sys', 'tmp']) {
      expect(fs.statSync(path.join(rootfs, dir)).isDirectory()).toBe(true);
    }
    for (const node of ['null', 'zero', 'full', 'random', 'urandom', 'tty']) expect(fs.existsSync(path.join(rootfs, 'dev', node))).toBe(true);
    expect(chowns).toEqual(['null', 'zero', 'full', 'random', 'urandom', 'tty'].map((n) => [`${R()}/dev/${n}`, 0, 0]));
    expect(fs.readlinkSync(path.join(rootfs, 'dev/fd'))).toBe('/proc/self/fd');
    expect(fs.readlinkSync(path.join(rootfs, 'dev/stdin'))).toBe('/proc/self/fd/0');
    expect(fs.readlinkSync(path.join(rootfs, 'dev/stdout'))).toBe('/proc/self/fd/1');
    expect(fs.readlinkSync(path.join(rootfs, 'dev/stderr'))).toBe('/proc/self/fd/2');
    expect(fs.existsSync(path.join(rootfs, 'dev/ptmx'))).toBe(false);
  });

  it('links /dev/ptmx to pts/ptmx when devpts provides one', () => {
    fs.mkdirSync(path.join(rootfs, 'dev/pts'), { recursive: true });
    fs.writeFileSync(path.join(rootfs, 'dev/pts/ptmx'), '');
    fs.writeFileSync(path.join(rootfs, 'dev/ptmx'), 'old');
    prepareRootfs(fakeSys(), plan(fixture()));
    expect(fs.readlinkSync(path.join(rootfs, 'dev/ptmx'))).toBe('pts/ptmx');
  });

  it('with noPivot moves the rootfs onto / and chroots instead of pivot_root', () => {
    const sys = fakeSys();
    prepareRootfs(sys, plan(fixture(), true));
    const names = sys.names();
    expect(names).not.toContain('pivotRoot');
    expect(names).not.toContain('umount2');
    expect(sys.calls.slice(-4)).toEqual([
      call('chdir', R()),
      mount(R(), '/', null, MOVE),
      call('chroot', '.'),
      call('chdir', '/'),
    ]);
    expect(sys.calls.slice(0, -4)).toEqual([
      mount(null, '/', null, SLAVE | REC),
      mount(R(), R(), null, BIND | REC),
      ...plan(fixture()).mounts.map((m) => mount(m.source, `${R()}${m.destination}`, m.type, m.flags, m.data === '' ? null : m.data)),
      ...defaultDeviceCalls(),
    ]);
  });

  it('stops at the first failing call', () => {
    const sys = fakeSys().failOn('mount', Errno.EPERM, { when: (args) => args[1] === `${R()}/sys` });
    let thrown: unknown;
    try {
      prepareRootfs(sys, plan(fixture()));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SyscallError);
    expect((thrown as SyscallError).errno).toBe(Errno.EPERM);
    expect(sys.calls.at(-1)).toEqual(mount('sysfs', `${R()}/sys`, 'sysfs', NOSUID | NOEXEC | NODEV | RDONLY));
    expect(sys.names()).not.toContain('mknodat');
    expect(sys.names()).not.toContain('pivotRoot');
  });
});

describe('prepareRootfs: root propagation', () => {
  it.each([
    ['private', PRIVATE],
    ['slave', SLAVE],
    ['unbindable', UNBINDABLE],
  ])('applies rootfsPropagation %s to / first, recursively', (name, flag) => {
    const sys = fakeSys();
    prepareRootfs(sys, plan(base((s) => {
      s.linux.rootfsPropagation = name;
    })));
    expect(sys.calls[0]).toEqual(mount(null, '/', null, flag | REC));
    expect(sys.calls[1]).toEqual(mount(R(), R(), null, BIND | REC));
  });

  it('with shared: keeps the rootfs and its parent mount private for pivot_root, then shares / after it', () => {
    const sys = fakeSys();
    prepareRootfs(sys, plan(base((s) => {
      s.linux.rootfsPropagation = 'shared';
    })));
    expect(sys.calls[0]).toEqual(mount(null, '/', null, SHARED | REC));
    expect(sys.calls[1]!.name).toBe('mount');
    expect(sys.calls[1]!.args.slice(2, 4)).toEqual([null, PRIVATE]); // the parent mount of the rootfs
    expect(sys.calls[2]).toEqual(mount(R(), R(), null, BIND | REC));
    expect(sys.calls[3]).toEqual(mount(null, R(), null, PRIVATE));
    expect(sys.calls.at(-1)).toEqual(mount(null, '/', null, SHARED | REC));
    expect(sys.names().indexOf('pivotRoot')).toBeLessThan(sys.calls.length - 1);
  });
});

describe('prepareRootfs: config mounts', () => {
  let hostDir: string;
  let hostFile: string;

  beforeEach(() => {
    hostDir = path.join(scratch, 'host-dir');
    hostFile = path.join(scratch, 'host-file');
    fs.mkdirSync(hostDir);
    fs.writeFileSync(hostFile, '127.0.0.1 localhost\n');
  });

  /** The mount calls for config.json's mounts only: without the leading two and the trailing pivot. */
  function mountCalls(mounts: NonNullable<Spec['mounts']>): SysCall[] {
    const sys = fakeSys();
    prepareRootfs(sys, plan(base((s) => {
      s.mounts = mounts;
    })));
    const calls = sys.calls.filter((c) => c.name === 'mount');
    return calls.slice(2, -1);
  }

  it('binds a directory without a remount when no flag asks for one', () => {
    expect(mountCalls([{ destination: '/data', source: hostDir, options: ['rbind'] }])).toEqual([
      mount(hostDir, `${R()}/data`, null, BIND | REC),
    ]);
    expect(fs.statSync(path.join(rootfs, 'data')).isDirectory()).toBe(true);
  });

  it('binds non-recursively for "bind" and type "bind"', () => {
    expect(mountCalls([
      { destination: '/a', source: hostDir, options: ['bind'] },
      { destination: '/b', source: hostDir, type: 'bind' },
    ])).toEqual([
      mount(hostDir, `${R()}/a`, null, BIND),
      mount(hostDir, `${R()}/b`, null, BIND),
    ]);
  });

  it('remounts a bind mount to apply ro, nosuid, nodev, noexec', () => {
    expect(mountCalls([{ destination: '/ro', source: hostDir, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] }])).toEqual([
      mount(hostDir, `${R()}/ro`, null, BIND | REC),
      mount(null, `${R()}/ro`, null, BIND | REMOUNT | RDONLY | NOSUID | NODEV | NOEXEC),
    ]);
  });

  it('remounts a bind mount when an option clears a flag', () => {
    expect(mountCalls([{ destination: '/rw', source: hostDir, options: ['bind', 'rw'] }])).toEqual([
      mount(hostDir, `${R()}/rw`, null, BIND),
      mount(null, `${R()}/rw`, null, BIND | REMOUNT),
    ]);
  });

  it('does not remount for flags a bind remount cannot change', () => {
    expect(mountCalls([{ destination: '/s', source: hostDir, options: ['bind', 'sync', 'dirsync', 'mode=755'] }])).toEqual([
      mount(hostDir, `${R()}/s`, null, BIND),
    ]);
  });

  it('applies propagation options after the bind and its remount, in order', () => {
    expect(mountCalls([{ destination: '/p', source: hostDir, options: ['rprivate', 'rbind', 'ro', 'runbindable'] }])).toEqual([
      mount(hostDir, `${R()}/p`, null, BIND | REC),
      mount(null, `${R()}/p`, null, BIND | REMOUNT | RDONLY),
      mount(null, `${R()}/p`, null, PRIVATE | REC),
      mount(null, `${R()}/p`, null, UNBINDABLE | REC),
    ]);
  });

  it('applies propagation options to a non-bind mount after it', () => {
    expect(mountCalls([{ destination: '/t', source: 'tmpfs', type: 'tmpfs', options: ['rshared', 'mode=700', 'slave'] }])).toEqual([
      mount('tmpfs', `${R()}/t`, 'tmpfs', 0, 'mode=700'),
      mount(null, `${R()}/t`, null, SHARED | REC),
      mount(null, `${R()}/t`, null, SLAVE),
    ]);
  });

  it('binds a file onto a file it creates in the rootfs', () => {
    expect(mountCalls([{ destination: '/etc/hosts', source: hostFile, type: 'bind', options: ['ro'] }])).toEqual([
      mount(hostFile, `${R()}/etc/hosts`, null, BIND),
      mount(null, `${R()}/etc/hosts`, null, BIND | REMOUNT | RDONLY),
    ]);
    const target = fs.statSync(path.join(rootfs, 'etc/hosts'));
    expect(target.isFile()).toBe(true);
    expect(target.size).toBe(0);
  });

  it('leaves an existing bind target file as it is', () => {
    fs.mkdirSync(path.join(rootfs, 'etc'));
    fs.writeFileSync(path.join(rootfs, 'etc/hosts'), 'keep');
    mountCalls([{ destination: '/etc/hosts', source: hostFile, type: 'bind' }]);
    expect(fs.readFileSync(path.join(rootfs, 'etc/hosts'), 'utf8')).toBe('keep');
  });

  it('binds a file onto an existing symlink target inside the rootfs', () => {
    fs.mkdirSync(path.join(rootfs, 'etc'));
    fs.mkdirSync(path.join(rootfs, 'run'));
    fs.writeFileSync(path.join(rootfs, 'run/resolv.conf'), 'image');
    fs.symlinkSync('../run/resolv.conf', path.join(rootfs, 'etc/resolv.conf'));
    expect(mountCalls([{ destination: '/etc/resolv.conf', source: hostFile, type: 'bind' }])).toEqual([
      mount(hostFile, `${R()}/run/resolv.conf`, null, BIND),
    ]);
    expect(fs.readFileSync(path.join(rootfs, 'run/resolv.conf'), 'utf8')).toBe('image');
  });

  // regression test (was a bug): src/init/rootfs.ts prepareBindTarget creates the parent of the *destination* (mkdirAllInRoot of
  // dirname('/etc/resolv.conf')) but opens the *resolved* target. When the destination is a symlink whose
  // target directory does not exist yet (Ubuntu images: /etc/resolv.conf → ../run/systemd/resolve/stub-resolv.conf)
  // fs.openSync throws a raw ENOENT instead of creating <rootfs>/run/systemd/resolve/stub-resolv.conf.
  it('binds a file onto a dangling symlink whose target directory does not exist yet', () => {
    fs.mkdirSync(path.join(rootfs, 'etc'));
    fs.symlinkSync('../run/systemd/resolve/stub-resolv.conf', path.join(rootfs, 'etc/resolv.conf'));
    expect(mountCalls([{ destination: '/etc/resolv.conf', source: hostFile, type: 'bind' }])).toEqual([
      mount(hostFile, `${R()}/run/systemd/resolve/stub-resolv.conf`, null, BIND),
    ]);
    expect(fs.statSync(path.join(rootfs, 'run/systemd/resolve/stub-resolv.conf')).isFile()).toBe(true);
  });

  it('resolves a relative bind source against the bundle', () => {
    expect(mountCalls([{ destination: '/d', source: 'host-dir', type: 'bind' }])).toEqual([
      mount(hostDir, `${R()}/d`, null, BIND),
    ]);
  });

  it('refuses a bind mount whose source does not exist, before mounting it', () => {
    const sys = fakeSys();
    const missing = path.join(scratch, 'missing');
    let thrown: unknown;
    try {
      prepareRootfs(sys, plan(base((s) => {
        s.mounts = [
          { destination: '/proc', type: 'proc', source: 'proc' },
          { destination: '/x', source: missing, options: ['bind'] },
        ];
      })));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RuntimeError);
    expect((thrown as RuntimeError).code).toBe('mount-source');
    expect((thrown as RuntimeError).message).toBe(`mount /x: source ${missing}: no such file or directory`);
    expect(sys.calls.at(-1)).toEqual(mount('proc', `${R()}/proc`, 'proc', 0));
  });

  it('uses the type as source when the source is empty', () => {
    expect(mountCalls([{ destination: '/t', type: 'tmpfs' }])).toEqual([mount('tmpfs', `${R()}/t`, 'tmpfs', 0)]);
  });

  it('never passes MS_REMOUNT for a non-bind mount', () => {
    expect(mountCalls([{ destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['remount', 'ro'] }])).toEqual([
      mount('tmpfs', `${R()}/t`, 'tmpfs', RDONLY),
    ]);
  });

  it('keeps mount targets inside the rootfs when the destination crosses a symlink', () => {
    fs.mkdirSync(path.join(rootfs, 'var'));
    fs.symlinkSync('/run', path.join(rootfs, 'var/run'));
    fs.symlinkSync('../../../../..', path.join(rootfs, 'up'));
    expect(mountCalls([
      { destination: '/var/run/x', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/up/etc', source: hostDir, type: 'bind' },
    ])).toEqual([
      mount('tmpfs', `${R()}/run/x`, 'tmpfs', 0),
      mount(hostDir, `${R()}/etc`, null, BIND),
    ]);
    expect(fs.statSync(path.join(rootfs, 'run/x')).isDirectory()).toBe(true);
  });

  it('keeps a bind destination through a symlink to a real host directory inside the rootfs', () => {
    const outside = path.join(scratch, 'outside');
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(rootfs, 'abs'));
    fs.mkdirSync(path.join(rootfs, 'a'));
    fs.symlinkSync(`../../../../../../../..${outside}`, path.join(rootfs, 'a/rel'));
    expect(mountCalls([
      { destination: '/abs', source: hostDir, type: 'bind' },
      { destination: '/a/rel/sub', source: hostFile, type: 'bind' },
    ])).toEqual([
      mount(hostDir, path.join(rootfs, outside), null, BIND),
      mount(hostFile, path.join(rootfs, outside, 'sub'), null, BIND),
    ]);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('mounts onto /proc/self/fd/N of the resolved destination, never onto a joined path, and checks each mount', () => {
    const sys = fakeSys();
    prepareRootfs(sys, plan(base((s) => {
      s.mounts = [
        { destination: '/data', source: hostDir, options: ['rbind', 'ro', 'rprivate'] },
        { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['rshared'] },
      ];
    })));
    const configTargets = sys.targets.slice(2, -1);
    expect(configTargets).toHaveLength(5);
    for (const target of configTargets) expect(target).toMatch(/^\/proc\/self\/fd\/\d+$/);
    expect(vi.mocked(checkMountedOn)).toHaveBeenCalledTimes(2);
    expect(vi.mocked(checkMountedOn).mock.calls.map((c) => c[2])).toEqual([rootfs, rootfs]);
  });

  it('refuses a mount that did not land on its destination, naming the config entry', () => {
    vi.mocked(checkMountedOn).mockImplementationOnce(() => {
      throw new RuntimeError('mount-target', `the mount on /x is not confirmed inside the rootfs ${rootfs}: no new mount is there`);
    });
    const sys = fakeSys();
    expect(() => prepareRootfs(sys, plan(base((s) => {
      s.mounts = [{ destination: '/data', source: hostDir, options: ['rbind', 'ro'] }];
    })))).toThrow(`config.json /mounts/0: bind ${JSON.stringify(hostDir)} on /data: the mount on /x is not confirmed inside the rootfs ${rootfs}: no new mount is there`);
    // Nothing is done to the mount after the check fails: no remount, no pivot_root.
    expect(sys.calls.at(-1)).toEqual(mount(hostDir, `${R()}/data`, null, BIND | REC));
  });

  it('attaches an idmapped tree by descriptor onto the destination', () => {
    const sys = fakeSys();
    const spec = base((s) => {
      s.mounts = [{ destination: '/mapped', source: hostDir, options: ['bind', 'idmap'] }];
      s.linux.namespaces = [{ type: 'mount' }, { type: 'user' }];
      s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    const p = plan(spec);
    p.mounts[0]!.idmap!.treeFd = 42;
    prepareRootfs(sys, p);
    expect(sys.argsOf('moveMountFd')).toEqual([[42, `${R()}/mapped`]]);
    expect(sys.argsOf('mount').map((a) => a[1])).not.toContain(`${R()}/mapped`);
  });

  it('names the config entry when resolving the destination fails', () => {
    fs.symlinkSync('/loop', path.join(rootfs, 'loop'));
    expect(() => mountCalls([{ destination: '/loop/x', type: 'tmpfs', source: 'tmpfs' }]))
      .toThrow('openat2 (config.json /mounts/0: tmpfs "tmpfs" on /loop/x): ELOOP (Too many levels of symbolic links)');
  });
});

describe('prepareRootfs: bind remounts keep the flags the mount already has', () => {
  let hostDir: string;

  beforeEach(() => {
    hostDir = path.join(scratch, 'host-dir');
    fs.mkdirSync(hostDir);
  });

  /** Every call about config.json's one mount (in a fresh rootfs), the mount holding it having `sourceFlags`. */
  function bindCalls(options: string[], sourceFlags: number): SysCall[] {
    fs.rmSync(rootfs, { recursive: true, force: true });
    fs.mkdirSync(rootfs);
    const sys = fakeSys().implement('mountFlagsOf', () => sourceFlags);
    prepareRootfs(sys, plan(base((s) => {
      s.mounts = [{ destination: '/data', source: hostDir, options }];
    })));
    const target = `${R()}/data`;
    return sys.calls.filter((c) => (c.name === 'mountFlagsOf' ? c.args[0] : c.args[1]) === target);
  }

  it('keeps nosuid, nodev and relatime of the source on an ro remount, asking for the flags of the bind target', () => {
    expect(bindCalls(['bind', 'ro'], NOSUID | NODEV | RELATIME)).toEqual([
      mount(hostDir, `${R()}/data`, null, BIND),
      call('mountFlagsOf', `${R()}/data`),
      mount(null, `${R()}/data`, null, BIND | REMOUNT | RDONLY | NOSUID | NODEV | RELATIME),
    ]);
  });

  it('keeps noexec, nodiratime and nosymfollow too', () => {
    const [, , remount] = bindCalls(['rbind', 'ro'], NOEXEC | NODIRATIME | NOSYMFOLLOW);
    expect(remount).toEqual(mount(null, `${R()}/data`, null, BIND | REMOUNT | RDONLY | NOEXEC | NODIRATIME | NOSYMFOLLOW));
  });

  it('clears nosuid for "suid", nodev for "dev" and noexec for "exec"', () => {
    const source = NOSUID | NODEV | NOEXEC | RELATIME;
    expect(bindCalls(['bind', 'ro', 'suid'], source).at(-1)).toEqual(mount(null, `${R()}/data`, null, BIND | REMOUNT | RDONLY | NODEV | NOEXEC | RELATIME));
    expect(bindCalls(['bind', 'ro', 'dev'], source).at(-1)).toEqual(mount(null, `${R()}/data`, null, BIND | REMOUNT | RDONLY | NOSUID | NOEXEC | RELATIME));
    expect(bindCalls(['bind', 'ro', 'exec'], source).at(-1)).toEqual(mount(null, `${R()}/data`, null, BIND | REMOUNT | RDONLY | NOSUID | NODEV | RELATIME));
  });

  it('clears a kept flag even when only a clearing option asks for the remount', () => {
    expect(bindCalls(['bind', 'suid'], NOSUID | NODEV)).toEqual([
      mount(hostDir, `${R()}/data`, null, BIND),
      call('mountFlagsOf', `${R()}/data`),
      mount(null, `${R()}/data`, null, BIND | REMOUNT | NODEV),
    ]);
  });

  it('replaces the atime mode of the source with the one the options set', () => {
    expect(bindCalls(['bind', 'ro', 'noatime'], NOSUID | NODEV | RELATIME).at(-1)).toEqual(
      mount(null, `${R()}/data`, null, BIND | REMOUNT | RDONLY | NOSUID | NODEV | NOATIME),
    );
    expect(bindCalls(['bind', 'strictatime'], NOATIME).at(-1)).toEqual(mount(null, `${R()}/data`, null, BIND | REMOUNT | STRICTATIME));
    expect(bindCalls(['bind', 'relatime'], NOATIME | NOSUID).at(-1)).toEqual(mount(null, `${R()}/data`, null, BIND | REMOUNT | RELATIME | NOSUID));
  });

  it('does not keep the read-only flag of the source', () => {
    expect(bindCalls(['bind', 'nosuid'], RDONLY | NODEV).at(-1)).toEqual(mount(null, `${R()}/data`, null, BIND | REMOUNT | NOSUID | NODEV));
    expect(bindCalls(['bind', 'rw'], RDONLY).at(-1)).toEqual(mount(null, `${R()}/data`, null, BIND | REMOUNT));
  });

  it('drops source flags a bind remount cannot change', () => {
    expect(bindCalls(['bind', 'ro'], SYNCHRONOUS | MANDLOCK | NOSUID).at(-1)).toEqual(mount(null, `${R()}/data`, null, BIND | REMOUNT | RDONLY | NOSUID));
  });

  it('does not look at the source flags of a bind that needs no remount, nor of a non-bind mount', () => {
    expect(bindCalls(['rbind'], NOSUID)).toEqual([mount(hostDir, `${R()}/data`, null, BIND | REC)]);
    fs.rmSync(rootfs, { recursive: true, force: true });
    fs.mkdirSync(rootfs);
    const sys = fakeSys().implement('mountFlagsOf', () => NOSUID);
    prepareRootfs(sys, plan(base((s) => {
      s.mounts = [{ destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['ro'] }];
    })));
    expect(sys.names()).not.toContain('mountFlagsOf');
  });
});

describe('prepareRootfs: /dev', () => {
  it('creates linux.devices after the defaults, with their types, modes and owners', () => {
    const sys = fakeSys();
    prepareRootfs(sys, plan(base((s) => {
      s.linux.devices = [
        { type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o600, uid: 1000, gid: 1001 },
        { type: 'b', path: '/dev/loop0', major: 7, minor: 0 },
        { type: 'p', path: '/dev/fifo' },
        { type: 'u', path: '/dev/net/tun', major: 10, minor: 200 },
      ];
    })));
    const mknods = sys.argsOf('mknodat');
    expect(mknods.slice(6)).toEqual([
      [`${R()}/dev`, 'fuse', IFCHR | 0o600, 10, 229],
      [`${R()}/dev`, 'loop0', IFBLK | 0o666, 7, 0],
      [`${R()}/dev`, 'fifo', IFIFO | 0o666, 0, 0],
      [`${R()}/dev/net`, 'tun', IFCHR | 0o666, 10, 200],
    ]);
    expect(chowns.slice(6)).toEqual([
      [`${R()}/dev/fuse`, 1000, 1001],
      [`${R()}/dev/loop0`, 0, 0],
      [`${R()}/dev/fifo`, 0, 0],
      [`${R()}/dev/net/tun`, 0, 0],
    ]);
    expect(fs.statSync(path.join(rootfs, 'dev/net')).isDirectory()).toBe(true);
  });

  it('lets linux.devices override a default node in its place', () => {
    const sys = fakeSys();
    prepareRootfs(sys, plan(base((s) => {
      s.linux.devices = [{ type: 'c', path: '/dev/null', major: 1, minor: 3, fileMode: 0o600 }];
    })));
    const mknods = sys.argsOf('mknodat');
    expect(mknods).toHaveLength(6);
    expect(mknods[0]).toEqual([`${R()}/dev`, 'null', IFCHR | 0o600, 1, 3]);
  });

  it('creates the nodes with umask 0 and restores the previous umask', () => {
    const sys = fakeSys();
    prepareRootfs(sys, plan(base()));
    const names = sys.names();
    expect(names.indexOf('umask')).toBe(names.indexOf('mknodat') - 1);
    expect(names.lastIndexOf('umask')).toBe(names.lastIndexOf('mknodat') + 1);
    expect(sys.argsOf('umask')).toEqual([[0], [0o022]]);
  });

  it('restores the umask when mknod fails, naming the device', () => {
    const sys = fakeSys().failOn('mknodat', Errno.EPERM, { when: (args) => args[1] === 'random' });
    expect(() => prepareRootfs(sys, plan(base()))).toThrow('mknodat (default device /dev/random): EPERM (Operation not permitted)');
    expect(sys.calls.slice(-2)).toEqual([call('mknodat', `${R()}/dev`, 'random', IFCHR | 0o666, 1, 8), call('umask', 0o022)]);
  });

  it('names the linux.devices entry of a failing node', () => {
    const sys = fakeSys().failOn('mknodat', Errno.EPERM, { when: (args) => args[1] === 'fuse' });
    expect(() => prepareRootfs(sys, plan(base((s) => {
      s.linux.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229 }];
    })))).toThrow('mknodat (config.json /linux/devices/0 /dev/fuse): EPERM (Operation not permitted)');
  });

  it('makes a node in place of a symlink at its path and through symlinked directories inside the rootfs', () => {
    const outside = path.join(scratch, 'outside');
    fs.mkdirSync(outside);
    fs.mkdirSync(path.join(rootfs, 'dev'));
    fs.symlinkSync(outside, path.join(rootfs, 'dev/abs'));
    fs.symlinkSync(`../../../../../../..${outside}`, path.join(rootfs, 'dev/rel'));
    fs.symlinkSync(path.join(outside, 'file'), path.join(rootfs, 'dev/last'));
    const sys = fakeSys();
    prepareRootfs(sys, plan(base((s) => {
      s.linux.devices = [
        { type: 'c', path: '/dev/abs/a', major: 1, minor: 3 },
        { type: 'c', path: '/dev/rel/b', major: 1, minor: 3 },
        { type: 'c', path: '/dev/last', major: 1, minor: 3 },
      ];
    })));
    expect(sys.argsOf('mknodat').slice(6).map((a) => [a[0], a[1]])).toEqual([
      [path.join(rootfs, outside), 'a'], [path.join(rootfs, outside), 'b'], [`${R()}/dev`, 'last'],
    ]);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.lstatSync(path.join(rootfs, 'dev/last')).isFile()).toBe(true);
  });

  it('replaces whatever is at a node path', () => {
    fs.mkdirSync(path.join(rootfs, 'dev'));
    fs.writeFileSync(path.join(rootfs, 'dev/null'), 'not a device');
    prepareRootfs(fakeSys(), plan(base()));
    expect(fs.readFileSync(path.join(rootfs, 'dev/null'), 'utf8')).toBe('');
  });

  it('creates no nodes when /dev is a bind mount', () => {
    const hostDev = path.join(scratch, 'host-dev');
    fs.mkdirSync(hostDev);
    const sys = fakeSys();
    prepareRootfs(sys, plan(base((s) => {
      s.mounts = [{ destination: '/dev', source: hostDev, options: ['rbind'] }];
      s.linux.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229 }];
    })));
    expect(sys.calls).toEqual([
      mount(null, '/', null, SLAVE | REC),
      mount(R(), R(), null, BIND | REC),
      mount(hostDev, `${R()}/dev`, null, BIND | REC),
      ...pivotCalls(),
    ]);
    expect(fs.readdirSync(path.join(rootfs, 'dev'))).toEqual([]);
    expect(fs.readdirSync(hostDev)).toEqual([]);
  });
});

describe('createDevices in a user namespace (bindFromHost)', () => {
  const DEFAULT_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

  it('bind-mounts the host node of each path onto an empty file instead of mknod', () => {
    const sys = fakeSys();
    createDevices(sys, rootDir(), [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o600, uid: 1000, gid: 1000 }], true);
    expect(sys.calls).toEqual([
      call('umask', 0),
      ...DEFAULT_NODES.map((n) => mount(`/dev/${n}`, `${R()}/dev/${n}`, null, BIND)),
      mount('/dev/fuse', `${R()}/dev/fuse`, null, BIND),
      call('umask', 0o022),
    ]);
    expect(chowns).toEqual([]);
    for (const n of [...DEFAULT_NODES, 'fuse']) {
      const stat = fs.statSync(path.join(rootfs, 'dev', n));
      expect(stat.isFile()).toBe(true);
      expect(stat.size).toBe(0);
    }
  });

  it('creates the directories of nested paths and replaces whatever was there', () => {
    fs.mkdirSync(path.join(rootfs, 'dev'));
    fs.writeFileSync(path.join(rootfs, 'dev/null'), 'not a device');
    const sys = fakeSys();
    createDevices(sys, rootDir(), [{ path: '/dev/net/tun', type: 'c', major: 10, minor: 200, fileMode: 0o666, uid: 0, gid: 0 }], true);
    expect(fs.readFileSync(path.join(rootfs, 'dev/null'), 'utf8')).toBe('');
    expect(fs.statSync(path.join(rootfs, 'dev/net')).isDirectory()).toBe(true);
    expect(sys.argsOf('mount').at(-1)).toEqual(['/dev/net/tun', `${R()}/dev/net/tun`, null, BIND, null]);
    expect(sys.names()).not.toContain('mknod');
  });

  it('binds a linux.devices entry that overrides a default once, in the default place', () => {
    const sys = fakeSys();
    createDevices(sys, rootDir(), [{ path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o600, uid: 0, gid: 0 }], true);
    expect(sys.argsOf('mount').map((a) => a[0])).toEqual(DEFAULT_NODES.map((n) => `/dev/${n}`));
  });

  it('restores the umask when a bind fails', () => {
    const sys = fakeSys().failOn('mount', Errno.ENOENT, { when: (args) => args[0] === '/dev/full' });
    expect(() => createDevices(sys, rootDir(), [], true)).toThrow(SyscallError);
    expect(sys.calls.slice(-2)).toEqual([mount('/dev/full', `${R()}/dev/full`, null, BIND), call('umask', 0o022)]);
  });

  it('still uses mknod without bindFromHost', () => {
    const sys = fakeSys();
    createDevices(sys, rootDir(), []);
    expect(sys.calls).toEqual(defaultDeviceCalls());
  });

  it('is what prepareRootfs does for a container in a user namespace', () => {
    const sys = fakeSys();
    prepareRootfs(sys, plan(base((s) => {
      s.linux.namespaces = [{ type: 'mount' }, { type: 'user' }];
      s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    })));
    expect(sys.calls).toEqual([
      mount(null, '/', null, SLAVE | REC),
      mount(R(), R(), null, BIND | REC),
      call('umask', 0),
      ...DEFAULT_NODES.map((n) => mount(`/dev/${n}`, `${R()}/dev/${n}`, null, BIND)),
      call('umask', 0o022),
      ...pivotCalls(),
    ]);
  });

  it('bind-mounts the host /sys read-only instead of mounting sysfs in a user namespace without a new network namespace', () => {
    const spec = fixture();
    spec.linux!.namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' }];
    spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const sys = fakeSys().implement('mountFlagsOf', (p) => (p === `${R()}/sys` ? NOSUID | NODEV | NOEXEC | RELATIME : 0));
    prepareRootfs(sys, plan(spec));
    const sysCalls = sys.calls.filter((c) => (c.name === 'mountFlagsOf' ? c.args[0] : c.args[1]) === `${R()}/sys`);
    expect(sysCalls).toEqual([
      mount('/sys', `${R()}/sys`, null, BIND | REC),
      call('mountFlagsOf', `${R()}/sys`),
      mount(null, `${R()}/sys`, null, BIND | REMOUNT | RDONLY | NOSUID | NODEV | NOEXEC | RELATIME),
    ]);
    expect(sys.names()).not.toContain('mknod');
  });
});

describe('finalizeRootfs', () => {
  let roDir: string;
  let roFile: string;
  let maskDir: string;
  let maskFile: string;

  beforeEach(() => {
    roDir = path.join(scratch, 'proc-sys');
    roFile = path.join(scratch, 'sysrq-trigger');
    maskDir = path.join(scratch, 'acpi');
    maskFile = path.join(scratch, 'kcore');
    fs.mkdirSync(roDir);
    fs.writeFileSync(roFile, '');
    fs.mkdirSync(maskDir);
    fs.writeFileSync(maskFile, '');
  });

  function finalPlan(readonly: boolean, readonlyPaths: string[], maskedPaths: string[]): ContainerPlan {
    return plan(base((s) => {
      s.root = { path: rootfs, readonly };
      s.linux.readonlyPaths = readonlyPaths;
      s.linux.maskedPaths = maskedPaths;
    }));
  }

  /** MOUNT_ATTR_RDONLY. */
  const ATTR_RDONLY = 0x1;

  it('attaches a read-only clone on each readonly path, masks masked paths, then remounts / read-only', () => {
    const sys = fakeSys();
    const missing = path.join(scratch, 'missing');
    finalizeRootfs(sys, finalPlan(true, [roDir, missing, roFile], [maskFile, `${missing}/deeper`, maskDir]));
    // Detached trees get the fake's descriptors 100, 101, ...
    expect(sys.calls).toEqual([
      call('cloneTree', roDir, true),
      call('mountSetattrFd', 100, ATTR_RDONLY, 0),
      call('moveMountFd', 100, roDir),
      call('close', 100),
      call('cloneTree', roFile, true),
      call('mountSetattrFd', 101, ATTR_RDONLY, 0),
      call('moveMountFd', 101, roFile),
      call('close', 101),
      call('cloneTree', '/dev/null', false),
      call('moveMountFd', 102, maskFile),
      call('close', 102),
      call('detachedTmpfs', ATTR_RDONLY),
      call('moveMountFd', 103, maskDir),
      call('close', 103),
      call('mountFlagsOf', '/'),
      mount(null, '/', null, BIND | REMOUNT | RDONLY),
    ]);
  });

  it('does not remount / without root.readonly', () => {
    const sys = fakeSys();
    finalizeRootfs(sys, finalPlan(false, [roDir], [maskDir]));
    expect(sys.names()).toEqual(['cloneTree', 'mountSetattrFd', 'moveMountFd', 'close', 'detachedTmpfs', 'moveMountFd', 'close']);
    expect(sys.names()).not.toContain('mountFlagsOf');
  });

  it('sets only the read-only flag on a readonly path (locked flags stay); the root keeps its flags on the remount', () => {
    const sys = fakeSys().implement('mountFlagsOf', (p) => (p === '/' ? NODEV | NOATIME : NOSUID | NODEV | NOEXEC | RELATIME));
    finalizeRootfs(sys, finalPlan(true, [roDir], []));
    expect(sys.argsOf('mountSetattrFd')).toEqual([[100, ATTR_RDONLY, 0]]);
    expect(sys.argsOf('mountFlagsOf')).toEqual([['/']]);
    expect(sys.argsOf('mount')).toEqual([[null, '/', null, BIND | REMOUNT | RDONLY | NODEV | NOATIME, null]]);
  });

  it('skips paths that do not exist and makes no calls for empty lists', () => {
    const sys = fakeSys();
    finalizeRootfs(sys, finalPlan(false, [path.join(scratch, 'nope')], [path.join(scratch, 'nope2'), `${roFile}/under-a-file`]));
    expect(sys.calls).toEqual([]);
    finalizeRootfs(sys, finalPlan(false, [], []));
    expect(sys.calls).toEqual([]);
  });

  it('leaves an entry that is a symlink alone: what it points to is neither masked nor made read-only', () => {
    const linkToDir = path.join(scratch, 'link-dir');
    const linkToFile = path.join(scratch, 'link-file');
    fs.symlinkSync(maskDir, linkToDir);
    fs.symlinkSync(maskFile, linkToFile);
    const sys = fakeSys();
    finalizeRootfs(sys, finalPlan(false, [linkToDir], [linkToDir, linkToFile]));
    expect(sys.calls).toEqual([]);
  });

  it('refuses an entry reached through a symlinked directory, naming it', () => {
    const linkToDir = path.join(scratch, 'link-dir');
    fs.symlinkSync(scratch, linkToDir);
    const message = 'a directory on the way is a symbolic link, which masked and read-only paths never follow';
    expect(() => finalizeRootfs(fakeSys(), finalPlan(false, [], [maskFile, `${linkToDir}/kcore`])))
      .toThrow(`config.json /linux/maskedPaths/1 ${JSON.stringify(`${linkToDir}/kcore`)}: ${message}`);
    const sys = fakeSys();
    expect(() => finalizeRootfs(sys, finalPlan(false, [`${linkToDir}/proc-sys`], [maskFile])))
      .toThrow(`config.json /linux/readonlyPaths/0 ${JSON.stringify(`${linkToDir}/proc-sys`)}: ${message}`);
    expect(sys.calls).toEqual([]);
  });

  it('does all readonly paths before any masked path', () => {
    const sys = fakeSys();
    finalizeRootfs(sys, finalPlan(true, [roFile], [maskDir]));
    expect(sys.argsOf('moveMountFd').map((args) => args[1])).toEqual([roFile, maskDir]);
  });

  it('names the entry of a failing call and closes the detached tree', () => {
    const sys = fakeSys().failOn('moveMountFd', Errno.EPERM);
    expect(() => finalizeRootfs(sys, finalPlan(false, [roDir], []))).toThrow(`moveMountFd (config.json /linux/readonlyPaths/0 ${JSON.stringify(roDir)}): EPERM (Operation not permitted)`);
    expect(sys.calls.at(-1)).toEqual(call('close', 100));
  });

  it('reports a failing remount of the root', () => {
    const sys = fakeSys().failOn('mount', Errno.EROFS, { when: (args) => args[1] === '/' });
    expect(() => finalizeRootfs(sys, finalPlan(true, [], []))).toThrow('mount (config.json /root/readonly): EROFS (Read-only file system)');
  });
});
