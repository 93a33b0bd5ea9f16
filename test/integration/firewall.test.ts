// The firewall backends against the real nft and iptables, only ever inside network namespaces this file creates
// (tsrun-fw-<random>-*) and deletes again: the host's own ruleset, interfaces and addresses are never touched.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { iptablesFirewall, nftFirewall, runCommand, type Firewall, type Run } from '../../src/plugins/network/firewall';
import type { PortForward } from '../../src/plugins/network/publish';
import { integrationSkipReason } from '../helpers/tsrun';

const found = (command: string) => spawnSync(command, ['--version'], { encoding: 'utf8' }).error === undefined;
const skipReason = integrationSkipReason ?? (!found('ip') ? 'needs iproute2 (ip)' : undefined);
const backends = [
  { name: 'nft', make: nftFirewall, missing: !found('nft') },
  { name: 'iptables', make: iptablesFirewall, missing: !found('iptables') },
] as const;

const NETWORK = { name: 'fwtest', bridge: 'vctr', subnet: '10.99.0.0/24' };
const PORTS: PortForward[] = [
  { hostPort: 8080, containerPort: 80, proto: 'tcp', containerIp: '10.99.0.2' },
  { hostIp: '10.98.0.1', hostPort: 5353, containerPort: 53, proto: 'udp', containerIp: '10.99.0.2' },
];

/** A TCP server answering `hi <peer address>` to every connection, printing `ready` once it listens. */
const SERVER = `require('net').createServer((s) => s.end('hi ' + s.remoteAddress + '\\n')).listen(Number(process.argv[1]), '0.0.0.0', () => console.log('ready'))`;
/** Connects, prints what it reads, fails after 5 s. */
const CLIENT = `const s = require('net').connect(Number(process.argv[2]), process.argv[1]); let out = '';
s.on('data', (d) => (out += d)); s.on('end', () => { process.stdout.write(out); process.exit(0); });
s.on('error', (e) => { console.error(e.message); process.exit(1); }); setTimeout(() => { console.error('timeout'); process.exit(2); }, 5000);`;

function sh(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout;
}

