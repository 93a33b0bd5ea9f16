import { ConfigError } from '../errors';
import type { ImageDocumentValidators } from '../plugins/image/image-source';
import {
  validateImageConfig,
  validateImageIndex,
  validateImageLayout,
  validateImageManifest,
  type CompiledValidator,
} from './generated/image-validators';
import type { ImageConfig, ImageIndex, ImageLayoutFile, ImageManifest } from './image-types';
import { describeSchemaErrors } from './validate';

/**
 * Checks of the OCI image-spec v1.1 documents tsrun reads (oci-layout, index.json and other indexes, manifests,
 * image configurations) against tsrun's own schemas (src/spec/schema-image, compiled ahead of time by
 * scripts/compile-schemas.mjs into their own module, apart from the runtime-spec validators). A failure is one
 * ConfigError line phrased like config.json's: `<where>: <JSON pointer> <expectation>, got <value>`, where
 * `where` names the file (`index.json`, `blobs/sha256/<hex>`, ...).
 */

/** Parse an image document. Plain JSON.parse: a syntax error becomes `<where>: / is not valid JSON: <reason>`. */
export function parseImageJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError('', `is not valid JSON: ${reason.replace(/\s+/g, ' ').trim()}`, { source: where });
  }
}

function check(validator: CompiledValidator, doc: unknown, where: string): void {
  if (validator(doc)) return;
  const { pointer, message } = describeSchemaErrors(validator.errors ?? [], doc);
  throw new ConfigError(pointer, message, { source: where });
}

/** The `oci-layout` file of an image layout. */
export function validateImageLayoutDocument(doc: unknown, where: string): ImageLayoutFile {
  check(validateImageLayout, doc, where);
  return doc as ImageLayoutFile;
}

/** An image index (an image layout's index.json, or a blob it names). */
export function validateImageIndexDocument(doc: unknown, where: string): ImageIndex {
  check(validateImageIndex, doc, where);
  return doc as ImageIndex;
}

export function validateImageManifestDocument(doc: unknown, where: string): ImageManifest {
  check(validateImageManifest, doc, where);
  return doc as ImageManifest;
}

/** Fields of an image configuration config.md requires: a null there is an error, not an absence. */
const REQUIRED_CONFIG_FIELDS = new Set(['architecture', 'os', 'rootfs']);

/** `value` without its null fields (except `keep`); `value` itself when it has none. */
function withoutNullFields(value: Record<string, unknown>, keep: ReadonlySet<string> = new Set()): Record<string, unknown> {
  const entries = Object.entries(value);
  if (!entries.some(([key, field]) => field === null && !keep.has(key))) return value;
  return Object.fromEntries(entries.filter(([key, field]) => field !== null || keep.has(key)));
}

/**
 * config.md: "Any OPTIONAL field MAY also be set to null, which is equivalent to being absent" — and Go-built
 * images do that (`"Env": null`, `"config": null`). The official schema allows null only on four fields, so the
 * schema (kept equal to it) checks a copy with those nulls removed: at the top, in `config` and in history entries.
 */
export function dropOptionalNulls(doc: unknown): unknown {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return doc;
  const top = withoutNullFields(doc as Record<string, unknown>, REQUIRED_CONFIG_FIELDS);
  const config = top.config;
  const cleanConfig = config !== null && typeof config === 'object' && !Array.isArray(config) ? withoutNullFields(config as Record<string, unknown>) : config;
  const history = Array.isArray(top.history)
    ? top.history.map((entry: unknown) => (entry !== null && typeof entry === 'object' && !Array.isArray(entry) ? withoutNullFields(entry as Record<string, unknown>) : entry))
    : top.history;
  const historyChanged = Array.isArray(history) && (history as unknown[]).some((entry, i) => entry !== (top.history as unknown[])[i]);
  if (top === doc && cleanConfig === config && !historyChanged) return doc;
  return { ...top, ...(cleanConfig === config ? {} : { config: cleanConfig }), ...(historyChanged ? { history } : {}) };
}

export function validateImageConfigDocument(doc: unknown, where: string): ImageConfig {
  const normalised = dropOptionalNulls(doc);
  check(validateImageConfig, normalised, where);
  return normalised as ImageConfig;
}

/** The schema checks image sources apply to what they read (src/plugins/image/image-source.ts). */
export const imageDocumentValidators: ImageDocumentValidators = {
  layout: validateImageLayoutDocument,
  index: validateImageIndexDocument,
  manifest: validateImageManifestDocument,
  config: validateImageConfigDocument,
};
