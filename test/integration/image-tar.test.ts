// Building blocks of `tsrun image export|import|save` on a real file system: a rootfs written as a tar and
// applied again gives the same tree (types, modes with setuid, owners, times, symlink targets, hard links,
// devices, user.* xattrs); that tar imported as a one-layer image, saved as an OCI layout tar and unpacked
// gives it once more; hostile input and failing sources leave nothing behind. Needs root (chown to other
// users, mknod, mount), so it skips in the rootless pass.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../src/errors';
import { getxattrAt, mknodat, setxattrAt } from '../../src/linux/fs-at';
import { listXattrsAt } from '../../src/linux/xattr-list';
import { applyLayer } from '../../src/plugins/image/layer-apply';
import { layoutNames, writeOciLayoutDir, writeOciLayoutTar } from '../../src/plugins/image/layout-writer';
import { hostPlatform } from '../../src/plugins/image/oci-layout';
import { openImageSource } from '../../src/plugins/image/open-image-source';
import { RootfsWriter } from '../../src/plugins/image/rootfs-writer';
import { writeTreeAsTar } from '../../src/plugins/image/rootfs-tar';
import { imageFromTar } from '../../src/plugins/image/tar-image';
import { unpackImage } from '../../src/plugins/image/unpack';
import { defaultSpec } from '../../src/spec/default-spec';
import { imageDocumentValidators } from '../../src/spec/image-validate';
import { busyboxLayer, sha256, writeDockerArchive, writeOciLayout } from '../helpers/image-build';
import { buildTar } from '../helpers/tar-build';
import { needsPrivilege } from '../helpers/tsrun';

const [skipRootless, rootlessNote] = needsPrivilege('exporting and applying trees chowns to other users, makes devices and mounts: root only');
const notRoot = process.getuid?.() !== 0;

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFSOCK = 0o140000;
const MTIME = 1_650_000_000;

/** What the tests compare of one node of a tree. */
interface NodeInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  content?: string;
  target?: string;
  rdev?: number;
  xattrs: Record<string, string>;
  /** For an inode with more than one link: all its paths, sorted. */
  links?: string[];
}

function typeOf(stat: fs.Stats): string {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isCharacterDevice()) return 'char';
  if (stat.isBlockDevice()) return 'block';
  if (stat.isFIFO()) return 'fifo';
  return 'socket';
}

function userXattrs(dir: string, name: string): Record<string, string> {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const out: Record<string, string> = {};
    for (const attribute of listXattrsAt(fd, name).filter((a) => a.startsWith('user.')).sort()) {
      out[attribute] = getxattrAt(fd, name, attribute)!.toString('utf8');
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Every node below `root` (and the root as ''), described for comparison. */
function snapshot(root: string): Record<string, NodeInfo> {
  const nodes: Record<string, NodeInfo> = {};
  const inodes = new Map<number, string[]>();
  const visit = (rel: string): void => {
    const full = rel === '' ? root : path.join(root, rel);
    const stat = fs.lstatSync(full);
    const info: NodeInfo = {
      type: typeOf(stat), mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, mtime: Math.floor(stat.mtimeMs / 1000),
      xattrs: rel === '' ? {} : userXattrs(path.dirname(full), path.basename(full)),
    };
    if (info.type === 'symlink') info.mode = 0;
    if (stat.isFile()) info.content = createHash('sha256').update(fs.readFileSync(full)).digest('hex');
    if (stat.isSymbolicLink()) info.target = fs.readlinkSync(full);
    if (stat.isCharacterDevice() || stat.isBlockDevice()) info.rdev = stat.rdev;
    if (!stat.isDirectory() && stat.nlink > 1) inodes.set(stat.ino, [...(inodes.get(stat.ino) ?? []), rel]);
    nodes[rel] = info;
    if (stat.isDirectory()) for (const name of fs.readdirSync(full).sort()) visit(rel === '' ? name : `${rel}/${name}`);
  };
  visit('');
  for (const paths of inodes.values()) for (const p of paths) nodes[p]!.links = [...paths].sort();
  return nodes;
}

/** Sets every node's times (deepest first, so directories keep theirs). */
function setTimes(root: string, seconds: number): void {
  const visit = (full: string): void => {
    const stat = fs.lstatSync(full);
    if (stat.isDirectory()) for (const name of fs.readdirSync(full)) visit(path.join(full, name));
    fs.lutimesSync(full, seconds, seconds);
  };
  visit(root);
}

function withDir<T>(dir: string, f: (fd: number) => T): T {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return f(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The entries of a tar: header fields that matter and, for files, the content. */
async function tarEntries(tar: Buffer): Promise<Array<tarStream.Header & { content: Buffer }>> {
  const extract = tarStream.extract();
  const out: Array<tarStream.Header & { content: Buffer }> = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      out.push({ ...entry.header, content: Buffer.concat(chunks) });
    }
  })();
  extract.end(tar);
  await reading;
  return out;
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RuntimeError);
    return (error as Error).message;
  }
  throw new Error('it succeeded');
}

