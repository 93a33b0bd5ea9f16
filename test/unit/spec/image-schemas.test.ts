// tsrun's image-spec v1.1.1 schemas (src/spec/schema-image, compiled into src/spec/generated/image-validators.js):
// a corpus of good and bad documents of every kind, each judged by tsrun's compiled validators and by the OFFICIAL
// image-spec v1.1.1 schemas (draft-04, compiled here with ajv-draft-04). The verdicts must agree, except for the
// cases marked `stricter` (the official schema accepts what the spec's prose forbids, and tsrun refuses it) and
// `looser` (the spec's prose allows what the official schema refuses). Each such case names its reason in STRICTER
// or LOOSER below.
import Ajv04 from 'ajv-draft-04';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const OFFICIAL_SCHEMA = path.resolve(ROOT, '../shared/oci-spec/image-spec-v1.1.1/schema');

type ImageValidateModule = typeof import('../../../src/spec/image-validate');
type GeneratedModule = typeof import('../../../src/spec/generated/image-validators');

/** Compile the schemas first, so the tests never run against stale generated validators. */
async function freshValidators(): Promise<{ v: ImageValidateModule; generated: GeneratedModule }> {
  const script = pathToFileURL(path.join(ROOT, 'scripts', 'compile-schemas.mjs')).href;
  const { compileSchemas } = (await import(script)) as { compileSchemas(root: string): Promise<string[]> };
  await compileSchemas(ROOT);
  return { v: await import('../../../src/spec/image-validate'), generated: await import('../../../src/spec/generated/image-validators') };
}

// ---------------------------------------------------------------------------------------------------------------
// The formats the official schemas name. ajv-formats is not installed, so the test supplies them, written from the
// RFCs independently of tsrun's patterns: `date-time` is RFC 3339 section 5.6 (day checked against the month and
// leap years; a leap second 60 is allowed at any time), `uri` an absolute URI of RFC 3986 (IP literals checked for
// their characters only).

function rfc3339DateTime(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/.exec(value);
  if (m === null) return false;
  const [year, month, day, hour, minute, second, offsetHour = 0, offsetMinute = 0] = m.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  if (month === undefined || month < 1 || month > 12 || day === undefined || day < 1) return false;
  const lastDay = new Date(0);
  lastDay.setUTCFullYear(year as number, month, 0); // day 0 of the next month: the last day of this one
  if (day > lastDay.getUTCDate()) return false;
  return (hour as number) <= 23 && (minute as number) <= 59 && (second as number) <= 60 && offsetHour <= 23 && offsetMinute <= 59;
}

const UNRESERVED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~';
const SUB_DELIMS = "!$&'()*+,;=";
const PCHAR = `${UNRESERVED}${SUB_DELIMS}:@`;

/** Every character is in `allowed` or starts a %XX escape. */
function onlyChars(text: string, allowed: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    if (text[i] === '%') {
      if (!/^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) return false;
      i += 2;
    } else if (!allowed.includes(text[i] as string)) {
      return false;
    }
  }
  return true;
}

