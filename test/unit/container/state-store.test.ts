import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeError } from '../../../src/errors';
import { errorOf } from '../../helpers/errors';
import { isValidContainerId } from '../../../src/spec/container-id';
import {
  LOCK_DIR_NAME,
  StateStore,
  nowRfc3339Nano,
  type LockFn,
  type StoredState,
  type TryLockFn,
} from '../../../src/container/state-store';

import { runNode } from '../../helpers/run-node';
/** A lock that never blocks: for tests that do not care about locking. */
const noLock: LockFn = () => ({ release: () => undefined });

class WouldBlock extends Error {}

/**
 * flock modelled in memory for several "processes" (owners): an exclusive lock per file, created like the real
 * one creates it. Where flock would block, this throws WouldBlock, so a test can see that an operation was held off.
 */
class FakeFlock {
  readonly holders = new Map<string, string>();
  readonly events: string[] = [];

  lockFor(owner: string): LockFn {
    return (file) => {
      fs.closeSync(fs.openSync(file, 'a', 0o600));
      const holder = this.holders.get(file);
      if (holder !== undefined) {
        this.events.push(`${owner} blocked by ${holder}`);
        throw new WouldBlock(`${file} is held by ${holder}`);
      }
      this.holders.set(file, owner);
      this.events.push(`${owner} locked ${path.basename(file)}`);
      let released = false;
      return {
        release: () => {
          if (released) throw new Error('released twice');
          released = true;
          this.holders.delete(file);
          this.events.push(`${owner} released ${path.basename(file)}`);
        },
      };
    };
  }
}

function sampleState(id: string, extra: Record<string, unknown> = {}): StoredState {
  return {
    id,
    bundle: `/bundles/${id}`,
    rootfs: `/bundles/${id}/rootfs`,
    ociVersion: '1.2.1',
    initPid: 4242,
    initStartTime: '123456',
    created: '2026-11-22T06:14:44.123456789Z',
    owner: '',
    ...extra,
  };
}

let tmp = '';
let root = '';
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-store-'));
  root = path.join(tmp, 'root');
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('StateStore basics', () => {
  it('resolves the root and refuses /', () => {
    expect(new StateStore('relative/dir', noLock).root).toBe(path.resolve('relative/dir'));
    expect(errorOf(() => new StateStore('/', noLock)).code).toBe('invalid-argument');
    expect(errorOf(() => new StateStore('/tmp/..', noLock)).code).toBe('invalid-argument');
  });

  it('names container directories after validating the id', () => {
    const store = new StateStore(root, noLock);
    expect(store.containerDir('c1')).toBe(path.join(root, 'c1'));
    for (const bad of ['', '.', '..', '../x', 'a/b']) {
      const error = errorOf(() => store.containerDir(bad));
      expect(error.code).toBe('invalid-id');
      expect(error.message).toContain('invalid container ID format');
    }
  });

  it('ensureRoot creates missing parents with 0700 and is idempotent', () => {
    const deep = path.join(tmp, 'a', 'b', 'root');
    const store = new StateStore(deep, noLock);
    store.ensureRoot();
    store.ensureRoot();
    expect(fs.statSync(deep).mode & 0o777).toBe(0o700 & ~process.umask());
    expect(fs.statSync(path.join(tmp, 'a')).mode & 0o777).toBe(0o700 & ~process.umask());
  });

  it('ensureRoot fails clearly when the root is a file', () => {
    fs.writeFileSync(root, '');
    const error = errorOf(() => new StateStore(root, noLock).ensureRoot());
    expect(error.message).toContain(root);
  });

  it('createContainerDir makes a 0700 directory once, then reports the id as taken', () => {
    const store = new StateStore(root, noLock);
    const dir = store.createContainerDir('c1');
    expect(dir).toBe(path.join(root, 'c1'));
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    const error = errorOf(() => store.createContainerDir('c1'));
    expect(error.code).toBe('exists');
    expect(error.message).toBe('container with given ID already exists: "c1"');
  });

  it('createContainerDir validates the id before touching the disk', () => {
    const store = new StateStore(root, noLock);
    expect(errorOf(() => store.createContainerDir('../escape')).code).toBe('invalid-id');
    expect(fs.existsSync(root)).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'escape'))).toBe(false);
  });

  it('exists tells whether the container directory is there (state.json or not)', () => {
    const store = new StateStore(root, noLock);
    expect(store.exists('c1')).toBe(false);
    store.createContainerDir('c1');
    expect(store.exists('c1')).toBe(true);
    fs.symlinkSync(tmp, path.join(root, 'link'));
    expect(store.exists('link')).toBe(false);
  });
});

