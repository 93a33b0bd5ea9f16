import { RuntimeError } from '../errors';
import { SyscallError } from './errno';
import { FD_CLOEXEC, F_GETFD, F_SETFD, OpenFlags } from './constants';
import { check, errno, fn } from './libc';

/**
 * Pseudo-terminal primitives for containers with `process.terminal` (`--console-socket`, `run -t`,
 * `exec -t`). Every function checks its result and throws a SyscallError naming the step; nothing returns -1.
 *
 * Layouts and request numbers below are those of Linux on x86_64 and arm64 (glibc); both were checked
 * against the C headers: struct termios is 60 bytes, struct winsize 8 bytes, and the tty ioctls come from
 * asm-generic/ioctls.h (other architectures such as ppc64 or mips use different numbers).
 */

const OPEN_FLAGS = OpenFlags.RDWR | OpenFlags.NOCTTY | OpenFlags.CLOEXEC;

const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;
const TIOCSCTTY = 0x540e;
const TCSANOW = 0;
const EINTR = 4;

/** sizeof(struct termios) with glibc on x86_64 and arm64: 4 flag words, c_line, c_cc[32], c_ispeed, c_ospeed. */
export const TERMIOS_SIZE = 60;
/** sizeof(struct winsize): ws_row, ws_col, ws_xpixel, ws_ypixel, each an unsigned short. */
const WINSIZE_SIZE = 8;
/** Room for "/dev/pts/<n>"; glibc's ptsname_r reports ERANGE if it does not fit. */
const PTS_NAME_SIZE = 128;

function ioctl(): (...args: unknown[]) => unknown {
  return fn('int ioctl(int, unsigned long, ...)');
}

/**
 * Opens a new pseudo-terminal pair's master side (posix_openpt with O_RDWR|O_NOCTTY|O_CLOEXEC), grants and
 * unlocks its slave, and names the slave (ptsname_r, the thread-safe variant, into a Buffer). The slave is
 * not opened: the caller opens it with openPtySlave (typically in the process that will own it). The master
 * is closed again if a later step fails.
 */
export function openPty(): { master: number; slavePath: string } {
  const master = check(fn('int posix_openpt(int)')(OPEN_FLAGS), 'posix_openpt', '`/dev/ptmx`');
  try {
    check(fn('int grantpt(int)')(master), 'grantpt', `fd ${master}`);
    check(fn('int unlockpt(int)')(master), 'unlockpt', `fd ${master}`);
    const name = Buffer.alloc(PTS_NAME_SIZE);
    // ptsname_r returns 0 or an errno number (it does not return -1).
    const result = fn('int ptsname_r(int, void *, size_t)')(master, name, name.length) as number;
    if (result !== 0) throw new SyscallError('ptsname_r', result > 0 ? result : errno(), `fd ${master}`);
    const end = name.indexOf(0);
    const slavePath = name.toString('utf8', 0, end < 0 ? name.length : end);
    return { master, slavePath };
  } catch (error) {
    fn('int close(int)')(master);
    throw error;
  }
}

/** Opens a pty slave (O_RDWR|O_NOCTTY|O_CLOEXEC): it does not become the controlling terminal by opening it. */
export function openPtySlave(path: string): number {
  return check(fn('int open(const char *, int, ...)')(path, OPEN_FLAGS, 'uint32_t', 0), 'open pty slave', `\`${path}\``);
}

function checkDimension(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new RuntimeError('terminal', `terminal ${name} must be an integer from 0 to 65535, got ${value}`);
  }
}

/** TIOCSWINSZ: sets the terminal's size (pixel sizes 0). Works on the master or the slave. */
export function setWindowSize(fd: number, rows: number, cols: number): void {
  checkDimension('rows', rows);
  checkDimension('columns', cols);
  const winsize = Buffer.alloc(WINSIZE_SIZE);
  winsize.writeUInt16LE(rows, 0);
  winsize.writeUInt16LE(cols, 2);
  check(ioctl()(fd, TIOCSWINSZ, 'void *', winsize), 'ioctl TIOCSWINSZ', `fd ${fd}`);
}

