import { createRequire } from 'node:module';
import { SyscallError } from './errno';
import { SYSCALLS, type SyscallName } from './constants';

/**
 * koffi plumbing shared by every binding in src/linux: libc is loaded on first use and each function is
 * declared the first time it is called, so a verb pays only for the calls it makes.
 */
type Koffi = typeof import('koffi');
/** koffi's version when the bundle was built (scripts/build.mjs); absent when running from source. */
declare const TSRUN_KOFFI_VERSION: string;
type Fn = (...args: unknown[]) => unknown;

let koffiModule: Koffi | undefined;
let libc: ReturnType<Koffi['load']> | undefined;
const functions = new Map<string, Fn>();

export function koffi(): Koffi {
  koffiModule ??= loadKoffi();
  return koffiModule;
}

/**
 * koffi's entry point detects the platform and wraps the native module with deprecation shims: ~9 ms of every
 * call that forks. Its per-platform native package (an optional dependency koffi installs) loads in ~3 ms; the
 * bundle uses it when it is of the koffi version it was built against, else koffi's entry point as usual.
 */
function loadKoffi(): Koffi {
  const require = createRequire(import.meta.url);
  if (typeof TSRUN_KOFFI_VERSION === 'string') {
    try {
      const native = require(`@koromix/koffi-${process.platform}-${process.arch}`) as Koffi & { version?: string };
      if (native.version === TSRUN_KOFFI_VERSION) return native;
    } catch {
      // not installed this way: the entry point finds the module
    }
  }
  return require('koffi') as Koffi;
}

/**
 * Declares a libc function the first time it is used, so a verb pays only for what it calls. The declared
 * function reads errno right after the native call returns, before any JavaScript of the caller runs: code
 * between the call and the read (building a message, a garbage collection it triggers) may run library calls
 * that change errno. A container once failed a mkdirat with ERANGE, an errno mkdir on tmpfs cannot return.
 */
export function fn(signature: string): Fn {
  let f = functions.get(signature);
  if (!f) {
    const native = nativeFn(signature);
    const k = koffi();
    f = (...args: unknown[]): unknown => {
      const result = native(...args);
      lastErrno = k.errno();
      return result;
    };
    functions.set(signature, f);
  }
  return f;
}

/**
 * The koffi function itself, for the few calls that must not allocate on the JavaScript heap (the wrapper of
 * `fn` allocates its argument list): those between MADV_DOFORK and fork. Read errno with `liveErrno()`, at once.
 */
export function nativeFn(signature: string): Fn {
  let f = natives.get(signature);
  if (!f) {
    libc ??= koffi().load('libc.so.6');
    f = libc.func(signature) as unknown as Fn;
    natives.set(signature, f);
  }
  return f;
}

const natives = new Map<string, Fn>();
let lastErrno = 0;

/** errno as the last function declared with `fn` left it (read when that call returned). */
export function errno(): number {
  return lastErrno;
}

/** The thread's errno now: right after a `nativeFn` call, before anything else runs. */
export function liveErrno(): number {
  return koffi().errno();
}

export function check(result: unknown, operation: string, object?: string): number {
  const value = typeof result === 'bigint' ? Number(result) : (result as number);
  if (value < 0) throw new SyscallError(operation, errno(), object);
  return value;
}

export function syscall(name: SyscallName, ...args: unknown[]): number {
  const f = fn('long syscall(long, ...)');
  return Number(f(SYSCALLS[name], ...args));
}


/** syscall(2) by number, for bindings that keep their own per-architecture numbers. */
export function rawSyscall(nr: number, ...args: unknown[]): number {
  const f = fn('long syscall(long, ...)');
  return Number(f(nr, ...args));
}
