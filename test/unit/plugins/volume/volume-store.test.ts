import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorOf } from '../../../helpers/errors';
import { VolumeStore, type VolumeRecord, type VolumeStoreOptions, parseVolumeRecord, rfc3339 } from '../../../../src/plugins/volume/volume-store';
import { WouldBlock, mkdirLock, snapshot } from '../network/mkdir-lock';
import { runNode } from '../../../helpers/run-node';

let tmp: string;
let dir: string;
let now: Date;
let users: Record<string, string[]>;
let events: string[];
let randomNames: string[];

const TMPFS = { type: 'tmpfs', device: 'tmpfs', o: 'size=64m,uid=1000' };

/** A store on `dir` with a fake clock, fake users and, unless told otherwise, the real flock. */
function newStore(options: Partial<VolumeStoreOptions> = {}): VolumeStore {
  return new VolumeStore(dir, {
    usersOf: (name) => users[name] ?? [],
    now: () => now,
    random: () => randomNames.shift() ?? 'no-more-random-names',
    mountPoints: () => [],
    ...options,
  });
}

/** A store whose locks are mkdir locks that throw WouldBlock rather than wait, recording what they take. */
function recordingStore(owner = ''): VolumeStore {
  const lock = mkdirLock({ events, owner });
  return newStore({
    lock: (file) => {
      const handle = lock(file);
      // remove deletes the volume, lock file (and mkdirLock's marker) included, while holding its lock; flock does
      // not mind, mkdirLock's rmdir of its marker does.
      return {
        release: () => {
          try {
            handle.release();
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          }
        },
      };
    },
  });
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-volstore-'));
  dir = path.join(tmp, 'volumes');
  now = new Date(Date.UTC(2026, 10, 22, 6, 14, 44, 123));
  users = {};
  events = [];
  randomNames = [];
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** `fn` must throw a RuntimeError with `code` and exactly `message`, and leave every file under tmp as it was. */
function refused(fn: () => unknown, code: string, message: string | RegExp): void {
  const before = snapshot(tmp);
  const error = errorOf(fn);
  expect(error.code).toBe(code);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
  expect(error.message).not.toContain('\n');
  expect(snapshot(tmp)).toEqual(before);
}

function entries(): string[] {
  return fs.readdirSync(dir).sort();
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o7777;
}

describe('create', () => {
  it('makes <dir>/<name>/_data and a volume.json like docker inspect shows it', () => {
    const record = newStore().create({ name: 'web-data', labels: { team: 'db' } });
    const mountpoint = path.join(dir, 'web-data', '_data');
    expect(record).toEqual({
      CreatedAt: '2026-11-22T06:14:44Z',
      Driver: 'local',
      Labels: { team: 'db' },
      Mountpoint: mountpoint,
      Name: 'web-data',
      Options: {},
      Scope: 'local',
    });
    expect(path.isAbsolute(record.Mountpoint)).toBe(true);
    const file = path.join(dir, 'web-data', 'volume.json');
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(record);
    expect(Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')) as object)).toEqual([
      'CreatedAt',
      'Driver',
      'Labels',
      'Mountpoint',
      'Name',
      'Options',
      'Scope',
    ]);
    expect(fs.readdirSync(mountpoint)).toEqual([]);
    expect(mode(mountpoint)).toBe(0o755);
    expect(mode(path.join(dir, 'web-data'))).toBe(0o755);
    expect(mode(dir)).toBe(0o701);
    expect(mode(file)).toBe(0o600);
    expect(entries()).toEqual(['.lock', 'web-data']);
    expect(newStore().get('web-data')).toEqual(record);
  });

  it('names an anonymous volume from the random source', () => {
    randomNames = ['a'.repeat(64)];
    const record = newStore().create();
    expect(record.Name).toBe('a'.repeat(64));
    expect(record.Mountpoint).toBe(path.join(dir, 'a'.repeat(64), '_data'));
  });

  it('gives anonymous volumes 64 hex digits by default', () => {
    const store = newStore({ random: undefined });
    const a = store.create();
    const b = store.create();
    expect(a.Name).toMatch(/^[0-9a-f]{64}$/);
    expect(b.Name).toMatch(/^[0-9a-f]{64}$/);
    expect(a.Name).not.toBe(b.Name);
  });

  it('draws another random name when one is taken', () => {
    const store = newStore();
    store.create({ name: 'taken' });
    randomNames = ['taken', 'fresh'];
    expect(store.create().Name).toBe('fresh');
    expect(store.get('taken').Name).toBe('taken');
  });

  it('refuses a random source that gives no volume name', () => {
    const store = newStore();
    store.create({ name: 'v' });
    randomNames = ['../evil'];
    refused(() => store.create(), 'internal', 'volume store: the random name source gave "../evil", not a volume name');
  });

  it('keeps tmpfs options as given', () => {
    const record = newStore().create({ name: 'scratch', options: TMPFS });
    expect(record.Options).toEqual(TMPFS);
    expect(newStore().get('scratch').Options).toEqual(TMPFS);
  });

  it('returns an existing volume with the same options as it is, labels and creation time included', () => {
    const first = newStore().create({ name: 'cache', labels: { a: '1' }, options: TMPFS });
    now = new Date(now.getTime() + 3_600_000);
    const before = snapshot(tmp);
    const again = newStore().create({ name: 'cache', labels: { b: '2' }, options: { o: TMPFS.o, device: 'tmpfs', type: 'tmpfs' } });
    expect(again).toEqual(first);
    expect(snapshot(tmp)).toEqual(before);
  });

  it('refuses an existing name with other options, changing nothing', () => {
    const store = newStore();
    store.create({ name: 'cache', options: TMPFS });
    refused(
      () => store.create({ name: 'cache' }),
      'volume',
      'volume cache already exists with type=tmpfs device=tmpfs o=size=64m,uid=1000, not no options: remove it first or give the same --opt values',
    );
    refused(
      () => store.create({ name: 'cache', options: { ...TMPFS, o: 'size=1g' } }),
      'volume',
      'volume cache already exists with type=tmpfs device=tmpfs o=size=64m,uid=1000, not type=tmpfs device=tmpfs o=size=1g: remove it first or give the same --opt values',
    );
  });

  it.each([
    ['a/b', 'volume name "a/b": a name cannot contain "/"; to mount a host directory use a bind mount of its absolute path'],
    ['', 'volume name "": must not be empty'],
    ['-x', 'volume name "-x": must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (a letter or digit, then letters, digits, "_", "." or "-")'],
    ['a'.repeat(256), /^volume name "a+\.\.\.: must be at most 255 characters, got 256$/],
  ])('refuses the name %j before touching anything', (name, message) => {
    refused(() => newStore().create({ name }), 'usage', message);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('accepts a 255-character name', () => {
    const name = 'n'.repeat(255);
    expect(newStore().create({ name }).Name).toBe(name);
    expect(newStore().list().map((v) => v.Name)).toEqual([name]);
  });

  it.each([
    [{ foo: 'bar' }, '--opt "foo": unknown option, the local driver takes type, device, o'],
    [{ type: 'tmpfs' }, '--opt type: needs --opt device=... as well (e.g. --opt type=tmpfs --opt device=tmpfs --opt o=size=64m)'],
    [{ type: 'ext4', device: '/dev/sdb1' }, '--opt type="ext4": not supported, expected tmpfs'],
    [{ ...TMPFS, o: 'size=64m,exec' }, '--opt o="size=64m,exec": "exec" is not KEY=VALUE, expected size, mode, uid or gid (e.g. size=64m,uid=1000)'],
  ])('refuses the options %j before touching anything', (options, message) => {
    refused(() => newStore().create({ name: 'x', options }), 'usage', message);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('refuses labels that are not strings', () => {
    refused(() => newStore().create({ name: 'x', labels: { a: 1 as unknown as string } }), 'usage', '--label a: the value must be a string, got 1');
  });
});

describe('reading', () => {
  it('lists volumes sorted by name; an empty or missing store lists nothing', () => {
    expect(newStore().list()).toEqual([]);
    const store = newStore();
    for (const name of ['zeta', 'alpha', 'Mid', '0day']) store.create({ name });
    expect(store.list().map((v) => v.Name)).toEqual(['0day', 'Mid', 'alpha', 'zeta']);
  });

  it('filters dangling volumes with usersOf', () => {
    const store = newStore();
    for (const name of ['a', 'b', 'c']) store.create({ name });
    users = { b: ['c1'], c: ['c2', 'c3'] };
    expect(store.list({ dangling: true }).map((v) => v.Name)).toEqual(['a']);
    expect(store.list({ dangling: false }).map((v) => v.Name)).toEqual(['b', 'c']);
    expect(store.list({}).map((v) => v.Name)).toEqual(['a', 'b', 'c']);
  });

  it('gets and inspects by name, naming what is missing', () => {
    const store = newStore();
    const a = store.create({ name: 'a' });
    const b = store.create({ name: 'b', options: TMPFS });
    expect(store.inspect(['b', 'a'])).toEqual([b, a]);
    expect(store.inspect([])).toEqual([]);
    refused(() => store.get('nope'), 'volume', 'volume nope does not exist');
    refused(() => store.inspect(['a', 'x']), 'volume', 'volume x does not exist');
    refused(() => store.inspect(['x', 'a', 'y']), 'volume', 'volumes x, y do not exist');
    refused(() => store.get('../a'), 'usage', /a name cannot contain "\/"/);
  });

  it('reports Mountpoint where the store is now, whatever the file says', () => {
    newStore().create({ name: 'v' });
    const moved = path.join(tmp, 'moved');
    fs.renameSync(dir, moved);
    dir = moved;
    expect(newStore().get('v').Mountpoint).toBe(path.join(moved, 'v', '_data'));
  });

  it('ignores what is not a volume: dot files, the lock, stray files and symlinks', () => {
    const store = newStore();
    store.create({ name: 'real' });
    fs.writeFileSync(path.join(dir, 'stray'), 'x');
    fs.mkdirSync(path.join(dir, '.hidden'));
    fs.symlinkSync(path.join(dir, 'real'), path.join(dir, 'link'));
    expect(store.list().map((v) => v.Name)).toEqual(['real']);
    expect(errorOf(() => store.get('stray')).message).toBe(`invalid volume file ${path.join(dir, 'stray')}: not a directory`);
    expect(errorOf(() => store.get('link')).message).toBe(`invalid volume file ${path.join(dir, 'link')}: not a directory`);
  });

  it('names the file of a damaged record', () => {
    const store = newStore();
    store.create({ name: 'v' });
    const file = path.join(dir, 'v', 'volume.json');
    fs.writeFileSync(file, '{"Name": "v",');
    refused(() => store.get('v'), 'volume', new RegExp(`^invalid volume file ${escape(file)}: not JSON \\(`));
    refused(() => store.list(), 'volume', new RegExp(`^invalid volume file ${escape(file)}: not JSON`));
    fs.rmSync(file);
    refused(() => store.get('v'), 'volume', `invalid volume file ${file}: missing`);
  });

  it.each([
    [[], 'not a JSON object'],
    [{ Driver: undefined }, '"Driver" must be a string, got undefined'],
    [{ Name: 'w', Driver: 'nfs' }, '"Name" must be "v", got "w"'],
    [{ Driver: 'nfs' }, '"Driver" must be "local", got "nfs"'],
    [{ Scope: 'global' }, '"Scope" must be "local", got "global"'],
    [{ CreatedAt: 'yesterday' }, '"CreatedAt" must be an RFC 3339 time, got "yesterday"'],
    [{ Labels: { a: 1 } }, '"Labels" a: the value must be a string, got 1'],
    [{ Options: { type: 'ext4', device: 'x' } }, '"Options" type="ext4": not supported, expected tmpfs'],
    [{ populated: { at: 1 } }, '"populated" must be {"at": string, "from": string}, got {"at":1}'],
  ])('checks records: %j', (change, detail) => {
    const good = { CreatedAt: '2026-11-22T06:14:44Z', Driver: 'local', Labels: {}, Mountpoint: '/x', Name: 'v', Options: {}, Scope: 'local' };
    const value = Array.isArray(change) ? change : { ...good, ...change };
    expect(errorOf(() => parseVolumeRecord(JSON.stringify(value), '/s/v/volume.json', 'v', '/s/v/_data')).message).toBe(
      `invalid volume file /s/v/volume.json: ${detail}`,
    );
  });

  it('formats times as RFC 3339 in UTC to the second', () => {
    expect(rfc3339(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 999)))).toBe('2026-01-02T03:04:05Z');
  });
});

describe('remove', () => {
  it('removes a volume and its data', () => {
    const store = newStore();
    const record = store.create({ name: 'v' });
    fs.writeFileSync(path.join(record.Mountpoint, 'file'), 'data');
    fs.mkdirSync(path.join(record.Mountpoint, 'sub', 'deeper'), { recursive: true });
    expect(store.remove('v')).toBe(true);
    expect(entries()).toEqual(['.lock']);
    refused(() => store.get('v'), 'volume', 'volume v does not exist');
  });

  it('is refused while containers use the volume, naming them; --force removes it anyway', () => {
    const store = newStore();
    store.create({ name: 'v' });
    users = { v: ['c1'] };
    refused(() => store.remove('v'), 'volume', 'volume v is in use by container c1: remove it first, or use --force');
    users = { v: ['c1', 'c2'] };
    refused(() => store.remove('v', { force: false }), 'volume', 'volume v is in use by containers c1, c2: remove them first, or use --force');
    users = { v: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] };
    refused(() => store.remove('v'), 'volume', 'volume v is in use by containers a, b, c, d, e and 2 more: remove them first, or use --force');
    expect(store.remove('v', { force: true })).toBe(true);
    expect(entries()).toEqual(['.lock']);
  });

  it('refuses a missing volume unless forced', () => {
    const store = newStore();
    store.create({ name: 'other' });
    refused(() => store.remove('nope'), 'volume', 'volume nope does not exist');
    expect(store.remove('nope', { force: true })).toBe(false);
    expect(store.list().map((v) => v.Name)).toEqual(['other']);
    refused(() => store.remove('a/b', { force: true }), 'usage', /a name cannot contain "\/"/);
  });

  it('removes a volume with a damaged record', () => {
    const store = newStore();
    store.create({ name: 'v' });
    fs.writeFileSync(path.join(dir, 'v', 'volume.json'), 'garbage');
    expect(store.remove('v')).toBe(true);
    expect(entries()).toEqual(['.lock']);
  });

  it('removes a stray symlink at a name without following it', () => {
    const store = newStore();
    const target = path.join(tmp, 'precious');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'keep'), 'x');
    store.create({ name: 'other' });
    fs.symlinkSync(target, path.join(dir, 'link'));
    expect(store.remove('link')).toBe(true);
    expect(fs.readFileSync(path.join(target, 'keep'), 'utf8')).toBe('x');
    expect(entries()).toEqual(['.lock', 'other']);
  });

  it('never deletes through a mount point inside the volume', () => {
    let mounts: string[] = [];
    const store = newStore({ mountPoints: () => mounts });
    const record = store.create({ name: 'v' });
    fs.mkdirSync(path.join(record.Mountpoint, 'm'));
    mounts = ['/proc', path.join(fs.realpathSync(dir), 'v', '_data', 'm')];
    refused(() => store.remove('v', { force: true }), 'volume', `volume v: ${mounts[1]} is a mount point inside it; unmount it first`);
    mounts = [path.join(fs.realpathSync(dir), 'v', '_data')];
    refused(() => store.prune(), 'volume', `volume v: ${mounts[0]} is a mount point inside it; unmount it first`);
    mounts = [path.join(fs.realpathSync(dir), 'v-other')];
    expect(store.remove('v')).toBe(true);
  });
});

