import { Prctl } from '../linux/constants';
import type { Sys } from '../linux/sys';
import type { ProcessPlan } from '../spec/plan';
import { applyProcessSettings, applySecurityLabels, prepareStdio, setUpTerminal } from './container-init';
import { applyCredentials } from './credentials';
import { lookPath } from './look-path';
import { installSeccomp, type PreparedSeccomp } from './seccomp-filter';

export interface ExecProcessFds {
  consoleSocketFd: number | undefined;
  extraFds: number;
  /** The container's linux.seccomp, compiled by tsrun; `agentMessage` builds the NOTIFY agent's message. */
  seccomp?: { prepared: PreparedSeccomp; agentMessage: () => string | undefined } | undefined;
}

/**
 * The exec'd process, already inside the container's namespaces and cgroup (setns into the mount namespace made
 * the container's root its root and cwd): the same process setup as the init's final steps, then execve.
 * Errors propagate to runChild, which reports them over the sync pipe.
 */
export function execProcess(sys: Sys, process: ProcessPlan, fds: ExecProcessFds, setgroupsDenied: boolean): never {
  if (process.terminal) {
    sys.setsid();
    setUpTerminal(process, fds.consoleSocketFd);
  }
  for (const { resource, soft, hard } of process.rlimits) sys.prlimit(resource, soft, hard);
  sys.chdir(process.cwd);
  const executable = lookPath(process.args[0]!, process.env);
  applySecurityLabels(process);
  applyProcessSettings(process);
  const seccomp = fds.seccomp?.prepared;
  const message = fds.seccomp?.agentMessage();
  if (seccomp?.beforeCredentials) installSeccomp(sys, seccomp, message);
  applyCredentials(sys, process, setgroupsDenied);
  sys.chdir(process.cwd);
  if (process.noNewPrivileges) sys.prctl(Prctl.SET_NO_NEW_PRIVS, 1);
  prepareStdio(sys, fds.extraFds);
  sys.resetSignals();
  // As in the init: the container's filter goes in last (see PreparedSeccomp.beforeCredentials).
  if (seccomp && !seccomp.beforeCredentials) installSeccomp(sys, seccomp, message);
  return sys.execve(executable, process.args, process.env);
}
