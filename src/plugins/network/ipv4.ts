import { RuntimeError, describeValue } from '../../errors';

/**
 * IPv4 addresses and CIDR blocks as unsigned 32-bit integers. Pure: no I/O, no state.
 *
 * Addresses are plain numbers in 0..2^32-1 (always normalised with `>>> 0`: JavaScript's bitwise operators yield
 * signed 32-bit results, so 255.255.255.255 would otherwise come out as -1).
 */

/** A CIDR block; `network` has no host bits set (parseCidr refuses such input rather than masking it silently). */
export interface Cidr {
  readonly network: number;
  readonly prefix: number;
}

// One octet: 0, or 1-255 without a leading zero. "010" is refused because inet_aton reads it as octal 8 while
// humans read 10 — accepting it either way would configure an address the user did not mean.
const OCTET = '(?:0|[1-9][0-9]{0,2})';
const IPV4_PATTERN = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
// The prefix length, same rule: "/08" is ambiguous-looking and nobody writes it on purpose.
const CIDR_PATTERN = /^([0-9.]+)\/(0|[1-9][0-9]?)$/;

/** The address as a number, or undefined unless `text` is a strict dotted quad (four decimal octets, no extras). */
export function tryParseIPv4(text: string): number | undefined {
  if (!IPV4_PATTERN.test(text)) return undefined;
  let value = 0;
  for (const part of text.split('.')) {
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

/**
 * The address as a number; throws a RuntimeError naming `field` (a flag such as `--gateway`) otherwise.
 */
export function parseIPv4(text: string, field: string): number {
  const value = tryParseIPv4(text);
  if (value === undefined) {
    throw new RuntimeError('invalid-argument', `${field} ${describeValue(text)}: must be an IPv4 address such as 10.88.0.1`);
  }
  return value;
}

/** Dotted-quad text of a uint32 address. */
export function formatIPv4(address: number): string {
  checkAddress(address);
  return [address >>> 24, (address >>> 16) & 0xff, (address >>> 8) & 0xff, address & 0xff].join('.');
}

/** The netmask of a prefix length as a uint32 (a shift by 32 is a shift by 0 in JavaScript, hence the special case). */
export function netmask(prefix: number): number {
  checkPrefix(prefix);
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * A CIDR block `a.b.c.d/n` (0 ≤ n ≤ 32), or undefined for any other text. Host bits may be set here: parseCidr
 * is the one that refuses them, with a message naming the network address meant.
 */
export function tryParseCidr(text: string): { address: number; prefix: number } | undefined {
  const match = CIDR_PATTERN.exec(text);
  if (!match) return undefined;
  const address = tryParseIPv4(match[1] ?? '');
  const prefix = Number(match[2]);
  if (address === undefined || prefix > 32) return undefined;
  return { address, prefix };
}

/**
 * A CIDR block; throws a RuntimeError naming `field` on malformed text or when host bits are set. Docker refuses
 * `10.1.2.3/16` too rather than guessing: the user may have meant the address or the prefix length.
 */
export function parseCidr(text: string, field: string): Cidr {
  const parsed = tryParseCidr(text);
  if (parsed === undefined) {
    throw new RuntimeError('invalid-argument', `${field} ${describeValue(text)}: must be an IPv4 CIDR such as 10.88.0.0/16`);
  }
  const network = (parsed.address & netmask(parsed.prefix)) >>> 0;
  if (network !== parsed.address) {
    throw new RuntimeError(
      'invalid-argument',
      `${field} ${describeValue(text)}: host bits are set; the network address is ${formatIPv4(network)}/${parsed.prefix}`,
    );
  }
  return { network, prefix: parsed.prefix };
}

/** `a.b.c.d/n`. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIPv4(cidr.network)}/${cidr.prefix}`;
}

/** The highest address of the block (all host bits set). */
export function broadcastAddress(cidr: Cidr): number {
  return (cidr.network | ~netmask(cidr.prefix)) >>> 0;
}

/** Number of addresses in the block, network and broadcast included (2^32 for /0, hence not a uint32). */
export function blockSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

/** Whether `address` lies inside the block. */
export function contains(cidr: Cidr, address: number): boolean {
  return ((address & netmask(cidr.prefix)) >>> 0) === cidr.network;
}

/** Whether two blocks share any address: aligned blocks either nest or are disjoint, so one contains the other's start. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.network) || contains(b, a.network);
}

/**
 * The lowest address a host may use: the one after the network address. /31 (RFC 3021 point-to-point) and /32 have
 * no network or broadcast address, so every address is a host there.
 */
export function firstHost(cidr: Cidr): number {
  return cidr.prefix >= 31 ? cidr.network : cidr.network + 1;
}

/** The highest address a host may use: the one before the broadcast address (see firstHost for /31 and /32). */
export function lastHost(cidr: Cidr): number {
  const broadcast = broadcastAddress(cidr);
  return cidr.prefix >= 31 ? broadcast : broadcast - 1;
}

/** The gateway a network gets when none is given: its first host, as Docker and podman choose it. */
export function defaultGateway(cidr: Cidr): number {
  return firstHost(cidr);
}

/** Whether `address` is a host address of the block: inside it, and neither its network nor its broadcast address. */
export function isHostAddress(cidr: Cidr, address: number): boolean {
  return contains(cidr, address) && address >= firstHost(cidr) && address <= lastHost(cidr);
}

/**
 * The lowest host address of the block for which `isTaken` is false, or undefined when every one is taken. Stops at
 * the first free address, so the cost is the number of addresses taken below it, not the size of the block.
 */
export function findFreeHost(cidr: Cidr, isTaken: (address: number) => boolean): number | undefined {
  const last = lastHost(cidr);
  for (let address = firstHost(cidr); address <= last; address++) {
    if (!isTaken(address)) return address;
  }
  return undefined;
}

function checkAddress(address: number): void {
  if (!Number.isInteger(address) || address < 0 || address > 0xffffffff) {
    throw new RuntimeError('internal', `not an IPv4 address as uint32: ${describeValue(address)}`);
  }
}

function checkPrefix(prefix: number): void {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
    throw new RuntimeError('internal', `not an IPv4 prefix length: ${describeValue(prefix)}`);
  }
}
