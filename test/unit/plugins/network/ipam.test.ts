import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorOf } from '../../../helpers/errors';
import { Ipam } from '../../../../src/plugins/network/ipam';
import { NetworkStore } from '../../../../src/plugins/network/network-store';
import { WouldBlock, mkdirLock, snapshot } from './mkdir-lock';
import { runNode } from '../../../helpers/run-node';

let tmp: string;
let dir: string;

function newPair(): { store: NetworkStore; ipam: Ipam } {
  const store = new NetworkStore({ dir, lock: mkdirLock() });
  return { store, ipam: new Ipam(store) };
}

function allocationFile(network: string): string {
  return path.join(dir, 'ipam', `${network}.json`);
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-ipam-'));
  dir = path.join(tmp, 'state');
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** `fn` must throw a RuntimeError with exactly `message` and leave every file as it was. */
function refused(fn: () => unknown, message: string): void {
  const before = snapshot(tmp);
  const error = errorOf(fn);
  expect(error.message).toBe(message);
  expect(snapshot(tmp)).toEqual(before);
}

describe('allocate', () => {
  it('hands out the lowest free host after the gateway, and is idempotent per container', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web', subnet: '10.1.0.0/16' });
    expect(ipam.allocate('web', 'c1')).toBe('10.1.0.2');
    expect(ipam.allocate('web', 'c2')).toBe('10.1.0.3');
    expect(ipam.allocate('web', 'c1')).toBe('10.1.0.2');
    expect(ipam.allocate('web', 'c1', '10.1.0.2')).toBe('10.1.0.2');
    expect(ipam.allocations('web')).toEqual({ c1: '10.1.0.2', c2: '10.1.0.3' });
    expect(JSON.parse(fs.readFileSync(allocationFile('web'), 'utf8'))).toEqual({ c1: '10.1.0.2', c2: '10.1.0.3' });
  });

  it('reuses the lowest address a release freed', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web', subnet: '10.1.0.0/24' });
    for (const id of ['a', 'b', 'c']) ipam.allocate('web', id);
    ipam.release('web', 'b');
    expect(ipam.allocate('web', 'd')).toBe('10.1.0.3');
    expect(ipam.allocate('web', 'e')).toBe('10.1.0.5');
  });

  it('skips a gateway that is not the first host', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web', subnet: '10.1.0.0/29', gateway: '10.1.0.2' });
    expect(['a', 'b', 'c'].map((id) => ipam.allocate('web', id))).toEqual(['10.1.0.1', '10.1.0.3', '10.1.0.4']);
  });

  it('uses the default network, creating it on first use', () => {
    const { ipam } = newPair();
    expect(ipam.allocate('tsrun0', 'c1')).toBe('10.88.0.2');
    expect(fs.existsSync(path.join(dir, 'networks', 'tsrun0.json'))).toBe(true);
  });

  it('takes a requested address when it is a free host address that is not the gateway', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web', subnet: '10.1.0.0/16' });
    expect(ipam.allocate('web', 'c1', '10.1.200.7')).toBe('10.1.200.7');
    ipam.allocate('web', 'c2');
    const messages: [string, string][] = [
      ['10.2.0.5', '--ip 10.2.0.5: outside network "web" (10.1.0.0/16)'],
      ['10.1.0.0', '--ip 10.1.0.0: is the network address of network "web" (10.1.0.0/16)'],
      ['10.1.255.255', '--ip 10.1.255.255: is the broadcast address of network "web" (10.1.0.0/16)'],
      ['10.1.0.1', '--ip 10.1.0.1: is the gateway of network "web" (10.1.0.0/16)'],
      ['10.1.200.7', '--ip 10.1.200.7: already in use by container c1 on network "web" (10.1.0.0/16)'],
      ['10.1.0.2', '--ip 10.1.0.2: already in use by container c2 on network "web" (10.1.0.0/16)'],
      ['10.1.0.300', '--ip "10.1.0.300": must be an IPv4 address such as 10.88.0.1'],
      ['', '--ip "": must be an IPv4 address such as 10.88.0.1'],
    ];
    for (const [requested, message] of messages) refused(() => ipam.allocate('web', 'c3', requested), message);
    refused(() => ipam.allocate('web', 'c1', '10.1.0.9'), '--ip 10.1.0.9: container c1 already has 10.1.200.7 on network "web"');
    expect(errorOf(() => ipam.allocate('web', 'c3', '10.1.0.2')).code).toBe('exists');
  });

  it('says when the subnet is full, changing nothing', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'p2p', subnet: '10.9.0.0/30' });
    expect(ipam.allocate('p2p', 'only')).toBe('10.9.0.2');
    refused(() => ipam.allocate('p2p', 'more'), 'network "p2p" (10.9.0.0/30) has no free address left');
    ipam.release('p2p', 'only');
    expect(ipam.allocate('p2p', 'more')).toBe('10.9.0.2');
  });

  it('with an ipRange, hands out addresses from that block only; --ip may still name any host of the subnet', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'ranged', subnet: '10.9.0.0/24', ipRange: '10.9.0.128/30' });
    expect(ipam.allocate('ranged', 'a')).toBe('10.9.0.129');
    expect(ipam.allocate('ranged', 'b')).toBe('10.9.0.130');
    refused(() => ipam.allocate('ranged', 'c'), 'network "ranged" (10.9.0.128/30) has no free address left');
    expect(ipam.allocate('ranged', 'c', '10.9.0.7')).toBe('10.9.0.7');
  });

  it('refuses a missing network and bad ids or names', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web' });
    ipam.allocate('web', 'c1');
    refused(() => ipam.allocate('nope', 'c1'), 'network "nope" does not exist');
    refused(() => ipam.allocate('web', 'a/b'), 'invalid container ID format: "a/b"');
    refused(() => ipam.allocate('../x', 'c1'), 'network name "../x": must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit');
  });

  it('keeps odd container ids as plain keys', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web', subnet: '10.1.0.0/24' });
    expect(ipam.allocate('web', '__proto__')).toBe('10.1.0.2');
    expect(ipam.allocate('web', 'constructor')).toBe('10.1.0.3');
    expect(ipam.usersOf('web')).toEqual(['__proto__', 'constructor']);
    expect(Object.keys(ipam.allocations('web'))).toEqual(['__proto__', 'constructor']);
    expect(ipam.allocate('web', '__proto__')).toBe('10.1.0.2');
  });

  it('replaces an entry the network no longer fits (re-created with another subnet)', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web', subnet: '10.1.0.0/24' });
    fs.writeFileSync(allocationFile('web'), JSON.stringify({ old: '10.7.0.2', c1: '10.1.0.2' }));
    expect(ipam.allocate('web', 'old')).toBe('10.1.0.3');
    expect(ipam.allocations('web')).toEqual({ c1: '10.1.0.2', old: '10.1.0.3' });
  });
});

