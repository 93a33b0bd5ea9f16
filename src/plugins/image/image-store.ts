import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { LockFn } from '../../container/state-store';
import { RuntimeError } from '../../errors';
import { fsSyscallError, syncDirectory, writeFileAtomic } from '../../linux/atomic-file';
import { createFileLock } from '../../linux/file-lock';
import { createSys } from '../../linux/sys';
import { MediaTypes, type Descriptor, type ImageConfig, type ImageManifest } from '../../spec/image-types';
import { checkBlobBytes, checkSize, digestOf, looksLikeDigest, parseDigest, quote, verifyBlobStream } from './digest';
import { DOCUMENT_LIMIT, type ImageSource, type ResolvedImage } from './image-source';
import { applyLayer, layerCompression, type LayerCompression } from './layer-apply';
import { RootfsWriter } from './rootfs-writer';
import { StoreLock } from './store-lock';
import {
  hexOf, isRef, normalizeRef, parseImageRecord, parseRefs, serializeImageRecord, serializeRefs,
  type ImageRecord, type StoredImage, type StoredLayer,
} from './store-records';

/**
 * The shared image store behind `tsrun image load/ls/inspect/rm/prune` and `unpack --overlay`: images imported
 * once, each layer unpacked once as an overlayfs lower directory that any number of bundles mount.
 *
 * On disk (`<dir>`, /var/lib/tsrun/image by default — the CLI decides):
 *
 *   lock                         flock(2) target: every mutation holds it (src/plugins/image/store-lock.ts)
 *   blobs/<alg>/<hex>            manifests, configurations and layer blobs exactly as received (for `save`/`push`)
 *   layers/<diffid hex>/diff/    a layer unpacked in overlay mode: whiteouts are 0/0 character devices, opaque
 *                                directories carry trusted.overlay.opaque=y
 *   images/<manifest hex>.json   one record per image (store-records.ts: digests, layers, created, loadedAt)
 *   refs.json                    {"refs": {"<normalised ref>": "<manifest digest>"}}: a ref names at most one image
 *   tmp/import-*, tmp/remove-*   an import's staging area; trees on their way out
 *
 * Nothing is visible half-made. A blob is written to tmp/, its size and digest checked, fsynced, then renamed into
 * blobs/. A layer is unpacked into tmp/, its DiffID compared, every file and directory of it fsynced, then
 * renamed into layers/ — so a `layers/<hex>` that exists is complete, and it is never unpacked again. A layer on
 * its way out is first renamed into tmp/ and deleted there. Records and refs.json are replaced atomically
 * (writeFileAtomic), the record before the refs that name it, the refs before the record they no longer name:
 * readers, which take no lock, see whole files and never a ref to a missing record. Readers may see blobs and
 * layers no record names yet (or any more): prune removes those.
 *
 * An import is all or nothing: everything it adds is made under tmp/import-<random>/ and moved into place by
 * renames only when every blob and layer is verified; if the commit itself fails, what it moved is removed again
 * and a replaced record restored. A killed import leaves only tmp/import-*, which the next import or prune removes
 * (both hold the lock, so no live import owns it).
 *
 * Layers in use by bundles' overlay mounts (the `inUse` dependency, derived by the CLI from the bundles' mount
 * records) are never deleted, by remove or prune, forced or not; removing an image that would leave them without
 * an image is refused unless forced.
 */

/** bundle → the DiffIDs of the store layers its overlay mount uses. */
export type LayersInUse = () => ReadonlyMap<string, readonly string[]>;

export interface ImageStoreOptions {
  /** Exclusive, blocking, dropped when the holder dies; default: flock through src/linux/file-lock.ts. */
  lock?: LockFn;
  /** The layers bundles use now; default: none. */
  inUse?: LayersInUse;
  clock?: () => number;
}

export interface ImportResult {
  image: StoredImage;
  /** Layers unpacked by this import. */
  layersUnpacked: number;
  /** Layers the store had already (or that the image lists twice). */
  layersReused: number;
}

export interface RemoveResult {
  /** The refs removed. */
  untagged: string[];
  /** The image whose record was removed; undefined when only a ref went. */
  removed?: StoredImage;
  layers: number;
  blobs: number;
  bytes: number;
}

export interface PruneResult {
  images: number;
  layers: number;
  blobs: number;
  bytes: number;
}

export type { ImageRecord, StoredImage, StoredLayer } from './store-records';

