import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { F_GETFD, F_SETFD, FD_CLOEXEC } from '../../../src/linux/constants';
import { SyscallError } from '../../../src/linux/errno';
import { fn } from '../../../src/linux/libc';
import {
  dupOntoStdio, getMode, getWindowSize, makeControllingTerminal, openPty, openPtySlave, restoreMode, setRawMode,
  setWindowSize, TERMIOS_SIZE,
} from '../../../src/linux/pty';
import { createSys } from '../../../src/linux/sys';
import { errorOf } from '../../helpers/errors';

const sys = createSys();
const openFds: number[] = [];
const tempDirs: string[] = [];

function track(fd: number): number {
  openFds.push(fd);
  return fd;
}

afterEach(() => {
  for (const fd of openFds.splice(0)) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed by the test
    }
  }
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A pty pair, both ends tracked. */
function pair(): { master: number; slave: number; slavePath: string } {
  const { master, slavePath } = openPty();
  track(master);
  const slave = track(openPtySlave(slavePath));
  return { master, slave, slavePath };
}

/** Reads what is available on `fd` within 2 s (poll first, so a missing byte fails the test instead of hanging). */
function readAvailable(fd: number, expectedLength: number): string {
  let text = '';
  const deadline = Date.now() + 2000;
  while (text.length < expectedLength && Date.now() < deadline) {
    const [revents] = sys.poll([fd], Math.max(1, deadline - Date.now()));
    if (!revents) break;
    const buffer = Buffer.alloc(256);
    const n = fs.readSync(fd, buffer, 0, buffer.length, null);
    if (n === 0) break;
    text += buffer.toString('utf8', 0, n);
  }
  return text;
}

function fdFlags(fd: number): number {
  return sys.fcntl(fd, F_GETFD, 0);
}

describe('openPty', () => {
  it('returns a close-on-exec master and the /dev/pts/N path of its slave', () => {
    const { master, slavePath } = openPty();
    track(master);
    expect(master).toBeGreaterThanOrEqual(0);
    expect(slavePath).toMatch(/^\/dev\/pts\/\d+$/);
    expect(fs.statSync(slavePath).isCharacterDevice()).toBe(true);
    expect(fdFlags(master) & FD_CLOEXEC).toBe(FD_CLOEXEC);
  });

  it('gives a different slave for each call', () => {
    const first = pair();
    const second = pair();
    expect(first.slavePath).not.toBe(second.slavePath);
  });

  it('passes what is written to the slave through the line discipline to the master', () => {
    const { master, slave } = pair();
    expect(fdFlags(slave) & FD_CLOEXEC).toBe(FD_CLOEXEC);
    fs.writeSync(slave, 'hello\n');
    expect(readAvailable(master, 7)).toBe('hello\r\n');
  });

  it('passes what is written to the master to the slave as input', () => {
    const { master, slave } = pair();
    fs.writeSync(master, 'line\n');
    expect(readAvailable(slave, 5)).toBe('line\n');
  });
});

describe('openPtySlave', () => {
  it('fails with a SyscallError naming the path', () => {
    const error = errorOf(() => openPtySlave('/dev/pts/does-not-exist'));
    expect(error).toBeInstanceOf(SyscallError);
    expect((error as SyscallError).errno).toBe(2);
    expect(error.message).toContain('/dev/pts/does-not-exist');
  });
});

describe('window size', () => {
  it('round-trips through the master and is visible on the slave', () => {
    const { master, slave } = pair();
    setWindowSize(master, 24, 80);
    expect(getWindowSize(master)).toEqual({ rows: 24, cols: 80 });
    expect(getWindowSize(slave)).toEqual({ rows: 24, cols: 80 });
    setWindowSize(slave, 65535, 1);
    expect(getWindowSize(master)).toEqual({ rows: 65535, cols: 1 });
  });

  it('rejects sizes that do not fit an unsigned short', () => {
    const { master } = pair();
    expect(errorOf(() => setWindowSize(master, 70000, 80)).message).toContain('rows');
    expect(errorOf(() => setWindowSize(master, 24, -1)).message).toContain('columns');
  });

  it('reports ENOTTY on something that is not a terminal', () => {
    const [readEnd, writeEnd] = sys.pipe();
    track(readEnd);
    track(writeEnd);
    const error = errorOf(() => getWindowSize(readEnd));
    expect(error).toBeInstanceOf(SyscallError);
    expect((error as SyscallError).errno).toBe(25);
    expect(error.message).toContain('TIOCGWINSZ');
    expect(errorOf(() => setWindowSize(readEnd, 1, 1)).message).toContain('TIOCSWINSZ');
  });
});

