// Layer application on a real file system: every node type, ownership, modes, xattrs, whiteouts in both modes,
// gzip and zstd, and layers that try to write outside the rootfs. Needs root (chown to other users, mknod,
// trusted.* xattrs), so it skips in the rootless pass.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../src/errors';
import { getxattrAt, setxattrAt } from '../../src/linux/fs-at';
import { applyLayer, type LayerCompression } from '../../src/plugins/image/layer-apply';
import { RootfsWriter, type WhiteoutMode } from '../../src/plugins/image/rootfs-writer';
import { buildTar, type TarEntrySpec } from '../helpers/tar-build';
import { needsPrivilege } from '../helpers/tsrun';

const [skipRootless, rootlessNote] = needsPrivilege('applying layers chowns to other users and makes devices: root only');
const notRoot = process.getuid?.() !== 0;

describe.skipIf(skipRootless || notRoot)(`layer application${rootlessNote}${notRoot ? ' (skipped: needs root)' : ''}`, () => {
  let dir: string;
  let rootfs: string;
  let outside: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-layers-'));
    rootfs = path.join(dir, 'rootfs');
    outside = path.join(dir, 'outside');
    fs.mkdirSync(rootfs);
    fs.mkdirSync(outside);
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function apply(layers: TarEntrySpec[][], mode: WhiteoutMode = 'flatten', compression: LayerCompression = 'none'): Promise<string[]> {
    const writer = new RootfsWriter(rootfs, mode);
    const diffIds: string[] = [];
    try {
      for (const [index, entries] of layers.entries()) {
        const tar = await buildTar(entries);
        const blob = compression === 'gzip' ? zlib.gzipSync(tar) : compression === 'zstd' ? zlib.zstdCompressSync(tar) : tar;
        const applied = await applyLayer(Readable.from([blob]), compression, writer, `layer ${index}`);
        expect(applied.diffId).toBe(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
        diffIds.push(applied.diffId);
      }
    } finally {
      writer.close();
    }
    return diffIds;
  }

  async function refusal(layers: TarEntrySpec[][]): Promise<string> {
    try {
      await apply(layers);
    } catch (error) {
      expect(error).toBeInstanceOf(RuntimeError);
      return (error as Error).message;
    }
    throw new Error('the layers were applied');
  }

  const at = (p: string) => path.join(rootfs, p);

  it('creates every node type with its owner, mode, times and xattrs', async () => {
    const mtime = new Date(1_600_000_000_000);
    await apply([[
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644, uid: 0, gid: 0, mtime },
      { name: 'usr/bin/tool', content: '#!/bin/sh\n', mode: 0o4755, uid: 1000, gid: 1001, pax: { 'SCHILY.xattr.user.note': 'hello' } },
      { name: 'usr/bin/tool-again', type: 'link', linkname: 'usr/bin/tool' },
      { name: 'bin', type: 'symlink', linkname: 'usr/bin', uid: 7, gid: 8 },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660 },
      { name: 'run/pipe', type: 'fifo', mode: 0o620 },
      { name: 'tmp/', type: 'directory', mode: 0o1777, mtime },
    ]]);
    expect(fs.readFileSync(at('etc/passwd'), 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(fs.statSync(at('etc/passwd')).mtime.getTime()).toBe(mtime.getTime());
    const tool = fs.statSync(at('usr/bin/tool'));
    expect([tool.mode & 0o7777, tool.uid, tool.gid]).toEqual([0o4755, 1000, 1001]);
    expect(fs.lstatSync(at('usr/bin/tool-again')).ino).toBe(tool.ino);
    expect(tool.nlink).toBe(2);
    const toolDir = fs.openSync(at('usr/bin'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      expect(getxattrAt(toolDir, 'tool', 'user.note')?.toString()).toBe('hello');
    } finally {
      fs.closeSync(toolDir);
    }
    expect(fs.readlinkSync(at('bin'))).toBe('usr/bin');
    expect([fs.lstatSync(at('bin')).uid, fs.lstatSync(at('bin')).gid]).toEqual([7, 8]);
    const nullDev = fs.statSync(at('dev/null'));
    expect([nullDev.isCharacterDevice(), nullDev.rdev, nullDev.mode & 0o777]).toEqual([true, fs.statSync('/dev/null').rdev, 0o666]);
    expect(fs.statSync(at('dev/loop')).isBlockDevice()).toBe(true);
    expect(fs.statSync(at('run/pipe')).isFIFO()).toBe(true);
    expect(fs.statSync(at('run/pipe')).mode & 0o777).toBe(0o620);
    // Directories get their times after their content is written; implied parents are 0755 root.
    expect(fs.statSync(at('tmp')).mode & 0o7777).toBe(0o1777);
    expect(fs.statSync(at('tmp')).mtime.getTime()).toBe(mtime.getTime());
    expect(fs.statSync(at('usr')).mode & 0o7777).toBe(0o755);
  });

  it('whiteouts delete from lower layers; an opaque directory keeps only what its own layer put there', async () => {
    await apply([
      [
        { name: 'a/keep', content: '1' },
        { name: 'a/gone', content: '2' },
        { name: 'tree/sub/deep', content: '3' },
        { name: 'opq/old', content: '4' },
        { name: 'opq/dir/old', content: '5' },
      ],
      [
        { name: 'a/.wh.gone' },
        { name: '.wh.tree' },
        // Entries of the same layer written before the opaque marker stay; lower ones go, also inside a
        // directory the layer re-declares.
        { name: 'opq/new', content: '6' },
        { name: 'opq/dir/', type: 'directory' },
        { name: 'opq/.wh..wh..opq' },
        { name: 'new/file', content: '7' },
        // A whiteout never hides an entry of its own layer.
        { name: 'new/.wh.file' },
      ],
    ]);
    expect(fs.existsSync(at('a/keep'))).toBe(true);
    expect(fs.existsSync(at('a/gone'))).toBe(false);
    expect(fs.existsSync(at('a/.wh.gone'))).toBe(false);
    expect(fs.existsSync(at('tree'))).toBe(false);
    expect(fs.readdirSync(at('opq')).sort()).toEqual(['dir', 'new']);
    expect(fs.readdirSync(at('opq/dir'))).toEqual([]);
    expect(fs.readFileSync(at('new/file'), 'utf8')).toBe('7');
  });

  it('a later layer replaces a file by a directory and a directory by a symlink', async () => {
    await apply([
      [{ name: 'x', content: 'file' }, { name: 'y/inner', content: 'inner' }],
      [{ name: 'x/', type: 'directory' }, { name: 'x/now-a-dir', content: 'd' }, { name: 'y', type: 'symlink', linkname: 'x' }],
    ]);
    expect(fs.readFileSync(at('x/now-a-dir'), 'utf8')).toBe('d');
    expect(fs.readlinkSync(at('y'))).toBe('x');
  });

  it('an entry below a lower layer\'s file, with no directory entry of its own, is an error', async () => {
    expect(await refusal([[{ name: 'x', content: 'file' }], [{ name: 'x/y', content: 'y' }]])).toBe('layer 1: entry "x/y": "x" is not a directory inside the rootfs');
  });

  it('overlay mode writes overlayfs whiteouts and opaque markers instead of deleting', async () => {
    await apply([[{ name: 'etc/.wh.motd' }, { name: 'var/cache/.wh..wh..opq' }, { name: 'var/cache/fresh', content: 'f' }]], 'overlay');
    const whiteout = fs.lstatSync(at('etc/motd'));
    expect([whiteout.isCharacterDevice(), whiteout.rdev]).toEqual([true, 0]);
    const cache = fs.openSync(at('var/cache'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      expect(getxattrAt(cache, '', 'trusted.overlay.opaque')?.toString()).toBe('y');
    } finally {
      fs.closeSync(cache);
    }
    expect(fs.readFileSync(at('var/cache/fresh'), 'utf8')).toBe('f');
  });

  it('gzip and zstd layers are decompressed, and the DiffID is the hash of the tar inside', async () => {
    await apply([[{ name: 'gz', content: 'g' }]], 'flatten', 'gzip');
    await apply([[{ name: 'zst', content: 'z' }]], 'flatten', 'zstd');
    expect(fs.readFileSync(at('gz'), 'utf8') + fs.readFileSync(at('zst'), 'utf8')).toBe('gz');
  });

  it('refuses every way out of the rootfs and writes nothing outside', async () => {
    const link = (linkname: string): TarEntrySpec => ({ name: 'evil', type: 'symlink', linkname });
    expect(await refusal([[{ name: '../outside/x', content: 'x' }]])).toMatch(/entry "\.\.\/outside\/x": the path leaves the rootfs/);
    expect(await refusal([[link(outside), { name: 'evil/x', content: 'x' }]])).toMatch(/entry "evil\/x": the path leaves the rootfs through a symlink/);
    expect(await refusal([[link('../outside')], [{ name: 'evil/x', content: 'x' }]])).toMatch(/layer 1: entry "evil\/x": the path leaves the rootfs through a symlink/);
    expect(await refusal([[{ name: 'h', type: 'link', linkname: '../outside/secret' }]])).toMatch(/the path leaves the rootfs/);
    expect(await refusal([[link(outside), { name: 'h', type: 'link', linkname: 'evil/secret' }]])).toMatch(/leaves the rootfs through a symlink/);
    expect(await refusal([[link(outside), { name: 'evil/.wh.secret' }]])).toMatch(/leaves the rootfs through a symlink/);
    expect(await refusal([[link(outside), { name: 'evil/.wh..wh..opq' }]])).toMatch(/leaves the rootfs through a symlink/);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('a symlink inside the rootfs may be followed; the final component of an entry never is', async () => {
    fs.writeFileSync(path.join(outside, 'target'), 'host');
    await apply([
      [{ name: 'usr/lib/', type: 'directory' }, { name: 'lib', type: 'symlink', linkname: 'usr/lib' }, { name: 'lib/libc.so', content: 'c' }],
      [{ name: 'target', type: 'symlink', linkname: path.join(outside, 'target') }],
      [{ name: 'target', content: 'replaced' }],
    ]);
    expect(fs.readFileSync(at('usr/lib/libc.so'), 'utf8')).toBe('c');
    expect(fs.readFileSync(path.join(outside, 'target'), 'utf8')).toBe('host');
    expect(fs.readFileSync(at('target'), 'utf8')).toBe('replaced');
  });

  it('a truncated or corrupt layer is an error naming the layer', async () => {
    const tar = await buildTar([{ name: 'big', content: 'x'.repeat(4000) }]);
    const cut = async (blob: Buffer, compression: LayerCompression) => {
      const writer = new RootfsWriter(rootfs, 'flatten');
      try {
        await applyLayer(Readable.from([blob]), compression, writer, 'layer 3');
      } catch (error) {
        return (error as Error).message;
      } finally {
        writer.close();
      }
      return 'applied';
    };
    expect(await cut(tar.subarray(0, 1000), 'none')).toMatch(/^layer 3: /);
    expect(await cut(Buffer.from('not gzip at all'), 'gzip')).toMatch(/^layer 3: not a valid gzip-compressed tar/);
    expect(await cut(zlib.zstdCompressSync(tar).subarray(0, 50), 'zstd')).toMatch(/^layer 3: /);
  });

  it('a binary extended attribute (as GNU tar and Docker write them) arrives byte for byte', async () => {
    const source = path.join(dir, 'source');
    fs.mkdirSync(source);
    fs.writeFileSync(path.join(source, 'tool'), 'x');
    const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x80, 0x00, 0x20, 0x0a]);
    const sourceFd = fs.openSync(source, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      setxattrAt(sourceFd, 'tool', 'user.binary', value);
    } finally {
      fs.closeSync(sourceFd);
    }
    const tarFile = path.join(dir, 'layer.tar');
    const made = spawnSync('tar', ['--xattrs', '--xattrs-include=user.*', '--format=posix', '-cf', tarFile, '-C', source, 'tool'], { encoding: 'utf8' });
    expect(made.stderr).toBe('');
    const writer = new RootfsWriter(rootfs, 'flatten');
    try {
      await applyLayer(Readable.from([fs.readFileSync(tarFile)]), 'none', writer, 'layer 0');
    } finally {
      writer.close();
    }
    const rootFd = fs.openSync(rootfs, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      expect(getxattrAt(rootFd, 'tool', 'user.binary')).toEqual(value);
    } finally {
      fs.closeSync(rootFd);
    }
  });
});
