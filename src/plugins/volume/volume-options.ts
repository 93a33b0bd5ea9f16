import { RuntimeError, describeValue } from '../../errors';

/**
 * `tsrun volume create --label KEY=VALUE --opt KEY=VALUE`, read like docker's `local` volume driver reads them.
 *
 * The driver takes three options, which go together as in docker (`type` and `device` need each other, `o` needs
 * both): `type`, the filesystem to mount; `device`, what to mount; `o`, the mount options. Without options a
 * volume is a plain directory. Docker hands these to mount(2) as they are; tsrun mounts only `type=tmpfs`, whose
 * `o` it understands completely (size, mode, uid, gid), so a volume that could not be mounted is refused at
 * create rather than when a container first uses it. Options are kept in the volume's record as given.
 *
 * Pure: no I/O.
 */

export type VolumeLabels = Record<string, string>;
export type VolumeOptions = Record<string, string>;

/** The option keys of the local driver, in the order messages list them. */
export const VOLUME_OPTION_KEYS = ['type', 'device', 'o'] as const;

/** Each option and the options it needs, as docker's local driver has them. */
const REQUIRED_WITH: Readonly<Record<string, readonly string[]>> = { type: ['device'], device: ['type'], o: ['type', 'device'] };

/** The filesystem types tsrun can mount for a volume. */
export const SUPPORTED_VOLUME_TYPES = ['tmpfs'] as const;

/** What `o` of a tmpfs volume may set; everything is optional and left to the kernel's defaults when absent. */
export interface TmpfsOptions {
  /** Bytes. */
  size?: number;
  /** Permission bits of the tmpfs root, 0..0o7777. */
  mode?: number;
  uid?: number;
  gid?: number;
}

/** What a volume is once its options are understood. */
export type VolumeKind = { kind: 'directory' } | { kind: 'tmpfs'; device: string; tmpfs: TmpfsOptions };

const SIZE_PATTERN = /^([0-9]+)([kmg]?)$/i;
const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const MODE_PATTERN = /^0*[0-7]{1,4}$/;
const ID_PATTERN = /^[0-9]+$/;
/** (uid_t)-1 means "unchanged" to the kernel, so the largest usable ID is one less. */
const MAX_ID = 2 ** 32 - 2;

/**
 * `--label KEY=VALUE` values as a map. As in docker, `KEY` alone is an empty value and a later label of the same
 * key wins; the key (trimmed) must not be empty.
 */
export function parseVolumeLabels(list: readonly string[], field = '--label'): VolumeLabels {
  const labels = new Map<string, string>();
  for (const entry of list) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    const value = eq < 0 ? '' : entry.slice(eq + 1);
    if (key.trim() === '') throw new RuntimeError('usage', `${field} ${describeValue(entry)}: the label name must not be empty, expected KEY=VALUE`);
    labels.set(key, value);
  }
  return Object.fromEntries(labels);
}

/**
 * `--opt KEY=VALUE` values as a map, checked by validateVolumeOptions. Each must have a `=`; a key given twice is
 * refused (which value was meant is anyone's guess).
 */
export function parseVolumeOptions(list: readonly string[], field = '--opt'): VolumeOptions {
  const options = new Map<string, string>();
  for (const entry of list) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new RuntimeError('usage', `${field} ${describeValue(entry)}: must be KEY=VALUE (keys: ${VOLUME_OPTION_KEYS.join(', ')})`);
    const key = entry.slice(0, eq);
    const value = entry.slice(eq + 1);
    const earlier = options.get(key);
    if (earlier !== undefined) {
      throw new RuntimeError('usage', `${field} ${key}: given twice (${describeValue(earlier)} and ${describeValue(value)}), expected once`);
    }
    options.set(key, value);
  }
  const result: VolumeOptions = Object.fromEntries(options);
  volumeKind(result, field);
  return result;
}

/** Checks labels given to the store directly: a map of non-empty names to strings, copied. */
export function checkVolumeLabels(labels: unknown, field = '--label'): VolumeLabels {
  return checkStringMap(labels, field, 'label name');
}

/** Checks options given to the store directly (see volumeKind), copied. */
export function checkVolumeOptions(options: unknown, field = '--opt'): VolumeOptions {
  const result = checkStringMap(options, field, 'option name');
  volumeKind(result, field);
  return result;
}

/**
 * What the options make of a volume: a plain directory without options, a tmpfs with `type=tmpfs`. Throws a
 * usage error naming the option for unknown keys, options missing their companions, unsupported types, an empty
 * device and anything in `o` parseTmpfsOptions refuses.
 */
