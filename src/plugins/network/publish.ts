import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RuntimeError } from '../../errors';
import { formatIPv4, tryParseIPv4 } from './ipv4';

/**
 * Published ports (`--publish [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`): parsing the flag, refusing a host port
 * another container already publishes, and telling whether a process on the host listens on it. All pure except
 * `hostPortInUse`, which reads /proc/net.
 */

export type Protocol = 'tcp' | 'udp';

export interface PublishSpec {
  /** Only traffic to this local IPv4 address is forwarded; undefined (or 0.0.0.0 on the command line) means any. */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  proto: Protocol;
}

/** A published port with the address of the container it goes to: what the firewall needs. */
export interface PortForward extends PublishSpec {
  containerIp: string;
}

/** A port some container already publishes, for `checkPortConflicts`. */
export interface PublishedPort {
  containerId: string;
  spec: PublishSpec;
}

const FORMAT = '[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]';

export function parsePublish(text: string): PublishSpec {
  const fail = (why: string): never => {
    throw new RuntimeError('invalid-argument', `--publish ${JSON.stringify(text)}: ${why}`);
  };
  const slash = text.indexOf('/');
  const ports = slash < 0 ? text : text.slice(0, slash);
  const proto = slash < 0 ? 'tcp' : text.slice(slash + 1);
  if (proto !== 'tcp' && proto !== 'udp') fail(`protocol ${JSON.stringify(proto)} must be tcp or udp`);
  if (ports.startsWith('[')) fail('IPv6 host addresses are not supported (the firewall rules are IPv4 only)');
  const parts = ports.split(':');
  if (parts.length === 1 && isPortText(parts[0] ?? '')) {
    // Docker picks a random free host port for `-p 80`; tsrun needs the port up front to write the rules.
    fail(`needs an explicit host port, e.g. ${JSON.stringify(`8080:${parts[0]}`)} (${FORMAT})`);
  }
  if (parts.length !== 2 && parts.length !== 3) fail(`must be ${FORMAT}`);
  const [hostIpText, hostPortText, containerPortText] = parts.length === 3 ? parts : [undefined, ...parts];
  if (hostIpText !== undefined && hostIpText !== '' && hostPortText === '') {
    fail(`needs an explicit host port, e.g. ${JSON.stringify(`${hostIpText}:8080:${containerPortText}`)} (${FORMAT})`);
  }
  for (const port of [hostPortText, containerPortText]) {
    if (port !== undefined && /^\d+-\d+$/.test(port)) fail('port ranges are not supported, publish each port on its own');
  }
  if (!isPortText(hostPortText ?? '') || !isPortText(containerPortText ?? '')) fail(`must be ${FORMAT}`);
  const hostPort = Number(hostPortText);
  const containerPort = Number(containerPortText);
  for (const port of [hostPort, containerPort]) {
    if (port < 1 || port > 65535) fail(`port ${port} is out of range 1-65535`);
  }
  const spec: PublishSpec = { hostPort, containerPort, proto: proto as Protocol };
  if (hostIpText !== undefined) {
    const address = tryParseIPv4(hostIpText);
    if (address === undefined) fail(`host address ${JSON.stringify(hostIpText)} must be an IPv4 address (${FORMAT})`);
    // 0.0.0.0 is Docker's way of saying "every address": the same as giving none.
    if (address !== 0) spec.hostIp = formatIPv4(address!);
  }
  return spec;
}

/** The spec as a user would write it (the default /tcp left out), for messages. */
export function formatPublish(spec: PublishSpec): string {
  const host = spec.hostIp === undefined ? '' : `${spec.hostIp}:`;
  return `${host}${spec.hostPort}:${spec.containerPort}${spec.proto === 'tcp' ? '' : `/${spec.proto}`}`;
}

/** Whether two specs claim the same traffic: same protocol and host port, and an address in common. */
export function sameHostPort(a: PublishSpec, b: PublishSpec): boolean {
  return a.proto === b.proto && a.hostPort === b.hostPort && (a.hostIp === undefined || b.hostIp === undefined || a.hostIp === b.hostIp);
}

/**
 * Throws when a requested port is already published by another container, or requested twice: the firewall would
 * otherwise have two DNAT rules for the same traffic and the first one would silently win.
 */
export function checkPortConflicts(existing: readonly PublishedPort[], requested: readonly PublishSpec[]): void {
  requested.forEach((spec, index) => {
    const holder = existing.find((published) => sameHostPort(published.spec, spec));
    if (holder !== undefined) {
      throw new RuntimeError(
        'port-in-use',
        `--publish ${JSON.stringify(formatPublish(spec))}: host port ${describeHostPort(holder.spec)} is already published by container ${holder.containerId}`,
      );
    }
    const earlier = requested.slice(0, index).find((other) => sameHostPort(other, spec));
    if (earlier !== undefined) {
      throw new RuntimeError(
        'port-in-use',
        `--publish ${JSON.stringify(formatPublish(spec))}: host port ${describeHostPort(spec)} is also published by --publish ${JSON.stringify(formatPublish(earlier))}`,
      );
    }
  });
}

