import fs from 'node:fs';
import { RuntimeError } from '../errors';
import { OpenFlags } from '../linux/constants';
import type { RuntimeContext } from './context';
import { execFifoPath } from './exec-fifo';
import { inspectContainer } from './inspect';
import { runPoststart } from './lifecycle-hooks';
import { checkTransition } from './status';
import { pauseAt } from './test-pause';

/**
 * Releases a created container's init: opening exec.fifo for reading unblocks the init's open for writing;
 * it writes "0" and execs the process, which closes its end. Reading until that hang-up means `start` returns
 * only once execve has happened; anything after the "0" is the init's error message. A pidfd of the init is
 * polled alongside, so an init that died meanwhile cannot leave `start` waiting forever.
 */
export function releaseInit(ctx: RuntimeContext, dir: string, initPid: number): void {
  const { sys } = ctx;
  const fifoPath = execFifoPath(dir);
  let fifo: number;
  try {
    fifo = sys.open(fifoPath, OpenFlags.RDONLY | OpenFlags.NONBLOCK | OpenFlags.CLOEXEC);
  } catch {
    throw new RuntimeError('state', 'cannot start an already running container');
  }
  let pidfd = -1;
  const chunks: Buffer[] = [];
  try {
    try {
      pidfd = sys.pidfdOpen(initPid);
    } catch {
      throw new RuntimeError('state', 'cannot start a container that has stopped');
    }
    let initExited = false;
    for (;;) {
      const [fifoEvents, pidEvents] = sys.poll([fifo, pidfd], -1);
      const drained = drain(fifo, chunks);
      if (drained === 'eof' && (fifoEvents! & 0x10) !== 0) break; // writer closed: exec happened or init died
      if ((pidEvents! & 0x1) !== 0) {
        initExited = true;
        drain(fifo, chunks);
        break;
      }
    }
    const output = Buffer.concat(chunks).toString('utf8');
    if (!output.startsWith('0')) {
      throw new RuntimeError('start', initExited ? 'container init exited before it was started' : 'cannot start an already running container');
    }
    if (output.length > 1) throw new RuntimeError('start', output.slice(1));
  } finally {
    if (pidfd >= 0) sys.close(pidfd);
    sys.close(fifo);
  }
  pauseAt(ctx.testPause, 'start-released');
  fs.rmSync(fifoPath, { force: true });
}

function drain(fd: number, chunks: Buffer[]): 'eof' | 'again' {
  const buffer = Buffer.alloc(4096);
  for (;;) {
    let count: number;
    try {
      count = fs.readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return 'again';
      throw error;
    }
    if (count === 0) return 'eof';
    chunks.push(Buffer.from(buffer.subarray(0, count)));
  }
}

/** `tsrun start ID`: releases the init, then runs the poststart hooks (a failing one is a warning). */
export function startContainer(ctx: RuntimeContext, id: string): void {
  ctx.store.withLock(id, () => {
    const view = inspectContainer(ctx, id);
    checkTransition('start', view.status, { id });
    pauseAt(ctx.testPause, 'start-checked');
    releaseInit(ctx, view.dir, view.state.initPid);
    runPoststart(ctx, view.state);
  });
}