const LOCK_FILE = 'lock';
const REFS_FILE = 'refs.json';
const STAGING = /^(?:import|remove)-/;
const HEX_NAME = /^[0-9a-f]{64}(?:[0-9a-f]{64})?$/;
const RECORD_NAME = /^([0-9a-f]{64}(?:[0-9a-f]{64})?)\.json$/;
const SHORT_ID = /^(?:sha256:)?([0-9a-f]{12,64})$/;
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = fs.constants;

export class ImageStore {
  readonly dir: string;
  readonly #lockFn: LockFn;
  readonly #inUse: LayersInUse;
  readonly #clock: () => number;
  #storeLock: StoreLock | undefined;

  constructor(dir: string, options: ImageStoreOptions = {}) {
    this.dir = path.resolve(dir);
    this.#lockFn = options.lock ?? ((file) => createFileLock(createSys())(file));
    this.#inUse = options.inUse ?? (() => new Map());
    this.#clock = options.clock ?? Date.now;
  }

  // ---- reading (no lock: every file read was written atomically) ----

  /** Every image, the most recently loaded first. A damaged record is an error naming its file. */
  list(): StoredImage[] {
    const records = this.#readRecords();
    const refs = this.#readRefs();
    return [...records.values()]
      .map((record) => withRefs(record, refs))
      .sort((a, b) => (a.loadedAt === b.loadedAt ? compare(a.manifestDigest, b.manifestDigest) : compare(b.loadedAt, a.loadedAt)));
  }

  /**
   * The image named by a full digest (`sha256:<hex>` of its manifest or its configuration), a ref (`alpine`,
   * compared in its normalised form `docker.io/library/alpine:latest`), or an unambiguous prefix of at least 12
   * hex digits of its image ID (the configuration digest, `sha256:` optional), as docker resolves them.
   */
  resolve(refOrDigestOrShortId: string): StoredImage {
    const refs = this.#readRefs();
    return withRefs(this.#find(refOrDigestOrShortId, this.#readRecords(), refs).record, refs);
  }

  /**
   * The image as an ImageSource over the store's blobs (for `save` and `push`): its manifest and configuration
   * read back and checked against their digests, blobs served as verified streams. `refName` is the ref it was
   * named by, else its first ref.
   */
  openImage(refOrDigest: string): ImageSource {
    const refs = this.#readRefs();
    const { record, viaRef } = this.#find(refOrDigest, this.#readRecords(), refs);
    const stored = this.#readDocument({ digest: record.manifestDigest, size: record.manifestSize });
    const manifest = stored.value as ImageManifest;
    const config = this.#readDocument(manifest.config).value as ImageConfig;
    const image: ResolvedImage = { manifestDigest: record.manifestDigest, manifestBytes: stored.bytes, manifest, config, configDigest: record.configDigest };
    const refName = viaRef ?? withRefs(record, refs).refs[0];
    if (refName !== undefined) image.refName = refName;
    return { image, openBlob: (descriptor) => this.#openBlob(descriptor), close: () => undefined };
  }

  /** Absolute `layers/<hex>/diff` directories of the image, bottom layer first; a missing one is an error. */
  layerDiffDirs(image: ImageRecord): string[] {
    return image.layers.map((layer, i) => {
      const dir = this.#layerDiff(layer.diffId);
      if (!isDirectory(dir)) {
        throw new RuntimeError('image', `image store ${this.dir}: layer ${i} (${layer.diffId}) of image ${image.manifestDigest} is missing (${dir})`);
      }
      return dir;
    });
  }

  /**
   * Runs `fn` with the image and its layer directories (bottom first) under the store lock, so that no remove or
   * prune deletes them meanwhile: the place to mount them and record the bundle's mount, which `inUse` reports from
   * then on. `fn` must be synchronous and must not call the store's mutations (they are refused).
   */
  withImageLayers<T>(refOrId: string, fn: (image: StoredImage, diffDirs: string[]) => T): T {
    return this.#mutate(() => {
      const image = this.resolve(refOrId);
      return fn(image, this.layerDiffDirs(image));
    });
  }

  // ---- importing ----

