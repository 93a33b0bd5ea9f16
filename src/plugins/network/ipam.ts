import path from 'node:path';
import { validateContainerId } from '../../spec/container-id';
import { parseJsonObject } from '../../spec/json-object';
import { RuntimeError, describeValue } from '../../errors';
import {
  type NetworkRecord,
  ensurePrivateDir,
  readOwnFile,
  subnetOf,
  unlinkDurably,
  validateNetworkName,
  writeJsonAtomic,
} from './network-store';
import { broadcastAddress, findFreeHost, formatCidr, formatIPv4, isHostAddress, parseCidr, parseIPv4, tryParseIPv4 } from './ipv4';

/**
 * Address management: which container holds which address on each network, in `<ipam dir>/<network>.json` as
 * `{ "<containerId>": "10.88.0.2", ... }`. A network without allocations has no file (release deletes it when it
 * empties), so nothing is left behind for a later network of the same name.
 *
 * Changes happen under the network lock (NetworkStore.withNetworkLock, a flock shared by every tsrun process), with
 * the network's definition read under it too: two processes never hand out one address, and no address is handed
 * out on a network being removed. Files are replaced atomically, so reads need no lock.
 */

/** The part of NetworkStore the IPAM needs: its directory, lookups and the per-network lock. */
export interface NetworkLocking {
  readonly ipamDir: string;
  get(name: string): NetworkRecord;
  withNetworkLock<T>(name: string, fn: (network: NetworkRecord | undefined) => T): T;
}

export class Ipam {
  readonly #networks: NetworkLocking;

  constructor(networks: NetworkLocking) {
    this.#networks = networks;
  }

