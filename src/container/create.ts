import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../errors';
import { containerInit } from '../init/container-init';
import { OpenFlags, SIGKILL } from '../linux/constants';
import { connectUnix, recvFd, socketPair } from '../linux/unix-socket';
import { parseCgroupFile, parseMountInfo, parseProcStat, type CgroupEntry } from '../linux/proc-parsers';
import type { CgroupManager } from '../cgroups/types';
import { createContainerCgroups, destroyContainerCgroups, hostCgroupLayout, parentRegistry } from './cgroups';
import { recordMadeParents } from './cgroup-parents';
import { planCgroupMount } from '../spec/cgroup-mount-plan';
import { checkUnprivilegedMaps, denySetgroups, formatTimeOffsets, hostIdOf, writeIdMaps } from '../ns/id-maps';
import { openNamespaceFiles } from '../ns/namespaces';
import { spawnContainerInit } from '../ns/spawn-init';
import { userNamespaceFd } from '../ns/userns-fd';
import type { Sys } from '../linux/sys';
import { buildPlan, type ContainerPlan } from '../spec/plan';
import type { Spec } from '../spec/types';
import { loadConfig } from '../spec/validate';
import { validateContainerId } from '../spec/container-id';
import type { RuntimeContext } from './context';
import { execFifoPath } from './exec-fifo';
import { configPath } from './inspect';
import { hookState, runRuntimeHooks, runWarningHooks, type HookStateSource } from './lifecycle-hooks';
import { applyHostSecurity, detectHostSecurity } from './security-modules';
import { connectSeccompAgent, prepareSeccomp, type PreparedSeccomp } from '../init/seccomp-filter';
import { nowRfc3339Nano, type StoredState } from './state-store';
import { pauseAt } from './test-pause';

export interface CreateOptions {
  id: string;
  bundle: string;
  pidFile?: string | undefined;
  noPivot?: boolean | undefined;
  noNewKeyring?: boolean | undefined;
  /** --console-socket: where the container's pty master is sent (required when process.terminal is set). */
  consoleSocket?: string | undefined;
  /** `run` without --detach: tsrun stays attached and relays a terminal itself when there is no console socket. */
  foreground?: boolean | undefined;
  /** --preserve-fds: descriptors 3.. of tsrun's caller handed on to the container. */
  preserveFds?: number | undefined;
  /** Socket activation: LISTEN_FDS descriptors (from 3) handed on, announced to the container like runc. */
  listenFds?: number | undefined;
}

export interface CreatedContainer {
  id: string;
  initPid: number;
  plan: ContainerPlan;
  state: StoredState;
  /** With a terminal and no console socket (foreground `run`): the pty master, for tsrun to relay. */
  terminalMaster?: number;
}

/** Reads and validates <bundle>/config.json into a plan; every error names the file, field and value. */
export function loadBundle(id: string, bundleArg: string, noPivot: boolean, noNewKeyring = false): { spec: Spec; plan: ContainerPlan } {
  const bundle = path.resolve(bundleArg);
  const file = configPath(bundle);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new RuntimeError('config', `open ${file}: ${code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`);
  }
  const spec = loadConfig(text);
  const plan = buildPlan(spec, { id, bundle, noPivot, noNewKeyring });
  let rootStat: fs.Stats;
  try {
    rootStat = fs.statSync(plan.rootfs);
  } catch {
    throw new RuntimeError('config', `config.json: /root/path: rootfs ${plan.rootfs} does not exist`);
  }
  if (!rootStat.isDirectory()) throw new RuntimeError('config', `config.json: /root/path: rootfs ${plan.rootfs} is not a directory`);
  return { spec, plan };
}

/**
 * The container's cgroups: made and limited here, before the init exists (containerd reads the init's cgroup
 * right after create). Rootless tsrun cannot write the host's cgroups: it runs without, unless config.json
 * asks for limits, which it refuses.
 */
function setUpCgroups(ctx: RuntimeContext, spec: Spec, id: string): CgroupManager | undefined {
  if (ctx.rootless) {
    if (spec.linux?.resources && Object.keys(spec.linux.resources).some((k) => k !== 'devices')) {
      throw new RuntimeError('rootless', 'config.json: /linux/resources: rootless tsrun cannot set cgroup limits (it may not write the host\'s cgroups)');
    }
    return undefined;
  }
  // Recorded as soon as they exist: a tsrun killed before state.json leaves them to `delete --force`.
  return createContainerCgroups(spec, id, ctx.warn, (cgroup) => ctx.store.writeCreating(id, { cgroup }));
}

/**
 * Resolves `type: cgroup` mounts against the host's cgroup layout, read here in the host's cgroup namespace.
 * `cgroups` is the container's /proc/PID/cgroup view (tsrun's own until its cgroups exist).
 */
