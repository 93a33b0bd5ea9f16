import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { SyscallError } from './errno';
import { POLLIN, POLLHUP, SYSCALLS } from './constants';
import { check, errno, fn, liveErrno, nativeFn, syscall } from './libc';
import { makeDev, mknodat } from './fs-at';
import { cloneTree, detachedTmpfs, moveMountFd, mountSetattrFd } from './openat2';

/**
 * The system calls tsrun makes that Node cannot make itself. Every method checks the result and throws a
 * SyscallError naming the operation, the object and the errno; nothing here returns -1.
 * Consumers receive a `Sys` as an argument so tests can pass a fake.
 */
export interface Sys {
  /** glibc fork() after marking every mapping MADV_DOFORK (see fork-safety notes in docs/architecture.md). */
  fork(): number;
  /** raw clone(CLONE_PARENT | SIGCHLD | extra): only from a single-threaded process (a forked child). */
  cloneParent(extraFlags?: number): number;
  exit(code: number): never;
  getpid(): number;
  unshare(flags: number): void;
  setns(fd: number, nstype: number): void;
  setsid(): void;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount2(target: string, flags: number): void;
  pivotRoot(newRoot: string, putOld: string): void;
  chroot(path: string): void;
  chdir(path: string): void;
  fchdir(fd: number): void;
  sethostname(name: string): void;
  /** Sets IFF_UP on `lo` of the calling thread's network namespace (runc does so for a new network namespace). */
  bringUpLoopback(): void;
  setdomainname(name: string): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** mknodat: the node is made in exactly the directory dirFd holds; `name` is one component and never followed. */
  mknodat(dirFd: number, name: string, mode: number, major: number, minor: number): void;
  mkfifo(path: string, mode: number): void;
  pipe(): [number, number];
  open(path: string, flags: number, mode?: number): number;
  close(fd: number): void;
  fcntl(fd: number, cmd: number, arg: number): number;
  closeRange(first: number, last: number, flags: number): void;
  flock(fd: number, operation: number): void;
  umask(mask: number): number;
  kill(pid: number, signal: number): void;
  /** kill() that reports whether the process existed instead of throwing ESRCH. */
  signalIfAlive(pid: number, signal: number): boolean;
  waitpid(pid: number, flags: number): { pid: number; status: number };
  pidfdOpen(pid: number): number;
  /** poll() over fds for POLLIN; returns the revents per fd, in order. Blocks up to timeoutMs (-1 = forever). */
  poll(fds: number[], timeoutMs: number): number[];
  /**
   * poll() with the events to wait for given per fd (POLLIN, POLLOUT, ...); returns the full revents per entry, in
   * order (POLLERR, POLLHUP and POLLNVAL included). Blocks up to timeoutMs (-1 = forever); retried on EINTR.
   */
  pollEvents(entries: ReadonlyArray<{ fd: number; events: number }>, timeoutMs: number): number[];
  /** dup2(): newFd becomes a copy of oldFd; when they differ, the copy is not close-on-exec. */
  dup2(oldFd: number, newFd: number): void;
  /**
   * write() that cannot raise SIGPIPE whatever the signal state is (a forked init may have SIGPIPE at its default,
   * which would kill it): SIGPIPE is blocked around the call and the one the call raised is consumed. Returns the
   * bytes written (short on a non-blocking pipe); a reader gone is the SyscallError EPIPE.
   */
  writeNoSigpipe(fd: number, data: Uint8Array): number;
  setresuid(uid: number): void;
  setresgid(gid: number): void;
  setgroups(gids: number[]): void;
  prctl(option: number, arg2: number | bigint, arg3?: number | bigint): number;
  capset(effective: bigint, permitted: bigint, inheritable: bigint): void;
  prlimit(resource: number, soft: bigint, hard: bigint): void;
  ioctl(fd: number, request: number, arg: number): number;
  /** mount_setattr(AT_FDCWD, path, AT_RECURSIVE, {attr_set, attr_clr}) over the whole mount tree at path. */
  mountSetattrRecursive(path: string, set: number, clear: number): void;
  /**
   * A detached copy of the mount (tree) at `source`, idmapped through the user namespace `usernsFd`
   * (open_tree(OPEN_TREE_CLONE) + mount_setattr(MOUNT_ATTR_IDMAP)). Needs privilege over the source's mount: made
   * by tsrun on the host, attached inside the container with moveMount.
   */
  openIdmappedTree(source: string, usernsFd: number, recursive: boolean): number;
  /** move_mount of a detached tree descriptor onto `target`. */
  moveMount(treeFd: number, target: string): void;
  /** open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH): a detached copy of the mount (tree) at exactly what fd holds. */
  cloneTree(fd: number, recursive: boolean): number;
  /** mount_setattr(fd, "", AT_EMPTY_PATH, {set, clear}) on the one mount fd holds (attached or detached). */
  mountSetattrFd(fd: number, set: number, clear: number): void;
  /** move_mount of the detached tree treeFd onto exactly what targetFd holds, both by descriptor. */
  moveMountFd(treeFd: number, targetFd: number): void;
  /** A new, empty, detached tmpfs (fsopen + fsmount) with the MOUNT_ATTR_* flags given. */
  detachedTmpfs(attrFlags: number): number;
  /** The MS_* flags of the mount holding `path` (from statfs f_flags, translated from ST_*). */
  mountFlagsOf(path: string): number;
  /** keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a fresh session keyring; false where the kernel has no keys. */
  joinSessionKeyring(name: string): boolean;
  /**
   * The eventfds libuv wakes its loops with (anon_inode:[eventfd] in /proc/self/fd). A forked child is still
   * Node until it execs: V8 posts a task when the heap grows and libuv writes to such an fd. Closed, that write
   * fails and libuv aborts the child; with its number reused by a later open, the write lands in that file. So
   * a child that closes what tsrun had open keeps these: they hold no lock and no host path and are
   * close-on-exec.
   */
  eventLoopWakeupFds(): number[];
  resetSignals(): void;
  execve(path: string, argv: string[], envp: string[]): never;
}