/** TIOCGWINSZ: the terminal's size. */
export function getWindowSize(fd: number): { rows: number; cols: number } {
  const winsize = Buffer.alloc(WINSIZE_SIZE);
  check(ioctl()(fd, TIOCGWINSZ, 'void *', winsize), 'ioctl TIOCGWINSZ', `fd ${fd}`);
  return { rows: winsize.readUInt16LE(0), cols: winsize.readUInt16LE(2) };
}

/**
 * TIOCSCTTY with argument 0 (never steal): makes the terminal open on `fd` (a pty slave) the controlling
 * terminal of the calling process' session. The caller must be a session leader without a controlling
 * terminal, i.e. call setsid() first in the (single-threaded) child; otherwise the kernel answers EPERM.
 * It also fails with EPERM when the terminal already controls another session.
 */
export function makeControllingTerminal(fd: number): void {
  check(ioctl()(fd, TIOCSCTTY, 'int', 0), 'ioctl TIOCSCTTY', `fd ${fd}`);
}

/**
 * Makes `fd` the process' stdin, stdout and stderr (dup2 onto 0, 1 and 2); closes nothing, so the caller
 * closes `fd` afterwards if it is above 2. The new descriptors are not close-on-exec. When `fd` is itself
 * 0, 1 or 2, dup2 leaves that descriptor as it is, so its FD_CLOEXEC flag is cleared explicitly instead.
 */
export function dupOntoStdio(fd: number): void {
  const dup2 = fn('int dup2(int, int)');
  const fcntl = fn('int fcntl(int, int, ...)');
  for (const target of [0, 1, 2]) {
    if (target === fd) {
      const flags = check(fcntl(fd, F_GETFD, 'int', 0), 'fcntl F_GETFD', `fd ${fd}`);
      if (flags & FD_CLOEXEC) check(fcntl(fd, F_SETFD, 'int', flags & ~FD_CLOEXEC), 'fcntl F_SETFD', `fd ${fd}`);
      continue;
    }
    for (;;) {
      if ((dup2(fd, target) as number) >= 0) break;
      const e = errno();
      if (e !== EINTR) throw new SyscallError('dup2', e, `fd ${fd} onto fd ${target}`);
    }
  }
}

/** The terminal settings setRawMode replaced: a copy of the struct termios, for restoreMode. */
export interface TerminalMode {
  readonly termios: Buffer;
}

function tcgetattr(fd: number): Buffer {
  const termios = Buffer.alloc(TERMIOS_SIZE);
  check(fn('int tcgetattr(int, void *)')(fd, termios), 'tcgetattr', `fd ${fd}`);
  return termios;
}

function tcsetattr(fd: number, termios: Buffer): void {
  const f = fn('int tcsetattr(int, int, void *)');
  for (;;) {
    if ((f(fd, TCSANOW, termios) as number) >= 0) return;
    const e = errno();
    if (e !== EINTR) throw new SyscallError('tcsetattr', e, `fd ${fd}`);
  }
}

/**
 * Puts the terminal on `fd` (the user's terminal, for `run -t`) into raw mode with cfmakeraw and returns the
 * previous settings. Restore them with restoreMode before exiting.
 */
export function setRawMode(fd: number): TerminalMode {
  const saved = tcgetattr(fd);
  const raw = Buffer.from(saved);
  fn('void cfmakeraw(void *)')(raw);
  tcsetattr(fd, raw);
  return { termios: saved };
}

/** Puts back the settings setRawMode saved (TCSANOW). */
export function restoreMode(fd: number, saved: TerminalMode): void {
  if (saved.termios.length !== TERMIOS_SIZE) {
    throw new RuntimeError('terminal', `saved terminal mode has ${saved.termios.length} bytes, expected ${TERMIOS_SIZE}`);
  }
  tcsetattr(fd, saved.termios);
}

/** The current settings of the terminal on `fd` (a copy of its struct termios); for tests and diagnostics. */
export function getMode(fd: number): TerminalMode {
  return { termios: tcgetattr(fd) };
}
