import { SyscallError } from '../../src/linux/errno';
import type { Sys } from '../../src/linux/sys';

/** The name of one `Sys` method. */
export type SysCallName = keyof Sys;

/** One recorded call: the method's name and the arguments it was given, as given. */
export interface SysCall {
  name: SysCallName;
  args: unknown[];
}

interface Failure {
  name: SysCallName;
  errno: number;
  when: (args: unknown[]) => boolean;
  /** How many more matching calls fail; Infinity for "every one". */
  remaining: number;
}

type Impl = (...args: never[]) => unknown;

/** The default of the calls that would leave (or copy) the test process: refused unless a test implements them. */
function notInAUnitTest(): never {
  throw new Error('not in a unit test');
}

/**
 * A `Sys` that makes no system calls. It records every call (name and arguments) in order, returns harmless
 * defaults, lets a test replace any method (`implement`) and make matching calls throw a SyscallError (`failOn`).
 * fork, cloneParent, exit and execve throw `Error('not in a unit test')` unless implemented.
 */
export class FakeSys implements Sys {
  readonly calls: SysCall[] = [];
  private readonly failures: Failure[] = [];
  private readonly impls = new Map<SysCallName, Impl>();
  private nextFd = 100;
  private currentUmask = 0o022;

  /**
   * Makes calls of `name` throw `new SyscallError(name, errno)`: every call, or only those whose arguments
   * satisfy `when`, and at most `times` of them. The failing call is still recorded.
   */
  failOn(name: SysCallName, errno: number, options: { when?: (args: unknown[]) => boolean; times?: number } = {}): this {
    this.failures.push({ name, errno, when: options.when ?? (() => true), remaining: options.times ?? Infinity });
    return this;
  }

  /** Replaces the behaviour of one method (the call is still recorded, and failOn still wins). */
  implement<K extends SysCallName>(name: K, impl: Sys[K]): this {
    this.impls.set(name, impl as unknown as Impl);
    return this;
  }

  /** The arguments of every call of `name`, in order. */
  argsOf(name: SysCallName): unknown[][] {
    return this.calls.filter((c) => c.name === name).map((c) => c.args);
  }

  /** The method names called, in order. */
  names(): SysCallName[] {
    return this.calls.map((c) => c.name);
  }

  /** Forgets the recorded calls (failures and implementations stay). */
  clear(): void {
    this.calls.length = 0;
  }

  private call<T>(name: SysCallName, args: unknown[], fallback: () => T): T {
    this.calls.push({ name, args });
    const failure = this.failures.find((f) => f.name === name && f.remaining > 0 && f.when(args));
    if (failure) {
      failure.remaining--;
      throw new SyscallError(name, failure.errno);
    }
    const impl = this.impls.get(name);
    if (impl) return (impl as (...a: unknown[]) => T)(...args);
    return fallback();
  }

  private fd(): number {
    return this.nextFd++;
  }