export function volumeKind(options: Readonly<VolumeOptions>, field = '--opt'): VolumeKind {
  const keys = Object.keys(options);
  const unknown = keys.filter((key) => !(VOLUME_OPTION_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    const names = unknown.map((key) => describeValue(key)).join(', ');
    throw new RuntimeError(
      'usage',
      `${field} ${names}: unknown ${unknown.length === 1 ? 'option' : 'options'}, the local driver takes ${VOLUME_OPTION_KEYS.join(', ')}`,
    );
  }
  if (keys.length === 0) return { kind: 'directory' };
  for (const key of VOLUME_OPTION_KEYS) {
    if (!Object.hasOwn(options, key)) continue;
    const missing = (REQUIRED_WITH[key] ?? []).filter((other) => !Object.hasOwn(options, other));
    if (missing.length > 0) {
      throw new RuntimeError(
        'usage',
        `${field} ${key}: needs ${missing.map((other) => `${field} ${other}=...`).join(' and ')} as well (e.g. ${field} type=tmpfs ${field} device=tmpfs ${field} o=size=64m)`,
      );
    }
  }
  const type = options.type ?? '';
  const device = options.device ?? '';
  if (!(SUPPORTED_VOLUME_TYPES as readonly string[]).includes(type)) {
    throw new RuntimeError('usage', `${field} type=${describeValue(type)}: not supported, expected ${SUPPORTED_VOLUME_TYPES.join(' or ')}`);
  }
  if (device === '') throw new RuntimeError('usage', `${field} device="": must not be empty, expected e.g. ${field} device=tmpfs`);
  return { kind: 'tmpfs', device, tmpfs: parseTmpfsOptions(options.o ?? '', `${field} o`) };
}

/**
 * The `o` of a tmpfs volume: comma-separated `size=N[k|m|g]` (bytes, k = 1024; more than 0), `mode=OCTAL` (at
 * most 07777), `uid=N`, `gid=N`, each at most once. Anything else is refused, naming it.
 */
export function parseTmpfsOptions(text: string, field = '--opt o'): TmpfsOptions {
  const result: TmpfsOptions = {};
  if (text === '') return result;
  for (const item of text.split(',')) {
    const where = `${field}=${describeValue(text)}`;
    const eq = item.indexOf('=');
    if (eq <= 0) {
      throw new RuntimeError('usage', `${where}: ${describeValue(item)} is not KEY=VALUE, expected size, mode, uid or gid (e.g. size=64m,uid=1000)`);
    }
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (key !== 'size' && key !== 'mode' && key !== 'uid' && key !== 'gid') {
      throw new RuntimeError('usage', `${where}: tmpfs option ${describeValue(key)} is not supported, expected size, mode, uid or gid`);
    }
    if (result[key] !== undefined) throw new RuntimeError('usage', `${where}: ${key} is given twice, expected once`);
    result[key] = parseTmpfsValue(key, value, where);
  }
  return result;
}

function parseTmpfsValue(key: keyof TmpfsOptions, value: string, where: string): number {
  const bad = (expected: string): RuntimeError => new RuntimeError('usage', `${where}: ${key} ${describeValue(value)} must be ${expected}`);
  switch (key) {
    case 'size': {
      const match = SIZE_PATTERN.exec(value);
      if (!match) throw bad('a number of bytes with an optional k, m or g suffix (e.g. 64m)');
      const bytes = Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] ?? 1);
      if (bytes <= 0) throw bad('more than 0 bytes (leave size out for the kernel default)');
      if (!Number.isSafeInteger(bytes)) throw bad('a size tsrun can represent (at most 8 PiB)');
      return bytes;
    }
    case 'mode': {
      if (!MODE_PATTERN.test(value)) throw bad('octal permission bits, at most 7777 (e.g. 1777 or 0755)');
      return parseInt(value, 8);
    }
    case 'uid':
    case 'gid': {
      const id = ID_PATTERN.test(value) ? Number(value) : Number.NaN;
      if (!(id <= MAX_ID)) throw bad(`a decimal ID from 0 to ${MAX_ID}`);
      return id;
    }
  }
}

/** TmpfsOptions as mount options: `size=<bytes>`, `mode=<octal>`, `uid=<n>`, `gid=<n>`, those that are set. */
export function formatTmpfsOptions(tmpfs: TmpfsOptions): string[] {
  const result: string[] = [];
  if (tmpfs.size !== undefined) result.push(`size=${tmpfs.size}`);
  if (tmpfs.mode !== undefined) result.push(`mode=${tmpfs.mode.toString(8)}`);
  if (tmpfs.uid !== undefined) result.push(`uid=${tmpfs.uid}`);
  if (tmpfs.gid !== undefined) result.push(`gid=${tmpfs.gid}`);
  return result;
}

/**
 * The OCI mount `options` of the tmpfs a container gets for a volume with these options, e.g.
 * `["size=67108864","mode=1777"]` for `o=size=64m,mode=1777`. Only what `o` sets: flags such as nosuid or nodev
 * are the caller's. Throws a usage error when the options are not a tmpfs volume's.
 */
export function tmpfsMountOptions(options: Readonly<VolumeOptions>): string[] {
  const kind = volumeKind(options);
  if (kind.kind !== 'tmpfs') throw new RuntimeError('usage', `volume options ${describeValue(options)}: not a tmpfs volume, expected --opt type=tmpfs`);
  return formatTmpfsOptions(kind.tmpfs);
}

/** Options for messages: `type=tmpfs device=tmpfs o=size=64m`, keys in VOLUME_OPTION_KEYS order, or `no options`. */
export function describeVolumeOptions(options: Readonly<VolumeOptions>): string {
  const keys = Object.keys(options).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  if (keys.length === 0) return 'no options';
  return keys.map((key) => `${key}=${options[key] ?? ''}`).join(' ');
}

/** True when both have the same keys with the same values (order does not matter). */
export function sameVolumeOptions(a: Readonly<VolumeOptions>, b: Readonly<VolumeOptions>): boolean {
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  return keysA.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}

function rank(key: string): number {
  const index = (VOLUME_OPTION_KEYS as readonly string[]).indexOf(key);
  return index < 0 ? VOLUME_OPTION_KEYS.length : index;
}

function checkStringMap(value: unknown, field: string, what: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RuntimeError('usage', `${field}: must map names to strings, got ${describeValue(value)}`);
  }
  const entries = Object.entries(value);
  for (const [key, item] of entries) {
    if (key.trim() === '') throw new RuntimeError('usage', `${field} ${describeValue(key)}: the ${what} must not be empty`);
    if (typeof item !== 'string') throw new RuntimeError('usage', `${field} ${key}: the value must be a string, got ${describeValue(item)}`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}
