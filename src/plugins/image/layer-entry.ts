import { RuntimeError } from '../../errors';

/**
 * What one tar entry of an image layer asks for (image-spec layer.md), decided from its header alone: a node to
 * create, a whiteout (`.wh.NAME`: NAME of the lower layers is deleted), or an opaque whiteout (`.wh..wh..opq`:
 * the directory's content from lower layers is hidden). Paths are checked here: an absolute name is taken
 * relative to the rootfs (as every layer tool does), but a `..` component, an empty or NUL-containing name, or a
 * name that is not valid UTF-8 is refused. Pure: src/plugins/image/rootfs-writer.ts does the writing.
 */

/** The tar header fields a layer entry is judged on (tar-stream's Header). */
export interface TarHeader {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime?: Date;
  linkname?: string | null;
  devmajor?: number;
  devminor?: number;
  pax?: unknown;
  /** The PAX records as bytes (pax-records.ts), where the tar reader's UTF-8 text would damage a value. */
  rawPax?: ReadonlyMap<string, Buffer>;
}

/** A path inside the rootfs: the directory holding the entry (components from the root) and its name. */
export interface EntryPath {
  dir: string[];
  name: string;
}

export interface NodeMetadata {
  /** Permission bits with setuid, setgid and sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** Extended attributes from PAX `SCHILY.xattr.<name>` records. */
  xattrs: Array<[string, Buffer]>;
}

export type LayerEntry =
  | { kind: 'whiteout'; path: EntryPath; entryName: string }
  | { kind: 'opaque'; dir: string[]; entryName: string }
  | ({ kind: 'root'; entryName: string } & NodeMetadata)
  | ({ kind: 'directory' | 'file' | 'fifo'; path: EntryPath; entryName: string; size: number } & NodeMetadata)
  | ({ kind: 'symlink'; path: EntryPath; entryName: string; target: string } & NodeMetadata)
  | ({ kind: 'hardlink'; path: EntryPath; entryName: string; source: EntryPath } & NodeMetadata)
  | ({ kind: 'char' | 'block'; path: EntryPath; entryName: string; major: number; minor: number } & NodeMetadata);

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
const XATTR_PAX_PREFIX = 'SCHILY.xattr.';
const MAX_ID = 0xfffffffe;

function refuse(label: string, name: string, why: string): RuntimeError {
  return new RuntimeError('image', `${label}: entry ${JSON.stringify(name)}: ${why}`);
}

/**
 * The components of an entry name, relative to the rootfs: leading `/` and `./` dropped, `.` and empty
 * components skipped. [] is the rootfs itself.
 */
export function entryComponents(name: string, label: string): string[] {
  if (name.includes('\0')) throw refuse(label, name, 'the name contains a NUL byte');
  // tar-stream decodes names as UTF-8: a name that was not valid UTF-8 comes back with U+FFFD in it, and
  // writing that would create a different file than the layer names.
  if (name.includes('\uFFFD')) throw refuse(label, name, 'the name is not valid UTF-8');
  const components: string[] = [];
  for (const component of name.split('/')) {
    if (component === '' || component === '.') continue;
    if (component === '..') throw refuse(label, name, 'the path leaves the rootfs (a ".." component)');
    components.push(component);
  }
  return components;
}

function splitPath(components: string[]): EntryPath {
  return { dir: components.slice(0, -1), name: components[components.length - 1]! };
}

function checkId(value: number, what: string, label: string, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_ID) throw refuse(label, name, `${what} ${value} is not a valid ID (0-${MAX_ID})`);
  return value;
}

/** True when a decoded PAX header names extended attributes (so its raw bytes are worth reading again). */
export function hasPaxXattrs(pax: unknown): boolean {
  return pax !== null && typeof pax === 'object' && Object.keys(pax).some((key) => key.startsWith(XATTR_PAX_PREFIX));
}

/**
 * The extended attributes a PAX header carries (`SCHILY.xattr.NAME=VALUE`, as GNU tar, Docker and BuildKit write
 * them): from the raw records when the reader kept them, else from the decoded text.
 */
