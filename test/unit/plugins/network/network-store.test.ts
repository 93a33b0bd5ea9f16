import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeValue } from '../../../../src/errors';
import { errorOf } from '../../../helpers/errors';
import {
  DEFAULT_NETWORK,
  NetworkStore,
  type CreateNetworkOptions,
  defaultBridgeName,
  validateBridgeName,
  writeJsonAtomic,
} from '../../../../src/plugins/network/network-store';
import { WouldBlock, mkdirLock, snapshot } from './mkdir-lock';

let tmp: string;
let dir: string;
let now: number;
let events: string[];

function newStore(owner = ''): NetworkStore {
  return new NetworkStore({ dir, lock: mkdirLock({ events, owner }), clock: () => now });
}

const nobody = (): string[] => [];

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-netstore-'));
  dir = path.join(tmp, 'state');
  now = Date.UTC(2026, 10, 22, 6, 14, 44, 123);
  events = [];
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** `fn` must throw a RuntimeError with exactly `message` and leave every file under the store as it was. */
function refused(fn: () => unknown, message: string | RegExp): void {
  const before = snapshot(tmp);
  const error = errorOf(fn);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
  expect(error.message).not.toContain('\n');
  expect(snapshot(tmp)).toEqual(before);
}

describe('the default network', () => {
  it('is created on first use with 10.88.0.0/16, gateway 10.88.0.1, bridge tsrun0', () => {
    const store = newStore();
    const record = store.ensureDefault();
    expect(record).toEqual({
      name: 'tsrun0',
      driver: 'bridge',
      subnet: '10.88.0.0/16',
      gateway: '10.88.0.1',
      bridge: 'tsrun0',
      created: '2026-11-22T06:14:44.123Z',
    });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'networks', 'tsrun0.json'), 'utf8'))).toEqual(record);
  });

  it('is written once: later calls read it without the lock', () => {
    const store = newStore();
    const first = store.ensureDefault();
    const locks = events.length;
    now += 60_000;
    expect(newStore().ensureDefault()).toEqual(first);
    expect(events.length).toBe(locks);
  });

  it('shows up in list and get, and cannot be removed or pruned', () => {
    const store = newStore();
    expect(store.list().map((n) => n.name)).toEqual(['tsrun0']);
    expect(store.get('tsrun0').bridge).toBe('tsrun0');
    refused(() => store.remove('tsrun0', nobody), 'network "tsrun0" is the default network and cannot be removed');
    expect(store.prune(nobody)).toEqual([]);
    expect(store.get('tsrun0').subnet).toBe('10.88.0.0/16');
  });

  it('keeps its name, subnet and bridge before it is on disk', () => {
    const store = newStore();
    expect(store.create({ name: 'a' }).subnet).toBe('10.89.0.0/16');
    refused(() => store.create({ name: 'tsrun0' }), 'network "tsrun0" already exists: it is the default network');
    refused(() => store.create({ name: 'b', subnet: '10.88.7.0/24' }), 'network "b": subnet 10.88.7.0/24 overlaps network "tsrun0" (10.88.0.0/16)');
    refused(() => store.create({ name: 'b', bridge: 'tsrun0' }), '--bridge "tsrun0": reserved for the default network "tsrun0"');
    expect(fs.existsSync(path.join(dir, 'networks', 'tsrun0.json'))).toBe(false);
  });

  it('refuses to appear over a network that took its subnet or bridge (hand-edited store)', () => {
    const store = newStore();
    store.create({ name: 'web', subnet: '10.89.0.0/16' });
    const file = path.join(dir, 'networks', 'web.json');
    const record = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, JSON.stringify({ ...record, subnet: '10.88.0.0/24', gateway: '10.88.0.1' }));
    refused(() => store.ensureDefault(), 'network "tsrun0": subnet 10.88.0.0/16 overlaps network "web" (10.88.0.0/24)');
    fs.writeFileSync(file, JSON.stringify({ ...record, bridge: 'tsrun0' }));
    refused(() => store.list(), 'bridge "tsrun0": already used by network "web"; pass --bridge with another name');
  });
});

