import { RuntimeError } from '../errors';

/**
 * rtnetlink messages as bytes: builders for the requests `tsrun network` sends and decoders for the replies it
 * reads. Pure: no koffi and no file system, so every byte is unit-tested without root (src/linux/netlink.ts does
 * the socket side).
 *
 * Netlink is native-endian and these layouts are written little endian: x86_64 and arm64 Linux, the two
 * architectures tsrun supports, are both little endian. Sizes and layouts, from the kernel's uapi headers
 * (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h):
 *   struct nlmsghdr  { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }                         16 bytes
 *   struct rtattr    { u16 len; u16 type; } + payload, padded to 4 bytes                          4 bytes
 *   struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index; u32 flags; u32 change; }           16 bytes
 *   struct ifaddrmsg { u8 family; u8 prefixlen; u8 flags; u8 scope; u32 index; }                   8 bytes
 *   struct rtmsg     { u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags; } 12 bytes
 *   struct ndmsg     { u8 family; u8 pad1; u16 pad2; s32 ifindex; u16 state; u8 flags; u8 type; }  12 bytes
 *   struct nlmsgerr  { s32 error; struct nlmsghdr msg; } + the request's payload unless NLM_F_CAPPED
 * Messages and attributes start on 4-byte boundaries (NLMSG_ALIGN, RTA_ALIGN); a length field counts the bytes
 * it describes without the trailing padding, but a nest's length includes the padding of its last member.
 */

export const NLMSG_HDRLEN = 16;
export const RTA_HDRLEN = 4;
export const IFINFOMSG_SIZE = 16;
export const IFADDRMSG_SIZE = 8;
export const RTMSG_SIZE = 12;

/** Message types: the control messages of every netlink family, then the rtnetlink requests used here. */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;

/** nlmsghdr flags. Bits 0x100-0x800 mean different things for GET requests, NEW requests and error replies. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** On NLMSG_ERROR: the echoed request was cut to its header (NETLINK_CAP_ACK) / extended-ack TLVs follow. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

/** Extended ack TLVs (NETLINK_EXT_ACK): the kernel's own explanation of an error. */
export const NLMSGERR_ATTR_MSG = 1;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

/** Link attributes (enum ifla) and the nested link-info attributes. */
export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_MASTER = 10;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_IFALIAS = 20;
export const IFLA_NET_NS_FD = 28;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const VETH_INFO_PEER = 1;

/** VXLAN link data (IFLA_VXLAN_* in linux/if_link.h), inside IFLA_INFO_DATA of kind "vxlan". */
export const IFLA_VXLAN_ID = 1;
export const IFLA_VXLAN_LOCAL = 4;
export const IFLA_VXLAN_LEARNING = 7;
export const IFLA_VXLAN_PORT = 15;

/** Neighbour (and bridge forwarding database) entries: struct ndmsg and its attributes (linux/neighbour.h). */
export const NDMSG_SIZE = 12;
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
/** The entry belongs to the device itself (the VXLAN's own table), not to the bridge it is a port of. */
export const NTF_SELF = 0x02;

/** Address attributes (enum ifa). For IPv4, IFA_LOCAL is the interface's address; IFA_ADDRESS the peer's on
 * point-to-point links and the same as IFA_LOCAL everywhere else. */
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;

/** Route attributes (enum rtattr_type_t). */
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;

export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RTN_UNICAST = 1;

export const IFF_UP = 0x1;
export const IFF_LOWER_UP = 0x10000;

/** Set on nested attributes; the kernel masks it (and NLA_F_NET_BYTEORDER) out of the type. */
export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

/** IFNAMSIZ is 16 including the terminating NUL. */
export const MAX_IFNAME_BYTES = 15;

export function align4(length: number): number {
  return (length + 3) & ~3;
}

function malformed(detail: string): RuntimeError {
  return new RuntimeError('netlink', `netlink: malformed reply from the kernel: ${detail}`);
}

function invalid(detail: string): RuntimeError {
  return new RuntimeError('netlink', `netlink: ${detail}`);
}

// ---------------------------------------------------------------------------------------------------------
// IPv4 addresses: dotted strings in the API, 4 network-order bytes on the wire.

