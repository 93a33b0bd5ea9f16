import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError, describeValue } from '../../errors';
import { parseJsonObject } from '../../spec/json-object';
import { fsSyscallError, syncDirectory, writeFileAtomic } from '../../linux/atomic-file';
import { nodeErrorCode } from '../../linux/errno';
import { createFileLock } from '../../linux/file-lock';
import { HeldLocks } from '../../linux/held-locks';
import { parseMountInfo } from '../../linux/proc-parsers';
import { createSys } from '../../linux/sys';
import { isValidVolumeName, randomVolumeName, validateVolumeName } from './volume-name';
import {
  type VolumeLabels,
  type VolumeOptions,
  checkVolumeLabels,
  checkVolumeOptions,
  describeVolumeOptions,
  sameVolumeOptions,
} from './volume-options';

/**
 * Named volumes, as docker's `local` driver keeps them:
 *
 *   <dir>/.lock                  the store lock (flock): held by create, remove and prune
 *   <dir>/<name>/volume.json     the record (VolumeRecord), replaced atomically
 *   <dir>/<name>/_data/          what containers mount (0755)
 *   <dir>/<name>/.lock           the volume lock (flock): held by whoever populates the volume, and by remove/prune
 *   <dir>/.tmp-<pid>-<hex>/      a volume being made or deleted; never a volume
 *
 * Readers take no lock and never see a half-made volume: create makes everything in a `.tmp-*` directory and
 * renames it into place; remove renames the volume to a `.tmp-*` directory before deleting it. A `.tmp-*` left by a
 * crash is deleted by the next create, remove or prune (they hold the store lock, so no `.tmp-*` is in use then).
 *
 * Lock order is store lock, then volume lock. A volume lock file is only ever opened by a holder of the store lock,
 * and only deleted (with its volume) by a holder of both, so nobody can wait on the lock file of a volume that is
 * gone, or of a former volume of the same name. Locking is re-entrant within one VolumeStore object; two objects
 * of one directory in one process must not nest their calls (a flock on a second descriptor waits for the first).
 */

/** A volume as kept in `<dir>/<name>/volume.json`: docker's `volume inspect` fields, plus `populated`. */
export interface VolumeRecord {
  /** RFC 3339, UTC, seconds (docker's form). */
  CreatedAt: string;
  Driver: 'local';
  Labels: VolumeLabels;
  /** `<dir>/<name>/_data`, absolute; always the volume's current location when read. */
  Mountpoint: string;
  Name: string;
  /** The `--opt` values as given (see volume-options.ts). */
  Options: VolumeOptions;
  Scope: 'local';
  /** Set once by markPopulated, when a container's image content was first copied in: when, and from what. */
  populated?: { at: string; from: string };
}

export type VolumeLockFn = (path: string) => { release(): void };

export interface VolumeStoreOptions {
  /** Exclusive, blocking, released when the holder dies: flock through src/linux/file-lock.ts by default. */
  lock?: VolumeLockFn;
  /** IDs of the containers using a volume, empty when none; from tsrun's state, supplied by the caller. */
  usersOf: (name: string) => readonly string[];
  /** For CreatedAt and populated.at; the current time by default. */
  now?: () => Date;
  /** Names of anonymous volumes: randomVolumeName() by default. */
  random?: () => string;
  /** Absolute mount points of this mount namespace: /proc/self/mountinfo's by default. remove never deletes through one. */
  mountPoints?: () => readonly string[];
}

export interface CreateVolumeRequest {
  /** Without a name the volume is anonymous: 64 hex digits. */
  name?: string;
  labels?: VolumeLabels;
  options?: VolumeOptions;
}

export interface PruneResult {
  /** Names of the removed volumes, sorted. */
  removed: string[];
  /** Bytes their data took (files, each inode once; like docker's "Total reclaimed space"). */
  bytes: number;
}

