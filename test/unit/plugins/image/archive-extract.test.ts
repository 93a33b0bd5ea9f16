import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import tarStream, { type Header } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractArchive, normalizeEntryName } from '../../../../src/plugins/image/archive-extract';

type Entry = Partial<Header> & { name: string; content?: string };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const { content, ...header } of entries) {
    if (content !== undefined) pack.entry(header, content);
    else pack.entry({ type: 'directory', ...header });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let work: string;
let into: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-extract-'));
  into = path.join(work, 'tmp');
  fs.mkdirSync(into);
});
afterEach(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

async function archive(entries: Entry[], compress?: (b: Buffer) => Buffer): Promise<string> {
  const file = path.join(work, 'image.tar');
  const tar = await tarOf(entries);
  fs.writeFileSync(file, compress ? compress(tar) : tar);
  return file;
}

/** Every path below `dir`, with a trailing / for directories. */
function listing(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort()
    .map((rel) => (fs.lstatSync(path.join(dir, rel)).isDirectory() ? `${rel}/` : rel));
}

const LAYOUT: Entry[] = [
  { name: './', type: 'directory' },
  { name: './oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
  { name: './blobs/sha256/abc', content: 'blob' },
  { name: 'index.json', content: '{}' },
  { name: 'empty/', type: 'directory' },
];

describe('extractArchive', () => {
  it('extracts regular files and directories into a new directory under intoDir', async () => {
    const dir = await extractArchive(await archive(LAYOUT), into);
    expect(path.dirname(dir)).toBe(into);
    expect(listing(dir)).toEqual(['blobs/', 'blobs/sha256/', 'blobs/sha256/abc', 'empty/', 'index.json', 'oci-layout']);
    expect(fs.readFileSync(path.join(dir, 'blobs/sha256/abc'), 'utf8')).toBe('blob');
    expect(fs.statSync(path.join(dir, 'oci-layout')).mode & 0o7777).toBe(0o644 & ~process.umask());
  });

  it('extracts a gzip- or zstd-compressed archive', async () => {
    const gz = await extractArchive(await archive(LAYOUT, (b) => zlib.gzipSync(b)), into);
    expect(fs.readFileSync(path.join(gz, 'index.json'), 'utf8')).toBe('{}');
    const zst = await extractArchive(await archive(LAYOUT, (b) => zlib.zstdCompressSync(b)), into);
    expect(fs.readFileSync(path.join(zst, 'oci-layout'), 'utf8')).toContain('1.0.0');
  });

  const refused: [string, Entry, string][] = [
    ['a ".." component', { name: 'blobs/../../evil', content: 'x' }, 'entry "blobs/../../evil": ".." components are not accepted'],
    ['an absolute name', { name: '/etc/evil', content: 'x' }, 'entry "/etc/evil": absolute names are not accepted'],
    ['a symlink', { name: 'blobs/sha256/link', type: 'symlink', linkname: '/etc/passwd' }, 'entry "blobs/sha256/link": symlink entries are not accepted (an image archive holds only regular files and directories)'],
    ['a hard link', { name: 'hard', type: 'link', linkname: 'index.json' }, 'entry "hard": hard link entries are not accepted'],
    ['a device', { name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 }, 'entry "dev": character-device entries are not accepted'],
    ['a fifo', { name: 'fifo', type: 'fifo' }, 'entry "fifo": fifo entries are not accepted'],
    ['a repeated file', { name: './index.json', content: 'again' }, 'entry "./index.json": appears more than once'],
  ];
  for (const [what, entry, message] of refused) {
    it(`refuses ${what}, leaving nothing behind`, async () => {
      const file = await archive([...LAYOUT, entry, { name: 'after', content: 'y' }]);
      await expect(extractArchive(file, into)).rejects.toThrow(`${file}: ${message}`);
      expect(fs.readdirSync(into)).toEqual([]);
      expect(fs.existsSync(path.join(work, 'evil'))).toBe(false);
    });
  }

  it('turns docker\'s repeated-layer symlink (<id>/layer.tar -> ../<id>/layer.tar) into a hard link, and only that one', async () => {
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    // The link may come before its target.
    const file = await archive([{ name: `${b}/layer.tar`, type: 'symlink', linkname: `../${a}/layer.tar` }, { name: `${a}/layer.tar`, content: 'layer' }]);
    const dir = await extractArchive(file, into);
    expect(fs.lstatSync(path.join(dir, b, 'layer.tar')).isFile()).toBe(true);
    expect(fs.statSync(path.join(dir, b, 'layer.tar')).ino).toBe(fs.statSync(path.join(dir, a, 'layer.tar')).ino);
    const other = await archive([{ name: `${b}/layer.tar`, type: 'symlink', linkname: `../${a}/json` }, { name: `${a}/json`, content: '{}' }]);
    await expect(extractArchive(other, into)).rejects.toThrow(/symlink entries are not accepted/);
    const dangling = await archive([{ name: `${b}/layer.tar`, type: 'symlink', linkname: `../${a}/layer.tar` }, { name: 'x', content: 'y' }]);
    await expect(extractArchive(dangling, into)).rejects.toThrow(`entry "${b}/layer.tar": links to "${a}/layer.tar", which the archive does not hold as a file`);
    expect(fs.readdirSync(into)).toEqual([path.basename(dir)]);
  });

  it('refuses a file where a directory is needed', async () => {
    const file = await archive([{ name: 'blobs', content: 'x' }, { name: 'blobs/sha256/a', content: 'y' }]);
    await expect(extractArchive(file, into)).rejects.toThrow(`${file}: entry "blobs/sha256/a": "blobs" is a file in the archive, not a directory`);
    expect(fs.readdirSync(into)).toEqual([]);
    const dirOverFile = await archive([{ name: 'blobs', content: 'x' }, { name: 'blobs/', type: 'directory' }]);
    await expect(extractArchive(dirOverFile, into)).rejects.toThrow(`${dirOverFile}: entry "blobs/": "blobs" is a file in the archive, not a directory`);
    const fileOverDir = await archive([{ name: 'blobs/', type: 'directory' }, { name: 'blobs', content: 'x' }]);
    await expect(extractArchive(fileOverDir, into)).rejects.toThrow(`${fileOverDir}: entry "blobs": appears more than once`);
    expect(fs.readdirSync(into)).toEqual([]);
  });

  it('refuses something that is not a tar, and an empty archive', async () => {
    const file = path.join(work, 'junk.tar');
    fs.writeFileSync(file, Buffer.alloc(1024, 0x41));
    await expect(extractArchive(file, into)).rejects.toThrow(new RegExp(`^${file}: cannot extract: `));
    fs.writeFileSync(file, zlib.gzipSync(Buffer.from('not a tar at all, only text')));
    await expect(extractArchive(file, into)).rejects.toThrow(new RegExp(`^${file}: `));
    fs.writeFileSync(file, Buffer.from([0x1f, 0x8b, 0, 0, 0]));
    await expect(extractArchive(file, into)).rejects.toThrow(new RegExp(`^${file}: cannot extract: `));
    fs.writeFileSync(file, '');
    await expect(extractArchive(file, into)).rejects.toThrow(`${file}: the archive is empty`);
    expect(fs.readdirSync(into)).toEqual([]);
  });

  it('names a missing archive', async () => {
    await expect(extractArchive(path.join(work, 'nope.tar'), into)).rejects.toThrow(`${path.join(work, 'nope.tar')}: cannot open: `);
    expect(fs.readdirSync(into)).toEqual([]);
  });
});

describe('normalizeEntryName', () => {
  it('strips ./ and empty components', () => {
    expect(normalizeEntryName('./a//b/./c/', 'x.tar')).toBe('a/b/c');
    expect(normalizeEntryName('./', 'x.tar')).toBe('');
  });

  it('refuses NUL bytes, absolute names and ..', () => {
    expect(() => normalizeEntryName('a\0b', 'x.tar')).toThrow('x.tar: entry "a\\u0000b": contains a NUL byte');
    expect(() => normalizeEntryName('//a', 'x.tar')).toThrow('absolute names are not accepted');
    expect(() => normalizeEntryName('a/..', 'x.tar')).toThrow('".." components are not accepted');
  });
});