describe('release, allocations and usersOf', () => {
  it('release is idempotent and deletes the file when the last address goes', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web' });
    ipam.allocate('web', 'c1');
    ipam.allocate('web', 'c2');
    ipam.release('web', 'c1');
    ipam.release('web', 'c1');
    expect(ipam.usersOf('web')).toEqual(['c2']);
    ipam.release('web', 'c2');
    expect(fs.existsSync(allocationFile('web'))).toBe(false);
    expect(ipam.usersOf('web')).toEqual([]);
    expect(ipam.allocations('web')).toEqual({});
    ipam.release('gone', 'c1');
    expect(fs.existsSync(path.join(dir, 'ipam', 'gone.lock'))).toBe(false);
  });

  it('release clears an entry left behind by a network that is gone', () => {
    const { ipam } = newPair();
    fs.mkdirSync(path.join(dir, 'ipam'), { recursive: true });
    fs.writeFileSync(allocationFile('gone'), JSON.stringify({ c1: '10.7.0.2' }));
    expect(ipam.usersOf('gone')).toEqual(['c1']);
    ipam.release('gone', 'c1');
    expect(fs.existsSync(allocationFile('gone'))).toBe(false);
  });

  it('lists holders in address order and users sorted by id', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web', subnet: '10.1.0.0/24' });
    ipam.allocate('web', 'zeta', '10.1.0.10');
    ipam.allocate('web', 'alpha', '10.1.0.20');
    ipam.allocate('web', 'mid', '10.1.0.9');
    expect(Object.entries(ipam.allocations('web'))).toEqual([['mid', '10.1.0.9'], ['zeta', '10.1.0.10'], ['alpha', '10.1.0.20']]);
    expect(ipam.usersOf('web')).toEqual(['alpha', 'mid', 'zeta']);
  });

  it('writes 0600 files atomically, leaving no temporary files', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web' });
    for (let i = 0; i < 20; i++) ipam.allocate('web', `c${i}`);
    for (let i = 0; i < 20; i += 2) ipam.release('web', `c${i}`);
    expect(fs.readdirSync(path.join(dir, 'ipam')).sort()).toEqual(['web.json', 'web.lock']);
    expect(fs.statSync(allocationFile('web')).mode & 0o777).toBe(0o600);
  });

  it('reports a corrupt allocation file naming it', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web' });
    const file = allocationFile('web');
    for (const [content, detail] of [
      ['[', 'not JSON'],
      ['[]', 'not a JSON object'],
      ['{"c1":"10.89.0.256"}', 'container "c1" has "10.89.0.256", not an IPv4 address'],
      ['{"c1":5}', 'container "c1" has 5, not an IPv4 address'],
      ['{"c1":"10.89.0.2","c2":"10.89.0.2"}', '10.89.0.2 is held by both "c1" and "c2"'],
    ]) {
      fs.writeFileSync(file, content as string);
      const error = errorOf(() => ipam.allocate('web', 'c3'));
      expect(error.code).toBe('state-corrupt');
      expect(error.message.startsWith(`invalid allocation file ${file}: ${detail}`)).toBe(true);
    }
  });
});

