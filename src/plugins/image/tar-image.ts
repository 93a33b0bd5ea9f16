import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import { RuntimeError } from '../../errors';
import { MediaTypes, type Descriptor, type ExecutionConfig, type ImageConfig, type ImageManifest } from '../../spec/image-types';
import { validateImageConfigDocument, validateImageManifestDocument } from '../../spec/image-validate';
import { digestOf, parseDigest, verifyBlobStream } from './digest';
import type { ImageSource, ResolvedImage } from './image-source';
import { classifyEntry, type TarHeader } from './layer-entry';
import { hostPlatform } from './oci-layout';

/**
 * `tsrun image import`: a tar of a file system (plain, gzip- or zstd-compressed, told apart by their first
 * bytes) as a one-layer OCI image, served as an ImageSource.
 *
 * The tar is read once: its uncompressed bytes are hashed (the layer's DiffID), every entry is judged by the
 * rules layers are applied with (src/plugins/image/layer-entry.ts: no `..`, no NUL, valid UTF-8 names, no
 * binary xattr values, supported entry types), and the same bytes are written, gzip-compressed by default, to
 * a temporary file under `tmpDir`, which is the layer blob. Then the image configuration (this host's
 * platform, the given execution config, rootfs.diff_ids, one history entry "imported from <file name>") and
 * an OCI manifest are made; both are JSON.stringify output, and their digests are of exactly those bytes. The
 * two documents are checked against tsrun's image-spec schemas, as every ImageSource's are.
 *
 * A tar that fails any check leaves nothing in `tmpDir`. `cleanup()` (and `close()`, the same) removes the
 * layer blob; both are safe to call twice.
 */

export interface ImportOptions {
  /** Where the layer blob is written (a temporary file, removed by cleanup()). */
  tmpDir: string;
  /** The image's execution config (Cmd, Env, ...); none by default. */
  config?: Partial<ExecutionConfig>;
  /** The image's creation time; now by default. */
  created?: Date;
  /** How the layer blob is stored; gzip by default. */
  compress?: 'gzip' | 'none';
}

export type ImportedImage = ImageSource & { cleanup(): void };

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(bytes: Buffer, magic: number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The file's bytes, decompressed when its first bytes are a gzip or zstd header. Works for a pipe too
 * (/dev/stdin): the first chunks are looked at, not read again by position.
 */
async function openDecompressed(tarPath: string): Promise<{ stream: Readable; compression: 'gzip' | 'zstd' | 'none' }> {
  let raw: fs.ReadStream;
  try {
    const fd = fs.openSync(tarPath, fs.constants.O_RDONLY);
    raw = fs.createReadStream(tarPath, { fd });
  } catch (error) {
    throw new RuntimeError('image', `${tarPath}: cannot open: ${errorText(error)}`, { cause: error });
  }
  const iterator = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let headLength = 0;
  let ended = false;
  try {
    while (headLength < ZSTD_MAGIC.length) {
      const next = await iterator.next();
      if (next.done) {
        ended = true;
        break;
      }
      head.push(next.value);
      headLength += next.value.length;
    }
  } catch (error) {
    raw.destroy();
    throw new RuntimeError('image', `${tarPath}: cannot read: ${errorText(error)}`, { cause: error });
  }
  const first = Buffer.concat(head);
  const whole = Readable.from((async function* rest(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    if (ended) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  })(), { objectMode: false });
  whole.on('close', () => raw.destroy());
  const compression = startsWith(first, GZIP_MAGIC) ? 'gzip' : startsWith(first, ZSTD_MAGIC) ? 'zstd' : 'none';
  if (compression === 'none') return { stream: whole, compression };
  const decompressor = compression === 'gzip' ? zlib.createGunzip() : zlib.createZstdDecompress();
  whole.on('error', (error) => decompressor.destroy(error));
  decompressor.on('close', () => whole.destroy());
  return { stream: whole.pipe(decompressor), compression };
}

/** What reading the tar found. */
interface ReadTar {
  diffId: string;
  blobDigest: string;
  blobSize: number;
  entries: number;
}

/**
 * Reads the tar once: hashes it, checks every entry and writes the layer blob to `blobFile` (created O_EXCL).
 * On failure the caller removes `blobFile`.
 */
async function readTarIntoBlob(tarPath: string, blobFile: string, compress: 'gzip' | 'none'): Promise<ReadTar> {
  const { stream: tar, compression } = await openDecompressed(tarPath);
  const extract = tarStream.extract();
  const diffHash = createHash('sha256');
  const blobHash = createHash('sha256');
  let blobSize = 0;
  let blobFd: number;
  try {
    blobFd = fs.openSync(blobFile, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  } catch (error) {
    tar.destroy();
    throw new RuntimeError('image', `${blobFile}: cannot create the layer blob: ${errorText(error)}`, { cause: error });
  }
  const layerIn: Transform = compress === 'gzip' ? zlib.createGzip() : new PassThrough();
  const blobOut = fs.createWriteStream(blobFile, { fd: blobFd, flush: true });
  // A failure of the file itself (ENOSPC, EIO), told apart from the stream errors that follow from it.
  let blobError: NodeJS.ErrnoException | undefined;
  blobOut.on('error', (error: NodeJS.ErrnoException) => {
    if (error.syscall !== undefined) blobError ??= error;
  });
  const writing = pipeline(layerIn, async function* counted(source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      blobHash.update(chunk);
      blobSize += chunk.length;
      yield chunk;
    }
  }, blobOut);
  const stop = new AbortController();
  // Awaited below. A failure of the blob file (ENOSPC) stops the feeder and the parser at once: pipeline() has
  // destroyed layerIn, which never drains again, so a feeder that writes to it later would wait forever, and the
  // parser, which only the feeder feeds, with it (seen with a slowly arriving tar on a full disk).
  writing.catch((error: unknown) => {
    stop.abort();
    extract.destroy(error instanceof Error ? error : new Error(String(error)));
  });

  // Feeds the tar to the parser and the blob writer; resolves with the input's own error, if any.
  const feeding = (async (): Promise<unknown> => {
    try {
      for await (const chunk of tar as AsyncIterable<Buffer>) {
        if (stop.signal.aborted) break;
        diffHash.update(chunk);
        const parsed = extract.write(chunk);
        const written = layerIn.write(chunk);
        if (!parsed) await once(extract, 'drain', { signal: stop.signal });
        if (!written) await once(layerIn, 'drain', { signal: stop.signal });
      }
      (extract as unknown as NodeJS.WritableStream).end();
      layerIn.end();
      return undefined;
    } catch (error) {
      if (stop.signal.aborted) return undefined;
      extract.destroy(error as Error);
      return error;
    }
  })();

  let entries = 0;
  try {
    for await (const entry of extract) {
      classifyEntry(entry.header as TarHeader, tarPath);
      for await (const chunk of entry) void chunk;
      entries++;
    }
    const inputError = await feeding;
    if (inputError !== undefined) throw inputError;
    await writing;
  } catch (error) {
    stop.abort();
    extract.destroy();
    tar.destroy();
    layerIn.destroy();
    await writing.catch(() => {});
    const inputError = await feeding;
    if (error instanceof RuntimeError) throw error;
    if (blobError !== undefined) {
      throw new RuntimeError('image', `${blobFile}: cannot write the layer blob: ${blobError.message}`, { cause: blobError });
    }
    const reported = inputError ?? error;
    if (reported instanceof RuntimeError) throw reported;
    const what = compression === 'none' ? 'tar' : `${compression}-compressed tar`;
    throw new RuntimeError('image', `${tarPath}: not a valid ${what}: ${errorText(reported)}`, { cause: reported });
  }
  if (entries === 0) throw new RuntimeError('image', `${tarPath}: the tar has no entries`);
  return { diffId: `sha256:${diffHash.digest('hex')}`, blobDigest: `sha256:${blobHash.digest('hex')}`, blobSize, entries };
}

function imageConfig(diffId: string, tarPath: string, options: ImportOptions, created: string): ImageConfig {
  const platform = hostPlatform();
  const config: ImageConfig = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    ...(options.config !== undefined ? { config: { ...options.config } } : {}),
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created, comment: `imported from ${path.basename(tarPath)}` }],
  };
  try {
    return validateImageConfigDocument(config, `${tarPath}: image config`);
  } catch (error) {
    // The schema's message (`<where>: <pointer> <expectation>`) as an image error.
    throw new RuntimeError('image', errorText(error), { cause: error });
  }
}

