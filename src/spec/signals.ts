import { RuntimeError } from '../errors';

/**
 * Linux x86_64 signal numbers by name, the 31 classic signals that runc's `kill` knows (golang.org/x/sys/unix
 * has exactly these names for linux/amd64: no aliases such as IOT, POLL or CLD).
 */
export const SIGNALS: Readonly<Record<string, number>> = Object.freeze({
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9,
  SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17,
  SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25,
  SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
});

/** glibc's SIGRTMIN: the kernel's first real-time signal is 32, but glibc keeps 32 and 33 for its threads. */
export const SIGRTMIN = 34;
export const SIGRTMAX = 64;

const NAMES_BY_NUMBER: ReadonlyMap<number, string> = new Map(Object.entries(SIGNALS).map(([name, n]) => [n, name]));

const DECIMAL = /^[+-]?[0-9]+$/;
const RTMIN_FORM = /^RTMIN(?:\+([0-9]+))?$/;
const RTMAX_FORM = /^RTMAX(?:-([0-9]+))?$/;

function unknownSignal(text: string): RuntimeError {
  return new RuntimeError('invalid-signal', `unknown signal ${JSON.stringify(text)}`);
}

function realtime(base: number, offset: string | undefined, direction: 1 | -1): number | undefined {
  const n = base + direction * (offset === undefined ? 0 : Number(offset));
  return n >= SIGRTMIN && n <= SIGRTMAX ? n : undefined;
}

/**
 * The signal `tsrun kill` sends, parsed the way runc's `kill` parses it so callers' argv keeps working:
 * - a decimal number (Go's Atoi: optional sign, leading zeros fine). runc hands any integer to kill(2); we accept
 *   0..64 — 0 included, since runc passes it through and kill(2) treats it as "does the process exist" — and
 *   reject the rest here with a clear message instead of the kernel's EINVAL;
 * - a name in any case, with or without `SIG` (`KILL`, `sigkill`, `SigKill`).
 * Beyond runc (whose Go table has no real-time names) we also take `RTMIN`, `RTMIN+n` and `RTMAX-n` like
 * kill(1) does, numbered as glibc numbers them (34..64); accepting more than runc breaks no caller.
 * No trimming: runc does not trim either, and a stray space is more likely a quoting bug worth reporting.
 */
export function parseSignal(text: string): number {
  if (DECIMAL.test(text)) {
    const n = Number(text);
    // Math.abs: "-0" is zero, not negative zero.
    if (n >= 0 && n <= SIGRTMAX) return Math.abs(n);
    throw unknownSignal(text);
  }
  const upper = text.toUpperCase();
  const bare = upper.startsWith('SIG') ? upper.slice(3) : upper;
  const classic = SIGNALS[`SIG${bare}`];
  if (classic !== undefined) return classic;
  const min = RTMIN_FORM.exec(bare);
  if (min) {
    const n = realtime(SIGRTMIN, min[1], 1);
    if (n !== undefined) return n;
  }
  const max = RTMAX_FORM.exec(bare);
  if (max) {
    const n = realtime(SIGRTMAX, max[1], -1);
    if (n !== undefined) return n;
  }
  throw unknownSignal(text);
}

/**
 * The conventional name of signal `n` for messages: `SIGKILL`; real-time signals as bash's `kill -l` shows them
 * (`SIGRTMIN+1`..`SIGRTMIN+15`, then `SIGRTMAX-14`..`SIGRTMAX`), so `parseSignal(signalName(n)) === n` for
 * every nameable n. Numbers without a name read `signal <n>` (Go's wording for them).
 */
export function signalName(n: number): string {
  const classic = NAMES_BY_NUMBER.get(n);
  if (classic !== undefined) return classic;
  if (Number.isInteger(n) && n >= SIGRTMIN && n <= SIGRTMAX) {
    if (n === SIGRTMIN) return 'SIGRTMIN';
    if (n === SIGRTMAX) return 'SIGRTMAX';
    const fromMin = n - SIGRTMIN;
    return fromMin <= 15 ? `SIGRTMIN+${fromMin}` : `SIGRTMAX-${SIGRTMAX - n}`;
  }
  return `signal ${n}`;
}
