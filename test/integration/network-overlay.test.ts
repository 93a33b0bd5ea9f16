import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Sandbox, integrationSkipReason, rootlessRun, type Config } from '../helpers/tsrun';

/**
 * `tsrun network create --driver overlay`: two "hosts", each a network namespace with its own tsrun state (network
 * store and --root), joined by an "underlay" veth pair. Nothing outside these namespaces is touched.
 */
const hasTools = spawnSync('sh', ['-c', 'command -v ip && command -v bridge && command -v nsenter && command -v nft']).status === 0;
const skip = integrationSkipReason ?? (rootlessRun ? 'tsrun network runs as root' : !hasTools ? 'needs ip and bridge (iproute2), nsenter and nft (nftables)' : undefined);

const tag = randomBytes(3).toString('hex');
const HOSTS = [`tsrun-o1-${tag}`, `tsrun-o2-${tag}`] as const;
const UNDERLAY = ['10.77.0.1', '10.77.0.2'] as const;
const VNI = 4242;
const DEVICE = `tsvx${VNI}`;

function sh(command: string): string {
  const r = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command}: ${r.stderr}`);
  return r.stdout;
}

describe.skipIf(skip !== undefined)(`tsrun network, overlay driver${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let hosts: Sandbox[] = [];

  beforeAll(() => {
    sh(`ip netns add ${HOSTS[0]} && ip netns add ${HOSTS[1]}`);
    for (const ns of HOSTS) sh(`ip -n ${ns} link set lo up`);
    sh(`ip -n ${HOSTS[0]} link add u1 type veth peer name u2 netns ${HOSTS[1]}`);
    sh(`ip -n ${HOSTS[0]} addr add ${UNDERLAY[0]}/24 dev u1 && ip -n ${HOSTS[0]} link set u1 up`);
    sh(`ip -n ${HOSTS[1]} addr add ${UNDERLAY[1]}/24 dev u2 && ip -n ${HOSTS[1]} link set u2 up`);
  });

  afterAll(() => {
    for (const ns of HOSTS) spawnSync('ip', ['netns', 'del', ns]);
  });

  beforeEach(() => {
    hosts = HOSTS.map((ns, i) => new Sandbox(`tsrun-ov${i + 1}`, { wrap: ['nsenter', `--net=/run/netns/${ns}`] }));
  });

  afterEach(() => {
    for (const sb of hosts) sb.cleanup(); // deletes the containers: their poststop hooks tear the networking down
    for (const ns of HOSTS) {
      spawnSync('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'tsrun']);
      for (const link of sh(`ip -n ${ns} -o link show`).split('\n')) {
        const name = /^\d+: ([^:@]+)/.exec(link)?.[1];
        if (name?.startsWith('tsrun-') || name?.startsWith('tsv')) spawnSync('ip', ['-n', ns, 'link', 'del', name]);
      }
    }
  });

  const net = (host: number, ...args: string[]) => hosts[host]!.tsrun(['network', ...args, '--state-dir', path.join(hosts[host]!.dir, 'network')]);

  /** The same network on both hosts: one subnet and VNI, each host its own gateway and address block. */
  function createOverlay(): void {
    for (const i of [0, 1]) {
      const r = net(i, 'create', 'ov', '--driver', 'overlay', '--subnet', '10.210.0.0/24', '--gateway', `10.210.0.${i + 1}`,
        '--ip-range', i === 0 ? '10.210.0.64/26' : '10.210.0.128/26', '--vni', String(VNI), '--peer', UNDERLAY[1 - i]!, '--local', UNDERLAY[i]!);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
  }

  function bundleOn(host: number, args: string[], attach: string[]): string {
    const sb = hosts[host]!;
    const config: Config = sb.config(args);
    const bundle = sb.bundle(config);
    const r = net(host, 'attach', bundle, ...attach);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return bundle;
  }

  it('containers on two hosts reach each other through VXLAN, with the overlay MTU; rm removes device and bridge', () => {
    createOverlay();
    const server = hosts[1]!.newId('srv');
    const started = hosts[1]!.tsrun(['run', '-d', '-b', bundleOn(1, ['sh', '-c', 'while true; do echo across | nc -l -p 80; done'], ['--network', 'ov']), server]);
    expect(started.stderr).toBe('');
    expect(started.status).toBe(0);
    const serverIp = JSON.parse(net(1, 'inspect', 'ov').stdout)[0].containers[server];
    expect(serverIp).toBe('10.210.0.129'); // the first host of host 2's block

    // The VXLAN device is a port of host 2's bridge and floods to host 1.
    expect(sh(`ip -n ${HOSTS[1]} -d link show ${DEVICE}`)).toMatch(new RegExp(`vxlan id ${VNI} local ${UNDERLAY[1]}.* dstport 4789`));
    expect(sh(`ip -n ${HOSTS[1]} -o link show ${DEVICE}`)).toMatch(/ master \S+ /);
    expect(sh(`bridge -n ${HOSTS[1]} fdb show dev ${DEVICE}`)).toContain(`00:00:00:00:00:00 dst ${UNDERLAY[0]} self permanent`);

    const fetch = `for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 ${serverIp} 80 && exit 0; sleep 0.2; done; exit 1`;
    const client = hosts[0]!.tsrun(['run', '-b', bundleOn(0, ['sh', '-c', `cat /sys/class/net/eth0/mtu; ip -4 -o addr show eth0; ${fetch}`], ['--network', 'ov']), hosts[0]!.newId('cli')]);
    expect(client.stderr).toBe('');
    const lines = client.stdout.trim().split('\n');
    expect(lines[0]).toBe('1450');
    expect(lines[1]).toContain('10.210.0.65/24');
    expect(lines.at(-1)).toBe('across');
    expect(client.status).toBe(0);

    expect(hosts[1]!.tsrun(['delete', '--force', server]).status).toBe(0);
    for (const i of [0, 1]) {
      const bridge = JSON.parse(net(i, 'inspect', 'ov').stdout)[0].bridge as string;
      const rm = net(i, 'rm', 'ov');
      expect(rm.stderr).toBe('');
      expect(rm.status).toBe(0);
      const links = sh(`ip -n ${HOSTS[i]} -o link show`);
      expect(links).not.toContain(DEVICE);
      expect(links).not.toContain(bridge);
    }
  });

  it('overlay flags are checked before anything exists: one line each, no network left', () => {
    const r = net(0, 'create', 'ov', '--driver', 'overlay', '--subnet', '10.210.0.0/24', '--vni', String(VNI), '--peer', '10.210.0.9');
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toBe('--peer 10.210.0.9: inside the network\'s own subnet 10.210.0.0/24; peers are reached over the underlay');
    const bridgeOnly = net(0, 'create', 'plain', '--subnet', '10.211.0.0/24', '--peer', UNDERLAY[1]);
    expect(bridgeOnly.stderr.trim()).toBe('--peer: needs --driver overlay');
    expect(net(0, 'ls', '-q').stdout.trim().split('\n')).toEqual(['tsrun0']);
    expect(sh(`ip -n ${HOSTS[0]} -o link show`)).not.toContain(DEVICE);
  });
});