describe.skipIf(skipReason !== undefined)(`firewall${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const namespaces: string[] = [];
  const servers: ChildProcess[] = [];

  afterEach(() => {
    // Only what this file started, by PID, then the namespaces it made.
    for (const server of servers.splice(0)) if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    for (const ns of namespaces.splice(0)) spawnSync('ip', ['netns', 'delete', ns]);
  });

  function netns(role: string): string {
    const name = `tsrun-fw-${randomBytes(4).toString('hex')}-${role}`;
    sh('ip', ['netns', 'add', name]);
    namespaces.push(name);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** `run` for the firewall: the same command, inside the namespace. */
  function runIn(ns: string): Run {
    return (command, args, input) => runCommand('ip', ['netns', 'exec', ns, command, ...args], input);
  }

  /** The tags of the rules the backend installed, each with how many rules carry it. */
  function tagCounts(backend: string, ns: string): Record<string, number> {
    const counts: Record<string, number> = {};
    const add = (tag: string) => (counts[tag] = (counts[tag] ?? 0) + 1);
    if (backend === 'nft') {
      const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'ip', 'tsrun'], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      for (const item of JSON.parse(r.stdout).nftables as { rule?: { comment?: string } }[]) if (item.rule) add(item.rule.comment ?? '(none)');
    } else {
      for (const table of ['nat', 'filter']) {
        for (const line of sh('ip', ['netns', 'exec', ns, 'iptables', '-w', '-t', table, '-S']).split('\n')) {
          if (!line.startsWith('-A TSRUN-')) continue;
          add(/--comment "?([^" ]+)"?/.exec(line)?.[1] ?? '(none)');
        }
      }
    }
    return counts;
  }

  for (const backend of backends) {
    const skip = backend.missing ? ` (skipped: ${backend.name} not installed)` : '';

    it.skipIf(backend.missing)(`${backend.name}: apply is idempotent, removal by tag leaves the other tag's rules${skip}`, () => {
      const ns = netns(backend.name);
      const fw: Firewall = backend.make(runIn(ns));
      // Removing before anything exists (no table, no chains) is fine.
      fw.removeContainer('c1');
      fw.removeNetwork(NETWORK.name);

      fw.applyNetwork(NETWORK);
      fw.applyContainer('c1', PORTS);
      expect(tagCounts(backend.name, ns)).toEqual({ 'tsrun-net:fwtest': 3, 'tsrun:c1': 8 });

      fw.applyNetwork(NETWORK);
      fw.applyContainer('c1', PORTS);
      expect(tagCounts(backend.name, ns)).toEqual({ 'tsrun-net:fwtest': 3, 'tsrun:c1': 8 });

      // Re-applying with other ports replaces, not adds.
      fw.applyContainer('c1', PORTS.slice(0, 1));
      expect(tagCounts(backend.name, ns)).toEqual({ 'tsrun-net:fwtest': 3, 'tsrun:c1': 4 });

      fw.removeContainer('c1');
      expect(tagCounts(backend.name, ns)).toEqual({ 'tsrun-net:fwtest': 3 });
      fw.removeContainer('c1');

      fw.removeNetwork(NETWORK.name);
      expect(tagCounts(backend.name, ns)).toEqual({});
      fw.removeNetwork(NETWORK.name);

      if (backend.name === 'iptables') {
        // The jumps into tsrun's chains are there once, however often rules were applied.
        const nat = sh('ip', ['netns', 'exec', ns, 'iptables', '-w', '-t', 'nat', '-S']);
        expect(nat.split('\n').filter((l) => l === '-A PREROUTING -j TSRUN-PREROUTING')).toHaveLength(1);
      }
    });

    it.skipIf(backend.missing)(`${backend.name}: end to end, published port, masquerade and hairpin${skip}`, async () => {
      const host = netns('host');
      const ctr = netns('ctr');
      const client = netns('client');
      // Each veth is created inside "host" with its peer moved straight into the other namespace.
      sh('ip', ['-n', host, 'link', 'add', 'vctr', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ctr]);
      sh('ip', ['-n', host, 'link', 'add', 'vcli', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client]);
      for (const [ns, dev, address] of [[host, 'vctr', '10.99.0.1/24'], [host, 'vcli', '10.98.0.1/24'], [ctr, 'eth0', '10.99.0.2/24'], [client, 'eth0', '10.98.0.2/24']] as const) {
        sh('ip', ['-n', ns, 'addr', 'add', address, 'dev', dev]);
        sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      }
      sh('ip', ['-n', ctr, 'route', 'add', 'default', 'via', '10.99.0.1']);
      sh('ip', ['-n', client, 'route', 'add', 'default', 'via', '10.98.0.1']);
      // The sysctl of the "host" namespace: written by a process inside it, never the machine's own.
      sh('ip', ['netns', 'exec', host, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);

      const fw = backend.make(runIn(host));
      fw.applyNetwork(NETWORK);
      fw.applyContainer('c1', [{ hostIp: '10.98.0.1', hostPort: 8080, containerPort: 80, proto: 'tcp', containerIp: '10.99.0.2' }]);

      await startServer(ctr, 80);
      await startServer(client, 9000);
      const connect = (ns: string, address: string, port: number) => {
        const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', CLIENT, address, String(port)], { encoding: 'utf8', timeout: 10_000 });
        return `${r.stdout}${r.stderr}`.trim();
      };
      // From outside: DNAT in prerouting, the container sees the client's own address.
      expect(connect(client, '10.98.0.1', 8080)).toBe('hi 10.98.0.2');
      // From the host itself: DNAT in output (the source stays the address the host picked for 10.98.0.1).
      expect(connect(host, '10.98.0.1', 8080)).toBe('hi 10.98.0.1');
      // The container through the host's address to its own published port: hairpin masquerade.
      expect(connect(ctr, '10.98.0.1', 8080)).toBe('hi 10.99.0.1');
      // The container going out: masqueraded to the host's address on that side.
      expect(connect(ctr, '10.98.0.2', 9000)).toBe('hi 10.98.0.1');

      fw.removeContainer('c1');
      expect(connect(client, '10.98.0.1', 8080)).toMatch(/ECONNREFUSED/);
      fw.removeNetwork(NETWORK.name);
      expect(connect(ctr, '10.98.0.2', 9000)).toBe('hi 10.99.0.2');
    });
  }

  /** Starts SERVER inside `ns` on `port` and waits until it listens. */
  function startServer(ns: string, port: number): Promise<void> {
    const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    servers.push(server);
    return new Promise((resolve, reject) => {
      let stderr = '';
      const timer = setTimeout(() => reject(new Error(`server in ${ns} did not start: ${stderr}`)), 10_000);
      server.stderr!.on('data', (d) => (stderr += d));
      server.stdout!.on('data', (d) => {
        if (String(d).includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server in ${ns} exited (${code}): ${stderr}`));
      });
    });
  }
});
