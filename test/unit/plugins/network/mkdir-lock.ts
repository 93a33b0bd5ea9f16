import fs from 'node:fs';
import type { LockFn } from '../../../../src/container/state-store';

/** Thrown by a non-blocking mkdirLock where flock would wait: lets a test see that an operation was held off. */
export class WouldBlock extends Error {}

/**
 * A real exclusive lock without koffi, for tests: mkdir(2) of `<file>.held` succeeds for exactly one caller. It
 * creates `<file>` like the flock-based one does. `blocking` polls (1 ms naps) until free — for separate processes;
 * otherwise a held lock throws WouldBlock, since one thread waiting for itself would never wake. `events` records
 * acquisitions for assertions. Unlike flock it does not vanish when its holder dies; tests do not kill holders.
 */
export function mkdirLock(options: { blocking?: boolean; events?: string[]; owner?: string } = {}): LockFn {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  return (file) => {
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    const marker = `${file}.held`;
    for (;;) {
      try {
        fs.mkdirSync(marker);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        if (!options.blocking) throw new WouldBlock(`${file} is held`);
        Atomics.wait(nap, 0, 0, 1);
      }
    }
    options.events?.push(`${options.owner ?? ''}lock ${file}`);
    let released = false;
    return {
      release: () => {
        if (released) throw new Error(`${file} released twice`);
        released = true;
        options.events?.push(`${options.owner ?? ''}release ${file}`);
        fs.rmdirSync(marker);
      },
    };
  };
}

/** Every file and directory under `root` with its mode and content: refusals must leave this unchanged. */
export function snapshot(root: string): Record<string, string> {
  const result: Record<string, string> = {};
  const walk = (dir: string, prefix: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = `${dir}/${entry.name}`;
      const key = `${prefix}${entry.name}`;
      const mode = (fs.lstatSync(full).mode & 0o7777).toString(8);
      if (entry.isDirectory()) {
        result[`${key}/`] = mode;
        walk(full, `${key}/`);
      } else {
        result[key] = `${mode} ${fs.readFileSync(full, 'utf8')}`;
      }
    }
  };
  walk(root, '');
  return result;
}