/** "10.1.2.3" → its 4 bytes; anything but four decimal numbers 0-255 (no leading zeros) is refused. */
export function ipv4ToBytes(address: string): Buffer {
  const parts = address.split('.');
  if (parts.length !== 4 || parts.some((part) => !/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255)) {
    throw invalid(`invalid IPv4 address ${JSON.stringify(address)}`);
  }
  return Buffer.from(parts.map(Number));
}

export function bytesToIpv4(bytes: Buffer): string {
  if (bytes.length !== 4) throw malformed(`an IPv4 address of ${bytes.length} bytes`);
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

function checkPrefix(prefix: number): number {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw invalid(`invalid IPv4 prefix length ${prefix}`);
  return prefix;
}

function checkU32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw invalid(`invalid ${what} ${value}`);
  return value;
}

function checkIndex(index: number): number {
  if (!Number.isInteger(index) || index <= 0 || index > 0x7fffffff) throw invalid(`invalid interface index ${index}`);
  return index;
}

/**
 * The kernel's rules for interface names (dev_valid_name), checked here so a bad name is one clear line
 * instead of a bare EINVAL: 1-15 bytes, not "." or "..", no "/", ":" or whitespace.
 */
export function checkInterfaceName(name: string): string {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes > MAX_IFNAME_BYTES || name === '.' || name === '..' || /[/:\s\0]/.test(name)) {
    throw invalid(
      `invalid interface name ${JSON.stringify(name)}: it must have 1-${MAX_IFNAME_BYTES} bytes, not be "." or "..", and contain no "/", ":" or whitespace`,
    );
  }
  return name;
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** One attribute: rtattr header, the payload, zero padding to 4 bytes. rta_len excludes the padding. */
export function attribute(type: number, payload: Buffer): Buffer {
  const length = RTA_HDRLEN + payload.length;
  if (length > 0xffff) throw invalid(`attribute ${type} too large (${length} bytes)`);
  const out = Buffer.alloc(align4(length));
  out.writeUInt16LE(length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, RTA_HDRLEN);
  return out;
}

export function stringAttribute(type: number, value: string): Buffer {
  return attribute(type, Buffer.from(`${value}\0`, 'utf8'));
}

export function u32Attribute(type: number, value: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32LE(value, 0);
  return attribute(type, payload);
}

export function ipv4Attribute(type: number, address: string): Buffer {
  return attribute(type, ipv4ToBytes(address));
}

/** A nest: the members are already padded, so the nest's length covers the last member's padding too. */
export function nestedAttribute(type: number, members: Buffer[]): Buffer {
  return attribute(type | NLA_F_NESTED, Buffer.concat(members));
}