  /**
   * Copies the image's manifest, configuration and layer blobs into the store, unpacks each layer the store does
   * not have yet, records the image and points `refs` at it (moving them from any image they named). Refs are
   * normalised; none is taken from the source (the caller decides, e.g. from `source.image.refName`). The manifest
   * is kept as the source's exact bytes (`image.manifestBytes`), under its digest. All or nothing: on any error the
   * store is as it was.
   */
  async importImage(source: ImageSource, refs: string[]): Promise<ImportResult> {
    const wanted = [...new Set(refs.map(normalizeRef))];
    const { image } = source;
    const label = `image ${image.manifestDigest}`;
    const diffIds = image.config.rootfs.diff_ids;
    if (image.manifest.config.digest !== image.configDigest) {
      throw new RuntimeError('image', `${label}: the manifest's config.digest is ${image.manifest.config.digest}, the source says ${image.configDigest}`);
    }
    if (image.manifest.layers.length !== diffIds.length) {
      throw new RuntimeError('image', `${label}: the manifest lists ${image.manifest.layers.length} layers, the config's rootfs.diff_ids ${diffIds.length}`);
    }
    const { algorithm } = parseDigest(image.manifestDigest, `${label}: manifest`);
    const manifestHash = digestOf(image.manifestBytes, algorithm);
    if (manifestHash !== image.manifestDigest) throw new RuntimeError('image', `${label}: the source's manifest bytes hash to ${manifestHash}`);
    const compressions = image.manifest.layers.map((layer, i) => {
      parseDigest(layer.digest, `${label}: layers[${i}]`);
      checkSize(layer.size, `${label}: layers[${i}]`);
      parseDigest(diffIds[i], `${label}: config rootfs.diff_ids[${i}]`);
      return layerCompression(layer.mediaType, `${label}: layers[${i}] (${layer.digest})`);
    });

    let lock: StoreLock;
    try {
      this.#ensureLayout();
      lock = this.#lock();
    } catch (error) {
      throw this.#asError(error);
    }
    return lock.run(async () => {
      try {
        return await this.#importLocked(source, wanted, compressions);
      } catch (error) {
        throw this.#asError(error);
      }
    });
  }

