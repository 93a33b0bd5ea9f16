import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { LockFn } from '../../container/state-store';
import { RuntimeError, describeValue } from '../../errors';
import { parseJsonObject } from '../../spec/json-object';
import { fsSyscallError, syncDirectory, writeFileAtomic } from '../../linux/atomic-file';
import { HeldLocks } from '../../linux/held-locks';
import { nodeErrorCode } from '../../linux/errno';
import {
  type Cidr,
  broadcastAddress,
  contains,
  defaultGateway,
  formatCidr,
  formatIPv4,
  isHostAddress,
  netmask,
  overlaps,
  parseCidr,
  parseIPv4,
  tryParseCidr,
  tryParseIPv4,
} from './ipv4';
import { OVERLAY_MTU, type OverlayOptions, type OverlaySettings, overlayRecordProblem, parseOverlayOptions } from './overlay';

/**
 * The definitions of tsrun's bridge networks, one JSON file each: `<dir>/networks/<name>.json`.
 *
 * Two kinds of lock (both through the injected LockFn, i.e. flock in the CLI):
 * - the store lock `<dir>/networks/.lock` serializes create, remove and prune, so the checks for duplicate names,
 *   overlapping subnets and shared bridges see every other network;
 * - the network lock `<dir>/ipam/<name>.lock` serializes everything about one network's members: the IPAM
 *   allocates under it (see withNetworkLock), and remove deletes the definition under it, so an address can never
 *   be handed out on a network that is being removed.
 * Lock order is store lock, then network lock — never the reverse (enforced: see #withStoreLock). Lock files are
 * never unlinked: a process could otherwise lock a deleted inode while another locks its replacement.
 */

/** A network as stored in `<dir>/networks/<name>.json`. Addresses and blocks are kept as text, as users write them. */
export interface NetworkRecord {
  name: string;
  /** `overlay`: the bridge also reaches the bridges of other hosts through a VXLAN device (./overlay.ts). */
  driver: 'bridge' | 'overlay';
  /** `a.b.c.d/n`, without host bits. */
  subnet: string;
  /** A host address of the subnet; the bridge gets it. */
  gateway: string;
  /** The bridge interface's name (≤ 15 bytes, IFNAMSIZ - 1). */
  bridge: string;
  /** `a.b.c.d/n` inside the subnet: where addresses are allocated from when a container asks for none. */
  ipRange?: string;
  /** The containers' interface MTU; the kernel's default (1500) when absent. */
  mtu?: number;
  /** With driver `overlay`. */
  overlay?: OverlaySettings;
  /** ISO 8601, UTC. */
  created: string;
  labels?: Record<string, string>;
}

/** What `tsrun network create` passes; everything but the name is optional. */
export interface CreateNetworkOptions {
  name: string;
  subnet?: string;
  gateway?: string;
  bridge?: string;
  labels?: Record<string, string>;
  /** `bridge` (the default) or `overlay`. */
  driver?: string;
  ipRange?: string;
  mtu?: number;
  /** The VXLAN settings of an overlay network; refused with the bridge driver. */
  overlay?: OverlayOptions;
}

export interface NetworkStoreOptions {
  /** The directory holding `networks/` and `ipam/` (created on demand, 0700). */
  dir: string;
  /** Exclusive, blocking, released when the holder dies: src/linux/file-lock.ts's createFileLock(sys) in the CLI. */
  lock: LockFn;
  /** Milliseconds since the epoch, for `created`; Date.now by default. */
  clock?: () => number;
}

/** Who is attached to a network: container ids, empty when nobody. Supplied by the caller of remove and prune. */
export type UsersOf = (network: string) => readonly string[];

/** The network containers join when they name none; it exists as soon as the store is used (ensureDefault). */
export const DEFAULT_NETWORK = 'tsrun0';
export const DEFAULT_SUBNET = '10.88.0.0/16';
export const DEFAULT_GATEWAY = '10.88.0.1';
export const DEFAULT_BRIDGE = 'tsrun0';

/**
 * Where subnets for networks created without --subnet come from: the first /16 from 10.88.0.0/16 upward (10.88 is
 * the default network's, so user networks start at 10.89.0.0/16) that overlaps no network, up to 10.255.0.0/16 —
 * 167 networks. Private (RFC 1918) space, /16 like Docker's pools and the default network, and clear of Docker's
 * 172.17-31.x and the 192.168.x of home routers.
 */
