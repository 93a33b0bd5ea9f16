import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { RuntimeError } from '../../errors';
import { MediaTypes, REF_NAME_ANNOTATION, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from '../../spec/image-types';
import { checkBlobBytes, checkSize, looksLikeDigest, parseDigest, quote, verifyBlobStream } from './digest';
import { DOCUMENT_LIMIT, type ImageDocumentValidators, type ImageSource, type ResolvedImage, type TargetPlatform } from './image-source';
import { normalizeImageName } from './image-name';
import { readAll, TreeReader } from './tree-reader';

/**
 * An OCI image layout (image-spec "image-layout.md") read as an ImageSource: `oci-layout`, `index.json`, nested
 * indexes, the chosen manifest and its configuration, every one checked against its descriptor's size and digest
 * before it is parsed, and layers served as verified streams. Files are read through TreeReader
 * (src/plugins/image/tree-reader.ts), never through a symlink.
 */

/** How deep indexes may nest below index.json. */
const MAX_INDEX_DEPTH = 8;
/** The containerd/docker annotation holding an image's full name (`docker.io/library/alpine:latest`). */
const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

const INDEX_TYPES: readonly string[] = [MediaTypes.index, MediaTypes.dockerManifestList];
const MANIFEST_TYPES: readonly string[] = [MediaTypes.manifest, MediaTypes.dockerManifest];
const CONFIG_TYPES: readonly string[] = [MediaTypes.config, MediaTypes.dockerConfig];
export const LAYER_TYPES: readonly string[] = [
  MediaTypes.layerTar, MediaTypes.layerGzip, MediaTypes.layerZstd, MediaTypes.dockerLayerTar, MediaTypes.dockerLayerGzip,
];

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Node's process.arch in OCI's (GOARCH) names. */
const OCI_ARCHITECTURES: Record<string, string> = {
  x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64',
  loong64: 'loong64', mips64el: 'mips64le', mipsel: 'mipsle',
};

/** The platform of this host, as an index names it: linux/<arch>[/<variant>]. */
export function hostPlatform(arch: string = process.arch): TargetPlatform {
  const architecture = OCI_ARCHITECTURES[arch] ?? arch;
  if (architecture === 'arm') {
    const version = (process.config.variables as Record<string, unknown>)['arm_version'];
    if (typeof version === 'string' || typeof version === 'number') return { os: 'linux', architecture, variant: `v${version}` };
  }
  return { os: 'linux', architecture };
}

function platformText(platform: { os: string; architecture: string; variant?: string }): string {
  return `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
}

/**
 * How well an index entry's platform fits the target: -1 not at all, 2 the same variant (or neither has one),
 * 1 the entry names no variant, 0 the target names none but the entry does.
 */
function platformRank(platform: Platform | undefined, target: TargetPlatform): number {
  if (!platform || platform.os !== target.os || platform.architecture !== target.architecture) return -1;
  if (platform.variant === target.variant) return 2;
  if (platform.variant === undefined) return 1;
  return target.variant === undefined ? 0 : -1;
}

/** Thrown when no entry of index.json carries the requested ref. */
export class NoSuchRefError extends RuntimeError {
  constructor(message: string) {
    super('image', message);
    this.name = 'NoSuchRefError';
  }
}

export interface OciLayoutOptions {
  /** A ref name (`org.opencontainers.image.ref.name`, or a full name in `io.containerd.image.name`) or a digest. */
  ref?: string;
  validators: ImageDocumentValidators;
  /** The platform to pick when an index lists manifests for several. */
  platform: TargetPlatform;
  /** How errors name the layout (the archive a temporary extraction came from); the directory by default. */
  displayName?: string;
}

/** A manifest descriptor found below index.json, with the ref of the nearest entry that named one. */
interface Candidate {
  descriptor: Descriptor;
  refName?: string;
}

/** Opens and resolves an OCI image layout. Everything read is checked; on failure nothing stays open. */
export function openOciLayout(dir: string, options: OciLayoutOptions): ImageSource {
  const tree = TreeReader.open(dir, options.displayName ?? dir);
  try {
    const image = new LayoutResolver(tree, options).resolve();
    return {
      image,
      openBlob: (descriptor) => openLayoutBlob(tree, descriptor),
      close: () => tree.close(),
    };
  } catch (error) {
    tree.close();
    throw error;
  }
}

function blobPath(descriptor: Descriptor, field: string): string {
  const { algorithm, encoded } = parseDigest(descriptor.digest, field);
  return `blobs/${algorithm}/${encoded}`;
}

/** A verified stream of a blob of the layout (throws at once when the blob is missing or not a regular file). */
export function openLayoutBlob(tree: TreeReader, descriptor: Descriptor): Readable {
  const rel = blobPath(descriptor, `${tree.display}: blob`);
  checkSize(descriptor.size, `${tree.display}: blob ${descriptor.digest}`);
  return verifyBlobStream(tree.createReadStream(rel), descriptor);
}

class LayoutResolver {
  readonly #tree: TreeReader;
  readonly #options: OciLayoutOptions;
  readonly #validators: ImageDocumentValidators;

  constructor(tree: TreeReader, options: OciLayoutOptions) {
    this.#tree = tree;
    this.#options = options;
    this.#validators = options.validators;
  }

  resolve(): ResolvedImage {
    const tree = this.#tree;
    const layout = this.#validators.layout(this.#parse(tree.readFile('oci-layout'), tree.where('oci-layout')), tree.where('oci-layout'));
    if (layout.imageLayoutVersion !== '1.0.0') {
      throw new RuntimeError('image', `${tree.where('oci-layout')}: imageLayoutVersion ${quote(layout.imageLayoutVersion)} is not supported (expected "1.0.0")`);
    }
    const index = this.#validators.index(this.#parse(tree.readFile('index.json'), tree.where('index.json')), tree.where('index.json'));
    const chosen = this.#choose(this.#candidates(index));
    return this.#readImage(chosen);
  }

  #parse(bytes: Buffer, where: string): unknown {
    try {
      return JSON.parse(bytes.toString('utf8')) as unknown;
    } catch (error) {
      throw new RuntimeError('image', `${where}: not valid JSON: ${errorText(error)}`, { cause: error });
    }
  }

  /** A document blob (index, manifest, config): read whole, size and digest checked, then parsed. */
  #readDocument(descriptor: Descriptor, what: string): { bytes: Buffer; value: unknown; where: string } {
    const tree = this.#tree;
    const rel = blobPath(descriptor, `${tree.display}: ${what}`);
    const size = checkSize(descriptor.size, `${tree.display}: ${what} ${descriptor.digest}`);
    if (size > DOCUMENT_LIMIT) {
      throw new RuntimeError('image', `${tree.display}: ${what} ${descriptor.digest}: size ${size} is more than the ${DOCUMENT_LIMIT} bytes tsrun reads for a document`);
    }
    const fd = tree.openFile(rel);
    let bytes: Buffer;
    try {
      const actual = fs.fstatSync(fd).size;
      if (actual !== size) throw new RuntimeError('image', `blob ${descriptor.digest}: expected ${size} bytes, got ${actual}`);
      bytes = readAll(fd, DOCUMENT_LIMIT, tree.where(rel));
      checkBlobBytes(bytes, descriptor);
    } catch (error) {
      if (error instanceof RuntimeError && error.message.startsWith('blob ')) {
        throw new RuntimeError('image', `${tree.display}: ${what} ${error.message}`, { cause: error });
      }
      throw error;
    } finally {
      fs.closeSync(fd);
    }
    return { bytes, value: this.#parse(bytes, tree.where(rel)), where: tree.where(rel) };
  }

  #readIndex(descriptor: Descriptor): ImageIndex {
    const { value, where } = this.#readDocument(descriptor, 'index');
    const index = this.#validators.index(value, where);
    if (index.mediaType !== undefined && !INDEX_TYPES.includes(index.mediaType)) {
      throw new RuntimeError('image', `${where}: mediaType ${quote(index.mediaType)} is not an image index`);
    }
    return index;
  }

  /** The manifests below `descriptors`, nested indexes read (and checked) on the way. */
  #flatten(descriptors: readonly Descriptor[], inheritedRef: string | undefined, depth: number, seen: Set<string>): Candidate[] {
    const found: Candidate[] = [];
    for (const descriptor of descriptors) {
      const refName = descriptor.annotations?.[REF_NAME_ANNOTATION] ?? inheritedRef;
      if (!INDEX_TYPES.includes(descriptor.mediaType)) {
        found.push({ descriptor, refName });
        continue;
      }
      if (depth >= MAX_INDEX_DEPTH) {
        throw new RuntimeError('image', `${this.#tree.display}: indexes nest more than ${MAX_INDEX_DEPTH} deep (at ${descriptor.digest})`);
      }
      if (seen.has(descriptor.digest)) {
        throw new RuntimeError('image', `${this.#tree.display}: index ${descriptor.digest} contains itself`);
      }
      const nested = this.#readIndex(descriptor);
      found.push(...this.#flatten(nested.manifests, refName, depth + 1, new Set([...seen, descriptor.digest])));
    }
    return found;
  }

  /** Looks for a descriptor (manifest or index) with this digest anywhere below index.json. */
  #findDigest(descriptors: readonly Descriptor[], digest: string, depth: number): Descriptor | undefined {
    const direct = descriptors.find((d) => d.digest === digest);
    if (direct || depth >= MAX_INDEX_DEPTH) return direct;
    for (const descriptor of descriptors) {
      if (!INDEX_TYPES.includes(descriptor.mediaType)) continue;
      const hit = this.#findDigest(this.#readIndex(descriptor).manifests, digest, depth + 1);
      if (hit) return hit;
    }
    return undefined;
  }

  #candidates(index: ImageIndex): Candidate[] {
    const ref = this.#options.ref;
    if (ref === undefined) return this.#flatten(index.manifests, undefined, 0, new Set());
    const wanted = looksLikeDigest(ref) ? undefined : normalizeImageName(ref);
    let matches = index.manifests.filter((d) => d.digest === ref
      || d.annotations?.[REF_NAME_ANNOTATION] === ref
      || (wanted !== undefined && typeof d.annotations?.[CONTAINERD_NAME_ANNOTATION] === 'string'
        && normalizeImageName(d.annotations[CONTAINERD_NAME_ANNOTATION]) === wanted));
    if (matches.length === 0 && looksLikeDigest(ref)) {
      const hit = this.#findDigest(index.manifests, ref, 0);
      if (hit) matches = [hit];
    }
    if (matches.length === 0) {
      const refs = [...new Set(index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter((r) => r !== undefined))];
      throw new NoSuchRefError(`${this.#tree.where('index.json')}: no image with ref ${quote(ref)} (${refs.length === 0 ? 'the index names no refs' : `refs: ${refs.map((r) => quote(r)).join(', ')}`})`);
    }
    return this.#flatten(matches, undefined, 0, new Set());
  }

  #choose(all: Candidate[]): Candidate {
    const byDigest = (list: Candidate[]): Candidate[] => [...new Map(list.map((c) => [c.descriptor.digest, c])).values()];
    let candidates = byDigest(all);
    const where = this.#tree.where('index.json');
    if (candidates.length === 0) throw new RuntimeError('image', `${where}: lists no manifests`);
    // Entries that are not image manifests (artifacts, signatures) stand aside when there are image manifests.
    const images = candidates.filter((c) => MANIFEST_TYPES.includes(c.descriptor.mediaType));
    if (images.length > 0) candidates = images;
    if (candidates.length > 1 && candidates.some((c) => c.descriptor.platform !== undefined)) {
      const target = this.#options.platform;
      const ranked = candidates.map((c) => ({ c, rank: platformRank(c.descriptor.platform, target) }));
      const best = Math.max(...ranked.map((r) => r.rank));
      if (best < 0) {
        const offered = [...new Set(candidates.flatMap((c) => (c.descriptor.platform ? [platformText(c.descriptor.platform)] : [])))];
        throw new RuntimeError('image', `${where}: no manifest for ${platformText(target)} (the index has ${offered.join(', ')})`);
      }
      candidates = ranked.filter((r) => r.rank === best).map((r) => r.c);
    }
    if (candidates.length > 1) {
      const names = candidates.map((c) => (c.refName !== undefined ? quote(c.refName) : `${c.descriptor.digest} (no ref)`));
      throw new RuntimeError('image', `${where}: holds ${candidates.length} images (${[...new Set(names)].join(', ')}); name one with a ref`);
    }
    return candidates[0] as Candidate;
  }

  #readImage(chosen: Candidate): ResolvedImage {
    const display = this.#tree.display;
    const descriptor = chosen.descriptor;
    if (!MANIFEST_TYPES.includes(descriptor.mediaType)) {
      throw new RuntimeError('image', `${display}: manifest ${descriptor.digest}: media type ${quote(descriptor.mediaType)} is not an image manifest (expected ${MANIFEST_TYPES.join(' or ')})`);
    }
    const doc = this.#readDocument(descriptor, 'manifest');
    const manifest: ImageManifest = this.#validators.manifest(doc.value, doc.where);
    if (manifest.mediaType !== undefined && !MANIFEST_TYPES.includes(manifest.mediaType)) {
      throw new RuntimeError('image', `${doc.where}: mediaType ${quote(manifest.mediaType)} is not an image manifest (expected ${MANIFEST_TYPES.join(' or ')})`);
    }
    if (!CONFIG_TYPES.includes(manifest.config.mediaType)) {
      throw new RuntimeError('image', `${doc.where}: config.mediaType ${quote(manifest.config.mediaType)} is not an image configuration (expected ${CONFIG_TYPES.join(' or ')})`);
    }
    for (const [i, layer] of manifest.layers.entries()) {
      if (!LAYER_TYPES.includes(layer.mediaType)) {
        throw new RuntimeError('image', `${doc.where}: layers[${i}].mediaType ${quote(layer.mediaType)} is not a supported layer type (expected one of ${LAYER_TYPES.join(', ')})`);
      }
      parseDigest(layer.digest, `${doc.where}: layers[${i}]`);
      checkSize(layer.size, `${doc.where}: layers[${i}]`);
    }
    const configDoc = this.#readDocument(manifest.config, 'config');
    const config: ImageConfig = this.#validators.config(configDoc.value, configDoc.where);
    const diffIds = config.rootfs.diff_ids.length;
    if (diffIds !== manifest.layers.length) {
      throw new RuntimeError('image', `${doc.where}: lists ${manifest.layers.length} layers but its configuration's rootfs.diff_ids has ${diffIds}`);
    }
    const image: ResolvedImage = { manifestDigest: descriptor.digest, manifestBytes: doc.bytes, manifest, config, configDigest: manifest.config.digest };
    if (chosen.refName !== undefined) image.refName = chosen.refName;
    return image;
  }
}
