import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../../errors';
import { writeFileAtomic } from '../../linux/atomic-file';
import { copyTree } from '../../linux/copy-tree';
import { OpenFlags } from '../../linux/constants';
import { SyscallError } from '../../linux/errno';
import { fchmodat, fchownat, renameNoReplace } from '../../linux/fs-at';
import { mkdirat, openat2, Resolve } from '../../linux/openat2';
import { specToJson } from '../../spec/default-spec';
import type { Mount, Spec } from '../../spec/types';
import type { ImageDocumentValidators, ImageSource, ResolvedImage, TargetPlatform } from './image-source';
import { applyLayer, layerCompression } from './layer-apply';
import { openImageSource } from './open-image-source';
import { resolveImageUser } from './passwd';
import { RootfsWriter } from './rootfs-writer';
import { runtimeConfigFromImage } from './runtime-config';
import { discardBundle, prepareBundle } from './bundle-dir';

/**
 * `tsrun image unpack SOURCE BUNDLE`: an image becomes a runtime bundle: BUNDLE/rootfs with the layers applied in
 * order, BUNDLE/config.json converted from the image's configuration, and for each of the image's volumes a
 * directory BUNDLE/volumes/<n> bind-mounted at its path, holding what the image had there. BUNDLE must be new or
 * an empty directory; on any failure everything made is removed again.
 */

export interface UnpackOptions {
  ref?: string;
  platform: TargetPlatform;
  validators: ImageDocumentValidators;
  /** The implementation-defined defaults (`tsrun spec`'s config). */
  base: Spec;
  /** Told what the conversion decided itself (see runtimeConfigFromImage). */
  warn?: (message: string) => void;
}

export interface UnpackResult {
  manifestDigest: string;
  configDigest: string;
  refName?: string;
  layers: number;
}

const ENOENT = 2;
/** Paths of the rootfs resolved as the container sees them: symlinks are relative to the rootfs. */
const IN_ROOT = Resolve.IN_ROOT | Resolve.NO_MAGICLINKS;
const DIR_PATH = OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.CLOEXEC;