  fork(): number {
    return this.call('fork', [], notInAUnitTest);
  }
  cloneParent(extraFlags?: number): number {
    return this.call('cloneParent', extraFlags === undefined ? [] : [extraFlags], notInAUnitTest);
  }
  exit(code: number): never {
    return this.call('exit', [code], notInAUnitTest);
  }
  getpid(): number {
    return this.call('getpid', [], () => 1);
  }
  unshare(flags: number): void {
    this.call('unshare', [flags], () => undefined);
  }
  setns(fd: number, nstype: number): void {
    this.call('setns', [fd, nstype], () => undefined);
  }
  setsid(): void {
    this.call('setsid', [], () => undefined);
  }
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
    this.call('mount', [source, target, fstype, flags, data], () => undefined);
  }
  umount2(target: string, flags: number): void {
    this.call('umount2', [target, flags], () => undefined);
  }
  pivotRoot(newRoot: string, putOld: string): void {
    this.call('pivotRoot', [newRoot, putOld], () => undefined);
  }
  chroot(path: string): void {
    this.call('chroot', [path], () => undefined);
  }
  chdir(path: string): void {
    this.call('chdir', [path], () => undefined);
  }
  fchdir(fd: number): void {
    this.call('fchdir', [fd], () => undefined);
  }
  sethostname(name: string): void {
    this.call('sethostname', [name], () => undefined);
  }
  bringUpLoopback(): void {
    this.call('bringUpLoopback', [], () => undefined);
  }
  setdomainname(name: string): void {
    this.call('setdomainname', [name], () => undefined);
  }
  mknod(path: string, mode: number, major: number, minor: number): void {
    this.call('mknod', [path, mode, major, minor], () => undefined);
  }
  mknodat(dirFd: number, name: string, mode: number, major: number, minor: number): void {
    this.call('mknodat', [dirFd, name, mode, major, minor], () => undefined);
  }
  mkfifo(path: string, mode: number): void {
    this.call('mkfifo', [path, mode], () => undefined);
  }
  pipe(): [number, number] {
    return this.call('pipe', [], () => [this.fd(), this.fd()] as [number, number]);
  }
  open(path: string, flags: number, mode?: number): number {
    return this.call('open', mode === undefined ? [path, flags] : [path, flags, mode], () => this.fd());
  }
  close(fd: number): void {
    this.call('close', [fd], () => undefined);
  }
  fcntl(fd: number, cmd: number, arg: number): number {
    return this.call('fcntl', [fd, cmd, arg], () => 0);
  }
  closeRange(first: number, last: number, flags: number): void {
    this.call('closeRange', [first, last, flags], () => undefined);
  }
  flock(fd: number, operation: number): void {
    this.call('flock', [fd, operation], () => undefined);
  }
  /** Like the real one: sets the mask and returns the previous one (0o022 at first). */
  umask(mask: number): number {
    return this.call('umask', [mask], () => {
      const old = this.currentUmask;
      this.currentUmask = mask;
      return old;
    });
  }
  kill(pid: number, signal: number): void {
    this.call('kill', [pid, signal], () => undefined);
  }
  signalIfAlive(pid: number, signal: number): boolean {
    return this.call('signalIfAlive', [pid, signal], () => true);
  }
  waitpid(pid: number, flags: number): { pid: number; status: number } {
    return this.call('waitpid', [pid, flags], () => ({ pid, status: 0 }));
  }
  pidfdOpen(pid: number): number {
    return this.call('pidfdOpen', [pid], () => this.fd());
  }
  poll(fds: number[], timeoutMs: number): number[] {
    return this.call('poll', [fds, timeoutMs], () => fds.map(() => 0));
  }
  pollEvents(entries: ReadonlyArray<{ fd: number; events: number }>, timeoutMs: number): number[] {
    return this.call('pollEvents', [entries, timeoutMs], () => entries.map(() => 0));
  }
  dup2(oldFd: number, newFd: number): void {
    this.call('dup2', [oldFd, newFd], () => undefined);
  }
  writeNoSigpipe(fd: number, data: Uint8Array): number {
    return this.call('writeNoSigpipe', [fd, data], () => data.byteLength);
  }
  setresuid(uid: number): void {
    this.call('setresuid', [uid], () => undefined);
  }
  setresgid(gid: number): void {
    this.call('setresgid', [gid], () => undefined);
  }
  setgroups(gids: number[]): void {
    this.call('setgroups', [gids], () => undefined);
  }
  prctl(option: number, arg2: number | bigint, arg3?: number | bigint): number {
    return this.call('prctl', arg3 === undefined ? [option, arg2] : [option, arg2, arg3], () => 0);
  }
  capset(effective: bigint, permitted: bigint, inheritable: bigint): void {
    this.call('capset', [effective, permitted, inheritable], () => undefined);
  }
  prlimit(resource: number, soft: bigint, hard: bigint): void {
    this.call('prlimit', [resource, soft, hard], () => undefined);
  }
  ioctl(fd: number, request: number, arg: number): number {
    return this.call('ioctl', [fd, request, arg], () => 0);
  }
  mountSetattrRecursive(path: string, set: number, clear: number): void {
    this.call('mountSetattrRecursive', [path, set, clear], () => undefined);
  }
  openIdmappedTree(source: string, usernsFd: number, recursive: boolean): number {
    return this.call('openIdmappedTree', [source, usernsFd, recursive], () => 100);
  }
  moveMount(treeFd: number, target: string): void {
    this.call('moveMount', [treeFd, target], () => undefined);
  }
  cloneTree(fd: number, recursive: boolean): number {
    return this.call('cloneTree', [fd, recursive], () => this.fd());
  }
  mountSetattrFd(fd: number, set: number, clear: number): void {
    this.call('mountSetattrFd', [fd, set, clear], () => undefined);
  }
  moveMountFd(treeFd: number, targetFd: number): void {
    this.call('moveMountFd', [treeFd, targetFd], () => undefined);
  }
  detachedTmpfs(attrFlags: number): number {
    return this.call('detachedTmpfs', [attrFlags], () => this.fd());
  }
  mountFlagsOf(path: string): number {
    return this.call('mountFlagsOf', [path], () => 0);
  }
  joinSessionKeyring(name: string): boolean {
    return this.call('joinSessionKeyring', [name], () => true);
  }
  eventLoopWakeupFds(): number[] {
    return this.call('eventLoopWakeupFds', [], () => []);
  }
  resetSignals(): void {
    this.call('resetSignals', [], () => undefined);
  }
  execve(path: string, argv: string[], envp: string[]): never {
    return this.call('execve', [path, argv, envp], notInAUnitTest);
  }
}