describe('prune', () => {
  it('removes only the volumes nobody uses, counting their bytes (hard links once)', () => {
    const store = newStore();
    for (const name of ['a', 'b', 'c', 'd']) store.create({ name });
    fs.writeFileSync(path.join(dir, 'a', '_data', 'f'), Buffer.alloc(1000));
    fs.linkSync(path.join(dir, 'a', '_data', 'f'), path.join(dir, 'a', '_data', 'hardlink'));
    fs.mkdirSync(path.join(dir, 'c', '_data', 'sub'));
    fs.writeFileSync(path.join(dir, 'c', '_data', 'sub', 'g'), Buffer.alloc(24));
    fs.writeFileSync(path.join(dir, 'b', '_data', 'kept'), Buffer.alloc(5000));
    users = { b: ['c1'], d: ['c2'] };
    expect(store.prune()).toEqual({ removed: ['a', 'c'], bytes: 1024 });
    expect(store.list().map((v) => v.Name)).toEqual(['b', 'd']);
    expect(store.prune()).toEqual({ removed: [], bytes: 0 });
    users = {};
    expect(store.prune()).toEqual({ removed: ['b', 'd'], bytes: 5000 });
    expect(entries()).toEqual(['.lock']);
  });

  it('on an empty or missing store removes nothing', () => {
    expect(newStore().prune()).toEqual({ removed: [], bytes: 0 });
  });
});

