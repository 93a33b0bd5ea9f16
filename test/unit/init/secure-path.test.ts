// openInRoot / mkdirAllInRoot / ensureFileInRoot / openParentInRoot on a real temporary tree, through real
// openat2(RESOLVE_IN_ROOT) calls (they need no privilege): symlinks and ".." never lead out of the root, and
// nothing is ever created outside it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../src/errors';
import {
  checkMountedOn, ensureFileInRoot, fdPath, mkdirAllInRoot, mountIdOf, openInRoot, openParentInRoot, openRootDir, procFd, reopenMounted,
  type RootDir,
} from '../../../src/init/secure-path';
import { OpenFlags } from '../../../src/linux/constants';
import { Errno, SyscallError } from '../../../src/linux/errno';
import { parseMountInfo } from '../../../src/linux/proc-parsers';

let scratch: string;
let root: string;
let outside: string;
let rootDir: RootDir;
let opened: number[];

beforeEach(() => {
  scratch = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-secure-path-')));
  root = path.join(scratch, 'root');
  outside = path.join(scratch, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  // root/
  //   etc/passwd  usr/bin/sh  a/b/c/  a/file
  for (const dir of ['etc', 'usr/bin', 'a/b/c']) fs.mkdirSync(path.join(root, dir), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  fs.writeFileSync(path.join(root, 'usr/bin/sh'), '');
  fs.writeFileSync(path.join(root, 'a/file'), '');
  rootDir = openRootDir(root);
  opened = [rootDir.fd];
});

afterEach(() => {
  for (const fd of opened) fs.closeSync(fd);
  fs.rmSync(scratch, { recursive: true, force: true });
});

function link(target: string, at: string): void {
  fs.mkdirSync(path.dirname(path.join(root, at)), { recursive: true });
  fs.symlinkSync(target, path.join(root, at));
}

/** Keeps the descriptor for afterEach to close and returns where it is. */
function where(fd: number): string {
  opened.push(fd);
  return fdPath(fd);
}

const resolve = (p: string, flags = 0) => where(openInRoot(rootDir.fd, p, flags));

function errnoOf(fn: () => unknown): number | undefined {
  try {
    opened.push(fn() as number);
  } catch (error) {
    return error instanceof SyscallError ? error.errno : -1;
  }
  return undefined;
}

describe('openRootDir', () => {
  it('holds the rootfs and names it as the kernel does', () => {
    expect(rootDir.path).toBe(root);
    expect(fs.fstatSync(rootDir.fd).isDirectory()).toBe(true);
    expect(fs.readlinkSync(procFd(rootDir.fd))).toBe(root);
  });
});

describe('openInRoot', () => {
  it('opens plain paths under the root', () => {
    expect(resolve('/etc/passwd')).toBe(`${root}/etc/passwd`);
    expect(resolve('etc/passwd')).toBe(`${root}/etc/passwd`);
    expect(resolve('/a/b/c')).toBe(`${root}/a/b/c`);
  });

  it('opens O_PATH descriptors that close on exec', () => {
    const fd = openInRoot(rootDir.fd, '/etc/passwd');
    opened.push(fd);
    expect(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')).toMatch(/^flags:\s*0*12[0-7]{6}$/m); // O_PATH | O_CLOEXEC
  });

  it('maps the root itself to the root', () => {
    for (const p of ['/', '', '.', '//', '/./.']) expect(resolve(p)).toBe(root);
  });

  it('applies ".." inside the root and never climbs above it', () => {
    expect(resolve('/a/b/../b/c/..')).toBe(`${root}/a/b`);
    expect(resolve('/..')).toBe(root);
    expect(resolve('../../../../etc/passwd')).toBe(`${root}/etc/passwd`);
    expect(errnoOf(() => openInRoot(rootDir.fd, `/../${path.basename(outside)}`))).toBe(Errno.ENOENT);
  });

  it('re-roots absolute symlinks, also one naming a real directory outside the root', () => {
    link('/usr/bin', 'bin');
    expect(resolve('/bin/sh')).toBe(`${root}/usr/bin/sh`);
    link('/etc/passwd', 'a/pw');
    expect(resolve('/a/pw')).toBe(`${root}/etc/passwd`);
    link(outside, 'escape');
    expect(errnoOf(() => openInRoot(rootDir.fd, '/escape'))).toBe(Errno.ENOENT);
  });

  it('resolves relative symlinks against their directory, with too many ".." kept in the root', () => {
    link('c', 'a/b/rel');
    expect(resolve('/a/b/rel')).toBe(`${root}/a/b/c`);
    link('../file', 'a/b/up');
    expect(resolve('/a/b/up')).toBe(`${root}/a/file`);
    link('../../../../../../..', 'a/b/top');
    expect(resolve('/a/b/top/etc/passwd')).toBe(`${root}/etc/passwd`);
  });

  it('applies ".." after a symlink to where the symlink led (like any lookup)', () => {
    link('b/c', 'a/deep');
    expect(resolve('/a/deep/..')).toBe(`${root}/a/b`);
  });

  it('opens a last component that is a symlink itself with O_NOFOLLOW', () => {
    link('/etc/passwd', 'a/pw');
    const fd = openInRoot(rootDir.fd, '/a/pw', OpenFlags.NOFOLLOW);
    opened.push(fd);
    expect(fs.fstatSync(fd).isSymbolicLink()).toBe(true);
    expect(fdPath(fd)).toBe(`${root}/a/pw`);
  });

  it('refuses symlink loops with ELOOP', () => {
    link('/loop2', 'loop1');
    link('loop1', 'loop2');
    expect(errnoOf(() => openInRoot(rootDir.fd, '/loop1/x'))).toBe(Errno.ELOOP);
    link('self', 'self');
    expect(errnoOf(() => openInRoot(rootDir.fd, '/self'))).toBe(Errno.ELOOP);
  });

  it('reports ENOTDIR for a file on the way and with O_DIRECTORY', () => {
    expect(errnoOf(() => openInRoot(rootDir.fd, '/etc/passwd/x'))).toBe(Errno.ENOTDIR);
    expect(errnoOf(() => openInRoot(rootDir.fd, '/etc/passwd', OpenFlags.DIRECTORY))).toBe(Errno.ENOTDIR);
  });

  it('names the path and the errno in its error', () => {
    expect(() => openInRoot(rootDir.fd, '/nope')).toThrow(`openat2 "nope" (at fd ${rootDir.fd}): ENOENT (No such file or directory)`);
  });
});

describe('mkdirAllInRoot', () => {
  it('creates every missing directory and returns a descriptor of the last', () => {
    const fd = mkdirAllInRoot(rootDir.fd, '/var/lib/data');
    expect(where(fd)).toBe(`${root}/var/lib/data`);
    expect(fs.fstatSync(fd).isDirectory()).toBe(true);
  });

  it('accepts a directory that exists, and the root itself', () => {
    expect(where(mkdirAllInRoot(rootDir.fd, '/a/b/c'))).toBe(`${root}/a/b/c`);
    expect(where(mkdirAllInRoot(rootDir.fd, '/'))).toBe(root);
  });

  it('uses the given mode', () => {
    where(mkdirAllInRoot(rootDir.fd, '/private/inner', 0o700));
    expect(fs.statSync(`${root}/private`).mode & 0o777).toBe(0o700);
    expect(fs.statSync(`${root}/private/inner`).mode & 0o777).toBe(0o700);
  });

  it('creates inside the root through an absolute symlink to a directory outside', () => {
    link(outside, 'escape');
    expect(where(mkdirAllInRoot(rootDir.fd, '/escape/sub/dir'))).toBe(path.join(root, outside, 'sub', 'dir'));
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('creates inside the root through a relative symlink that climbs out', () => {
    link(`../../../../../../../..${outside}`, 'a/climb');
    expect(where(mkdirAllInRoot(rootDir.fd, '/a/climb/new'))).toBe(path.join(root, outside, 'new'));
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('creates inside the root for ".." in the path itself', () => {
    expect(where(mkdirAllInRoot(rootDir.fd, `/../../..${outside}/evil`))).toBe(path.join(root, outside, 'evil'));
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.readdirSync(scratch).sort()).toEqual(['outside', 'root']);
  });

  it('creates the directory a dangling symlink names, inside the root', () => {
    link('/var/lib/missing', 'dangling');
    expect(where(mkdirAllInRoot(rootDir.fd, '/dangling/file'))).toBe(`${root}/var/lib/missing/file`);
    link(`${outside}/gone`, 'dangling-out');
    expect(where(mkdirAllInRoot(rootDir.fd, '/dangling-out'))).toBe(path.join(root, outside, 'gone'));
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('follows a long, finite chain of dangling symlinks', () => {
    for (let i = 0; i < 30; i++) link(`/chain${i + 1}`, `chain${i}`);
    expect(where(mkdirAllInRoot(rootDir.fd, '/chain0/x'))).toBe(`${root}/chain30/x`);
  });

  it('refuses a dangling symlink loop without creating anything outside', () => {
    link('/loop/x', 'loop');
    expect(errnoOf(() => mkdirAllInRoot(rootDir.fd, '/loop/y'))).toBe(Errno.ELOOP);
    expect(fs.readdirSync(root).sort()).toEqual(['a', 'etc', 'loop', 'usr']);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('refuses a file in the way', () => {
    expect(errnoOf(() => mkdirAllInRoot(rootDir.fd, '/etc/passwd/x'))).toBe(Errno.ENOTDIR);
    expect(errnoOf(() => mkdirAllInRoot(rootDir.fd, '/etc/passwd'))).toBe(Errno.ENOTDIR);
  });
});

describe('ensureFileInRoot', () => {
  it('creates the missing directories and an empty 0644 file', () => {
    const fd = ensureFileInRoot(rootDir.fd, '/etc/new/hosts');
    expect(where(fd)).toBe(`${root}/etc/new/hosts`);
    const stat = fs.statSync(`${root}/etc/new/hosts`);
    expect(stat.isFile()).toBe(true);
    expect(stat.size).toBe(0);
    expect(stat.mode & 0o777 & ~0o644).toBe(0); // 0644, less what the umask takes
  });

  it('leaves an existing file as it is', () => {
    expect(where(ensureFileInRoot(rootDir.fd, '/etc/passwd'))).toBe(`${root}/etc/passwd`);
    expect(fs.readFileSync(`${root}/etc/passwd`, 'utf8')).toContain('root:x:0:0');
  });

  it('creates the file a dangling symlink names, with its directories, inside the root', () => {
    fs.symlinkSync('../run/systemd/resolve/stub-resolv.conf', `${root}/etc/resolv.conf`);
    expect(where(ensureFileInRoot(rootDir.fd, '/etc/resolv.conf'))).toBe(`${root}/run/systemd/resolve/stub-resolv.conf`);
    expect(fs.statSync(`${root}/run/systemd/resolve/stub-resolv.conf`).isFile()).toBe(true);
    link(`${outside}/f`, 'etc/out');
    expect(where(ensureFileInRoot(rootDir.fd, '/etc/out'))).toBe(path.join(root, outside, 'f'));
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('returns a directory that is already there (the mount then refuses a file onto it)', () => {
    const fd = ensureFileInRoot(rootDir.fd, '/a/b');
    opened.push(fd);
    expect(fs.fstatSync(fd).isDirectory()).toBe(true);
  });
});

describe('openParentInRoot', () => {
  it('creates and opens the directory of the last component, which is not followed', () => {
    link(outside, 'escape');
    const { dirFd, name } = openParentInRoot(rootDir.fd, '/dev/net/tun');
    expect(where(dirFd)).toBe(`${root}/dev/net`);
    expect(name).toBe('tun');
    const last = openParentInRoot(rootDir.fd, '/escape');
    expect(where(last.dirFd)).toBe(root);
    expect(last.name).toBe('escape');
  });

  it('follows symlinked directories on the way inside the root', () => {
    link(`../../../..${outside}`, 'a/up');
    const { dirFd, name } = openParentInRoot(rootDir.fd, '/a/up/node');
    expect(where(dirFd)).toBe(path.join(root, outside));
    expect(name).toBe('node');
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('refuses a path without a last component', () => {
    for (const p of ['/', '/a/..']) expect(() => openParentInRoot(rootDir.fd, p)).toThrow(RuntimeError);
  });
});

describe('reopenMounted', () => {
  it('finds a directory again by its name in its parent, also after the directories above were renamed', () => {
    const target = openInRoot(rootDir.fd, '/a/b/c', OpenFlags.DIRECTORY);
    opened.push(target);
    fs.renameSync(`${root}/a`, `${root}/moved`);
    const again = reopenMounted(rootDir, target);
    expect(where(again)).toBe(`${root}/moved/b/c`);
    expect(fs.fstatSync(again).ino).toBe(fs.fstatSync(target).ino);
  });

  it('finds a file again by the path the kernel gives it', () => {
    const target = openInRoot(rootDir.fd, '/etc/passwd');
    opened.push(target);
    expect(where(reopenMounted(rootDir, target))).toBe(`${root}/etc/passwd`);
  });

  it('follows the entry itself, not its old name, when a symlink took its place', () => {
    const target = openInRoot(rootDir.fd, '/a/b/c', OpenFlags.DIRECTORY);
    opened.push(target);
    fs.renameSync(`${root}/a/b/c`, `${root}/elsewhere`);
    fs.symlinkSync(outside, `${root}/a/b/c`);
    expect(where(reopenMounted(rootDir, target))).toBe(`${root}/elsewhere`);
  });

  it('fails for an entry that was removed', () => {
    fs.writeFileSync(`${root}/gone`, '');
    const target = openInRoot(rootDir.fd, '/gone');
    opened.push(target);
    fs.rmSync(`${root}/gone`);
    expect(errnoOf(() => reopenMounted(rootDir, target))).toBe(Errno.ENOENT);
  });
});

describe('mountIdOf and checkMountedOn', () => {
  it('reads the mount ID of a descriptor as mountinfo numbers it', () => {
    const fd = fs.openSync('/proc', OpenFlags.PATH | OpenFlags.CLOEXEC);
    opened.push(fd);
    const proc = parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).filter((e) => e.mountPoint === '/proc').at(-1);
    expect(mountIdOf(fd)).toBe(proc!.mountId);
  });

  it('refuses when nothing was mounted on the target', () => {
    const target = openInRoot(rootDir.fd, '/a/b', OpenFlags.DIRECTORY);
    const again = openInRoot(rootDir.fd, '/a/b', OpenFlags.DIRECTORY);
    opened.push(target, again);
    expect(() => checkMountedOn(again, target, root)).toThrow(`the mount on ${root}/a/b is not confirmed inside the rootfs ${root}: no new mount is there`);
  });

  it('refuses a target outside the root', () => {
    const target = fs.openSync(outside, OpenFlags.PATH | OpenFlags.CLOEXEC);
    opened.push(target);
    expect(() => checkMountedOn(target, target, root)).toThrow(`the mount on ${outside} is not confirmed inside the rootfs ${root}: the mount point is outside it`);
    // A sibling whose name starts like the root is not inside it either.
    fs.mkdirSync(`${root}-other`);
    const sibling = fs.openSync(`${root}-other`, OpenFlags.PATH | OpenFlags.CLOEXEC);
    opened.push(sibling);
    expect(() => checkMountedOn(sibling, sibling, root)).toThrow('the mount point is outside it');
  });

  it('refuses when the destination looked up again is somewhere else', () => {
    const target = openInRoot(rootDir.fd, '/a/b', OpenFlags.DIRECTORY);
    const other = openInRoot(rootDir.fd, '/a/b/c', OpenFlags.DIRECTORY);
    opened.push(target, other);
    expect(() => checkMountedOn(other, target, root)).toThrow(`looking it up again leads to ${root}/a/b/c`);
  });
});
