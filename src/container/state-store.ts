import fs from 'node:fs';
import path from 'node:path';
import { Phrases, RuntimeError, describeValue } from '../errors';
import { realtimeNanoseconds } from '../linux/clock';
import { fsSyscallError, writeFileAtomic } from '../linux/atomic-file';
import { Errno, SyscallError, nodeErrorCode } from '../linux/errno';
import { isValidContainerId, validateContainerId } from '../spec/container-id';
import { asJsonObject } from '../spec/json-object';
import type { CgroupState } from '../cgroups/types';

/** What tsrun persists per container in <root>/<id>/state.json. */
export interface StoredState {
  id: string;
  bundle: string;
  rootfs: string;
  ociVersion: string;
  initPid: number;
  /** Field 22 of /proc/<pid>/stat as a decimal string: with the PID it identifies the init across PID reuse. */
  initStartTime: string;
  /** RFC 3339 with nanoseconds, UTC (see nowRfc3339Nano). */
  created: string;
  annotations?: Record<string, string>;
  /** '' like runc's state. */
  owner: string;
  /** Other modules add fields (namespaces, cgroup driver, hooks, ...). Values must be plain JSON. */
  [extra: string]: unknown;
}

/**
 * Takes an exclusive lock on `path`, blocking until it is free; the lock must vanish when the holder dies (flock).
 * It creates the file when missing. The real one lives in src/linux; tests pass a fake.
 */
export type LockFn = (path: string) => { release(): void };

/** LockFn without waiting (flock LOCK_NB in the CLI): undefined when another holder has the lock now. */
export type TryLockFn = (path: string) => { release(): void } | undefined;

export interface ListEntry {
  id: string;
  state?: StoredState;
  /** Why this entry has no state: an invalid directory name, a missing or unreadable state.json. */
  error?: string;
  /** Owner of the container directory (runc's `list` shows its user name). */
  ownerUid?: number;
}

export const STATE_FILE = 'state.json';
/**
 * What a create has made before state.json exists, so that `delete --force` can remove it when that tsrun died:
 * <root>/<id>/creating.json. (Its init needs no entry: until state.json is written it waits for tsrun's go-ahead
 * and leaves when tsrun dies.)
 */
export const CREATING_FILE = 'creating.json';

export interface CreatingRecord {
  cgroup?: CgroupState;
}
/** Directory of lock files under the root; `@` cannot occur in a container id, so no container can collide with it. */
export const LOCK_DIR_NAME = '@locks';
/** Number of lock files ids are spread over (see withLock). Part of the on-disk contract: never change it. */
export const LOCK_STRIPES = 256;

function notFound(id: string): RuntimeError {
  return new RuntimeError('not-found', `container ${JSON.stringify(id)} does not exist`);
}

/** 32-bit FNV-1a: tiny, stable across versions and platforms — which is all a lock stripe needs. */
function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

function isThenable(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** A cgroup record as create writes it, or undefined for anything else (then nothing is removed through it). */
function asCgroupState(value: unknown): CgroupState | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { driver, mode, paths, created } = value as Record<string, unknown>;
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (driver !== 'cgroupfs' || typeof mode !== 'string' || !strings(created)) return undefined;
  if (typeof paths !== 'object' || paths === null || !strings(Object.values(paths))) return undefined;
  return value as CgroupState;
}

/**
 * mkdir -p; each directory it makes gets 0700. One level at a time because Node's recursive mkdir turns most
 * failures (EROFS, ENOSPC, EIO…) into the ENOENT of a stat it makes afterwards, and the real errno must reach the user.
 */
function makeDirectories(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    return;
  } catch (error) {
    const code = nodeErrorCode(error);
    if (code === 'EEXIST' && fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return;
    if (code !== 'ENOENT' || path.dirname(dir) === dir) throw fsSyscallError('mkdir', dir, error);
  }
  makeDirectories(path.dirname(dir));
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if (nodeErrorCode(error) !== 'EEXIST') throw fsSyscallError('mkdir', dir, error);
  }
}

function checkStoredState(value: unknown, id: string, file: string): StoredState {
  const corrupt = (detail: string): RuntimeError => new RuntimeError('state-corrupt', `invalid state file ${file}: ${detail}`);
  const record = asJsonObject(value, corrupt);
  for (const key of ['id', 'bundle', 'rootfs', 'ociVersion', 'initStartTime', 'created', 'owner']) {
    if (typeof record[key] !== 'string') throw corrupt(`"${key}" must be a string, got ${describeValue(record[key])}`);
  }
  const pid = record.initPid;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 0) {
    throw corrupt(`"initPid" must be a non-negative integer, got ${describeValue(pid)}`);
  }
  if (record.id !== id) throw corrupt(`it belongs to container ${describeValue(record.id)}`);
  const annotations = record.annotations;
  if (annotations !== undefined) {
    const ok =
      typeof annotations === 'object' &&
      annotations !== null &&
      !Array.isArray(annotations) &&
      Object.values(annotations).every((v) => typeof v === 'string');
    if (!ok) throw corrupt('"annotations" must map strings to strings');
  }
  return record as StoredState;
}