export const AUTO_SUBNET_FIRST = '10.88.0.0/16';
export const AUTO_SUBNET_LAST = '10.255.0.0/16';

/** Longest prefix accepted: a /30 holds exactly a gateway and one container. */
export const MAX_PREFIX = 30;
/** Shortest prefix accepted: anything larger would route a good part of the Internet into a bridge. */
export const MIN_PREFIX = 8;

const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const BRIDGE_PATTERN = /^[a-zA-Z0-9_.-]+$/;
/** IFNAMSIZ is 16 bytes including the terminating NUL. */
const MAX_BRIDGE_BYTES = 15;
/** `--network none|host|bridge` are modes (bridge: Docker's name of the default network), never network names. */
const RESERVED_NAMES = new Set(['none', 'host', 'bridge']);
/** Blocks no bridge network may touch: "this network", loopback, multicast and the reserved class E (with broadcast). */
const SPECIAL_BLOCKS: readonly { cidr: Cidr; what: string }[] = [
  { cidr: parseCidr('0.0.0.0/8', 'internal'), what: '"this network"' },
  { cidr: parseCidr('127.0.0.0/8', 'internal'), what: 'loopback' },
  { cidr: parseCidr('224.0.0.0/3', 'internal'), what: 'multicast and reserved' },
];

const NETWORKS_DIR = 'networks';
const IPAM_DIR = 'ipam';
const STORE_LOCK = '.lock';

/** True when `name` is syntactically a network name (it may still be reserved for creation). */
export function isValidNetworkName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/**
 * Throws unless `name` can name a network file. Every path built from a name goes through this, so a name can never
 * point outside the store (no `/`, no leading `.`).
 */
export function validateNetworkName(name: string): void {
  if (name.startsWith('container:')) {
    throw new RuntimeError('invalid-argument', `network name ${describeValue(name)}: "container:<id>" is a network mode, not a network name`);
  }
  if (!isValidNetworkName(name)) {
    throw new RuntimeError(
      'invalid-argument',
      `network name ${describeValue(name)}: must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit`,
    );
  }
}

/** Throws unless `name` is a usable Linux interface name: ≤ 15 bytes of letters, digits, `_ . -`, not `.`/`..`. */
export function validateBridgeName(name: string, field = '--bridge'): void {
  const ok = BRIDGE_PATTERN.test(name) && Buffer.byteLength(name) <= MAX_BRIDGE_BYTES && name !== '.' && name !== '..';
  if (!ok) {
    throw new RuntimeError(
      'invalid-argument',
      `${field} ${describeValue(name)}: must be an interface name of 1-15 letters, digits, "_", "." or "-"`,
    );
  }
}

/**
 * The bridge of a network created without --bridge: `tsrun-` and 8 hex digits of SHA-256 of the name (14 bytes).
 * Derived rather than numbered so that it is stable and needs no counter; a collision (1 in 4 billion per pair) is
 * refused by create like any other shared bridge, and --bridge resolves it.
 */
export function defaultBridgeName(name: string): string {
  if (name === DEFAULT_NETWORK) return DEFAULT_BRIDGE;
  return `tsrun-${createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 8)}`;
}

/**
 * Replaces `<dir>/<fileName>` with `value` as JSON, atomically: written to a fresh `.<fileName>.<pid>.<time>` in the
 * same directory (O_EXCL, 0600), fsynced, renamed over the target, so readers see the old or the new content —
 * never a partial file, even after a crash. The temporary file is removed on every failure. Shared with the IPAM.
 */
export function writeJsonAtomic(dir: string, fileName: string, value: unknown): void {
  writeFileAtomic(dir, fileName, `${JSON.stringify(value, null, 2)}\n`);
}

/** Removes `<dir>/<fileName>`; false when it was not there. Shared with the IPAM. */
export function unlinkDurably(dir: string, fileName: string): boolean {
  const file = path.join(dir, fileName);
  try {
    fs.unlinkSync(file);
  } catch (error) {
    if (nodeErrorCode(error) === 'ENOENT') return false;
    throw fsSyscallError('unlink', file, error);
  }
  syncDirectory(dir);
  return true;
}