function rfc3986Uri(value: string): boolean {
  // RFC 3986 appendix B splits any string; the components are then checked against section 3.
  const parts = /^(?:([^:/?#]+):)?(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/s.exec(value);
  if (parts === null) return false;
  const [, scheme, authority, uriPath = '', query, fragment] = parts;
  if (scheme === undefined || !/^[A-Za-z][A-Za-z0-9+.-]*$/.test(scheme)) return false;
  if (authority !== undefined) {
    const at = authority.indexOf('@');
    if (at >= 0 && !onlyChars(authority.slice(0, at), `${UNRESERVED}${SUB_DELIMS}:`)) return false;
    const hostPort = authority.slice(at + 1);
    let host = hostPort;
    let port = '';
    if (hostPort.startsWith('[')) {
      const close = hostPort.indexOf(']');
      if (close < 0) return false;
      host = hostPort.slice(0, close + 1);
      port = hostPort.slice(close + 1);
      if (!/^\[(?:[0-9A-Fa-f:.]+|[Vv][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\]$/.test(host)) return false;
    } else {
      const colon = hostPort.lastIndexOf(':');
      if (colon >= 0) [host, port] = [hostPort.slice(0, colon), hostPort.slice(colon)];
      if (!onlyChars(host, `${UNRESERVED}${SUB_DELIMS}`)) return false;
    }
    if (port !== '' && !/^:\d*$/.test(port)) return false;
    if (uriPath !== '' && !uriPath.startsWith('/')) return false;
  } else if (uriPath.startsWith('//')) {
    return false;
  }
  if (!onlyChars(uriPath, `${PCHAR}/`)) return false;
  return [query, fragment].every((part) => part === undefined || onlyChars(part, `${PCHAR}/?`));
}

type Kind = 'layout' | 'index' | 'manifest' | 'config' | 'descriptor';

const OFFICIAL_FILES: Record<Kind, string> = {
  layout: 'image-layout-schema.json',
  index: 'image-index-schema.json',
  manifest: 'image-manifest-schema.json',
  config: 'config-schema.json',
  descriptor: 'content-descriptor.json',
};

/**
 * The official schemas refer to each other by file name relative to their ids, which differ in their paths
 * (https://opencontainers.org/schema/descriptor, .../schema/image/index, nested ids such as
 * .../image/descriptor/annotations), so the same file is asked for under several URLs. Like image-spec's own Go
 * loader, every reference is answered with the file of that name (its top-level id dropped, so it registers under
 * the URL it was asked for).
 */
async function officialValidators(): Promise<Record<Kind, (doc: unknown) => boolean>> {
  const files = new Map(
    readdirSync(OFFICIAL_SCHEMA)
      .filter((n) => n.endsWith('.json'))
      .map((n) => [n, JSON.parse(readFileSync(path.join(OFFICIAL_SCHEMA, n), 'utf8')) as Record<string, unknown>]),
  );
  const ajv = new Ajv04({
    strict: false,
    allErrors: false,
    loadSchema: async (uri: string) => {
      const file = files.get(path.posix.basename(new URL(uri).pathname));
      if (file === undefined) throw new Error(`official schema ${uri} not found`);
      const { id: _id, ...schema } = structuredClone(file);
      return schema;
    },
  });
  ajv.addFormat('date-time', rfc3339DateTime);
  ajv.addFormat('uri', rfc3986Uri);
  const out: Partial<Record<Kind, (doc: unknown) => boolean>> = {};
  for (const [kind, name] of Object.entries(OFFICIAL_FILES) as Array<[Kind, string]>) {
    const validate = await ajv.compileAsync(files.get(name) as object);
    out[kind] = (doc) => validate(doc) === true;
  }
  return out as Record<Kind, (doc: unknown) => boolean>;
}

// ---------------------------------------------------------------------------------------------------------------
// The corpus.

/** Where tsrun refuses what the official schema accepts: each the spec's prose (a MUST) or the types tsrun trusts. */
const STRICTER = {
  'registered-digest':
    'descriptor.md: with algorithm sha256 the encoded part MUST be 64 lowercase hex digits, with sha512 128 ([A-F] MUST NOT be used); the official pattern checks only the general grammar (also for rootfs.diff_ids)',
  'size-non-negative': 'descriptor.md: size is the number of bytes of the content; the official int64 admits negative numbers',
  'data-base64':
    'descriptor.md: data MUST be Base 64 (RFC 4648 section 4); the official base64 definition is only "type: string" (its "media" keyword does not validate)',
  'string-map-values':
    'annotations.md: annotation keys and values MUST be strings (so are Labels); the official patternProperties ".{1,}" skips the empty key, whose value may then be anything',
  'object-map-values':
    "config.md: ExposedPorts and Volumes are Go's map[string]struct{}, every value an object; the official pattern \".{1,}\" skips the empty key",
  'descriptor-platform':
    'the official content-descriptor.json does not list platform (only index entries do), so any value passes there; tsrun checks platform wherever a descriptor has one (image-types Descriptor.platform)',
  'index-entry-descriptor':
    'image-index.md: each entry of manifests is a descriptor; the official index schema lists its own subset of descriptor fields and so does not check artifactType or data there',
  'platform-features': 'platform.features is RESERVED; when present tsrun still wants the array of strings image-types declares',
  'diff-ids-digests': 'config.md: rootfs.diff_ids are the DiffIDs, digests of the layers; the official schema takes any strings',
} as const;

type StricterId = keyof typeof STRICTER;

/** Where tsrun accepts what the official schema refuses: each what the spec's prose allows. */
const LOOSER = {
  'optional-null':
    'config.md: "Any OPTIONAL field MAY also be set to null, which is equivalent to being absent"; the official schema allows null only on Entrypoint, Cmd, Volumes and Labels (Go-built images write "Env": null)',
} as const;

type LooserId = keyof typeof LOOSER;

interface Case {
  name: string;
  kind: Kind;
  doc: unknown;
  /** tsrun's verdict. */
  valid: boolean;
  /** Set on invalid cases the official schema accepts: the reason, a key of STRICTER. */
  stricter?: StricterId;
  /** Set on valid cases the official schema refuses: the reason, a key of LOOSER. */
  looser?: LooserId;
}

const SHA256_EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SHA256_CURLY = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'; // of "{}"
const SHA512_EMPTY =
  'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';
const HEX64 = SHA256_EMPTY.slice('sha256:'.length);

type Obj = Record<string, unknown>;

const layer = (extra: Obj = {}): Obj => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: SHA256_EMPTY, size: 32654, ...extra });
const configDescriptor = (extra: Obj = {}): Obj => ({ mediaType: 'application/vnd.oci.image.config.v1+json', digest: SHA256_CURLY, size: 7023, ...extra });
const manifestEntry = (extra: Obj = {}): Obj => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: SHA256_EMPTY,
  size: 7143,
  platform: { architecture: 'amd64', os: 'linux' },
  ...extra,
});
/** A copy of `base` with `field` (a top-level key, or "a/b" one level down) set, or removed when value is REMOVE. */
const REMOVE = Symbol('remove');
function withField(base: Obj, field: string, value: unknown): Obj {
  const copy = structuredClone(base);
  const [first, second] = field.split('/') as [string, string | undefined];
  const target = second === undefined ? copy : (copy[first] as Obj);
  const key = second ?? first;
  if (value === REMOVE) delete target[key];
  else target[key] = value;
  return copy;
}

const MANIFEST: Obj = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDescriptor(), layers: [layer()] };
const INDEX: Obj = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [manifestEntry()] };
const CONFIG: Obj = {
  architecture: 'amd64',
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [SHA256_EMPTY] },
};
const EXEC: Obj = { ...CONFIG, config: { User: 'alice', Env: ['PATH=/usr/bin:/bin'], Cmd: ['sh'] } };