function withCgroupMountActions(plan: ContainerPlan, cgroups?: CgroupEntry[]): ContainerPlan {
  if (!plan.mounts.some((m) => m.type === 'cgroup' && !m.bind)) return plan;
  const context = {
    mounts: parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')),
    cgroups: cgroups ?? parseCgroupFile(fs.readFileSync('/proc/self/cgroup', 'utf8')),
    cgroupNamespace: plan.namespaces.includes('cgroup'),
    userNamespace: plan.inUserNamespace,
  };
  return {
    ...plan,
    mounts: plan.mounts.map((m) => (m.type === 'cgroup' && !m.bind ? { ...m, cgroupActions: planCgroupMount(m.destination, context) } : m)),
  };
}

/**
 * Makes each idmapped mount's tree here, on the host: idmapping a mount needs privilege over the source's mount
 * namespace, which the init inside a user namespace lacks. The detached trees are attached by the init.
 */
function withIdmapFds(sys: Sys, plan: ContainerPlan, opened: number[]): ContainerPlan {
  if (!plan.mounts.some((m) => m.idmap)) return plan;
  const usernsByMaps = new Map<string, number>();
  try {
    const mounts = plan.mounts.map((m, i) => {
      if (!m.idmap) return m;
      const key = JSON.stringify([m.idmap.uidMappings, m.idmap.gidMappings]);
      let userns = usernsByMaps.get(key);
      if (userns === undefined) {
        userns = userNamespaceFd(sys, m.idmap.uidMappings, m.idmap.gidMappings, `/mounts/${i}`);
        usernsByMaps.set(key, userns);
      }
      let treeFd: number;
      try {
        treeFd = sys.openIdmappedTree(m.source, userns, m.idmap.recursive || m.recursiveBind);
      } catch (error) {
        throw new RuntimeError('idmap', `config.json: /mounts/${i}: idmapped bind of ${m.source}: ${(error as Error).message}`);
      }
      opened.push(treeFd);
      return { ...m, idmap: { ...m.idmap, treeFd } };
    });
    return { ...plan, mounts };
  } finally {
    for (const fd of usernsByMaps.values()) sys.close(fd);
  }
}

/**
 * What a container needs when tsrun has no privilege: a new user namespace whose maps name only the caller's
 * own uid and gid (the kernel refuses anything else from an unprivileged writer), and no setgroups in it.
 */
function rootlessPlan(plan: ContainerPlan): ContainerPlan {
  if (!plan.userNamespace) {
    throw new RuntimeError('rootless', 'config.json: /linux/namespaces: a rootless container needs a new user namespace (see tsrun spec --rootless)');
  }
  checkUnprivilegedMaps(plan.userNamespace.uidMappings, plan.userNamespace.gidMappings, process.geteuid?.() ?? 0, process.getegid?.() ?? 0);
  return { ...plan, setgroupsDenied: true };
}

/** The container's cgroups as /proc/PID/cgroup entries (hierarchy-relative paths) for the cgroup mount plan. */
function cgroupEntriesOf(cgroups: CgroupManager): CgroupEntry[] {
  const layout = hostCgroupLayout();
  // Co-mounted controllers (cpu,cpuacct) share one directory: one entry per directory, like /proc/PID/cgroup.
  const byDir = new Map<string, CgroupEntry>();
  for (const [controller, dir] of Object.entries(cgroups.state.paths)) {
    const hierarchy = controller === 'unified' ? layout.unified : layout.v1[controller];
    if (!hierarchy) continue;
    const relative = path.posix.join(hierarchy.root, path.posix.relative(hierarchy.mountPoint, dir));
    const entry = byDir.get(dir) ?? { hierarchyId: controller === 'unified' ? 0 : byDir.size + 1, controllers: [], path: relative };
    if (controller !== 'unified') entry.controllers.push(controller);
    byDir.set(dir, entry);
  }
  return [...byDir.values()];
}

/** runc's rules: a detached terminal needs a console socket, and a console socket needs a terminal. */
function checkTerminalOptions(terminal: boolean, consoleSocket: string | undefined, foreground: boolean): void {
  if (terminal && consoleSocket === undefined && !foreground) {
    throw new RuntimeError('terminal', 'cannot allocate tty if tsrun will detach without setting console socket (config.json /process/terminal is true: pass --console-socket)');
  }
  if (!terminal && consoleSocket !== undefined) {
    throw new RuntimeError('terminal', 'cannot use console socket if tsrun will not detach or allocate tty (config.json /process/terminal is false)');
  }
}

function connectConsoleSocket(socketPath: string): number {
  try {
    return connectUnix(path.resolve(socketPath));
  } catch (error) {
    throw new RuntimeError('console-socket', `--console-socket ${socketPath}: ${(error as Error).message}`);
  }
}