describe('setRawMode / restoreMode', () => {
  it('switches off the line discipline and puts the saved settings back', () => {
    const { master, slave } = pair();
    const before = getMode(slave);
    expect(before.termios.length).toBe(TERMIOS_SIZE);

    const saved = setRawMode(slave);
    expect(saved.termios.equals(before.termios)).toBe(true);
    expect(getMode(slave).termios.equals(before.termios)).toBe(false);
    fs.writeSync(slave, 'raw\n'); // no ONLCR in raw mode
    expect(readAvailable(master, 4)).toBe('raw\n');

    restoreMode(slave, saved);
    expect(getMode(slave).termios.equals(before.termios)).toBe(true);
    fs.writeSync(slave, 'cooked\n');
    expect(readAvailable(master, 8)).toBe('cooked\r\n');
  });

  it('fails with ENOTTY on a pipe', () => {
    const [readEnd, writeEnd] = sys.pipe();
    track(readEnd);
    track(writeEnd);
    const error = errorOf(() => setRawMode(readEnd));
    expect((error as SyscallError).errno).toBe(25);
    expect(error.message).toContain('tcgetattr');
  });

  it('refuses a saved mode of the wrong size', () => {
    const { slave } = pair();
    expect(errorOf(() => restoreMode(slave, { termios: Buffer.alloc(10) })).message).toContain('10 bytes');
  });
});

describe('makeControllingTerminal', () => {
  it('needs a session leader (EPERM otherwise)', () => {
    const getsid = fn('int getsid(int)');
    if ((getsid(0) as number) === process.pid) return; // the test runner made this worker a session leader
    const { slave } = pair();
    const error = errorOf(() => makeControllingTerminal(slave));
    expect(error).toBeInstanceOf(SyscallError);
    expect((error as SyscallError).errno).toBe(1);
    expect(error.message).toContain('TIOCSCTTY');
  });
});

describe('dupOntoStdio', () => {
  it('makes 0, 1 and 2 refer to the fd, not close-on-exec, and leaves the fd open', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-pty-'));
    tempDirs.push(dir);
    const file = path.join(dir, 'out');
    const fd = track(fs.openSync(file, 'w+'));
    const dup2 = fn('int dup2(int, int)');
    // Keep the worker's own stdio and restore it (descriptors and FD_CLOEXEC) before anything else runs.
    const saved = [0, 1, 2].map((n) => ({ copy: track(sys.fcntl(n, 1030 /* F_DUPFD_CLOEXEC */, 10)), flags: fdFlags(n) }));
    let flagsAfter: number[] | undefined;
    let inodes: number[] | undefined;
    try {
      dupOntoStdio(fd);
      fs.writeSync(1, 'one ');
      fs.writeSync(2, 'two');
      flagsAfter = [0, 1, 2].map((n) => fdFlags(n));
      inodes = [0, 1, 2].map((n) => fs.fstatSync(n).ino);
    } finally {
      saved.forEach(({ copy, flags }, n) => {
        dup2(copy, n);
        sys.fcntl(n, F_SETFD, flags);
      });
    }
    expect(flagsAfter).toEqual([0, 0, 0]);
    expect(inodes).toEqual(Array(3).fill(fs.statSync(file).ino));
    expect(fs.readFileSync(file, 'utf8')).toBe('one two');
    expect(fs.fstatSync(fd).ino).toBe(fs.statSync(file).ino);
  });

  it('reports EBADF naming the fd', () => {
    const error = errorOf(() => dupOntoStdio(987654));
    expect((error as SyscallError).errno).toBe(9);
    expect(error.message).toContain('fd 987654');
  });
});
