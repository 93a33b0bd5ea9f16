import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hostVethName } from '../../src/plugins/network/container-network';
import { Sandbox, integrationSkipReason, rootlessRun, waitUntil, type Config } from '../helpers/tsrun';

/**
 * `tsrun network` end to end. The tests build their own "hosts" as network namespaces and never touch the
 * machine's interfaces: tsrun runs in HOST (through nsenter --net, which keeps the mounts, cgroups included);
 * OUTSIDE is a server reachable from HOST but with no route back to the containers' subnet (so reaching it
 * proves the masquerading); CLIENT is another machine that reaches HOST's published ports.
 */
const hasTools = spawnSync('sh', ['-c', 'command -v ip && command -v nsenter && command -v nft']).status === 0;
const skip = integrationSkipReason ?? (rootlessRun ? 'tsrun network runs as root' : !hasTools ? 'needs ip (iproute2), nsenter and nft (nftables)' : undefined);

const tag = randomBytes(3).toString('hex');
const HOST = `tsrun-nh-${tag}`;
const OUTSIDE = `tsrun-no-${tag}`;
const CLIENT = `tsrun-nc-${tag}`;

function sh(command: string): string {
  const r = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command}: ${r.stderr}`);
  return r.stdout;
}

describe.skipIf(skip !== undefined)(`tsrun network${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let sb: Sandbox;
  let stateDir: string;
  const servers: number[] = [];

  beforeAll(() => {
    sh(`ip netns add ${HOST} && ip netns add ${OUTSIDE} && ip netns add ${CLIENT}`);
    for (const ns of [HOST, OUTSIDE, CLIENT]) sh(`ip -n ${ns} link set lo up`);
    sh(`ip -n ${HOST} link add ho type veth peer name oh netns ${OUTSIDE}`);
    sh(`ip -n ${HOST} addr add 10.123.0.1/24 dev ho && ip -n ${HOST} link set ho up`);
    sh(`ip -n ${OUTSIDE} addr add 10.123.0.2/24 dev oh && ip -n ${OUTSIDE} link set oh up`);
    sh(`ip -n ${HOST} link add hc type veth peer name ch netns ${CLIENT}`);
    sh(`ip -n ${HOST} addr add 10.124.0.1/24 dev hc && ip -n ${HOST} link set hc up`);
    sh(`ip -n ${CLIENT} addr add 10.124.0.2/24 dev ch && ip -n ${CLIENT} link set ch up && ip -n ${CLIENT} route add default via 10.124.0.1`);
  });

  afterAll(() => {
    for (const ns of [HOST, OUTSIDE, CLIENT]) spawnSync('ip', ['netns', 'del', ns]);
  });

  beforeEach(() => {
    sb = new Sandbox('tsrun-net', { wrap: ['nsenter', `--net=/run/netns/${HOST}`] });
    stateDir = path.join(sb.dir, 'network');
  });

  afterEach(() => {
    for (const pid of servers.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    sb.cleanup(); // deletes the containers: their poststop hooks tear the networking down
    spawnSync('ip', ['netns', 'exec', HOST, 'nft', 'delete', 'table', 'ip', 'tsrun']);
    for (const link of sh(`ip -n ${HOST} -o link show`).split('\n')) {
      const name = /^\d+: ([^:@]+)/.exec(link)?.[1];
      if (name?.startsWith('tsrun-') || name?.startsWith('tsv')) spawnSync('ip', ['-n', HOST, 'link', 'del', name]);
    }
  });

  const net = (...args: string[]) => sb.tsrun(['network', ...args, '--state-dir', stateDir]);

  function netBundle(args: string[], attach: string[]): string {
    const config: Config = sb.config(args);
    const bundle = sb.bundle(config);
    const r = net('attach', bundle, ...attach);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return bundle;
  }

  /** A container serving `reply` on TCP port 80, one connection after another. */
  function server(reply: string, attach: string[]): string {
    const id = sb.newId('srv');
    const r = sb.tsrun(['run', '-d', '-b', netBundle(['sh', '-c', `while true; do echo ${reply} | nc -l -p 80; done`], attach), id]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return id;
  }

  /** Runs a container in the foreground; its output. */
  function client(script: string, attach: string[]): { status: number | null; stdout: string; stderr: string } {
    return sb.tsrun(['run', '-b', netBundle(['sh', '-c', script], attach), sb.newId('cli')]);
  }

  /** nc in a loop: the server may need a moment to listen. */
  const fetch = (address: string, port: number) => `for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 ${address} ${port} && exit 0; sleep 0.2; done; exit 1`;

  it('two containers on one network reach each other by IP; a container reaches the outside through NAT', () => {
    expect(net('create', 'web', '--subnet', '10.60.0.0/24').status).toBe(0);
    server('from-a', ['--network', 'web', '--ip', '10.60.0.10']);
    const inside = client(`${fetch('10.60.0.10', 80)}`, ['--network', 'web']);
    expect(inside.stderr).toBe('');
    expect(inside.stdout.trim()).toBe('from-a');

    const outside = spawn('ip', ['netns', 'exec', OUTSIDE, '/bin/busybox', 'sh', '-c', 'echo from-outside | /bin/busybox nc -l -p 9000'], { stdio: 'ignore' });
    servers.push(outside.pid!);
    const viaNat = client(fetch('10.123.0.2', 9000), ['--network', 'web']);
    expect(viaNat.stdout.trim()).toBe('from-outside');
    // OUTSIDE has no route to 10.60.0.0/24: the answer came back only because HOST masqueraded the container.
    expect(sh(`ip -n ${OUTSIDE} route`)).not.toContain('10.60.0.0');
  });

  it('containers set up at the same time on a new network share its bridge and rules (none fails making them)', async () => {
    expect(net('create', 'burst', '--subnet', '10.63.0.0/24').status).toBe(0);
    const ids = [1, 2, 3, 4, 5, 6].map(() => sb.newId('burst'));
    const bundles = ids.map(() => netBundle(['sleep', '1000'], ['--network', 'burst']));
    const results = await Promise.all(ids.map((id, i) => sb.spawnTsrun(['run', '-d', '-b', bundles[i]!, id])));
    for (const r of results) {
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    expect(Object.keys(JSON.parse(net('inspect', 'burst').stdout)[0].containers).sort()).toEqual([...ids].sort());
  });

  it('a published port on the host reaches a server in the container, from another machine', () => {
    server('from-published', ['--publish', '8080:80']);
    const r = spawnSync('ip', ['netns', 'exec', CLIENT, '/bin/busybox', 'sh', '-c', fetch('10.124.0.1', 8080).replaceAll('nc ', '/bin/busybox nc ').replaceAll('sleep', '/bin/busybox sleep')], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('from-published');
  });

  it('none: only lo, up; the hostname in /etc/hosts', () => {
    const r = client('ls /sys/class/net; cat /sys/class/net/lo/operstate; grep -c box1 /etc/hosts', ['--network', 'none', '--hostname', 'box1']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['lo', 'unknown', '1']);
  });

  it('container:ID shares the other container\'s network namespace and address', () => {
    expect(net('create', 'web', '--subnet', '10.61.0.0/24').status).toBe(0);
    const first = server('x', ['--network', 'web', '--ip', '10.61.0.20']);
    const r = client('ip -4 -o addr show eth0; cat /etc/hostname', ['--network', `container:${first}`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('10.61.0.20/24');
    expect(r.stdout).toContain(first);
  });

  it('teardown leaves no link, rule or allocation behind, also after SIGKILL', async () => {
    const id = server('bye', ['--publish', '8081:80']);
    const veth = hostVethName(id);
    expect(sh(`ip -n ${HOST} -o link show`)).toContain(veth);
    expect(sh(`ip netns exec ${HOST} nft list table ip tsrun`)).toContain(`tsrun:${id}`);
    expect(sb.tsrun(['kill', id, 'KILL']).status).toBe(0);
    await waitUntil(() => sb.state(id).status === 'stopped', 10_000, 'the container to stop');
    const del = sb.tsrun(['delete', id]);
    expect(del.stderr).toBe('');
    expect(del.status).toBe(0);
    expect(sh(`ip -n ${HOST} -o link show`)).not.toContain(veth);
    expect(sh(`ip netns exec ${HOST} nft list table ip tsrun`)).not.toContain(`tsrun:${id}`);
    expect(JSON.parse(net('inspect', 'tsrun0').stdout)[0].containers).toEqual({});
    expect(fs.readdirSync(path.join(stateDir, 'containers')).filter((f) => !f.startsWith('.'))).toEqual([]);
    // Once more by hand: nothing to do is fine.
    expect(net('teardown', id).status).toBe(0);
  });

  it('bad input gets one clear line and changes nothing', () => {
    expect(net('create', 'web', '--subnet', '10.62.0.0/24').status).toBe(0);
    const overlap = net('create', 'web2', '--subnet', '10.62.0.0/16');
    expect(overlap.status).not.toBe(0);
    expect(overlap.stderr.trim()).toBe('network "web2": subnet 10.62.0.0/16 overlaps network "web" (10.62.0.0/24)');

    const bundle = sb.bundle(sb.config(['true']));
    const before = fs.readFileSync(path.join(bundle, 'config.json'), 'utf8');
    const outside = net('attach', bundle, '--network', 'web', '--ip', '10.99.0.5');
    expect(outside.stderr.trim()).toBe('--ip 10.99.0.5: outside network "web" (10.62.0.0/24)');
    const unknown = net('attach', bundle, '--network', 'nope');
    expect(unknown.stderr.trim()).toBe('network "nope" does not exist');
    expect(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')).toBe(before);

    const holder = server('x', ['--network', 'web', '--publish', '8082:80']);
    const id = sb.newId('dup');
    const taken = sb.tsrun(['create', '-b', netBundle(['sleep', '100'], ['--network', 'web', '--publish', '8082:80']), id]);
    expect(taken.status).not.toBe(0);
    expect(taken.stderr).toContain(holder);
    expect(taken.stderr).toContain('8082');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
    expect(Object.keys(JSON.parse(net('inspect', 'web').stdout)[0].containers)).toEqual([holder]);

    // A network with a container attached cannot be removed.
    const busy = net('rm', 'web');
    expect(busy.status).not.toBe(0);
    expect(busy.stderr.trim()).toBe(`network "web" is in use by container ${holder}: remove them first`);
    expect(net('ls', '-q').stdout.split('\n')).toContain('web');
  });

  it('a host port some process on the host listens on is refused, and nothing is left', async () => {
    const listener = spawn('nsenter', [`--net=/run/netns/${HOST}`, '/bin/busybox', 'nc', '-l', '-p', '8083'], { stdio: 'ignore' });
    servers.push(listener.pid!);
    await waitUntil(() => sh(`ip netns exec ${HOST} cat /proc/net/tcp /proc/net/tcp6`).includes(':1F93 '), 10_000, 'the host listener');
    const id = sb.newId('busy');
    const r = sb.tsrun(['create', '-b', netBundle(['sleep', '100'], ['--publish', '8083:80']), id]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('host port 8083');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
    expect(JSON.parse(net('inspect', 'tsrun0').stdout)[0].containers).toEqual({});
    expect(sh(`ip -n ${HOST} -o link show`)).not.toContain(hostVethName(id));
  });
});