describe('crashes', () => {
  it('a half-made volume (.tmp-*) is invisible to readers and deleted by the next mutation', () => {
    const store = newStore();
    store.create({ name: 'kept' });
    const staging = path.join(dir, '.tmp-4242-deadbeef');
    fs.mkdirSync(path.join(staging, '_data'), { recursive: true });
    fs.writeFileSync(path.join(staging, '_data', 'half'), 'x');
    fs.writeFileSync(path.join(staging, 'volume.json'), '{"Name": "half');
    expect(store.list().map((v) => v.Name)).toEqual(['kept']);
    expect(store.list({ dangling: true }).map((v) => v.Name)).toEqual(['kept']);
    expect(entries()).toContain('.tmp-4242-deadbeef');
    store.create({ name: 'next' });
    expect(entries()).toEqual(['.lock', 'kept', 'next']);
  });

  it('remove and prune clean up as well, but never a .tmp-* with a mount inside', () => {
    const staging = path.join(dir, '.tmp-1-aa');
    const mounted = path.join(dir, '.tmp-2-bb');
    fs.mkdirSync(staging, { recursive: true });
    fs.mkdirSync(path.join(mounted, '_data'), { recursive: true });
    const store = newStore({ mountPoints: () => [path.join(fs.realpathSync(mounted), '_data')] });
    expect(store.remove('nope', { force: true })).toBe(false);
    expect(entries()).toEqual(['.lock', '.tmp-2-bb']);
    fs.mkdirSync(staging);
    newStore().prune();
    expect(entries()).toEqual(['.lock']);
  });
});

