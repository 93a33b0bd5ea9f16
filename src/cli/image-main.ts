import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RuntimeError } from '../errors';
import { hostPlatform } from '../plugins/image/oci-layout';
import { ImageStore } from '../plugins/image/image-store';
import type { ImageSource } from '../plugins/image/image-source';
import { openImageSource } from '../plugins/image/open-image-source';
import { layersInUse, umountOverlay, unpackOverlay } from '../plugins/image/overlay-bundles';
import { pushImage, type PushResult } from '../plugins/image/registry/push';
import { RegistryClient, type RegistryCredentials } from '../plugins/image/registry/registry-client';
import { openRegistryImage } from '../plugins/image/registry/registry-source';
import { writeOciLayoutTar } from '../plugins/image/layout-writer';
import { writeTreeAsTar } from '../plugins/image/rootfs-tar';
import { isRef, type StoredImage } from '../plugins/image/store-records';
import { imageFromTar } from '../plugins/image/tar-image';
import { unpackImage } from '../plugins/image/unpack';
import { defaultSpec } from '../spec/default-spec';
import { imageDocumentValidators } from '../spec/image-validate';

/**
 * The image plugin's side of the `tsrun image` verbs, built as its own bundle (dist/image-cli.cjs, see
 * scripts/build.mjs): the tar reader, the image-spec validators and the layer code are loaded by image verbs
 * only, never by the container verbs every tsrun call pays for. Here the plugin's parts are wired together.
 */

function openStore(dir: string): ImageStore {
  return new ImageStore(dir, { inUse: () => layersInUse(dir) });
}

/** The launcher hooks run: bin/tsrun of this installation (dist/ is beside bin/). */
function tsrunLauncher(): string {
  return fileURLToPath(new URL('../bin/tsrun', import.meta.url));
}

async function openSource(path: string, ref: string | undefined, tmpParent: string): Promise<ImageSource> {
  return openImageSource(path, { ref, tmpParent, validators: imageDocumentValidators, platform: hostPlatform() });
}

export interface LoadResult {
  image: StoredImage;
  layersUnpacked: number;
  layersReused: number;
}

/** Imports an archive or layout into the store, named by `refs` or else by the name it has in the source. */
async function load(storeDir: string, sourcePath: string, sourceRef: string | undefined, refs: string[]): Promise<LoadResult> {
  fs.mkdirSync(storeDir, { recursive: true, mode: 0o700 });
  const source = await openSource(sourcePath, sourceRef, storeDir);
  try {
    const names = refs.length > 0 ? refs : source.image.refName !== undefined && isRef(source.image.refName) ? [source.image.refName] : [];
    return await openStore(storeDir).importImage(source, names);
  } finally {
    source.close();
  }
}

export async function imageLoad(storeDir: string, sourcePath: string, sourceRef: string | undefined, refs: string[]): Promise<LoadResult> {
  return load(storeDir, sourcePath, sourceRef, refs);
}

export function imageList(storeDir: string): StoredImage[] {
  return openStore(storeDir).list();
}

export function imageInspect(storeDir: string, names: string[]): unknown[] {
  const store = openStore(storeDir);
  return names.map((name) => {
    const image = store.resolve(name);
    const source = store.openImage(image.manifestDigest);
    return { ...image, config: source.image.config };
  });
}

export function imageRemove(storeDir: string, names: string[], force: boolean): string[] {
  const store = openStore(storeDir);
  const lines: string[] = [];
  for (const name of names) {
    const result = store.remove(name, { force });
    for (const ref of result.untagged) lines.push(`Untagged: ${ref}`);
    if (result.removed) lines.push(`Deleted: ${result.removed.configDigest}`);
  }
  return lines;
}

export function imagePrune(storeDir: string): ReturnType<ImageStore['prune']> {
  return openStore(storeDir).prune({ untagged: true });
}

export interface UnpackArgs {
  ref?: string;
  warn: (message: string) => void;
  overlay: boolean;
  umountOnStop: boolean;
  storeDir: string;
}