const descriptorCases: Case[] = [
  // good
  { name: 'minimal', kind: 'descriptor', doc: layer(), valid: true },
  { name: 'sha512 digest', kind: 'descriptor', doc: layer({ digest: SHA512_EMPTY }), valid: true },
  { name: 'unregistered algorithm with separators', kind: 'descriptor', doc: layer({ digest: 'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8' }), valid: true },
  { name: 'url-safe base64 encoded part', kind: 'descriptor', doc: layer({ digest: 'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564' }), valid: true },
  {
    name: 'every field',
    kind: 'descriptor',
    doc: layer({
      urls: ['https://example.com/blobs/1', 'http://[::1]:5000/v2/x/blobs/y?n=1#frag', 'urn:oci:layer'],
      annotations: { 'org.opencontainers.image.title': 'layer.tar.gz', empty: '' },
      data: 'eyJhIjoxfQ==',
      artifactType: 'application/vnd.example.sbom+json',
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    }),
    valid: true,
  },
  {
    name: 'URIs of other forms',
    kind: 'descriptor',
    doc: layer({ urls: ['https://user:pw@example.com:443/a/b;c=d?x=y&z#f', 'http://[v1.fe]/', 'file:///tmp/blob', 'mailto:a@example.com', 'x:', 'http://example.com/%41?'] }),
    valid: true,
  },
  { name: 'size 0 and empty data', kind: 'descriptor', doc: layer({ size: 0, data: '' }), valid: true },
  { name: 'size int64 max (JSON.parse makes 9223372036854775807 the double 2^63)', kind: 'descriptor', doc: layer({ size: 2 ** 63 }), valid: true },
  { name: 'unknown fields are ignored', kind: 'descriptor', doc: layer({ 'com.example.extra': { any: 1 } }), valid: true },
  { name: 'empty annotation key with a string value', kind: 'descriptor', doc: layer({ annotations: { '': 'x' } }), valid: true },
  { name: 'media type using every allowed character', kind: 'descriptor', doc: layer({ mediaType: 'Application/vnd.a!b#c$d&e^f_g.h+i-j' }), valid: true },
  { name: 'media type parts of 127 characters', kind: 'descriptor', doc: layer({ mediaType: `${'a'.repeat(127)}/${'b'.repeat(127)}` }), valid: true },
  // bad for both
  { name: 'not an object', kind: 'descriptor', doc: [layer()], valid: false },
  { name: 'missing mediaType', kind: 'descriptor', doc: withField(layer(), 'mediaType', REMOVE), valid: false },
  { name: 'missing digest', kind: 'descriptor', doc: withField(layer(), 'digest', REMOVE), valid: false },
  { name: 'missing size', kind: 'descriptor', doc: withField(layer(), 'size', REMOVE), valid: false },
  { name: 'size as a string', kind: 'descriptor', doc: layer({ size: '32654' }), valid: false },
  { name: 'size not an integer', kind: 'descriptor', doc: layer({ size: 1.5 }), valid: false },
  { name: 'size 2^64', kind: 'descriptor', doc: layer({ size: 2 ** 64 }), valid: false },
  { name: 'digest without colon', kind: 'descriptor', doc: layer({ digest: `sha256${HEX64}` }), valid: false },
  { name: 'digest with uppercase algorithm', kind: 'descriptor', doc: layer({ digest: `SHA256:${HEX64}` }), valid: false },
  { name: 'digest with empty encoded part', kind: 'descriptor', doc: layer({ digest: 'sha256:' }), valid: false },
  { name: 'digest algorithm ending in a separator', kind: 'descriptor', doc: layer({ digest: 'sha256+:abc' }), valid: false },
  { name: 'digest algorithm with a character outside [a-z0-9]', kind: 'descriptor', doc: layer({ digest: 'sha$256:abc' }), valid: false },
  { name: 'digest encoded part with "/"', kind: 'descriptor', doc: layer({ digest: 'foo:abc/def' }), valid: false },
  { name: 'digest as a number', kind: 'descriptor', doc: layer({ digest: 256 }), valid: false },
  { name: 'media type without subtype', kind: 'descriptor', doc: layer({ mediaType: 'application' }), valid: false },
  { name: 'media type with parameters', kind: 'descriptor', doc: layer({ mediaType: 'application/json; charset=utf-8' }), valid: false },
  { name: 'media type starting with "+"', kind: 'descriptor', doc: layer({ mediaType: '+application/json' }), valid: false },
  { name: 'media type subtype of 128 characters', kind: 'descriptor', doc: layer({ mediaType: `a/${'b'.repeat(128)}` }), valid: false },
  { name: 'urls not an array', kind: 'descriptor', doc: layer({ urls: 'https://example.com/blob' }), valid: false },
  { name: 'urls with a number', kind: 'descriptor', doc: layer({ urls: [1] }), valid: false },
  { name: 'urls with a relative reference', kind: 'descriptor', doc: layer({ urls: ['blobs/sha256/abc'] }), valid: false },
  { name: 'urls with a space', kind: 'descriptor', doc: layer({ urls: ['https://example.com/a blob'] }), valid: false },
  { name: 'urls with a bad percent escape', kind: 'descriptor', doc: layer({ urls: ['https://example.com/%zz'] }), valid: false },
  { name: 'urls with a space in the host', kind: 'descriptor', doc: layer({ urls: ['http://exa mple.com/'] }), valid: false },
  { name: 'urls with an unclosed IP literal', kind: 'descriptor', doc: layer({ urls: ['http://[::1/blob'] }), valid: false },
  { name: 'urls with a port that is not a number', kind: 'descriptor', doc: layer({ urls: ['http://example.com:http/'] }), valid: false },
  { name: 'urls with a second "#"', kind: 'descriptor', doc: layer({ urls: ['https://example.com/#a#b'] }), valid: false },
  { name: 'annotations as an array', kind: 'descriptor', doc: layer({ annotations: ['a=b'] }), valid: false },
  { name: 'annotation value null', kind: 'descriptor', doc: layer({ annotations: { 'com.example.key': null } }), valid: false },
  { name: 'artifactType not a media type', kind: 'descriptor', doc: layer({ artifactType: 'sbom' }), valid: false },
  { name: 'data as a number', kind: 'descriptor', doc: layer({ data: 42 }), valid: false },
  // tsrun stricter
  { name: 'sha256 digest in uppercase hex', kind: 'descriptor', doc: layer({ digest: `sha256:${HEX64.toUpperCase()}` }), valid: false, stricter: 'registered-digest' },
  { name: 'sha256 digest of 63 hex digits', kind: 'descriptor', doc: layer({ digest: SHA256_EMPTY.slice(0, -1) }), valid: false, stricter: 'registered-digest' },
  { name: 'sha256 digest of 65 hex digits', kind: 'descriptor', doc: layer({ digest: `${SHA256_EMPTY}0` }), valid: false, stricter: 'registered-digest' },
  { name: 'sha256 digest that is not hex', kind: 'descriptor', doc: layer({ digest: `sha256:${'z'.repeat(64)}` }), valid: false, stricter: 'registered-digest' },
  { name: 'sha512 digest of 64 hex digits', kind: 'descriptor', doc: layer({ digest: `sha512:${HEX64}` }), valid: false, stricter: 'registered-digest' },
  { name: 'negative size', kind: 'descriptor', doc: layer({ size: -1 }), valid: false, stricter: 'size-non-negative' },
  { name: 'data that is not base64', kind: 'descriptor', doc: layer({ data: 'not base64!' }), valid: false, stricter: 'data-base64' },
  { name: 'data without padding', kind: 'descriptor', doc: layer({ data: 'eyJhIjoxfQ' }), valid: false, stricter: 'data-base64' },
  { name: 'annotation with a number under the empty key', kind: 'descriptor', doc: layer({ annotations: { '': 5 } }), valid: false, stricter: 'string-map-values' },
  { name: 'platform without os on a layer', kind: 'descriptor', doc: layer({ platform: { architecture: 'amd64' } }), valid: false, stricter: 'descriptor-platform' },
];

