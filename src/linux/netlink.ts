import { RuntimeError } from '../errors';
import { SyscallError } from './errno';
import { CloneFlags, OpenFlags } from './constants';
import { check, errno, fn } from './libc';
import * as nl from './netlink-messages';

/**
 * rtnetlink over a NETLINK_ROUTE socket: the links, addresses and routes `tsrun network` sets up (a bridge, veth
 * pairs, the container's address and default route). The bytes are built and decoded in netlink-messages.ts;
 * this file owns the socket, sends one request at a time and reads until the reply that ends it.
 *
 * Every call is synchronous: the kernel handles a request inside sendmsg and queues the whole reply (or, for a
 * dump, produces the next part on each recvmsg), so nothing here waits on the event loop.
 */

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = OpenFlags.CLOEXEC;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
/** SO_RCVTIMEO (SO_RCVTIMEO_OLD, struct timeval) on x86_64 and arm64. */
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
/** Error replies echo only the request's header, not the whole request. */
const NETLINK_CAP_ACK = 10;
/** Error replies carry the kernel's explanation ("Unknown device type", ...), which goes into our messages. */
const NETLINK_EXT_ACK = 11;
const MSG_PEEK = 0x2;
const MSG_TRUNC = 0x20;
const SOCKADDR_NL_SIZE = 12;

const EINTR = 4;
const EAGAIN = 11;
const ENODEV = 19;

/** Big enough for any dump datagram (the kernel caps those at 32 KiB); a larger single reply grows it. */
const RECEIVE_BUFFER_SIZE = 64 * 1024;
/** The kernel answers at once; this only turns a bug that loses a reply into an error instead of a hang. */
const REPLY_TIMEOUT_SECONDS = 10;
/** A dump that a concurrent change interrupted (NLM_F_DUMP_INTR) is inconsistent; it is retried this often. */
const DUMP_ATTEMPTS = 3;

/** A link by name or by interface index. */
export type LinkRef = string | number;
export type Link = nl.LinkMessage;
export type Address = nl.AddressMessage;
export type Route = nl.RouteMessage;

export interface RouteSpec {
  /** Destination network; omitted for the default route. */
  dst?: string;
  /** Prefix length of dst: 32 when dst is given without one. */
  dstPrefix?: number;
  /** Next hop; without one the route is a device route (link scope). */
  gateway?: string;
  /** The outgoing interface. */
  oif: LinkRef;
}

/**
 * A failed rtnetlink request: `netlink: <operation> <object>: <ENAME> (<text>)`, followed by the kernel's own
 * explanation when it gave one (extended ack), still on one line.
 */
export class NetlinkError extends SyscallError {
  readonly detail: string | undefined;

  constructor(operation: string, errnoValue: number, object?: string, detail?: string) {
    super(`netlink: ${operation}`, errnoValue, object);
    this.name = 'NetlinkError';
    this.detail = detail;
    if (detail) this.message = `${this.message}: ${detail.replace(/\s+/g, ' ')}`;
  }
}

function close(fd: number): void {
  fn('int close(int)')(fd);
}

function openReadOnly(path: string, operation: string): number {
  const flags = OpenFlags.RDONLY | OpenFlags.CLOEXEC;
  return check(fn('int open(const char *, int, ...)')(path, flags, 'uint32_t', 0), operation, `\`${path}\``);
}

/**
 * A bound NETLINK_ROUTE socket in the network namespace of the calling thread. Port id 0 lets the kernel pick
 * one. NETLINK_CAP_ACK and NETLINK_EXT_ACK only improve error replies, so a kernel without them is no error.
 */
function newRouteSocket(): number {
  const fd = check(fn('int socket(int, int, int)')(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), 'netlink: socket', 'NETLINK_ROUTE');
  try {
    const address = Buffer.alloc(SOCKADDR_NL_SIZE); // { u16 nl_family; u16 pad; u32 nl_pid; u32 nl_groups }
    address.writeUInt16LE(AF_NETLINK, 0);
    check(fn('int bind(int, void *, uint32_t)')(fd, address, SOCKADDR_NL_SIZE), 'netlink: bind', 'NETLINK_ROUTE');
    const setsockopt = fn('int setsockopt(int, int, int, void *, uint32_t)');
    const one = Buffer.alloc(4);
    one.writeInt32LE(1, 0);
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
    const timeout = Buffer.alloc(16); // struct timeval { long tv_sec; long tv_usec; }
    timeout.writeBigInt64LE(BigInt(REPLY_TIMEOUT_SECONDS), 0);
    check(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, 16), 'netlink: setsockopt SO_RCVTIMEO', 'NETLINK_ROUTE');
  } catch (error) {
    close(fd);
    throw error;
  }
  return fd;
}

