import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { RuntimeError } from '../../errors';
import { syncDirectory } from '../../linux/atomic-file';
import { MediaTypes, REF_NAME_ANNOTATION, type Descriptor, type ImageIndex, type Platform } from '../../spec/image-types';
import { checkBlobBytes, parseDigest } from './digest';
import type { ImageSource } from './image-source';
import { normalizeImageName } from './image-name';
import { drained } from './pack-drain';

/**
 * `tsrun image save`: an ImageSource written as an OCI image layout (image-spec image-layout.md), as a tar
 * file or a directory, in the form docker 25+ `docker save` writes:
 *
 *   oci-layout                    {"imageLayoutVersion":"1.0.0"}
 *   blobs/<alg>/<hex>             the configuration, every layer and the manifest, each once
 *   index.json                    one manifest descriptor, with the image's platform and its name (below)
 *   manifest.json                 docker's own index ([{"Config", "RepoTags", "Layers"}]): docker's classic
 *                                 image store loads nothing without it; OCI readers ignore it
 *
 * Naming (what docker 25 and containerd's exporter write): a `refName` that is a full image name (it contains
 * `/`, `:` or `@`, the test containerd uses) gets `io.containerd.image.name` = the name normalised
 * (`alpine:3` → `docker.io/library/alpine:3`) and `org.opencontainers.image.ref.name` = what follows the
 * repository (the tag `3`, or `3@sha256:…` / `@sha256:…` for a digest reference), and manifest.json's RepoTags
 * lists the familiar `alpine:3` (digest references are not tags, as in docker). Any other refName (`latest`,
 * `v1`) is an OCI ref name as such: ref.name only, no RepoTags. Without refName the image has no name.
 *
 * The manifest blob is the source's `image.manifestBytes` as they are (the bytes its digest names, checked before
 * anything is written). Every other blob is streamed from `source.openBlob`, so its size and digest are checked on
 * the way; a failure anywhere removes what was written (the output appears by rename only when complete). Entries
 * are owned by 0:0, files 0644 and directories 0755, with the image's creation time (the epoch when it has none),
 * so the same image gives the same tar.
 */

export interface LayoutWriteOptions {
  /** The image's name: a full name (`alpine:3`, `example.com/app:1`) or an OCI ref name (`latest`). */
  refName?: string;
}

/** Where the writer puts entries: a tar or a directory. */
interface LayoutSink {
  directory(name: string): Promise<void>;
  /** A file of exactly `size` bytes; a stream that fails fails the write. */
  file(name: string, size: number, content: Buffer | Readable): Promise<void>;
}

const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';
const LAYOUT_FILE = JSON.stringify({ imageLayoutVersion: '1.0.0' });

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The annotations and docker RepoTags that name the image (see above). */
export function layoutNames(refName: string | undefined): { annotations?: Record<string, string>; repoTags: string[] } {
  if (refName === undefined) return { repoTags: [] };
  if (!/[/:@]/.test(refName)) return { annotations: { [REF_NAME_ANNOTATION]: refName }, repoTags: [] };
  const full = normalizeImageName(refName);
  // What follows the repository: from the first ':' or '@' after the last '/'.
  const lastSlash = full.lastIndexOf('/');
  const separator = full.slice(lastSlash).search(/[:@]/);
  const object = separator < 0 ? 'latest' : full.slice(lastSlash + separator).replace(/^:/, '');
  const repoTags = full.includes('@') ? [] : [familiarName(full)];
  return { annotations: { [CONTAINERD_NAME_ANNOTATION]: full, [REF_NAME_ANNOTATION]: object }, repoTags };
}

/** docker's short form of a normalised name: `docker.io/library/alpine:3` → `alpine:3`. */
function familiarName(full: string): string {
  if (!full.startsWith('docker.io/')) return full;
  const rest = full.slice('docker.io/'.length);
  const library = /^library\/([^/]+)$/.exec(rest);
  return library ? library[1]! : rest;
}

function blobName(digest: string, where: string): { dir: string; name: string } {
  const { algorithm, encoded } = parseDigest(digest, where);
  return { dir: `blobs/${algorithm}/`, name: `blobs/${algorithm}/${encoded}` };
}