export function paxXattrs(pax: unknown, label: string, name: string, rawPax?: ReadonlyMap<string, Buffer>): Array<[string, Buffer]> {
  if (pax === null || typeof pax !== 'object') return [];
  const xattrs: Array<[string, Buffer]> = [];
  for (const [key, value] of Object.entries(pax as Record<string, unknown>)) {
    if (!key.startsWith(XATTR_PAX_PREFIX) || typeof value !== 'string') continue;
    const attribute = key.slice(XATTR_PAX_PREFIX.length);
    const raw = rawPax?.get(key);
    if (raw !== undefined) {
      xattrs.push([attribute, raw]);
      continue;
    }
    // Decoded as UTF-8 only: a binary value (security.capability) would arrive damaged, and a damaged
    // capability set grants something else than the image says. Refuse instead.
    if (value.includes('\uFFFD')) {
      throw refuse(label, name, `extended attribute ${attribute} has a binary value, which tsrun's tar reader cannot carry intact`);
    }
    xattrs.push([attribute, Buffer.from(value, 'utf8')]);
  }
  return xattrs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Classifies one tar entry of a layer. `label` names the layer in messages (`layer 2 (sha256:…)`).
 */
export function classifyEntry(header: TarHeader, label: string): LayerEntry {
  const entryName = header.name;
  const components = entryComponents(entryName, label);
  const base = components[components.length - 1];
  if (base !== undefined && base.startsWith(WHITEOUT_PREFIX)) {
    const dir = components.slice(0, -1);
    if (base === OPAQUE_WHITEOUT) return { kind: 'opaque', dir, entryName };
    const hidden = base.slice(WHITEOUT_PREFIX.length);
    if (hidden === '' || hidden === '.' || hidden === '..') throw refuse(label, entryName, 'a whiteout must name an entry');
    if (hidden.startsWith(WHITEOUT_PREFIX)) throw refuse(label, entryName, 'a whiteout of a whiteout is not allowed');
    return { kind: 'whiteout', path: { dir, name: hidden }, entryName };
  }
  const metadata: NodeMetadata = {
    mode: header.mode & 0o7777,
    uid: checkId(header.uid, 'uid', label, entryName),
    gid: checkId(header.gid, 'gid', label, entryName),
    mtime: header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0,
    xattrs: paxXattrs(header.pax, label, entryName, header.rawPax),
  };
  if (components.length === 0) {
    if (header.type !== 'directory') throw refuse(label, entryName, `the rootfs itself must be a directory, got ${header.type}`);
    return { kind: 'root', entryName, ...metadata };
  }
  const path = splitPath(components);
  switch (header.type) {
    case 'directory':
      return { kind: 'directory', path, entryName, size: 0, ...metadata };
    case 'file':
    case 'contiguous-file':
      return { kind: 'file', path, entryName, size: header.size, ...metadata };
    case 'fifo':
      return { kind: 'fifo', path, entryName, size: 0, ...metadata };
    case 'symlink': {
      const target = header.linkname ?? '';
      if (target === '') throw refuse(label, entryName, 'a symlink with an empty target');
      if (target.includes('\0') || target.includes('\uFFFD')) throw refuse(label, entryName, 'the symlink target is not valid UTF-8 text');
      // The target is stored as written: it is read inside the container, and the writer never follows it.
      return { kind: 'symlink', path, entryName, target, ...metadata };
    }
    case 'link': {
      const sourceComponents = entryComponents(header.linkname ?? '', `${label}: hard link ${JSON.stringify(entryName)}`);
      if (sourceComponents.length === 0) throw refuse(label, entryName, 'a hard link to the rootfs itself');
      return { kind: 'hardlink', path, entryName, source: splitPath(sourceComponents), ...metadata };
    }
    case 'character-device':
    case 'block-device':
      return {
        kind: header.type === 'character-device' ? 'char' : 'block', path, entryName,
        major: header.devmajor ?? 0, minor: header.devminor ?? 0, ...metadata,
      };
    default:
      throw refuse(label, entryName, `entry type ${JSON.stringify(header.type)} is not supported in a layer`);
  }
}

/** The entry's path as one string, for sets and messages ('' is the rootfs). */
export function joinPath(path: EntryPath | string[]): string {
  return Array.isArray(path) ? path.join('/') : [...path.dir, path.name].join('/');
}