/** An rtnetlink socket in tsrun's own network namespace. */
export function openRtNetlink(): RtNetlink {
  return new RtNetlink(newRouteSocket());
}

/**
 * An rtnetlink socket in the network namespace at `netnsPath` (`/proc/<pid>/ns/net`, `/run/netns/<name>`): every
 * request on it acts there, names are looked up there.
 *
 * A netlink socket belongs, for its whole life, to the network namespace of the thread that created it, so it is
 * enough to be in the target namespace for the moment of socket(). Node is multi-threaded, and setns(2) with
 * CLONE_NEWNET moves only the calling thread (the one running this JavaScript: tsrun's main thread): libuv's
 * worker threads stay where they are, and since this function is synchronous no other JavaScript, callback or
 * promise can run on this thread while it is in the other namespace. The thread goes back to the namespace it
 * came from (held open as /proc/thread-self/ns/net; /proc/self/ns/net would be the main thread's, wrong from a
 * worker thread) in a finally. If that fails the socket is closed and the error thrown: the thread cannot be
 * repaired, and it must never carry on quietly in the container's namespace.
 */
export function openRtNetlinkIn(netnsPath: string): RtNetlink {
  const setns = fn('int setns(int, int)');
  const original = openReadOnly('/proc/thread-self/ns/net', 'netlink: open the current network namespace');
  let target = -1;
  try {
    target = openReadOnly(netnsPath, 'netlink: open network namespace');
    check(setns(target, CloneFlags.NEWNET), 'netlink: enter network namespace', `\`${netnsPath}\``);
    let fd = -1;
    try {
      fd = newRouteSocket();
    } finally {
      if ((setns(original, CloneFlags.NEWNET) as number) < 0) {
        const e = errno();
        if (fd >= 0) close(fd);
        // Thrown from finally on purpose: this outranks whatever newRouteSocket may have thrown.
        // eslint-disable-next-line no-unsafe-finally
        throw new SyscallError('netlink: return to the original network namespace from', e, `\`${netnsPath}\``);
      }
    }
    return new RtNetlink(fd, netnsPath);
  } finally {
    if (target >= 0) close(target);
    close(original);
  }
}

export class RtNetlink {
  private fd: number;
  private seq = 0;
  private buffer = Buffer.alloc(RECEIVE_BUFFER_SIZE);
  /** Added to the objects in error messages when the socket lives in another namespace, so they say where. */
  private readonly where: string;

  /** Takes ownership of a bound NETLINK_ROUTE socket; use openRtNetlink / openRtNetlinkIn. */
  constructor(fd: number, readonly netnsPath?: string) {
    this.fd = fd;
    this.where = netnsPath === undefined ? '' : `in ${netnsPath}`;
  }

  close(): void {
    if (this.fd >= 0) close(this.fd);
    this.fd = -1;
  }

  // ---- links

  /** The link called `name`, or undefined when there is none. */
  linkByName(name: string): Link | undefined {
    try {
      const replies = this.transact((seq) => nl.getLink(seq, name), 'look up link', name);
      const reply = replies.find((m) => m.type === nl.RTM_NEWLINK);
      return reply && nl.parseLink(reply);
    } catch (error) {
      if (error instanceof NetlinkError && error.errno === ENODEV) return undefined;
      throw error;
    }
  }

  /** The link by name or index; ENODEV when there is none. */
  link(link: LinkRef): Link {
    if (typeof link === 'string') {
      const found = this.linkByName(link);
      if (!found) throw this.error('look up link', ENODEV, link);
      return found;
    }
    const found = this.links().find((l) => l.index === link);
    if (!found) throw this.error('look up link', ENODEV, describeLink(link));
    return found;
  }

  links(): Link[] {
    return this.dump((seq) => nl.dumpLinks(seq), 'list links', nl.RTM_NEWLINK).map(nl.parseLink);
  }

  /** A new bridge, down; EEXIST when a link of that name exists. */
  createBridge(name: string): Link {
    this.transact((seq) => nl.newBridge(seq, name), 'create bridge', name);
    return this.link(name);
  }

  /** A new VXLAN device (down), its peers added with appendFdb. */
  createVxlan(name: string, spec: nl.VxlanSpec): Link {
    this.transact((seq) => nl.newVxlan(seq, name, spec), 'create vxlan', name);
    return this.link(name);
  }

  /** Floods broadcast and unknown frames of the VXLAN device `link` to `peer` as well (idempotent). */
  appendFdb(link: LinkRef, peer: string): void {
    const index = this.indexOf(link, 'add forwarding entry');
    this.transact((seq) => nl.appendFdb(seq, index, peer), 'add forwarding entry', `${peer} on ${describeLink(link)}`);
  }