describe('locks', () => {
  it('creates take the store lock, remove and prune the store lock and then the volume lock', () => {
    const store = recordingStore();
    store.create({ name: 'v' });
    store.remove('v');
    store.create({ name: 'w' });
    store.prune();
    const storeLock = path.join(dir, '.lock');
    const v = path.join(dir, 'v', '.lock');
    const w = path.join(dir, 'w', '.lock');
    expect(events).toEqual([
      `lock ${storeLock}`,
      `release ${storeLock}`,
      `lock ${storeLock}`,
      `lock ${v}`,
      `release ${v}`,
      `release ${storeLock}`,
      `lock ${storeLock}`,
      `release ${storeLock}`,
      `lock ${storeLock}`,
      `lock ${w}`,
      `release ${w}`,
      `release ${storeLock}`,
    ]);
  });

  it('withVolumeLock opens the volume lock under the store lock, lets the store lock go and holds the volume lock for fn', () => {
    const store = recordingStore();
    const created = store.create({ name: 'v' });
    events.length = 0;
    const storeLock = path.join(dir, '.lock');
    const volumeLock = path.join(dir, 'v', '.lock');
    const seen = store.withVolumeLock('v', (record) => {
      expect(record).toEqual(created);
      expect(events).toEqual([`lock ${storeLock}`, `lock ${volumeLock}`, `release ${storeLock}`]);
      // Meanwhile another process can create volumes, but cannot remove or populate this one.
      const other = recordingStore('other:');
      expect(other.create({ name: 'w' }).Name).toBe('w');
      expect(() => other.remove('v')).toThrow(WouldBlock);
      expect(() => other.withVolumeLock('v', () => undefined)).toThrow(WouldBlock);
      expect(store.get('v')).toEqual(created);
      return 'result';
    });
    expect(seen).toBe('result');
    expect(events.at(-1)).toBe(`release ${volumeLock}`);
    // The lock file is beside _data, never in it.
    expect(fs.readdirSync(path.join(dir, 'v')).sort()).toEqual(['.lock', '_data', 'volume.json']);
    expect(fs.readdirSync(path.join(dir, 'v', '_data'))).toEqual([]);
  });

  it('refuses create, remove, prune and other volume locks from inside withVolumeLock', () => {
    const store = newStore();
    store.create({ name: 'v' });
    store.create({ name: 'w' });
    store.withVolumeLock('v', () => {
      const message = 'volume store: create, remove or prune was called while holding a volume lock';
      expect(errorOf(() => store.create({ name: 'x' })).message).toBe(message);
      expect(errorOf(() => store.remove('w')).message).toBe(message);
      expect(errorOf(() => store.prune()).message).toBe(message);
      expect(errorOf(() => store.withVolumeLock('w', () => undefined)).message).toBe(
        "volume store: the lock of volume w was requested while holding another volume's lock",
      );
      // the same volume again is fine: re-entrant
      expect(store.withVolumeLock('v', (record) => record.Name)).toBe('v');
    });
    expect(store.list().map((v) => v.Name)).toEqual(['v', 'w']);
  });

  it('withVolumeLock of a missing volume is refused without creating anything', () => {
    const store = newStore();
    store.create({ name: 'v' });
    refused(() => store.withVolumeLock('nope', () => undefined), 'volume', 'volume nope does not exist');
    refused(() => store.markPopulated('nope', 'image x:/data'), 'volume', 'volume nope does not exist');
  });

  it('releases its locks when fn throws', () => {
    const store = recordingStore();
    store.create({ name: 'v' });
    expect(() =>
      store.withVolumeLock('v', () => {
        throw new Error('populate failed');
      }),
    ).toThrow('populate failed');
    expect(store.remove('v')).toBe(true);
  });
});

