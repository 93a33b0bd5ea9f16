import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import { RuntimeError } from '../../errors';
import { quote } from './digest';

/**
 * Extracts a tar of an image (an OCI image layout or a `docker save` archive; plain, gzip- or zstd-compressed)
 * into a new temporary directory. Such archives need nothing but regular files and directories, so nothing else
 * is accepted, and as tsrun creates every directory itself and every file with O_EXCL|O_NOFOLLOW, the tree it
 * leaves holds no symlink and nothing outside it is touched. On failure the directory is removed.
 */

const GZIP_MAGIC = [0x1f, 0x8b];
/**
 * The one symlink image archives have: docker save before v25 stores a layer that repeats another one as
 * `<id>/layer.tar -> ../<other id>/layer.tar`. It becomes a hard link to that file (made once the archive has
 * been read, since the target may come later); any other symlink is refused.
 */
const DOCKER_LAYER_LINK = /^([0-9a-f]{64})\/layer\.tar$/;
const DOCKER_LAYER_TARGET = /^\.\.\/([0-9a-f]{64})\/layer\.tar$/;
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** An archive entry's name as a relative path (`./a//b/` → `a/b`); '' for the archive's root directory. */
export function normalizeEntryName(name: string, archive: string): string {
  const refuse = (why: string): never => {
    throw new RuntimeError('image', `${archive}: entry ${quote(name)}: ${why}`);
  };
  if (name.includes('\0')) refuse('contains a NUL byte');
  if (name.startsWith('/')) refuse('absolute names are not accepted');
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) refuse('".." components are not accepted');
  return parts.join('/');
}

function startsWith(bytes: Buffer, magic: number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/** The archive's bytes, decompressed when its first bytes are a gzip or zstd header. */
function openDecompressed(tarPath: string): Readable {
  let fd: number;
  try {
    fd = fs.openSync(tarPath, fs.constants.O_RDONLY);
  } catch (error) {
    throw new RuntimeError('image', `${tarPath}: cannot open: ${(error as Error).message}`, { cause: error });
  }
  const head = Buffer.alloc(4);
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, 4, 0);
  } catch (error) {
    fs.closeSync(fd);
    throw new RuntimeError('image', `${tarPath}: cannot read: ${(error as Error).message}`, { cause: error });
  }
  const raw = fs.createReadStream(tarPath, { fd, start: 0 });
  const magic = head.subarray(0, n);
  const decompressor = startsWith(magic, GZIP_MAGIC) ? zlib.createGunzip()
    : startsWith(magic, ZSTD_MAGIC) ? zlib.createZstdDecompress() : undefined;
  if (decompressor === undefined) return raw;
  raw.on('error', (error) => decompressor.destroy(error));
  decompressor.on('close', () => raw.destroy());
  return raw.pipe(decompressor);
}

async function writeEntry(entry: AsyncIterable<unknown>, file: string): Promise<void> {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const handle = await fs.promises.open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
  try {
    for await (const data of entry) {
      const chunk = data as Buffer;
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
        offset += bytesWritten;
      }
    }
  } finally {
    await handle.close();
  }
}

/**
 * Creates each missing directory of `rel` below `root` (never through a symlink: none exists in the tree).
 * `entryError` makes the error naming the archive entry when a file stands where a directory is needed.
 */
function makeDirectories(root: string, rel: string, entryError: (why: string) => RuntimeError): void {
  let current = root;
  let walked = '';
  for (const part of rel.split('/')) {
    if (part === '') continue;
    current = path.join(current, part);
    walked = walked === '' ? part : `${walked}/${part}`;
    try {
      fs.mkdirSync(current, 0o755);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (!fs.lstatSync(current).isDirectory()) throw entryError(`${quote(walked)} is a file in the archive, not a directory`);
    }
  }
}

/**
 * Extracts `tarPath` into a new directory made under `intoDir` and returns its path. Entries other than regular
 * files and directories (and docker's repeated-layer links, see DOCKER_LAYER_LINK), absolute names, `..`
 * components and NUL bytes are errors naming the entry.
 */
export async function extractArchive(tarPath: string, intoDir: string): Promise<string> {
  let root: string;
  try {
    root = fs.mkdtempSync(path.join(intoDir, 'tsrun-image-'));
  } catch (error) {
    throw new RuntimeError('image', `${intoDir}: cannot make a temporary directory: ${(error as Error).message}`, { cause: error });
  }
  let input: Readable | undefined;
  const extract = tarStream.extract();
  try {
    input = openDecompressed(tarPath);
    input.on('error', (error) => extract.destroy(error));
    input.pipe(extract);
    let entries = 0;
    const layerLinks: Array<{ rel: string; target: string; entryError: (why: string, cause?: unknown) => RuntimeError }> = [];
    for await (const entry of extract) {
      entries++;
      const { name, type } = entry.header;
      const entryError = (why: string, cause?: unknown): RuntimeError =>
        new RuntimeError('image', `${tarPath}: entry ${quote(name)}: ${why}`, cause === undefined ? {} : { cause });
      const rel = normalizeEntryName(name, tarPath);
      if (type === 'directory') {
        entry.resume();
        makeDirectories(root, rel, entryError);
        continue;
      }
      const target = entry.header.linkname ?? '';
      if (type === 'symlink' && DOCKER_LAYER_LINK.test(rel) && DOCKER_LAYER_TARGET.test(target)) {
        entry.resume();
        layerLinks.push({ rel, target: `${DOCKER_LAYER_TARGET.exec(target)![1]}/layer.tar`, entryError });
        continue;
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        const kind = type === 'link' ? 'hard link' : type ?? 'unknown type';
        throw entryError(`${kind} entries are not accepted (an image archive holds only regular files and directories)`);
      }
      if (rel === '') throw entryError('a file needs a name');
      makeDirectories(root, path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel), entryError);
      try {
        await writeEntry(entry, path.join(root, rel));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw entryError('appears more than once', error);
        throw error;
      }
    }
    if (entries === 0) throw new RuntimeError('image', `${tarPath}: the archive is empty`);
    for (const link of layerLinks) {
      const target = path.join(root, link.target);
      if (!fs.lstatSync(target, { throwIfNoEntry: false })?.isFile()) throw link.entryError(`links to ${quote(link.target)}, which the archive does not hold as a file`);
      makeDirectories(root, path.posix.dirname(link.rel), link.entryError);
      try {
        fs.linkSync(target, path.join(root, link.rel));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw link.entryError('appears more than once', error);
        throw error;
      }
    }
    return root;
  } catch (error) {
    input?.destroy();
    extract.destroy();
    fs.rmSync(root, { recursive: true, force: true });
    if (error instanceof RuntimeError) throw error;
    throw new RuntimeError('image', `${tarPath}: cannot extract: ${(error as Error).message}`, { cause: error });
  }
}