  /**
   * A new veth pair, both ends down. With `peerNetnsFd` (an open network namespace) the peer is created directly
   * in that namespace. Returns the host end.
   */
  createVethPair(hostName: string, peerName: string, peerNetnsFd?: number): Link {
    const object = `${hostName} (peer ${peerName}${peerNetnsFd === undefined ? '' : ` in netns fd ${peerNetnsFd}`})`;
    this.transact((seq) => nl.newVethPair(seq, hostName, peerName, peerNetnsFd), 'create veth pair', object);
    return this.link(hostName);
  }

  setUp(link: LinkRef): void {
    const index = this.indexOf(link, 'set up');
    this.transact((seq) => nl.setLinkUp(seq, index), 'set up', describeLink(link));
  }

  setDown(link: LinkRef): void {
    const index = this.indexOf(link, 'set down');
    this.transact((seq) => nl.setLinkDown(seq, index), 'set down', describeLink(link));
  }

  setMtu(link: LinkRef, mtu: number): void {
    const index = this.indexOf(link, 'set MTU of');
    this.transact((seq) => nl.setLinkMtu(seq, index, mtu), 'set MTU of', `${describeLink(link)} to ${mtu}`);
  }

  setAlias(link: LinkRef, alias: string): void {
    const index = this.indexOf(link, 'set alias of');
    this.transact((seq) => nl.setLinkAlias(seq, index, alias), 'set alias of', `${describeLink(link)} to ${JSON.stringify(alias)}`);
  }

  /** Attaches `link` to the bridge `master`; null detaches it. */
  setMaster(link: LinkRef, master: LinkRef | null): void {
    const index = this.indexOf(link, 'attach');
    if (master === null) {
      this.transact((seq) => nl.setLinkMaster(seq, index, 0), 'detach', `${describeLink(link)} from its master`);
      return;
    }
    const masterIndex = this.indexOf(master, 'attach', `${describeLink(link)} to ${describeLink(master)}`);
    this.transact((seq) => nl.setLinkMaster(seq, index, masterIndex), 'attach', `${describeLink(link)} to ${describeLink(master)}`);
  }

  /** Moves `link` into the network namespace open as `netnsFd`; it arrives there down and without addresses. */
  moveToNetns(link: LinkRef, netnsFd: number): void {
    const index = this.indexOf(link, 'move');
    this.transact((seq) => nl.setLinkNetns(seq, index, netnsFd), 'move', `${describeLink(link)} to netns fd ${netnsFd}`);
  }

  /** Safest while the link is down: kernels before 6.2 refuse to rename a running link (EBUSY). */
  rename(link: LinkRef, newName: string): void {
    const index = this.indexOf(link, 'rename');
    this.transact((seq) => nl.renameLink(seq, index, newName), 'rename', `${describeLink(link)} to ${newName}`);
  }

  /** Deletes the link (a veth pair goes as a whole); ENODEV when there is none. */
  deleteLink(link: LinkRef): void {
    const request = typeof link === 'string'
      ? (seq: number) => nl.deleteLinkByName(seq, link)
      : (seq: number) => nl.deleteLink(seq, link);
    this.transact(request, 'delete link', describeLink(link));
  }

  /** deleteLink for cleanup paths: false when there was no such link. */
  deleteLinkIfExists(link: LinkRef): boolean {
    try {
      this.deleteLink(link);
      return true;
    } catch (error) {
      if (error instanceof NetlinkError && error.errno === ENODEV) return false;
      throw error;
    }
  }

  // ---- addresses and routes

  /** Adds the IPv4 address `address/prefix` to `link` (which also adds the prefix route once the link is up). */
  addAddress(link: LinkRef, address: string, prefix: number): void {
    const object = `${address}/${prefix} to ${describeLink(link)}`;
    const index = this.indexOf(link, 'add address', object);
    this.transact((seq) => nl.newAddress(seq, index, address, prefix), 'add address', object);
  }

  /** The IPv4 addresses of every link. */
  addresses(): Address[] {
    return this.dump((seq) => nl.dumpAddresses(seq), 'list addresses', nl.RTM_NEWADDR).map(nl.parseAddress);
  }

  /**
   * Adds an IPv4 route to the main table. A gateway must be reachable from `oif` already (an address of its
   * subnet on the link, and the link up), or the kernel answers ENETUNREACH.
   */
  addRoute(route: RouteSpec): void {
    const destination = route.dst === undefined ? 'default' : `${route.dst}/${route.dstPrefix ?? 32}`;
    const object = `${destination}${route.gateway === undefined ? '' : ` via ${route.gateway}`} dev ${describeLink(route.oif)}`;
    const oif = this.indexOf(route.oif, 'add route', object);
    this.transact((seq) => nl.newRoute(seq, { dst: route.dst, dstPrefix: route.dstPrefix, gateway: route.gateway, oif }), 'add route', object);
  }