describe('markPopulated', () => {
  it('records when and from what, once', () => {
    const store = newStore();
    const record = store.create({ name: 'v' });
    now = new Date(Date.UTC(2026, 10, 22, 7, 0, 0));
    const populated = store.markPopulated('v', 'docker.io/library/postgres:16 /var/lib/postgresql/data');
    expect(populated).toEqual({ ...record, populated: { at: '2026-11-22T07:00:00Z', from: 'docker.io/library/postgres:16 /var/lib/postgresql/data' } });
    expect(newStore().get('v')).toEqual(populated);
    now = new Date(Date.UTC(2026, 10, 23));
    expect(store.markPopulated('v', 'something else')).toEqual(populated);
    expect(newStore().get('v')).toEqual(populated);
  });

  it('works inside withVolumeLock, as the populate hook uses it', () => {
    const store = recordingStore();
    store.create({ name: 'v' });
    const result = store.withVolumeLock('v', (record) => {
      expect(record.populated).toBeUndefined();
      fs.writeFileSync(path.join(record.Mountpoint, 'copied'), 'from the image');
      return store.markPopulated('v', 'img:/data');
    });
    expect(result.populated?.from).toBe('img:/data');
    expect(store.withVolumeLock('v', (record) => record.populated)).toEqual(result.populated);
  });

  it('wants a description', () => {
    const store = newStore();
    store.create({ name: 'v' });
    refused(() => store.markPopulated('v', ''), 'usage', 'volume v: populated from "", expected a non-empty description');
  });
});

