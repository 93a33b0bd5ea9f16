import fs from 'node:fs';
import { RuntimeError } from '../errors';
import { CLOSE_RANGE_CLOEXEC, F_GETFL, F_SETFD, F_SETFL, OpenFlags, Prctl } from '../linux/constants';
import type { Sys } from '../linux/sys';
import { formatHookState, runHooks } from '../hooks/run-hook';
import type { ParentChannel } from '../ns/spawn-init';
import { sendMessage } from '../ns/sync-channel';
import { agentMessage, installSeccomp, type PreparedSeccomp } from './seccomp-filter';
import type { ContainerPlan, ProcessPlan } from '../spec/plan';
import { setCpuAffinity, setIoPriority, setPersonality, setScheduler } from '../linux/process-settings';
import { dupOntoStdio, makeControllingTerminal, openPty, openPtySlave, setWindowSize } from '../linux/pty';
import { sendFd } from '../linux/unix-socket';
import { applyCredentials } from './credentials';
import { lookPath } from './look-path';
import { applySysctl, finalizeRootfs, prepareRootfs } from './rootfs';

export interface InitFds {
  /** Write end of the pipe to the tsrun process that runs `create`. */
  syncFd: number;
  /** O_PATH descriptor of <state dir>/exec.fifo, opened by the parent before fork. */
  execFifoFd: number;
  /** Connected --console-socket: the init allocates the container's pty and sends its master here. */
  consoleSocketFd: number | undefined;
  /** How many descriptors from 3 up the container inherits (socket activation + --preserve-fds). */
  extraFds: number;
  /** linux.seccomp, compiled by tsrun: loaded as the very last step before execve. */
  seccomp?: PreparedSeccomp | undefined;
}

/** The container as hooks see it (runtime-spec state); the init adds status and its own PID. */
export interface InitHookState {
  ociVersion: string;
  annotations?: Record<string, string> | undefined;
}

/**
 * The container's init (PID 1 of its PID namespace). Sets up the root filesystem and the environment, reports
 * "ready", waits for tsrun's go-ahead (the container is recorded then), then blocks opening exec.fifo for writing
 * until `tsrun start` opens it for reading. After start it writes one byte, becomes the configured user and execs
 * the process; an exec failure is written to the fifo so `start` can report it. Synchronous only; never returns.
 */
export function containerInit(sys: Sys, plan: ContainerPlan, fds: InitFds, parent: ParentChannel, hookState: InitHookState): never {
  let fifo = -1;
  const stateFor = (status: 'creating' | 'created') =>
    formatHookState({ ...hookState, id: plan.id, status, pid: sys.getpid(), bundle: plan.bundle });
  try {
    sys.setsid();
    // Its own session keyring, so keys of the caller's session are not shared with the container.
    if (plan.sessionKeyring !== undefined) sys.joinSessionKeyring(plan.sessionKeyring);
    // Before the mounts and the hooks, as runc does: a createRuntime hook that configures the network finds lo up.
    if (plan.newNetwork) sys.bringUpLoopback();
    prepareRootfs(sys, plan, () => {
      // runtime-spec: with the mounts in place and before pivot_root, prestart and createRuntime run in the
      // runtime namespace (tsrun does that meanwhile), then createContainer here, in the container's
      // namespaces, its path still resolved in the runtime's mount tree.
      if (plan.hooks.prestart.length > 0 || plan.hooks.createRuntime.length > 0) parent.awaitRuntimeHooks();
      if (plan.hooks.createContainer.length > 0) runHooks(sys, 'createContainer', plan.hooks.createContainer, stateFor('creating'));
    });
    if (plan.hostname !== undefined) sys.sethostname(plan.hostname);
    if (plan.domainname !== undefined) sys.setdomainname(plan.domainname);
    applySysctl(plan.sysctl);
    finalizeRootfs(sys, plan);
    if (plan.process.terminal) setUpTerminal(plan.process, fds.consoleSocketFd);
    if (!fs.existsSync(plan.process.cwd)) makeCwd(plan.process.cwd);
    // Look the executable up from the process's cwd, so a relative args[0] or PATH entry means what it will
    // mean at execve.
    sys.chdir(plan.process.cwd);
    const executable = lookPath(plan.process.args[0]!, plan.process.env);

    sendMessage(fds.syncFd, { type: 'ready' });
    sys.close(fds.syncFd);
    // Only once tsrun has recorded the container (state.json): if tsrun dies first, this leaves instead.
    parent.awaitGoAhead();
    try {
      fifo = sys.open(`/proc/self/fd/${fds.execFifoFd}`, OpenFlags.WRONLY | OpenFlags.CLOEXEC);
    } catch (error) {
      throw new RuntimeError('exec-fifo', `open exec.fifo through /proc/self/fd: ${(error as Error).message} (is /proc mounted in the container?)`);
    }
    sys.close(fds.execFifoFd);
    fs.writeSync(fifo, '0');
    // startContainer: after `start` was called, before the process runs, in the container (its root now).
    if (plan.hooks.startContainer.length > 0) runHooks(sys, 'startContainer', plan.hooks.startContainer, stateFor('created'));

    applySecurityLabels(plan.process);
    applyProcessSettings(plan.process);
    const seccomp = fds.seccomp;
    const message = seccomp && agentMessage(seccomp, parent.hostPid, { ...hookState, id: plan.id, status: 'created', pid: parent.hostPid, bundle: plan.bundle });
    if (seccomp?.beforeCredentials) installSeccomp(sys, seccomp, message);
    applyCredentials(sys, plan.process, plan.setgroupsDenied);
    sys.chdir(plan.process.cwd);
    if (plan.process.noNewPrivileges) sys.prctl(Prctl.SET_NO_NEW_PRIVS, 1);
    prepareStdio(sys, fds.extraFds);
    sys.resetSignals();
    // Last: nothing of tsrun's runs under the container's filter but the execve (and the agent hand-over).
    if (seccomp && !seccomp.beforeCredentials) installSeccomp(sys, seccomp, message);
    return sys.execve(executable, plan.process.args, plan.process.env);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    try {
      if (fifo >= 0) fs.writeSync(fifo, message);
      else sendMessage(fds.syncFd, { type: 'error', code: (error as { code?: string }).code ?? 'init', message });
    } catch {
      // nobody to tell: tsrun sees the exit status instead
    }
    return sys.exit(1);
  }
}

