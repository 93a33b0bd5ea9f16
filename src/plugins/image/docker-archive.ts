import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { RuntimeError } from '../../errors';
import { MediaTypes, type Descriptor, type ImageConfig, type ImageManifest } from '../../spec/image-types';
import { digestOf, digestOfStream, parseDigest, quote, verifyBlobStream } from './digest';
import type { ImageDocumentValidators, ImageSource, ResolvedImage } from './image-source';
import { normalizeImageName } from './image-name';
import { TreeReader } from './tree-reader';

/**
 * An extracted `docker save` archive read as an ImageSource. Its `manifest.json` gives the configuration's and the
 * layers' paths but no digests, so tsrun hashes every file once and derives an OCI manifest from what it found
 * (its canonicalJson is the image's manifestBytes, their digest its manifestDigest):
 *
 *   [{"Config": "<id>.json" | "blobs/sha256/<hex>", "RepoTags": ["name:tag"], "Layers": ["<id>/layer.tar" | "blobs/sha256/<hex>", ...]}]
 *
 * Older docker writes `<id>/layer.tar` (uncompressed); docker 25+ writes OCI blob paths (possibly compressed).
 */

export interface DockerArchiveEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

export interface DockerArchiveOptions {
  /** A RepoTag (`alpine:latest`; compared in docker's normalised form, so `docker.io/library/alpine` matches too). */
  ref?: string;
  validators: ImageDocumentValidators;
  /** How errors name the archive (rather than its temporary extraction); the directory by default. */
  displayName?: string;
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** `manifest.json` of an extracted docker archive, its shape checked; paths normalised. */
export function readDockerManifest(tree: TreeReader): DockerArchiveEntry[] {
  const where = tree.where('manifest.json');
  let doc: unknown;
  try {
    doc = JSON.parse(tree.readFile('manifest.json').toString('utf8'));
  } catch (error) {
    if (error instanceof RuntimeError) throw error;
    throw new RuntimeError('image', `${where}: not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!Array.isArray(doc)) throw new RuntimeError('image', `${where}: ${quote(doc)} is not a list of images`);
  return doc.map((entry: unknown, i): DockerArchiveEntry => {
    const field = `${where}: [${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new RuntimeError('image', `${field} ${quote(entry)} is not an object with Config, RepoTags and Layers`);
    }
    const { Config, RepoTags, Layers } = entry as Record<string, unknown>;
    if (RepoTags !== undefined && RepoTags !== null && (!Array.isArray(RepoTags) || RepoTags.some((t) => typeof t !== 'string'))) {
      throw new RuntimeError('image', `${field}.RepoTags ${quote(RepoTags)} is not a list of names`);
    }
    if (!Array.isArray(Layers)) throw new RuntimeError('image', `${field}.Layers ${quote(Layers)} is not a list of paths`);
    return {
      Config: TreeReader.relativePath(Config, `${field}.Config`),
      RepoTags: (RepoTags ?? []) as string[],
      Layers: Layers.map((layer: unknown, j) => TreeReader.relativePath(layer, `${field}.Layers[${j}]`)),
    };
  });
}

/** The digest a docker archive path encodes in its name (`<hex>.json`, `blobs/sha256/<hex>`), if any. */
export function digestInName(rel: string): string | undefined {
  const match = /^(?:([0-9a-f]{64})\.json|blobs\/sha256\/([0-9a-f]{64}))$/.exec(rel);
  return match ? `sha256:${match[1] ?? match[2]}` : undefined;
}

/** JSON with object keys sorted and no whitespace: the bytes tsrun hashes for a manifest it derives. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function chooseEntry(entries: DockerArchiveEntry[], ref: string | undefined, where: string): DockerArchiveEntry {
  const tags = entries.flatMap((e) => e.RepoTags);
  const listed = tags.length === 0 ? 'it names no tags' : `tags: ${tags.map((t) => quote(t)).join(', ')}`;
  if (ref === undefined) {
    if (entries.length === 1) return entries[0] as DockerArchiveEntry;
    throw new RuntimeError('image', `${where}: holds ${entries.length} images (${listed}); name one with a ref`);
  }
  const wanted = normalizeImageName(ref);
  const matches = entries.filter((e) => e.RepoTags.some((t) => t === ref || normalizeImageName(t) === wanted));
  if (matches.length === 0) throw new RuntimeError('image', `${where}: no image tagged ${quote(ref)} (${listed})`);
  return matches[0] as DockerArchiveEntry;
}

async function hashLayer(tree: TreeReader, rel: string): Promise<{ digest: string; size: number; mediaType: string }> {
  const fd = tree.openFile(rel);
  let stream: Readable;
  let mediaType: string = MediaTypes.layerTar;
  try {
    const head = Buffer.alloc(4);
    const n = fs.readSync(fd, head, 0, 4, 0);
    if (n >= 2 && head.subarray(0, 2).equals(GZIP_MAGIC)) mediaType = MediaTypes.layerGzip;
    else if (n === 4 && head.equals(ZSTD_MAGIC)) mediaType = MediaTypes.layerZstd;
    stream = fs.createReadStream(tree.where(rel), { fd, start: 0 });
  } catch (error) {
    fs.closeSync(fd);
    throw new RuntimeError('image', `${tree.where(rel)}: cannot read: ${(error as Error).message}`, { cause: error });
  }
  try {
    return { ...(await digestOfStream(stream)), mediaType };
  } catch (error) {
    stream.destroy();
    throw new RuntimeError('image', `${tree.where(rel)}: cannot read: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Opens an extracted docker archive: picks the image by `ref` (a RepoTag) or the only one, checks and parses its
 * configuration, hashes its layers and derives the OCI manifest. On failure nothing stays open.
 */
export async function openDockerArchive(dir: string, options: DockerArchiveOptions): Promise<ImageSource> {
  const tree = TreeReader.open(dir, options.displayName ?? dir);
  try {
    const { image, blobs } = await resolveDockerArchive(tree, options);
    return {
      image,
      openBlob(descriptor: Descriptor): Readable {
        parseDigest(descriptor.digest, `${tree.display}: blob`);
        const rel = blobs.get(descriptor.digest);
        if (rel === undefined) throw new RuntimeError('image', `${tree.display}: no blob ${descriptor.digest} in the archive (it has the configuration and ${blobs.size - 1} layers)`);
        return verifyBlobStream(tree.createReadStream(rel), descriptor);
      },
      close: () => tree.close(),
    };
  } catch (error) {
    tree.close();
    throw error;
  }
}

async function resolveDockerArchive(tree: TreeReader, options: DockerArchiveOptions): Promise<{ image: ResolvedImage; blobs: Map<string, string> }> {
  const entry = chooseEntry(readDockerManifest(tree), options.ref, tree.where('manifest.json'));
  const refName = options.ref === undefined
    ? entry.RepoTags[0]
    : entry.RepoTags.find((t) => t === options.ref) ?? entry.RepoTags.find((t) => normalizeImageName(t) === normalizeImageName(options.ref as string));

  const configWhere = tree.where(entry.Config);
  const configBytes = tree.readFile(entry.Config);
  const configDigest = digestOf(configBytes);
  const named = digestInName(entry.Config);
  if (named !== undefined && named !== configDigest) {
    throw new RuntimeError('image', `${configWhere}: digest mismatch: the content hashes to ${configDigest}, the name says ${named}`);
  }
  let configDoc: unknown;
  try {
    configDoc = JSON.parse(configBytes.toString('utf8'));
  } catch (error) {
    throw new RuntimeError('image', `${configWhere}: not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const config: ImageConfig = options.validators.config(configDoc, configWhere);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== entry.Layers.length) {
    throw new RuntimeError('image', `${tree.where('manifest.json')}: the image lists ${entry.Layers.length} layers but its configuration ${entry.Config} has ${diffIds.length} rootfs.diff_ids`);
  }

  const blobs = new Map<string, string>([[configDigest, entry.Config]]);
  const hashed = new Map<string, Awaited<ReturnType<typeof hashLayer>>>();
  const layers: Descriptor[] = [];
  for (const [i, rel] of entry.Layers.entries()) {
    let layer = hashed.get(rel);
    if (layer === undefined) {
      layer = await hashLayer(tree, rel);
      hashed.set(rel, layer);
    }
    const layerNamed = digestInName(rel);
    if (layerNamed !== undefined && layerNamed !== layer.digest) {
      throw new RuntimeError('image', `${tree.where(rel)}: digest mismatch: the content hashes to ${layer.digest}, the name says ${layerNamed}`);
    }
    // An uncompressed layer is its own diff: its digest must be the one the configuration lists.
    if (layer.mediaType === MediaTypes.layerTar && layer.digest !== diffIds[i]) {
      throw new RuntimeError('image', `${tree.where(rel)}: the layer hashes to ${layer.digest} but ${entry.Config} rootfs.diff_ids[${i}] is ${quote(diffIds[i])}`);
    }
    blobs.set(layer.digest, rel);
    layers.push({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size });
  }

  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.manifest,
    config: { mediaType: MediaTypes.config, digest: configDigest, size: configBytes.length },
    layers,
  };
  const manifestBytes = Buffer.from(canonicalJson(manifest));
  const image: ResolvedImage = { manifestDigest: digestOf(manifestBytes), manifestBytes, manifest, config, configDigest };
  if (refName !== undefined) image.refName = refName;
  return { image, blobs };
}
