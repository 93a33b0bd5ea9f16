// lookPath: finding process.args[0] like a shell, with the exit codes podman and docker expect (127, 126).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_PATH, lookPath } from '../../../src/init/look-path';
import { errorOf } from '../../helpers/errors';

let dir: string;

beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-look-path-')));
  for (const d of ['a', 'b', 'c']) fs.mkdirSync(path.join(dir, d));
});

afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Creates <dir>/<rel> with the given mode (chmod, so the umask does not interfere). */
function file(rel: string, mode: number): string {
  const p = path.join(dir, rel);
  fs.writeFileSync(p, '#!/bin/sh\n');
  fs.chmodSync(p, mode);
  return p;
}

function pathEnv(...dirs: string[]): string {
  return `PATH=${dirs.map((d) => path.join(dir, d)).join(':')}`;
}

describe('lookPath: PATH search', () => {
  it('returns the first executable in PATH order', () => {
    file('b/tool', 0o755);
    file('c/tool', 0o755);
    expect(lookPath('tool', [pathEnv('a', 'b', 'c')])).toBe(path.join(dir, 'b/tool'));
    expect(lookPath('tool', [pathEnv('c', 'b')])).toBe(path.join(dir, 'c/tool'));
  });

  it('accepts any execute bit', () => {
    file('a/u', 0o700);
    file('a/g', 0o610);
    file('a/o', 0o601);
    for (const name of ['u', 'g', 'o']) expect(lookPath(name, [pathEnv('a')])).toBe(path.join(dir, 'a', name));
  });

  it('uses the last PATH= entry of the environment', () => {
    file('a/tool', 0o755);
    file('b/tool', 0o755);
    expect(lookPath('tool', [pathEnv('a'), 'HOME=/root', pathEnv('b')])).toBe(path.join(dir, 'b/tool'));
    expect(lookPath('tool', [pathEnv('b'), pathEnv('a'), 'TERM=xterm'])).toBe(path.join(dir, 'a/tool'));
  });

  it('does not take MYPATH= or path= for PATH=', () => {
    file('a/tool', 0o755);
    file('b/tool', 0o755);
    expect(lookPath('tool', [pathEnv('a'), `MY${pathEnv('b')}`, `${pathEnv('b').replace('PATH', 'path')}`])).toBe(path.join(dir, 'a/tool'));
  });

  it('skips a directory named like the command', () => {
    fs.mkdirSync(path.join(dir, 'a/tool'));
    file('b/tool', 0o755);
    expect(lookPath('tool', [pathEnv('a', 'b')])).toBe(path.join(dir, 'b/tool'));
  });

  it('skips a file without execute bits when a later one is executable', () => {
    file('a/tool', 0o644);
    file('b/tool', 0o755);
    expect(lookPath('tool', [pathEnv('a', 'b')])).toBe(path.join(dir, 'b/tool'));
  });

  it('follows symlinks to executables', () => {
    const target = file('c/real', 0o755);
    fs.symlinkSync(target, path.join(dir, 'a/tool'));
    expect(lookPath('tool', [pathEnv('a')])).toBe(path.join(dir, 'a/tool'));
  });

  it('searches the default PATH when the environment has none', () => {
    const tried: string[] = [];
    vi.spyOn(fs, 'statSync').mockImplementation(((p: fs.PathLike) => {
      tried.push(String(p));
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    }) as typeof fs.statSync);
    const e = errorOf(() => lookPath('tool', ['HOME=/root']));
    expect(e.exitCode).toBe(127);
    expect(DEFAULT_PATH).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(tried).toEqual(DEFAULT_PATH.split(':').map((d) => `${d}/tool`));
  });

  it('returns the hit from the default PATH', () => {
    vi.spyOn(fs, 'statSync').mockImplementation(((p: fs.PathLike) => {
      if (String(p) === '/usr/bin/tool') return { isFile: () => true, isDirectory: () => false, mode: 0o100755 };
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    }) as unknown as typeof fs.statSync);
    expect(lookPath('tool', [])).toBe('/usr/bin/tool');
  });

  it('treats an empty PATH entry as the current directory', () => {
    const tried: string[] = [];
    vi.spyOn(fs, 'statSync').mockImplementation(((p: fs.PathLike) => {
      tried.push(String(p));
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    }) as typeof fs.statSync);
    errorOf(() => lookPath('tool', ['PATH=/x::/y']));
    expect(tried).toEqual(['/x/tool', 'tool', '/y/tool']);
  });

  it('reports a missing command with 127 and the exact message', () => {
    const e = errorOf(() => lookPath('x', [pathEnv('a', 'b')]));
    expect(e.exitCode).toBe(127);
    expect(e.code).toBe('exec-not-found');
    expect(e.message).toBe('exec: "x": executable file not found in $PATH');
  });

  it('reports a command found only without execute bits with 126, permission denied', () => {
    file('b/tool', 0o644);
    const e = errorOf(() => lookPath('tool', [pathEnv('a', 'b', 'c')]));
    expect(e.exitCode).toBe(126);
    expect(e.code).toBe('exec-denied');
    expect(e.message).toBe('exec: "tool": permission denied');
  });

  // regression test (was a bug): src/init/look-path.ts isExecutableFile returns 'denied' for a directory, so a directory named like
  // the command is not skipped when nothing else matches: lookPath throws 126 "permission denied" instead of
  // 127 "executable file not found in $PATH" (what a shell and Go's exec.LookPath, used by runc, report).
  it('reports a command that exists only as a directory in PATH as not found (127)', () => {
    fs.mkdirSync(path.join(dir, 'a/tool'));
    const e = errorOf(() => lookPath('tool', [pathEnv('a')]));
    expect(e.exitCode).toBe(127);
    expect(e.message).toBe('exec: "tool": executable file not found in $PATH');
  });
});

describe('lookPath: names with a slash', () => {
  it('uses an executable as given, without searching PATH', () => {
    const p = file('c/tool', 0o755);
    file('a/tool', 0o755);
    expect(lookPath(p, [pathEnv('a')])).toBe(p);
  });

  it('reports a missing file with 127 and the stat error', () => {
    const p = path.join(dir, 'a/nope');
    const e = errorOf(() => lookPath(p, [pathEnv('a')]));
    expect(e.exitCode).toBe(127);
    expect(e.code).toBe('exec-not-found');
    expect(e.message).toBe(`exec: "${p}": stat ${p}: no such file or directory`);
  });

  it('reports a file without execute bits with 126', () => {
    const p = file('a/data', 0o644);
    const e = errorOf(() => lookPath(p, []));
    expect(e.exitCode).toBe(126);
    expect(e.message).toBe(`exec: "${p}": permission denied`);
  });

  it('reports a directory with 126', () => {
    const p = path.join(dir, 'b');
    const e = errorOf(() => lookPath(p, []));
    expect(e.exitCode).toBe(126);
    expect(e.message).toBe(`exec: "${p}": permission denied`);
  });

  it('does not search PATH for a relative name with a slash', () => {
    file('a/tool', 0o755);
    const e = errorOf(() => lookPath('a/tool-missing', [pathEnv('a')]));
    expect(e.exitCode).toBe(127);
    expect(e.message).toBe('exec: "a/tool-missing": stat a/tool-missing: no such file or directory');
  });
});
