import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../errors';
import { execProcess } from '../init/exec-process';
import { CloneFlags, OpenFlags } from '../linux/constants';
import { connectUnix, recvFd, socketPair } from '../linux/unix-socket';
import { spawnExecProcess } from '../ns/spawn-exec';
import { exitCodeOf } from '../ns/spawn-init';
import { parseJsonLossless } from '../spec/json';
import { buildPlan, type ProcessPlan } from '../spec/plan';
import type { Process, Spec } from '../spec/types';
import { loadConfig, validateConfigObject } from '../spec/validate';
import { cgroupManagerOf } from './cgroups';
import type { RuntimeContext } from './context';
import { writePidFile } from './create';
import { configPath, inspectContainer } from './inspect';
import { detectHostSecurity, processOnHost } from './security-modules';
import { checkTransition } from './status';
import { agentMessage, connectSeccompAgent, prepareSeccomp, type PreparedSeccomp } from '../init/seccomp-filter';
import { planSeccomp } from '../spec/seccomp';
import { pauseAt, pauseFor } from './test-pause';
import { waitForChild } from './wait-child';

export interface ExecOptions {
  id: string;
  /** --process: a runtime-spec `process` object in a file; otherwise the container's process with the flags below. */
  processFile?: string | undefined;
  args: string[];
  detach: boolean;
  pidFile?: string | undefined;
  consoleSocket?: string | undefined;
  tty: boolean;
  cwd?: string | undefined;
  env: string[];
  /** --user uid[:gid] */
  user?: string | undefined;
  additionalGids: number[];
  caps: string[];
  noNewPrivs: boolean;
  ignorePaused: boolean;
  apparmor?: string | undefined;
  processLabel?: string | undefined;
  preserveFds: number;
}

/** /proc/PID/ns entries, in setns order: the user namespace first, the mount namespace last. */
const NAMESPACE_FILES: Array<[string, number]> = [
  ['user', CloneFlags.NEWUSER], ['ipc', CloneFlags.NEWIPC], ['uts', CloneFlags.NEWUTS], ['net', CloneFlags.NEWNET],
  ['pid', CloneFlags.NEWPID], ['cgroup', CloneFlags.NEWCGROUP], ['time', CloneFlags.NEWTIME], ['mnt', CloneFlags.NEWNS],
];

/** The process exec runs: --process as given, or the container's own process with the command-line overrides. */
function execProcessSpec(containerSpec: Spec, options: ExecOptions): Process {
  if (options.processFile !== undefined) {
    const text = fs.readFileSync(options.processFile, 'utf8');
    return parseJsonLossless(text, options.processFile) as Process;
  }
  const base = structuredClone(containerSpec.process ?? { user: { uid: 0, gid: 0 }, cwd: '/' }) as Process;
  if (options.args.length === 0) throw new RuntimeError('usage', 'exec: a command (or --process FILE) is required');
  base.args = options.args;
  base.terminal = options.tty;
  if (options.cwd !== undefined) base.cwd = options.cwd;
  base.env = [...(base.env ?? []), ...options.env];
  if (options.user !== undefined) {
    const match = /^(\d+)(?::(\d+))?$/.exec(options.user);
    if (!match) throw new RuntimeError('usage', `--user ${JSON.stringify(options.user)}: must be uid or uid:gid`);
    base.user = { uid: Number(match[1]), gid: match[2] === undefined ? 0 : Number(match[2]) };
  }
  if (options.additionalGids.length > 0) base.user = { ...base.user, additionalGids: options.additionalGids };
  if (options.caps.length > 0) {
    const caps = base.capabilities ?? {};
    for (const set of ['bounding', 'effective', 'permitted', 'ambient'] as const) caps[set] = [...new Set([...(caps[set] ?? []), ...options.caps])];
    base.capabilities = caps;
  }
  if (options.noNewPrivs) base.noNewPrivileges = true;
  if (options.apparmor !== undefined) base.apparmorProfile = options.apparmor;
  if (options.processLabel !== undefined) base.selinuxLabel = options.processLabel;
  delete base.consoleSize;
  return base;
}

/** Checks the exec process the way config.json's process is checked (schema + semantics) and plans it. */
function planExecProcess(containerSpec: Spec, process: Process, source: string): ProcessPlan {
  // Hooks and seccomp belong to the container, not to this process: leave them out of the check.
  const { hooks: _hooks, ...rest } = containerSpec;
  const { seccomp: _seccomp, ...linux } = containerSpec.linux ?? {};
  const spec = validateConfigObject({ ...rest, linux, process }, source);
  return buildPlan(spec, { id: 'exec', bundle: '/', noPivot: false }).process;
}

/**
 * `tsrun exec`: runs one more process in a running container, in all of its namespaces and its cgroup. Returns
 * 0 once the process has exec'd with --detach (and writes the pid file only then), else its exit code.
 */