/**
 * Removes a directory tree without following symlinks (they are unlinked as entries) and without descending into
 * another filesystem mounted inside it: deleting a container must never reach outside its directory.
 */
function removeTree(target: string, device: number): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(target);
  } catch (error) {
    if (nodeErrorCode(error) === 'ENOENT') return;
    throw fsSyscallError('lstat', target, error);
  }
  try {
    if (!stat.isDirectory()) {
      fs.unlinkSync(target);
      return;
    }
    if (stat.dev !== device) {
      throw new RuntimeError('busy', `refusing to remove ${target}: a different filesystem is mounted there`);
    }
    for (const name of fs.readdirSync(target)) removeTree(path.join(target, name), device);
    fs.rmdirSync(target);
  } catch (error) {
    if (error instanceof RuntimeError) throw error;
    if (nodeErrorCode(error) === 'ENOENT') return; // removed concurrently: the goal is reached
    throw fsSyscallError('remove', target, error);
  }
}

/**
 * A timestamp as Go's time.RFC3339Nano writes it in UTC (what runc stores and prints for `created`):
 * `2026-11-22T06:14:44.123456789Z`, with trailing zeros of the fraction dropped and no fraction at all on a whole
 * second — Go's format, so our `state`/`list` output matches runc's byte for byte.
 */
export function nowRfc3339Nano(clock: () => bigint = realtimeNanoseconds): string {
  const perSecond = 1_000_000_000n;
  const nanoseconds = clock();
  let seconds = nanoseconds / perSecond;
  let fraction = nanoseconds % perSecond;
  if (fraction < 0n) {
    fraction += perSecond;
    seconds -= 1n;
  }
  const whole = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  const digits = fraction === 0n ? '' : `.${fraction.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${whole}${digits}Z`;
}

/**
 * The state directory given by `--root`: one directory per container (mode 0700) holding state.json (written
 * atomically), exec.fifo and whatever else a container needs, plus the lock files.
 */
export class StateStore {
  readonly #root: string;
  readonly #lock: LockFn;
  readonly #tryLock: TryLockFn | undefined;
  /** Lock files this store holds now, with nesting depth: withLock is re-entrant within one store. */
  readonly #held = new Map<string, number>();

  constructor(root: string, lock: LockFn, tryLock?: TryLockFn) {
    const resolved = path.resolve(root);
    // remove() deletes <root>/<id>; with `/` as root that would be /etc, /usr, ...
    if (resolved === path.parse(resolved).root) {
      throw new RuntimeError('invalid-argument', `invalid state root ${JSON.stringify(root)}: must not be /`);
    }
    this.#root = resolved;
    this.#lock = lock;
    this.#tryLock = tryLock;
  }

  get root(): string {
    return this.#root;
  }

