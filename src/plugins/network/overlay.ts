import { RuntimeError, describeValue } from '../../errors';
import { type Cidr, contains, formatCidr, formatIPv4, parseIPv4, tryParseIPv4 } from './ipv4';

/**
 * The overlay driver: a bridge network whose bridge also has a VXLAN device as a port, so the bridges of several
 * hosts form one layer-2 segment across an IP network (the "underlay"). Each host runs its own tsrun with its own
 * network store; what makes them one network is the same subnet and VNI on every host, each host naming the others
 * as peers. Broadcast and unknown frames are copied to every peer (head-end replication through the VXLAN's
 * forwarding database), and the kernel learns where each remote container's MAC address lives from the traffic.
 *
 * What every host must differ in: its gateway address (--gateway, the bridge's own address; two bridges answering
 * ARP for one address on a shared segment would split the containers' egress between hosts) and the block it hands
 * out addresses from (--ip-range), since no host sees the others' allocations.
 */

export interface OverlaySettings {
  /** The VXLAN Network Identifier, the same on every host of the network. */
  vni: number;
  /** The underlay addresses of the other hosts. */
  peers: string[];
  /** The underlay address the packets leave from; the kernel picks one by route when absent. */
  local?: string;
  /** The UDP port VXLAN packets go to, the same on every host. */
  port: number;
}

/** IANA's VXLAN port (Linux's own default, 8472, predates it). */
export const VXLAN_PORT = 4789;
/** VXLAN adds 50 bytes (outer Ethernet 14, IPv4 20, UDP 8, VXLAN 8): the containers' MTU over a 1500-byte underlay. */
export const OVERLAY_MTU = 1450;
export const MAX_VNI = 0xffffff;

/** The VXLAN device of a network: ≤ 15 bytes for any VNI, and unique per host because VNIs are (NetworkStore). */
export function vxlanDeviceName(vni: number): string {
  return `tsvx${vni}`;
}

export interface OverlayOptions {
  vni?: number;
  peers?: readonly string[];
  local?: string;
  port?: number;
}

/** Checks the overlay options of `tsrun network create` against the network's subnet; pure. */
export function parseOverlayOptions(options: OverlayOptions, subnet: Cidr | undefined): OverlaySettings {
  if (options.vni === undefined) throw new RuntimeError('invalid-argument', '--driver overlay: needs --vni, the VXLAN id every host of the network shares');
  checkVni(options.vni, '--vni');
  if (subnet === undefined) throw new RuntimeError('invalid-argument', '--driver overlay: needs --subnet, the same on every host of the network');
  const peers = options.peers ?? [];
  if (peers.length === 0) throw new RuntimeError('invalid-argument', '--driver overlay: needs --peer, the underlay address of another host (repeat it for more)');
  const seen = new Set<number>();
  for (const peer of peers) {
    const address = parseIPv4(peer, '--peer');
    checkUnderlayAddress(address, subnet, `--peer ${peer}`);
    if (seen.has(address)) throw new RuntimeError('invalid-argument', `--peer ${peer}: given twice`);
    seen.add(address);
  }
  const settings: OverlaySettings = { vni: options.vni, peers: [...seen].map(formatIPv4), port: options.port ?? VXLAN_PORT };
  if (options.local !== undefined) {
    const local = parseIPv4(options.local, '--local');
    checkUnderlayAddress(local, subnet, `--local ${options.local}`);
    if (seen.has(local)) throw new RuntimeError('invalid-argument', `--local ${options.local}: is also given as --peer`);
    settings.local = formatIPv4(local);
  }
  if (!Number.isInteger(settings.port) || settings.port < 1 || settings.port > 0xffff) {
    throw new RuntimeError('invalid-argument', `--vxlan-port ${describeValue(options.port)}: expected a UDP port, 1 to 65535`);
  }
  return settings;
}

function checkVni(vni: number, field: string): void {
  if (!Number.isInteger(vni) || vni < 1 || vni > MAX_VNI) throw new RuntimeError('invalid-argument', `${field} ${describeValue(vni)}: expected a VXLAN id, 1 to ${MAX_VNI}`);
}

/** An underlay address is a unicast address outside the overlay's own subnet (packets to it must not enter the overlay). */
function checkUnderlayAddress(address: number, subnet: Cidr, what: string): void {
  if (address === 0 || address >>> 24 === 127 || address >>> 28 >= 0xe) throw new RuntimeError('invalid-argument', `${what}: not a unicast host address`);
  if (contains(subnet, address)) throw new RuntimeError('invalid-argument', `${what}: inside the network's own subnet ${formatCidr(subnet)}; peers are reached over the underlay`);
}

/** Checks the `overlay` member of a stored record; returns a description of what is wrong, undefined when fine. */
export function overlayRecordProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return '"overlay" must be an object';
  const overlay = value as Record<string, unknown>;
  if (typeof overlay.vni !== 'number' || !Number.isInteger(overlay.vni) || overlay.vni < 1 || overlay.vni > MAX_VNI) return `"overlay.vni" must be 1 to ${MAX_VNI}, got ${describeValue(overlay.vni)}`;
  if (typeof overlay.port !== 'number' || !Number.isInteger(overlay.port) || overlay.port < 1 || overlay.port > 0xffff) return `"overlay.port" must be a UDP port, got ${describeValue(overlay.port)}`;
  if (!Array.isArray(overlay.peers) || overlay.peers.length === 0 || !overlay.peers.every((p) => typeof p === 'string' && tryParseIPv4(p) !== undefined)) {
    return '"overlay.peers" must list IPv4 addresses';
  }
  if (overlay.local !== undefined && (typeof overlay.local !== 'string' || tryParseIPv4(overlay.local) === undefined)) return `"overlay.local" must be an IPv4 address, got ${describeValue(overlay.local)}`;
  return undefined;
}