describe.skipIf(skipRootless || notRoot)(`rootfs tar export, import and OCI layout save${rootlessNote}${notRoot ? ' (skipped: needs root)' : ''}`, () => {
  let dir: string;
  let src: string;
  let outside: string;
  let tmp: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-image-tar-'));
    src = path.join(dir, 'src');
    outside = path.join(dir, 'outside');
    tmp = path.join(dir, 'tmp');
    for (const d of [src, outside, tmp]) fs.mkdirSync(d);
  });

  /** Small tmpfs mounts made by a test: unmounted here, so a test that fails or times out leaves none behind. */
  let mounts: string[] = [];

  /** A tar of one 2.5 MB file, ten times what mountSmallTmpfs holds. */
  async function writeTarLargerThanTheDisk(file: string): Promise<void> {
    fs.writeFileSync(file, await buildTar([{ name: 'random', content: createHash('sha512').update('seed').digest().toString('hex').repeat(20_000) }]));
  }

  /** A full disk: a 256 KiB tmpfs at `mountPoint` (made). */
  function mountSmallTmpfs(mountPoint: string): void {
    fs.mkdirSync(mountPoint);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint]).status).toBe(0);
    mounts.push(mountPoint);
  }

  afterEach(() => {
    // Lazily: a failed write stream may still be closing its descriptor on the tmpfs.
    for (const mountPoint of mounts) spawnSync('umount', ['-l', mountPoint]);
    mounts = [];
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A rootfs with every kind of node tsrun exports. */
  function buildTree(): void {
    const at = (p: string) => path.join(src, p);
    fs.chmodSync(src, 0o755);
    for (const d of ['etc', 'usr/bin', 'dev', 'run', 'home/app', 'deep/a/b/c', 'x'.repeat(60) + '/' + 'y'.repeat(60)]) fs.mkdirSync(at(d), { recursive: true });
    fs.mkdirSync(at('tmp'), { mode: 0o1777 });
    fs.chmodSync(at('tmp'), 0o1777);
    fs.writeFileSync(at('etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
    fs.writeFileSync(at('etc/shadow'), 'root:*:1::::::\n', { mode: 0o000 });
    fs.chmodSync(at('etc/shadow'), 0o000);
    fs.writeFileSync(at('usr/bin/su'), '#!/bin/sh\necho su\n');
    fs.chmodSync(at('usr/bin/su'), 0o4755);
    fs.writeFileSync(at('usr/bin/wall'), 'wall');
    fs.chownSync(at('usr/bin/wall'), 0, 5);
    fs.chmodSync(at('usr/bin/wall'), 0o2755);
    fs.linkSync(at('usr/bin/su'), at('usr/bin/su-again'));
    fs.linkSync(at('usr/bin/su'), at('etc/su-third'));
    fs.writeFileSync(at('home/app/data'), 'mine');
    fs.chownSync(at('home/app/data'), 1000, 1001);
    fs.chmodSync(at('home/app/data'), 0o640);
    fs.chownSync(at('home/app'), 1000, 1000);
    fs.writeFileSync(at('empty'), '');
    fs.writeFileSync(at('big'), Buffer.alloc(3 * 1024 * 1024 + 17, 'ab'));
    fs.writeFileSync(at('café-ünïcode.txt'), 'utf8 name');
    fs.writeFileSync(at(`${'x'.repeat(60)}/${'y'.repeat(60)}/${'z'.repeat(80)}`), 'long path');
    fs.writeFileSync(at('deep/a/b/c/leaf'), 'leaf');
    fs.symlinkSync('usr/bin', at('bin'));
    fs.lchownSync(at('bin'), 7, 8);
    fs.symlinkSync(path.join(outside, 'secret'), at('absolute-out'));
    fs.symlinkSync('../outside', at('relative-out'));
    fs.symlinkSync('dangling/nowhere', at('dangling'));
    fs.symlinkSync('t'.repeat(150), at('long-target'));
    withDir(at('dev'), (fd) => {
      mknodat(fd, 'null', S_IFCHR | 0o666, 1, 3);
      mknodat(fd, 'loop0', S_IFBLK | 0o660, 7, 0);
      mknodat(fd, 'big-minor', S_IFCHR | 0o600, 10, 70000);
    });
    fs.chmodSync(at('dev/null'), 0o666);
    spawnSync('mkfifo', ['-m', '0620', at('run/fifo')]);
    withDir(at('run'), (fd) => mknodat(fd, 'socket', S_IFSOCK | 0o600, 0, 0));
    withDir(at('usr/bin'), (fd) => setxattrAt(fd, 'su', 'user.note', Buffer.from('hello\nworld = "x"')));
    withDir(at('home'), (fd) => setxattrAt(fd, 'app', 'user.dir', Buffer.from('d')));
    withDir(at('etc'), (fd) => setxattrAt(fd, 'passwd', 'user.empty', Buffer.alloc(0)));
    fs.writeFileSync(path.join(outside, 'secret'), 'SECRET-OUTSIDE');
    setTimes(src, MTIME);
    fs.lutimesSync(at('etc/passwd'), MTIME - 86_400, MTIME - 86_400);
  }

  /** The source tree as an applied copy should be: sockets are not exported. */
  function expectedTree(): Record<string, NodeInfo> {
    const tree = snapshot(src);
    delete tree['run/socket'];
    return tree;
  }

  async function exportTree(root = src, options = {}): Promise<{ tar: Buffer; result: { entries: number; bytes: number } }> {
    const file = path.join(dir, `export-${Math.random().toString(16).slice(2)}.tar`);
    const result = await writeTreeAsTar(root, fs.createWriteStream(file), options);
    const tar = fs.readFileSync(file);
    fs.rmSync(file);
    return { tar, result };
  }

  async function applyTar(tar: Buffer, into: string): Promise<string> {
    fs.mkdirSync(into);
    const writer = new RootfsWriter(into, 'flatten');
    try {
      return (await applyLayer(Readable.from([tar]), 'none', writer, 'exported')).diffId;
    } finally {
      writer.close();
    }
  }

  it('a tree written as a tar and applied again is the same tree', async () => {
    buildTree();
    const { tar, result } = await exportTree();
    expect(result.bytes).toBe(tar.length);
    const entries = await tarEntries(tar);
    expect(result.entries).toBe(entries.length);
    const names = entries.map((e) => e.name);
    expect(names[0]).toBe('./');
    expect(names).toContain('etc/');
    expect(names).toContain('etc/passwd');
    expect(names).not.toContain('run/socket');
    // Hard links: the first path in walk order holds the content, the others link to it.
    const linked = entries.filter((e) => e.type === 'link').map((e) => [e.name, e.linkname]);
    expect(linked).toEqual([['usr/bin/su', 'etc/su-third'], ['usr/bin/su-again', 'etc/su-third']]);
    expect(entries.find((e) => e.name === 'etc/shadow')?.mode).toBe(0);

    const copy = path.join(dir, 'copy');
    const diffId = await applyTar(tar, copy);
    expect(diffId).toBe(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
    expect(snapshot(copy)).toEqual(expectedTree());
    expect(fs.statSync(path.join(copy, 'usr/bin/su')).mode & 0o7777).toBe(0o4755);
    expect(fs.statSync(path.join(copy, 'usr/bin/su')).nlink).toBe(3);
  });

  it('symlinks are written as symlinks: nothing they point to outside the tree is read', async () => {
    buildTree();
    const { tar } = await exportTree();
    const entries = await tarEntries(tar);
    const link = (name: string) => entries.find((e) => e.name === name);
    expect([link('absolute-out')?.type, link('absolute-out')?.linkname]).toEqual(['symlink', path.join(outside, 'secret')]);
    expect([link('relative-out')?.type, link('relative-out')?.linkname]).toEqual(['symlink', '../outside']);
    expect(link('long-target')?.linkname).toBe('t'.repeat(150));
    expect(entries.some((e) => e.name.startsWith('relative-out/'))).toBe(false);
    expect(tar.includes(Buffer.from('SECRET-OUTSIDE'))).toBe(false);
  });

  it('is reproducible, and leaves out what exclude names', async () => {
    buildTree();
    const first = await exportTree();
    const second = await exportTree();
    expect(second.tar.equals(first.tar)).toBe(true);
    const { tar } = await exportTree(src, { exclude: (rel: string) => rel === 'deep/a' || rel === 'usr/bin/su' });
    const names = (await tarEntries(tar)).map((e) => e.name);
    expect(names.filter((n) => n.startsWith('deep/'))).toEqual(['deep/']);
    // With the first path left out, the next one of the inode carries the content.
    const entries = await tarEntries(tar);
    expect(entries.find((e) => e.name === 'usr/bin/su-again')?.type).toBe('link');
    expect(entries.find((e) => e.name === 'etc/su-third')?.type).toBe('file');
  });

  it('mounts below the root are mount points only: a directory stays empty, a bind-mounted file is left out', async () => {
    buildTree();
    fs.mkdirSync(path.join(src, 'proc'));
    fs.writeFileSync(path.join(src, 'etc/resolv.conf'), '');
    const mounted: string[] = [];
    try {
      expect(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(src, 'proc')]).status).toBe(0);
      mounted.push(path.join(src, 'proc'));
      fs.writeFileSync(path.join(src, 'proc/on-the-mount'), 'nameserver 192.0.2.1\n');
      // A file of another file system bind-mounted over one of the tree's (as a runtime does with resolv.conf).
      expect(spawnSync('mount', ['--bind', path.join(src, 'proc/on-the-mount'), path.join(src, 'etc/resolv.conf')]).status).toBe(0);
      mounted.push(path.join(src, 'etc/resolv.conf'));
      const names = (await tarEntries((await exportTree()).tar)).map((e) => e.name);
      expect(names).toContain('proc/');
      expect(names).not.toContain('proc/on-the-mount');
      expect(names).not.toContain('etc/resolv.conf');
      expect(names).toContain('etc/passwd');
    } finally {
      for (const target of mounted.reverse()) spawnSync('umount', [target]);
    }
  });

  it('refuses what the tar cannot carry intact, naming the file and the attribute', async () => {
    fs.writeFileSync(path.join(src, 'ping'), 'p');
    withDir(src, (fd) => setxattrAt(fd, 'ping', 'user.caps', Buffer.from([0x01, 0xff, 0xfe, 0x00])));
    // A sink in memory: a file stream would still be opening its file while afterEach removes the directory.
    const sink = () => new Writable({ write: (_chunk, _encoding, callback) => callback() });
    expect(await refusal(writeTreeAsTar(src, sink())))
      .toBe(`${src}/ping: extended attribute user.caps has a binary value (4 bytes, not valid UTF-8), which tsrun's tar cannot carry intact`);
    fs.rmSync(path.join(src, 'ping'));
    fs.writeFileSync(path.join(src, 'owned'), 'o');
    fs.chownSync(path.join(src, 'owned'), 3_000_000, 0);
    expect(await refusal(writeTreeAsTar(src, sink()))).toMatch(/owned: owner 3000000:0 is above 2097151/);
  });

  it('an output that fails stops the export with its error', async () => {
    buildTree();
    let written = 0;
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        written += chunk.length;
        callback(written > 2 * 1024 * 1024 ? new Error('ENOSPC: no space left on device') : null);
      },
    });
    expect(await refusal(writeTreeAsTar(src, output))).toBe(`${src}: cannot write the tar: ENOSPC: no space left on device`);
  });

  it('the exported tar imported as an image, saved as an OCI layout tar and unpacked gives the same tree', async () => {
    buildTree();
    const exported = path.join(dir, 'rootfs.tar.gz');
    fs.writeFileSync(exported, zlib.gzipSync((await exportTree()).tar));
    const created = new Date('2026-02-03T04:05:06Z');
    const imported = await imageFromTar(exported, { tmpDir: tmp, config: { Cmd: ['/bin/sh'], Env: ['A=1'] }, created });
    const layoutTar = path.join(dir, 'image.tar');
    try {
      const { config, manifest } = imported.image;
      expect(config.history).toEqual([{ created: '2026-02-03T04:05:06.000Z', comment: 'imported from rootfs.tar.gz' }]);
      expect([config.os, config.architecture]).toEqual(['linux', hostPlatform().architecture]);
      expect(config.config).toEqual({ Cmd: ['/bin/sh'], Env: ['A=1'] });
      expect(manifest.layers).toHaveLength(1);
      expect(manifest.layers[0]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
      expect(imported.image.manifestBytes.toString()).toBe(JSON.stringify(manifest));
      expect(sha256(imported.image.manifestBytes)).toBe(imported.image.manifestDigest);
      expect(fs.readdirSync(tmp)).toHaveLength(1);
      await writeOciLayoutTar(imported, layoutTar, { refName: 'example.com/team/rootfs:1.0' });
    } finally {
      imported.cleanup();
      imported.cleanup();
    }
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);

    const files = new Map((await tarEntries(fs.readFileSync(layoutTar))).map((e) => [e.name, e]));
    const index = JSON.parse(files.get('index.json')!.content.toString()) as { manifests: Array<{ digest: string; annotations: Record<string, string>; platform: unknown }> };
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]!.digest).toBe(imported.image.manifestDigest);
    expect(index.manifests[0]!.annotations).toEqual({ 'io.containerd.image.name': 'example.com/team/rootfs:1.0', 'org.opencontainers.image.ref.name': '1.0' });
    expect(JSON.parse(files.get('manifest.json')!.content.toString())).toEqual([{
      Config: `blobs/sha256/${imported.image.configDigest.slice(7)}`,
      RepoTags: ['example.com/team/rootfs:1.0'],
      Layers: [`blobs/sha256/${imported.image.manifest.layers[0]!.digest.slice(7)}`],
    }]);
    expect(JSON.parse(files.get('oci-layout')!.content.toString())).toEqual({ imageLayoutVersion: '1.0.0' });

    const opened = await openImageSource(layoutTar, { ref: 'example.com/team/rootfs:1.0', tmpParent: tmp, validators: imageDocumentValidators, platform: hostPlatform() });
    try {
      expect(opened.image.manifestDigest).toBe(imported.image.manifestDigest);
      expect(opened.image.configDigest).toBe(imported.image.configDigest);
    } finally {
      opened.close();
    }

    const bundle = path.join(dir, 'bundle');
    const unpacked = await unpackImage(layoutTar, bundle, { platform: hostPlatform(), validators: imageDocumentValidators, base: defaultSpec({ rootless: false }) });
    expect(unpacked.manifestDigest).toBe(imported.image.manifestDigest);
    expect(snapshot(path.join(bundle, 'rootfs'))).toEqual(expectedTree());
  });

  it('imports plain, gzip and zstd tars; stores the layer uncompressed when asked', async () => {
    const tar = await buildTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/motd', content: 'hi' }]);
    const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    for (const [name, bytes] of [['plain.tar', tar], ['gz.tgz', zlib.gzipSync(tar)], ['zst.tar.zst', zlib.zstdCompressSync(tar)]] as const) {
      fs.writeFileSync(path.join(dir, name), bytes);
      for (const compress of ['gzip', 'none'] as const) {
        const image = await imageFromTar(path.join(dir, name), { tmpDir: tmp, compress, created: new Date(0) });
        try {
          expect(image.image.config.rootfs.diff_ids).toEqual([diffId]);
          const layer = image.image.manifest.layers[0]!;
          const chunks: Buffer[] = [];
          for await (const chunk of image.openBlob(layer)) chunks.push(chunk as Buffer);
          const blob = Buffer.concat(chunks);
          expect(compress === 'none' ? blob : zlib.gunzipSync(blob)).toEqual(tar);
          expect(layer.mediaType).toBe(compress === 'none' ? 'application/vnd.oci.image.layer.v1.tar' : 'application/vnd.oci.image.layer.v1.tar+gzip');
          expect(() => image.openBlob({ ...layer, digest: `sha256:${'0'.repeat(64)}` })).toThrow(/no blob sha256:0{64} in the imported image/);
        } finally {
          image.close();
        }
      }
    }
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('a tar that escapes, or is not a tar, is refused and leaves nothing in tmpDir', async () => {
    const evil = path.join(dir, 'evil.tar');
    fs.writeFileSync(evil, await buildTar([{ name: 'ok', content: 'fine' }, { name: '../../etc/evil', content: 'x' }]));
    expect(await refusal(imageFromTar(evil, { tmpDir: tmp }))).toBe(`${evil}: entry "../../etc/evil": the path leaves the rootfs (a ".." component)`);
    expect(fs.readdirSync(tmp)).toEqual([]);
    const xattr = path.join(dir, 'xattr.tar');
    fs.writeFileSync(xattr, await buildTar([{ name: 'f', content: 'x', pax: { 'SCHILY.xattr.security.capability': '\u0001\uFFFD' } }]));
    expect(await refusal(imageFromTar(xattr, { tmpDir: tmp }))).toMatch(/entry "f": extended attribute security.capability has a binary value/);
    const text = path.join(dir, 'notes.txt');
    fs.writeFileSync(text, 'this is not a tar archive at all, just some text that is long enough to be a header block'.repeat(10));
    expect(await refusal(imageFromTar(text, { tmpDir: tmp }))).toMatch(/^.*notes\.txt: not a valid tar: /);
    const garbage = path.join(dir, 'garbage.gz');
    fs.writeFileSync(garbage, Buffer.concat([zlib.gzipSync(await buildTar([{ name: 'a', content: 'a' }])).subarray(0, 30)]));
    expect(await refusal(imageFromTar(garbage, { tmpDir: tmp }))).toMatch(/garbage\.gz: not a valid gzip-compressed tar: /);
    const badConfig = await refusal(imageFromTar(evil, { tmpDir: tmp, config: { Env: 'A=1' as unknown as string[] } }));
    expect(badConfig).toMatch(/evil\.tar: image config: \/config\/Env /);
    fs.writeFileSync(path.join(dir, 'empty.tar'), '');
    expect(await refusal(imageFromTar(path.join(dir, 'empty.tar'), { tmpDir: tmp }))).toMatch(/empty\.tar: the tar has no entries/);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('a source whose blob fails mid-way leaves no output behind, and an existing output file as it was', async () => {
    const layout = path.join(dir, 'layout');
    await writeOciLayout(layout, { layers: [busyboxLayer()] });
    const source = await openImageSource(layout, { tmpParent: tmp, validators: imageDocumentValidators, platform: hostPlatform() });
    // One byte flipped near the end of the layer: the digest check fails after most of it was written.
    const blob = path.join(layout, 'blobs/sha256', source.image.manifest.layers[0]!.digest.slice(7));
    const bytes = fs.readFileSync(blob);
    bytes[bytes.length - 10]! ^= 0xff;
    fs.writeFileSync(blob, bytes);
    const output = path.join(dir, 'out.tar');
    fs.writeFileSync(output, 'previous');
    try {
      expect(await refusal(writeOciLayoutTar(source, output, { refName: 'x:1' }))).toMatch(/^blob sha256:[0-9a-f]{64}: digest mismatch: the content hashes to sha256:/);
      expect(await refusal(writeOciLayoutDir(source, path.join(dir, 'out-dir')))).toMatch(/digest mismatch/);
    } finally {
      source.close();
    }
    expect(fs.readFileSync(output, 'utf8')).toBe('previous');
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('out.') || n.startsWith('out-')).sort()).toEqual(['out.tar']);
  });

  it('a full disk fails the save with its error and leaves nothing on it', async () => {
    const layout = path.join(dir, 'layout');
    await writeOciLayout(layout, { layers: [busyboxLayer()] });
    const small = path.join(dir, 'small');
    mountSmallTmpfs(small);
    const source = await openImageSource(layout, { tmpParent: tmp, validators: imageDocumentValidators, platform: hostPlatform() });
    try {
      expect(await refusal(writeOciLayoutTar(source, path.join(small, 'image.tar')))).toMatch(/image\.tar: cannot write the image: .*ENOSPC/);
      expect(fs.readdirSync(small)).toEqual([]);
      const exported = await refusal(writeTreeAsTar(layout, fs.createWriteStream(path.join(small, 'tree.tar'))));
      expect(exported).toMatch(/cannot write the tar: .*ENOSPC/);
      fs.rmSync(path.join(small, 'tree.tar'));
      const big = path.join(dir, 'big.tar');
      await writeTarLargerThanTheDisk(big);
      expect(await refusal(imageFromTar(big, { tmpDir: small, compress: 'none' }))).toMatch(/small\/\.tsrun-import-.*\.layer: cannot write the layer blob: ENOSPC/);
      expect(fs.readdirSync(small)).toEqual([]);
    } finally {
      source.close();
    }
  });

  it('a full disk fails an import whose tar arrives slowly, instead of waiting forever', async () => {
    // The tar comes through a pipe in small pieces, so the import is waiting for input, not for the disk, when the
    // disk fills up; it then used to wait forever.
    const small = path.join(dir, 'small');
    mountSmallTmpfs(small);
    const tar = path.join(dir, 'big.tar');
    await writeTarLargerThanTheDisk(tar);
    const pipe = path.join(dir, 'pipe');
    expect(spawnSync('mkfifo', [pipe]).status).toBe(0);
    const feeder = `
      const fs = require('node:fs');
      const data = fs.readFileSync(process.argv[1]);
      const fd = fs.openSync(process.argv[2], 'w');
      let offset = 0;
      const next = () => {
        if (offset >= data.length) return fs.closeSync(fd);
        try { offset += fs.writeSync(fd, data.subarray(offset, offset + 8192)); } catch { return; } // EPIPE: the import gave up
        setTimeout(next, 2);
      };
      next();`;
    const writer = spawn(process.execPath, ['-e', feeder, tar, pipe], { stdio: 'ignore' });
    try {
      expect(await refusal(imageFromTar(pipe, { tmpDir: small, compress: 'none' }))).toMatch(/small\/\.tsrun-import-.*\.layer: cannot write the layer blob: ENOSPC/);
      expect(fs.readdirSync(small)).toEqual([]);
    } finally {
      writer.kill('SIGKILL');
    }
  });

  it('saves images of other sources: a docker archive (derived manifest) and a layout with an indented manifest', async () => {
    const archive = path.join(dir, 'docker.tar');
    await writeDockerArchive(archive, { layers: [busyboxLayer()] }, 'busy:1');
    const fromDocker = await openImageSource(archive, { tmpParent: tmp, validators: imageDocumentValidators, platform: hostPlatform() });
    const savedDir = path.join(dir, 'saved-layout');
    try {
      expect(() => fromDocker.openBlob({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: fromDocker.image.manifestDigest, size: 1 })).toThrow(/no blob/);
      await writeOciLayoutDir(fromDocker, savedDir, { refName: fromDocker.image.refName });
    } finally {
      fromDocker.close();
    }
    expect(fs.readFileSync(path.join(savedDir, 'blobs/sha256', fromDocker.image.manifestDigest.slice(7))).equals(fromDocker.image.manifestBytes)).toBe(true);
    const reopened = await openImageSource(savedDir, { ref: 'busy:1', tmpParent: tmp, validators: imageDocumentValidators, platform: hostPlatform() });
    try {
      expect(reopened.image.manifestDigest).toBe(fromDocker.image.manifestDigest);
    } finally {
      reopened.close();
    }

    // A manifest in bytes no serialisation reproduces (indented by 4, a newline at the end): saved from the source's
    // manifestBytes as they are; the source's openBlob is not asked for it.
    const layout = path.join(dir, 'indented');
    await writeOciLayout(layout, { layers: [busyboxLayer()] });
    const indexFile = path.join(layout, 'index.json');
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { manifests: Array<{ digest: string; size: number }> };
    const text = `${JSON.stringify(JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')), null, 4)}\n`;
    index.manifests[0]!.digest = sha256(text);
    index.manifests[0]!.size = Buffer.byteLength(text);
    fs.writeFileSync(path.join(layout, 'blobs/sha256', sha256(text).slice(7)), text);
    fs.writeFileSync(indexFile, JSON.stringify(index));
    const indented = await openImageSource(layout, { tmpParent: tmp, validators: imageDocumentValidators, platform: hostPlatform() });
    const savedTar = path.join(dir, 'indented.tar');
    try {
      expect(indented.image.manifestBytes.toString()).toBe(text);
      await writeOciLayoutTar({
        ...indented,
        openBlob: (descriptor) => {
          if (descriptor.digest === sha256(text)) throw new Error('the manifest was asked for as a blob');
          return indented.openBlob(descriptor);
        },
      }, savedTar, {});
    } finally {
      indented.close();
    }
    const files = new Map((await tarEntries(fs.readFileSync(savedTar))).map((e) => [e.name, e]));
    expect(files.get(`blobs/sha256/${sha256(text).slice(7)}`)?.content.toString()).toBe(text);
    const again = await openImageSource(savedTar, { tmpParent: tmp, validators: imageDocumentValidators, platform: hostPlatform() });
    try {
      expect(again.image.manifestDigest).toBe(sha256(text));
      expect(again.image.refName).toBeUndefined();
    } finally {
      again.close();
    }
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});

describe('OCI layout writer', () => {
  it('names images as docker 25 and containerd do', () => {
    expect(layoutNames(undefined)).toEqual({ repoTags: [] });
    expect(layoutNames('latest')).toEqual({ annotations: { 'org.opencontainers.image.ref.name': 'latest' }, repoTags: [] });
    expect(layoutNames('alpine')).toEqual({ annotations: { 'org.opencontainers.image.ref.name': 'alpine' }, repoTags: [] });
    expect(layoutNames('alpine:3.20')).toEqual({
      annotations: { 'io.containerd.image.name': 'docker.io/library/alpine:3.20', 'org.opencontainers.image.ref.name': '3.20' },
      repoTags: ['alpine:3.20'],
    });
    expect(layoutNames('localhost:5000/x/y')).toEqual({
      annotations: { 'io.containerd.image.name': 'localhost:5000/x/y:latest', 'org.opencontainers.image.ref.name': 'latest' },
      repoTags: ['localhost:5000/x/y:latest'],
    });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(layoutNames(`alpine@${digest}`)).toEqual({
      annotations: { 'io.containerd.image.name': `docker.io/library/alpine@${digest}`, 'org.opencontainers.image.ref.name': `@${digest}` },
      repoTags: [],
    });
    expect(layoutNames(`user/app:1@${digest}`).annotations?.['org.opencontainers.image.ref.name']).toBe(`1@${digest}`);
  });
});