  /** importImage's work, under the store lock. */
  async #importLocked(source: ImageSource, wanted: string[], compressions: LayerCompression[]): Promise<ImportResult> {
    const { image } = source;
    const label = `image ${image.manifestDigest}`;
    const diffIds = image.config.rootfs.diff_ids;
    this.#removeStaging();
    const staging = fs.mkdtempSync(path.join(this.#tmpDir, 'import-'));
    const moved: string[] = [];
    let restoreRecord: (() => void) | undefined;
    try {
      const records = this.#readRecords();
      const staged = new Map<string, string>();
      /** A blob of the store or staged here, verified; copied from the source when the store lacks it. */
      const haveBlob = async (descriptor: Descriptor, bytes?: Buffer): Promise<{ file: string; fresh: boolean }> => {
        const target = this.#blobFile(descriptor.digest);
        const stat = fs.lstatSync(target, { throwIfNoEntry: false });
        if (stat?.isFile() && stat.size === descriptor.size) return { file: target, fresh: false };
        const already = staged.get(descriptor.digest);
        if (already !== undefined) return { file: already, fresh: true };
        const file = path.join(staging, `blob-${hexOf(descriptor.digest)}`);
        await writeVerifiedBlob(bytes === undefined ? source.openBlob(descriptor) : [bytes], descriptor, file);
        staged.set(descriptor.digest, file);
        return { file, fresh: true };
      };

      // The source's exact manifest bytes, checked against their digest like every blob on the way in.
      const manifestDescriptor = { mediaType: image.manifest.mediaType ?? MediaTypes.manifest, digest: image.manifestDigest, size: image.manifestBytes.length };
      await haveBlob(manifestDescriptor, image.manifestBytes);
      await haveBlob(image.manifest.config, await readDocumentStream(source.openBlob(image.manifest.config), image.manifest.config));

      // DiffIDs the store's records already vouch for, by blob: a blob known this way needs no second look.
      const known = new Set([...records.values()].flatMap((r) => r.layers.map((l) => `${l.digest} ${l.diffId}`)));
      const unpacked = new Map<string, string>();
      let layersReused = 0;
      for (const [i, layer] of image.manifest.layers.entries()) {
        const diffId = diffIds[i] as string;
        const layerLabel = `${label}: layer ${i} (${layer.digest})`;
        const blob = await haveBlob(layer);
        if (isDirectory(this.#layerDiff(diffId)) || unpacked.has(diffId)) {
          layersReused++;
          // A blob the store had under this DiffID is that layer; any other is checked before it is recorded so.
          if (blob.fresh || !known.has(`${layer.digest} ${diffId}`)) await checkDiffId(blob.file, layer, compressions[i]!, diffId, layerLabel);
          continue;
        }
        const dir = path.join(staging, `layer-${hexOf(diffId)}`);
        await unpackLayer(blob.file, layer, compressions[i]!, diffId, dir, layerLabel);
        unpacked.set(diffId, dir);
      }

      // Commit: renames only, then the record, then the refs.
      for (const [digest, file] of staged) {
        const target = this.#blobFile(digest);
        fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
        renameInto(file, target);
        moved.push(target);
      }
      for (const [diffId, dir] of unpacked) {
        const target = path.join(this.#layersDir, hexOf(diffId));
        renameInto(dir, target);
        moved.push(target);
      }
      for (const dir of new Set(moved.map((m) => path.dirname(m)))) syncDirectory(dir);

      const record: ImageRecord = {
        manifestDigest: image.manifestDigest,
        manifestMediaType: manifestDescriptor.mediaType,
        manifestSize: manifestDescriptor.size,
        configDigest: image.configDigest,
        layers: image.manifest.layers.map((layer, i): StoredLayer => ({ digest: layer.digest, diffId: diffIds[i] as string, mediaType: layer.mediaType, size: layer.size })),
        loadedAt: new Date(this.#clock()).toISOString(),
      };
      if (image.config.created !== undefined) record.created = image.config.created;
      restoreRecord = this.#replaceRecord(record);
      const table = this.#readRefs();
      if (wanted.some((ref) => table.get(ref) !== record.manifestDigest)) {
        for (const ref of wanted) table.set(ref, record.manifestDigest);
        this.#writeRefs(table);
      }
      return { image: withRefs(record, table), layersUnpacked: unpacked.size, layersReused };
    } catch (error) {
      // Best effort, each step on its own: the error to report is the one that made the import fail.
      try {
        restoreRecord?.();
      } catch {
        // the record is then the new one, naming complete layers and blobs; the ref table was not changed
      }
      for (const target of moved.reverse()) {
        try {
          this.#discard(target);
        } catch {
          // unreferenced: the next prune removes it
        }
      }
      throw error;
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }

  // ---- removing ----

  /** Removes one ref; the image stays (untagged when it was its last). Returns the image as it is now. */
  untag(ref: string): StoredImage {
    const key = normalizeRef(ref);
    return this.#mutate(() => {
      const table = this.#readRefs();
      const digest = table.get(key);
      const record = digest === undefined ? undefined : this.#readRecords().get(digest);
      if (record === undefined) throw new RuntimeError('image', `ref ${quote(ref)}: no image in the store ${this.dir} has this ref`);
      table.delete(key);
      this.#writeRefs(table);
      return withRefs(record, table);
    });
  }

  /**
   * `docker rmi`: by ref, removes that ref, and the image too when it was its last; by digest or ID, removes the
   * image with all its refs — with more than one ref only when forced. Removing the image deletes its record and
   * its layers and blobs that no other image uses. Refused, unless forced, when bundles use layers the removal
   * would leave without an image; even forced, those layers stay until a prune after the bundles are gone.
   */
  remove(refOrId: string, options: { force?: boolean } = {}): RemoveResult {
    return this.#mutate(() => {
      const records = this.#readRecords();
      const table = this.#readRefs();
      const { record, viaRef } = this.#find(refOrId, records, table);
      const refs = withRefs(record, table).refs;
      if (viaRef !== undefined && refs.length > 1) {
        table.delete(viaRef);
        this.#writeRefs(table);
        return { untagged: [viaRef], layers: 0, blobs: 0, bytes: 0 };
      }
      if (viaRef === undefined && refs.length > 1 && options.force !== true) {
        throw new RuntimeError('image', `image ${shortId(record)} has ${refs.length} refs (${refs.map((r) => quote(r)).join(', ')}): remove them by ref, or force the removal`);
      }
      records.delete(record.manifestDigest);
      const stillUsed = referencedLayers(records);
      const orphaned = record.layers.map((l) => l.diffId).filter((d) => !stillUsed.has(d));
      const users = bundlesUsing(this.#inUse(), new Set(orphaned));
      if (users.length > 0 && options.force !== true) {
        throw new RuntimeError('image', `image ${shortId(record)}${refs.length > 0 ? ` (${refs.join(', ')})` : ''}: its layers are in use by ${plural(users.length, 'bundle')} (overlay mounts); delete ${users.length === 1 ? 'it' : 'them'} first, or force the removal`);
      }
      for (const ref of refs) table.delete(ref);
      if (refs.length > 0) this.#writeRefs(table);
      this.#unlink(this.#recordFile(record.manifestDigest));
      const candidates = {
        layers: new Set(record.layers.map((l) => l.diffId)),
        blobs: new Set([record.manifestDigest, record.configDigest, ...record.layers.map((l) => l.digest)]),
      };
      const freed = this.#collect(records, candidates);
      return { untagged: refs, removed: { ...record, refs }, ...freed };
    });
  }

  /**
   * Removes what no image record references: layers (unless bundles use them) and blobs, and leftovers in tmp/.
   * With `untagged`, first the images no ref names whose layers no bundle uses (`docker image prune`).
   */
  prune(options: { untagged?: boolean } = {}): PruneResult {
    return this.#mutate(() => {
      let bytes = this.#removeStaging();
      const records = this.#readRecords();
      let images = 0;
      if (options.untagged === true) {
        const table = this.#readRefs();
        const used = new Set([...this.#inUse().values()].flat());
        for (const record of [...records.values()]) {
          if (withRefs(record, table).refs.length > 0 || record.layers.some((l) => used.has(l.diffId))) continue;
          this.#unlink(this.#recordFile(record.manifestDigest));
          records.delete(record.manifestDigest);
          images++;
        }
      }
      const freed = this.#collect(records);
      bytes += freed.bytes;
      return { images, layers: freed.layers, blobs: freed.blobs, bytes };
    });
  }

  // ---- internals ----

  get #blobsDir(): string {
    return path.join(this.dir, 'blobs');
  }

  get #layersDir(): string {
    return path.join(this.dir, 'layers');
  }

