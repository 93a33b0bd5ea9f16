import { Readable } from 'node:stream';
import { RuntimeError } from '../../../errors';
import { MediaTypes, type Descriptor, type ImageConfig, type ImageManifest, type Platform } from '../../../spec/image-types';
import { checkSize, parseDigest, quote, verifyBlobStream } from '../digest';
import type { ImageDocumentValidators, ImageSource, ResolvedImage, TargetPlatform } from '../image-source';
import { LAYER_TYPES } from '../oci-layout';
import { formatReference, parseReference, type ImageReference } from './reference';
import type { ManifestResponse, RegistryClient } from './registry-client';

/**
 * An image in a registry, opened as an ImageSource (src/plugins/image/image-source.ts) so the store imports it
 * like an image layout or an archive.
 *
 * The manifest named by the reference may be an image index / Docker manifest list: the entry for the target
 * platform is picked (same os and architecture; the same variant first, then an entry without one, then any
 * variant when the target names none; on a tie the index's order decides, as docker and containerd do) and
 * fetched by digest. Every document is checked against its digest (ManifestResponse) and its descriptor's size,
 * then against the validators.
 *
 * Docker schema-2 documents need no translation: tsrun's manifest and index schemas do not pin `mediaType`
 * (src/spec/schema-image/image-manifest-schema.json), a Docker manifest has the same fields as an OCI one
 * (schemaVersion 2, config and layers descriptors), and a Docker image configuration is a superset of the OCI
 * one. So they are validated as they are, and the ResolvedImage keeps the Docker media types; LAYER_TYPES lists
 * Docker's layer types beside OCI's.
 *
 * The manifest's bytes as the registry sent them are the ResolvedImage's manifestBytes (so pushImage copies the
 * image to another registry unchanged). The manifest and configuration are held in memory and served by openBlob
 * from there, byte for byte; layers stream from the registry.
 */

export interface RegistryImageOptions {
  /** The platform to pick when the reference names an index. */
  platform: TargetPlatform;
  validators: ImageDocumentValidators;
}

const INDEX_TYPES: readonly string[] = [MediaTypes.index, MediaTypes.dockerManifestList];
const MANIFEST_TYPES: readonly string[] = [MediaTypes.manifest, MediaTypes.dockerManifest];
const CONFIG_TYPES: readonly string[] = [MediaTypes.config, MediaTypes.dockerConfig];
/** How many indexes deep a manifest may be below the reference. */
const MAX_INDEX_DEPTH = 4;

