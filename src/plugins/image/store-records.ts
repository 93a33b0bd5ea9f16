import { RuntimeError } from '../../errors';
import { checkSize, looksLikeDigest, parseDigest, quote } from './digest';
import { normalizeImageName } from './image-name';

/**
 * The image store's two kinds of record file (layout: src/plugins/image/image-store.ts): one per image,
 * `images/<manifest hex>.json`, and the ref table `refs.json`. Here: their shapes, how they are checked when read
 * (a record is trusted only once it parsed and every field is of the right kind) and written, and what a ref is.
 */

/** A layer of a stored image: its blob as received (`digest`, `mediaType`, `size`) and its DiffID. */
export interface StoredLayer {
  digest: string;
  diffId: string;
  mediaType: string;
  size: number;
}

/** `images/<manifest hex>.json`. */
export interface ImageRecord {
  /** The digest of the manifest blob the store holds (`blobs/sha256/<hex>`). */
  manifestDigest: string;
  manifestMediaType: string;
  manifestSize: number;
  /** The configuration blob's digest: the image ID. */
  configDigest: string;
  /** Bottom layer first, as in the manifest. */
  layers: StoredLayer[];
  /** The configuration's `created`, when it has one. */
  created?: string;
  /** When the image was last imported (ISO 8601). */
  loadedAt: string;
}

/** An image as the store reports it: its record and the refs naming it (normalised, sorted). */
export interface StoredImage extends ImageRecord {
  refs: string[];
}

/** The part of a digest after `algorithm:`: file names in the store. */
export function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const DIGEST = '[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}';
/** docker's reference grammar (distribution/reference), on the fully qualified form. */
const REFERENCE = new RegExp(`^${DOMAIN}/${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`);
/** A name docker refuses because it would read as an image ID. */
const ID_LIKE = /^[a-f0-9]{64}$/;
const NAME_LIMIT = 255;

/**
 * A ref as the store keeps it: the fully qualified name (`alpine` → `docker.io/library/alpine:latest`), so that
 * `alpine` and `docker.io/library/alpine:latest` are one ref. Throws naming the ref when it is not an image name.
 */
export function normalizeRef(ref: string): string {
  const bare = ref.split('@')[0]!.replace(/:[^/:]*$/, '');
  if (ref === '' || ID_LIKE.test(bare) || looksLikeDigest(ref)) {
    throw new RuntimeError('image', `ref ${quote(ref)}: not an image name (expected [registry/]name[:tag]; 64 hex digits or a digest read as an image ID)`);
  }
  const normalized = normalizeImageName(ref);
  const name = normalized.split('@')[0]!.replace(/:[^/:]*$/, '');
  if (!REFERENCE.test(normalized) || name.length > NAME_LIMIT) {
    throw new RuntimeError('image', `ref ${quote(ref)}: not a valid image name (expected [registry/]name[:tag] with a lowercase name of at most ${NAME_LIMIT} characters)`);
  }
  return normalized;
}

/** Whether `text` is a ref the store could hold (no error: `resolve` then tries it as an ID). */
export function isRef(text: string): boolean {
  try {
    normalizeRef(text);
    return true;
  } catch {
    return false;
  }
}

function fail(where: string, field: string, value: unknown, expected: string): never {
  throw new RuntimeError('image', `${where}: ${field} ${quote(value)} is not ${expected}`);
}

function digestField(where: string, field: string, value: unknown): string {
  parseDigest(value, `${where}: ${field}`);
  return value as string;
}

function stringField(where: string, field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') fail(where, field, value, 'a non-empty string');
  return value;
}

function parseJson(text: string, where: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new RuntimeError('image', `${where}: not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail(where, 'the document', doc, 'an object');
  return doc as Record<string, unknown>;
}

/**
 * Reads `images/<hex>.json`; `where` is its path (every error names it, the field and the value). Fields it does
 * not know are ignored: records written before tsrun had every source's manifest bytes may carry
 * `sourceManifestDigest` (the source's digest of a manifest the store kept re-serialised), which is no longer used.
 */
export function parseImageRecord(text: string, where: string): ImageRecord {
  const doc = parseJson(text, where);
  const record: ImageRecord = {
    manifestDigest: digestField(where, 'manifestDigest', doc['manifestDigest']),
    manifestMediaType: stringField(where, 'manifestMediaType', doc['manifestMediaType']),
    manifestSize: checkSize(doc['manifestSize'], `${where}: manifestSize`),
    configDigest: digestField(where, 'configDigest', doc['configDigest']),
    layers: [],
    loadedAt: stringField(where, 'loadedAt', doc['loadedAt']),
  };
  if (doc['created'] !== undefined) record.created = stringField(where, 'created', doc['created']);
  const layers = doc['layers'];
  if (!Array.isArray(layers)) fail(where, 'layers', layers, 'a list of layers');
  for (const [i, layer] of layers.entries()) {
    if (typeof layer !== 'object' || layer === null || Array.isArray(layer)) fail(where, `layers[${i}]`, layer, 'an object');
    const l = layer as Record<string, unknown>;
    record.layers.push({
      digest: digestField(where, `layers[${i}].digest`, l['digest']),
      diffId: digestField(where, `layers[${i}].diffId`, l['diffId']),
      mediaType: stringField(where, `layers[${i}].mediaType`, l['mediaType']),
      size: checkSize(l['size'], `${where}: layers[${i}].size`),
    });
  }
  return record;
}

export function serializeImageRecord(record: ImageRecord): string {
  const { manifestDigest, manifestMediaType, manifestSize, configDigest, layers, created, loadedAt } = record;
  return `${JSON.stringify({
    manifestDigest, manifestMediaType, manifestSize, configDigest,
    layers: layers.map(({ digest, diffId, mediaType, size }) => ({ digest, diffId, mediaType, size })),
    created, loadedAt,
  }, null, 2)}\n`;
}

/** `refs.json`: `{"refs": {"<normalised ref>": "<manifest digest>"}}`; a missing file is an empty table. */
export function parseRefs(text: string | undefined, where: string): Map<string, string> {
  const refs = new Map<string, string>();
  if (text === undefined) return refs;
  const table = parseJson(text, where)['refs'];
  if (typeof table !== 'object' || table === null || Array.isArray(table)) fail(where, 'refs', table, 'an object of ref → manifest digest');
  for (const [ref, digest] of Object.entries(table)) refs.set(ref, digestField(where, `refs[${quote(ref)}]`, digest));
  return refs;
}

export function serializeRefs(refs: ReadonlyMap<string, string>): string {
  const sorted = [...refs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${JSON.stringify({ refs: Object.fromEntries(sorted) }, null, 2)}\n`;
}