describe('create', () => {
  it('fills in subnet, gateway, bridge and created', () => {
    const record = newStore().create({ name: 'web' });
    expect(record).toEqual({
      name: 'web',
      driver: 'bridge',
      subnet: '10.89.0.0/16',
      gateway: '10.89.0.1',
      bridge: defaultBridgeName('web'),
      created: '2026-11-22T06:14:44.123Z',
    });
    expect(record.bridge).toMatch(/^tsrun-[0-9a-f]{8}$/);
    expect(newStore().get('web')).toEqual(record);
  });

  it('takes subnet, gateway, bridge and labels as given', () => {
    const store = newStore();
    const record = store.create({ name: 'db', subnet: '192.168.50.0/24', gateway: '192.168.50.254', bridge: 'br-db', labels: { team: 'x', 'a.b': '' } });
    expect(record).toMatchObject({ subnet: '192.168.50.0/24', gateway: '192.168.50.254', bridge: 'br-db', labels: { team: 'x', 'a.b': '' } });
    expect(store.get('db')).toEqual(record);
  });

  it('picks the first /16 from 10.89.0.0 up that overlaps no network', () => {
    const store = newStore();
    expect(store.create({ name: 'a' }).subnet).toBe('10.89.0.0/16');
    expect(store.create({ name: 'b' }).subnet).toBe('10.90.0.0/16');
    store.create({ name: 'c', subnet: '10.91.200.0/24' });
    store.create({ name: 'd', subnet: '10.92.0.0/15' });
    expect(store.create({ name: 'e' }).subnet).toBe('10.94.0.0/16');
    store.remove('a', nobody);
    expect(store.create({ name: 'f' }).subnet).toBe('10.89.0.0/16');
    expect(store.create({ name: 'g' }).subnet).toBe('10.95.0.0/16');
  });

  it('says so when no /16 is left', () => {
    const store = newStore();
    for (const [name, subnet] of [['a', '10.89.0.0/16'], ['b', '10.90.0.0/15'], ['c', '10.92.0.0/14'], ['d', '10.96.0.0/11'], ['e', '10.128.0.0/9']]) {
      store.create({ name: name as string, subnet });
    }
    refused(() => store.create({ name: 'late' }), 'network "late": no free /16 left between 10.88.0.0/16 and 10.255.0.0/16; pass --subnet');
    expect(store.create({ name: 'late', subnet: '172.30.0.0/16' }).gateway).toBe('172.30.0.1');
  });

  it('refuses bad names', () => {
    const store = newStore();
    store.ensureDefault();
    const syntax = (name: string): string =>
      `network name ${describeValue(name)}: must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit`;
    for (const name of ['', '-web', '.web', '_web', 'a b', 'a/b', '../x', 'web\n', 'wéb', 'a'.repeat(64), 'x:y']) {
      refused(() => store.create({ name }), syntax(name));
    }
    for (const name of ['none', 'host', 'bridge']) {
      refused(() => store.create({ name }), `network name "${name}": reserved for the network mode of that name`);
    }
    refused(() => store.create({ name: 'container:abc' }), 'network name "container:abc": "container:<id>" is a network mode, not a network name');
    expect(store.create({ name: `A${'b'.repeat(62)}` }).name).toHaveLength(63);
    expect(store.create({ name: 'a1_b.c-d' }).name).toBe('a1_b.c-d');
  });

  it('refuses duplicates', () => {
    const store = newStore();
    store.create({ name: 'web' });
    refused(() => store.create({ name: 'web', subnet: '172.20.0.0/16' }), 'network "web" already exists');
  });

  it('refuses bad and overlapping subnets', () => {
    const store = newStore();
    store.create({ name: 'db', subnet: '10.1.2.0/24' });
    const cases: [string, string][] = [
      ['10.1.0.0/33', '--subnet "10.1.0.0/33": must be an IPv4 CIDR such as 10.88.0.0/16'],
      ['10.1.0.0', '--subnet "10.1.0.0": must be an IPv4 CIDR such as 10.88.0.0/16'],
      ['10.1.2.3/16', '--subnet "10.1.2.3/16": host bits are set; the network address is 10.1.0.0/16'],
      ['10.1.0.0/16', 'network "web": subnet 10.1.0.0/16 overlaps network "db" (10.1.2.0/24)'],
      ['10.1.2.128/25', 'network "web": subnet 10.1.2.128/25 overlaps network "db" (10.1.2.0/24)'],
      ['10.0.0.0/8', 'network "web": subnet 10.0.0.0/8 overlaps network "db" (10.1.2.0/24)'],
      ['172.20.0.0/31', '--subnet "172.20.0.0/31": too small for a gateway and a container, use /30 or shorter'],
      ['172.20.0.0/32', '--subnet "172.20.0.0/32": too small for a gateway and a container, use /30 or shorter'],
      ['172.0.0.0/7', '--subnet "172.0.0.0/7": too large, use /8 or longer'],
      ['0.0.0.0/0', '--subnet "0.0.0.0/0": too large, use /8 or longer'],
      ['127.0.0.0/16', '--subnet "127.0.0.0/16": overlaps 127.0.0.0/8 (loopback), not usable for a bridge network'],
      ['0.1.0.0/16', '--subnet "0.1.0.0/16": overlaps 0.0.0.0/8 ("this network"), not usable for a bridge network'],
      ['239.1.0.0/16', '--subnet "239.1.0.0/16": overlaps 224.0.0.0/3 (multicast and reserved), not usable for a bridge network'],
      ['255.255.255.0/24', '--subnet "255.255.255.0/24": overlaps 224.0.0.0/3 (multicast and reserved), not usable for a bridge network'],
    ];
    for (const [subnet, message] of cases) refused(() => store.create({ name: 'web', subnet }), message);
    expect(store.create({ name: 'web', subnet: '10.1.3.0/24' }).gateway).toBe('10.1.3.1');
    expect(store.create({ name: 'p2p', subnet: '10.1.4.0/30' }).gateway).toBe('10.1.4.1');
  });

  it('refuses gateways that are not host addresses of the subnet', () => {
    const store = newStore();
    store.ensureDefault();
    const cases: [CreateNetworkOptions, string][] = [
      [{ name: 'w', subnet: '10.1.0.0/16', gateway: '10.2.0.1' }, '--gateway 10.2.0.1: outside subnet 10.1.0.0/16'],
      [{ name: 'w', subnet: '10.1.0.0/16', gateway: '10.1.0.0' }, '--gateway 10.1.0.0: is the network address of 10.1.0.0/16; use a host address such as 10.1.0.1'],
      [{ name: 'w', subnet: '10.1.0.0/16', gateway: '10.1.255.255' }, '--gateway 10.1.255.255: is the broadcast address of 10.1.0.0/16; use a host address such as 10.1.0.1'],
      [{ name: 'w', subnet: '10.1.0.0/16', gateway: '10.1.0.01' }, '--gateway "10.1.0.01": must be an IPv4 address such as 10.88.0.1'],
      [{ name: 'w', gateway: '10.1.0.1' }, '--gateway 10.1.0.1: needs --subnet, the gateway must lie in it'],
    ];
    for (const [options, message] of cases) refused(() => store.create(options), message);
    expect(store.create({ name: 'w', subnet: '10.1.0.0/16', gateway: '10.1.255.254' }).gateway).toBe('10.1.255.254');
  });

  it('refuses bad bridge names and bridges in use', () => {
    const store = newStore();
    store.create({ name: 'db', bridge: 'br0' });
    const bad = (name: string): string => `--bridge ${JSON.stringify(name)}: must be an interface name of 1-15 letters, digits, "_", "." or "-"`;
    for (const bridge of ['', 'a'.repeat(16), 'br 0', 'br/0', 'br:0', '.', '..', 'brü', 'br0\n']) {
      refused(() => store.create({ name: 'web', bridge }), bad(bridge));
    }
    refused(() => store.create({ name: 'web', bridge: 'br0' }), '--bridge "br0": already used by network "db"');
    expect(store.create({ name: 'web', bridge: 'a'.repeat(15) }).bridge).toBe('a'.repeat(15));
    expect(() => validateBridgeName('ab.c_d-1')).not.toThrow();
  });

  it('refuses a derived bridge name another network holds, suggesting --bridge', () => {
    const store = newStore();
    store.create({ name: 'db', bridge: defaultBridgeName('web') });
    refused(() => store.create({ name: 'web' }), `bridge "${defaultBridgeName('web')}": already used by network "db"; pass --bridge with another name`);
    expect(store.create({ name: 'web', bridge: 'br-web' }).bridge).toBe('br-web');
  });

  it('refuses bad labels', () => {
    const store = newStore();
    store.ensureDefault();
    refused(() => store.create({ name: 'w', labels: { '': 'x' } }), '--label "": the label name must not be empty');
    refused(() => store.create({ name: 'w', labels: { a: 1 as unknown as string } }), '--label "a": the value must be a string, got 1');
  });

  it('derives stable, distinct bridge names of at most 15 bytes', () => {
    expect(defaultBridgeName('web')).toBe(defaultBridgeName('web'));
    expect(defaultBridgeName('web')).not.toBe(defaultBridgeName('db'));
    expect(defaultBridgeName(DEFAULT_NETWORK)).toBe('tsrun0');
    expect(Buffer.byteLength(defaultBridgeName('x'.repeat(63)))).toBeLessThanOrEqual(15);
  });
});