/**
 * Node marks 0-2 close-on-exec and may have made them non-blocking; the container expects ordinary inherited
 * stdio, plus the passed-on descriptors 3..3+extraFds-1. Every other descriptor is closed at exec, so nothing
 * of tsrun's leaks into the container.
 */
/**
 * The container's terminal, allocated inside it (its own devpts instance, so the slave's path means the
 * same in the container): the slave becomes the init's controlling terminal and stdio, the master goes to
 * the --console-socket in one SCM_RIGHTS message. The init was made a session leader by setsid earlier.
 */
export function setUpTerminal(process: ProcessPlan, consoleSocketFd: number | undefined): void {
  if (consoleSocketFd === undefined) throw new RuntimeError('terminal', 'process.terminal is set but no console socket was given');
  const { master, slavePath } = openPty();
  const slave = openPtySlave(slavePath);
  const size = process.consoleSize;
  if (size) setWindowSize(master, size.rows, size.cols);
  makeControllingTerminal(slave);
  dupOntoStdio(slave);
  fs.closeSync(slave);
  sendFd(consoleSocketFd, master, '/dev/ptmx');
  fs.closeSync(master);
  fs.closeSync(consoleSocketFd);
}

export function prepareStdio(sys: Sys, extraFds: number): void {
  for (let fd = 0; fd < 3 + extraFds; fd++) {
    try {
      sys.fcntl(fd, F_SETFD, 0);
      const flags = sys.fcntl(fd, F_GETFL, 0);
      if (flags & OpenFlags.NONBLOCK) sys.fcntl(fd, F_SETFL, flags & ~OpenFlags.NONBLOCK);
    } catch {
      // a closed stdio descriptor stays closed, as with runc
    }
  }
  sys.closeRange(3 + extraFds, 0xffffffff, CLOSE_RANGE_CLOEXEC);
}

/** The LSM context the process gets at execve (written while still privileged, before the credentials drop). */
export function applySecurityLabels(process: ProcessPlan): void {
  const profile = process.apparmorProfile;
  if (profile !== undefined) {
    const attr = fs.existsSync('/proc/self/attr/apparmor/exec') ? '/proc/self/attr/apparmor/exec' : '/proc/self/attr/exec';
    try {
      fs.writeFileSync(attr, `exec ${profile}`);
    } catch (error) {
      throw new RuntimeError('apparmor', `apply AppArmor profile ${JSON.stringify(profile)}: write ${attr}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  const label = process.selinuxLabel;
  if (label !== undefined) {
    try {
      fs.writeFileSync('/proc/thread-self/attr/exec', label);
    } catch (error) {
      throw new RuntimeError('selinux', `apply SELinux label ${JSON.stringify(label)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
}

/**
 * Scheduling, I/O priority, personality and CPU affinity, set while the init is still privileged (real-time
 * classes need CAP_SYS_NICE / CAP_SYS_ADMIN) and after everything that forks (a SCHED_DEADLINE task cannot).
 * Without cgroups both affinity lists apply here: `initial` first, `final` last, so `final` is what remains.
 */
export function applyProcessSettings(p: ProcessPlan): void {
  if (p.personality !== undefined) setPersonality(p.personality);
  if (p.ioPriority !== undefined) setIoPriority(p.ioPriority);
  if (p.scheduler !== undefined) setScheduler(p.scheduler);
  if (p.cpuAffinity?.initial) setCpuAffinity(p.cpuAffinity.initial);
  if (p.cpuAffinity?.final) setCpuAffinity(p.cpuAffinity.final);
}

/**
 * mkdir -p of process.cwd, one component at a time: Node's recursive mkdirSync spins forever when mkdir answers
 * ENOENT below a directory that exists (a cwd of /proc/self/fd/N, as in CVE-2024-21626), hanging create.
 */
function makeCwd(cwd: string): void {
  let dir = '';
  for (const part of cwd.split('/').filter((p) => p !== '')) {
    dir += `/${part}`;
    if (fs.existsSync(dir)) continue;
    try {
      fs.mkdirSync(dir, { mode: 0o755 });
    } catch (error) {
      throw new RuntimeError('cwd', `config.json: /process/cwd ${JSON.stringify(cwd)}: mkdir ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
}