describe('StateStore read/write', () => {
  it('round-trips a state, extra fields included', () => {
    const store = new StateStore(root, noLock);
    store.createContainerDir('c1');
    const state = sampleState('c1', { annotations: { a: 'b' }, cgroup: { driver: 'cgroupfs', paths: { pids: '/x' } } });
    store.write('c1', state);
    expect(store.read('c1')).toEqual(state);
  });

  it('replaces the previous state and leaves only state.json behind, mode 0600', () => {
    const store = new StateStore(root, noLock);
    const dir = store.createContainerDir('c1');
    store.write('c1', sampleState('c1', { initPid: 1 }));
    store.write('c1', sampleState('c1', { initPid: 2 }));
    expect(store.read('c1').initPid).toBe(2);
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
    expect(fs.statSync(path.join(dir, 'state.json')).mode & 0o777).toBe(0o600);
  });

  it('writes a temporary file exclusively, fsyncs it, then renames it over state.json', () => {
    const store = new StateStore(root, noLock);
    const dir = store.createContainerDir('c1');
    const calls: string[] = [];
    // Record the calls without changing what they do.
    const realOpen = fs.openSync;
    const realFsync = fs.fsyncSync;
    const realRename = fs.renameSync;
    vi.spyOn(fs, 'openSync').mockImplementation((...args: Parameters<typeof fs.openSync>) => {
      calls.push(`open ${path.basename(String(args[0]))} ${String(args[1])}`);
      return realOpen(...args);
    });
    vi.spyOn(fs, 'fsyncSync').mockImplementation((fd) => {
      calls.push('fsync');
      realFsync(fd);
    });
    vi.spyOn(fs, 'renameSync').mockImplementation((from, to) => {
      calls.push(`rename ${path.basename(String(from))} -> ${path.basename(String(to))}`);
      realRename(from, to);
    });
    store.write('c1', sampleState('c1'));
    expect(calls[0]).toMatch(/^open \.state\.json\.[0-9]+\.[0-9]+ wx$/);
    expect(calls[1]).toBe('fsync');
    expect(calls[2]).toMatch(/^rename \.state\.json\.[0-9]+\.[0-9]+ -> state\.json$/);
    expect(calls.slice(3)).toEqual(['open c1 r', 'fsync']); // the directory, for a durable rename
    expect(calls.filter((c) => c.startsWith('open state.json'))).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });

  it('cleans up the temporary file when the rename fails', () => {
    const store = new StateStore(root, noLock);
    const dir = store.createContainerDir('c1');
    fs.mkdirSync(path.join(dir, 'state.json'));
    fs.writeFileSync(path.join(dir, 'state.json', 'blocker'), '');
    const error = errorOf(() => store.write('c1', sampleState('c1')));
    expect(error.message).toMatch(/^rename `.*state\.json`: E(ISDIR|NOTEMPTY|EXIST)/);
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });

  it('cleans up the temporary file when writing fails', () => {
    const store = new StateStore(root, noLock);
    const dir = store.createContainerDir('c1');
    vi.spyOn(fs, 'fsyncSync').mockImplementation(() => {
      throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', errno: -5 });
    });
    const error = errorOf(() => store.write('c1', sampleState('c1')));
    expect(error.message).toMatch(/^fsync `.*\.state\.json\.[0-9]+\.[0-9]+`: EIO/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('refuses a state that cannot be JSON, before creating any file', () => {
    const store = new StateStore(root, noLock);
    const dir = store.createContainerDir('c1');
    expect(errorOf(() => store.write('c1', sampleState('c1', { limit: 2n ** 64n }))).code).toBe('internal');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('refuses to write the state of one container under another id', () => {
    const store = new StateStore(root, noLock);
    store.createContainerDir('c1');
    expect(errorOf(() => store.write('c1', sampleState('c2'))).code).toBe('internal');
  });

  it('reports a missing container on write', () => {
    const store = new StateStore(root, noLock);
    store.ensureRoot();
    expect(errorOf(() => store.write('ghost', sampleState('ghost'))).message).toBe('container "ghost" does not exist');
  });

  it('reports a missing container, or one without state yet, as not found', () => {
    const store = new StateStore(root, noLock);
    for (const prepare of [() => undefined, () => store.createContainerDir('c1')]) {
      prepare();
      const error = errorOf(() => store.read('c1'));
      expect(error.code).toBe('not-found');
      expect(error.message).toBe('container "c1" does not exist');
      expect(error.message).toContain('does not exist');
    }
  });

  it('names the file when state.json is not JSON', () => {
    const store = new StateStore(root, noLock);
    const dir = store.createContainerDir('c1');
    fs.writeFileSync(path.join(dir, 'state.json'), '{"id": "c1", trunc');
    const error = errorOf(() => store.read('c1'));
    expect(error.code).toBe('state-corrupt');
    expect(error.message).toContain(path.join(dir, 'state.json'));
  });

  it.each<[string, unknown]>([
    ['an array', []],
    ['null', null],
    ['a missing field', { ...sampleState('c1'), bundle: undefined }],
    ['a numeric start time', { ...sampleState('c1'), initStartTime: 123456 }],
    ['a negative pid', { ...sampleState('c1'), initPid: -5 }],
    ['a fractional pid', { ...sampleState('c1'), initPid: 1.5 }],
    ['a pid as text', { ...sampleState('c1'), initPid: '4242' }],
    ['bad annotations', { ...sampleState('c1'), annotations: { a: 1 } }],
    ['annotations as a list', { ...sampleState('c1'), annotations: ['a'] }],
    ['another container’s state', sampleState('c2')],
  ])('rejects a state file with %s, naming the file', (_what, content) => {
    const store = new StateStore(root, noLock);
    const dir = store.createContainerDir('c1');
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(content));
    const error = errorOf(() => store.read('c1'));
    expect(error.code).toBe('state-corrupt');
    expect(error.message).toContain(path.join(dir, 'state.json'));
  });
});

describe('StateStore remove', () => {
  it('removes the container directory with everything in it', () => {
    const store = new StateStore(root, noLock);
    const dir = store.createContainerDir('c1');
    store.write('c1', sampleState('c1'));
    fs.mkdirSync(path.join(dir, 'sub', 'deeper'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'sub', 'deeper', 'f'), 'x');
    store.remove('c1');
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(root)).toBe(true);
  });

  it('does not follow symlinks out of the directory', () => {
    const outside = path.join(tmp, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'precious'), 'keep me');
    const store = new StateStore(root, noLock);
    const dir = store.createContainerDir('c1');
    fs.symlinkSync(outside, path.join(dir, 'dir-link'));
    fs.symlinkSync(path.join(outside, 'precious'), path.join(dir, 'file-link'));
    store.remove('c1');
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.readFileSync(path.join(outside, 'precious'), 'utf8')).toBe('keep me');
  });

  it('removes a symlink planted in place of the directory, not its target', () => {
    const outside = path.join(tmp, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'precious'), 'keep me');
    const store = new StateStore(root, noLock);
    store.ensureRoot();
    fs.symlinkSync(outside, path.join(root, 'c1'));
    store.remove('c1');
    expect(fs.existsSync(path.join(root, 'c1'))).toBe(false);
    expect(fs.readFileSync(path.join(outside, 'precious'), 'utf8')).toBe('keep me');
  });

  it('is quiet about a container that is not there, and validates the id', () => {
    const store = new StateStore(root, noLock);
    expect(() => store.remove('c1')).not.toThrow();
    store.ensureRoot();
    expect(() => store.remove('c1')).not.toThrow();
    expect(errorOf(() => store.remove('..')).code).toBe('invalid-id');
    expect(fs.existsSync(root)).toBe(true);
  });

  it('leaves other containers alone', () => {
    const store = new StateStore(root, noLock);
    store.createContainerDir('c1');
    store.createContainerDir('c10');
    store.write('c10', sampleState('c10'));
    store.remove('c1');
    expect(store.read('c10').id).toBe('c10');
  });
});

