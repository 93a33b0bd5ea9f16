import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { integrationSkipReason, Sandbox, TSRUN } from '../helpers/tsrun';

describe.skipIf(integrationSkipReason !== undefined)(`descriptors passed to the container${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox('tsrun-fds');
  });
  afterEach(() => {
    sb.cleanup();
  });

  function runWithFds(args: string[], extra: number[], env: NodeJS.ProcessEnv = process.env, viaShell = false) {
    const out = path.join(sb.dir, 'out');
    const outFd = fs.openSync(out, 'w');
    try {
      const argv = ['--root', sb.root, ...args];
      const r = viaShell
        ? spawnSync('/bin/sh', ['-c', 'LISTEN_PID=$$ exec "$0" "$@"', TSRUN, ...argv], { stdio: ['ignore', outFd, 'pipe', ...extra], env, encoding: 'utf8' })
        : spawnSync(TSRUN, argv, { stdio: ['ignore', outFd, 'pipe', ...extra], env, encoding: 'utf8' });
      return { status: r.status, stderr: r.stderr, stdout: fs.readFileSync(out, 'utf8') };
    } finally {
      fs.closeSync(outFd);
    }
  }

  it('--preserve-fds hands fds 3.. to the container and nothing else', () => {
    const file = path.join(sb.dir, 'through-fd3');
    const fd3 = fs.openSync(file, 'w');
    const fd4 = fs.openSync('/dev/null', 'r');
    try {
      const script = 'echo via-fd3 >&3; ls /proc/self/fd | tr "\\n" " "';
      const r = runWithFds(['run', '--preserve-fds', '2', '-b', sb.bundle(sb.config(['sh', '-c', script])), sb.newId()], [fd3, fd4]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      // ls's own directory fd is the one extra entry.
      expect(r.stdout.trim().split(' ').map(Number).filter((fd) => fd <= 4)).toEqual([0, 1, 2, 3, 4]);
      expect(r.stdout.trim().split(' ')).toHaveLength(6);
      expect(fs.readFileSync(file, 'utf8')).toBe('via-fd3\n');
    } finally {
      fs.closeSync(fd3);
      fs.closeSync(fd4);
    }
  });

  it('without --preserve-fds the container gets only 0-2, even when tsrun has more open', () => {
    const fd3 = fs.openSync('/dev/null', 'r');
    try {
      const r = runWithFds(['run', '-b', sb.bundle(sb.config(['sh', '-c', 'ls /proc/self/fd | tr "\\n" " "'])), sb.newId()], [fd3]);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim().split(' ')).toHaveLength(4); // 0 1 2 and ls's directory fd
    } finally {
      fs.closeSync(fd3);
    }
  });

  it('a --preserve-fds count beyond what the caller passed is refused', () => {
    const id = sb.newId();
    const r = runWithFds(['run', '--preserve-fds', '3', '-b', sb.bundle(sb.config(['true'])), id], []);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^--preserve-fds: fd 3 (is not open|was not passed by the caller .*)$/);
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('socket activation: LISTEN_FDS descriptors are passed and announced as runc does', () => {
    const fd3 = fs.openSync('/dev/null', 'r');
    try {
      const script = 'echo $LISTEN_FDS $LISTEN_PID; ls /proc/self/fd | tr "\\n" " "';
      const r = runWithFds(['run', '-b', sb.bundle(sb.config(['sh', '-c', script])), sb.newId()], [fd3], { ...process.env, LISTEN_FDS: '1' }, true);
      expect(r.stderr).toBe('');
      const [announce, fds] = r.stdout.trim().split('\n');
      expect(announce).toBe('1 1');
      expect(fds!.trim().split(' ')).toHaveLength(5);
    } finally {
      fs.closeSync(fd3);
    }
  });
});