export async function execInContainer(ctx: RuntimeContext, options: ExecOptions): Promise<number> {
  const view = inspectContainer(ctx, options.id);
  checkTransition('exec', view.status, { id: options.id, ignorePaused: options.ignorePaused });
  const containerSpec = loadConfig(fs.readFileSync(configPath(view.state.bundle), 'utf8'));
  const process = processOnHost(planExecProcess(containerSpec, execProcessSpec(containerSpec, options), options.processFile ?? 'exec'), detectHostSecurity(), ctx.warn, {
    apparmor: options.apparmor !== undefined ? '--apparmor' : `${options.processFile ?? 'config.json'}: /process/apparmorProfile`,
    selinux: options.processLabel !== undefined ? '--process-label' : `${options.processFile ?? 'config.json'}: /process/selinuxLabel`,
  });
  // The container's filter applies to every process in it (as with runc), compiled for this process's privileges.
  const seccompPlan = containerSpec.linux?.seccomp ? planSeccomp(containerSpec.linux.seccomp) : undefined;
  let seccomp: PreparedSeccomp | undefined = seccompPlan && prepareSeccomp(seccompPlan, process);
  if (process.terminal && options.consoleSocket === undefined && options.detach) {
    throw new RuntimeError('terminal', 'cannot allocate tty if tsrun will detach without setting console socket');
  }
  if (!process.terminal && options.consoleSocket !== undefined) {
    throw new RuntimeError('terminal', 'cannot use console socket if tsrun will not detach or allocate tty (the process has no terminal: pass --tty)');
  }
  const { sys } = ctx;
  const initPid = view.state.initPid;
  const held: number[] = [];
  let pid: number;
  let relayEnd: number | undefined;
  let terminalMaster: number | undefined;
  try {
    const joins: Array<{ fd: number; flag: number }> = [];
    for (const [name, flag] of NAMESPACE_FILES) {
      const theirs = `/proc/${initPid}/ns/${name}`;
      // Joining the namespace one is already in is a no-op at best (EINVAL for a user namespace): skip those.
      if (fs.readlinkSync(theirs) === fs.readlinkSync(`/proc/self/ns/${name}`)) continue;
      const fd = sys.open(theirs, OpenFlags.RDONLY | OpenFlags.CLOEXEC);
      held.push(fd);
      joins.push({ fd, flag });
    }
    let consoleSocketFd = options.consoleSocket === undefined ? undefined : connectUnix(path.resolve(options.consoleSocket));
    if (consoleSocketFd === undefined && process.terminal) {
      // By hand (`exec -t` without a socket): tsrun is the other end and relays the terminal.
      [consoleSocketFd, relayEnd] = socketPair();
      held.push(relayEnd);
    }
    if (consoleSocketFd !== undefined) held.push(consoleSocketFd);
    let hostProcFd: number | undefined;
    if (seccomp && seccompPlan?.notify) {
      seccomp = connectSeccompAgent(seccomp, seccompPlan);
      held.push(seccomp.agent!.socketFd);
      // The agent wants the process's host PID; inside, only the host's /proc (kept open) can tell it.
      hostProcFd = sys.open('/proc', OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.CLOEXEC);
      held.push(hostProcFd);
    }
    const seccompFds = [...(seccomp?.agent ? [seccomp.agent.socketFd] : []), ...(hostProcFd === undefined ? [] : [hostProcFd])];
    const prepared = seccomp;
    const execSeccomp = prepared && {
      prepared,
      agentMessage: () => {
        if (hostProcFd === undefined) return undefined;
        const pid = Number(fs.readlinkSync(`/proc/self/fd/${hostProcFd}/self`));
        return agentMessage(prepared, pid, { ociVersion: view.state.ociVersion, id: options.id, status: 'running', pid: initPid, bundle: view.state.bundle, annotations: view.state.annotations });
      },
    };
    const cgroups = cgroupManagerOf(view.state);
    const passed = Array.from({ length: options.preserveFds }, (_, i) => 3 + i);
    const pause = pauseFor(ctx.testPause, 'exec-joined', sys);
    if (pause) held.push(pause.fd);
    ({ pid } = spawnExecProcess(sys, {
      joins,
      keepFds: [...passed, ...seccompFds, ...(consoleSocketFd === undefined ? [] : [consoleSocketFd]), ...(pause ? [pause.fd] : [])],
      placeStage1: cgroups && ((stage1) => cgroups.join(stage1)),
      pauseInContainer: pause?.wait,
      processMain: () => execProcess(sys, process, { consoleSocketFd, extraFds: options.preserveFds, seccomp: execSeccomp }, ctx.rootless ?? false),
    }));
    if (relayEnd !== undefined) terminalMaster = recvFd(relayEnd).fd;
  } finally {
    for (const fd of held) sys.close(fd);
  }
  if (options.pidFile) writePidFile(options.pidFile, pid);
  pauseAt(ctx.testPause, 'exec-spawned');
  if (options.detach) return 0;
  // Loaded only with a terminal: it pulls in node:tty, node:net and node:stream (~10 ms of start-up).
  const relay = terminalMaster === undefined ? undefined : new (await import('./terminal-relay')).TerminalRelay(terminalMaster);
  const status = await waitForChild(ctx.sys, pid);
  await relay?.finish();
  return exitCodeOf(status);
}
