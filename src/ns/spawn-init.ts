import { readlinkSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { RuntimeError } from '../errors';
import { CloneFlags, Prctl, SIGKILL } from '../linux/constants';
import type { Sys } from '../linux/sys';
import { runChild } from './child';
import { MessageReader, sendMessage } from './sync-channel';

export interface SpawnOptions {
  /** CLONE_NEW* flags for the namespaces the container gets of its own (never CLONE_NEWUSER: see below). */
  newNamespaceFlags: number;
  /** Namespaces to join, opened by the parent, in setns order (user first, mount last). */
  joins?: Array<{ fd: number; flag: number }>;
  /** A new user namespace: stage 1 unshares it first and waits while the parent writes its ID maps. */
  userNamespace?: { writeMaps: (stage1Pid: number) => void };
  /**
   * Runs in the parent with stage 1's PID before stage 1 creates its remaining namespaces and the init: puts it
   * in the container's cgroup, so the init starts there and a new cgroup namespace is rooted there.
   */
  placeStage1?: (stage1Pid: number) => void;
  /** /proc/self/timens_offsets text, written after unshare(CLONE_NEWTIME) and before the init exists. */
  timeOffsets?: string;
  /** Runs in stage 1 before it enters any namespace (e.g. rlimits: inside a user namespace they could only go down). */
  beforeNamespaces?: () => void;
  /** Descriptors the init needs besides stdio and the sync pipe (e.g. the exec.fifo O_PATH fd). */
  keepFds: number[];
  /**
   * Runs in the parent when the init asks for it (its mounts in place, before pivot_root): the prestart and
   * createRuntime hooks, which belong to the runtime namespace. The init waits until it returns; if it throws,
   * the init is killed and spawnContainerInit throws that error.
   */
  runtimeHooks?: (initPid: number) => void;
  /** Runs in the parent once the init has announced its PID (it builds its root filesystem meanwhile). */
  initStarted?: (initPid: number) => void;
  /**
   * Runs in the parent once the init is ready, before the init may go on to exec.fifo: the container is recorded
   * here. The init waits for tsrun's byte meanwhile and leaves if the pipe reaches end of file instead (tsrun died),
   * so no init ever waits on exec.fifo without a state.json naming it. If it throws, the init is killed.
   */
  recordReady?: (initPid: number) => void;
  /** Runs in the container's init (PID 1 of the new PID namespace); receives the sync pipe's write end. */
  initMain: (syncFd: number, parent: ParentChannel) => never;
}

/** What the init may ask of the tsrun process that creates it. */
export interface ParentChannel {
  /** The init's PID as the host sees it. */
  hostPid: number;
  /** Blocks until tsrun has run the runtime-namespace hooks (see SpawnOptions.runtimeHooks). */
  awaitRuntimeHooks(): void;
  /** After "ready": blocks until tsrun has recorded the container (see SpawnOptions.recordReady); throws if it died. */
  awaitGoAhead(): void;
}

/**
 * The fork choreography (docs/architecture.md §1):
 *   tsrun ──fork──▶ stage 1: unshare(new namespaces) ──clone(CLONE_PARENT)──▶ init
 * Stage 1 is single-threaded, so unshare works there, and the raw clone is safe. CLONE_PARENT makes the init a
 * direct child of this tsrun process (and so of whoever reaps tsrun's children once it exits, e.g. the shim),
 * and, as the first process created after unshare(CLONE_NEWPID), PID 1 of the container.
 * Returns once the init reported "ready" (blocked on exec.fifo) with its host PID.
 */
export function spawnContainerInit(sys: Sys, options: SpawnOptions): { initPid: number } {
  const [readFd, writeFd] = sys.pipe();
  // Parent → stage 1: one byte once the ID maps are written.
  const [ackRead, ackWrite] = sys.pipe();
  const joins = options.joins ?? [];
  const stage1 = sys.fork();
  if (stage1 === 0) {
    runChild(sys, writeFd, () => {
      // Whatever tsrun had open must not live on in the container's init: a held flock would block the next
      // tsrun call on this container, and any host fd is an escape route (CVE-2024-21626 class).
      closeAllExcept(sys, [0, 1, 2, writeFd, ackRead, ...options.keepFds, ...joins.map((j) => j.fd), ...sys.eventLoopWakeupFds()]);
      options.beforeNamespaces?.();
      if (joins.length > 0 && !options.userNamespace) {
        // Joining namespaces that already hold processes (another container's): they must not open
        // /proc/<pid>/exe of this process or of the init, which inherits this — the host's node binary
        // (CVE-2019-5736 class; see spawn-exec.ts). Not with a new user namespace: a non-dumpable process's /proc
        // files belong to the host's root, so a rootless tsrun (always a new user namespace) could no longer
        // write the uid_map. The container's execve resets it.
        sys.prctl(Prctl.SET_DUMPABLE, 0);
      }
      for (const join of joins) {
        sys.setns(join.fd, join.flag);
        sys.close(join.fd);
      }
      if (joins.some((j) => j.flag === CloneFlags.NEWUSER)) {
        // In a joined user namespace the host's root may have no mapping: become that namespace's root, as in a
        // new one, or the init would run as the overflow uid (and fail to create files: EOVERFLOW).
        sys.setresgid(0);
        sys.setresuid(0);
      }
      if (options.userNamespace) sys.unshare(CloneFlags.NEWUSER);
      if (options.userNamespace || options.placeStage1) {
        // The parent writes the ID maps and/or moves this process into the container's cgroup meanwhile.
        sendMessage(writeFd, { type: 'need-setup' });
        const ack = Buffer.alloc(1);
        if (readSync(ackRead, ack, 0, 1, null) !== 1) throw new RuntimeError('spawn', 'container setup: tsrun went away before setting up stage 1');
      }
      if (options.userNamespace) {
        // Become the container's root: the namespaces created next are owned by this user namespace.
        sys.setresgid(0);
        sys.setresuid(0);
      }
      // The init keeps the acknowledgement pipe when it will wait for the runtime hooks or for the go-ahead.
      if (!options.runtimeHooks && !options.recordReady) sys.close(ackRead);
      sys.unshare(options.newNamespaceFlags);
      if (options.timeOffsets) writeTimeOffsets(sys, options.timeOffsets);
      if (sys.cloneParent() === 0) {
        // The init announces itself (not stage 1 on its behalf), so tsrun learns its PID even if stage 1 dies
        // right after the clone and can kill it instead of leaving it parked on exec.fifo forever.
        runChild(sys, writeFd, () => {
          const hostPid = hostPidOfSelf();
          sendMessage(writeFd, { type: 'init-pid', pid: hostPid });
          options.initMain(writeFd, {
            hostPid,
            awaitRuntimeHooks() {
              sendMessage(writeFd, { type: 'run-hooks' });
              // No byte means tsrun failed (a hook failed) and is about to kill this process.
              if (readSync(ackRead, Buffer.alloc(1), 0, 1, null) !== 1) throw new RuntimeError('hooks', 'container setup: tsrun went away while running hooks');
              if (!options.recordReady) sys.close(ackRead);
            },
            awaitGoAhead() {
              if (!options.recordReady) return;
              if (readSync(ackRead, Buffer.alloc(1), 0, 1, null) !== 1) throw new RuntimeError('spawn', 'container setup: tsrun went away before it recorded the container');
              sys.close(ackRead);
            },
          });
        });
      }
    });
  }
  sys.close(writeFd);
  sys.close(ackRead);
  const reader = new MessageReader(readFd);
  let initPid = 0;
  let stage1Status: number | undefined;
  try {
    for (;;) {
      const message = reader.next();
      if (message?.type === 'init-pid') {
        initPid = message.pid;
        options.initStarted?.(initPid);
        continue;
      }
      if (message?.type === 'need-setup' && (options.userNamespace || options.placeStage1)) {
        options.userNamespace?.writeMaps(stage1);
        options.placeStage1?.(stage1);
        sendByte(ackWrite);
        continue;
      }
      if (message?.type === 'run-hooks' && options.runtimeHooks && initPid > 0) {
        options.runtimeHooks(initPid);
        sendByte(ackWrite);
        continue;
      }
      stage1Status ??= sys.waitpid(stage1, 0).status;
      if (message?.type === 'error') throw new RuntimeError(message.code, message.message);
      if (stage1Status !== 0) {
        throw new RuntimeError('spawn', `container setup: stage 1 failed (${describeWaitStatus(stage1Status)})`);
      }
      if (message?.type === 'ready' && initPid > 0) {
        if (options.recordReady) {
          options.recordReady(initPid);
          sendByte(ackWrite);
        }
        return { initPid };
      }
      const status = initPid > 0 ? reapIfExited(sys, initPid) : undefined;
      throw new RuntimeError('spawn', `container init exited before it was ready${status === undefined ? '' : ` (${describeWaitStatus(status)})`}`);
    }
  } catch (error) {
    if (stage1Status === undefined) {
      // Stage 1 may be blocked waiting for the ID-map acknowledgement that will never come.
      sys.signalIfAlive(stage1, SIGKILL);
      sys.waitpid(stage1, 0);
    }
    if (initPid > 0 && sys.signalIfAlive(initPid, SIGKILL)) {
      try {
        sys.waitpid(initPid, 0);
      } catch {
        // already reaped
      }
    }
    throw error;
  } finally {
    sys.close(readFd);
    sys.close(ackWrite);
  }
}

/**
 * /proc/self/timens_offsets belongs to the process only while it is dumpable. Becoming the root of a user
 * namespace that maps it to another host uid made stage 1 non-dumpable (fs.suid_dumpable 0), and the file then
 * belongs to the host's root: dumpable just for the write, then back to what the kernel decided.
 */
function writeTimeOffsets(sys: Sys, offsets: string): void {
  const dumpable = sys.prctl(Prctl.GET_DUMPABLE, 0);
  if (dumpable !== 1) sys.prctl(Prctl.SET_DUMPABLE, 1);
  try {
    writeFileSync('/proc/self/timens_offsets', offsets);
  } catch (error) {
    // The kernel judges the offsets (ERANGE beyond what its clocks can hold): name the field and what was written.
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new RuntimeError('config', `config.json: /linux/timeOffsets: write /proc/self/timens_offsets ${JSON.stringify(offsets.trim())}: ${code}`);
  } finally {
    if (dumpable !== 1) sys.prctl(Prctl.SET_DUMPABLE, dumpable);
  }
}

function sendByte(fd: number): void {
  writeSync(fd, Buffer.from([1]));
}

/** The calling process's PID as the host sees it: /proc is still the host's until the init mounts its own. */
function hostPidOfSelf(): number {
  return Number(readlinkSync('/proc/self'));
}

/** Closes every descriptor not in `keep`, with one close_range call per gap. */
export function closeAllExcept(sys: Sys, keep: number[]): void {
  const sorted = [...new Set(keep)].filter((fd) => fd >= 0).sort((a, b) => a - b);
  let next = 0;
  for (const fd of sorted) {
    if (fd > next) sys.closeRange(next, fd - 1, 0);
    next = fd + 1;
  }
  sys.closeRange(next, 0xffffffff, 0);
}

function reapIfExited(sys: Sys, pid: number): number | undefined {
  try {
    const result = sys.waitpid(pid, 0);
    return result.pid === pid ? result.status : undefined;
  } catch {
    return undefined;
  }
}

export function describeWaitStatus(status: number): string {
  const signal = status & 0x7f;
  if (signal === 0) return `exit status ${(status >> 8) & 0xff}`;
  return `killed by signal ${signal}`;
}

/** Shell-style exit code of a wait status: the exit status, or 128 + the signal number. */
export function exitCodeOf(status: number): number {
  const signal = status & 0x7f;
  return signal === 0 ? (status >> 8) & 0xff : 128 + signal;
}