/** nlmsghdr + the family header + attributes, in a fresh zero-filled Buffer. */
export function message(type: number, flags: number, seq: number, familyHeader: Buffer, attributes: Buffer[] = []): Buffer {
  const body = Buffer.concat([familyHeader, ...attributes]);
  const length = NLMSG_HDRLEN + align4(body.length);
  const out = Buffer.alloc(length);
  out.writeUInt32LE(length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(checkU32(seq, 'sequence number'), 8);
  out.writeUInt32LE(0, 12); // nlmsg_pid 0: addressed to the kernel
  body.copy(out, NLMSG_HDRLEN);
  return out;
}

export function ifinfomsg(fields: { family?: number; index?: number; flags?: number; change?: number } = {}): Buffer {
  const out = Buffer.alloc(IFINFOMSG_SIZE);
  out.writeUInt8(fields.family ?? AF_UNSPEC, 0);
  out.writeUInt16LE(0, 2); // ifi_type (ARPHRD_*): chosen by the kernel
  out.writeInt32LE(fields.index ?? 0, 4);
  out.writeUInt32LE(fields.flags ?? 0, 8);
  out.writeUInt32LE(fields.change ?? 0, 12);
  return out;
}

export function ifaddrmsg(fields: { family: number; prefix?: number; scope?: number; index?: number }): Buffer {
  const out = Buffer.alloc(IFADDRMSG_SIZE);
  out.writeUInt8(fields.family, 0);
  out.writeUInt8(fields.prefix ?? 0, 1);
  out.writeUInt8(0, 2); // ifa_flags
  out.writeUInt8(fields.scope ?? RT_SCOPE_UNIVERSE, 3);
  out.writeUInt32LE(fields.index ?? 0, 4);
  return out;
}

export function rtmsg(fields: { family: number; dstLength?: number; table?: number; protocol?: number; scope?: number; type?: number }): Buffer {
  const out = Buffer.alloc(RTMSG_SIZE);
  out.writeUInt8(fields.family, 0);
  out.writeUInt8(fields.dstLength ?? 0, 1);
  out.writeUInt8(0, 2); // rtm_src_len
  out.writeUInt8(0, 3); // rtm_tos
  out.writeUInt8(fields.table ?? 0, 4);
  out.writeUInt8(fields.protocol ?? 0, 5);
  out.writeUInt8(fields.scope ?? RT_SCOPE_UNIVERSE, 6);
  out.writeUInt8(fields.type ?? 0, 7);
  out.writeUInt32LE(0, 8); // rtm_flags
  return out;
}

/** Flags of a request that creates something: fail with EEXIST rather than touch what is there. */
const CREATE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
/** Flags of a request that changes or deletes something: answered by an ACK (an NLMSG_ERROR with error 0). */
const CHANGE = NLM_F_REQUEST | NLM_F_ACK;
const DUMP = NLM_F_REQUEST | NLM_F_DUMP;

function linkInfo(kind: string, data?: Buffer[]): Buffer {
  const members = [stringAttribute(IFLA_INFO_KIND, kind)];
  if (data) members.push(nestedAttribute(IFLA_INFO_DATA, data));
  return nestedAttribute(IFLA_LINKINFO, members);
}

// ---------------------------------------------------------------------------------------------------------
// Requests. Each takes the sequence number the reply will carry first.

export function newBridge(seq: number, name: string): Buffer {
  return message(RTM_NEWLINK, CREATE, seq, ifinfomsg(), [stringAttribute(IFLA_IFNAME, checkInterfaceName(name)), linkInfo('bridge')]);
}

/**
 * A veth pair. The peer is described inside IFLA_INFO_DATA by VETH_INFO_PEER, whose payload is not a plain nest
 * but a whole ifinfomsg followed by the peer's own link attributes (the kernel parses it like the body of an
 * RTM_NEWLINK, see veth_newlink). An IFLA_NET_NS_FD there creates the peer directly in that network namespace,
 * so it never appears on the host, not even for a moment, and cannot clash with a host interface of its name.
 */
export function newVethPair(seq: number, hostName: string, peerName: string, peerNetnsFd?: number): Buffer {
  const peerAttributes = [stringAttribute(IFLA_IFNAME, checkInterfaceName(peerName))];
  if (peerNetnsFd !== undefined) peerAttributes.push(u32Attribute(IFLA_NET_NS_FD, checkU32(peerNetnsFd, 'file descriptor')));
  const peer = attribute(VETH_INFO_PEER, Buffer.concat([ifinfomsg(), ...peerAttributes]));
  return message(RTM_NEWLINK, CREATE, seq, ifinfomsg(), [stringAttribute(IFLA_IFNAME, checkInterfaceName(hostName)), linkInfo('veth', [peer])]);
}

export interface VxlanSpec {
  /** The VXLAN Network Identifier, 1 to 2^24 - 1. */
  vni: number;
  /** UDP destination port (IANA's is 4789; Linux's default without this attribute is 8472). */
  port: number;
  /** The source address of the encapsulated packets; the kernel picks by route when absent. */
  local?: string;
}

/**
 * A VXLAN device with no default destination: where frames go comes from its forwarding database (appendFdb),
 * which also learns the MAC addresses of remote containers from the packets that arrive (IFLA_VXLAN_LEARNING).
 * IFLA_VXLAN_PORT is a big-endian u16, unlike every other attribute here.
 */
export function newVxlan(seq: number, name: string, spec: VxlanSpec): Buffer {
  if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > 0xffffff) throw new RuntimeError('netlink', `VXLAN id: expected 1 to ${0xffffff}, got ${spec.vni}`);
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 0xffff) throw new RuntimeError('netlink', `VXLAN port: expected 1 to 65535, got ${spec.port}`);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(spec.port);
  const data = [u32Attribute(IFLA_VXLAN_ID, spec.vni), attribute(IFLA_VXLAN_PORT, port), attribute(IFLA_VXLAN_LEARNING, Buffer.from([1]))];
  if (spec.local !== undefined) data.push(ipv4Attribute(IFLA_VXLAN_LOCAL, spec.local));
  return message(RTM_NEWLINK, CREATE, seq, ifinfomsg(), [stringAttribute(IFLA_IFNAME, checkInterfaceName(name)), linkInfo('vxlan', data)]);
}

