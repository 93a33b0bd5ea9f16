import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError, describeValue } from '../../errors';
import {
  IPT_TABLES,
  iptAddArgs,
  iptContainerRules,
  iptDeleteArgs,
  iptListArgs,
  iptNetworkRules,
  iptSetupArgs,
  parseIptablesListing,
  type IptRule,
  type IptTable,
} from './iptables-rules';
import { formatCidr, parseCidr, tryParseIPv4 } from './ipv4';
import { NFT_FAMILY, NFT_TABLE, nftContainerRules, nftDeleteScript, nftNetworkRules, nftReplaceScript, nftTaggedRules, type NftRule } from './nft-rules';
import { formatPublish, type PortForward } from './publish';

/**
 * The firewall of tsrun's bridge networks: masquerading and forwarding per network, DNAT per published port.
 * Two backends with the same rules — nft (preferred) and iptables — behind one interface; the rules themselves
 * are built by the pure functions of nft-rules.ts and iptables-rules.ts, the runners here only execute them
 * through an injected `run` so tests can fake or redirect it (into a scratch network namespace).
 */

/** What the firewall needs to know of a bridge network. */
export interface FirewallNetwork {
  name: string;
  /** The bridge interface on the host. */
  bridge: string;
  /** IPv4 CIDR with no host bits set, e.g. 10.88.0.0/16. */
  subnet: string;
}

export interface Firewall {
  readonly backend: 'nft' | 'iptables';
  /** Installs (or replaces) the network's rules. */
  applyNetwork(network: FirewallNetwork): void;
  /** Removes the network's rules; nothing to remove is fine. */
  removeNetwork(name: string): void;
  /** Installs (or replaces) the rules of the container's published ports. */
  applyContainer(id: string, ports: readonly PortForward[]): void;
  /** Removes the container's rules; nothing to remove is fine. */
  removeContainer(id: string): void;
}

export interface RunResult {
  status: number | null;
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the command could not be started at all (ENOENT: not installed). */
  error?: NodeJS.ErrnoException;
}

/** Runs a command to completion with `input` on its stdin. Never through a shell. */
export type Run = (command: string, args: readonly string[], input?: string) => RunResult;

/** nft and iptables answer in milliseconds; this only keeps a wedged one from hanging tsrun (and the hook). */
const COMMAND_TIMEOUT_MS = 60_000;