  /**
   * The address of `containerId` on `network`, allocating one if it has none: `requested` (from --ip) when given —
   * inside the subnet, not its network, broadcast or gateway address, not held by another container — otherwise the
   * lowest free host address (of the network's ipRange, if it has one). Idempotent: a container that has an address
   * gets the same one back (and asking for a different one then is an error, never a silent move).
   */
  allocate(network: string, containerId: string, requested?: string): string {
    validateContainerId(containerId);
    const wanted = requested === undefined ? undefined : parseIPv4(requested, '--ip');
    // Fails fast on a missing network, before the lock would create a lock file for it; checked again under the lock.
    this.#networks.get(network);
    return this.#networks.withNetworkLock(network, (record) => {
      if (!record) throw new RuntimeError('not-found', `network ${describeValue(network)} does not exist`);
      const subnet = subnetOf(record);
      const gateway = parseIPv4(record.gateway, `network ${describeValue(network)} gateway`);
      const held = this.#read(network);
      const usable = (address: number): boolean => isHostAddress(subnet, address) && address !== gateway;

      const current = held.get(containerId);
      // An entry the network no longer fits (it was re-created with another subnet) is replaced, not returned.
      if (current !== undefined && usable(current)) {
        if (wanted !== undefined && wanted !== current) {
          throw new RuntimeError(
            'invalid-argument',
            `--ip ${formatIPv4(wanted)}: container ${containerId} already has ${formatIPv4(current)} on network ${describeValue(network)}`,
          );
        }
        return formatIPv4(current);
      }
      held.delete(containerId);

      const holders = new Map<number, string>();
      for (const [id, address] of held) holders.set(address, id);
      let address: number;
      if (wanted !== undefined) {
        checkRequested(wanted, record, holders);
        address = wanted;
      } else {
        // --ip-range narrows where addresses come from (on an overlay, each host hands out its own block).
        const pool = record.ipRange === undefined ? subnet : parseCidr(record.ipRange, `network ${describeValue(network)} ipRange`);
        const free = findFreeHost(pool, (candidate) => candidate === gateway || holders.has(candidate) || !isHostAddress(subnet, candidate));
        if (free === undefined) {
          throw new RuntimeError('exhausted', `network ${describeValue(network)} (${formatCidr(pool)}) has no free address left`);
        }
        address = free;
      }
      held.set(containerId, address);
      this.#write(network, held);
      return formatIPv4(address);
    });
  }

  /** Gives back the address of `containerId` on `network`; nothing to do if it has none, or the network is gone. */
  release(network: string, containerId: string): void {
    validateContainerId(containerId);
    validateNetworkName(network);
    // Nothing held, nothing to do: files are replaced atomically, and only this container's own allocate (which its
    // caller does not run concurrently with its release) could add the entry meanwhile.
    if (!this.#read(network).has(containerId)) return;
    this.#networks.withNetworkLock(network, () => {
      const held = this.#read(network);
      if (!held.delete(containerId)) return;
      this.#write(network, held);
    });
  }

  /** Container id → address on `network`, in address order; empty for a network without allocations (or none). */
  allocations(network: string): Record<string, string> {
    validateNetworkName(network);
    const entries = [...this.#read(network)].sort((a, b) => a[1] - b[1]);
    // fromEntries defines own properties: an id such as "__proto__" stays a key instead of replacing the prototype.
    return Object.fromEntries(entries.map(([id, address]) => [id, formatIPv4(address)]));
  }

  /** The containers holding an address on `network`, sorted: what NetworkStore.remove and prune need to know. */
  usersOf(network: string): string[] {
    validateNetworkName(network);
    return [...this.#read(network).keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  #file(network: string): string {
    return `${network}.json`;
  }

  #read(network: string): Map<string, number> {
    const dir = this.#networks.ipamDir;
    const file = path.join(dir, this.#file(network));
    const text = readOwnFile(dir, this.#file(network));
    const held = new Map<string, number>();
    if (text === undefined) return held;
    const corrupt = (detail: string): RuntimeError => new RuntimeError('state-corrupt', `invalid allocation file ${file}: ${detail}`);
    const value = parseJsonObject(text, corrupt);
    const seen = new Map<number, string>();
    for (const [id, raw] of Object.entries(value)) {
      const address = typeof raw === 'string' ? tryParseIPv4(raw) : undefined;
      if (address === undefined) throw corrupt(`container ${describeValue(id)} has ${describeValue(raw)}, not an IPv4 address`);
      const other = seen.get(address);
      if (other !== undefined) throw corrupt(`${formatIPv4(address)} is held by both ${describeValue(other)} and ${describeValue(id)}`);
      seen.set(address, id);
      held.set(id, address);
    }
    return held;
  }

  #write(network: string, held: Map<string, number>): void {
    const dir = this.#networks.ipamDir;
    if (held.size === 0) {
      unlinkDurably(dir, this.#file(network));
      return;
    }
    ensurePrivateDir(dir);
    const entries = [...held].sort((a, b) => a[1] - b[1]).map(([id, address]) => [id, formatIPv4(address)]);
    writeJsonAtomic(dir, this.#file(network), Object.fromEntries(entries));
  }
}

/** A --ip value must be a free host address of the network, and not its gateway. */
function checkRequested(address: number, network: NetworkRecord, holders: ReadonlyMap<number, string>): void {
  const subnet = subnetOf(network);
  const text = formatIPv4(address);
  const where = `network ${describeValue(network.name)} (${network.subnet})`;
  if (address === subnet.network && subnet.prefix < 31) {
    throw new RuntimeError('invalid-argument', `--ip ${text}: is the network address of ${where}`);
  }
  if (address === broadcastAddress(subnet) && subnet.prefix < 31) {
    throw new RuntimeError('invalid-argument', `--ip ${text}: is the broadcast address of ${where}`);
  }
  if (!isHostAddress(subnet, address)) throw new RuntimeError('invalid-argument', `--ip ${text}: outside ${where}`);
  if (text === network.gateway) throw new RuntimeError('invalid-argument', `--ip ${text}: is the gateway of ${where}`);
  const holder = holders.get(address);
  if (holder !== undefined) {
    throw new RuntimeError('exists', `--ip ${text}: already in use by container ${holder} on ${where}`);
  }
}
