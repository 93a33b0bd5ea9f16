import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../../errors';
import { OpenFlags } from '../../linux/constants';
import { SyscallError } from '../../linux/errno';
import { openat2, Resolve } from '../../linux/openat2';
import type { VolumeStore } from './volume-store';

/**
 * `tsrun volume populate NAME DEST`, the createRuntime hook `volume attach` installs: the first time a volume is
 * used, and only if it is empty then, it gets what the container's image has at DEST (docker's copy-up of an
 * empty volume). It runs before the container's process starts, under the volume's lock, so two containers
 * starting together copy once. The image's DEST is read from the bundle's rootfs as the container sees it
 * (symlinks resolved inside the rootfs), never from the host.
 */

export type PopulateOutcome = 'copied' | 'not-empty' | 'used-before' | 'nothing-in-image';

const ENOENT = 2;
const ENOTDIR = 20;

/** The rootfs of a bundle: config.json's root.path, relative to the bundle unless absolute. */
export function bundleRootfs(bundle: string): string {
  const file = path.join(bundle, 'config.json');
  let config: { root?: { path?: unknown } };
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as { root?: { path?: unknown } };
  } catch (error) {
    throw new RuntimeError('volume', `${file}: ${(error as Error).message}`);
  }
  const rootPath = config.root?.path;
  if (typeof rootPath !== 'string' || rootPath === '') throw new RuntimeError('volume', `${file}: /root/path must be a path, got ${JSON.stringify(rootPath)}`);
  return path.resolve(bundle, rootPath);
}

export function populateVolume(
  store: VolumeStore,
  name: string,
  target: string,
  rootfs: string,
  copyTree: (from: string, to: string, what: string) => void,
): PopulateOutcome {
  return store.withVolumeLock(name, (record) => {
    if (record.populated) return 'used-before';
    if (fs.readdirSync(record.Mountpoint).length > 0) {
      store.markPopulated(name, 'not empty at its first use');
      return 'not-empty';
    }
    const root = fs.openSync(rootfs, OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.CLOEXEC);
    try {
      let source: number;
      try {
        source = openat2(root, target, OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.CLOEXEC, Resolve.IN_ROOT | Resolve.NO_MAGICLINKS);
      } catch (error) {
        if (error instanceof SyscallError && (error.errno === ENOENT || error.errno === ENOTDIR)) {
          store.markPopulated(name, `nothing at ${target} in ${rootfs}`);
          return 'nothing-in-image';
        }
        throw error;
      }
      try {
        // cp is another process: the directory is named through this process's descriptor table, not /proc/self.
        copyTree(`/proc/${process.pid}/fd/${source}`, record.Mountpoint, `copying ${target} of ${rootfs} into volume ${name}`);
      } catch (error) {
        // A half copy would count as content the next time: the volume goes back to empty.
        for (const entry of fs.readdirSync(record.Mountpoint)) fs.rmSync(path.join(record.Mountpoint, entry), { recursive: true, force: true });
        throw error;
      } finally {
        fs.closeSync(source);
      }
    } finally {
      fs.closeSync(root);
    }
    store.markPopulated(name, `${target} of ${rootfs}`);
    return 'copied';
  });
}