describe('several stores and processes', () => {
  it('two store objects of one directory see the same volumes; the second create returns the first volume', () => {
    const a = newStore();
    const b = newStore();
    const made = a.create({ name: 'shared', options: TMPFS });
    now = new Date(now.getTime() + 1000);
    expect(b.create({ name: 'shared', options: TMPFS })).toEqual(made);
    expect(b.list()).toEqual([made]);
    expect(b.remove('shared')).toBe(true);
    refused(() => a.get('shared'), 'volume', 'volume shared does not exist');
  });

  const CHILD = `
import { VolumeStore } from './bundle.mjs';
const [dir, who, count, mode] = process.argv.slice(2);
const store = new VolumeStore(dir, {
  usersOf: () => [],
  now: () => {
    if (mode === 'crash') process.kill(process.pid, 'SIGKILL');
    return new Date();
  },
});
const results = [];
for (let i = 0; i < Number(count); i++) {
  results.push(store.create({ name: 'shared', labels: { who }, options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' } }));
  results.push(store.create({ name: who + '-' + i }));
  if (i % 3 === 2) store.remove(who + '-' + (i - 1));
  store.list();
}
process.stdout.write(JSON.stringify(results.filter((r) => r.Name === 'shared')));
`;

  function buildChild(): string {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const work = path.join(tmp, 'work');
    fs.mkdirSync(work);
    buildSync({
      stdin: { contents: "export { VolumeStore } from '../../../../src/plugins/volume/volume-store';", resolveDir: here, loader: 'ts' },
      outfile: path.join(work, 'bundle.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      external: ['koffi', '@koromix/*'],
      logLevel: 'silent',
    });
    // The bundle loads koffi (for flock) with require from its own directory.
    fs.symlinkSync(path.resolve(here, '../../../../node_modules'), path.join(work, 'node_modules'));
    const script = path.join(work, 'child.mjs');
    fs.writeFileSync(script, CHILD);
    return script;
  }

  const run = runNode;


  it('concurrent creates of one name from several processes (real flock) end with one volume', async () => {
    const script = buildChild();
    const who = ['p', 'q', 'r', 's'];
    const results = await Promise.all(who.map((name) => run(script, [dir, name, '12'])));
    for (const result of results) expect(result).toMatchObject({ code: 0, stderr: '' });
    const shared = newStore().get('shared');
    expect(Object.values(shared.Labels)).toHaveLength(1); // the first creator's labels, kept by everyone after
    for (const result of results) {
      const seen = JSON.parse(result.stdout) as VolumeRecord[];
      expect(seen).toHaveLength(12);
      for (const record of seen) expect(record).toEqual(shared);
    }
    // each process: 12 of its own, every third one's predecessor removed → 8 left
    const names = newStore().list().map((v) => v.Name);
    expect(names).toHaveLength(1 + 4 * 8);
    expect(entries().filter((entry) => entry.startsWith('.'))).toEqual(['.lock']);
  }, 60_000);

  it('a process killed mid-create leaves nothing visible, no lock held, and the next create cleans up', async () => {
    const script = buildChild();
    newStore().create({ name: 'before' });
    const result = await run(script, [dir, 'k', '1', 'crash']);
    expect(result.signal).toBe('SIGKILL');
    expect(entries().filter((entry) => entry.startsWith('.tmp-'))).toHaveLength(1);
    expect(newStore().list().map((v) => v.Name)).toEqual(['before']);
    // The real flock died with its holder: this create does not wait.
    newStore().create({ name: 'after' });
    expect(entries()).toEqual(['.lock', 'after', 'before']);
  }, 60_000);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