export async function imageFromTar(tarPath: string, options: ImportOptions): Promise<ImportedImage> {
  const compress = options.compress ?? 'gzip';
  const created = (options.created ?? new Date()).toISOString();
  // The execution config is the caller's: checked before the tar is read, with a stand-in DiffID.
  imageConfig(digestOf(Buffer.alloc(0)), tarPath, options, created);

  const blobFile = path.join(options.tmpDir, `.tsrun-import-${process.pid}-${randomBytes(6).toString('hex')}.layer`);
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    fs.rmSync(blobFile, { force: true });
  };
  let image: ResolvedImage;
  let manifestBytes: Buffer;
  let configBytes: Buffer;
  let layer: Descriptor;
  try {
    const read = await readTarIntoBlob(tarPath, blobFile, compress);
    const config = imageConfig(read.diffId, tarPath, options, created);
    configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = digestOf(configBytes);
    layer = { mediaType: compress === 'gzip' ? MediaTypes.layerGzip : MediaTypes.layerTar, digest: read.blobDigest, size: read.blobSize };
    const manifest: ImageManifest = validateImageManifestDocument({
      schemaVersion: 2,
      mediaType: MediaTypes.manifest,
      config: { mediaType: MediaTypes.config, digest: configDigest, size: configBytes.length },
      layers: [layer],
    }, `${tarPath}: image manifest`);
    manifestBytes = Buffer.from(JSON.stringify(manifest));
    image = { manifestDigest: digestOf(manifestBytes), manifestBytes, manifest, config, configDigest };
  } catch (error) {
    remove();
    throw error;
  }

  const documents = new Map<string, Buffer>([[image.manifestDigest, manifestBytes], [image.configDigest, configBytes]]);
  return {
    image,
    openBlob(descriptor: Descriptor): Readable {
      parseDigest(descriptor.digest, `${tarPath}: blob`);
      if (removed) throw new RuntimeError('image', `${tarPath}: the imported image was cleaned up (blob ${descriptor.digest})`);
      const document = documents.get(descriptor.digest);
      if (document !== undefined) return verifyBlobStream(Readable.from([document], { objectMode: false }), descriptor);
      if (descriptor.digest === layer.digest) return verifyBlobStream(fs.createReadStream(blobFile), descriptor);
      throw new RuntimeError('image', `${tarPath}: no blob ${descriptor.digest} in the imported image (it has the manifest ${image.manifestDigest}, the configuration ${image.configDigest} and the layer ${layer.digest})`);
    },
    close: remove,
    cleanup: remove,
  };
}
