import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../../errors';
import { writeFileAtomic } from '../../linux/atomic-file';
import { SyscallError } from '../../linux/errno';
import { mountOverlay, unmount } from '../../linux/overlay-mount';
import { specToJson } from '../../spec/default-spec';
import type { Spec } from '../../spec/types';
import type { ImageStore } from './image-store';
import { discardBundle, prepareBundle } from './bundle-dir';
import { writeBundleConfig } from './unpack';

/**
 * `tsrun image unpack --overlay`: a bundle whose rootfs is an overlayfs mount of the store's layers (read-only,
 * shared by every bundle of the image) and the bundle's own `overlay/upper` (its writes: copy-on-write), and
 * `tsrun image umount`. Which bundles mount which layers is recorded in `<store>/mounts/<hash of the bundle
 * path>.json`, so the store never deletes a layer a mounted bundle stands on; a record whose bundle is no longer
 * mounted counts for nothing.
 */

interface MountRecord {
  bundle: string;
  manifestDigest: string;
  diffIds: string[];
}

const EBUSY = 16;
const EINVAL = 22;

function mountsDir(storeDir: string): string {
  return path.join(storeDir, 'mounts');
}

function recordName(bundle: string): string {
  return `${createHash('sha256').update(bundle).digest('hex').slice(0, 32)}.json`;
}

/** The mount points of this mount namespace (/proc/self/mountinfo field 5, octal escapes decoded). */
function mountPoints(): Set<string> {
  const points = new Set<string>();
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (field) points.add(field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8))));
  }
  return points;
}

/** bundle → DiffIDs, for the bundles whose rootfs is mounted now (ImageStore's `inUse`). */
export function layersInUse(storeDir: string): ReadonlyMap<string, readonly string[]> {
  const dir = mountsDir(storeDir);
  const inUse = new Map<string, readonly string[]>();
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((name) => name.endsWith('.json'));
  } catch {
    return inUse;
  }
  const mounted = mountPoints();
  for (const name of names) {
    try {
      const record = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as MountRecord;
      if (mounted.has(path.join(record.bundle, 'rootfs'))) inUse.set(record.bundle, record.diffIds);
    } catch {
      // a record being replaced or damaged: the bundle's mount, if any, is checked by its own umount
    }
  }
  return inUse;
}

export interface OverlayUnpackOptions {
  base: Spec;
  warn?: (message: string) => void;
  /** Adds a poststop hook running `<tsrun> image umount BUNDLE`, so the mount ends with the container. */
  umountOnStop?: { tsrun: string; storeDir: string };
}

/** Mounts the image `ref` of the store as BUNDLE/rootfs and writes BUNDLE/config.json. */
export function unpackOverlay(store: ImageStore, storeDir: string, ref: string, bundle: string, options: OverlayUnpackOptions): { manifestDigest: string } {
  const bundleDir = path.resolve(bundle);
  const created = prepareBundle(bundleDir);
  const rootfs = path.join(bundleDir, 'rootfs');
  let mounted = false;
  try {
    const image = store.withImageLayers(ref, (stored, diffDirs) => {
      for (const dir of ['rootfs', 'overlay', 'overlay/upper', 'overlay/work']) fs.mkdirSync(path.join(bundleDir, dir), { mode: 0o755 });
      mountOverlay(rootfs, {
        lowerDirs: [...diffDirs].reverse(),
        upperDir: path.join(bundleDir, 'overlay', 'upper'),
        workDir: path.join(bundleDir, 'overlay', 'work'),
      });
      mounted = true;
      const record: MountRecord = { bundle: bundleDir, manifestDigest: stored.manifestDigest, diffIds: stored.layers.map((l) => l.diffId) };
      fs.mkdirSync(mountsDir(storeDir), { recursive: true, mode: 0o700 });
      writeFileAtomic(mountsDir(storeDir), recordName(bundleDir), `${JSON.stringify(record)}\n`);
      return stored;
    });
    const source = store.openImage(image.manifestDigest);
    writeBundleConfig(bundleDir, rootfs, source.image, options.base, 'copy', options.warn);
    if (options.umountOnStop) addUmountHook(bundleDir, options.umountOnStop);
    return { manifestDigest: image.manifestDigest };
  } catch (error) {
    if (mounted) {
      try {
        unmount(rootfs);
      } catch {
        // reported below: the original error is the one that matters
      }
      fs.rmSync(path.join(mountsDir(storeDir), recordName(bundleDir)), { force: true });
    }
    discardBundle(bundleDir, created);
    throw error;
  }
}

function addUmountHook(bundleDir: string, hook: { tsrun: string; storeDir: string }): void {
  const file = path.join(bundleDir, 'config.json');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8')) as Spec;
  const poststop = spec.hooks?.poststop ?? [];
  poststop.push({ path: hook.tsrun, args: [hook.tsrun, 'image', 'umount', '--state-dir', hook.storeDir, bundleDir] });
  spec.hooks = { ...spec.hooks, poststop };
  writeFileAtomic(bundleDir, 'config.json', specToJson(spec), 0o644);
}

/**
 * Unmounts BUNDLE/rootfs and forgets the record. Not mounted is fine (a second umount, or the hook after a
 * manual one); a container still using it is an error naming the bundle.
 */
export function umountOverlay(storeDir: string, bundle: string): void {
  const bundleDir = path.resolve(bundle);
  const rootfs = path.join(bundleDir, 'rootfs');
  try {
    if (mountPoints().has(rootfs)) unmount(rootfs);
  } catch (error) {
    if (error instanceof SyscallError && error.errno === EBUSY) {
      throw new RuntimeError('image', `bundle ${bundleDir}: its rootfs is still in use (a container of it is running?)`);
    }
    if (!(error instanceof SyscallError && error.errno === EINVAL)) throw error;
  }
  fs.rmSync(path.join(mountsDir(storeDir), recordName(bundleDir)), { force: true });
}
