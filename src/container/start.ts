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
 *
 * The open is the release, so exec.fifo is removed right after it: from then on the container reads as running
 * (or stopped), also when this tsrun is killed before the init has exec'd. An init that no longer holds its
 * descriptor of exec.fifo was released by an earlier `start` that died before removing the fifo: nothing would
 * ever write to it, so that start is completed (the fifo removed) and this one refused, instead of waiting.
 */
export function releaseInit(ctx: RuntimeContext, dir: string, initPid: number): void {
  const { sys } = ctx;
  const fifoPath = execFifoPath(dir);
  let pidfd: number;
  try {
    pidfd = sys.pidfdOpen(initPid);
  } catch {
    throw new RuntimeError('state', 'cannot start a container that has stopped');
  }
  let fifo = -1;
  const chunks: Buffer[] = [];
  try {
    if (initHolds(initPid, fifoPath) === false) {
      // A dead init (a zombie shows no descriptors) holds nothing either: that container has stopped.
      if ((sys.poll([pidfd], 0)[0]! & 0x1) !== 0) throw new RuntimeError('state', 'cannot start a container that has stopped');
      fs.rmSync(fifoPath, { force: true });
      throw new RuntimeError('state', 'cannot start an already running container (an earlier start released it)');
    }
    try {
      fifo = sys.open(fifoPath, OpenFlags.RDONLY | OpenFlags.NONBLOCK | OpenFlags.CLOEXEC);
    } catch {
      throw new RuntimeError('state', 'cannot start an already running container');
    }
    fs.rmSync(fifoPath, { force: true });
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
    sys.close(pidfd);
    if (fifo >= 0) sys.close(fifo);
  }
  pauseAt(ctx.testPause, 'start-released');
}

/**
 * Whether the process `pid` holds a descriptor of the file at `file` (the parked init keeps an O_PATH one of
 * exec.fifo until it execs). Undefined when that cannot be told: its descriptors unreadable, the file gone.
 */
function initHolds(pid: number, file: string): boolean | undefined {
  let target: fs.Stats;
  let fds: string[];
  try {
    target = fs.statSync(file);
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  return fds.some((fd) => {
    try {
      const held = fs.statSync(`/proc/${pid}/fd/${fd}`);
      return held.ino === target.ino && held.dev === target.dev;
    } catch {
      return false; // closed meanwhile, or a descriptor that cannot be followed (a socket of another namespace)
    }
  });
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