/** A file of the rootfs as the container would see it (symlinks resolved inside the rootfs), or undefined. */
export function readFileInRootfs(rootfs: string, file: string): string | undefined {
  const root = fs.openSync(rootfs, DIR_PATH);
  try {
    let fd: number;
    try {
      fd = openat2(root, file, OpenFlags.RDONLY | OpenFlags.CLOEXEC, IN_ROOT);
    } catch (error) {
      if (error instanceof SyscallError && error.errno === ENOENT) return undefined;
      throw error;
    }
    try {
      return fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    fs.closeSync(root);
  }
}

/**
 * The directory `dir` of the rootfs opened O_PATH, resolved as inside the container (symlinks relative to the
 * rootfs); missing components are created (0755).
 */
function ensureDirectoryInRootfs(root: number, dir: string): number {
  const components = dir.split('/').filter((c) => c !== '' && c !== '.');
  let current = openat2(root, '.', DIR_PATH, IN_ROOT);
  try {
    for (let i = 0; i < components.length; i++) {
      const prefix = components.slice(0, i + 1).join('/');
      let next: number;
      try {
        next = openat2(root, prefix, DIR_PATH, IN_ROOT);
      } catch (error) {
        if (!(error instanceof SyscallError) || error.errno !== ENOENT) throw error;
        mkdirat(current, components[i]!, 0o755);
        next = openat2(root, prefix, DIR_PATH, IN_ROOT);
      }
      fs.closeSync(current);
      current = next;
    }
    return current;
  } catch (error) {
    fs.closeSync(current);
    throw error;
  }
}

/**
 * Moves what the rootfs has at `destination` (resolved inside the rootfs) into `volumeDir`, and leaves an empty
 * directory with the same owner and mode as the mount point. With nothing there, both are made empty (0755).
 */
function seedVolume(rootfs: string, destination: string, volumesDir: string, name: string, seeding: 'move' | 'copy'): void {
  const root = fs.openSync(rootfs, DIR_PATH);
  const volumes = fs.openSync(volumesDir, DIR_PATH);
  const parentPath = path.posix.dirname(destination);
  const base = path.posix.basename(destination);
  let parent: number | undefined;
  try {
    parent = ensureDirectoryInRootfs(root, parentPath);
    const existing = fs.lstatSync(`/proc/self/fd/${parent}/${base}`, { throwIfNoEntry: false });
    if (existing?.isDirectory() && seeding === 'copy') {
      // An overlay of shared layers cannot give a lower layer's directory away by rename (EXDEV): copy it.
      // cp is another process: the directory is named through this process's descriptor table, not /proc/self.
      copyTree(`/proc/${process.pid}/fd/${parent}/${base}`, path.join(volumesDir, name), `copying the image's ${destination} into its volume`);
    } else if (existing?.isDirectory()) {
      renameNoReplace(parent, base, volumes, name);
      mkdirat(parent, base, 0o700);
      fchownat(parent, base, existing.uid, existing.gid);
      fchmodat(parent, base, existing.mode & 0o7777);
    } else {
      if (existing) throw new RuntimeError('image', `image config: /config/Volumes ${JSON.stringify(destination)}: the image has a non-directory there`);
      mkdirat(volumes, name, 0o755);
      mkdirat(parent, base, 0o755);
    }
  } finally {
    if (parent !== undefined) fs.closeSync(parent);
    fs.closeSync(volumes);
    fs.closeSync(root);
  }
}

/**
 * BUNDLE/config.json for an image whose rootfs is ready: the image's user resolved through the rootfs's
 * /etc/passwd and /etc/group, its configuration converted, each volume a bind mount of BUNDLE/volumes/<n> that
 * takes over what the image has at that path: moved out of a rootfs of its own ('move'), copied out of an
 * overlay of shared layers ('copy').
 */
export function writeBundleConfig(bundleDir: string, rootfs: string, image: ResolvedImage, base: Spec, seeding: 'move' | 'copy', warn?: (message: string) => void): void {
  const { config, manifest } = image;
  const user = resolveImageUser(config.config?.User, {
    passwd: readFileInRootfs(rootfs, 'etc/passwd'),
    group: readFileInRootfs(rootfs, 'etc/group'),
  });
  const volumes: Array<{ destination: string; name: string }> = [];
  const volumesDir = path.join(bundleDir, 'volumes');
  const spec = runtimeConfigFromImage({
    config, user, base, refName: image.refName, manifestAnnotations: manifest.annotations, warn,
    volumes: (destination, index): Mount => {
      volumes.push({ destination, name: String(index) });
      return { destination, type: 'bind', source: path.join(volumesDir, String(index)), options: ['rbind', 'rw'] };
    },
  });
  // A container of an image writes to its rootfs, as with docker; `tsrun spec`'s default is read-only.
  spec.root = { path: 'rootfs', readonly: false };
  if (volumes.length > 0) {
    fs.mkdirSync(volumesDir, { mode: 0o755 });
    for (const volume of volumes) seedVolume(rootfs, volume.destination, volumesDir, volume.name, seeding);
  }
  writeFileAtomic(bundleDir, 'config.json', specToJson(spec), 0o644);
}

export async function unpackImage(sourcePath: string, bundle: string, options: UnpackOptions): Promise<UnpackResult> {
  const bundleDir = path.resolve(bundle);
  const created = prepareBundle(bundleDir);
  const rootfs = path.join(bundleDir, 'rootfs');
  let source: ImageSource | undefined;
  try {
    fs.mkdirSync(rootfs, { mode: 0o755 });
    source = await openImageSource(sourcePath, { ref: options.ref, tmpParent: bundleDir, validators: options.validators, platform: options.platform });
    const { manifest, config } = source.image;
    const diffIds = config.rootfs.diff_ids;
    if (manifest.layers.length !== diffIds.length) {
      throw new RuntimeError('image', `image ${source.image.manifestDigest}: the manifest lists ${manifest.layers.length} layers, the config's rootfs.diff_ids ${diffIds.length}`);
    }

    const writer = new RootfsWriter(rootfs, 'flatten');
    try {
      for (const [index, layer] of manifest.layers.entries()) {
        const label = `layer ${index} (${layer.digest})`;
        const applied = await applyLayer(source.openBlob(layer), layerCompression(layer.mediaType, label), writer, label);
        if (applied.diffId !== diffIds[index]) {
          throw new RuntimeError('image', `${label}: the uncompressed layer hashes to ${applied.diffId}, the image config's rootfs.diff_ids[${index}] is ${diffIds[index]}`);
        }
      }
    } finally {
      writer.close();
    }

    writeBundleConfig(bundleDir, rootfs, source.image, options.base, 'move', options.warn);
    return { manifestDigest: source.image.manifestDigest, configDigest: source.image.configDigest, refName: source.image.refName, layers: manifest.layers.length };
  } catch (error) {
    source?.close();
    source = undefined;
    discardBundle(bundleDir, created);
    throw error;
  } finally {
    source?.close();
  }
}