export const runCommand: Run = (command, args, input) => {
  const r = spawnSync(command, args, { input: input ?? '', encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, stdio: ['pipe', 'pipe', 'pipe'] });
  const result: RunResult = { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (r.error) result.error = r.error as NodeJS.ErrnoException;
  return result;
};

export function networkTag(name: string): string {
  return `tsrun-net:${name}`;
}

export function containerTag(id: string): string {
  return `tsrun:${id}`;
}

/** nft if it is installed, else iptables; the error names the package to install when neither is. */
export function detectFirewall(run: Run = runCommand): Firewall {
  if (run('nft', ['--version']).error?.code !== 'ENOENT') return nftFirewall(run);
  if (run('iptables', ['--version']).error?.code !== 'ENOENT') return iptablesFirewall(run);
  throw new RuntimeError('firewall', 'neither nft (apt-get install nftables) nor iptables found');
}

/**
 * Writes 1 to net/ipv4/ip_forward, which is per network namespace: the one of the process opening the file.
 * Nothing is written when it is on already, so a read-only /proc/sys that has it on is fine.
 */
export function enableIpForwarding(procSys = '/proc/sys'): void {
  const file = path.join(procSys, 'net', 'ipv4', 'ip_forward');
  try {
    if (fs.readFileSync(file, 'utf8').trim() === '1') return;
    fs.writeFileSync(file, '1\n');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new RuntimeError('sysctl', `enable IPv4 forwarding: ${file}: ${e.code ?? e.message}`);
  }
}

export function nftFirewall(run: Run = runCommand): Firewall {
  /** The tag's rules in the table; none when the table does not exist yet. */
  function tagged(tag: string, what: string) {
    const r = run('nft', ['-j', 'list', 'table', NFT_FAMILY, NFT_TABLE]);
    if (r.status !== 0 && !r.error && /No such file or directory/.test(r.stderr)) return [];
    check('nft', r, what);
    return nftTaggedRules(r.stdout, tag);
  }
  function replace(tag: string, rules: readonly NftRule[], what: string): void {
    const script = nftReplaceScript(tag, tagged(tag, what), rules);
    check('nft', run('nft', ['-f', '-'], script), what);
  }
  function remove(tag: string, what: string): void {
    const script = nftDeleteScript(tagged(tag, what));
    if (script !== '') check('nft', run('nft', ['-f', '-'], script), what);
  }
  // Two tsrun processes changing the same tag at once could both list a rule and the second transaction would fail
  // on its vanished handle: the error says so and nothing is half-applied; the network plugin serialises its calls.
  return {
    backend: 'nft',
    applyNetwork(network) {
      const valid = checkNetwork(network);
      replace(networkTag(valid.name), nftNetworkRules(valid), `add rules for network ${valid.name}`);
    },
    removeNetwork(name) {
      remove(networkTag(checkName(name, 'network name')), `remove rules for network ${name}`);
    },
    applyContainer(id, ports) {
      checkName(id, 'container ID');
      replace(containerTag(id), nftContainerRules(checkPorts(ports)), `add rules for container ${id}`);
    },
    removeContainer(id) {
      remove(containerTag(checkName(id, 'container ID')), `remove rules for container ${id}`);
    },
  };
}

/**
 * The same rules through iptables. There is no transaction across iptables calls, so replacing adds the new rules
 * first and then deletes the old ones (iptables deletes the first rule matching a spec, the old one): traffic
 * never sees a moment without rules, and a failure leaves at worst a duplicate that the next apply removes.
 */
export function iptablesFirewall(run: Run = runCommand): Firewall {
  function iptables(args: readonly string[], what: string): RunResult {
    const r = run('iptables', args);
    check('iptables', r, what);
    return r;
  }
  function listings(what: string): Map<IptTable, ReturnType<typeof parseIptablesListing>> {
    return new Map(IPT_TABLES.map((table) => [table, parseIptablesListing(iptables(iptListArgs(table), what).stdout)]));
  }
  function replace(tag: string, rules: readonly IptRule[], what: string): void {
    const before = listings(what);
    for (const table of IPT_TABLES) for (const args of iptSetupArgs(table, before.get(table)!)) iptables(args, what);
    for (const args of iptAddArgs(rules, tag)) iptables(args, what);
    for (const table of IPT_TABLES) for (const args of iptDeleteArgs(table, before.get(table)!, tag)) iptables(args, what);
  }
  function remove(tag: string, what: string): void {
    const before = listings(what);
    for (const table of IPT_TABLES) for (const args of iptDeleteArgs(table, before.get(table)!, tag)) iptables(args, what);
  }
  return {
    backend: 'iptables',
    applyNetwork(network) {
      const valid = checkNetwork(network);
      replace(networkTag(valid.name), iptNetworkRules(valid), `add rules for network ${valid.name}`);
    },
    removeNetwork(name) {
      remove(networkTag(checkName(name, 'network name')), `remove rules for network ${name}`);
    },
    applyContainer(id, ports) {
      checkName(id, 'container ID');
      replace(containerTag(id), iptContainerRules(checkPorts(ports)), `add rules for container ${id}`);
    },
    removeContainer(id) {
      remove(containerTag(checkName(id, 'container ID')), `remove rules for container ${id}`);
    },
  };
}

/** Throws `TOOL: WHAT: <first line of its stderr>` unless the command succeeded. */
function check(tool: string, r: RunResult, what: string): void {
  if (r.error?.code === 'ENOENT') throw new RuntimeError('firewall', `${tool}: ${what}: ${tool} not found`);
  if (r.status === 0 && !r.error) return;
  const line = r.stderr.split('\n').map((l) => l.trim()).find((l) => l !== '');
  const why = line ?? (r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`);
  throw new RuntimeError('firewall', `${tool}: ${what}: ${why}`);
}

/**
 * Names end up in rule comments (nft's are at most 128 bytes) and must not break the quoting of an nft script:
 * the characters of container IDs, and a length that leaves room for the tag's prefix.
 */
function checkName(name: string, field: string): string {
  if (!/^[A-Za-z0-9_+.-]{1,100}$/.test(name)) {
    throw new RuntimeError('invalid-argument', `firewall: ${field} ${describeValue(name)}: must be 1-100 of A-Z a-z 0-9 _ + . -`);
  }
  return name;
}

/** An interface name as the kernel takes it, less the characters nft and iptables read as wildcards or quotes. */
function checkNetwork(network: FirewallNetwork): FirewallNetwork {
  const name = checkName(network.name, 'network name');
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(network.bridge) || network.bridge === '.' || network.bridge === '..') {
    throw new RuntimeError('invalid-argument', `firewall: network ${name}: bridge ${describeValue(network.bridge)} is not a valid interface name`);
  }
  const subnet = formatCidr(parseCidr(network.subnet, `firewall: network ${name}: subnet`));
  return { name, bridge: network.bridge, subnet };
}

function checkPorts(ports: readonly PortForward[]): PortForward[] {
  return ports.map((port) => {
    const spec = describeValue(formatPublish(port));
    const fail = (why: string) => new RuntimeError('invalid-argument', `--publish ${spec}: ${why}`);
    if (port.proto !== 'tcp' && port.proto !== 'udp') throw fail('protocol must be tcp or udp');
    for (const p of [port.hostPort, port.containerPort]) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw fail(`port ${describeValue(p)} is out of range 1-65535`);
    }
    if (tryParseIPv4(port.containerIp) === undefined) throw fail(`container address ${describeValue(port.containerIp)} is not an IPv4 address`);
    if (port.hostIp !== undefined) {
      const host = tryParseIPv4(port.hostIp);
      if (host === undefined) throw fail(`host address ${describeValue(port.hostIp)} is not an IPv4 address`);
      // See nftContainerRules: reaching a container through a loopback address needs route_localnet, which tsrun
      // does not turn on; and a DNAT in prerouting for 127.x would let neighbours reach it.
      if (host >>> 24 === 127) throw fail('publishing on a loopback address is not supported (it needs route_localnet); leave out HOSTIP or use a non-loopback one');
    }
    return { ...port };
  });
}