const RECORD_FILE = 'volume.json';
const DATA_DIR = '_data';
const LOCK_FILE = '.lock';
const STAGING_PREFIX = '.tmp-';
/** The store's directory: others may pass through (users in user namespaces reach _data) but not list it. */
const STORE_DIR_MODE = 0o701;
const VOLUME_DIR_MODE = 0o755;
const DATA_DIR_MODE = 0o755;
const NAME_ATTEMPTS = 8;

export class VolumeStore {
  readonly dir: string;
  readonly #locks: HeldLocks;
  readonly #usersOf: (name: string) => readonly string[];
  readonly #now: () => Date;
  readonly #random: () => string;
  readonly #mountPoints: () => readonly string[];
  /** Lock files this object holds, with nesting depth. */

  constructor(dir: string, options: VolumeStoreOptions) {
    this.dir = path.resolve(dir);
    this.#locks = new HeldLocks(options.lock ?? defaultLock());
    this.#usersOf = options.usersOf;
    this.#now = options.now ?? (() => new Date());
    this.#random = options.random ?? (() => randomVolumeName());
    this.#mountPoints = options.mountPoints ?? readMountPoints;
  }

  // ---- reading (no lock: volumes appear and disappear by rename, records are replaced atomically) ----

  /** The volume `name`; throws `volume NAME does not exist` when there is none. */
  get(name: string): VolumeRecord {
    validateVolumeName(name);
    const record = this.#read(name);
    if (!record) throw notFound([name]);
    return record;
  }

