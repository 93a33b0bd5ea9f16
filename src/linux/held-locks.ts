/**
 * The file locks one object of this process holds, over an injected lock function (flock in the CLI): a lock it
 * holds already is not taken again, because flock on a second descriptor of this process would wait for itself
 * forever. Used by the stores that lock a whole store and entries in it.
 */
export type FileLockFn = (path: string) => { release(): void };

export class HeldLocks {
  readonly #lock: FileLockFn;
  readonly #depth = new Map<string, number>();

  constructor(lock: FileLockFn) {
    this.#lock = lock;
  }

  holds(file: string): boolean {
    return this.#depth.has(file);
  }

  /** How many different lock files are held. */
  get count(): number {
    return this.#depth.size;
  }

  /** Runs `fn` holding the lock on `file`; `prepare` runs before a lock is really taken (e.g. to make its directory). */
  run<T>(file: string, fn: () => T, prepare?: () => void): T {
    const depth = this.#depth.get(file);
    if (depth !== undefined) {
      this.#depth.set(file, depth + 1);
      try {
        return fn();
      } finally {
        this.#depth.set(file, depth);
      }
    }
    prepare?.();
    const release = this.take(file);
    try {
      return fn();
    } finally {
      release();
    }
  }

  /** Takes the lock on `file` now and returns what lets it go: for handing one lock over to another. */
  take(file: string): () => void {
    const handle = this.#lock(file);
    this.#depth.set(file, 1);
    return () => {
      this.#depth.delete(file);
      handle.release();
    };
  }
}