export function ndmsg(fields: { family: number; index: number; state?: number; flags?: number }): Buffer {
  const header = Buffer.alloc(NDMSG_SIZE);
  header.writeUInt8(fields.family, 0);
  header.writeInt32LE(fields.index, 4);
  header.writeUInt16LE(fields.state ?? 0, 8);
  header.writeUInt8(fields.flags ?? 0, 10);
  return header;
}

/**
 * `bridge fdb append 00:00:00:00:00:00 dev VXLAN dst PEER`: an all-zero MAC entry sends broadcast and unknown
 * frames to `peer`; appended entries add up, so every peer gets a copy (head-end replication).
 */
export function appendFdb(seq: number, index: number, peer: string): Buffer {
  const header = ndmsg({ family: AF_BRIDGE, index: checkIndex(index), state: NUD_PERMANENT | NUD_NOARP, flags: NTF_SELF });
  return message(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND, seq, header, [attribute(NDA_LLADDR, Buffer.alloc(6)), ipv4Attribute(NDA_DST, peer)]);
}

/** ifi_change names the flags to change; without it (0) the kernel would take every flag from ifi_flags. */
export function setLinkUp(seq: number, index: number): Buffer {
  return message(RTM_SETLINK, CHANGE, seq, ifinfomsg({ index: checkIndex(index), flags: IFF_UP, change: IFF_UP }));
}

export function setLinkDown(seq: number, index: number): Buffer {
  return message(RTM_SETLINK, CHANGE, seq, ifinfomsg({ index: checkIndex(index), flags: 0, change: IFF_UP }));
}

/** masterIndex 0 detaches the link from its master. */
export function setLinkMaster(seq: number, index: number, masterIndex: number): Buffer {
  if (masterIndex !== 0) checkIndex(masterIndex);
  return message(RTM_SETLINK, CHANGE, seq, ifinfomsg({ index: checkIndex(index) }), [u32Attribute(IFLA_MASTER, masterIndex)]);
}

export function setLinkMtu(seq: number, index: number, mtu: number): Buffer {
  return message(RTM_SETLINK, CHANGE, seq, ifinfomsg({ index: checkIndex(index) }), [u32Attribute(IFLA_MTU, checkU32(mtu, 'MTU'))]);
}

export function setLinkNetns(seq: number, index: number, netnsFd: number): Buffer {
  return message(RTM_SETLINK, CHANGE, seq, ifinfomsg({ index: checkIndex(index) }), [u32Attribute(IFLA_NET_NS_FD, checkU32(netnsFd, 'file descriptor'))]);
}

/** The link's alias (`ip link set … alias`): a free-form label, e.g. the container a link was made for. */
export function setLinkAlias(seq: number, index: number, alias: string): Buffer {
  if (Buffer.byteLength(alias) > 255) throw new RangeError(`link alias ${JSON.stringify(alias)}: longer than 255 bytes`);
  return message(RTM_SETLINK, CHANGE, seq, ifinfomsg({ index: checkIndex(index) }), [stringAttribute(IFLA_IFALIAS, alias)]);
}

/** Rename a link while it is down: kernels before 6.2 refuse to rename a running link (EBUSY); newer ones allow it. */
export function renameLink(seq: number, index: number, name: string): Buffer {
  return message(RTM_SETLINK, CHANGE, seq, ifinfomsg({ index: checkIndex(index) }), [stringAttribute(IFLA_IFNAME, checkInterfaceName(name))]);
}

