// The shared image store on a real file system: images built by the tests imported from OCI layouts and docker
// archives, each layer unpacked once as an overlayfs lower directory (checked through a real overlay mount),
// refs, resolution, rm and prune, all-or-nothing imports, and concurrent imports from one process and from two.
// Needs root (layers chown to other users, whiteouts are device nodes, opaque markers trusted.* xattrs), so it
// skips in the rootless pass and for other users.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../src/errors';
import { getxattrAt } from '../../src/linux/fs-at';
import type { ImageSource } from '../../src/plugins/image/image-source';
import { ImageStore, type ImageStoreOptions } from '../../src/plugins/image/image-store';
import { hostPlatform } from '../../src/plugins/image/oci-layout';
import { openImageSource } from '../../src/plugins/image/open-image-source';
import { imageDocumentValidators } from '../../src/spec/image-validate';
import { bundleNodeScript, runNode } from '../helpers/run-node';
import { sha256, writeDockerArchive, writeOciLayout, type BuiltImage, type LayerSpec, type TestImage } from '../helpers/image-build';
import { needsPrivilege } from '../helpers/tsrun';

const [skipRootless, rootlessNote] = needsPrivilege('the image store writes layers of other users, device nodes and trusted.* xattrs: root only');
const notRoot = process.getuid?.() !== 0;

const base: LayerSpec = {
  compression: 'gzip',
  entries: [
    { name: 'etc/', type: 'directory' },
    { name: 'etc/os-release', content: 'ID=test\n' },
    { name: 'data/', type: 'directory' },
    { name: 'data/a', content: 'a' },
    { name: 'data/b', content: 'b' },
    { name: 'opq/', type: 'directory' },
    { name: 'opq/old', content: 'old' },
    { name: 'home/app/', type: 'directory', uid: 1000, gid: 1000 },
  ],
};
const upper = (name: string): LayerSpec => ({ compression: 'zstd', entries: [{ name: `srv/${name}`, content: name }] });
const whiteouts: LayerSpec = {
  entries: [{ name: 'data/.wh.a' }, { name: 'opq/.wh..wh..opq' }, { name: 'opq/new', content: 'new' }],
};