  get #imagesDir(): string {
    return path.join(this.dir, 'images');
  }

  get #tmpDir(): string {
    return path.join(this.dir, 'tmp');
  }

  #blobFile(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest, `image store ${this.dir}: blob`);
    return path.join(this.#blobsDir, algorithm, encoded);
  }

  #layerDiff(diffId: string): string {
    return path.join(this.#layersDir, hexOf(diffId), 'diff');
  }

  #recordFile(manifestDigest: string): string {
    return path.join(this.#imagesDir, `${hexOf(manifestDigest)}.json`);
  }

  /** Runs a synchronous mutation under the store lock (the store made first if missing). */
  #mutate<T>(fn: () => T): T {
    try {
      this.#ensureLayout();
      return this.#lock().runSync(fn);
    } catch (error) {
      throw this.#asError(error);
    }
  }

  /** A failure as an image error: one line naming the store (and, from Node or a system call, the path). */
  #asError(error: unknown): unknown {
    if (error instanceof RuntimeError && error.code === 'image') return error;
    const message = error instanceof Error ? error.message : String(error);
    return new RuntimeError('image', `image store ${this.dir}: ${message}`, { cause: error });
  }

  #lock(): StoreLock {
    if (this.#storeLock === undefined) {
      this.#storeLock = new StoreLock(path.join(fs.realpathSync(this.dir), LOCK_FILE), this.#lockFn, this.dir);
    }
    return this.#storeLock;
  }

  /** Creates the store's directories that are missing (the top one and layers/ traversable, the rest root's). */
  #ensureLayout(): void {
    const dirs: Array<[string, number]> = [
      [this.dir, 0o711], [this.#blobsDir, 0o700], [path.join(this.#blobsDir, 'sha256'), 0o700], [this.#layersDir, 0o711],
      [this.#imagesDir, 0o700], [this.#tmpDir, 0o700],
    ];
    for (const [dir, mode] of dirs) {
      try {
        // mkdir returns the first directory it made: only a new one gets its mode set, whatever the umask.
        if (fs.mkdirSync(dir, { recursive: true, mode }) !== undefined) fs.chmodSync(dir, mode);
      } catch (error) {
        throw new RuntimeError('image', `image store ${this.dir}: cannot create ${dir}: ${(error as Error).message}`, { cause: error });
      }
      if (dir !== this.dir && !fs.lstatSync(dir).isDirectory()) {
        throw new RuntimeError('image', `image store ${this.dir}: ${dir} is not a directory (a symlink is not followed)`);
      }
    }
  }

  /** Every record, by manifest digest; a record file that went away while listed is skipped. */
  #readRecords(): Map<string, ImageRecord> {
    const records = new Map<string, ImageRecord>();
    let names: string[];
    try {
      names = fs.readdirSync(this.#imagesDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return records;
      throw new RuntimeError('image', `image store ${this.dir}: cannot list images: ${(error as Error).message}`, { cause: error });
    }
    for (const name of names.sort()) {
      const match = RECORD_NAME.exec(name);
      if (!match) continue; // writeFileAtomic's temporary files, anything not the store's
      const file = path.join(this.#imagesDir, name);
      const text = readText(file);
      if (text === undefined) continue;
      const record = parseImageRecord(text, file);
      if (hexOf(record.manifestDigest) !== match[1]) {
        throw new RuntimeError('image', `${file}: manifestDigest ${quote(record.manifestDigest)} is not the digest the file is named after`);
      }
      records.set(record.manifestDigest, record);
    }
    return records;
  }

  #readRefs(): Map<string, string> {
    const file = path.join(this.dir, REFS_FILE);
    return parseRefs(readText(file), file);
  }

  #writeRefs(refs: ReadonlyMap<string, string>): void {
    writeFileAtomic(this.dir, REFS_FILE, serializeRefs(refs), 0o600);
  }

  /** Writes the record; returns how to put back what was there before (for an import's rollback). */
  #replaceRecord(record: ImageRecord): () => void {
    const file = this.#recordFile(record.manifestDigest);
    const previous = readText(file);
    writeFileAtomic(this.#imagesDir, path.basename(file), serializeImageRecord(record), 0o600);
    return () => {
      if (previous === undefined) this.#unlink(file);
      else writeFileAtomic(this.#imagesDir, path.basename(file), previous, 0o600);
    };
  }

  #unlink(file: string): void {
    try {
      fs.unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fsSyscallError('unlink', file, error);
    }
    syncDirectory(path.dirname(file));
  }

  /** Moves a blob or layer out of sight (into tmp/) at once, then deletes it; returns the bytes it held. */
  #discard(target: string): number {
    const away = path.join(this.#tmpDir, `remove-${randomUUID()}`);
    try {
      fs.renameSync(target, away);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw fsSyscallError('rename', target, error);
    }
    syncDirectory(path.dirname(target));
    const bytes = treeBytes(away);
    fs.rmSync(away, { recursive: true, force: true });
    return bytes;
  }

  /** Removes tmp/import-* and tmp/remove-*: under the lock, no live operation owns any. Returns their bytes. */
  #removeStaging(): number {
    let bytes = 0;
    for (const name of fs.readdirSync(this.#tmpDir)) {
      if (!STAGING.test(name)) continue;
      const entry = path.join(this.#tmpDir, name);
      bytes += treeBytes(entry);
      fs.rmSync(entry, { recursive: true, force: true });
    }
    return bytes;
  }

  /**
   * Deletes layers and blobs `records` do not reference (limited to `only` when given); layers bundles use stay.
   */
  #collect(records: ReadonlyMap<string, ImageRecord>, only?: { layers: Set<string>; blobs: Set<string> }): Omit<PruneResult, 'images'> {
    const layersKept = referencedLayers(records);
    for (const diffIds of this.#inUse().values()) for (const diffId of diffIds) layersKept.add(diffId);
    const blobsKept = new Set([...records.values()].flatMap((r) => [r.manifestDigest, r.configDigest, ...r.layers.map((l) => l.digest)]));
    const freed = { layers: 0, blobs: 0, bytes: 0 };
    const keptHex = new Set([...layersKept].map(hexOf));
    const layerNames = only ? [...only.layers].map(hexOf) : fs.readdirSync(this.#layersDir).filter((n) => HEX_NAME.test(n));
    for (const name of layerNames) {
      if (keptHex.has(name)) continue;
      const target = path.join(this.#layersDir, name);
      if (!fs.existsSync(target)) continue;
      freed.bytes += this.#discard(target);
      freed.layers++;
    }
    const blobDigests = only ? [...only.blobs] : this.#storedBlobDigests();
    for (const digest of blobDigests) {
      if (blobsKept.has(digest)) continue;
      const file = this.#blobFile(digest);
      const stat = fs.lstatSync(file, { throwIfNoEntry: false });
      if (stat === undefined) continue;
      this.#unlink(file);
      freed.blobs++;
      freed.bytes += stat.size;
    }
    return freed;
  }

  #storedBlobDigests(): string[] {
    const digests: string[] = [];
    for (const algorithm of ['sha256', 'sha512']) {
      const dir = path.join(this.#blobsDir, algorithm);
      if (!isDirectory(dir)) continue;
      for (const name of fs.readdirSync(dir)) if (HEX_NAME.test(name)) digests.push(`${algorithm}:${name}`);
    }
    return digests;
  }

  #find(text: string, records: ReadonlyMap<string, ImageRecord>, refs: ReadonlyMap<string, string>): { record: ImageRecord; viaRef?: string } {
    const all = [...records.values()];
    const notFound = (): RuntimeError => new RuntimeError('image', `image ${quote(text)}: not in the image store ${this.dir}`);
    const one = (matches: ImageRecord[]): { record: ImageRecord } | undefined => {
      if (matches.length > 1) {
        throw new RuntimeError('image', `image ${quote(text)}: matches ${matches.length} images (manifests ${matches.map((m) => m.manifestDigest).join(', ')}); name one by its manifest digest`);
      }
      return matches.length === 1 ? { record: matches[0] as ImageRecord } : undefined;
    };
    if (looksLikeDigest(text)) {
      const found = one(all.filter((r) => r.manifestDigest === text)) ?? one(all.filter((r) => r.configDigest === text));
      if (found) return found;
    }
    if (isRef(text)) {
      const key = normalizeRef(text);
      const record = records.get(refs.get(key) ?? '');
      if (record !== undefined) return { record, viaRef: key };
    }
    const prefix = SHORT_ID.exec(text)?.[1];
    const found = prefix === undefined ? undefined : one(all.filter((r) => r.configDigest.startsWith(`sha256:${prefix}`)));
    if (found) return found;
    throw notFound();
  }

  /** A store document (manifest, configuration) read whole, checked against its digest and size, and parsed. */
  #readDocument(expected: { digest: string; size: number }): { bytes: Buffer; value: unknown } {
    const file = this.#blobFile(expected.digest);
    let bytes: Buffer;
    try {
      const fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
      try {
        bytes = fs.readFileSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (error) {
      throw new RuntimeError('image', `image store ${this.dir}: blob ${expected.digest}: cannot read ${file}: ${(error as Error).message}`, { cause: error });
    }
    checkBlobBytes(bytes, expected);
    try {
      return { bytes, value: JSON.parse(bytes.toString('utf8')) as unknown };
    } catch (error) {
      throw new RuntimeError('image', `image store ${this.dir}: blob ${expected.digest}: not valid JSON: ${(error as Error).message}`, { cause: error });
    }
  }

  #openBlob(descriptor: Descriptor): Readable {
    const file = this.#blobFile(descriptor.digest);
    checkSize(descriptor.size, `image store ${this.dir}: blob ${descriptor.digest}`);
    let fd: number;
    try {
      fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new RuntimeError('image', `image store ${this.dir}: blob ${descriptor.digest}: ${missing ? 'not in the store' : (error as Error).message}`, { cause: error });
    }
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw new RuntimeError('image', `image store ${this.dir}: blob ${descriptor.digest}: ${file} is not a regular file`);
    }
    return verifyBlobStream(fs.createReadStream(file, { fd }), descriptor);
  }
}