describe('StateStore list', () => {
  it('is empty when the root does not exist yet', () => {
    expect(new StateStore(root, noLock).list()).toEqual([]);
  });

  it('lists containers sorted by id, broken ones with an error, and skips files and the lock directory', () => {
    const store = new StateStore(root, noLock);
    for (const id of ['zeta', 'alpha', 'Beta', 'mid']) {
      store.createContainerDir(id);
      store.write(id, sampleState(id));
    }
    store.createContainerDir('half'); // create interrupted before state.json
    const corrupt = store.createContainerDir('corrupt');
    fs.writeFileSync(path.join(corrupt, 'state.json'), 'not json');
    fs.mkdirSync(path.join(root, 'bad name'));
    fs.writeFileSync(path.join(root, 'stray-file'), '');
    fs.symlinkSync(tmp, path.join(root, 'a-link'));
    store.withLock('alpha', () => undefined);
    expect(fs.existsSync(path.join(root, LOCK_DIR_NAME))).toBe(true);

    const entries = store.list();
    expect(entries.map((e) => e.id)).toEqual(['Beta', 'alpha', 'bad name', 'corrupt', 'half', 'mid', 'zeta']);
    const byId = new Map(entries.map((e) => [e.id, e]));
    for (const id of ['Beta', 'alpha', 'mid', 'zeta']) {
      expect(byId.get(id)?.state).toEqual(sampleState(id));
      expect(byId.get(id)?.error).toBeUndefined();
      expect(byId.get(id)?.ownerUid).toBe(process.getuid?.());
    }
    expect(byId.get('half')?.error).toBe('container "half" does not exist');
    expect(byId.get('half')?.state).toBeUndefined();
    expect(byId.get('corrupt')?.error).toContain(path.join(corrupt, 'state.json'));
    expect(byId.get('bad name')?.error).toBe('invalid container ID format: "bad name"');
    expect(byId.get('bad name')?.ownerUid).toBeUndefined();
  });
});