/** Deleting either end of a veth pair deletes both. */
export function deleteLink(seq: number, index: number): Buffer {
  return message(RTM_DELLINK, CHANGE, seq, ifinfomsg({ index: checkIndex(index) }));
}

/** With ifi_index 0 the kernel finds the link by IFLA_IFNAME: one request, no window between lookup and delete. */
export function deleteLinkByName(seq: number, name: string): Buffer {
  return message(RTM_DELLINK, CHANGE, seq, ifinfomsg(), [stringAttribute(IFLA_IFNAME, checkInterfaceName(name))]);
}

/** Answered by one RTM_NEWLINK, then the ACK; ENODEV when there is no such link. */
export function getLink(seq: number, name: string): Buffer {
  return message(RTM_GETLINK, CHANGE, seq, ifinfomsg(), [stringAttribute(IFLA_IFNAME, checkInterfaceName(name))]);
}

export function dumpLinks(seq: number): Buffer {
  return message(RTM_GETLINK, DUMP, seq, ifinfomsg());
}

/** IFA_LOCAL and IFA_ADDRESS both carry the address, as `ip address add` sends them on a broadcast link. */
export function newAddress(seq: number, index: number, address: string, prefix: number): Buffer {
  return message(RTM_NEWADDR, CREATE, seq, ifaddrmsg({ family: AF_INET, prefix: checkPrefix(prefix), index: checkIndex(index) }), [
    ipv4Attribute(IFA_LOCAL, address),
    ipv4Attribute(IFA_ADDRESS, address),
  ]);
}

export function dumpAddresses(seq: number, family = AF_INET): Buffer {
  return message(RTM_GETADDR, DUMP, seq, ifaddrmsg({ family }));
}

export interface RouteRequest {
  /** Destination network; omitted (or prefix 0) for the default route. */
  dst?: string;
  dstPrefix?: number;
  /** Next hop; without it the route is a device route: the destination is on the link itself. */
  gateway?: string;
  /** Index of the outgoing interface. */
  oif: number;
}

/**
 * A route in the main table, marked RTPROT_BOOT like `ip route add` does. A route via a gateway has universe
 * scope; a device route has link scope: the destination is directly reachable on the link.
 */
export function newRoute(seq: number, route: RouteRequest): Buffer {
  const dstPrefix = checkPrefix(route.dstPrefix ?? (route.dst === undefined ? 0 : 32));
  if (route.dst === undefined && dstPrefix !== 0) throw invalid(`route prefix /${dstPrefix} without a destination`);
  const attributes: Buffer[] = [];
  if (route.dst !== undefined && dstPrefix > 0) attributes.push(ipv4Attribute(RTA_DST, route.dst));
  if (route.gateway !== undefined) attributes.push(ipv4Attribute(RTA_GATEWAY, route.gateway));
  attributes.push(u32Attribute(RTA_OIF, checkIndex(route.oif)));
  const header = rtmsg({
    family: AF_INET,
    dstLength: dstPrefix,
    table: RT_TABLE_MAIN,
    protocol: RTPROT_BOOT,
    scope: route.gateway === undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
    type: RTN_UNICAST,
  });
  return message(RTM_NEWROUTE, CREATE, seq, header, attributes);
}

export function dumpRoutes(seq: number, family = AF_INET): Buffer {
  return message(RTM_GETROUTE, DUMP, seq, rtmsg({ family }));
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Everything after the nlmsghdr, up to nlmsg_len. */
  payload: Buffer;
}

/** Splits one received datagram into its messages (a dump packs many into each datagram). */
export function parseMessages(data: Buffer): NetlinkMessage[] {
  const messages: NetlinkMessage[] = [];
  let offset = 0;
  while (offset + NLMSG_HDRLEN <= data.length) {
    const length = data.readUInt32LE(offset);
    if (length < NLMSG_HDRLEN || offset + length > data.length) {
      throw malformed(`message at byte ${offset} claims ${length} bytes, ${data.length - offset} are left`);
    }
    messages.push({
      type: data.readUInt16LE(offset + 4),
      flags: data.readUInt16LE(offset + 6),
      seq: data.readUInt32LE(offset + 8),
      pid: data.readUInt32LE(offset + 12),
      payload: data.subarray(offset + NLMSG_HDRLEN, offset + length),
    });
    offset += align4(length);
  }
  if (offset < data.length) throw malformed(`${data.length - offset} stray bytes after the last message`);
  return messages;
}