describe.skipIf(skipRootless || notRoot)(`image store${rootlessNote}${notRoot ? ' (skipped: needs root)' : ''}`, () => {
  let dir: string;
  let storeDir: string;
  let counter = 0;
  const mounts: string[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-image-store-'));
    storeDir = path.join(dir, 'store');
  });

  afterEach(() => {
    for (const target of mounts.splice(0)) spawnSync('umount', [target]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const newStore = (options: ImageStoreOptions = {}): ImageStore => new ImageStore(storeDir, options);

  async function layout(image: TestImage, ref = 'test:latest'): Promise<{ dir: string; built: BuiltImage }> {
    const layoutDir = path.join(dir, `layout-${++counter}`);
    return { dir: layoutDir, built: await writeOciLayout(layoutDir, image, ref) };
  }

  function open(source: string): Promise<ImageSource> {
    return openImageSource(source, { tmpParent: dir, validators: imageDocumentValidators, platform: hostPlatform() });
  }

  async function load(store: ImageStore, source: string, refs: string[]) {
    const opened = await open(source);
    try {
      return await store.importImage(opened, refs);
    } finally {
      opened.close();
    }
  }

  /** Every entry below the store: path, type, mode, owner, size or device, content hash: to compare before/after. */
  function listing(root: string = storeDir): string[] {
    const out: string[] = [];
    const walk = (rel: string): void => {
      const full = path.join(root, rel);
      const st = fs.lstatSync(full);
      const kind = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() ? 'c' : '?';
      const content = st.isFile() ? createHash('sha256').update(fs.readFileSync(full)).digest('hex').slice(0, 16) : st.isSymbolicLink() ? fs.readlinkSync(full) : '';
      out.push(`${rel || '.'} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.isCharacterDevice() ? st.rdev : st.size} ${content}`);
      if (st.isDirectory()) for (const name of fs.readdirSync(full).sort()) walk(rel === '' ? name : `${rel}/${name}`);
    };
    walk('');
    return out;
  }

  const blobNames = (): string[] => fs.readdirSync(path.join(storeDir, 'blobs', 'sha256')).sort();
  const layerNames = (): string[] => fs.readdirSync(path.join(storeDir, 'layers')).sort();
  const hex = (digest: string): string => digest.slice('sha256:'.length);
  const messageOf = (error: unknown): string => {
    expect(error).toBeInstanceOf(RuntimeError);
    expect((error as RuntimeError).code).toBe('image');
    return (error as Error).message;
  };

  it('two images sharing a base layer: the base is unpacked once, every blob is kept as received', async () => {
    const store = newStore();
    const a = await layout({ layers: [base, upper('a')] });
    const b = await layout({ layers: [base, upper('b')] });
    const first = await load(store, a.dir, ['example/a:1']);
    expect([first.layersUnpacked, first.layersReused]).toEqual([2, 0]);
    const second = await load(store, b.dir, ['example/b:1']);
    expect([second.layersUnpacked, second.layersReused]).toEqual([1, 1]);
    expect(second.image).toMatchObject({
      manifestDigest: b.built.manifestDigest,
      configDigest: b.built.configDigest,
      refs: ['docker.io/example/b:1'],
      created: '2026-01-01T00:00:00Z',
      layers: b.built.layerDigests.map((digest, i) => ({ digest, diffId: b.built.diffIds[i] })),
    });

    const dirsA = store.layerDiffDirs(first.image);
    const dirsB = store.layerDiffDirs(second.image);
    expect(dirsA[0]).toBe(dirsB[0]);
    expect(dirsB).toEqual(b.built.diffIds.map((d) => path.join(storeDir, 'layers', hex(d), 'diff')));
    expect(layerNames()).toEqual([...new Set([...a.built.diffIds, ...b.built.diffIds].map(hex))].sort());
    expect(fs.readFileSync(path.join(dirsB[1]!, 'srv', 'b'), 'utf8')).toBe('b');
    expect(fs.statSync(path.join(dirsA[0]!, 'home', 'app')).uid).toBe(1000);

    // Manifests, configurations and layers byte for byte as in the layouts (the manifest digests stay).
    const expectedBlobs = new Set<string>();
    for (const { dir: layoutDir, built } of [a, b]) {
      for (const digest of [built.manifestDigest, built.configDigest, ...built.layerDigests]) {
        expectedBlobs.add(hex(digest));
        expect(fs.readFileSync(path.join(storeDir, 'blobs', 'sha256', hex(digest)))).toEqual(fs.readFileSync(path.join(layoutDir, 'blobs', 'sha256', hex(digest))));
      }
    }
    expect(blobNames()).toEqual([...expectedBlobs].sort());
    expect(fs.readdirSync(path.join(storeDir, 'images')).sort()).toEqual([a, b].map((x) => `${hex(x.built.manifestDigest)}.json`).sort());
    expect(fs.readdirSync(path.join(storeDir, 'tmp'))).toEqual([]);

    // Again: nothing unpacked, nothing copied.
    const before = listing().filter((line) => !line.startsWith('images/') && !line.startsWith('refs.json'));
    const again = await load(store, a.dir, ['example/a:1']);
    expect([again.layersUnpacked, again.layersReused]).toEqual([0, 2]);
    expect(listing().filter((line) => !line.startsWith('images/') && !line.startsWith('refs.json'))).toEqual(before);
    expect(store.list().map((i) => i.refs)).toEqual([['docker.io/example/a:1'], ['docker.io/example/b:1']]);
  });

  it('whiteouts are 0/0 character devices, opaque directories carry trusted.overlay.opaque, and the layers mount as overlay lowers', async () => {
    const store = newStore();
    const { dir: layoutDir } = await layout({ layers: [base, whiteouts] });
    const { image } = await load(store, layoutDir, ['wh']);
    const [lower, top] = store.layerDiffDirs(image);
    const whiteout = fs.lstatSync(path.join(top!, 'data', 'a'));
    expect([whiteout.isCharacterDevice(), whiteout.rdev]).toEqual([true, 0]);
    const opq = fs.openSync(path.join(top!, 'opq'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      expect(getxattrAt(opq, '', 'trusted.overlay.opaque')?.toString()).toBe('y');
    } finally {
      fs.closeSync(opq);
    }
    expect(fs.readFileSync(path.join(lower!, 'data', 'a'), 'utf8')).toBe('a');

    const merged = path.join(dir, 'merged');
    fs.mkdirSync(merged);
    const mounted = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${[top, lower].join(':')}`, merged], { encoding: 'utf8' });
    expect(mounted.stderr).toBe('');
    mounts.push(merged);
    expect(fs.readdirSync(path.join(merged, 'data'))).toEqual(['b']);
    expect(fs.readdirSync(path.join(merged, 'opq'))).toEqual(['new']);
    expect(fs.readFileSync(path.join(merged, 'etc', 'os-release'), 'utf8')).toBe('ID=test\n');
  });

  it('a ref names one image: loading it again moves it; the old image stays untagged', async () => {
    const store = newStore();
    const a = await layout({ layers: [base, upper('a')] });
    const b = await layout({ layers: [base, upper('b')] });
    await load(store, a.dir, ['example/app:1', 'example/app:latest']);
    await load(store, b.dir, ['docker.io/example/app:1']);
    expect(store.resolve('example/app:1').manifestDigest).toBe(b.built.manifestDigest);
    expect(store.resolve('example/app').manifestDigest).toBe(a.built.manifestDigest);
    expect(store.resolve(a.built.manifestDigest).refs).toEqual(['docker.io/example/app:latest']);
    await load(store, b.dir, ['example/app']);
    expect(store.resolve(a.built.manifestDigest).refs).toEqual([]);
    expect(store.list().map((i) => [i.manifestDigest, i.refs])).toEqual(expect.arrayContaining([
      [a.built.manifestDigest, []],
      [b.built.manifestDigest, ['docker.io/example/app:1', 'docker.io/example/app:latest']],
    ]));
    expect(JSON.parse(fs.readFileSync(path.join(storeDir, 'refs.json'), 'utf8'))).toEqual({
      refs: { 'docker.io/example/app:1': b.built.manifestDigest, 'docker.io/example/app:latest': b.built.manifestDigest },
    });
    expect(() => store.untag('example/app:1')).not.toThrow();
    expect(store.resolve(b.built.manifestDigest).refs).toEqual(['docker.io/example/app:latest']);
    expect(messageOf(catchError(() => store.untag('example/app:1')))).toBe('ref "example/app:1": no image in the store ' + storeDir + ' has this ref');
    await expect(load(store, a.dir, ['Bad:Name!'])).rejects.toThrow('ref "Bad:Name!": not a valid image name');
  });

  it('resolves refs, full digests and image ID prefixes of 12 or more hex digits, as docker does', async () => {
    const store = newStore();
    const plain = await layout({ layers: [{ ...base, compression: 'none' }, upper('x')] });
    const { image } = await load(store, plain.dir, ['example/x']);
    const id = hex(plain.built.configDigest);
    for (const name of ['example/x', 'docker.io/example/x:latest', plain.built.manifestDigest, plain.built.configDigest, id.slice(0, 12), `sha256:${id.slice(0, 20)}`, id]) {
      expect(store.resolve(name).manifestDigest, name).toBe(image.manifestDigest);
    }
    for (const name of [id.slice(0, 11), 'example/y', `sha256:${'0'.repeat(64)}`, '']) {
      expect(messageOf(catchError(() => store.resolve(name)))).toBe(`image ${JSON.stringify(name)}: not in the image store ${storeDir}`);
    }
    // The same configuration with the base layer gzip-compressed: another manifest, the same image ID. The layer is
    // reused and its new blob checked against the DiffID; the ID then names two images.
    const gzipped = await layout({ layers: [base, upper('x')] });
    expect(gzipped.built.configDigest).toBe(plain.built.configDigest);
    const second = await load(store, gzipped.dir, ['example/x:gz']);
    expect([second.layersUnpacked, second.layersReused]).toEqual([0, 2]);
    expect(messageOf(catchError(() => store.resolve(id.slice(0, 12))))).toMatch(/^image "[0-9a-f]{12}": matches 2 images \(manifests sha256:[0-9a-f]{64}, sha256:[0-9a-f]{64}\); name one by its manifest digest$/);
    expect(store.resolve('example/x:gz').manifestDigest).toBe(gzipped.built.manifestDigest);
  });

  it('rm: a ref, the last ref, an ID with several refs (refused unless forced); shared layers and blobs stay', async () => {
    const store = newStore();
    const a = await layout({ layers: [base, upper('a')] });
    const b = await layout({ layers: [base, upper('b')] });
    await load(store, a.dir, ['example/a:1', 'example/a:2']);
    await load(store, b.dir, ['example/b']);

    expect(store.remove('example/a:1')).toEqual({ untagged: ['docker.io/example/a:1'], layers: 0, blobs: 0, bytes: 0 });
    await load(store, a.dir, ['example/a:1']);
    const id = hex(a.built.configDigest).slice(0, 12);
    expect(messageOf(catchError(() => store.remove(id)))).toBe(`image ${id} has 2 refs ("docker.io/example/a:1", "docker.io/example/a:2"): remove them by ref, or force the removal`);
    const removed = store.remove(id, { force: true });
    expect(removed).toMatchObject({ untagged: ['docker.io/example/a:1', 'docker.io/example/a:2'], layers: 1, blobs: 3 });
    expect(removed.removed?.manifestDigest).toBe(a.built.manifestDigest);
    expect(removed.bytes).toBeGreaterThan(0);
    // What b uses stays: the shared base layer and its blob.
    expect(layerNames()).toEqual(b.built.diffIds.map(hex).sort());
    expect(blobNames()).toEqual([b.built.manifestDigest, b.built.configDigest, ...b.built.layerDigests].map(hex).sort());
    expect(store.list().map((i) => i.manifestDigest)).toEqual([b.built.manifestDigest]);

    const last = store.remove('example/b');
    expect(last).toMatchObject({ untagged: ['docker.io/example/b:latest'], layers: 2, blobs: 4 });
    expect([layerNames(), blobNames(), store.list(), fs.readdirSync(path.join(storeDir, 'tmp'))]).toEqual([[], [], [], []]);
    expect(messageOf(catchError(() => store.remove('example/b')))).toBe(`image "example/b": not in the image store ${storeDir}`);
  });

  it('layers bundles mount are protected: rm is refused naming the bundle count, forced it keeps them, prune too', async () => {
    let inUse = new Map<string, string[]>();
    const store = newStore({ inUse: () => inUse });
    const a = await layout({ layers: [base, upper('a')] });
    const b = await layout({ layers: [base, upper('b')] });
    await load(store, a.dir, ['example/a']);
    await load(store, b.dir, ['example/b']);
    inUse = new Map([['/bundles/one', a.built.diffIds], ['/bundles/two', a.built.diffIds], ['/bundles/three', b.built.diffIds]]);

    const id = hex(a.built.configDigest).slice(0, 12);
    // Bundle three uses a's base layer too, but b keeps that one: only the bundles using a's own layer count.
    expect(messageOf(catchError(() => store.remove('example/a')))).toBe(
      `image ${id} (docker.io/example/a:latest): its layers are in use by 2 bundles (overlay mounts); delete them first, or force the removal`);
    expect(store.resolve('example/a').refs).toEqual(['docker.io/example/a:latest']);
    inUse.delete('/bundles/three');
    inUse.delete('/bundles/two');
    expect(messageOf(catchError(() => store.remove('example/a')))).toMatch(/in use by 1 bundle \(overlay mounts\); delete it first/);
    // Forced: the record and its blobs go, the mounted layer stays (bundle one has it as a lower directory).
    expect(store.remove('example/a', { force: true })).toMatchObject({ layers: 0, blobs: 3 });
    expect(layerNames()).toEqual([...new Set([...a.built.diffIds, ...b.built.diffIds].map(hex))].sort());
    expect(store.prune()).toEqual({ images: 0, layers: 0, blobs: 0, bytes: 0 });
    // Mounting happens under the lock: a prune or rm meanwhile (here: from inside, refused) cannot take the layers.
    const dirs = store.withImageLayers('example/b', (image, diffDirs) => {
      expect(image.manifestDigest).toBe(b.built.manifestDigest);
      expect(messageOf(catchError(() => store.prune()))).toMatch(/another operation of this process holds the store lock/);
      return diffDirs;
    });
    expect(dirs).toEqual(b.built.diffIds.map((d) => path.join(storeDir, 'layers', hex(d), 'diff')));
    inUse = new Map();
    const pruned = store.prune();
    expect(pruned).toMatchObject({ images: 0, layers: 1, blobs: 0 });
    expect(pruned.bytes).toBe(1); // srv/a holds one byte
    expect(layerNames()).toEqual(b.built.diffIds.map(hex).sort());
  });

  it('prune removes exactly what no record references, and with untagged the images no ref names', async () => {
    const store = newStore();
    const a = await layout({ layers: [base, upper('a')] });
    const b = await layout({ layers: [base, upper('b')] });
    await load(store, a.dir, ['example/app']);
    await load(store, b.dir, ['example/app']); // a is untagged now
    const strayLayer = path.join(storeDir, 'layers', 'f'.repeat(64));
    fs.mkdirSync(path.join(strayLayer, 'diff'), { recursive: true });
    fs.writeFileSync(path.join(strayLayer, 'diff', 'file'), '12345');
    fs.writeFileSync(path.join(storeDir, 'blobs', 'sha256', 'e'.repeat(64)), '123');
    fs.mkdirSync(path.join(storeDir, 'tmp', 'import-leftover', 'blob-x'), { recursive: true });
    fs.writeFileSync(path.join(storeDir, 'tmp', 'import-leftover', 'blob-x', 'part'), '1234567');
    fs.writeFileSync(path.join(storeDir, 'tmp', 'not-the-stores'), 'x');
    const referenced = listing().filter((line) => !/ffffffff|eeeeeeee|import-leftover/.test(line));

    expect(store.prune()).toEqual({ images: 0, layers: 1, blobs: 1, bytes: 5 + 3 + 7 });
    expect(listing()).toEqual(referenced);
    expect(store.prune()).toEqual({ images: 0, layers: 0, blobs: 0, bytes: 0 });

    const untagged = store.prune({ untagged: true });
    expect(untagged).toMatchObject({ images: 1, layers: 1, blobs: 3 });
    expect(store.list().map((i) => i.manifestDigest)).toEqual([b.built.manifestDigest]);
    expect(layerNames()).toEqual(b.built.diffIds.map(hex).sort());
    expect(blobNames()).toEqual([b.built.manifestDigest, b.built.configDigest, ...b.built.layerDigests].map(hex).sort());
    expect(fs.readdirSync(path.join(storeDir, 'tmp'))).toEqual(['not-the-stores']);
  });

  it('a failing import leaves the store as it was: a corrupt layer blob, a layer that escapes, a wrong DiffID', async () => {
    const store = newStore();
    const a = await layout({ layers: [base, upper('a')] });
    await load(store, a.dir, ['example/a']);
    const before = listing();

    // The corrupt blob is the second new layer: the first was unpacked in the staging area already.
    const corrupt = await layout({ layers: [base, upper('c1'), upper('c2')] });
    const blobFile = path.join(corrupt.dir, 'blobs', 'sha256', hex(corrupt.built.layerDigests[2]!));
    const bytes = fs.readFileSync(blobFile);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    fs.writeFileSync(blobFile, bytes);
    const corruptError = messageOf(await load(store, corrupt.dir, ['example/a']).catch((e: unknown) => e));
    expect(corruptError).toMatch(new RegExp(`^blob ${corrupt.built.layerDigests[2]}: digest mismatch: the content hashes to sha256:[0-9a-f]{64}$`));
    expect(listing()).toEqual(before);

    const escaping = await layout({ layers: [base, upper('e'), { entries: [{ name: 'link', type: 'symlink', linkname: '/etc' }, { name: 'link/owned', content: 'x' }] }] });
    const escapeError = messageOf(await load(store, escaping.dir, ['example/a']).catch((e: unknown) => e));
    expect(escapeError).toMatch(/layer 2 .*: entry "link\/owned": the path leaves the rootfs through a symlink$/);
    expect(listing()).toEqual(before);
    expect(fs.existsSync('/etc/owned')).toBe(false);

    // A layer whose content is not the DiffID the configuration lists: a layout rewritten with a wrong diff_ids[1].
    const wrong = await layout({ layers: [base, upper('w')] });
    rewriteConfig(wrong.dir, (config) => {
      const rootfs = config['rootfs'] as { diff_ids: string[] };
      rootfs.diff_ids[1] = sha256('something else');
    });
    const wrongError = messageOf(await load(store, wrong.dir, []).catch((e: unknown) => e));
    expect(wrongError).toMatch(/layer 1 .*: the uncompressed layer hashes to sha256:[0-9a-f]{64}, the image config's rootfs.diff_ids lists sha256:[0-9a-f]{64}$/);
    expect(listing()).toEqual(before);
  });

  it('manifest bytes: a pretty-printed manifest is kept as is, a docker archive\'s derived one too; a store image round-trips', async () => {
    const store = newStore();
    const pretty = await layout({ layers: [base, upper('p')] });
    const prettyDigest = prettifyManifest(pretty.dir);
    const prettyBytes = fs.readFileSync(path.join(pretty.dir, 'blobs', 'sha256', hex(prettyDigest)));
    const loaded = await load(store, pretty.dir, ['example/pretty']);
    expect(loaded.image.manifestDigest).toBe(prettyDigest);
    expect(loaded.image.manifestSize).toBe(prettyBytes.length);
    expect(fs.readFileSync(path.join(storeDir, 'blobs', 'sha256', hex(prettyDigest))).equals(prettyBytes)).toBe(true);

    const archive = path.join(dir, 'docker.tar');
    const built = await writeDockerArchive(archive, { layers: [{ ...base, compression: 'none' }, upper('d')] }, 'example/docker:1');
    const fromArchive = await load(store, archive, ['example/docker:1']);
    expect(fromArchive.image.configDigest).toBe(built.configDigest);
    expect(sha256(fs.readFileSync(path.join(storeDir, 'blobs', 'sha256', hex(fromArchive.image.manifestDigest))))).toBe(fromArchive.image.manifestDigest);

    // The store as a source (what save and push read): into a second store, nothing changes on the way.
    const source = store.openImage('example/pretty');
    expect(source.image).toMatchObject({ manifestDigest: prettyDigest, configDigest: pretty.built.configDigest, refName: 'docker.io/example/pretty:latest' });
    expect(source.image.manifestBytes.equals(prettyBytes)).toBe(true);
    const other = new ImageStore(path.join(dir, 'other'));
    const copied = await other.importImage(source, ['copy']);
    source.close();
    expect(copied.image.manifestDigest).toBe(prettyDigest);
    expect(copied.image.layers).toEqual(loaded.image.layers);
    for (const digest of [prettyDigest, pretty.built.configDigest, ...pretty.built.layerDigests]) {
      const blob = (root: string): Buffer => fs.readFileSync(path.join(root, 'blobs', 'sha256', hex(digest)));
      expect(blob(path.join(dir, 'other')).equals(blob(storeDir)), digest).toBe(true);
    }
    for (const diffId of pretty.built.diffIds) {
      expect(listing(path.join(dir, 'other', 'layers', hex(diffId)))).toEqual(listing(path.join(storeDir, 'layers', hex(diffId))));
    }

    // A source whose manifest bytes are not those its digest names (here: re-serialised): refused, nothing stored.
    const opened = await open(pretty.dir);
    const compact = Buffer.from(JSON.stringify(opened.image.manifest));
    const lying: ImageSource = { ...opened, image: { ...opened.image, manifestBytes: compact } };
    const third = new ImageStore(path.join(dir, 'third'));
    const refused = messageOf(await third.importImage(lying, ['example/lying']).catch((e: unknown) => e));
    opened.close();
    expect(refused).toBe(`image ${prettyDigest}: the source's manifest bytes hash to ${sha256(compact)}`);
    expect(fs.existsSync(path.join(dir, 'third'))).toBe(false);
  });

  it('concurrent imports of one image from two async calls: one record, each layer unpacked once', async () => {
    const store = newStore();
    const other = newStore(); // another object of the same directory queues behind the same lock
    const { dir: layoutDir, built } = await layout({ layers: [base, upper('1'), upper('2')] });
    const [one, two] = [await open(layoutDir), await open(layoutDir)];
    const pending = [store.importImage(one, ['example/c']), other.importImage(two, ['example/c'])];
    // A synchronous mutation cannot wait for an import of its own process: refused, not a deadlock.
    expect(messageOf(catchError(() => store.prune()))).toBe(`image store ${storeDir}: another operation of this process holds the store lock; try again when it has finished`);
    const results = await Promise.all(pending);
    one.close();
    two.close();
    expect(results.map((r) => r.layersUnpacked).sort()).toEqual([0, 3]);
    expect(results.map((r) => r.layersReused).sort()).toEqual([0, 3]);
    expect(() => store.prune()).not.toThrow();
    expect(fs.readdirSync(path.join(storeDir, 'images'))).toEqual([`${hex(built.manifestDigest)}.json`]);
    expect(store.list()).toMatchObject([{ manifestDigest: built.manifestDigest, refs: ['docker.io/example/c:latest'] }]);
    expect(layerNames()).toEqual(built.diffIds.map(hex).sort());
    expect(fs.readdirSync(path.join(storeDir, 'tmp'))).toEqual([]);
  });

  it('concurrent imports of one image from two processes: the flock serialises them, one consistent record', async () => {
    const { dir: layoutDir, built } = await layout({ layers: [base, upper('1'), upper('2'), upper('3')] });
    const script = path.join(dir, 'store-import.mjs');
    await bundleNodeScript(script, {
      source: [
        "import { ImageStore } from './src/plugins/image/image-store';",
        "import { hostPlatform } from './src/plugins/image/oci-layout';",
        "import { openImageSource } from './src/plugins/image/open-image-source';",
        "import { imageDocumentValidators } from './src/spec/image-validate';",
        'const [storeDir, layoutDir, tmp] = process.argv.slice(2);',
        'const source = await openImageSource(layoutDir, { tmpParent: tmp, validators: imageDocumentValidators, platform: hostPlatform() });',
        "const result = await new ImageStore(storeDir).importImage(source, ['example/p']);",
        'source.close();',
        'console.log(JSON.stringify({ unpacked: result.layersUnpacked, reused: result.layersReused }));',
      ].join('\n'),
    });
    const run = () => runNode(script, [storeDir, layoutDir, dir]);
    const runs = await Promise.all([run(), run(), run()]);
    for (const r of runs) expect([r.code, r.stderr]).toEqual([0, '']);
    const results = runs.map((r) => JSON.parse(r.stdout) as { unpacked: number; reused: number });
    expect(results.map((r) => r.unpacked).sort()).toEqual([0, 0, 4]);
    expect(results.map((r) => r.reused).sort()).toEqual([0, 4, 4]);
    const store = newStore();
    expect(store.list()).toMatchObject([{ manifestDigest: built.manifestDigest, refs: ['docker.io/example/p:latest'] }]);
    expect(fs.readdirSync(path.join(storeDir, 'images'))).toEqual([`${hex(built.manifestDigest)}.json`]);
    expect(layerNames()).toEqual(built.diffIds.map(hex).sort());
    expect(blobNames()).toEqual([built.manifestDigest, built.configDigest, ...built.layerDigests].map(hex).sort());
    expect(fs.readdirSync(path.join(storeDir, 'tmp'))).toEqual([]);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

/** Rewrites a layout's manifest pretty-printed (other bytes, same document); returns its new digest. */
function prettifyManifest(layoutDir: string): string {
  const indexFile = path.join(layoutDir, 'index.json');
  const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { manifests: Array<{ digest: string; size: number }> };
  const entry = index.manifests[0]!;
  const manifest = JSON.parse(fs.readFileSync(path.join(layoutDir, 'blobs', 'sha256', entry.digest.slice(7)), 'utf8')) as unknown;
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 3)}\n`);
  const digest = sha256(bytes);
  fs.writeFileSync(path.join(layoutDir, 'blobs', 'sha256', digest.slice(7)), bytes);
  entry.digest = digest;
  entry.size = bytes.length;
  fs.writeFileSync(indexFile, JSON.stringify(index));
  return digest;
}

/** Rewrites a layout's configuration (and the manifest and index that name it). */
function rewriteConfig(layoutDir: string, edit: (config: Record<string, unknown>) => void): void {
  const blob = (digest: string): string => path.join(layoutDir, 'blobs', 'sha256', digest.slice(7));
  const indexFile = path.join(layoutDir, 'index.json');
  const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { manifests: Array<{ digest: string; size: number }> };
  const entry = index.manifests[0]!;
  const manifest = JSON.parse(fs.readFileSync(blob(entry.digest), 'utf8')) as { config: { digest: string; size: number } };
  const config = JSON.parse(fs.readFileSync(blob(manifest.config.digest), 'utf8')) as Record<string, unknown>;
  edit(config);
  const configBytes = Buffer.from(JSON.stringify(config));
  manifest.config.digest = sha256(configBytes);
  manifest.config.size = configBytes.length;
  fs.writeFileSync(blob(manifest.config.digest), configBytes);
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  entry.digest = sha256(manifestBytes);
  entry.size = manifestBytes.length;
  fs.writeFileSync(blob(entry.digest), manifestBytes);
  fs.writeFileSync(indexFile, JSON.stringify(index));
}
