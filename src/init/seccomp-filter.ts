import { RuntimeError } from '../errors';
import { compileSeccomp, prepareSeccompLoad } from '../linux/seccomp';
import type { Sys } from '../linux/sys';
import { connectUnix, sendFd } from '../linux/unix-socket';
import type { ProcessPlan } from '../spec/plan';
import { notifyStateMessage, type SeccompAgentContainerState, type SeccompPlan } from '../spec/seccomp';

const CAP_SYS_ADMIN = 21n;

/** A filter compiled by tsrun before the fork, ready for the one seccomp(2) call in the container's process. */
export interface PreparedSeccomp {
  /** seccomp(SECCOMP_SET_MODE_FILTER): returns the notification listener fd with NOTIFY rules, else 0. */
  load: () => number;
  /**
   * Load before the credentials change instead of right before execve. Without no_new_privs the kernel wants
   * CAP_SYS_ADMIN for seccomp(2); when the process will not have it any more, the filter has to go in while it
   * still does (runc does the same in this case, and always loads before waiting for `start`).
   */
  beforeCredentials: boolean;
  /** With NOTIFY rules: the seccomp agent's socket (connected by tsrun) and what it is told with the fd. */
  agent?: { socketFd: number; metadata: string };
}

/** Whether the process still has CAP_SYS_ADMIN in its effective set once its credentials are applied. */
function keepsSysAdmin(process: ProcessPlan): boolean {
  if (process.capabilities) return (process.capabilities.effective & (1n << CAP_SYS_ADMIN)) !== 0n;
  // No capabilities configured: root keeps what it has, any other uid loses its effective set at setresuid.
  return process.uid === 0;
}

/**
 * Compiles linux.seccomp (libseccomp, here in tsrun, where errors still reach the user) and prepares the load,
 * before anything of the container exists.
 */
export function prepareSeccomp(plan: SeccompPlan, process: ProcessPlan): PreparedSeccomp {
  const program = compileSeccomp(plan);
  return {
    load: prepareSeccompLoad(program, plan.flags),
    beforeCredentials: !process.noNewPrivileges && !keepsSysAdmin(process),
  };
}

/**
 * With NOTIFY rules: connects to listenerPath, in the runtime's mount namespace as the spec requires. The socket
 * fd is the caller's to close once the process is spawned.
 */
export function connectSeccompAgent(prepared: PreparedSeccomp, plan: SeccompPlan): PreparedSeccomp {
  if (!plan.notify) return prepared;
  let socketFd: number;
  try {
    socketFd = connectUnix(plan.notify.listenerPath);
  } catch (error) {
    throw new RuntimeError('seccomp', `config.json: /linux/seccomp/listenerPath ${JSON.stringify(plan.notify.listenerPath)}: connect: ${(error as Error).message}`);
  }
  return { ...prepared, agent: { socketFd, metadata: plan.notify.listenerMetadata } };
}

/**
 * Builds the seccomp agent's message before the filter exists, so that as little as possible runs under it.
 * `pid` is the process's PID as the host sees it (the agent works from the host).
 */
export function agentMessage(prepared: PreparedSeccomp, pid: number, state: SeccompAgentContainerState): string | undefined {
  if (!prepared.agent) return undefined;
  return notifyStateMessage({ ociVersion: state.ociVersion, pid, metadata: prepared.agent.metadata, state });
}

/**
 * Loads the filter; with a listener, hands it to the agent in one SCM_RIGHTS message and closes both ends here.
 * After this only the remaining credential steps (see beforeCredentials) and execve run.
 */
export function installSeccomp(sys: Sys, prepared: PreparedSeccomp, message: string | undefined): void {
  const listener = prepared.load();
  if (!prepared.agent) return;
  if (listener <= 0 || message === undefined) throw new RuntimeError('seccomp', 'seccomp: the filter has NOTIFY rules but the kernel returned no listener fd');
  sendFd(prepared.agent.socketFd, listener, message);
  sys.close(listener);
  sys.close(prepared.agent.socketFd);
}