const layoutCases: Case[] = [
  { name: 'version 1.0.0', kind: 'layout', doc: { imageLayoutVersion: '1.0.0' }, valid: true },
  { name: 'unknown fields are ignored', kind: 'layout', doc: { imageLayoutVersion: '1.0.0', 'com.example': true }, valid: true },
  { name: 'empty object', kind: 'layout', doc: {}, valid: false },
  { name: 'version 1.1.0', kind: 'layout', doc: { imageLayoutVersion: '1.1.0' }, valid: false },
  { name: 'version as a number', kind: 'layout', doc: { imageLayoutVersion: 1 }, valid: false },
  { name: 'not an object', kind: 'layout', doc: '1.0.0', valid: false },
];

const indexCases: Case[] = [
  { name: 'image layout index.json', kind: 'index', doc: INDEX, valid: true },
  { name: 'no manifests', kind: 'index', doc: { schemaVersion: 2, manifests: [] }, valid: true },
  {
    name: 'every field',
    kind: 'index',
    doc: {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      artifactType: 'application/vnd.example.bundle',
      manifests: [
        manifestEntry({
          platform: { architecture: 'arm', os: 'linux', variant: 'v7', 'os.version': '6.1', 'os.features': ['x'], features: ['y'] },
          annotations: { 'org.opencontainers.image.ref.name': 'v1.0' },
          urls: ['https://example.com/m'],
        }),
        manifestEntry({ mediaType: 'application/vnd.oci.image.index.v1+json', platform: undefined }),
        manifestEntry({ artifactType: 'application/vnd.example.sig', data: 'e30=' }),
      ],
      subject: manifestEntry(),
      annotations: { 'com.example.key1': 'value1' },
    },
    valid: true,
  },
  {
    name: 'Docker manifest list',
    kind: 'index',
    doc: { schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: [manifestEntry({ mediaType: 'application/vnd.docker.distribution.manifest.v2+json' })] },
    valid: true,
  },
  { name: 'schemaVersion 1', kind: 'index', doc: withField(INDEX, 'schemaVersion', 1), valid: false },
  { name: 'schemaVersion "2"', kind: 'index', doc: withField(INDEX, 'schemaVersion', '2'), valid: false },
  { name: 'schemaVersion 2.5', kind: 'index', doc: withField(INDEX, 'schemaVersion', 2.5), valid: false },
  { name: 'missing schemaVersion', kind: 'index', doc: withField(INDEX, 'schemaVersion', REMOVE), valid: false },
  { name: 'missing manifests', kind: 'index', doc: withField(INDEX, 'manifests', REMOVE), valid: false },
  { name: 'manifests not an array', kind: 'index', doc: withField(INDEX, 'manifests', manifestEntry()), valid: false },
  { name: 'entry without digest', kind: 'index', doc: withField(INDEX, 'manifests', [withField(manifestEntry(), 'digest', REMOVE)]), valid: false },
  { name: 'entry with size a string', kind: 'index', doc: withField(INDEX, 'manifests', [manifestEntry({ size: 'big' })]), valid: false },
  { name: 'platform without os', kind: 'index', doc: withField(INDEX, 'manifests', [manifestEntry({ platform: { architecture: 'amd64' } })]), valid: false },
  { name: 'platform without architecture', kind: 'index', doc: withField(INDEX, 'manifests', [manifestEntry({ platform: { os: 'linux' } })]), valid: false },
  { name: 'platform not an object', kind: 'index', doc: withField(INDEX, 'manifests', [manifestEntry({ platform: 'linux/amd64' })]), valid: false },
  { name: 'platform os.features not an array', kind: 'index', doc: withField(INDEX, 'manifests', [manifestEntry({ platform: { architecture: 'amd64', os: 'windows', 'os.features': 'win32k' } })]), valid: false },
  { name: 'platform variant a number', kind: 'index', doc: withField(INDEX, 'manifests', [manifestEntry({ platform: { architecture: 'arm', os: 'linux', variant: 7 } })]), valid: false },
  { name: 'annotation value a number', kind: 'index', doc: withField(INDEX, 'annotations', { 'com.example.n': 1 }), valid: false },
  { name: 'mediaType not a media type', kind: 'index', doc: withField(INDEX, 'mediaType', 'index'), valid: false },
  { name: 'subject without size', kind: 'index', doc: withField(INDEX, 'subject', withField(manifestEntry(), 'size', REMOVE)), valid: false },
  { name: 'not an object', kind: 'index', doc: null, valid: false },
  // tsrun stricter
  { name: 'entry with an invalid artifactType', kind: 'index', doc: withField(INDEX, 'manifests', [manifestEntry({ artifactType: 'signature' })]), valid: false, stricter: 'index-entry-descriptor' },
  { name: 'entry with data a number', kind: 'index', doc: withField(INDEX, 'manifests', [manifestEntry({ data: 5 })]), valid: false, stricter: 'index-entry-descriptor' },
  { name: 'entry with an uppercase sha256 digest', kind: 'index', doc: withField(INDEX, 'manifests', [manifestEntry({ digest: `sha256:${HEX64.toUpperCase()}` })]), valid: false, stricter: 'registered-digest' },
  { name: 'platform features not an array', kind: 'index', doc: withField(INDEX, 'manifests', [manifestEntry({ platform: { architecture: 'amd64', os: 'linux', features: 'sse4' } })]), valid: false, stricter: 'platform-features' },
];

