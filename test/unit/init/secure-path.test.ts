// resolveInRoot / mkdirAllInRoot on a real temporary tree: symlinks and ".." never lead out of the root.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../src/errors';
import { mkdirAllInRoot, resolveInRoot } from '../../../src/init/secure-path';

let scratch: string;
let root: string;
let outside: string;

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
});

afterEach(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

function link(target: string, at: string): void {
  fs.mkdirSync(path.dirname(path.join(root, at)), { recursive: true });
  fs.symlinkSync(target, path.join(root, at));
}

describe('resolveInRoot', () => {
  it('joins plain paths to the root', () => {
    expect(resolveInRoot(root, '/etc/passwd')).toBe(`${root}/etc/passwd`);
    expect(resolveInRoot(root, 'etc/passwd')).toBe(`${root}/etc/passwd`);
    expect(resolveInRoot(root, '/a/b/c')).toBe(`${root}/a/b/c`);
  });

  it('maps the root itself to the root', () => {
    for (const p of ['/', '', '.', '//', '/./.']) expect(resolveInRoot(root, p)).toBe(root);
  });

  it('drops "." and empty components', () => {
    expect(resolveInRoot(root, '//a/./b//c/.')).toBe(`${root}/a/b/c`);
  });

  it('applies ".." inside the root', () => {
    expect(resolveInRoot(root, '/a/b/../b/c/..')).toBe(`${root}/a/b`);
  });

  it('never climbs above the root with ".."', () => {
    expect(resolveInRoot(root, '/..')).toBe(root);
    expect(resolveInRoot(root, '../../../../etc/passwd')).toBe(`${root}/etc/passwd`);
    expect(resolveInRoot(root, '/a/../../../outside')).toBe(`${root}/outside`);
    expect(resolveInRoot(root, `/../${path.basename(outside)}`)).toBe(`${root}/outside`);
  });

  it('re-roots an absolute symlink', () => {
    link('/usr/bin', 'bin');
    expect(resolveInRoot(root, '/bin/sh')).toBe(`${root}/usr/bin/sh`);
    expect(resolveInRoot(root, '/bin')).toBe(`${root}/usr/bin`);
  });

  it('resolves a symlink to /etc/passwd to the root\'s /etc/passwd', () => {
    link('/etc/passwd', 'a/pw');
    expect(resolveInRoot(root, '/a/pw')).toBe(`${root}/etc/passwd`);
  });

  it('re-roots an absolute symlink that names a real directory outside the root', () => {
    link(outside, 'escape');
    expect(resolveInRoot(root, '/escape/x')).toBe(path.join(root, outside, 'x'));
  });

  it('resolves a relative symlink against the directory holding it', () => {
    link('c', 'a/b/rel');
    expect(resolveInRoot(root, '/a/b/rel')).toBe(`${root}/a/b/c`);
    link('../file', 'a/b/up');
    expect(resolveInRoot(root, '/a/b/up')).toBe(`${root}/a/file`);
  });

  it('keeps a relative symlink with too many ".." inside the root', () => {
    link('../../../../../../..', 'a/b/top');
    expect(resolveInRoot(root, '/a/b/top')).toBe(root);
    expect(resolveInRoot(root, '/a/b/top/etc/passwd')).toBe(`${root}/etc/passwd`);
    link(`../../../../../../..${outside}`, 'a/b/out');
    expect(resolveInRoot(root, '/a/b/out/f')).toBe(path.join(root, outside, 'f'));
  });

  it('follows symlink chains, mixed absolute and relative', () => {
    link('l2', 'l1');
    link('/a/l3', 'l2');
    link('b/c', 'a/l3');
    expect(resolveInRoot(root, '/l1')).toBe(`${root}/a/b/c`);
    expect(resolveInRoot(root, '/l1/d/e')).toBe(`${root}/a/b/c/d/e`);
  });

  it('applies ".." after a symlink to where the symlink led (like the kernel)', () => {
    link('b/c', 'a/deep');
    expect(resolveInRoot(root, '/a/deep/..')).toBe(`${root}/a/b`);
  });

  it('follows a long, finite chain of symlinks', () => {
    for (let i = 0; i < 100; i++) link(`/chain${i + 1}`, `chain${i}`);
    link('/etc', 'chain100');
    expect(resolveInRoot(root, '/chain0/passwd')).toBe(`${root}/etc/passwd`);
  });

  it('refuses a symlink loop', () => {
    link('/loop2', 'loop1');
    link('loop1', 'loop2');
    let thrown: unknown;
    try {
      resolveInRoot(root, '/loop1/x');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RuntimeError);
    expect((thrown as RuntimeError).code).toBe('symlink-loop');
    expect((thrown as RuntimeError).message).toContain('too many levels of symbolic links');
    expect((thrown as RuntimeError).message).toBe(`resolve "/loop1/x" in ${root}: too many levels of symbolic links`);
  });

  it('refuses a symlink to itself', () => {
    link('self', 'self');
    expect(() => resolveInRoot(root, '/self')).toThrow(/too many levels of symbolic links/);
    link('/a/self2/x', 'a/self2');
    expect(() => resolveInRoot(root, '/a/self2')).toThrow(/too many levels of symbolic links/);
  });

  it('appends components that do not exist literally', () => {
    expect(resolveInRoot(root, '/nope/x/y')).toBe(`${root}/nope/x/y`);
    expect(resolveInRoot(root, '/a/b/new')).toBe(`${root}/a/b/new`);
    expect(resolveInRoot(root, '/nope/../etc')).toBe(`${root}/etc`);
  });

  it('follows a dangling symlink to where its target would be', () => {
    link('/var/lib/missing', 'dangling');
    expect(resolveInRoot(root, '/dangling/file')).toBe(`${root}/var/lib/missing/file`);
  });

  it('reads nothing outside the root', () => {
    const seen: string[] = [];
    link('/etc/passwd', 'a/pw');
    link('../../../..', 'a/b/top');
    const lstat = ((p: string) => {
      seen.push(p);
      return fs.lstatSync(p);
    }) as typeof fs.lstatSync;
    resolveInRoot(root, '/a/pw', lstat);
    resolveInRoot(root, '/a/b/top/../../etc', lstat);
    expect(seen.length).toBeGreaterThan(0);
    for (const p of seen) expect(p.startsWith(`${root}/`)).toBe(true);
  });

  it('uses the lstat and readlink it is given', () => {
    const symlinks: Record<string, string> = { [`${root}/x`]: '/y/z' };
    const lstat = ((p: string) => {
      if (!(p in symlinks)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return { isSymbolicLink: () => true };
    }) as unknown as typeof fs.lstatSync;
    const readlink = ((p: string) => symlinks[p]!) as unknown as typeof fs.readlinkSync;
    expect(resolveInRoot(root, '/x/w', lstat, readlink)).toBe(`${root}/y/z/w`);
  });

  it('passes on lstat errors other than ENOENT', () => {
    const lstat = (() => {
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    }) as unknown as typeof fs.lstatSync;
    expect(() => resolveInRoot(root, '/etc', lstat)).toThrow('EACCES: permission denied');
  });
});

describe('mkdirAllInRoot', () => {
  it('creates every missing directory and returns the host path', () => {
    const made = mkdirAllInRoot(root, '/var/lib/data');
    expect(made).toBe(`${root}/var/lib/data`);
    expect(fs.statSync(made).isDirectory()).toBe(true);
  });

  it('accepts a directory that exists', () => {
    expect(mkdirAllInRoot(root, '/a/b/c')).toBe(`${root}/a/b/c`);
    expect(fs.statSync(`${root}/a/b/c`).isDirectory()).toBe(true);
  });

  it('uses the given mode', () => {
    const made = mkdirAllInRoot(root, '/private', 0o700);
    expect(fs.statSync(made).mode & 0o777).toBe(0o700);
  });

  it('creates inside the root through an absolute symlink to a directory outside', () => {
    link(outside, 'escape');
    const made = mkdirAllInRoot(root, '/escape/sub/dir');
    expect(made).toBe(path.join(root, outside, 'sub', 'dir'));
    expect(fs.statSync(made).isDirectory()).toBe(true);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('creates inside the root through a relative symlink that climbs out', () => {
    link(`../../../../../../../..${outside}`, 'a/climb');
    const made = mkdirAllInRoot(root, '/a/climb/new');
    expect(made).toBe(path.join(root, outside, 'new'));
    expect(fs.existsSync(made)).toBe(true);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('creates inside the root for ".." in the path itself', () => {
    const made = mkdirAllInRoot(root, `/../../..${outside}/evil`);
    expect(made).toBe(path.join(root, outside, 'evil'));
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.readdirSync(scratch).sort()).toEqual(['outside', 'root']);
  });

  it('refuses a symlink loop without creating anything', () => {
    link('/loop', 'loop');
    expect(() => mkdirAllInRoot(root, '/loop/x')).toThrow(RuntimeError);
    expect(fs.readdirSync(root).sort()).toEqual(['a', 'etc', 'loop', 'usr']);
  });
});