describe('files on disk', () => {
  it('uses 0700 directories and 0600 files, and leaves no temporary files', () => {
    const store = newStore();
    store.create({ name: 'web' });
    store.create({ name: 'db' });
    store.remove('db', nobody);
    store.ensureDefault();
    expect(fs.statSync(path.join(dir, 'networks')).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(path.join(dir, 'networks')).sort()).toEqual(['.lock', 'tsrun0.json', 'web.json']);
    // lock files are never unlinked (see NetworkStore), the one of db included
    expect(fs.readdirSync(path.join(dir, 'ipam')).sort()).toEqual(['db.lock', 'tsrun0.lock', 'web.lock']);
    expect(fs.statSync(path.join(dir, 'networks', 'web.json')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dir, 'ipam')).mode & 0o777).toBe(0o700);
  });

  it('writes atomically: a failed rename removes the temporary file and keeps the target', () => {
    const target = path.join(tmp, 'x');
    fs.mkdirSync(path.join(target, 'web.json'), { recursive: true });
    fs.writeFileSync(path.join(target, 'web.json', 'keep'), '');
    expect(errorOf(() => writeJsonAtomic(target, 'web.json', { a: 1 })).message).toMatch(/^rename `.*web\.json`: E(ISDIR|NOTEMPTY)/);
    expect(fs.readdirSync(target)).toEqual(['web.json']);
    writeJsonAtomic(target, 'other.json', { a: 1 });
    expect(JSON.parse(fs.readFileSync(path.join(target, 'other.json'), 'utf8'))).toEqual({ a: 1 });
    expect(fs.readdirSync(target).sort()).toEqual(['other.json', 'web.json']);
  });

  it('reports a corrupt definition naming the file, and lets it be removed', () => {
    const store = newStore();
    store.create({ name: 'web' });
    const file = path.join(dir, 'networks', 'web.json');
    fs.writeFileSync(file, '{"name":"web"');
    expect(errorOf(() => store.list()).message).toMatch(new RegExp(`^invalid network file ${file}: not JSON`));
    expect(errorOf(() => store.create({ name: 'x' })).code).toBe('state-corrupt');
    for (const [patch, detail] of [
      [{ name: 'other' }, 'it defines network "other"'],
      [{ driver: 'macvlan' }, '"driver" must be "bridge" or "overlay", got "macvlan"'],
      [{ subnet: '10.89.0.1/16' }, '"subnet" must be an IPv4 CIDR without host bits, got "10.89.0.1/16"'],
      [{ gateway: '10.90.0.1' }, '"gateway" must be a host address of 10.89.0.0/16, got "10.90.0.1"'],
      [{ bridge: 'x'.repeat(16) }, `"bridge" must be an interface name, got "${'x'.repeat(16)}"`],
      [{ labels: { a: 1 } }, '"labels" must map names to strings'],
      [{ created: 5 }, '"created" must be a string, got 5'],
    ] as const) {
      const good = { name: 'web', driver: 'bridge', subnet: '10.89.0.0/16', gateway: '10.89.0.1', bridge: 'b', created: 'x' };
      fs.writeFileSync(file, JSON.stringify({ ...good, ...patch }));
      const error = errorOf(() => store.get('web'));
      expect(error.code).toBe('state-corrupt');
      expect(error.message).toBe(`invalid network file ${file}: ${detail}`);
    }
    store.remove('web', nobody);
    expect(store.list().map((n) => n.name)).toEqual(['tsrun0']);
  });

  it('never follows a symlink planted as a definition', () => {
    const store = newStore();
    store.ensureDefault();
    fs.writeFileSync(path.join(tmp, 'elsewhere.json'), JSON.stringify(store.get('tsrun0')));
    fs.symlinkSync(path.join(tmp, 'elsewhere.json'), path.join(dir, 'networks', 'evil.json'));
    expect(errorOf(() => store.get('evil')).message).toMatch(/^read `.*evil\.json`: ELOOP/);
  });

  it('ignores temporary and foreign files in the directory', () => {
    const store = newStore();
    store.create({ name: 'web' });
    fs.writeFileSync(path.join(dir, 'networks', '.web.json.123.456'), '{');
    fs.writeFileSync(path.join(dir, 'networks', 'notes.txt'), '');
    fs.writeFileSync(path.join(dir, 'networks', 'bad name.json'), '{');
    expect(store.list().map((n) => n.name)).toEqual(['tsrun0', 'web']);
  });
});