function platformText(platform: { os: string; architecture: string; variant?: string }): string {
  return `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
}

/** How well an entry's platform fits: -1 not at all, 2 same variant (or none on both), 1 entry without one, 0 any. */
function platformFit(platform: Platform | undefined, target: TargetPlatform): number {
  if (platform === undefined || platform.os !== target.os || platform.architecture !== target.architecture) return -1;
  if (platform.variant === target.variant) return 2;
  if (platform.variant === undefined) return 1;
  return target.variant === undefined ? 0 : -1;
}

/** The index entry for `target` (see the module comment). */
export function chooseIndexEntry(manifests: readonly Descriptor[], target: TargetPlatform, where: string): Descriptor {
  const entries = manifests.filter((d) => MANIFEST_TYPES.includes(d.mediaType) || INDEX_TYPES.includes(d.mediaType));
  if (entries.length === 0) {
    throw new RuntimeError('image', `${where}: the index lists no image manifests (expected entries of type ${MANIFEST_TYPES.join(' or ')})`);
  }
  const only = entries.length === 1 ? entries[0] : undefined;
  if (only !== undefined && only.platform === undefined) return only;
  let best: Descriptor | undefined;
  let bestFit = -1;
  for (const entry of entries) {
    const fit = platformFit(entry.platform, target);
    if (fit > bestFit) {
      best = entry;
      bestFit = fit;
    }
  }
  if (best === undefined) {
    const offered = [...new Set(entries.flatMap((d) => (d.platform ? [platformText(d.platform)] : [])))];
    throw new RuntimeError('image', `${where}: no manifest for ${platformText(target)} (the index has ${offered.length === 0 ? 'no platforms' : offered.join(', ')})`);
  }
  return best;
}

/** What a fetched document is: by its Content-Type, else its own mediaType field, else its shape. */
function documentKind(fetched: ManifestResponse, doc: unknown, where: string): 'index' | 'manifest' {
  const own = typeof doc === 'object' && doc !== null ? (doc as { mediaType?: unknown }).mediaType : undefined;
  const known = (type: unknown): type is string => typeof type === 'string' && (INDEX_TYPES.includes(type) || MANIFEST_TYPES.includes(type));
  if (known(fetched.mediaType) && known(own) && own !== fetched.mediaType) {
    throw new RuntimeError('image', `${where}: the registry sent it as ${quote(fetched.mediaType)} but its mediaType is ${quote(own)}`);
  }
  const type = known(fetched.mediaType) ? fetched.mediaType : known(own) ? own : undefined;
  if (type !== undefined) return INDEX_TYPES.includes(type) ? 'index' : 'manifest';
  if (typeof own === 'string' || (fetched.mediaType !== '' && fetched.mediaType !== 'application/json')) {
    const shown = typeof own === 'string' ? own : fetched.mediaType;
    throw new RuntimeError('image', `${where}: media type ${quote(shown)} is not an image manifest or index (expected one of ${[...MANIFEST_TYPES, ...INDEX_TYPES].join(', ')})`);
  }
  const shape = doc as { manifests?: unknown; config?: unknown } | null;
  return shape !== null && typeof shape === 'object' && Array.isArray(shape.manifests) ? 'index' : 'manifest';
}

function checkManifest(manifest: ImageManifest, where: string): void {
  if (manifest.mediaType !== undefined && !MANIFEST_TYPES.includes(manifest.mediaType)) {
    throw new RuntimeError('image', `${where}: mediaType ${quote(manifest.mediaType)} is not an image manifest (expected ${MANIFEST_TYPES.join(' or ')})`);
  }
  if (!CONFIG_TYPES.includes(manifest.config.mediaType)) {
    throw new RuntimeError('image', `${where}: config.mediaType ${quote(manifest.config.mediaType)} is not an image configuration (expected ${CONFIG_TYPES.join(' or ')})`);
  }
  parseDigest(manifest.config.digest, `${where}: config`);
  checkSize(manifest.config.size, `${where}: config`);
  for (const [i, layer] of manifest.layers.entries()) {
    if (!LAYER_TYPES.includes(layer.mediaType)) {
      throw new RuntimeError('image', `${where}: layers[${i}].mediaType ${quote(layer.mediaType)} is not a supported layer type (expected one of ${LAYER_TYPES.join(', ')})`);
    }
    parseDigest(layer.digest, `${where}: layers[${i}]`);
    checkSize(layer.size, `${where}: layers[${i}]`);
  }
}

/** A fetched document as JSON; a syntax error is one line naming it. */
function parseDocument(bytes: Buffer, where: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (error) {
    throw new RuntimeError('image', `${where}: not valid JSON: ${(error as Error).message.replace(/\s+/g, ' ')}`, { cause: error });
  }
}

/** Resolves `reference` in the registry to one image; its blobs are read through `client`. */
export async function openRegistryImage(client: RegistryClient, reference: ImageReference | string, options: RegistryImageOptions): Promise<ImageSource> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const { validators } = options;
  const name = `${ref.registry}/${ref.repository}`;
  let fetched = await client.getManifest(ref);
  let manifest: ImageManifest | undefined;
  for (let depth = 0; manifest === undefined; depth++) {
    const where = `${name}@${fetched.digest}`;
    const doc = parseDocument(fetched.bytes, where);
    if (documentKind(fetched, doc, where) === 'manifest') {
      manifest = validators.manifest(doc, where);
      checkManifest(manifest, where);
      break;
    }
    if (depth >= MAX_INDEX_DEPTH) throw new RuntimeError('image', `${where}: indexes nest more than ${MAX_INDEX_DEPTH} deep`);
    const index = validators.index(doc, where);
    const entry = chooseIndexEntry(index.manifests, options.platform, where);
    const size = checkSize(entry.size, `${where}: manifest ${entry.digest}`);
    fetched = await client.getManifest(ref, entry.digest);
    if (fetched.bytes.length !== size) {
      throw new RuntimeError('image', `${name}@${entry.digest}: expected ${size} bytes (the index's descriptor), got ${fetched.bytes.length}`);
    }
  }
  const manifestBytes = fetched.bytes;
  const manifestDigest = fetched.digest;

  const configDigest = manifest.config.digest;
  const configBytes = await client.readBlob(ref, manifest.config);
  const configWhere = `${name}@${configDigest}`;
  const config: ImageConfig = validators.config(parseDocument(configBytes, configWhere), configWhere);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new RuntimeError('image', `${name}@${manifestDigest}: lists ${manifest.layers.length} layers but its configuration's rootfs.diff_ids has ${config.rootfs.diff_ids.length}`);
  }
  const image: ResolvedImage = { manifestDigest, manifestBytes, manifest, config, configDigest, refName: formatReference(ref) };

  const held = new Map<string, Buffer>([[manifestDigest, manifestBytes], [configDigest, configBytes]]);
  const streams = new Set<Readable>();
  let closed = false;
  return {
    image,
    openBlob(descriptor: Descriptor): Readable {
      if (closed) throw new RuntimeError('image', `${name}: the image source is closed`);
      const bytes = held.get(descriptor.digest);
      if (bytes !== undefined) return verifyBlobStream(Readable.from([bytes]), descriptor);
      const stream = client.openBlob(ref, descriptor);
      streams.add(stream);
      stream.on('close', () => streams.delete(stream));
      return stream;
    },
    close(): void {
      closed = true;
      for (const stream of streams) stream.destroy();
      streams.clear();
    },
  };
}