/** Writes the layout's entries into `sink`. */
async function writeLayout(source: ImageSource, sink: LayoutSink, options: LayoutWriteOptions): Promise<void> {
  const { manifest, manifestBytes, config, manifestDigest } = source.image;
  const manifestDescriptor: Descriptor = { mediaType: manifest.mediaType ?? MediaTypes.manifest, digest: manifestDigest, size: manifestBytes.length };
  checkBlobBytes(manifestBytes, manifestDescriptor);

  await sink.file('oci-layout', Buffer.byteLength(LAYOUT_FILE), Buffer.from(LAYOUT_FILE));
  await sink.directory('blobs/');
  const directories = new Set<string>();
  const written = new Set<string>();
  const blob = async (descriptor: Descriptor, where: string, content?: Buffer): Promise<void> => {
    const { dir, name } = blobName(descriptor.digest, where);
    if (!directories.has(dir)) {
      directories.add(dir);
      await sink.directory(dir);
    }
    if (written.has(name)) return;
    written.add(name);
    await sink.file(name, descriptor.size, content ?? source.openBlob(descriptor));
  };
  await blob(manifest.config, `image ${manifestDigest}: config`);
  for (const [i, layer] of manifest.layers.entries()) await blob(layer, `image ${manifestDigest}: layers[${i}]`);
  await blob(manifestDescriptor, `image ${manifestDigest}`, manifestBytes);

  const { annotations, repoTags } = layoutNames(options.refName);
  const platform: Platform = { architecture: config.architecture, os: config.os };
  if (config['os.version'] !== undefined) platform['os.version'] = config['os.version'];
  if (config.variant !== undefined) platform.variant = config.variant;
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaTypes.index,
    manifests: [{ ...manifestDescriptor, ...(annotations ? { annotations } : {}), platform }],
  };
  const indexData = Buffer.from(JSON.stringify(index));
  await sink.file('index.json', indexData.length, indexData);
  const dockerManifest = Buffer.from(JSON.stringify([{
    Config: blobName(manifest.config.digest, 'config').name,
    RepoTags: repoTags,
    Layers: manifest.layers.map((layer) => blobName(layer.digest, 'layer').name),
  }]));
  await sink.file('manifest.json', dockerManifest.length, dockerManifest);
}

/** The mtime of every entry: the image's creation time, or the epoch. */
function entryTime(source: ImageSource): Date {
  const created = Date.parse(source.image.config.created ?? '');
  return new Date(Number.isFinite(created) && created >= 0 ? Math.floor(created / 1000) * 1000 : 0);
}