export interface Attribute {
  /** The type without NLA_F_NESTED / NLA_F_NET_BYTEORDER. */
  type: number;
  value: Buffer;
}

export function parseAttributes(data: Buffer): Attribute[] {
  const attributes: Attribute[] = [];
  let offset = 0;
  while (offset + RTA_HDRLEN <= data.length) {
    const length = data.readUInt16LE(offset);
    if (length < RTA_HDRLEN || offset + length > data.length) {
      throw malformed(`attribute at byte ${offset} claims ${length} bytes, ${data.length - offset} are left`);
    }
    attributes.push({ type: data.readUInt16LE(offset + 2) & NLA_TYPE_MASK, value: data.subarray(offset + RTA_HDRLEN, offset + length) });
    offset += align4(length);
  }
  return attributes;
}

/** Attributes by type; a type that appears twice keeps its last value, as the kernel's nla_parse does. */
function attributeMap(data: Buffer): Map<number, Buffer> {
  return new Map(parseAttributes(data).map((a) => [a.type, a.value]));
}

function readString(value: Buffer): string {
  const end = value.indexOf(0);
  return value.toString('utf8', 0, end < 0 ? value.length : end);
}

function readU32(value: Buffer, what: string): number {
  if (value.length < 4) throw malformed(`${what} of ${value.length} bytes`);
  return value.readUInt32LE(0);
}

function need(payload: Buffer, size: number, what: string): void {
  if (payload.length < size) throw malformed(`${what} of ${payload.length} bytes, expected at least ${size}`);
}

export interface NetlinkErrorReply {
  /** 0 for an ACK, else the positive errno. */
  errno: number;
  /** The kernel's explanation (extended ack), when it gave one. */
  detail?: string;
}

/**
 * NLMSG_ERROR (and NLMSG_DONE, which ends a dump with an error code of its own): a negative errno, or 0 for an
 * ACK. In NLMSG_ERROR the echoed request follows the error code, whole or (NLM_F_CAPPED) just its header; then,
 * with NLM_F_ACK_TLVS, the extended-ack attributes. In NLMSG_DONE they follow the code directly.
 */
export function parseErrorReply(m: NetlinkMessage): NetlinkErrorReply {
  if (m.payload.length < 4) {
    if (m.type === NLMSG_DONE) return { errno: 0 }; // old kernels ended dumps with an empty DONE
    throw malformed(`error message of ${m.payload.length} bytes`);
  }
  const code = m.payload.readInt32LE(0);
  let tlvOffset = 4;
  if (m.type === NLMSG_ERROR) {
    need(m.payload, 4 + NLMSG_HDRLEN, 'error message');
    const echoedLength = m.payload.readUInt32LE(4);
    tlvOffset += m.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(echoedLength);
  }
  const reply: NetlinkErrorReply = { errno: code === 0 ? 0 : -code };
  if (m.flags & NLM_F_ACK_TLVS && tlvOffset < m.payload.length) {
    const text = attributeMap(m.payload.subarray(tlvOffset)).get(NLMSGERR_ATTR_MSG);
    if (text) reply.detail = readString(text);
  }
  return reply;
}

export interface LinkMessage {
  index: number;
  /** IFF_* flags (IFF_UP, IFF_LOWER_UP, ...). */
  flags: number;
  name: string;
  mtu?: number;
  /** Index of the bridge (or bond) the link is attached to. */
  master?: number;
  /** The driver: "bridge", "veth", ...; absent for links without rtnl link ops (loopback, most hardware). */
  kind?: string;
  /** Hardware address as lowercase colon-separated hex. */
  mac?: string;
  /** IFLA_IFALIAS, when set. */
  alias?: string;
}