describe('get, remove and prune', () => {
  it('get names a missing network in one line, and refuses bad names', () => {
    const store = newStore();
    refused(() => store.get('nope'), 'network "nope" does not exist');
    expect(errorOf(() => store.get('nope')).code).toBe('not-found');
    refused(() => store.get('../etc'), /^network name "\.\.\/etc": must be/);
  });

  it('remove refuses while containers use the network, naming them', () => {
    const store = newStore();
    store.create({ name: 'web' });
    refused(() => store.remove('web', () => ['c1']), 'network "web" is in use by container c1: remove them first');
    refused(
      () => store.remove('web', () => ['c1', 'c2', 'c3', 'c4', 'c5']),
      'network "web" is in use by containers c1, c2, c3 and 2 more: remove them first',
    );
    expect(errorOf(() => store.remove('web', () => ['c1'])).code).toBe('busy');
    store.remove('web', nobody);
    refused(() => store.get('web'), 'network "web" does not exist');
    refused(() => store.remove('web', nobody), 'network "web" does not exist');
  });

  it('remove asks who uses the network while holding the store and the network lock', () => {
    const store = newStore();
    store.create({ name: 'web' });
    events.length = 0;
    let seen: string[] = [];
    store.remove('web', (name) => {
      expect(name).toBe('web');
      seen = [...events];
      return [];
    });
    expect(seen.map((e) => path.relative(dir, e.replace(/^lock /, '')))).toEqual(['networks/.lock', 'ipam/web.lock']);
    expect(events.filter((e) => e.startsWith('release'))).toHaveLength(2);
  });

  it('prune removes every unused network but the default one', () => {
    const store = newStore();
    for (const name of ['a', 'b', 'c', 'd']) store.create({ name });
    const used = new Set(['b', 'd']);
    expect(store.prune((name) => (used.has(name) || name === 'tsrun0' ? ['x'] : []))).toEqual(['a', 'c']);
    expect(store.list().map((n) => n.name)).toEqual(['b', 'd', 'tsrun0']);
    expect(store.prune(nobody)).toEqual(['b', 'd']);
    expect(store.prune(nobody)).toEqual([]);
    expect(store.list().map((n) => n.name)).toEqual(['tsrun0']);
  });
});