function tarSink(pack: tarStream.Pack, mtime: Date): LayoutSink {
  const common = { uid: 0, gid: 0, mtime };
  return {
    directory: (name) => new Promise<void>((resolve, reject) => {
      // Errors reach the callback; an 'error' event without a listener would be thrown out of tar-stream.
      pack.entry({ ...common, name, type: 'directory', mode: 0o755 }, Buffer.alloc(0), (error) => (error ? reject(error) : resolve())).on('error', () => {});
    }),
    async file(name, size, content) {
      const header = { ...common, name, type: 'file' as const, mode: 0o644, size };
      if (Buffer.isBuffer(content)) {
        await new Promise<void>((resolve, reject) => {
          pack.entry(header, content, (error) => (error ? reject(error) : resolve())).on('error', () => {});
        });
        return;
      }
      const done = Promise.withResolvers<void>();
      done.promise.catch(() => {}); // awaited below; it may fail while the content is still being read
      const entry = pack.entry(header, (error) => (error ? done.reject(error) : done.resolve()));
      entry.on('error', () => {}); // reported through the callback
      try {
        for await (const chunk of content as AsyncIterable<Buffer>) {
          if (!entry.write(chunk)) await drained(entry);
          // The output failed and took the pack with it: the caller reports the output's error.
          if (entry.destroying || entry.destroyed) throw new Error('the tar entry was destroyed');
        }
        entry.end(undefined);
      } catch (error) {
        content.destroy();
        entry.destroy(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
      await done.promise;
    },
  };
}

/** A temporary name beside `output`, in the same directory so the final rename stays on one file system. */
function temporaryPath(output: string): string {
  return `${output}.tmp-${process.pid}`;
}

/**
 * Writes the image as an OCI image layout tar to `output` (replaced when it exists). The tar is written to
 * `<output>.tmp-<pid>`, synced and renamed over `output` at the end; on failure the temporary file is removed.
 */
export async function writeOciLayoutTar(source: ImageSource, output: string, options: LayoutWriteOptions = {}): Promise<void> {
  const temporary = temporaryPath(output);
  let fd: number;
  try {
    fd = fs.openSync(temporary, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  } catch (error) {
    throw new RuntimeError('image', `${temporary}: cannot create the output file: ${errorText(error)}`, { cause: error });
  }
  const pack = tarStream.pack();
  // tar-stream's pack is a streamx stream: read as an async iterable, which Node's pipeline takes as it is.
  const piping = pipeline(async function* tar() {
    yield* pack as AsyncIterable<Buffer>;
  }, fs.createWriteStream(temporary, { fd, flush: true }));
  let outputError: unknown;
  piping.catch((error: unknown) => {
    outputError = error;
    // The pipeline does not end the generator reading the pack: destroying the pack wakes whatever waits on it.
    pack.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  try {
    try {
      await writeLayout(source, tarSink(pack, entryTime(source)), options);
      pack.finalize();
      await piping;
    } catch (error) {
      pack.destroy(error instanceof Error ? error : new Error(String(error)));
      await piping.catch(() => {});
      const reported = outputError !== undefined && !(error instanceof RuntimeError) ? outputError : error;
      if (reported instanceof RuntimeError) throw reported;
      throw new RuntimeError('image', `${output}: cannot write the image: ${errorText(reported)}`, { cause: reported });
    }
    try {
      fs.renameSync(temporary, output);
    } catch (error) {
      throw new RuntimeError('image', `${output}: cannot move the finished image into place: ${errorText(error)}`, { cause: error });
    }
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  syncDirectory(path.dirname(path.resolve(output)));
}

function directorySink(root: string): LayoutSink {
  return {
    async directory(name) {
      fs.mkdirSync(path.join(root, name), { mode: 0o755 });
    },
    async file(name, size, content) {
      const file = path.join(root, name);
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
      // flush: fsynced before it is closed, which pipeline waits for.
      const stream = fs.createWriteStream(file, { fd, flush: true });
      const input = Buffer.isBuffer(content) ? Readable.from([content], { objectMode: false }) : content;
      let length = 0;
      await pipeline(input, async function* counted(source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          length += chunk.length;
          yield chunk;
        }
      }, stream);
      if (length !== size) throw new RuntimeError('image', `${name}: expected ${size} bytes, got ${length}`);
    },
  };
}

/**
 * Writes the image as an OCI image layout directory `output`, which must not exist: it is written as
 * `<output>.tmp-<pid>` and renamed at the end; on failure the temporary directory is removed.
 */
export async function writeOciLayoutDir(source: ImageSource, output: string, options: LayoutWriteOptions = {}): Promise<void> {
  if (fs.lstatSync(output, { throwIfNoEntry: false }) !== undefined) throw new RuntimeError('image', `${output}: exists (tsrun writes an image layout directory only as a new directory)`);
  const temporary = temporaryPath(output);
  try {
    fs.mkdirSync(temporary, { mode: 0o755 });
  } catch (error) {
    throw new RuntimeError('image', `${temporary}: cannot create the output directory: ${errorText(error)}`, { cause: error });
  }
  try {
    try {
      await writeLayout(source, directorySink(temporary), options);
    } catch (error) {
      if (error instanceof RuntimeError) throw error;
      throw new RuntimeError('image', `${output}: cannot write the image: ${errorText(error)}`, { cause: error });
    }
    for (const dir of fs.readdirSync(path.join(temporary, 'blobs'))) syncDirectory(path.join(temporary, 'blobs', dir));
    syncDirectory(temporary);
    try {
      fs.renameSync(temporary, output);
    } catch (error) {
      throw new RuntimeError('image', `${output}: cannot move the finished image into place: ${errorText(error)}`, { cause: error });
    }
  } catch (error) {
    fs.rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
  syncDirectory(path.dirname(path.resolve(output)));
}