function writeOomScoreAdj(value: number): void {
  try {
    fs.writeFileSync('/proc/self/oom_score_adj', String(value));
  } catch (error) {
    throw new RuntimeError('oom-score-adj', `config.json: /process/oomScoreAdj ${value}: write /proc/self/oom_score_adj: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Writes the pid file the way callers parse it: decimal, no newline, replaced atomically. */
export function writePidFile(file: string, pid: number): void {
  const target = path.resolve(file);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}`);
  fs.writeFileSync(tmp, String(pid), { mode: 0o644 });
  fs.renameSync(tmp, target);
}

/**
 * `tsrun create`: validates the bundle, makes the state directory and exec.fifo, forks the container's
 * init, waits until it is parked on exec.fifo, records the state and writes the pid file. On any failure
 * everything made so far is removed again (init killed, state directory gone).
 */
export function createContainer(ctx: RuntimeContext, options: CreateOptions): CreatedContainer {
  validateContainerId(options.id);
  const loaded = loadBundle(options.id, options.bundle, options.noPivot ?? false, options.noNewKeyring ?? false);
  const spec = loaded.spec;
  let plan = applyHostSecurity(loaded.plan, detectHostSecurity(), ctx.warn);
  const listenFds = options.listenFds ?? 0;
  const extraFds = listenFds + (options.preserveFds ?? 0);
  if (listenFds > 0) {
    plan = { ...plan, process: { ...plan.process, env: [...plan.process.env, `LISTEN_FDS=${listenFds}`, 'LISTEN_PID=1'] } };
  }
  const passedFds = Array.from({ length: extraFds }, (_, i) => 3 + i);
  if (ctx.rootless) plan = rootlessPlan(plan);
  checkTerminalOptions(plan.process.terminal, options.consoleSocket, options.foreground ?? false);
  // Compiled before anything exists: a filter libseccomp refuses leaves nothing behind.
  const preparedSeccomp = plan.seccomp && prepareSeccomp(plan.seccomp, plan.process);
  const { sys, store } = ctx;
  const hookSource: HookStateSource = { ociVersion: spec.ociVersion, id: options.id, bundle: plan.bundle, annotations: spec.annotations };
  const hooks = plan.hooks;
  store.ensureRoot();
  return store.withLock(options.id, () => {
    const dir = store.createContainerDir(options.id);
    pauseAt(ctx.testPause, 'create-dir');
    // Set once a create-phase hook has run: a failure from then on goes on to poststop (runtime-spec step 12-13).
    let hooksStarted = false;
    let initPid = 0;
    let cgroups: CgroupManager | undefined;
    let terminalMaster: number | undefined;
    let state: StoredState | undefined;
    try {
      cgroups = setUpCgroups(ctx, spec, options.id);
      if (cgroups) recordMadeParents(parentRegistry(ctx), cgroups.state);
      pauseAt(ctx.testPause, 'create-cgroups');
      // `type: cgroup` mounts show the container's own cgroup (tsrun's own where it runs without cgroups).
      plan = withCgroupMountActions(plan, cgroups && cgroupEntriesOf(cgroups));
      const fifo = execFifoPath(dir);
      sys.mkfifo(fifo, 0o622);
      fs.chmodSync(fifo, 0o622); // mkfifo honours the umask; anyone the container runs as must be able to open it
      const userNs = plan.userNamespace;
      if (userNs && !ctx.rootless) {
        // The init runs as the container's root, which is some other host user: let it own the fifo.
        fs.chownSync(fifo, hostIdOf(0, userNs.uidMappings) ?? 0, hostIdOf(0, userNs.gidMappings) ?? 0);
      }
      // Descriptors the children inherit; all closed here once the init is parked, whatever happened.
      const held: number[] = [];
      const hold = (fd: number) => {
        held.push(fd);
        return fd;
      };
      try {
        const execFifoFd = hold(sys.open(fifo, OpenFlags.PATH | OpenFlags.CLOEXEC));
        const joins = openNamespaceFiles(sys, plan.joinNamespaces);
        joins.forEach((j) => hold(j.fd));
        const idmapFds: number[] = [];
        try {
          plan = withIdmapFds(sys, plan, idmapFds);
        } finally {
          idmapFds.forEach(hold);
        }
        // Connected here, on the host: the init sends the pty master through it from inside the container. In
        // the foreground without a socket, tsrun itself is the other end (a socketpair) and relays the terminal.
        let relayEnd: number | undefined;
        let consoleSocketFd: number | undefined;
        if (options.consoleSocket !== undefined) consoleSocketFd = hold(connectConsoleSocket(options.consoleSocket));
        else if (plan.process.terminal && options.foreground) {
          const [containerEnd, ourEnd] = socketPair();
          consoleSocketFd = hold(containerEnd);
          relayEnd = hold(ourEnd);
        }
        let seccomp: PreparedSeccomp | undefined;
        if (preparedSeccomp && plan.seccomp) {
          seccomp = connectSeccompAgent(preparedSeccomp, plan.seccomp);
          if (seccomp.agent) hold(seccomp.agent.socketFd);
        }
        const runPlan = plan;
        // state.json and the pid file, written while the ready init waits for the go-ahead (see recordReady).
        const record = (pid: number): StoredState => {
          const stat = parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'));
          const recorded: StoredState = {
            id: options.id,
            bundle: runPlan.bundle,
            rootfs: runPlan.rootfs,
            ociVersion: spec.ociVersion,
            initPid: pid,
            initStartTime: stat.startTime,
            created: nowRfc3339Nano(),
            owner: '',
            namespaces: runPlan.namespaces,
          };
          if (cgroups) recorded.cgroup = cgroups.state;
          if (spec.annotations) recorded.annotations = spec.annotations;
          // Run by later calls (start, delete): kept from config.json as it was at create.
          if (hooks.poststart.length + hooks.poststop.length > 0) recorded.hooks = { poststart: hooks.poststart, poststop: hooks.poststop };
          store.write(options.id, recorded);
          if (options.pidFile) writePidFile(options.pidFile, pid);
          return recorded;
        };
        ({ initPid } = spawnContainerInit(sys, {
          newNamespaceFlags: runPlan.newNamespaceFlags,
          joins,
          userNamespace: userNs && {
            writeMaps: (pid) => {
              if (ctx.rootless) denySetgroups(pid);
              writeIdMaps(pid, userNs.uidMappings, userNs.gidMappings);
            },
          },
          timeOffsets: runPlan.timeOffsets.length > 0 ? formatTimeOffsets(runPlan.timeOffsets) : undefined,
          placeStage1: cgroups && ((pid) => cgroups!.join(pid)),
          beforeNamespaces: () => {
            for (const { resource, soft, hard } of runPlan.process.rlimits) sys.prlimit(resource, soft, hard);
            // Here, with the host's privilege, like the rlimits: negative values need CAP_SYS_RESOURCE on the host, and
            // in a user namespace the init may not own its /proc files. The init inherits it.
            if (runPlan.process.oomScoreAdj !== undefined) writeOomScoreAdj(runPlan.process.oomScoreAdj);
          },
          keepFds: [
            execFifoFd, ...passedFds, ...idmapFds,
            ...(consoleSocketFd === undefined ? [] : [consoleSocketFd]),
            ...(seccomp?.agent ? [seccomp.agent.socketFd] : []),
          ],
          runtimeHooks: hooks.prestart.length + hooks.createRuntime.length === 0 ? undefined : (pid) => {
            hooksStarted = true;
            const state = hookState(hookSource, 'creating', pid);
            runRuntimeHooks(ctx, 'prestart', hooks.prestart, state, plan.bundle);
            runRuntimeHooks(ctx, 'createRuntime', hooks.createRuntime, state, plan.bundle);
            pauseAt(ctx.testPause, 'create-hooks');
          },
          initStarted: ctx.testPause && (() => pauseAt(ctx.testPause, 'create-init')),
          recordReady: (pid) => {
            pauseAt(ctx.testPause, 'create-ready');
            state = record(pid);
            pauseAt(ctx.testPause, 'create-state');
          },
          initMain: (syncFd, parent) => containerInit(sys, runPlan, { syncFd, execFifoFd, extraFds, consoleSocketFd, seccomp }, parent, hookSource),
        }));
        if (relayEnd !== undefined) terminalMaster = recvFd(relayEnd).fd;
      } finally {
        for (const fd of held) sys.close(fd);
      }
      pauseAt(ctx.testPause, 'create-done');
      return { id: options.id, initPid, plan, state: state!, ...(terminalMaster === undefined ? {} : { terminalMaster }) };
    } catch (error) {
      if (initPid > 0 && sys.signalIfAlive(initPid, SIGKILL)) {
        try {
          sys.waitpid(initPid, 0);
        } catch {
          // not our child any more
        }
      }
      try {
        destroyContainerCgroups(ctx, cgroups);
      } catch (cleanupError) {
        ctx.warn(`create failed and its cgroups could not be removed: ${(cleanupError as Error).message}`);
      }
      store.remove(options.id);
      // A failed prestart/createRuntime/createContainer hook stops the container and continues at delete,
      // whose last step is poststop (the init's errors from a hook carry the code 'hook').
      if (hooksStarted || (error as { code?: string }).code === 'hook') {
        runWarningHooks(ctx, 'poststop', hooks.poststop, hookState(hookSource, 'stopped'), plan.bundle);
      }
      throw error;
    }
  });
}