  /** The volumes `names`, in that order; throws naming every one that does not exist. */
  inspect(names: readonly string[]): VolumeRecord[] {
    for (const name of names) validateVolumeName(name);
    const records = names.map((name) => ({ name, record: this.#read(name) }));
    const missing = records.filter((entry) => !entry.record).map((entry) => entry.name);
    if (missing.length > 0) throw notFound(missing);
    return records.map((entry) => entry.record as VolumeRecord);
  }

  /**
   * Every volume, sorted by name. `dangling: true` keeps those no container uses, `false` those some container
   * uses (docker's `--filter dangling=`). A damaged record is an error naming its file.
   */
  list(filter: { dangling?: boolean } = {}): VolumeRecord[] {
    const records: VolumeRecord[] = [];
    for (const name of this.#names()) {
      const record = this.#read(name);
      if (!record) continue; // removed since readdir
      if (filter.dangling !== undefined && (this.#usersOf(name).length === 0) !== filter.dangling) continue;
      records.push(record);
    }
    return records;
  }

  // ---- changing (under the store lock) ----

  /**
   * Creates a volume, anonymous without a name. A volume of that name with the same options is returned as it is
   * (docker's behaviour; its labels are kept); with other options the create is refused. Labels and options are
   * checked first (volume-options.ts), so a refusal changes nothing.
   */
  create(request: CreateVolumeRequest = {}): VolumeRecord {
    const labels = checkVolumeLabels(request.labels ?? {});
    const options = checkVolumeOptions(request.options ?? {});
    if (request.name !== undefined) validateVolumeName(request.name);
    return this.#mutate(() => {
      const name = request.name ?? this.#freshName();
      const existing = this.#read(name);
      if (existing) {
        if (sameVolumeOptions(existing.Options, options)) return existing;
        throw new RuntimeError(
          'volume',
          `volume ${name} already exists with ${describeVolumeOptions(existing.Options)}, not ${describeVolumeOptions(options)}: remove it first or give the same --opt values`,
        );
      }
      return this.#make(name, labels, options);
    });
  }

  /**
   * Removes the volume `name` and its data. Refused while a container uses it (usersOf, asked under the volume
   * lock) and when it does not exist — `force` overrides both. A damaged record does not stop removal (it is the
   * way out). Refused, changing nothing, when something is mounted inside the volume. Returns false when `force`
   * found nothing to remove.
   */
  remove(name: string, options: { force?: boolean } = {}): boolean {
    validateVolumeName(name);
    const force = options.force ?? false;
    return this.#mutate(() => {
      const kind = this.#entryKind(name);
      if (kind === undefined) {
        if (force) return false;
        throw notFound([name]);
      }
      const removeIt = (): boolean => {
        const users = this.#usersOf(name);
        if (users.length > 0 && !force) throw inUse(name, users);
        this.#delete(name, this.#mountPoints());
        return true;
      };
      // Only a real directory has a lock file; anything else at the name is debris to clear away.
      return kind === 'directory' ? this.#withLockFile(this.#volumeLockFile(name), removeIt) : removeIt();
    });
  }

  /** Removes every volume no container uses; the names (sorted) and the bytes their data took. */
  prune(): PruneResult {
    return this.#mutate(() => {
      const removed: string[] = [];
      let bytes = 0;
      const mountPoints = this.#mountPoints();
      for (const name of this.#names()) {
        this.#withLockFile(this.#volumeLockFile(name), () => {
          if (this.#usersOf(name).length > 0) return;
          bytes += this.#delete(name, mountPoints);
          removed.push(name);
        });
      }
      return { removed, bytes };
    });
  }

  // ---- one volume (under its volume lock) ----

  /**
   * Runs `fn` holding the volume lock of `name`, with its record read under that lock: what `fn` decides holds
   * until it returns (the volume cannot be removed meanwhile; another populate waits). `fn` must be synchronous and
   * may call markPopulated and the readers of this object, not create, remove or prune (refused: lock order).
   * Throws `volume NAME does not exist` when there is none.
   */
  withVolumeLock<T>(name: string, fn: (record: VolumeRecord) => T): T {
    validateVolumeName(name);
    const lockFile = this.#volumeLockFile(name);
    const underLock = (): T => {
      const record = this.#read(name);
      if (!record) throw notFound([name]);
      return fn(record);
    };
    if (!this.#locks.holds(lockFile) && !this.#locks.holds(this.#storeLockFile) && this.#locks.count > 0) {
      // Waiting for the store lock while holding a volume lock could deadlock with a remove holding it.
      throw new RuntimeError('internal', `volume store: the lock of volume ${name} was requested while holding another volume's lock`);
    }
    if (this.#locks.holds(lockFile) || this.#locks.holds(this.#storeLockFile)) {
      if (!this.#locks.holds(lockFile) && this.#entryKind(name) !== 'directory') throw notFound([name]);
      return this.#withLockFile(lockFile, underLock);
    }
    // The lock file is opened under the store lock (see the top of this file), which is let go once it is held.
    const releaseStore = this.#locks.take(this.#storeLockFile);
    let releaseVolume: () => void;
    try {
      if (this.#entryKind(name) !== 'directory') throw notFound([name]);
      releaseVolume = this.#locks.take(lockFile);
    } finally {
      releaseStore();
    }
    try {
      return underLock();
    } finally {
      releaseVolume();
    }
  }

  /**
   * Records that the volume's data was populated from `from` (e.g. an image and a path), under the volume lock.
   * The first population is the one kept: a populated volume is returned unchanged.
   */
  markPopulated(name: string, from: string): VolumeRecord {
    validateVolumeName(name);
    if (typeof from !== 'string' || from === '') {
      throw new RuntimeError('usage', `volume ${name}: populated from ${describeValue(from)}, expected a non-empty description`);
    }
    return this.withVolumeLock(name, (record) => {
      if (record.populated) return record;
      const updated: VolumeRecord = { ...record, populated: { at: rfc3339(this.#now()), from } };
      writeFileAtomic(path.join(this.dir, name), RECORD_FILE, formatRecord(updated));
      return updated;
    });
  }

  // ---- internals ----

  get #storeLockFile(): string {
    return path.join(this.dir, LOCK_FILE);
  }

  #volumeLockFile(name: string): string {
    return path.join(this.dir, name, LOCK_FILE);
  }

  #mountpoint(name: string): string {
    return path.join(this.dir, name, DATA_DIR);
  }

  /** Runs `fn` holding the store lock, after clearing what crashed operations left behind. */
  #mutate<T>(fn: () => T): T {
    if (!this.#locks.holds(this.#storeLockFile) && this.#locks.count > 0) {
      throw new RuntimeError('internal', 'volume store: create, remove or prune was called while holding a volume lock');
    }
    ensureStoreDir(this.dir);
    return this.#withLockFile(this.#storeLockFile, () => {
      this.#clearStaging();
      return fn();
    });
  }

  #withLockFile<T>(file: string, fn: () => T): T {
    return this.#locks.run(file, fn, () => {
      if (file === this.#storeLockFile) ensureStoreDir(this.dir);
    });
  }

  /** A name for an anonymous volume that no volume has. */
  #freshName(): string {
    for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
      const name = this.#random();
      if (!isValidVolumeName(name)) {
        throw new RuntimeError('internal', `volume store: the random name source gave ${describeValue(name)}, not a volume name`);
      }
      if (this.#entryKind(name) === undefined) return name;
    }
    throw new RuntimeError('internal', `volume store: ${NAME_ATTEMPTS} random names in a row were taken`);
  }

  /** Makes the volume in a `.tmp-*` directory and renames it into place; nothing is left behind on failure. */
  #make(name: string, labels: VolumeLabels, options: VolumeOptions): VolumeRecord {
    const staging = this.#stagingPath();
    mkdirWithMode(staging, VOLUME_DIR_MODE);
    try {
      mkdirWithMode(path.join(staging, DATA_DIR), DATA_DIR_MODE);
      // The volume lock file comes with the volume: later refusals under it then change nothing on disk.
      createEmptyFile(path.join(staging, LOCK_FILE));
      const record: VolumeRecord = {
        CreatedAt: rfc3339(this.#now()),
        Driver: 'local',
        Labels: labels,
        Mountpoint: this.#mountpoint(name),
        Name: name,
        Options: options,
        Scope: 'local',
      };
      writeFileAtomic(staging, RECORD_FILE, formatRecord(record));
      const target = path.join(this.dir, name);
      try {
        fs.renameSync(staging, target);
      } catch (error) {
        throw fsSyscallError('rename', target, error);
      }
      syncDirectory(this.dir);
      return record;
    } catch (error) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * Takes the volume `name` out of the store (a rename, atomic for readers) and deletes it; the bytes its data
   * took. Refused, changing nothing, when something is mounted at or below it: deleting would reach into that
   * filesystem. A deletion that fails half-way leaves a `.tmp-*` directory that later mutations retry.
   */
  #delete(name: string, mountPoints: readonly string[]): number {
    const entry = path.join(this.dir, name);
    if (this.#entryKind(name) === 'directory') {
      let real: string;
      try {
        real = fs.realpathSync(entry);
      } catch (error) {
        throw fsSyscallError('realpath', entry, error);
      }
      const mounted = mountPoints.find((point) => point === real || point.startsWith(`${real}/`));
      if (mounted !== undefined) {
        throw new RuntimeError('volume', `volume ${name}: ${mounted} is a mount point inside it; unmount it first`);
      }
    }
    const trash = this.#stagingPath();
    try {
      fs.renameSync(entry, trash);
    } catch (error) {
      throw fsSyscallError('rename', entry, error);
    }
    syncDirectory(this.dir);
    const bytes = treeBytes(path.join(trash, DATA_DIR));
    try {
      fs.rmSync(trash, { recursive: true, force: true });
    } catch (error) {
      throw fsSyscallError('remove', trash, error);
    }
    return bytes;
  }

  #stagingPath(): string {
    return path.join(this.dir, `${STAGING_PREFIX}${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /**
   * Deletes the `.tmp-*` directories crashed operations left (called under the store lock: none is in use). Best
   * effort, as every mutation retries it; one with a mount inside is left alone.
   */
  #clearStaging(): void {
    let entries: string[];
    try {
      entries = fs.readdirSync(this.dir);
    } catch {
      return;
    }
    const stale = entries.filter((entry) => entry.startsWith(STAGING_PREFIX));
    if (stale.length === 0) return;
    const mountPoints = this.#mountPoints();
    for (const entry of stale) {
      const full = path.join(this.dir, entry);
      try {
        const real = fs.realpathSync(full);
        if (mountPoints.some((point) => point === real || point.startsWith(`${real}/`))) continue;
        fs.rmSync(full, { recursive: true, force: true });
      } catch {
        // Retried by the next mutation.
      }
    }
  }

  /** What is at `<dir>/<name>`: a directory, something else (never followed), or nothing. */
  #entryKind(name: string): 'directory' | 'other' | undefined {
    const entry = path.join(this.dir, name);
    try {
      return fs.lstatSync(entry).isDirectory() ? 'directory' : 'other';
    } catch (error) {
      if (nodeErrorCode(error) === 'ENOENT') return undefined;
      throw fsSyscallError('lstat', entry, error);
    }
  }

  /** Names of the volume directories, sorted; `.tmp-*`, `.lock` and anything that is not a name are not volumes. */
  #names(): string[] {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(this.dir, { withFileTypes: true });
    } catch (error) {
      if (nodeErrorCode(error) === 'ENOENT') return [];
      throw fsSyscallError('readdir', this.dir, error);
    }
    return entries
      .filter((entry) => entry.isDirectory() && isValidVolumeName(entry.name))
      .map((entry) => entry.name)
      .sort(compareText);
  }

  /** The record of `name`, or undefined when there is no such volume. */
  #read(name: string): VolumeRecord | undefined {
    const file = path.join(this.dir, name, RECORD_FILE);
    // A miss is retried once: a remove and a create of the same name may have replaced the directory meanwhile.
    for (let attempt = 0; attempt < 2; attempt++) {
      const kind = this.#entryKind(name);
      if (kind === undefined) return undefined;
      if (kind !== 'directory') throw corrupt(path.join(this.dir, name), 'not a directory');
      const text = readOwnFile(file);
      if (text !== undefined) return parseVolumeRecord(text, file, name, this.#mountpoint(name));
    }
    throw corrupt(file, 'missing');
  }
}

/** Parses and checks a record read from `file`: tsrun wrote it, so anything off means damage, named with the file. */
export function parseVolumeRecord(text: string, file: string, name: string, mountpoint: string): VolumeRecord {
  const record = parseJsonObject(text, (detail) => corrupt(file, detail));
  for (const key of ['Name', 'Driver', 'Mountpoint', 'CreatedAt', 'Scope']) {
    if (typeof record[key] !== 'string') throw corrupt(file, `"${key}" must be a string, got ${describeValue(record[key])}`);
  }
  if (record.Name !== name) throw corrupt(file, `"Name" must be ${describeValue(name)}, got ${describeValue(record.Name)}`);
  if (record.Driver !== 'local') throw corrupt(file, `"Driver" must be "local", got ${describeValue(record.Driver)}`);
  if (record.Scope !== 'local') throw corrupt(file, `"Scope" must be "local", got ${describeValue(record.Scope)}`);
  if (Number.isNaN(Date.parse(record.CreatedAt as string))) {
    throw corrupt(file, `"CreatedAt" must be an RFC 3339 time, got ${describeValue(record.CreatedAt)}`);
  }
  let labels: VolumeLabels;
  let options: VolumeOptions;
  try {
    labels = checkVolumeLabels(record.Labels, '"Labels"');
    options = checkVolumeOptions(record.Options, '"Options"');
  } catch (error) {
    throw corrupt(file, error instanceof Error ? error.message : String(error));
  }
  const result: VolumeRecord = {
    CreatedAt: record.CreatedAt as string,
    Driver: 'local',
    Labels: labels,
    Mountpoint: mountpoint,
    Name: name,
    Options: options,
    Scope: 'local',
  };
  if (record.populated !== undefined) {
    const populated = record.populated as Record<string, unknown> | null;
    if (typeof populated !== 'object' || populated === null || typeof populated.at !== 'string' || typeof populated.from !== 'string') {
      throw corrupt(file, `"populated" must be {"at": string, "from": string}, got ${describeValue(record.populated)}`);
    }
    result.populated = { at: populated.at, from: populated.from };
  }
  return result;
}

/** RFC 3339 in UTC to the second, as docker writes CreatedAt: `2026-11-22T06:14:44Z`. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.[0-9]{3}Z$/, 'Z');
}

function formatRecord(record: VolumeRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

function corrupt(file: string, detail: string): RuntimeError {
  return new RuntimeError('volume', `invalid volume file ${file}: ${detail}`);
}

function notFound(names: readonly string[]): RuntimeError {
  if (names.length === 1) return new RuntimeError('volume', `volume ${names[0]} does not exist`);
  return new RuntimeError('volume', `volumes ${names.join(', ')} do not exist`);
}

/** `volume web is in use by container a1b2` / `by containers a, b, c and 2 more`: one line whatever the count. */
function inUse(name: string, users: readonly string[]): RuntimeError {
  const shown = users.slice(0, 5).join(', ');
  const more = users.length > 5 ? ` and ${users.length - 5} more` : '';
  return new RuntimeError(
    'volume',
    `volume ${name} is in use by ${users.length === 1 ? 'container' : 'containers'} ${shown}${more}: remove ${users.length === 1 ? 'it' : 'them'} first, or use --force`,
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function defaultLock(): VolumeLockFn {
  let lock: VolumeLockFn | undefined;
  return (file) => {
    lock ??= createFileLock(createSys());
    return lock(file);
  };
}

function readMountPoints(): string[] {
  const file = '/proc/self/mountinfo';
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw fsSyscallError('read', file, error);
  }
  return parseMountInfo(text).map((entry) => entry.mountPoint);
}

/** The text of `file`, or undefined when missing; a symlink there is refused, never followed. */
function readOwnFile(file: string): string | undefined {
  try {
    return fs.readFileSync(file, { encoding: 'utf8', flag: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW });
  } catch (error) {
    if (nodeErrorCode(error) === 'ENOENT') return undefined;
    throw fsSyscallError('read', file, error);
  }
}

/** mkdir -p of the store with STORE_DIR_MODE for what it creates, despite the umask. */
function ensureStoreDir(dir: string): void {
  try {
    const first = fs.mkdirSync(dir, { recursive: true, mode: STORE_DIR_MODE });
    if (first !== undefined) fs.chmodSync(dir, STORE_DIR_MODE);
  } catch (error) {
    throw fsSyscallError('mkdir', dir, error);
  }
}

/** A new empty file, mode 0600, like the lock files createFileLock makes. */
function createEmptyFile(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
  } catch (error) {
    throw fsSyscallError('open', file, error);
  }
}

/** A new directory with exactly `mode`, despite the umask. */
function mkdirWithMode(dir: string, mode: number): void {
  try {
    fs.mkdirSync(dir, { mode });
    fs.chmodSync(dir, mode);
  } catch (error) {
    throw fsSyscallError('mkdir', dir, error);
  }
}

/** Bytes of the files under `dir`, each inode once, not following symlinks; what cannot be read counts 0. */
function treeBytes(dir: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (current: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) {
        walk(full);
        continue;
      }
      try {
        const stat = fs.lstatSync(full, { bigint: true });
        const key = `${stat.dev}:${stat.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
        total += Number(stat.size);
      } catch {
        // Gone or unreadable: nothing to count.
      }
    }
  };
  walk(dir);
  return total;
}