/** The text of `<dir>/<fileName>`, or undefined when missing; a symlink there is refused, never followed. */
export function readOwnFile(dir: string, fileName: string): string | undefined {
  const file = path.join(dir, fileName);
  try {
    return fs.readFileSync(file, { encoding: 'utf8', flag: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW });
  } catch (error) {
    if (nodeErrorCode(error) === 'ENOENT') return undefined;
    throw fsSyscallError('read', file, error);
  }
}

/** mkdir -p with 0700 for what it creates: network definitions and allocations are not for other users. */
export function ensurePrivateDir(dir: string): void {
  try {
    if (fs.mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) fs.chmodSync(dir, 0o700); // despite umask
  } catch (error) {
    throw fsSyscallError('mkdir', dir, error);
  }
}

export class NetworkStore {
  readonly #dir: string;
  readonly #locks: HeldLocks;
  readonly #clock: () => number;
  /** Lock files this instance holds, with nesting depth: locking is re-entrant within one instance. */

  constructor(options: NetworkStoreOptions) {
    this.#dir = path.resolve(options.dir);
    this.#locks = new HeldLocks(options.lock);
    this.#clock = options.clock ?? Date.now;
  }

  /** `<dir>/networks`. */
  get networksDir(): string {
    return path.join(this.#dir, NETWORKS_DIR);
  }

  /** `<dir>/ipam`: the allocations and the network locks. */
  get ipamDir(): string {
    return path.join(this.#dir, IPAM_DIR);
  }

  /**
   * The default network, created (10.88.0.0/16, gateway 10.88.0.1, bridge tsrun0) if missing. Cheap when it exists:
   * a read, no lock. Fails, changing nothing, if another network took its subnet or bridge (hand-edited store).
   */
  ensureDefault(): NetworkRecord {
    const existing = this.#read(DEFAULT_NETWORK);
    if (existing) return existing;
    return this.#withStoreLock(() => {
      const again = this.#read(DEFAULT_NETWORK);
      if (again) return again;
      const subnet = parseCidr(DEFAULT_SUBNET, 'internal');
      const others = this.#readAll();
      this.#checkSubnetFree(DEFAULT_NETWORK, subnet, others);
      this.#checkBridgeFree(DEFAULT_BRIDGE, false, others);
      const record = this.#record(DEFAULT_NETWORK, subnet, parseIPv4(DEFAULT_GATEWAY, 'internal'), DEFAULT_BRIDGE);
      this.#publish(record);
      return record;
    });
  }

  /**
   * Creates a network. Refuses, changing nothing: bad names, subnets, gateways or bridge names; a name taken; a
   * subnet overlapping another network's; a bridge another network uses. The default network counts as existing
   * even before ensureDefault wrote it, so nobody can take its name, subnet or bridge first. Without --subnet the
   * first free /16 from AUTO_SUBNET_FIRST is used; without --gateway the subnet's first host.
   */
  create(options: CreateNetworkOptions): NetworkRecord {
    const { name } = options;
    validateNetworkName(name);
    if (RESERVED_NAMES.has(name)) {
      throw new RuntimeError('invalid-argument', `network name ${describeValue(name)}: reserved for the network mode of that name`);
    }
    if (name === DEFAULT_NETWORK) {
      throw new RuntimeError('exists', `network ${describeValue(name)} already exists: it is the default network`);
    }
    const requestedSubnet = options.subnet === undefined ? undefined : parseBridgeSubnet(options.subnet);
    let gateway: number | undefined;
    if (options.gateway !== undefined) {
      gateway = parseIPv4(options.gateway, '--gateway');
      if (requestedSubnet === undefined) {
        throw new RuntimeError('invalid-argument', `--gateway ${options.gateway}: needs --subnet, the gateway must lie in it`);
      }
      checkGateway(gateway, requestedSubnet);
    }
    if (options.bridge !== undefined) {
      validateBridgeName(options.bridge);
      if (options.bridge === DEFAULT_BRIDGE) {
        throw new RuntimeError('invalid-argument', `--bridge ${describeValue(options.bridge)}: reserved for the default network ${describeValue(DEFAULT_NETWORK)}`);
      }
    }
    const labels = options.labels === undefined ? undefined : checkLabels(options.labels, '--label');
    const extras = checkDriverOptions(options, requestedSubnet);

    return this.#withStoreLock(() => {
      const others = this.#readAll();
      if (!others.some((network) => network.name === DEFAULT_NETWORK)) others.push(this.#defaultDefinition());
      if (others.some((network) => network.name === name)) {
        throw new RuntimeError('exists', `network ${describeValue(name)} already exists`);
      }
      let subnet: Cidr;
      if (requestedSubnet !== undefined) {
        this.#checkSubnetFree(name, requestedSubnet, others);
        subnet = requestedSubnet;
      } else {
        subnet = chooseSubnet(name, others);
      }
      const bridge = options.bridge ?? defaultBridgeName(name);
      this.#checkBridgeFree(bridge, options.bridge !== undefined, others);
      const vni = extras.overlay?.vni;
      const sameVni = vni === undefined ? undefined : others.find((network) => network.overlay?.vni === vni);
      if (sameVni) throw new RuntimeError('invalid-argument', `--vni ${vni}: used by network ${describeValue(sameVni.name)} on this host`);
      const record = { ...this.#record(name, subnet, gateway ?? defaultGateway(subnet), bridge, labels), ...extras };
      if (extras.overlay) record.driver = 'overlay';
      this.#publish(record);
      return record;
    });
  }