  /** The IPv4 routes of every table (main, local, ...): see each route's `table`. */
  routes(): Route[] {
    return this.dump((seq) => nl.dumpRoutes(seq), 'list routes', nl.RTM_NEWROUTE).map(nl.parseRoute);
  }

  // ---- the exchange

  /** "eth0 in /run/netns/x": the object of an error message, and where it is. */
  private locate(object: string): string {
    return [object, this.where].filter((part) => part !== '').join(' ');
  }

  private error(operation: string, errnoValue: number, object: string, detail?: string): NetlinkError {
    return new NetlinkError(operation, errnoValue, this.locate(object), detail);
  }

  /** An error that is no errno: `netlink: <operation> <object>: <what happened>`. */
  private failure(operation: string, object: string, what: string): RuntimeError {
    const located = this.locate(object);
    return new RuntimeError('netlink', `netlink: ${operation}${located ? ` ${located}` : ''}: ${what}`);
  }

  private indexOf(link: LinkRef, operation: string, object = describeLink(link)): number {
    if (typeof link === 'number') return link;
    const found = this.linkByName(link);
    if (!found) throw this.error(operation, ENODEV, object);
    return found.index;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  /**
   * Sends one request and returns the messages answering it, up to the NLMSG_ERROR that ends it (error 0 is the
   * ACK) or the NLMSG_DONE that ends a dump. Messages with another sequence number are the rest of an earlier
   * exchange that failed halfway and are skipped.
   */
  private transact(build: (seq: number) => Buffer, operation: string, object: string): nl.NetlinkMessage[] {
    if (this.fd < 0) throw this.failure(operation, object, 'the netlink socket is closed');
    const seq = this.nextSeq();
    const request = build(seq);
    this.send(request, operation, object);
    const replies: nl.NetlinkMessage[] = [];
    for (;;) {
      for (const m of this.receive(operation, object)) {
        if (m.seq !== seq || m.type === nl.NLMSG_NOOP) continue;
        if (m.type === nl.NLMSG_ERROR || m.type === nl.NLMSG_DONE) {
          const { errno: code, detail } = nl.parseErrorReply(m);
          if (code !== 0) throw this.error(operation, code, object, detail);
          return replies;
        }
        if (m.type === nl.NLMSG_OVERRUN) throw this.failure(operation, object, 'the kernel reported lost messages');
        replies.push(m);
      }
    }
  }

  private dump(build: (seq: number) => Buffer, operation: string, type: number): nl.NetlinkMessage[] {
    for (let attempt = 1; ; attempt++) {
      const replies = this.transact(build, operation, '');
      const interrupted = replies.some((m) => m.flags & nl.NLM_F_DUMP_INTR);
      if (!interrupted) return replies.filter((m) => m.type === type);
      if (attempt === DUMP_ATTEMPTS) {
        throw this.failure(operation, '', `the dump kept changing while it was read (${DUMP_ATTEMPTS} attempts)`);
      }
    }
  }

  private send(request: Buffer, operation: string, object: string): void {
    const send = fn('long send(int, void *, size_t, int)');
    for (;;) {
      const sent = Number(send(this.fd, request, request.length, 0));
      if (sent === request.length) return;
      if (sent >= 0) throw this.failure(operation, object, `short send, ${sent} of ${request.length} bytes`);
      const e = errno();
      if (e !== EINTR) throw this.error(operation, e, object);
    }
  }

  /**
   * One datagram, split into messages (copied: the receive buffer is reused). A peek with MSG_TRUNC first
   * gives the datagram's full length, so a reply larger than the buffer grows the buffer instead of being cut.
   */
  private receive(operation: string, object: string): nl.NetlinkMessage[] {
    const size = this.recv(MSG_PEEK | MSG_TRUNC, operation, object);
    if (size > this.buffer.length) this.buffer = Buffer.alloc(nl.align4(size));
    const length = this.recv(0, operation, object);
    return nl.parseMessages(Buffer.from(this.buffer.subarray(0, length)));
  }

  private recv(flags: number, operation: string, object: string): number {
    const recv = fn('long recv(int, void *, size_t, int)');
    for (;;) {
      const result = Number(recv(this.fd, this.buffer, this.buffer.length, flags));
      if (result >= 0) return result;
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) {
        throw this.failure(operation, object, `no reply from the kernel within ${REPLY_TIMEOUT_SECONDS} s`);
      }
      throw this.error(operation, e, object);
    }
  }
}

function describeLink(link: LinkRef): string {
  return typeof link === 'string' ? link : `ifindex ${link}`;
}