// ---- helpers ----

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function shortId(record: ImageRecord): string {
  return hexOf(record.configDigest).slice(0, 12);
}

function withRefs(record: ImageRecord, refs: ReadonlyMap<string, string>): StoredImage {
  const names = [...refs].filter(([, digest]) => digest === record.manifestDigest).map(([ref]) => ref).sort(compare);
  return { ...record, refs: names };
}

function referencedLayers(records: ReadonlyMap<string, ImageRecord>): Set<string> {
  return new Set([...records.values()].flatMap((r) => r.layers.map((l) => l.diffId)));
}

/** The bundles whose overlay mounts use any of `diffIds`, sorted. */
function bundlesUsing(inUse: ReadonlyMap<string, readonly string[]>, diffIds: ReadonlySet<string>): string[] {
  return [...inUse].filter(([, layers]) => layers.some((d) => diffIds.has(d))).map(([bundle]) => bundle).sort(compare);
}

function isDirectory(dir: string): boolean {
  return fs.lstatSync(dir, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** A small file's text, or undefined when it does not exist. */
function readText(file: string): string | undefined {
  try {
    const fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    try {
      return fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RuntimeError('image', `${file}: cannot read: ${(error as Error).message}`, { cause: error });
  }
}

/** rename(2) with the error as one line naming both paths. */
function renameInto(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (error) {
    throw new RuntimeError('image', `cannot move ${from} to ${to}: ${(error as Error).message}`, { cause: error });
  }
}

/** Bytes of the regular files of a tree (each inode once), not following symlinks. */
function treeBytes(root: string): number {
  const seen = new Set<number>();
  let bytes = 0;
  const visit = (entry: string): void => {
    const stat = fs.lstatSync(entry, { throwIfNoEntry: false });
    if (stat === undefined) return;
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(entry)) visit(path.join(entry, name));
    } else if (stat.isFile() && !seen.has(stat.ino)) {
      seen.add(stat.ino);
      bytes += stat.size;
    }
  };
  visit(root);
  return bytes;
}

/** fsyncs every regular file and directory of a tree (deepest first), so a rename of it publishes whole files. */
function syncTree(root: string): void {
  const visit = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(file);
      else if (entry.isFile()) syncOne(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    }
    syncOne(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  };
  visit(root);
}

function syncOne(file: string, flags: number): void {
  let fd: number;
  try {
    fd = fs.openSync(file, flags);
  } catch (error) {
    throw fsSyscallError('open', file, error);
  }
  try {
    fs.fsyncSync(fd);
  } catch (error) {
    throw fsSyscallError('fsync', file, error);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Streams a blob into the new file `file` (never an existing one), checks its size and digest against the
 * descriptor with a hash of its own (whatever the source checked), and fsyncs it. The caller removes the file
 * on failure (it lies in the import's staging directory).
 */
async function writeVerifiedBlob(stream: Readable | Buffer[], descriptor: Descriptor, file: string): Promise<void> {
  const { algorithm } = parseDigest(descriptor.digest, 'blob');
  const hash = createHash(algorithm);
  let size = 0;
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (error) {
    if (!Array.isArray(stream)) stream.destroy();
    throw new RuntimeError('image', `blob ${descriptor.digest}: cannot create ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > descriptor.size) throw new RuntimeError('image', `blob ${descriptor.digest}: expected ${descriptor.size} bytes, got at least ${size}`);
      hash.update(chunk);
      for (let offset = 0; offset < chunk.length;) offset += fs.writeSync(fd, chunk, offset, chunk.length - offset);
    }
    if (size !== descriptor.size) throw new RuntimeError('image', `blob ${descriptor.digest}: expected ${descriptor.size} bytes, got ${size}`);
    const actual = `${algorithm}:${hash.digest('hex')}`;
    if (actual !== descriptor.digest) throw new RuntimeError('image', `blob ${descriptor.digest}: digest mismatch: the content hashes to ${actual}`);
    fs.fsyncSync(fd);
  } catch (error) {
    if (!Array.isArray(stream)) stream.destroy();
    if (error instanceof RuntimeError) throw error;
    throw new RuntimeError('image', `blob ${descriptor.digest}: cannot copy it into the store (${file}): ${(error as Error).message}`, { cause: error });
  } finally {
    fs.closeSync(fd);
  }
}

/** A blob staged or stored by this store, as a verified stream. */
function openLocalBlob(file: string, descriptor: Descriptor): Readable {
  const fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  return verifyBlobStream(fs.createReadStream(file, { fd }), descriptor);
}

/** Unpacks a layer blob into `<dir>/diff` in overlay mode; checks its DiffID and fsyncs the tree. */
async function unpackLayer(blobFile: string, layer: Descriptor, compression: LayerCompression, diffId: string, dir: string, label: string): Promise<void> {
  const diff = path.join(dir, 'diff');
  for (const [made, mode] of [[dir, 0o711], [diff, 0o755]] as const) {
    fs.mkdirSync(made, { mode });
    fs.chmodSync(made, mode); // whatever the umask; a layer's own root entry may set the diff's mode
  }
  const writer = new RootfsWriter(diff, 'overlay');
  let applied;
  try {
    applied = await applyLayer(openLocalBlob(blobFile, layer), compression, writer, label);
  } finally {
    writer.close();
  }
  if (applied.diffId !== diffId) {
    throw new RuntimeError('image', `${label}: the uncompressed layer hashes to ${applied.diffId}, the image config's rootfs.diff_ids lists ${diffId}`);
  }
  syncTree(dir);
}

/** Checks that a blob uncompressed hashes to `diffId` (for a blob recorded for a layer the store already has). */
async function checkDiffId(blobFile: string, layer: Descriptor, compression: LayerCompression, diffId: string, label: string): Promise<void> {
  const hash = createHash('sha256');
  const decompress = compression === 'gzip' ? zlib.createGunzip() : compression === 'zstd' ? zlib.createZstdDecompress() : new PassThrough();
  try {
    await pipeline(openLocalBlob(blobFile, layer), decompress, async (tar: AsyncIterable<Buffer>) => {
      for await (const chunk of tar) hash.update(chunk);
    });
  } catch (error) {
    if (error instanceof RuntimeError) throw error;
    throw new RuntimeError('image', `${label}: not a valid ${compression === 'none' ? 'tar' : `${compression}-compressed tar`}: ${(error as Error).message}`, { cause: error });
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== diffId) {
    throw new RuntimeError('image', `${label}: the uncompressed layer hashes to ${actual}, the image config's rootfs.diff_ids lists ${diffId}`);
  }
}

/** A document blob (configuration) from a source, whole, at most DOCUMENT_LIMIT bytes, checked. */
async function readDocumentStream(stream: Readable, descriptor: Descriptor): Promise<Buffer> {
  if (descriptor.size > DOCUMENT_LIMIT) {
    stream.destroy();
    throw new RuntimeError('image', `blob ${descriptor.digest}: size ${descriptor.size} is more than the ${DOCUMENT_LIMIT} bytes tsrun reads for a document`);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  checkBlobBytes(bytes, descriptor);
  return bytes;
}