export function parseLink(m: NetlinkMessage): LinkMessage {
  need(m.payload, IFINFOMSG_SIZE, 'RTM_NEWLINK');
  const attributes = attributeMap(m.payload.subarray(IFINFOMSG_SIZE));
  const name = attributes.get(IFLA_IFNAME);
  const link: LinkMessage = {
    index: m.payload.readInt32LE(4),
    flags: m.payload.readUInt32LE(8),
    name: name ? readString(name) : '',
  };
  const mtu = attributes.get(IFLA_MTU);
  if (mtu) link.mtu = readU32(mtu, 'IFLA_MTU');
  const master = attributes.get(IFLA_MASTER);
  if (master) link.master = readU32(master, 'IFLA_MASTER');
  const alias = attributes.get(IFLA_IFALIAS);
  if (alias) link.alias = readString(alias);
  const info = attributes.get(IFLA_LINKINFO);
  const kind = info && attributeMap(info).get(IFLA_INFO_KIND);
  if (kind) link.kind = readString(kind);
  const mac = attributes.get(IFLA_ADDRESS);
  if (mac && mac.length > 0) link.mac = [...mac].map((byte) => byte.toString(16).padStart(2, '0')).join(':');
  return link;
}

export interface AddressMessage {
  index: number;
  family: number;
  prefix: number;
  scope: number;
  /** The interface's own address, dotted (IPv4 only). */
  local?: string;
  label?: string;
}

export function parseAddress(m: NetlinkMessage): AddressMessage {
  need(m.payload, IFADDRMSG_SIZE, 'RTM_NEWADDR');
  const family = m.payload.readUInt8(0);
  const attributes = attributeMap(m.payload.subarray(IFADDRMSG_SIZE));
  const address: AddressMessage = {
    index: m.payload.readUInt32LE(4),
    family,
    prefix: m.payload.readUInt8(1),
    scope: m.payload.readUInt8(3),
  };
  const local = attributes.get(IFA_LOCAL) ?? attributes.get(IFA_ADDRESS);
  if (local && family === AF_INET) address.local = bytesToIpv4(local);
  const label = attributes.get(IFA_LABEL);
  if (label) address.label = readString(label);
  return address;
}

export interface RouteMessage {
  family: number;
  /** Destination network, dotted; "0.0.0.0" with prefix 0 for a default route (IPv4 only). */
  dst?: string;
  prefix: number;
  gateway?: string;
  /** Index of the outgoing interface. */
  oif?: number;
  /** Routing table: RTA_TABLE when present (tables above 255 only fit there), else rtm_table. */
  table: number;
  protocol: number;
  scope: number;
  type: number;
  priority?: number;
  prefsrc?: string;
}

export function parseRoute(m: NetlinkMessage): RouteMessage {
  need(m.payload, RTMSG_SIZE, 'RTM_NEWROUTE');
  const family = m.payload.readUInt8(0);
  const attributes = attributeMap(m.payload.subarray(RTMSG_SIZE));
  const table = attributes.get(RTA_TABLE);
  const route: RouteMessage = {
    family,
    prefix: m.payload.readUInt8(1),
    table: table ? readU32(table, 'RTA_TABLE') : m.payload.readUInt8(4),
    protocol: m.payload.readUInt8(5),
    scope: m.payload.readUInt8(6),
    type: m.payload.readUInt8(7),
  };
  if (family === AF_INET) {
    const dst = attributes.get(RTA_DST);
    route.dst = dst ? bytesToIpv4(dst) : '0.0.0.0';
    const gateway = attributes.get(RTA_GATEWAY);
    if (gateway) route.gateway = bytesToIpv4(gateway);
    const prefsrc = attributes.get(RTA_PREFSRC);
    if (prefsrc) route.prefsrc = bytesToIpv4(prefsrc);
  }
  const oif = attributes.get(RTA_OIF);
  if (oif) route.oif = readU32(oif, 'RTA_OIF');
  const priority = attributes.get(RTA_PRIORITY);
  if (priority) route.priority = readU32(priority, 'RTA_PRIORITY');
  return route;
}