describe('StateStore list while other tsrun processes work', () => {
  /** A try-lock over FakeFlock: undefined where the real one would answer EWOULDBLOCK. */
  function tryLockOf(flock: FakeFlock, owner: string): TryLockFn {
    const lock = flock.lockFor(owner);
    return (file) => {
      try {
        return lock(file);
      } catch (error) {
        if (error instanceof WouldBlock) return undefined;
        throw error;
      }
    };
  }

  it('skips a directory without state.json while its lock is held (a create or delete at work), reports it when free', () => {
    const flock = new FakeFlock();
    const creator = new StateStore(root, flock.lockFor('create'));
    const lister = new StateStore(root, noLock, tryLockOf(flock, 'list'));
    creator.createContainerDir('done');
    creator.write('done', sampleState('done'));
    creator.withLock('creating', () => {
      creator.createContainerDir('creating');
      expect(lister.list().map((e) => e.id)).toEqual(['done']);
    });
    expect(flock.holders.size).toBe(0);
    // Nobody holds the lock any more and state.json is still missing: a create that was killed left it.
    expect(lister.list().find((e) => e.id === 'creating')?.error).toBe('container "creating" does not exist');
    expect(flock.holders.size).toBe(0);
  });

  it('shows a container whose create finished between the read and the lock', () => {
    const flock = new FakeFlock();
    const store = new StateStore(root, noLock, tryLockOf(flock, 'list'));
    store.createContainerDir('c1');
    const read = vi.spyOn(store, 'read').mockImplementationOnce((id) => {
      store.write(id, sampleState(id)); // the create's last step, right after list found no state.json
      throw new RuntimeError('not-found', `container ${JSON.stringify(id)} does not exist`);
    });
    try {
      expect(store.list()).toEqual([{ id: 'c1', state: sampleState('c1'), ownerUid: process.getuid?.() }]);
    } finally {
      read.mockRestore();
    }
  });

  it('skips a directory that is deleted after readdir listed it', () => {
    const flock = new FakeFlock();
    const store = new StateStore(root, noLock, tryLockOf(flock, 'list'));
    store.createContainerDir('going');
    store.createContainerDir('staying');
    store.write('staying', sampleState('staying'));
    const read = vi.spyOn(store, 'read').mockImplementationOnce((id) => {
      store.remove(id); // delete, between list's readdir and its read of state.json
      throw new RuntimeError('not-found', `container ${JSON.stringify(id)} does not exist`);
    });
    try {
      expect(store.list().map((e) => e.id)).toEqual(['staying']);
    } finally {
      read.mockRestore();
    }
  });

  it('still reports a corrupt state.json, whatever the lock says', () => {
    const flock = new FakeFlock();
    const store = new StateStore(root, noLock, tryLockOf(flock, 'list'));
    const dir = store.createContainerDir('corrupt');
    fs.writeFileSync(path.join(dir, 'state.json'), '{"id":');
    expect(store.list()[0]?.error).toContain('not JSON');
  });
});