const manifestCases: Case[] = [
  { name: 'image manifest', kind: 'manifest', doc: MANIFEST, valid: true },
  {
    name: 'artifact with the empty config, subject and annotations',
    kind: 'manifest',
    doc: {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.example.sbom.v1',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: SHA256_CURLY, size: 2, data: 'e30=' },
      layers: [layer({ mediaType: 'application/vnd.example.sbom.v1+json', annotations: { 'org.opencontainers.image.title': 'sbom.json' } })],
      subject: manifestEntry({ platform: undefined }),
      annotations: { 'org.opencontainers.image.created': '2024-01-31T12:00:00Z' },
    },
    valid: true,
  },
  {
    name: 'Docker schema 2 manifest, and a zstd layer with a sha512 digest',
    kind: 'manifest',
    doc: {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: configDescriptor({ mediaType: 'application/vnd.docker.container.image.v1+json' }),
      layers: [layer({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }), layer({ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: SHA512_EMPTY })],
    },
    valid: true,
  },
  { name: 'without mediaType', kind: 'manifest', doc: withField(MANIFEST, 'mediaType', REMOVE), valid: true },
  { name: 'missing config', kind: 'manifest', doc: withField(MANIFEST, 'config', REMOVE), valid: false },
  { name: 'missing layers', kind: 'manifest', doc: withField(MANIFEST, 'layers', REMOVE), valid: false },
  // manifest.md only says layers SHOULD have an entry; the official schema has minItems 1, and so has tsrun's.
  { name: 'empty layers', kind: 'manifest', doc: withField(MANIFEST, 'layers', []), valid: false },
  { name: 'layers not an array', kind: 'manifest', doc: withField(MANIFEST, 'layers', layer()), valid: false },
  { name: 'config not an object', kind: 'manifest', doc: withField(MANIFEST, 'config', SHA256_CURLY), valid: false },
  { name: 'schemaVersion 1', kind: 'manifest', doc: withField(MANIFEST, 'schemaVersion', 1), valid: false },
  { name: 'layer without mediaType', kind: 'manifest', doc: withField(MANIFEST, 'layers', [withField(layer(), 'mediaType', REMOVE)]), valid: false },
  { name: 'layer media type with a parameter', kind: 'manifest', doc: withField(MANIFEST, 'layers', [layer({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip;x=1' })]), valid: false },
  { name: 'annotation value a boolean', kind: 'manifest', doc: withField(MANIFEST, 'annotations', { 'com.example.flag': true }), valid: false },
  { name: 'config digest without algorithm', kind: 'manifest', doc: withField(MANIFEST, 'config', configDescriptor({ digest: `:${HEX64}` })), valid: false },
  // tsrun stricter
  { name: 'layer with a negative size', kind: 'manifest', doc: withField(MANIFEST, 'layers', [layer({ size: -32654 })]), valid: false, stricter: 'size-non-negative' },
  { name: 'config with a platform without os', kind: 'manifest', doc: withField(MANIFEST, 'config', configDescriptor({ platform: { architecture: 'amd64' } })), valid: false, stricter: 'descriptor-platform' },
  { name: 'config digest of 63 hex digits', kind: 'manifest', doc: withField(MANIFEST, 'config', configDescriptor({ digest: SHA256_CURLY.slice(0, -1) })), valid: false, stricter: 'registered-digest' },
];

const configCases: Case[] = [
  { name: 'minimal', kind: 'config', doc: CONFIG, valid: true },
  { name: 'no layers', kind: 'config', doc: withField(CONFIG, 'rootfs', { type: 'layers', diff_ids: [] }), valid: true },
  {
    name: 'every field',
    kind: 'config',
    doc: {
      created: '2015-10-31T22:22:56.015925234Z',
      author: 'Alyssa P. Hacker <alyspdev@example.com>',
      architecture: 'arm64',
      variant: 'v8',
      os: 'linux',
      'os.version': '6.1',
      'os.features': ['f'],
      config: {
        User: 'alice:staff',
        ExposedPorts: { '8080/tcp': {}, '53/udp': {}, '9000': {} },
        Env: ['PATH=/usr/local/bin:/usr/bin', 'FOO=oci'],
        Entrypoint: ['/bin/my-app'],
        Cmd: ['--foreground'],
        Volumes: { '/var/job-result-data': {}, '/var/log': {} },
        WorkingDir: '/home/alice',
        Labels: { 'com.example.project': 'x', empty: '' },
        StopSignal: 'SIGTERM',
        ArgsEscaped: false,
      },
      rootfs: { type: 'layers', diff_ids: [SHA256_EMPTY, SHA512_EMPTY] },
      history: [
        { created: '2015-10-31T22:22:54.690851953Z', created_by: '/bin/sh -c #(nop) ADD file:a3bc in /' },
        { created: '2015-10-31T22:22:55.613815829Z', created_by: '/bin/sh -c #(nop) CMD ["sh"]', empty_layer: true, author: 'a', comment: 'c' },
      ],
    },
    valid: true,
  },
  { name: 'Entrypoint, Cmd, Volumes and Labels null (Go nil)', kind: 'config', doc: withField(EXEC, 'config', { Entrypoint: null, Cmd: null, Volumes: null, Labels: null }), valid: true },
  { name: 'empty execution config', kind: 'config', doc: withField(EXEC, 'config', {}), valid: true },
  {
    name: 'Docker extras (container_config, Memory, Healthcheck, OnBuild)',
    kind: 'config',
    doc: {
      ...EXEC,
      docker_version: '24.0.7',
      container: 'abc',
      container_config: { Hostname: 'abc', Cmd: ['/bin/sh', '-c', '#(nop) CMD ["sh"]'], Env: null },
      config: { Env: ['PATH=/bin'], Memory: 2048, Healthcheck: { Test: ['CMD', 'true'] }, OnBuild: null, Image: 'sha256:abc' },
    },
    valid: true,
  },
  { name: 'created with an offset and lowercase t', kind: 'config', doc: withField(CONFIG, 'created', '2024-06-01t08:30:00.5+02:00'), valid: true },
  { name: 'created on a leap day', kind: 'config', doc: withField(CONFIG, 'created', '2024-02-29T00:00:00z'), valid: true },
  { name: 'created on 29 February 2000', kind: 'config', doc: withField(CONFIG, 'created', '2000-02-29T23:59:60Z'), valid: true },
  { name: 'missing rootfs', kind: 'config', doc: withField(CONFIG, 'rootfs', REMOVE), valid: false },
  { name: 'missing architecture', kind: 'config', doc: withField(CONFIG, 'architecture', REMOVE), valid: false },
  { name: 'missing os', kind: 'config', doc: withField(CONFIG, 'os', REMOVE), valid: false },
  { name: 'architecture a number', kind: 'config', doc: withField(CONFIG, 'architecture', 64), valid: false },
  { name: 'rootfs.type other than layers', kind: 'config', doc: withField(CONFIG, 'rootfs/type', 'layer'), valid: false },
  { name: 'rootfs without type', kind: 'config', doc: withField(CONFIG, 'rootfs/type', REMOVE), valid: false },
  { name: 'rootfs without diff_ids', kind: 'config', doc: withField(CONFIG, 'rootfs/diff_ids', REMOVE), valid: false },
  { name: 'diff_ids not an array', kind: 'config', doc: withField(CONFIG, 'rootfs/diff_ids', SHA256_EMPTY), valid: false },
  { name: 'diff_ids with a number', kind: 'config', doc: withField(CONFIG, 'rootfs/diff_ids', [1]), valid: false },
  // tsrun looser: config.md lets any OPTIONAL field be null; the official schema allows it only on four.
  { name: 'config null', kind: 'config', doc: withField(CONFIG, 'config', null), valid: true, looser: 'optional-null' },
  { name: 'Env null', kind: 'config', doc: withField(EXEC, 'config/Env', null), valid: true, looser: 'optional-null' },
  { name: 'created null', kind: 'config', doc: withField(CONFIG, 'created', null), valid: true, looser: 'optional-null' },
  { name: 'architecture null', kind: 'config', doc: withField(CONFIG, 'architecture', null), valid: false },
  { name: 'Env with a number', kind: 'config', doc: withField(EXEC, 'config/Env', ['A=1', 2]), valid: false },
  { name: 'Entrypoint a string', kind: 'config', doc: withField(EXEC, 'config/Entrypoint', '/bin/sh -c'), valid: false },
  { name: 'Cmd with a number', kind: 'config', doc: withField(EXEC, 'config/Cmd', [1]), valid: false },
  { name: 'ExposedPorts an array', kind: 'config', doc: withField(EXEC, 'config/ExposedPorts', ['80/tcp']), valid: false },
  { name: 'ExposedPorts value a string', kind: 'config', doc: withField(EXEC, 'config/ExposedPorts', { '80/tcp': 'yes' }), valid: false },
  { name: 'Volumes an array', kind: 'config', doc: withField(EXEC, 'config/Volumes', ['/data']), valid: false },
  { name: 'Labels value a number', kind: 'config', doc: withField(EXEC, 'config/Labels', { version: 2 }), valid: false },
  { name: 'User a number', kind: 'config', doc: withField(EXEC, 'config/User', 0), valid: false },
  { name: 'StopSignal a number', kind: 'config', doc: withField(EXEC, 'config/StopSignal', 15), valid: false },
  { name: 'ArgsEscaped a string', kind: 'config', doc: withField(EXEC, 'config/ArgsEscaped', 'true'), valid: false },
  { name: 'os.features a string', kind: 'config', doc: withField(CONFIG, 'os.features', 'win32k'), valid: false },
  { name: 'created not a date', kind: 'config', doc: withField(CONFIG, 'created', 'yesterday'), valid: false },
  { name: 'created 30 February', kind: 'config', doc: withField(CONFIG, 'created', '2024-02-30T00:00:00Z'), valid: false },
  { name: 'created 29 February of a common year', kind: 'config', doc: withField(CONFIG, 'created', '2023-02-29T00:00:00Z'), valid: false },
  { name: 'created 29 February 1900', kind: 'config', doc: withField(CONFIG, 'created', '1900-02-29T00:00:00Z'), valid: false },
  { name: 'created with a space for T', kind: 'config', doc: withField(CONFIG, 'created', '2024-01-01 00:00:00Z'), valid: false },
  { name: 'created without an offset', kind: 'config', doc: withField(CONFIG, 'created', '2024-01-01T00:00:00'), valid: false },
  { name: 'created hour 24', kind: 'config', doc: withField(CONFIG, 'created', '2024-01-01T24:00:00Z'), valid: false },
  { name: 'created a number', kind: 'config', doc: withField(CONFIG, 'created', 1700000000), valid: false },
  { name: 'history not an array', kind: 'config', doc: withField(CONFIG, 'history', { created_by: 'x' }), valid: false },
  { name: 'history entry with a bad date', kind: 'config', doc: withField(CONFIG, 'history', [{ created: '2015-13-01T00:00:00Z' }]), valid: false },
  { name: 'history empty_layer a string', kind: 'config', doc: withField(CONFIG, 'history', [{ empty_layer: 'true' }]), valid: false },
  // tsrun stricter
  { name: 'diff_ids entry not a digest', kind: 'config', doc: withField(CONFIG, 'rootfs/diff_ids', ['layer-1']), valid: false, stricter: 'diff-ids-digests' },
  { name: 'diff_ids entry an uppercase sha256 digest', kind: 'config', doc: withField(CONFIG, 'rootfs/diff_ids', [`sha256:${HEX64.toUpperCase()}`]), valid: false, stricter: 'registered-digest' },
  { name: 'ExposedPorts number under the empty key', kind: 'config', doc: withField(EXEC, 'config/ExposedPorts', { '': 1 }), valid: false, stricter: 'object-map-values' },
  { name: 'Labels number under the empty key', kind: 'config', doc: withField(EXEC, 'config/Labels', { '': 1 }), valid: false, stricter: 'string-map-values' },
];

const CASES: Case[] = [...descriptorCases, ...layoutCases, ...indexCases, ...manifestCases, ...configCases];

// ---------------------------------------------------------------------------------------------------------------

describe('image-spec schemas: the corpus', () => {
  let mine: Record<Kind, (doc: unknown) => boolean>;
  beforeAll(async () => {
    const { v, generated } = await freshValidators();
    const judge = (check: (doc: unknown, where: string) => unknown) => (doc: unknown) => {
      try {
        check(doc, 'doc.json');
        return true;
      } catch (error) {
        if (error instanceof ConfigError) return false;
        throw error;
      }
    };
    mine = {
      layout: judge(v.validateImageLayoutDocument),
      index: judge(v.validateImageIndexDocument),
      manifest: judge(v.validateImageManifestDocument),
      config: judge(v.validateImageConfigDocument),
      descriptor: (doc) => generated.validateContentDescriptor(doc),
    };
  });

  it('is big enough, has good and bad cases of every kind, and unique names', () => {
    console.log(`image-spec corpus: ${CASES.length} cases, ${CASES.filter((c) => c.stricter !== undefined).length} where tsrun is stricter`);
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    for (const kind of Object.keys(OFFICIAL_FILES) as Kind[]) {
      expect(CASES.some((c) => c.kind === kind && c.valid)).toBe(true);
      expect(CASES.some((c) => c.kind === kind && !c.valid)).toBe(true);
    }
    expect(new Set(CASES.map((c) => `${c.kind}: ${c.name}`)).size).toBe(CASES.length);
    for (const c of CASES) if (c.stricter !== undefined) expect(c.valid).toBe(false);
  });

  for (const c of CASES) {
    it(`tsrun ${c.valid ? 'accepts' : 'rejects'} ${c.kind}: ${c.name}`, () => {
      expect(mine[c.kind](c.doc)).toBe(c.valid);
    });
  }

  describe.skipIf(!existsSync(OFFICIAL_SCHEMA))('agrees with the official image-spec v1.1.1 schemas (needs ../shared/oci-spec)', () => {
    let official: Record<Kind, (doc: unknown) => boolean>;
    beforeAll(async () => {
      official = await officialValidators();
    });

    for (const c of CASES) {
      const expected = c.stricter !== undefined ? true : c.looser !== undefined ? false : c.valid;
      const note = c.stricter !== undefined ? ` (tsrun stricter: ${c.stricter})` : c.looser !== undefined ? ` (tsrun looser: ${c.looser})` : '';
      it(`official schema ${expected ? 'accepts' : 'rejects'} ${c.kind}: ${c.name}${note}`, () => {
        expect(official[c.kind](c.doc)).toBe(expected);
      });
    }

    it('every listed stricter and looser case is used by the corpus', () => {
      expect([...new Set(CASES.flatMap((c) => (c.stricter === undefined ? [] : [c.stricter])))].sort()).toEqual(Object.keys(STRICTER).sort());
      expect([...new Set(CASES.flatMap((c) => (c.looser === undefined ? [] : [c.looser])))].sort()).toEqual(Object.keys(LOOSER).sort());
    });
  });
});

describe('image-spec schemas: error messages', () => {
  let v: ImageValidateModule;
  beforeAll(async () => {
    ({ v } = await freshValidators());
  });

  it('name the file and the JSON pointer, on one line', () => {
    const where = `blobs/sha256/${HEX64}`;
    expect(() => v.validateImageManifestDocument(withField(MANIFEST, 'layers', [layer(), layer({ digest: `sha256:${HEX64.toUpperCase()}` })]), where)).toThrow(
      `${where}: /layers/1/digest must be a sha256 digest: "sha256:" followed by exactly 64 lowercase hex digits, got "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA...`,
    );
    expect(() => v.validateImageManifestDocument(withField(MANIFEST, 'schemaVersion', 1), where)).toThrow(`${where}: /schemaVersion must be the integer 2, got 1`);
    expect(() => v.validateImageManifestDocument(withField(MANIFEST, 'layers', []), where)).toThrow(`${where}: /layers must be a non-empty array, got []`);
    expect(() => v.validateImageManifestDocument(withField(MANIFEST, 'layers', [layer({ size: -1 })]), where)).toThrow(
      `${where}: /layers/0/size must be an integer between 0 and 9223372036854775807, got -1`,
    );
  });

  it('index.json and oci-layout', () => {
    expect(() => v.validateImageIndexDocument(withField(INDEX, 'manifests', [manifestEntry({ platform: { architecture: 'amd64' } })]), 'index.json')).toThrow(
      'index.json: /manifests/0/platform must have required property "os"',
    );
    expect(() => v.validateImageIndexDocument(withField(INDEX, 'manifests', [manifestEntry({ mediaType: 'manifest' })]), 'index.json')).toThrow(
      'index.json: /manifests/0/mediaType must be a media type such as "application/vnd.oci.image.manifest.v1+json" (RFC 6838 type/subtype), got "manifest"',
    );
    expect(() => v.validateImageLayoutDocument({ imageLayoutVersion: '2.0.0' }, 'oci-layout')).toThrow('oci-layout: /imageLayoutVersion must be "1.0.0", got "2.0.0"');
    expect(() => v.validateImageLayoutDocument([], 'oci-layout')).toThrow('oci-layout: / must be an object, got []');
  });

  it('image configuration', () => {
    const where = 'config blob';
    expect(() => v.validateImageConfigDocument(withField(CONFIG, 'rootfs', REMOVE), where)).toThrow(`${where}: / must have required property "rootfs"`);
    expect(() => v.validateImageConfigDocument(withField(CONFIG, 'rootfs/type', 'layer'), where)).toThrow(`${where}: /rootfs/type must be "layers", got "layer"`);
    expect(() => v.validateImageConfigDocument(withField(EXEC, 'config/Entrypoint', 'sh'), where)).toThrow(
      `${where}: /config/Entrypoint must be an array of strings or null, got "sh"`,
    );
    expect(() => v.validateImageConfigDocument(withField(EXEC, 'config/Labels', { 'com.example/x': 1 }), where)).toThrow(
      `${where}: /config/Labels/com.example~1x must be a string, got 1`,
    );
    expect(() => v.validateImageConfigDocument(withField(CONFIG, 'created', '2023-02-29T00:00:00Z'), where)).toThrow(
      `${where}: /created must be an RFC 3339 date and time such as "2024-01-31T12:00:00Z", got "2023-02-29T00:00:00Z"`,
    );
    expect(() => v.validateImageConfigDocument(withField(CONFIG, 'rootfs/diff_ids', ['layer-1']), where)).toThrow(
      `${where}: /rootfs/diff_ids/0 must be a digest "<algorithm>:<encoded>" such as "sha256:<64 lowercase hex digits>", got "layer-1"`,
    );
  });

  it('an optional field set to null counts as absent (config.md); a required one set to null is an error', () => {
    const doc = { ...EXEC, author: null, config: { Env: null, User: null, Cmd: ['sh'] }, history: [{ created_by: null, comment: 'c' }] };
    const checked = v.validateImageConfigDocument(doc, 'c');
    expect(checked).toEqual({ ...EXEC, config: { Cmd: ['sh'] }, history: [{ comment: 'c' }] });
    expect(v.validateImageConfigDocument({ ...CONFIG, config: null }, 'c')).toEqual(CONFIG);
    expect(() => v.validateImageConfigDocument({ ...CONFIG, os: null }, 'c')).toThrow(/^c: \/os must be a string, got null/);
  });

  it('errors are ConfigErrors; valid documents come back as they are', () => {
    expect(() => v.validateImageConfigDocument({}, 'c')).toThrow(ConfigError);
    expect(v.imageDocumentValidators.config(CONFIG, 'c')).toBe(CONFIG);
    expect(v.imageDocumentValidators.manifest(MANIFEST, 'm')).toBe(MANIFEST);
    expect(v.imageDocumentValidators.index(INDEX, 'i')).toBe(INDEX);
    const layout = { imageLayoutVersion: '1.0.0' };
    expect(v.imageDocumentValidators.layout(layout, 'l')).toBe(layout);
  });

  it('parseImageJson names the file on a syntax error', () => {
    expect(v.parseImageJson('{"schemaVersion": 2}', 'index.json')).toEqual({ schemaVersion: 2 });
    expect(() => v.parseImageJson('{"schemaVersion": 2,}', 'index.json')).toThrow(/^index\.json: \/ is not valid JSON: /);
    expect(() => v.parseImageJson('', 'oci-layout')).toThrow(ConfigError);
  });
});