/**
 * The address ranges below and above the kernel's [vvar]/[vdso] pages. MADV_DOFORK over these two ranges
 * covers every mapping in two calls (holes only make madvise report ENOMEM after it has walked them). The
 * vvar/vdso pages must be skipped: madvise stops with EINVAL at VM_IO mappings. Computing this once at load
 * keeps the window between madvise and fork free of allocation, which matters: V8 marks every new heap page
 * MADV_DONTFORK and such a page would be missing in the child.
 */
interface DoForkRanges {
  ranges: Array<[bigint, bigint]>;
}
let doForkRanges: DoForkRanges | undefined;

function computeDoForkRanges(): DoForkRanges {
  const maps = readFileSync('/proc/self/maps', 'latin1');
  let specialStart = -1n;
  let specialEnd = -1n;
  for (const line of maps.split('\n')) {
    const match = /^([0-9a-f]+)-([0-9a-f]+) .*\[(vvar|vvar_vclock|vdso)\]$/.exec(line);
    if (!match) continue;
    const start = BigInt(`0x${match[1]}`);
    const end = BigInt(`0x${match[2]}`);
    if (specialStart < 0n || start < specialStart) specialStart = start;
    if (end > specialEnd) specialEnd = end;
  }
  const top = 0x800000000000n; // end of the user address space with 4-level paging (vsyscall lies above)
  if (specialStart < 0n) return { ranges: [[0n, top]] };
  return { ranges: [[0n, specialStart], [specialEnd, top - specialEnd]] };
}

/**
 * Marks every mapping MADV_DOFORK. Call it immediately before fork or clone, with everything the call needs
 * already declared: each process (also a forked child that clones again) maps new DONTFORK pages as it runs.
 */
function markAllDoFork(): void {
  doForkRanges ??= computeDoForkRanges();
  // The bare koffi function: fn's wrapper would allocate its argument list between the two passes and the fork.
  const madvise = nativeFn('int madvise(uintptr_t addr, size_t len, int advice)');
  const [first, second] = doForkRanges.ranges;
  madvise(first![0], first![1], 11);
  if (second) madvise(second[0], second[1], 11);
}

