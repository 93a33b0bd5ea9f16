import { readSync, writeSync } from 'node:fs';
import { RuntimeError } from '../errors';
import { Prctl, SIGKILL } from '../linux/constants';
import type { Sys } from '../linux/sys';
import { runChild } from './child';
import { closeAllExcept, describeWaitStatus } from './spawn-init';
import { MessageReader, sendMessage } from './sync-channel';

export interface ExecSpawnOptions {
  /** The container's namespaces to join, opened by the parent, in setns order (user first, mount last). */
  joins: Array<{ fd: number; flag: number }>;
  /** Descriptors the process needs besides stdio and the sync pipe (console socket, passed fds). */
  keepFds: number[];
  /** Runs in the parent before stage 1 joins anything: puts it in the container's cgroup. */
  placeStage1?: (stage1Pid: number) => void;
  /** Runs in the new process, inside the container's namespaces; must exec or report an error and exit. */
  processMain: (syncFd: number) => never;
  /** Test-only (TSRUN_TEST_PAUSE): runs in the new process, inside the container, before processMain. */
  pauseInContainer?: (() => void) | undefined;
}

/**
 * `exec`'s choreography: tsrun ──fork──▶ stage 1 ──setns(each namespace)──clone(CLONE_PARENT)──▶ process.
 * Joining the PID (and time) namespace only affects children, hence the clone; CLONE_PARENT makes the process a
 * direct child of tsrun, so the shim that runs tsrun reaps it. Returns once the process has exec'd: the sync
 * pipe is close-on-exec, so end-of-file without an error message means execve succeeded.
 */
export function spawnExecProcess(sys: Sys, options: ExecSpawnOptions): { pid: number } {
  const [readFd, writeFd] = sys.pipe();
  const [ackRead, ackWrite] = sys.pipe();
  const stage1 = sys.fork();
  if (stage1 === 0) {
    runChild(sys, writeFd, () => {
      closeAllExcept(sys, [0, 1, 2, writeFd, ackRead, ...options.keepFds, ...options.joins.map((j) => j.fd), ...sys.eventLoopWakeupFds()]);
      if (options.placeStage1) {
        sendMessage(writeFd, { type: 'need-setup' });
        if (readSync(ackRead, Buffer.alloc(1), 0, 1, null) !== 1) throw new RuntimeError('spawn', 'exec: tsrun went away before setting up stage 1');
      }
      sys.close(ackRead);
      // Before joining: once in the container's PID namespace, its processes could otherwise open
      // /proc/<pid>/exe of this process — the host's node binary — and write it after we exec (CVE-2019-5736
      // class); they may hold CAP_SYS_PTRACE over the container's user namespace, which the other ptrace checks
      // accept. Non-dumpable needs capabilities in the user namespace node was exec'd in (the host's). Inherited
      // by the clone below; execve of the container's program makes the process dumpable again.
      sys.prctl(Prctl.SET_DUMPABLE, 0);
      for (const join of options.joins) {
        sys.setns(join.fd, join.flag);
        sys.close(join.fd);
      }
      const pid = sys.cloneParent();
      if (pid === 0) {
        runChild(sys, writeFd, () => {
          options.pauseInContainer?.();
          options.processMain(writeFd);
        });
      }
      // clone reports the PID in stage 1's own (the host's) PID namespace.
      sendMessage(writeFd, { type: 'init-pid', pid });
    });
  }
  sys.close(writeFd);
  sys.close(ackRead);
  const reader = new MessageReader(readFd);
  let pid = 0;
  let stage1Status: number | undefined;
  try {
    for (;;) {
      const message = reader.next();
      if (message?.type === 'need-setup' && options.placeStage1) {
        options.placeStage1(stage1);
        writeSync(ackWrite, Buffer.from([1]));
        continue;
      }
      if (message?.type === 'init-pid') {
        pid = message.pid;
        continue;
      }
      if (message?.type === 'error') throw new RuntimeError(message.code, message.message);
      if (message === undefined) {
        stage1Status ??= sys.waitpid(stage1, 0).status;
        if (stage1Status !== 0 || pid === 0) {
          throw new RuntimeError('spawn', `exec: stage 1 failed${stage1Status === 0 ? '' : ` (${describeWaitStatus(stage1Status)})`}`);
        }
        return { pid };
      }
    }
  } catch (error) {
    if (stage1Status === undefined) {
      sys.signalIfAlive(stage1, SIGKILL);
      sys.waitpid(stage1, 0);
    }
    if (pid > 0 && sys.signalIfAlive(pid, SIGKILL)) {
      try {
        sys.waitpid(pid, 0);
      } catch {
        // not ours to reap
      }
    }
    throw error;
  } finally {
    sys.close(readFd);
    sys.close(ackWrite);
  }
}