describe('with the network store', () => {
  it('network removal is refused while the IPAM has users, and allowed once they are gone', () => {
    const { store, ipam } = newPair();
    store.create({ name: 'web' });
    ipam.allocate('web', 'c1');
    refused(() => store.remove('web', (n) => ipam.usersOf(n)), 'network "web" is in use by container c1: remove them first');
    expect(store.prune((n) => ipam.usersOf(n))).toEqual([]);
    ipam.release('web', 'c1');
    store.remove('web', (n) => ipam.usersOf(n));
    refused(() => ipam.allocate('web', 'c1'), 'network "web" does not exist');
  });

  it('no allocation slips in between the in-use check and the removal (another store on the same directory)', () => {
    const { store } = newPair();
    const other = newPair();
    store.create({ name: 'web' });
    store.remove('web', () => {
      expect(() => other.ipam.allocate('web', 'late')).toThrow(WouldBlock);
      return [];
    });
    expect(errorOf(() => other.ipam.allocate('web', 'late')).message).toBe('network "web" does not exist');
  });

  it('two stores interleaving on one directory never hand out the same address', () => {
    const a = newPair();
    const b = newPair();
    a.store.create({ name: 'web', subnet: '10.1.0.0/24' });
    const distinct = (): void => {
      const values = Object.values(a.ipam.allocations('web'));
      expect(new Set(values).size).toBe(values.length);
    };
    for (let i = 0; i < 10; i++) {
      a.ipam.allocate('web', `a${i}`);
      distinct();
      b.ipam.allocate('web', `b${i}`);
      distinct();
      if (i % 3 === 0) a.ipam.release('web', `b${i}`); // B's freed address goes to whoever asks next
    }
    expect(Object.keys(b.ipam.allocations('web'))).toHaveLength(16);
    expect(b.ipam.allocate('web', 'a5')).toBe(a.ipam.allocations('web').a5);
    // B holding the network lock holds A off
    b.store.withNetworkLock('web', () => expect(() => a.ipam.allocate('web', 'x')).toThrow(WouldBlock));
  });
});

describe('across processes', () => {
  const CHILD = `
import { Ipam, NetworkStore, mkdirLock } from './bundle.mjs';
const [dir, who, count] = process.argv.slice(2);
const store = new NetworkStore({ dir, lock: mkdirLock({ blocking: true }) });
const ipam = new Ipam(store);
const got = [];
for (let i = 0; i < Number(count); i++) {
  got.push(ipam.allocate('web', who + '-' + i));
  if (i % 5 === 4) ipam.release('web', who + '-' + (i - 2));
}
process.stdout.write(JSON.stringify(got));
`;

  const run = runNode;


  it('concurrent tsrun processes never hand out one address twice', async () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const work = path.join(tmp, 'work');
    fs.mkdirSync(work);
    buildSync({
      stdin: {
        contents: [
          "export { Ipam } from '../../../../src/plugins/network/ipam';",
          "export { NetworkStore } from '../../../../src/plugins/network/network-store';",
          "export { mkdirLock } from './mkdir-lock';",
        ].join('\n'),
        resolveDir: here,
        loader: 'ts',
      },
      outfile: path.join(work, 'bundle.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });
    const script = path.join(work, 'child.mjs');
    fs.writeFileSync(script, CHILD);
    const { store, ipam } = newPair();
    store.create({ name: 'web', subnet: '10.1.0.0/24' });

    const results = await Promise.all(['p', 'q', 'r', 's'].map((who) => run(script, [dir, who, '30'])));
    for (const result of results) expect(result).toMatchObject({ code: 0, stderr: '' });

    const held = ipam.allocations('web');
    // 4 processes × 30 allocations, each releasing 6 of its own
    expect(Object.keys(held)).toHaveLength(96);
    expect(new Set(Object.values(held)).size).toBe(96);
    // every address a process was given and kept is still its own: nobody else got it
    for (const [index, who] of ['p', 'q', 'r', 's'].entries()) {
      const got = JSON.parse(results[index]?.stdout ?? '[]') as string[];
      got.forEach((address, i) => {
        const id = `${who}-${i}`;
        if (id in held) expect(held[id]).toBe(address);
      });
    }
    expect(fs.readdirSync(path.join(dir, 'ipam')).sort()).toEqual(['web.json', 'web.lock']);
  }, 60_000);
});