/** statfs reports ST_* flags; most equal their MS_* twins, relatime and nosymfollow do not. */
const ST_TO_MS: ReadonlyArray<[number, number]> = [
  [0x1, 0x1], [0x2, 0x2], [0x4, 0x4], [0x8, 0x8], [0x10, 0x10], [0x40, 0x40],
  [0x400, 0x400], [0x800, 0x800], [0x1000, 0x200000], [0x2000, 0x100],
];

export function stFlagsToMountFlags(st: number): number {
  let flags = 0;
  for (const [stFlag, msFlag] of ST_TO_MS) if (st & stFlag) flags |= msFlag;
  return flags;
}

export function createSys(): Sys {
  return {
    fork() {
      const forkFn = nativeFn('int fork(void)');
      markAllDoFork();
      const pid = forkFn() as number;
      if (pid < 0) throw new SyscallError('fork', liveErrno());
      return pid;
    },
    cloneParent(extraFlags = 0) {
      // Everything is prepared before the MADV_DOFORK pass and the clone is one plain call with numbers: any JS
      // allocation in between may map a fresh DONTFORK heap page that the child then lacks (seen: 1 init in
      // 200 dead of it through the variadic wrapper). glibc's syscall() reads integer arguments from the same
      // registers whether it is called variadically or not, so a fixed prototype is safe here.
      const clone = nativeFn('long syscall(long nr, unsigned long flags, unsigned long stack, unsigned long ptid, unsigned long ctid, unsigned long tls)');
      const nr = SYSCALLS.clone;
      const flags = 0x00008000 | 17 | extraFlags;
      markAllDoFork();
      const pid = Number(clone(nr, flags, 0, 0, 0, 0));
      if (pid < 0) throw new SyscallError('clone', liveErrno());
      return pid;
    },
    exit(code: number): never {
      fn('void _exit(int)')(code);
      throw new Error('unreachable: _exit returned');
    },
    getpid() {
      return fn('int getpid(void)')() as number;
    },
    unshare(flags) {
      check(fn('int unshare(int)')(flags), 'unshare', `0x${flags.toString(16)}`);
    },
    setns(fd, nstype) {
      check(fn('int setns(int, int)')(fd, nstype), 'setns', `fd ${fd}`);
    },
    setsid() {
      check(fn('int setsid(void)')(), 'setsid');
    },
    mount(source, target, fstype, flags, data) {
      const f = fn('int mount(const char *, const char *, const char *, unsigned long, const char *)');
      const result = f(source, target, fstype, flags, data);
      if ((result as number) < 0) {
        throw new SyscallError('mount', errno(), `\`${source ?? fstype ?? ''}\` on \`${target}\``);
      }
    },
    umount2(target, flags) {
      check(fn('int umount2(const char *, int)')(target, flags), 'umount', `\`${target}\``);
    },
    pivotRoot(newRoot, putOld) {
      check(syscall('pivot_root', 'const char *', newRoot, 'const char *', putOld), 'pivot_root', `\`${newRoot}\``);
    },
    chroot(path) {
      check(fn('int chroot(const char *)')(path), 'chroot', `\`${path}\``);
    },
    chdir(path) {
      check(fn('int chdir(const char *)')(path), 'chdir', `\`${path}\``);
    },
    fchdir(fd) {
      check(fn('int fchdir(int)')(fd), 'fchdir', `fd ${fd}`);
    },
    sethostname(name) {
      check(fn('int sethostname(const char *, size_t)')(name, Buffer.byteLength(name)), 'sethostname', JSON.stringify(name));
    },
    bringUpLoopback() {
      // struct ifreq: the name (16 bytes), then a union whose first member is `short ifr_flags`; 40 bytes.
      const AF_INET = 2, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0o2000000, SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914, IFF_UP = 0x1;
      const fd = check(fn('int socket(int, int, int)')(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), 'socket', 'AF_INET for lo');
      try {
        const request = Buffer.alloc(40);
        request.write('lo', 0, 'latin1');
        const ioctl = fn('int ioctl(int, unsigned long, ...)');
        check(ioctl(fd, SIOCGIFFLAGS, 'void *', request), 'ioctl SIOCGIFFLAGS', 'lo');
        request.writeInt16LE(request.readInt16LE(16) | IFF_UP, 16);
        check(ioctl(fd, SIOCSIFFLAGS, 'void *', request), 'ioctl SIOCSIFFLAGS', 'lo');
      } finally {
        fn('int close(int)')(fd);
      }
    },
    setdomainname(name) {
      check(fn('int setdomainname(const char *, size_t)')(name, Buffer.byteLength(name)), 'setdomainname', JSON.stringify(name));
    },
    mknod(path, mode, major, minor) {
      check(fn('int mknod(const char *, uint32_t, uint64_t)')(path, mode, makeDev(major, minor)), 'mknod', `\`${path}\``);
    },
    mknodat: (dirFd, name, mode, major, minor) => mknodat(dirFd, name, mode, major, minor),
    mkfifo(path, mode) {
      check(fn('int mkfifo(const char *, uint32_t)')(path, mode), 'mkfifo', `\`${path}\``);
    },
    pipe() {
      const fds = [0, 0];
      check(fn('int pipe2(_Out_ int *fds, int flags)')(fds, 0o2000000), 'pipe2');
      return [fds[0]!, fds[1]!];
    },
    open(path, flags, mode = 0) {
      return check(fn('int open(const char *, int, ...)')(path, flags, 'uint32_t', mode), 'open', `\`${path}\``);
    },
    close(fd) {
      check(fn('int close(int)')(fd), 'close', `fd ${fd}`);
    },
    fcntl(fd, cmd, arg) {
      return check(fn('int fcntl(int, int, ...)')(fd, cmd, 'int', arg), 'fcntl', `fd ${fd}`);
    },
    closeRange(first, last, flags) {
      check(syscall('close_range', 'unsigned int', first, 'unsigned int', last, 'unsigned int', flags), 'close_range');
    },
    flock(fd, operation) {
      check(fn('int flock(int, int)')(fd, operation), 'flock', `fd ${fd}`);
    },
    umask(mask) {
      return fn('uint32_t umask(uint32_t)')(mask) as number;
    },
    kill(pid, signal) {
      check(fn('int kill(int, int)')(pid, signal), 'kill', `pid ${pid}`);
    },
    signalIfAlive(pid, signal) {
      if ((fn('int kill(int, int)')(pid, signal) as number) === 0) return true;
      const e = errno();
      if (e === 3) return false;
      throw new SyscallError('kill', e, `pid ${pid}`);
    },
    waitpid(pid, flags) {
      const status = [0];
      const result = check(fn('int waitpid(int, _Out_ int *, int)')(pid, status, flags), 'waitpid', `pid ${pid}`);
      return { pid: result, status: status[0]! };
    },
    pidfdOpen(pid) {
      return check(syscall('pidfd_open', 'int', pid, 'unsigned int', 0), 'pidfd_open', `pid ${pid}`);
    },
    poll(fds, timeoutMs) {
      // struct pollfd { int fd; short events; short revents; } laid out by hand in a Buffer.
      const buffer = Buffer.alloc(8 * fds.length);
      fds.forEach((fd, i) => {
        buffer.writeInt32LE(fd, i * 8);
        buffer.writeInt16LE(POLLIN, i * 8 + 4);
      });
      for (;;) {
        const result = fn('int poll(void *, unsigned long, int)')(buffer, fds.length, timeoutMs) as number;
        if (result >= 0) break;
        const e = errno();
        if (e !== 4) throw new SyscallError('poll', e);
      }
      return fds.map((_, i) => buffer.readInt16LE(i * 8 + 6) & (POLLIN | POLLHUP | 0x8 | 0x20));
    },
    pollEvents(entries, timeoutMs) {
      const buffer = Buffer.alloc(8 * entries.length);
      entries.forEach(({ fd, events }, i) => {
        buffer.writeInt32LE(fd, i * 8);
        buffer.writeInt16LE(events, i * 8 + 4);
      });
      for (;;) {
        const result = fn('int poll(void *, unsigned long, int)')(buffer, entries.length, timeoutMs) as number;
        if (result >= 0) break;
        const e = errno();
        if (e !== 4) throw new SyscallError('poll', e);
      }
      return entries.map((_, i) => buffer.readUInt16LE(i * 8 + 6));
    },
    dup2(oldFd, newFd) {
      check(fn('int dup2(int, int)')(oldFd, newFd), 'dup2', `fd ${oldFd} onto ${newFd}`);
    },
    writeNoSigpipe(fd, data) {
      const sigprocmask = fn('int sigprocmask(int, void *, void *)');
      const sigpipeOnly = Buffer.alloc(128);
      sigpipeOnly.writeUInt32LE(1 << (13 - 1), 0); // SIGPIPE is 13; bit n-1 of the set
      const previous = Buffer.alloc(128);
      check(sigprocmask(0 /* SIG_BLOCK */, sigpipeOnly, previous), 'sigprocmask');
      const written = Number(fn('long write(int, void *, size_t)')(fd, data, data.byteLength));
      const e = errno();
      // A blocked SIGPIPE stays pending (even when ignored); take ours back out unless the caller had it blocked
      // already, in which case a pending one may not be ours and must stay.
      if (written < 0 && e === 32 && (previous.readUInt32LE(0) & (1 << 12)) === 0) {
        fn('int sigtimedwait(void *, void *, void *)')(sigpipeOnly, null, Buffer.alloc(16));
      }
      check(sigprocmask(2 /* SIG_SETMASK */, previous, null), 'sigprocmask');
      if (written < 0) throw new SyscallError('write', e, `fd ${fd}`);
      return written;
    },
    setresuid(uid) {
      check(fn('int setresuid(uint32_t, uint32_t, uint32_t)')(uid, uid, uid), 'setresuid', String(uid));
    },
    setresgid(gid) {
      check(fn('int setresgid(uint32_t, uint32_t, uint32_t)')(gid, gid, gid), 'setresgid', String(gid));
    },
    setgroups(gids) {
      const list = Uint32Array.from(gids);
      check(fn('int setgroups(size_t, void *)')(gids.length, gids.length ? list : null), 'setgroups', gids.join(','));
    },
    prctl(option, arg2, arg3 = 0) {
      return check(
        syscall('prctl', 'int', option, 'unsigned long', BigInt(arg2), 'unsigned long', BigInt(arg3), 'unsigned long', 0n, 'unsigned long', 0n),
        'prctl',
        `option ${option}`,
      );
    },
    capset(effective, permitted, inheritable) {
      const header = Buffer.alloc(8);
      header.writeUInt32LE(0x20080522, 0); // _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set
      const data = Buffer.alloc(24);
      const low = (v: bigint) => Number(v & 0xffffffffn);
      const high = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
      data.writeUInt32LE(low(effective), 0);
      data.writeUInt32LE(low(permitted), 4);
      data.writeUInt32LE(low(inheritable), 8);
      data.writeUInt32LE(high(effective), 12);
      data.writeUInt32LE(high(permitted), 16);
      data.writeUInt32LE(high(inheritable), 20);
      check(syscall('capset', 'void *', header, 'void *', data), 'capset');
    },
    prlimit(resource, soft, hard) {
      const limits = new BigUint64Array([soft, hard]);
      check(fn('int prlimit(int, int, void *, void *)')(0, resource, limits, null), 'prlimit', `resource ${resource}`);
    },
    ioctl(fd, request, arg) {
      return check(fn('int ioctl(int, unsigned long, ...)')(fd, request, 'unsigned long', arg), 'ioctl', `fd ${fd} request 0x${request.toString(16)}`);
    },
    mountSetattrRecursive(path, set, clear) {
      const attr = Buffer.alloc(32); // struct mount_attr: attr_set, attr_clr, propagation, userns_fd (u64 each)
      attr.writeBigUInt64LE(BigInt(set), 0);
      attr.writeBigUInt64LE(BigInt(clear), 8);
      const AT_FDCWD = -100;
      const AT_RECURSIVE = 0x8000;
      check(syscall('mount_setattr', 'int', AT_FDCWD, 'const char *', path, 'unsigned int', AT_RECURSIVE, 'void *', attr, 'size_t', 32), 'mount_setattr', `\`${path}\``);
    },
    openIdmappedTree(source, usernsFd, recursive) {
      const AT_FDCWD = -100;
      const AT_RECURSIVE = 0x8000;
      const AT_EMPTY_PATH = 0x1000;
      const OPEN_TREE_CLONE = 1;
      const OPEN_TREE_CLOEXEC = 0o2000000;
      const tree = check(
        syscall('open_tree', 'int', AT_FDCWD, 'const char *', source, 'unsigned int', OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0)),
        'open_tree', `\`${source}\``,
      );
      const attr = Buffer.alloc(32);
      attr.writeBigUInt64LE(0x100000n, 0); // MOUNT_ATTR_IDMAP
      attr.writeBigUInt64LE(BigInt(usernsFd), 24);
      const result = syscall('mount_setattr', 'int', tree, 'const char *', '', 'unsigned int', AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), 'void *', attr, 'size_t', 32);
      if (result < 0) {
        const e = errno();
        fn('int close(int)')(tree);
        throw new SyscallError('mount_setattr MOUNT_ATTR_IDMAP', e, `\`${source}\``);
      }
      return tree;
    },
    moveMount(treeFd, target) {
      const AT_FDCWD = -100;
      const MOVE_MOUNT_F_EMPTY_PATH = 4;
      check(syscall('move_mount', 'int', treeFd, 'const char *', '', 'int', AT_FDCWD, 'const char *', target, 'unsigned int', MOVE_MOUNT_F_EMPTY_PATH),
        'move_mount', `\`${target}\``);
    },
    cloneTree: (fd, recursive) => cloneTree(fd, recursive),
    mountSetattrFd: (fd, set, clear) => mountSetattrFd(fd, set, clear),
    moveMountFd: (treeFd, targetFd) => moveMountFd(treeFd, targetFd),
    detachedTmpfs: (attrFlags) => detachedTmpfs(attrFlags),
    mountFlagsOf(path) {
      // struct statfs on 64-bit Linux: ten 8-byte fields, then f_flags at offset 80, then spares (120 bytes).
      const buffer = Buffer.alloc(120);
      check(fn('int statfs(const char *, void *)')(path, buffer), 'statfs', `\`${path}\``);
      return stFlagsToMountFlags(Number(buffer.readBigUInt64LE(80) & 0xffffffffn));
    },
    joinSessionKeyring(name) {
      const result = syscall('keyctl', 'int', 1, 'const char *', name);
      if (result >= 0) return true;
      const e = errno();
      if (e === 38) return false; // ENOSYS: kernel built without keys
      throw new SyscallError('keyctl join session keyring', e, JSON.stringify(name));
    },
    eventLoopWakeupFds() {
      const fds: number[] = [];
      for (const name of readdirSync('/proc/self/fd')) {
        try {
          if (readlinkSync(`/proc/self/fd/${name}`) === 'anon_inode:[eventfd]') fds.push(Number(name));
        } catch {
          // the directory's own descriptor, closed again by now
        }
      }
      return fds;
    },
    resetSignals() {
      // Node ignores SIGPIPE and SIGXFSZ and installs handlers; an ignored disposition survives execve, a
      // blocked signal too. Give the container the defaults a freshly started process has.
      const signal = fn('uintptr_t signal(int, uintptr_t)');
      for (let sig = 1; sig <= 64; sig++) {
        if (sig === 9 || sig === 19 || sig === 32 || sig === 33) continue; // KILL, STOP, glibc-internal RT signals
        signal(sig, 0n);
      }
      const emptySet = Buffer.alloc(128);
      check(fn('int sigprocmask(int, void *, void *)')(2, emptySet, null), 'sigprocmask');
    },
    execve(path, argv, envp): never {
      const f = fn('int execve(const char *, const char **, const char **)');
      f(path, [...argv, null], [...envp, null]);
      throw new SyscallError('exec', errno(), `\`${path}\``);
    },
  };
}