describe('locking', () => {
  it('serializes two stores on one directory: a create waits while another holds the store lock', () => {
    const a = newStore('A:');
    const b = newStore('B:');
    a.create({ name: 'web' });
    a.remove('web', () => {
      // A is between its check and its unlink: B must not get in.
      expect(() => b.create({ name: 'db' })).toThrow(WouldBlock);
      return [];
    });
    expect(b.create({ name: 'db' }).subnet).toBe('10.89.0.0/16');
  });

  it('withNetworkLock passes the definition read under the lock, or undefined', () => {
    const store = newStore();
    store.create({ name: 'web' });
    expect(store.withNetworkLock('web', (network) => network?.subnet)).toBe('10.89.0.0/16');
    expect(store.withNetworkLock('gone', (network) => network)).toBeUndefined();
    expect(store.withNetworkLock('tsrun0', (network) => network?.bridge)).toBe('tsrun0');
  });

  it('is re-entrant within a store, and refuses the store lock under a network lock (lock order)', () => {
    const store = newStore();
    store.create({ name: 'web' });
    expect(store.withNetworkLock('web', () => store.withNetworkLock('web', () => 'nested'))).toBe('nested');
    const error = errorOf(() => store.withNetworkLock('web', () => store.create({ name: 'db' })));
    expect(error.code).toBe('internal');
    expect(fs.existsSync(path.join(dir, 'networks', 'db.json'))).toBe(false);
    // every lock was released
    expect(store.create({ name: 'db' }).name).toBe('db');
  });

  it('propagates a failure to lock, changing nothing', () => {
    newStore().ensureDefault();
    const store = new NetworkStore({
      dir,
      lock: () => {
        throw new Error('flock: EINTR');
      },
    });
    const before = snapshot(tmp);
    expect(() => store.create({ name: 'web' })).toThrow('flock: EINTR');
    expect(snapshot(tmp)).toEqual(before);
  });
});

