import type { LockFn } from '../../container/state-store';
import { RuntimeError } from '../../errors';

/**
 * The image store's lock: an exclusive flock on `<dir>/lock` (through the injected LockFn), held by every
 * mutation, so one runs at a time across processes; the kernel drops it when its holder dies. In front of it, a
 * queue for the calls of this process: a second flock of the same process (on another descriptor) would wait for
 * the first forever, and a blocking flock taken while an import of this process is awaiting would stop the event
 * loop that import needs to finish. The queue is per lock file (its real path), not per store object, so two
 * ImageStore objects of one directory queue behind each other too.
 */

/** Lock file → the promise the last queued holder settles when done. */
const queues = new Map<string, Promise<void>>();

export class StoreLock {
  /** `file` must be a real path (no symlink components): it keys the queue of this process. */
  constructor(readonly file: string, private readonly lock: LockFn, private readonly display: string) {}

  /** Runs `fn` holding the lock: after the calls of this process queued before it, then under the flock. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = queues.get(this.file);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => {
      done = resolve;
    });
    const tail = previous === undefined ? mine : previous.then(() => mine);
    queues.set(this.file, tail);
    try {
      if (previous !== undefined) await previous;
      const handle = this.lock(this.file);
      try {
        return await fn();
      } finally {
        handle.release();
      }
    } finally {
      done();
      if (queues.get(this.file) === tail) queues.delete(this.file);
    }
  }

  /**
   * Runs the synchronous `fn` holding the lock. Refused while another holder of this process runs or waits (an
   * import awaiting, or a call from inside `fn`): waiting here would block the event loop the holder needs, or
   * wait for itself.
   */
  runSync<T>(fn: () => T): T {
    if (queues.has(this.file)) {
      throw new RuntimeError('image', `image store ${this.display}: another operation of this process holds the store lock; try again when it has finished`);
    }
    // Marks the lock as held for this process; an asynchronous run() queued meanwhile waits behind it.
    const marker = Promise.resolve();
    queues.set(this.file, marker);
    try {
      const handle = this.lock(this.file);
      try {
        return fn();
      } finally {
        handle.release();
      }
    } finally {
      if (queues.get(this.file) === marker) queues.delete(this.file);
    }
  }
}