  containerDir(id: string): string {
    validateContainerId(id);
    return path.join(this.#root, id);
  }

  /** mkdir -p the root; directories it creates get 0700 (state is not for other users to read). */
  ensureRoot(): void {
    makeDirectories(this.#root);
  }

  /** Creates the container directory; it existing already is the "id not unique" error runc gives. */
  createContainerDir(id: string): string {
    const dir = this.containerDir(id);
    this.ensureRoot();
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if (nodeErrorCode(error) === 'EEXIST') {
        throw new RuntimeError('exists', `container with given ID already exists: ${JSON.stringify(id)}`);
      }
      throw fsSyscallError('mkdir', dir, error);
    }
    // The umask may have taken bits away; 0700 exactly, whatever the caller's umask.
    fs.chmodSync(dir, 0o700);
    return dir;
  }

  /** Whether the container's directory exists (it may still lack state.json: a create was interrupted). */
  exists(id: string): boolean {
    const dir = this.containerDir(id);
    try {
      return fs.lstatSync(dir).isDirectory();
    } catch (error) {
      if (nodeErrorCode(error) === 'ENOENT') return false;
      throw fsSyscallError('lstat', dir, error);
    }
  }

  /**
   * Opens the container's directory without following a symlink in its place: one planted there (by whoever can
   * write the root) would make state, kill or start act on another directory's state.json and PID.
   */
  #openDir(id: string): number {
    const dir = this.containerDir(id);
    try {
      return fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch (error) {
      const code = nodeErrorCode(error);
      if (code === 'ENOENT') throw notFound(id);
      if (code === 'ELOOP' || code === 'ENOTDIR') {
        throw new RuntimeError('not-found', `container ${JSON.stringify(id)} does not exist: ${dir} is not a directory (a symlink there is never followed)`);
      }
      throw fsSyscallError('open', dir, error);
    }
  }

  read(id: string): StoredState {
    const file = path.join(this.containerDir(id), STATE_FILE);
    const dirFd = this.#openDir(id);
    let text: string;
    try {
      // Through the descriptor, so the directory checked above is the one read; state.json itself may not be a link.
      text = fs.readFileSync(`/proc/self/fd/${dirFd}/${STATE_FILE}`, { encoding: 'utf8', flag: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW });
    } catch (error) {
      const code = nodeErrorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(id);
      throw fsSyscallError('read', file, error);
    } finally {
      fs.closeSync(dirFd);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new RuntimeError('state-corrupt', `invalid state file ${file}: not JSON (${detail})`);
    }
    return checkStoredState(value, id, file);
  }

  /**
   * Replaces state.json atomically: the new content goes to a fresh `.state.json.<random>` (O_EXCL, 0600), is
   * fsynced, then renamed over state.json, so a reader sees the old or the new file, never a partial one — even
   * after a crash. The temporary file is removed on every failure.
   */
  write(id: string, state: StoredState): void {
    const dir = this.containerDir(id);
    if (state.id !== id) {
      throw new RuntimeError('internal', `state of container ${JSON.stringify(state.id)} written as ${JSON.stringify(id)}`);
    }
    let text: string;
    try {
      text = JSON.stringify(state);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new RuntimeError('internal', `cannot serialise the state of ${JSON.stringify(id)}: ${detail}`);
    }
    try {
      writeFileAtomic(dir, STATE_FILE, text);
    } catch (error) {
      // No directory to write into: the container was deleted meanwhile.
      if (error instanceof SyscallError && error.operation === 'open' && error.errno === Errno.ENOENT) throw notFound(id);
      throw error;
    }
  }

  /** Writes <dir>/creating.json (see CREATING_FILE), atomically. */
  writeCreating(id: string, record: CreatingRecord): void {
    writeFileAtomic(this.containerDir(id), CREATING_FILE, JSON.stringify(record));
  }

  /** What creating.json records; undefined when it is missing or unreadable (nothing is removed through it then). */
  readCreating(id: string): CreatingRecord | undefined {
    let dirFd: number;
    try {
      dirFd = this.#openDir(id);
    } catch {
      return undefined;
    }
    try {
      const text = fs.readFileSync(`/proc/self/fd/${dirFd}/${CREATING_FILE}`, { encoding: 'utf8', flag: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW });
      const cgroup = asCgroupState((JSON.parse(text) as { cgroup?: unknown } | null)?.cgroup);
      return cgroup ? { cgroup } : {};
    } catch {
      return undefined;
    } finally {
      fs.closeSync(dirFd);
    }
  }

  /** rm -rf of the container directory, and only of it (see removeTree). Missing is fine. */
  remove(id: string): void {
    const dir = this.containerDir(id);
    let device: number;
    try {
      const stat = fs.lstatSync(dir);
      // A symlink planted in place of the directory is removed itself, never followed.
      if (!stat.isDirectory()) {
        fs.unlinkSync(dir);
        return;
      }
      device = stat.dev;
    } catch (error) {
      if (nodeErrorCode(error) === 'ENOENT') return;
      throw fsSyscallError('remove', dir, error);
    }
    removeTree(dir, device);
  }

  /**
   * Every container directory under the root, sorted by id (code-unit order, which for valid ids is runc's byte
   * order). Entries that are not containers of ours still show up, with `error`, so `tsrun list` can report them
   * (runc does, on stderr) instead of hiding a broken state; plain files and the lock directory are skipped, and so
   * are containers caught in the middle of a create or delete by another tsrun (see #settle).
   */
  list(): ListEntry[] {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(this.#root, { withFileTypes: true });
    } catch (error) {
      if (nodeErrorCode(error) === 'ENOENT') return [];
      throw fsSyscallError('readdir', this.#root, error);
    }
    const result: ListEntry[] = [];
    for (const entry of entries) {
      // `@` is no id's: the lock files and other shared records (@locks, @cgroup-parents).
      if (entry.name.startsWith('@') || !entry.isDirectory()) continue;
      const id = entry.name;
      if (!isValidContainerId(id)) {
        result.push({ id, error: `${Phrases.invalidId}: ${describeValue(id)}` });
        continue;
      }
      let ownerUid: number | undefined;
      try {
        ownerUid = fs.lstatSync(path.join(this.#root, id)).uid;
        result.push({ id, state: this.read(id), ownerUid });
      } catch (caught) {
        if (nodeErrorCode(caught) === 'ENOENT') continue; // the lstat: removed since readdir (runc skips these too)
        const settled = this.#settle(id, caught);
        if (settled === 'busy' || settled === 'gone') continue;
        if (!(settled instanceof Error)) result.push({ id, state: settled, ownerUid: ownerUid! });
        else result.push(ownerUid === undefined ? { id, error: settled.message } : { id, error: settled.message, ownerUid });
      }
    }
    return result.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * A directory readdir listed has no readable state.json (`error`): is that only another tsrun's work in progress?
   * Create writes state.json last and delete removes the directory, both holding the id's lock. So when that lock is
   * held, the container is being created or deleted ('busy': not shown, as runc never shows `creating`); when it is
   * free, taking it settles the question: the directory is gone ('gone', deleted meanwhile), its state.json is there
   * now (the state), or it is still missing — a leftover of a create that was killed, reported as `error` says.
   * (An id on the same lock stripe holding it makes such a leftover 'busy' for that moment: 1 id in 256.)
   */
  #settle(id: string, error: unknown): StoredState | 'busy' | 'gone' | Error {
    const asError = error instanceof Error ? error : new Error(String(error));
    if (!(error instanceof RuntimeError) || error.code !== 'not-found' || this.#tryLock === undefined) return asError;
    const file = this.lockPath(id);
    let handle;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      handle = this.#tryLock(file);
    } catch {
      return asError; // cannot tell (e.g. another user's root): report what was found
    }
    if (handle === undefined) return 'busy';
    try {
      if (!this.exists(id)) return 'gone';
      return this.read(id);
    } catch (again) {
      return again instanceof Error ? again : new Error(String(again));
    } finally {
      handle.release();
    }
  }

  /** The lock file guarding `id`: <root>/@locks/<stripe>.lock. */
  lockPath(id: string): string {
    validateContainerId(id);
    const stripe = fnv1a32(id) % LOCK_STRIPES;
    return path.join(this.#root, LOCK_DIR_NAME, `${stripe.toString(16).padStart(2, '0')}.lock`);
  }

  /**
   * Runs `fn` holding the exclusive lock of `id`, across processes.
   *
   * Design: the lock files live outside the container directories, in <root>/@locks, and there is a fixed set of
   * them (ids hash onto 256 stripes) that is never deleted. Hence:
   * - delete can remove <root>/<id> entirely while holding the lock, and a create of the same id waiting on that
   *   lock then starts from a clean slate — the same id always maps to the same lock file;
   * - no lock file is ever unlinked, so there is no window where one process locks a deleted inode while another
   *   locks its replacement (the classic flaw of per-id lock files that are cleaned up), and the files cannot pile
   *   up either (containerd uses a fresh id per task);
   * - two different ids share a lock with probability 1/256, which only serializes them a little.
   * The lock is re-entrant within this store (nested calls for ids on the held stripe run directly: flock would
   * deadlock against our own second open file description). Do not nest locks of different ids: across processes
   * that could deadlock. `fn` must be synchronous: the lock is released when it returns.
   */
  withLock<T>(id: string, fn: () => T): T {
    return this.#withLockFile(this.lockPath(id), fn);
  }

  /**
   * Runs `fn` holding the lock `<root>/@locks/<name>.lock`, for what all containers under this root share (names
   * never collide with the stripes, which are two hex digits). Taken inside a container's lock, never around one.
   */
  withSharedLock<T>(name: string, fn: () => T): T {
    if (!/^[a-z][a-z-]+$/.test(name)) throw new RuntimeError('internal', `StateStore.withSharedLock: bad lock name ${JSON.stringify(name)}`);
    return this.#withLockFile(path.join(this.#root, LOCK_DIR_NAME, `${name}.lock`), fn);
  }

  #withLockFile<T>(file: string, fn: () => T): T {
    const depth = this.#held.get(file);
    if (depth !== undefined) {
      this.#held.set(file, depth + 1);
      try {
        return checkedResult(fn());
      } finally {
        this.#held.set(file, depth);
      }
    }
    makeDirectories(path.dirname(file));
    const handle = this.#lock(file);
    this.#held.set(file, 1);
    try {
      return checkedResult(fn());
    } finally {
      this.#held.delete(file);
      handle.release();
    }
  }
}

function checkedResult<T>(value: T): T {
  if (isThenable(value)) {
    throw new RuntimeError('internal', 'StateStore.withLock: the callback returned a promise; it must be synchronous');
  }
  return value;
}