  /** Every network, sorted by name; the default network is created first if missing. A corrupt file is an error. */
  list(): NetworkRecord[] {
    this.ensureDefault();
    return this.#readAll().sort((a, b) => compareText(a.name, b.name));
  }

  /** The network `name`; throws `network "name" does not exist` when there is none. */
  get(name: string): NetworkRecord {
    validateNetworkName(name);
    if (name === DEFAULT_NETWORK) return this.ensureDefault();
    const record = this.#read(name);
    if (!record) throw notFound(name);
    return record;
  }

  /**
   * Removes the network `name`, refused while `usersOf(name)` names anyone — it must report every container holding
   * an address (the IPAM's usersOf at least), since it is asked under the network lock, where no allocation can
   * slip in. The default network cannot be removed. A corrupt definition can be removed (it is the way out).
   */
  remove(name: string, usersOf: UsersOf): void {
    validateNetworkName(name);
    if (name === DEFAULT_NETWORK) {
      throw new RuntimeError('invalid-argument', `network ${describeValue(name)} is the default network and cannot be removed`);
    }
    this.#withStoreLock(() =>
      this.#withLockFile(this.#networkLockPath(name), () => {
        if (!this.#exists(name)) throw notFound(name);
        const users = usersOf(name);
        if (users.length > 0) {
          throw new RuntimeError('busy', `network ${describeValue(name)} is in use by ${describeUsers(users)}: remove them first`);
        }
        unlinkDurably(this.networksDir, fileOf(name));
      }),
    );
  }

  /**
   * Removes every network but the default one that `usersOf` reports unused (as `docker network prune` keeps the
   * predefined networks); returns the names removed, sorted.
   */
  prune(usersOf: UsersOf): string[] {
    return this.#withStoreLock(() => {
      const removed: string[] = [];
      for (const name of this.#names()) {
        if (name === DEFAULT_NETWORK) continue;
        this.#withLockFile(this.#networkLockPath(name), () => {
          if (usersOf(name).length === 0 && unlinkDurably(this.networksDir, fileOf(name))) removed.push(name);
        });
      }
      return removed;
    });
  }

  /**
   * Runs `fn` holding the network lock of `name` with its definition read under that lock (undefined when there is
   * no such network), so what `fn` decides holds until it returns: the IPAM allocates in here. `fn` must be
   * synchronous and must not create, remove or prune networks (that would invert the lock order).
   */
  withNetworkLock<T>(name: string, fn: (network: NetworkRecord | undefined) => T): T {
    validateNetworkName(name);
    // Before the network lock: creating the default network takes the store lock, which comes first.
    if (name === DEFAULT_NETWORK) this.ensureDefault();
    return this.#withLockFile(this.#networkLockPath(name), () => fn(this.#read(name)));
  }

  /**
   * Writes a new definition under its network lock as well, which creates the lock file with the network: later
   * refusals on it (remove while in use, a taken --ip) then find everything in place and change nothing on disk.
   */
  #publish(record: NetworkRecord): void {
    this.#withLockFile(this.#networkLockPath(record.name), () => writeJsonAtomic(this.networksDir, fileOf(record.name), record));
  }

  #networkLockPath(name: string): string {
    return path.join(this.ipamDir, `${name}.lock`);
  }

  #withStoreLock<T>(fn: () => T): T {
    const file = path.join(this.networksDir, STORE_LOCK);
    if (!this.#locks.holds(file) && this.#locks.count > 0) {
      throw new RuntimeError('internal', 'network store: the store lock was requested while holding a network lock');
    }
    return this.#withLockFile(file, fn);
  }

  #withLockFile<T>(file: string, fn: () => T): T {
    return this.#locks.run(file, fn, () => ensurePrivateDir(path.dirname(file)));
  }


  #record(name: string, subnet: Cidr, gateway: number, bridge: string, labels?: Record<string, string>): NetworkRecord {
    const record: NetworkRecord = {
      name,
      driver: 'bridge',
      subnet: formatCidr(subnet),
      gateway: formatIPv4(gateway),
      bridge,
      created: new Date(this.#clock()).toISOString(),
    };
    if (labels !== undefined) record.labels = labels;
    return record;
  }

  /** The default network as ensureDefault would write it: create checks against it while it is not on disk yet. */
  #defaultDefinition(): NetworkRecord {
    return { name: DEFAULT_NETWORK, driver: 'bridge', subnet: DEFAULT_SUBNET, gateway: DEFAULT_GATEWAY, bridge: DEFAULT_BRIDGE, created: '' };
  }

  #checkSubnetFree(name: string, subnet: Cidr, others: readonly NetworkRecord[]): void {
    const clash = others.find((other) => other.name !== name && overlaps(subnet, subnetOf(other)));
    if (clash) {
      throw new RuntimeError(
        'invalid-argument',
        `network ${describeValue(name)}: subnet ${formatCidr(subnet)} overlaps network ${describeValue(clash.name)} (${clash.subnet})`,
      );
    }
  }

  /** `given`: the user chose the name (--bridge), rather than tsrun deriving it. */
  #checkBridgeFree(bridge: string, given: boolean, others: readonly NetworkRecord[]): void {
    const clash = others.find((other) => other.bridge === bridge);
    if (!clash) return;
    const owner = `network ${describeValue(clash.name)}`;
    if (given) throw new RuntimeError('invalid-argument', `--bridge ${describeValue(bridge)}: already used by ${owner}`);
    throw new RuntimeError('invalid-argument', `bridge ${describeValue(bridge)}: already used by ${owner}; pass --bridge with another name`);
  }

  #exists(name: string): boolean {
    try {
      fs.lstatSync(path.join(this.networksDir, fileOf(name)));
      return true;
    } catch (error) {
      if (nodeErrorCode(error) === 'ENOENT') return false;
      throw fsSyscallError('lstat', path.join(this.networksDir, fileOf(name)), error);
    }
  }

  #read(name: string): NetworkRecord | undefined {
    const text = readOwnFile(this.networksDir, fileOf(name));
    if (text === undefined) return undefined;
    return checkRecord(text, name, path.join(this.networksDir, fileOf(name)));
  }

  /** Names of the definitions on disk; temporary files (leading `.`) and foreign files are not networks. */
  #names(): string[] {
    let entries: string[];
    try {
      entries = fs.readdirSync(this.networksDir);
    } catch (error) {
      if (nodeErrorCode(error) === 'ENOENT') return [];
      throw fsSyscallError('readdir', this.networksDir, error);
    }
    return entries
      .filter((entry) => entry.endsWith('.json'))
      .map((entry) => entry.slice(0, -'.json'.length))
      .filter(isValidNetworkName)
      .sort(compareText);
  }

  #readAll(): NetworkRecord[] {
    const records: NetworkRecord[] = [];
    for (const name of this.#names()) {
      const record = this.#read(name);
      if (record) records.push(record); // removed since readdir: gone is gone
    }
    return records;
  }
}