describe('StateStore withLock', () => {
  it('uses a lock file outside every container directory, named so that no container id can collide', () => {
    const store = new StateStore(root, noLock);
    const file = store.lockPath('c1');
    expect(path.dirname(file)).toBe(path.join(root, LOCK_DIR_NAME));
    expect(isValidContainerId(LOCK_DIR_NAME)).toBe(false);
    expect(path.basename(file)).toMatch(/^[0-9a-f]{2}\.lock$/);
    expect(errorOf(() => store.lockPath('../x')).code).toBe('invalid-id');
  });

  it('maps an id to the same lock file in every store and process, and spreads ids over the stripes', () => {
    const a = new StateStore(root, noLock);
    const b = new StateStore(root, noLock);
    expect(a.lockPath('my-container')).toBe(b.lockPath('my-container'));
    // The stripe is part of the on-disk contract (two tsrun versions must agree): the low byte of 32-bit FNV-1a,
    // pinned with the published test vectors FNV-1a("a") = 0xe40c292c and FNV-1a("foobar") = 0xbf9cf968.
    expect(path.basename(a.lockPath('a'))).toBe('2c.lock');
    expect(path.basename(a.lockPath('foobar'))).toBe('68.lock');
    const stripes = new Set(Array.from({ length: 1000 }, (_, i) => a.lockPath(`container-${i}`)));
    expect(stripes.size).toBeGreaterThan(200);
    expect(stripes.size).toBeLessThanOrEqual(256);
  });

  it('holds the lock exactly while the callback runs, and returns its value', () => {
    const flock = new FakeFlock();
    const store = new StateStore(root, flock.lockFor('A'));
    const file = store.lockPath('c1');
    const value = store.withLock('c1', () => {
      expect(flock.holders.get(file)).toBe('A');
      return 42;
    });
    expect(value).toBe(42);
    expect(flock.holders.size).toBe(0);
    expect(fs.existsSync(file)).toBe(true);
  });

  it('releases the lock when the callback throws', () => {
    const flock = new FakeFlock();
    const store = new StateStore(root, flock.lockFor('A'));
    expect(() =>
      store.withLock('c1', () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(flock.holders.size).toBe(0);
    expect(store.withLock('c1', () => 'again')).toBe('again');
  });

  it('is re-entrant within a store (a nested call does not lock again)', () => {
    const flock = new FakeFlock();
    const store = new StateStore(root, flock.lockFor('A'));
    const result = store.withLock('c1', () => store.withLock('c1', () => store.withLock('c1', () => 'inner')));
    expect(result).toBe('inner');
    expect(flock.events).toEqual([`A locked ${path.basename(store.lockPath('c1'))}`, `A released ${path.basename(store.lockPath('c1'))}`]);
    expect(flock.holders.size).toBe(0);
  });

  it('holds off a second process on the same id until the first releases', () => {
    const flock = new FakeFlock();
    const first = new StateStore(root, flock.lockFor('A'));
    const second = new StateStore(root, flock.lockFor('B'));
    let secondRan = false;
    first.withLock('c1', () => {
      expect(() =>
        second.withLock('c1', () => {
          secondRan = true;
        }),
      ).toThrow(WouldBlock);
    });
    expect(secondRan).toBe(false);
    second.withLock('c1', () => {
      secondRan = true;
    });
    expect(secondRan).toBe(true);
    expect(flock.events.map((e) => e.split(' ').slice(0, 2).join(' '))).toEqual([
      'A locked', 'B blocked', 'A released', 'B locked', 'B released',
    ]);
  });

  it('lets a different id proceed while one is locked (when their stripes differ)', () => {
    const flock = new FakeFlock();
    const first = new StateStore(root, flock.lockFor('A'));
    const second = new StateStore(root, flock.lockFor('B'));
    const other = Array.from({ length: 50 }, (_, i) => `other-${i}`).find((id) => first.lockPath(id) !== first.lockPath('c1'));
    expect(other).toBeDefined();
    first.withLock('c1', () => {
      expect(second.withLock(other ?? '', () => 'done')).toBe('done');
    });
  });

  it('lets delete remove the container directory while holding the lock; a waiting create then starts afresh', () => {
    const flock = new FakeFlock();
    const deleter = new StateStore(root, flock.lockFor('delete'));
    const creator = new StateStore(root, flock.lockFor('create'));
    creator.withLock('c1', () => {
      creator.createContainerDir('c1');
      creator.write('c1', sampleState('c1'));
    });

    deleter.withLock('c1', () => {
      deleter.remove('c1');
      expect(fs.existsSync(path.join(root, 'c1'))).toBe(false);
      // The lock survives the directory: a create of the same id is still held off.
      expect(fs.existsSync(deleter.lockPath('c1'))).toBe(true);
      expect(() => creator.withLock('c1', () => creator.createContainerDir('c1'))).toThrow(WouldBlock);
      expect(fs.existsSync(path.join(root, 'c1'))).toBe(false);
    });

    creator.withLock('c1', () => {
      creator.createContainerDir('c1');
      creator.write('c1', sampleState('c1', { initPid: 7 }));
    });
    expect(creator.read('c1').initPid).toBe(7);
  });

  it('creates the lock directory (and root) with 0700 on demand', () => {
    const store = new StateStore(root, noLock);
    store.withLock('c1', () => undefined);
    expect(fs.statSync(path.join(root, LOCK_DIR_NAME)).mode & 0o777).toBe(0o700 & ~process.umask());
  });

  it('refuses an asynchronous callback (the lock would be gone before it finishes)', async () => {
    const flock = new FakeFlock();
    const store = new StateStore(root, flock.lockFor('A'));
    const pending = Promise.resolve('late');
    expect(errorOf(() => store.withLock('c1', () => pending)).code).toBe('internal');
    expect(flock.holders.size).toBe(0);
    await pending;
  });

  it('propagates a failure to take the lock without running the callback', () => {
    const store = new StateStore(root, () => {
      throw new RuntimeError('syscall', 'flock: EINTR');
    });
    let ran = false;
    expect(errorOf(() => store.withLock('c1', () => (ran = true))).message).toBe('flock: EINTR');
    expect(ran).toBe(false);
    // and the store is not left believing it holds the lock
    expect(errorOf(() => store.withLock('c1', () => (ran = true))).message).toBe('flock: EINTR');
  });
});

describe('StateStore across processes', () => {
  /** A blocking inter-process lock for the children: mkdir is atomic; they poll with a 1 ms sleep. */
  const CHILD = `
import fs from 'node:fs';
import { StateStore } from './store.mjs';
const [root, mode, id, arg] = process.argv.slice(2);
const nap = new Int32Array(new SharedArrayBuffer(4));
function lock(file) {
  const marker = file + '.held';
  for (;;) {
    try { fs.mkdirSync(marker); break; } catch (e) { if (e.code !== 'EEXIST') throw e; Atomics.wait(nap, 0, 0, 1); }
  }
  return { release() { fs.rmdirSync(marker); } };
}
const store = new StateStore(root, lock);
if (mode === 'increment') {
  for (let i = 0; i < Number(arg); i++) {
    store.withLock(id, () => {
      const state = store.read(id);
      state.counter += 1;
      state.padding = 'x'.repeat(50000 + (state.counter % 13) * 4096);
      store.write(id, state);
    });
  }
} else {
  let reads = 0;
  while (!fs.existsSync(arg)) {
    const state = store.read(id);
    if (typeof state.counter !== 'number' || typeof state.padding !== 'string') throw new Error('partial state');
    reads++;
  }
  process.stdout.write(String(reads));
}
`;

  const run = runNode;


  it('serializes read-modify-write under withLock, and readers never see a partial state.json', async () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const work = path.join(tmp, 'work');
    fs.mkdirSync(work);
    buildSync({
      entryPoints: [path.join(here, '../../../src/container/state-store.ts')],
      outfile: path.join(work, 'store.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });
    const script = path.join(work, 'child.mjs');
    fs.writeFileSync(script, CHILD);

    const store = new StateStore(root, noLock);
    store.createContainerDir('shared');
    store.write('shared', sampleState('shared', { counter: 0, padding: '' }));

    const stop = path.join(work, 'stop');
    const reader = run(script, [root, 'read', 'shared', stop]);
    const writers = await Promise.all(Array.from({ length: 4 }, () => run(script, [root, 'increment', 'shared', '25'])));
    fs.writeFileSync(stop, '');
    const readerResult = await reader;

    for (const result of writers) expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(readerResult.stderr).toBe('');
    expect(readerResult.code).toBe(0);
    expect(Number(readerResult.stdout)).toBeGreaterThan(0);
    expect(store.read('shared').counter).toBe(100);
    expect(fs.readdirSync(store.containerDir('shared'))).toEqual(['state.json']);
  }, 60_000);
});

describe('nowRfc3339Nano', () => {
  it('formats nanoseconds like Go’s RFC3339Nano in UTC', () => {
    expect(nowRfc3339Nano(() => 1_795_328_084_123_456_789n)).toBe('2026-11-22T06:14:44.123456789Z');
  });

  it('drops trailing zeros of the fraction, and the fraction itself on a whole second', () => {
    expect(nowRfc3339Nano(() => 1_795_328_084_120_000_000n)).toBe('2026-11-22T06:14:44.12Z');
    expect(nowRfc3339Nano(() => 1_795_328_084_000_000_100n)).toBe('2026-11-22T06:14:44.0000001Z');
    expect(nowRfc3339Nano(() => 1_795_328_084_000_000_000n)).toBe('2026-11-22T06:14:44Z');
    expect(nowRfc3339Nano(() => 0n)).toBe('1970-01-01T00:00:00Z');
    expect(nowRfc3339Nano(() => 1n)).toBe('1970-01-01T00:00:00.000000001Z');
  });

  it('handles instants before 1970', () => {
    expect(nowRfc3339Nano(() => -1n)).toBe('1969-12-31T23:59:59.999999999Z');
    expect(nowRfc3339Nano(() => -1_000_000_000n)).toBe('1969-12-31T23:59:59Z');
  });

  it('reads the wall clock by default', () => {
    const before = Date.now();
    const text = nowRfc3339Nano();
    const after = Date.now();
    expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/);
    const parsed = Date.parse(text);
    expect(parsed).toBeGreaterThanOrEqual(before - 5);
    expect(parsed).toBeLessThanOrEqual(after + 5);
  });
});