function describeHostPort(spec: PublishSpec): string {
  return `${spec.hostIp === undefined ? '' : `${spec.hostIp}:`}${spec.hostPort}/${spec.proto}`;
}

function isPortText(text: string): boolean {
  return /^\d{1,5}$/.test(text);
}

/** One socket of /proc/net/{tcp,udp,tcp6,udp6}. */
export interface ProcNetSocket {
  /** Dotted quad for IPv4; for IPv6 `::`, `::ffff:a.b.c.d` (IPv4-mapped) or eight full hex groups. */
  localAddress: string;
  localPort: number;
  /** The kernel's TCP state number (0x0A LISTEN; UDP sockets that are only bound show 0x07 CLOSE). */
  state: number;
}

export const TCP_LISTEN = 0x0a;
export const UDP_UNCONNECTED = 0x07;

/**
 * Parses a /proc/net/{tcp,udp}[6] table. The kernel prints each 32-bit word of an address with %08X straight
 * from memory, so the byte order of the text is the machine's: `endianness` says which (injectable for tests).
 */
export function parseProcNetSockets(text: string, endianness: 'LE' | 'BE' = os.endianness()): ProcNetSocket[] {
  const sockets: ProcNetSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(fields[1] ?? '');
    const state = fields[3];
    if (!local || state === undefined || !/^[0-9A-Fa-f]{2}$/.test(state)) continue;
    const bytes = addressBytes(local[1]!, endianness);
    sockets.push({ localAddress: formatAddress(bytes), localPort: parseInt(local[2]!, 16), state: parseInt(state, 16) });
  }
  return sockets;
}

function addressBytes(hex: string, endianness: 'LE' | 'BE'): number[] {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    const wordBytes = hex.slice(word, word + 8).match(/../g)!.map((pair) => parseInt(pair, 16));
    bytes.push(...(endianness === 'LE' ? wordBytes.reverse() : wordBytes));
  }
  return bytes;
}

function formatAddress(bytes: number[]): string {
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.every((b) => b === 0)) return '::';
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes.slice(12).join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

/**
 * Whether publishing `port` (on `hostIp`, or on every address) would take traffic away from this socket. The DNAT
 * rules catch traffic to non-loopback local addresses, so a listener on 0.0.0.0 or :: (which also receives IPv4 on
 * a dual-stack host) or on the published address loses it; one on 127.0.0.1 or a plain IPv6 address does not.
 */
export function socketShadowed(socket: ProcNetSocket, port: number, proto: Protocol, hostIp?: string): boolean {
  if (socket.localPort !== port) return false;
  if (socket.state !== (proto === 'tcp' ? TCP_LISTEN : UDP_UNCONNECTED)) return false;
  if (socket.localAddress === '0.0.0.0' || socket.localAddress === '::') return true;
  const ipv4 = socket.localAddress.startsWith('::ffff:') ? socket.localAddress.slice('::ffff:'.length) : socket.localAddress;
  if (ipv4.includes(':')) return false;
  return hostIp === undefined ? !ipv4.startsWith('127.') : ipv4 === hostIp;
}

/**
 * Whether a process on this host (in the caller's network namespace) listens on the port. Node cannot bind a
 * socket synchronously to find out, so this reads the kernel's socket tables instead. A missing tcp6/udp6 (IPv6
 * disabled) just has no sockets.
 */
export function hostPortInUse(
  port: number,
  proto: Protocol,
  hostIp?: string,
  procNet = '/proc/net',
  readFile: (file: string) => string = (file) => fs.readFileSync(file, 'utf8'),
): boolean {
  for (const table of [proto, `${proto}6`]) {
    let text: string;
    try {
      text = readFile(path.join(procNet, table));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new RuntimeError('proc-parse', `read ${path.join(procNet, table)}: ${(error as Error).message}`);
    }
    if (parseProcNetSockets(text).some((socket) => socketShadowed(socket, port, proto, hostIp))) return true;
  }
  return false;
}

/** Throws naming the first spec whose host port a process on the host listens on (see `hostPortInUse`). */
export function checkHostPortsFree(specs: readonly PublishSpec[], inUse: typeof hostPortInUse = hostPortInUse): void {
  for (const spec of specs) {
    if (inUse(spec.hostPort, spec.proto, spec.hostIp)) {
      throw new RuntimeError('port-in-use', `--publish ${JSON.stringify(formatPublish(spec))}: host port ${describeHostPort(spec)} is in use by a process on the host`);
    }
  }
}