describe('the overlay driver and --ip-range, --mtu', () => {
  const overlay = { vni: 4242, peers: ['192.0.2.2', '192.0.2.3'] };

  it('stores the VXLAN settings, the range and the overlay MTU (1450 unless given)', () => {
    const store = newStore();
    const record = store.create({ name: 'ov', driver: 'overlay', subnet: '10.210.0.0/24', gateway: '10.210.0.2', ipRange: '10.210.0.128/25', overlay });
    expect(record).toMatchObject({
      driver: 'overlay',
      subnet: '10.210.0.0/24',
      gateway: '10.210.0.2',
      ipRange: '10.210.0.128/25',
      mtu: 1450,
      overlay: { vni: 4242, peers: ['192.0.2.2', '192.0.2.3'], port: 4789 },
    });
    expect(newStore().get('ov')).toEqual(record);
    expect(store.create({ name: 'plain', subnet: '10.211.0.0/24', mtu: 9000 })).toMatchObject({ driver: 'bridge', mtu: 9000 });
  });

  it('refuses what cannot work, naming the flag, and changes nothing', () => {
    const store = newStore();
    store.create({ name: 'ov', driver: 'overlay', subnet: '10.210.0.0/24', overlay });
    refused(() => store.create({ name: 'x', driver: 'overlay', subnet: '10.212.0.0/24', overlay: { peers: ['192.0.2.2'] } }), '--driver overlay: needs --vni, the VXLAN id every host of the network shares');
    refused(() => store.create({ name: 'x', driver: 'overlay', overlay }), '--driver overlay: needs --subnet, the same on every host of the network');
    refused(() => store.create({ name: 'x', driver: 'overlay', subnet: '10.212.0.0/24', overlay: { vni: 7 } }), '--driver overlay: needs --peer, the underlay address of another host (repeat it for more)');
    refused(() => store.create({ name: 'x', driver: 'overlay', subnet: '10.212.0.0/24', overlay: { vni: 2 ** 24, peers: ['192.0.2.2'] } }), '--vni 16777216: expected a VXLAN id, 1 to 16777215');
    refused(() => store.create({ name: 'x', driver: 'overlay', subnet: '10.212.0.0/24', overlay: { vni: 7, peers: ['10.212.0.9'] } }), '--peer 10.212.0.9: inside the network\'s own subnet 10.212.0.0/24; peers are reached over the underlay');
    refused(() => store.create({ name: 'x', driver: 'overlay', subnet: '10.212.0.0/24', overlay: { vni: 7, peers: ['127.0.0.1'] } }), '--peer 127.0.0.1: not a unicast host address');
    refused(() => store.create({ name: 'x', driver: 'overlay', subnet: '10.212.0.0/24', overlay: { vni: 7, peers: ['192.0.2.2', '192.0.2.2'] } }), '--peer 192.0.2.2: given twice');
    refused(() => store.create({ name: 'x', driver: 'overlay', subnet: '10.212.0.0/24', overlay: { vni: 4242, peers: ['192.0.2.2'] } }), '--vni 4242: used by network "ov" on this host');
    refused(() => store.create({ name: 'x', subnet: '10.212.0.0/24', overlay: { vni: 7 } }), '--vni: needs --driver overlay');
    refused(() => store.create({ name: 'x', driver: 'vlan' }), '--driver "vlan": expected "bridge" or "overlay"');
    refused(() => store.create({ name: 'x', ipRange: '10.0.0.0/24' }), '--ip-range 10.0.0.0/24: needs --subnet, the range must lie in it');
    refused(() => store.create({ name: 'x', subnet: '10.212.0.0/24', ipRange: '10.213.0.0/25' }), '--ip-range 10.213.0.0/25: must be a block of at least 4 addresses inside subnet 10.212.0.0/24');
    refused(() => store.create({ name: 'x', subnet: '10.212.0.0/24', mtu: 20 }), '--mtu 20: expected 68 to 65535');
  });

  it('a stored overlay record that is off is reported as corrupt', () => {
    const store = newStore();
    const record = store.create({ name: 'ov', driver: 'overlay', subnet: '10.210.0.0/24', overlay });
    writeJsonAtomic(path.join(dir, 'networks'), 'ov.json', { ...record, overlay: { ...record.overlay, vni: 0 } });
    expect(errorOf(() => newStore().get('ov')).message).toMatch(/invalid network file .*ov\.json: "overlay\.vni" must be 1 to 16777215, got 0$/);
    writeJsonAtomic(path.join(dir, 'networks'), 'ov.json', { ...record, driver: 'bridge' });
    expect(errorOf(() => newStore().get('ov')).message).toMatch(/"overlay" must be present exactly when "driver" is "overlay"$/);
  });
});