export async function imageUnpack(source: string, bundle: string, args: UnpackArgs): Promise<{ manifestDigest: string }> {
  const base = defaultSpec({ rootless: false });
  if (!args.overlay) {
    if (args.umountOnStop) throw new RuntimeError('usage', '--umount-on-stop goes with --overlay');
    return unpackImage(source, bundle, { ref: args.ref, platform: hostPlatform(), validators: imageDocumentValidators, base, warn: args.warn });
  }
  // A path is loaded into the store first; anything else names an image already there.
  let name = source;
  if (fs.existsSync(source)) name = (await load(args.storeDir, source, args.ref, [])).image.manifestDigest;
  const umountOnStop = args.umountOnStop ? { tsrun: tsrunLauncher(), storeDir: args.storeDir } : undefined;
  return unpackOverlay(openStore(args.storeDir), args.storeDir, name, bundle, { base, umountOnStop, warn: args.warn });
}

export function imageUmount(storeDir: string, bundle: string): void {
  umountOverlay(storeDir, bundle);
}

export interface RegistryArgs {
  /** `USER:PASSWORD`, for the registry's token server or its Basic auth. */
  creds?: string;
  /** Registries reached over plain HTTP (loopback ones always are). */
  insecureRegistry: string[];
}

function registryClient(args: RegistryArgs): RegistryClient {
  let credentials: RegistryCredentials | undefined;
  if (args.creds !== undefined) {
    const colon = args.creds.indexOf(':');
    if (colon <= 0) throw new RuntimeError('usage', '--creds must be USER:PASSWORD');
    credentials = { username: args.creds.slice(0, colon), password: args.creds.slice(colon + 1) };
  }
  return new RegistryClient({ fetch: (url, init) => fetch(url, init), credentials, insecureRegistries: args.insecureRegistry });
}

/** Pulls `reference` (the manifest for this host's platform) into the store, named by it. */
export async function imagePull(storeDir: string, reference: string, args: RegistryArgs): Promise<LoadResult> {
  const source = await openRegistryImage(registryClient(args), reference, { platform: hostPlatform(), validators: imageDocumentValidators });
  try {
    fs.mkdirSync(storeDir, { recursive: true, mode: 0o700 });
    return await openStore(storeDir).importImage(source, source.image.refName !== undefined ? [source.image.refName] : []);
  } finally {
    source.close();
  }
}

/** Pushes the stored image `name` to `destination` (default: its own name). */
export async function imagePush(storeDir: string, name: string, destination: string | undefined, args: RegistryArgs): Promise<PushResult> {
  const store = openStore(storeDir);
  const image = store.resolve(name);
  const target = destination ?? (isRef(name) ? name : image.refs[0]);
  if (target === undefined) throw new RuntimeError('usage', `image push: ${name} has no name to push it as; give a destination`);
  const source = store.openImage(image.manifestDigest);
  try {
    return await pushImage(registryClient(args), source, target);
  } finally {
    source.close();
  }
}

/**
 * A container's rootfs as a tar in `file` (written beside it and renamed when complete), or on stdout for '-'.
 * Mounts below the rootfs (volumes, /proc) are not part of it, as with docker export.
 */
export async function imageExport(rootfs: string, file: string): Promise<{ entries: number }> {
  if (file === '-') return writeTreeAsTar(rootfs, fs.createWriteStream('', { fd: 1, autoClose: false }));
  const temporary = `${file}.tmp-${process.pid}`;
  try {
    const stream = fs.createWriteStream(temporary, { flags: 'wx', mode: 0o644 });
    const result = await writeTreeAsTar(rootfs, stream);
    await new Promise<void>((resolve, reject) => {
      if (stream.closed) resolve();
      else stream.once('close', resolve).once('error', reject);
    });
    fs.renameSync(temporary, file);
    return result;
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}

/** A tar (e.g. an export) as a one-layer image in the store, named `ref`. */
export async function imageImport(storeDir: string, file: string, ref: string): Promise<LoadResult> {
  fs.mkdirSync(storeDir, { recursive: true, mode: 0o700 });
  const store = openStore(storeDir);
  const source = await imageFromTar(file, { tmpDir: storeDir });
  try {
    return await store.importImage(source, [ref]);
  } finally {
    source.cleanup();
  }
}

/** A stored image as an OCI image layout tar (with docker's manifest.json), named as it was asked for. */
export async function imageSave(storeDir: string, name: string, file: string): Promise<void> {
  const store = openStore(storeDir);
  const image = store.resolve(name);
  const source = store.openImage(image.manifestDigest);
  try {
    await writeOciLayoutTar(source, file, { refName: isRef(name) ? name : image.refs[0] });
  } finally {
    source.close();
  }
}