function fileOf(name: string): string {
  return `${name}.json`;
}

function notFound(name: string): RuntimeError {
  return new RuntimeError('not-found', `network ${describeValue(name)} does not exist`);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A few names are enough to act on; hundreds would not make a one-line message. */
function describeUsers(users: readonly string[]): string {
  const shown = users.slice(0, 3).join(', ');
  const more = users.length > 3 ? ` and ${users.length - 3} more` : '';
  return `${users.length === 1 ? 'container' : 'containers'} ${shown}${more}`;
}

/** What --driver, --ip-range, --mtu and the overlay flags add to a record; pure, checked before the store is locked. */
function checkDriverOptions(options: CreateNetworkOptions, subnet: Cidr | undefined): Pick<NetworkRecord, 'ipRange' | 'mtu' | 'overlay'> {
  const driver = options.driver ?? 'bridge';
  const extras: Pick<NetworkRecord, 'ipRange' | 'mtu' | 'overlay'> = {};
  const overlayGiven = Object.entries(options.overlay ?? {}).filter(([, value]) => value !== undefined && !(Array.isArray(value) && value.length === 0));
  if (driver === 'overlay') {
    extras.overlay = parseOverlayOptions(options.overlay ?? {}, subnet);
  } else if (driver !== 'bridge') {
    throw new RuntimeError('invalid-argument', `--driver ${describeValue(driver)}: expected "bridge" or "overlay"`);
  } else if (overlayGiven.length > 0) {
    const flag = { vni: '--vni', peers: '--peer', local: '--local', port: '--vxlan-port' }[overlayGiven[0]![0]] ?? overlayGiven[0]![0];
    throw new RuntimeError('invalid-argument', `${flag}: needs --driver overlay`);
  }
  if (options.ipRange !== undefined) {
    if (subnet === undefined) throw new RuntimeError('invalid-argument', `--ip-range ${options.ipRange}: needs --subnet, the range must lie in it`);
    const range = parseCidr(options.ipRange, '--ip-range');
    if (!contains(subnet, range.network) || !contains(subnet, broadcastAddress(range)) || range.prefix > MAX_PREFIX) {
      throw new RuntimeError('invalid-argument', `--ip-range ${options.ipRange}: must be a block of at least 4 addresses inside subnet ${formatCidr(subnet)}`);
    }
    extras.ipRange = formatCidr(range);
  }
  const mtu = options.mtu ?? (extras.overlay ? OVERLAY_MTU : undefined);
  if (mtu !== undefined) {
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RuntimeError('invalid-argument', `--mtu ${describeValue(mtu)}: expected 68 to 65535`);
    extras.mtu = mtu;
  }
  return extras;
}

/** A --subnet value: a CIDR without host bits, of a size a bridge can use, clear of special-purpose blocks. */
function parseBridgeSubnet(text: string): Cidr {
  const subnet = parseCidr(text, '--subnet');
  if (subnet.prefix > MAX_PREFIX) {
    throw new RuntimeError('invalid-argument', `--subnet ${describeValue(text)}: too small for a gateway and a container, use /${MAX_PREFIX} or shorter`);
  }
  if (subnet.prefix < MIN_PREFIX) {
    throw new RuntimeError('invalid-argument', `--subnet ${describeValue(text)}: too large, use /${MIN_PREFIX} or longer`);
  }
  const special = SPECIAL_BLOCKS.find((block) => overlaps(block.cidr, subnet));
  if (special) {
    throw new RuntimeError(
      'invalid-argument',
      `--subnet ${describeValue(text)}: overlaps ${formatCidr(special.cidr)} (${special.what}), not usable for a bridge network`,
    );
  }
  return subnet;
}

function checkGateway(gateway: number, subnet: Cidr): void {
  const text = formatIPv4(gateway);
  if (isHostAddress(subnet, gateway)) return;
  const suggestion = `use a host address such as ${formatIPv4(defaultGateway(subnet))}`;
  if (gateway === subnet.network) {
    throw new RuntimeError('invalid-argument', `--gateway ${text}: is the network address of ${formatCidr(subnet)}; ${suggestion}`);
  }
  if (gateway === broadcastAddress(subnet)) {
    throw new RuntimeError('invalid-argument', `--gateway ${text}: is the broadcast address of ${formatCidr(subnet)}; ${suggestion}`);
  }
  throw new RuntimeError('invalid-argument', `--gateway ${text}: outside subnet ${formatCidr(subnet)}`);
}

/** Labels as given, checked to map non-empty keys to strings; copied into a fresh object the caller cannot mutate. */
function checkLabels(labels: unknown, field: string): Record<string, string> {
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throw new RuntimeError('invalid-argument', `${field}: must map names to strings, got ${describeValue(labels)}`);
  }
  const entries = Object.entries(labels);
  for (const [key, value] of entries) {
    if (key === '') throw new RuntimeError('invalid-argument', `${field} "": the label name must not be empty`);
    if (typeof value !== 'string') throw new RuntimeError('invalid-argument', `${field} ${describeValue(key)}: the value must be a string, got ${describeValue(value)}`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

/** The first /16 from AUTO_SUBNET_FIRST to AUTO_SUBNET_LAST overlapping no network. */
function chooseSubnet(name: string, others: readonly NetworkRecord[]): Cidr {
  const taken = others.map(subnetOf);
  const first = parseCidr(AUTO_SUBNET_FIRST, 'internal').network;
  const last = parseCidr(AUTO_SUBNET_LAST, 'internal').network;
  for (let network = first; network <= last; network += 2 ** 16) {
    const candidate: Cidr = { network, prefix: 16 };
    if (!taken.some((subnet) => overlaps(candidate, subnet))) return candidate;
  }
  throw new RuntimeError(
    'invalid-argument',
    `network ${describeValue(name)}: no free /16 left between ${AUTO_SUBNET_FIRST} and ${AUTO_SUBNET_LAST}; pass --subnet`,
  );
}

/** The subnet of a record checkRecord accepted. */
export function subnetOf(record: NetworkRecord): Cidr {
  return parseCidr(record.subnet, `network ${describeValue(record.name)} subnet`);
}

/** Parses and checks a definition read from `file`: tsrun wrote it, so anything off means corruption. */
function checkRecord(text: string, name: string, file: string): NetworkRecord {
  const corrupt = (detail: string): RuntimeError => new RuntimeError('state-corrupt', `invalid network file ${file}: ${detail}`);
  const record = parseJsonObject(text, corrupt);
  for (const key of ['name', 'driver', 'subnet', 'gateway', 'bridge', 'created']) {
    if (typeof record[key] !== 'string') throw corrupt(`"${key}" must be a string, got ${describeValue(record[key])}`);
  }
  if (record.name !== name) throw corrupt(`it defines network ${describeValue(record.name)}`);
  if (record.driver !== 'bridge' && record.driver !== 'overlay') throw corrupt(`"driver" must be "bridge" or "overlay", got ${describeValue(record.driver)}`);
  if ((record.driver === 'overlay') !== (record.overlay !== undefined)) throw corrupt('"overlay" must be present exactly when "driver" is "overlay"');
  const overlayProblem = record.overlay === undefined ? undefined : overlayRecordProblem(record.overlay);
  if (overlayProblem !== undefined) throw corrupt(overlayProblem);
  if (record.mtu !== undefined && (typeof record.mtu !== 'number' || !Number.isInteger(record.mtu) || record.mtu < 68 || record.mtu > 65535)) {
    throw corrupt(`"mtu" must be 68 to 65535, got ${describeValue(record.mtu)}`);
  }
  const parsed = tryParseCidr(record.subnet as string);
  if (!parsed || ((parsed.address & netmask(parsed.prefix)) >>> 0) !== parsed.address) {
    throw corrupt(`"subnet" must be an IPv4 CIDR without host bits, got ${describeValue(record.subnet)}`);
  }
  const subnet: Cidr = { network: parsed.address, prefix: parsed.prefix };
  const gateway = tryParseIPv4(record.gateway as string);
  if (gateway === undefined || !isHostAddress(subnet, gateway)) {
    throw corrupt(`"gateway" must be a host address of ${record.subnet}, got ${describeValue(record.gateway)}`);
  }
  if (record.ipRange !== undefined) {
    const range = typeof record.ipRange === 'string' ? tryParseCidr(record.ipRange) : undefined;
    if (!range || !contains(subnet, range.address) || !contains(subnet, broadcastAddress({ network: range.address, prefix: range.prefix }))) {
      throw corrupt(`"ipRange" must be a CIDR inside ${record.subnet}, got ${describeValue(record.ipRange)}`);
    }
  }
  if (!BRIDGE_PATTERN.test(record.bridge as string) || Buffer.byteLength(record.bridge as string) > MAX_BRIDGE_BYTES) {
    throw corrupt(`"bridge" must be an interface name, got ${describeValue(record.bridge)}`);
  }
  if (record.labels !== undefined) {
    const labels = record.labels;
    const ok = typeof labels === 'object' && labels !== null && !Array.isArray(labels) && Object.values(labels).every((v) => typeof v === 'string');
    if (!ok) throw corrupt('"labels" must map names to strings');
  }
  return record as unknown as NetworkRecord;
}

