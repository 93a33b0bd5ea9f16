import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IFF_UP, RTPROT_BOOT, RT_TABLE_MAIN } from '../../src/linux/netlink-messages';
import { NetlinkError, openRtNetlink, openRtNetlinkIn, type RtNetlink } from '../../src/linux/netlink';
import { errorOf } from '../helpers/errors';
import { isRoot } from '../helpers/tsrun';

/*
 * rtnetlink against the real kernel, entirely inside two scratch network namespaces made with `ip netns add`:
 * NS_HOST plays the host (bridge + host end of the veth), NS_CONTAINER the container (the peer, its address and
 * default route). Nothing touches the machine's own interfaces; afterAll deletes both namespaces, which also
 * destroys every link left in them.
 */

function run(command: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const hasIp = run('ip', ['-V']).status === 0;
/** ping from iputils when installed, else busybox's. */
const ping = run('ping', ['-V']).status === 0 ? ['ping'] : fs.existsSync('/bin/busybox') ? ['/bin/busybox', 'ping'] : undefined;
const skipReason = !isRoot ? 'needs root' : !hasIp ? 'needs iproute2 (ip)' : !ping ? 'needs ping or busybox' : undefined;

const id = randomBytes(4).toString('hex');
const NS_HOST = `tsrun-nl-${id}-h`;
const NS_CONTAINER = `tsrun-nl-${id}-c`;
const HOST_PATH = `/run/netns/${NS_HOST}`;
const CONTAINER_PATH = `/run/netns/${NS_CONTAINER}`;

function ip<T = unknown>(netns: string, ...args: string[]): T {
  const r = run('ip', ['-n', netns, '-j', ...args]);
  if (r.status !== 0) throw new Error(`ip -n ${netns} -j ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

interface IpLink { ifindex: number; ifname: string; flags: string[]; master?: string; linkinfo?: { info_kind?: string } }
interface IpAddr { ifname: string; addr_info: Array<{ family: string; local: string; prefixlen: number }> }
interface IpRoute { dst: string; gateway?: string; dev: string; protocol?: string; scope?: string }

function threadNetns(): string {
  return fs.readlinkSync('/proc/thread-self/ns/net');
}

describe.skipIf(skipReason !== undefined)(`rtnetlink in scratch network namespaces${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const sockets: RtNetlink[] = [];
  let host: RtNetlink;
  let container: RtNetlink;

  function open(path: string): RtNetlink {
    const socket = openRtNetlinkIn(path);
    sockets.push(socket);
    return socket;
  }

  /** An fd of the container namespace for the duration of `use`. */
  function withContainerFd<T>(use: (fd: number) => T): T {
    const fd = fs.openSync(CONTAINER_PATH, 'r');
    try {
      return use(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  beforeAll(() => {
    for (const ns of [NS_HOST, NS_CONTAINER]) {
      const r = run('ip', ['netns', 'add', ns]);
      if (r.status !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr.trim()}`);
    }
    host = open(HOST_PATH);
    container = open(CONTAINER_PATH);
  });

  afterAll(() => {
    for (const socket of sockets) socket.close();
    for (const ns of [NS_HOST, NS_CONTAINER]) run('ip', ['netns', 'del', ns]);
    const left = run('ip', ['netns', 'list']).stdout;
    expect(left).not.toContain(`tsrun-nl-${id}`);
  });

  it('opens the socket in the target namespace and leaves the thread where it was', () => {
    const before = threadNetns();
    const socket = open(HOST_PATH);
    expect(threadNetns()).toBe(before);
    // The scratch namespace has nothing but its loopback, which the host's dump would not show alone.
    expect(socket.links().map((l) => l.name)).toEqual(['lo']);
    expect(errorOf(() => openRtNetlinkIn(`/run/netns/${NS_HOST}-missing`)).message).toBe(
      `netlink: open network namespace \`/run/netns/${NS_HOST}-missing\`: ENOENT (No such file or directory)`,
    );
    // A namespace file of another type: setns refuses it, and the thread is still where it was.
    expect(errorOf(() => openRtNetlinkIn('/proc/self/ns/uts')).message).toBe(
      'netlink: enter network namespace `/proc/self/ns/uts`: EINVAL (Invalid argument)',
    );
    expect(threadNetns()).toBe(before);
  });

  it('opens a socket in its own namespace too (only read here: the machine\'s links are not touched)', () => {
    const own = openRtNetlink();
    sockets.push(own);
    expect(own.netnsPath).toBeUndefined();
    expect(own.linkByName('lo')).toMatchObject({ index: 1, name: 'lo' });
  });

  it('creates a bridge, brings it up and gives it an address', () => {
    const bridge = host.createBridge('tsrun0');
    expect(bridge).toMatchObject({ name: 'tsrun0', kind: 'bridge' });
    expect(bridge.flags & IFF_UP).toBe(0);
    host.setUp('tsrun0');
    host.addAddress('tsrun0', '10.77.0.1', 24);

    expect(host.linkByName('tsrun0')!.flags & IFF_UP).toBe(IFF_UP);
    const [link] = ip<IpLink[]>(NS_HOST, '-d', 'link', 'show', 'dev', 'tsrun0');
    expect(link).toMatchObject({ ifindex: bridge.index, ifname: 'tsrun0', linkinfo: { info_kind: 'bridge' } });
    expect(link!.flags).toContain('UP');
    const [addr] = ip<IpAddr[]>(NS_HOST, 'addr', 'show', 'dev', 'tsrun0');
    expect(addr!.addr_info).toContainEqual(expect.objectContaining({ family: 'inet', local: '10.77.0.1', prefixlen: 24 }));
    expect(host.addresses()).toContainEqual(expect.objectContaining({ index: bridge.index, family: 2, prefix: 24, local: '10.77.0.1', label: 'tsrun0' }));
    expect(host.links().find((l) => l.name === 'tsrun0')).toMatchObject({ index: bridge.index, kind: 'bridge' });
  });

  it('refuses a second bridge of the same name in one line that names it', () => {
    const error = errorOf(() => host.createBridge('tsrun0'));
    expect(error).toBeInstanceOf(NetlinkError);
    expect((error as NetlinkError).errno).toBe(17);
    expect(error.message).toMatch(new RegExp(`^netlink: create bridge tsrun0 in ${HOST_PATH}: EEXIST \\(File exists\\)`));
    expect(error.message).not.toContain('\n');
  });

  it('creates a veth pair with the peer directly in the container namespace and attaches the host end to the bridge', () => {
    const hostEnd = withContainerFd((fd) => host.createVethPair('veth-nl0', 'eth0', fd));
    expect(hostEnd).toMatchObject({ name: 'veth-nl0', kind: 'veth' });
    expect(host.linkByName('eth0')).toBeUndefined();
    expect(container.linkByName('eth0')).toMatchObject({ name: 'eth0', kind: 'veth' });

    host.setMaster('veth-nl0', 'tsrun0');
    host.setUp(hostEnd.index);
    const bridge = host.linkByName('tsrun0')!;
    expect(host.linkByName('veth-nl0')).toMatchObject({ master: bridge.index });
    const [link] = ip<IpLink[]>(NS_HOST, 'link', 'show', 'dev', 'veth-nl0');
    expect(link).toMatchObject({ ifname: 'veth-nl0', master: 'tsrun0' });
    expect(link!.flags).toContain('UP');
    expect(ip<IpLink[]>(NS_CONTAINER, 'link', 'show', 'dev', 'eth0')).toHaveLength(1);
  });

  it('configures the container side through a socket opened in its namespace; the container reaches the bridge', () => {
    container.addAddress('eth0', '10.77.0.2', 24);
    container.setUp('eth0');
    container.setUp('lo');
    container.addRoute({ gateway: '10.77.0.1', oif: 'eth0' });

    const eth0 = container.linkByName('eth0')!;
    const routes = container.routes();
    expect(routes).toContainEqual(expect.objectContaining({ dst: '0.0.0.0', prefix: 0, gateway: '10.77.0.1', oif: eth0.index, table: RT_TABLE_MAIN, protocol: RTPROT_BOOT, scope: 0 }));
    expect(routes).toContainEqual(expect.objectContaining({ dst: '10.77.0.0', prefix: 24, oif: eth0.index, table: RT_TABLE_MAIN, scope: 253, prefsrc: '10.77.0.2' }));
    // `ip -j route` leaves out the protocol when it is "boot".
    expect(ip<IpRoute[]>(NS_CONTAINER, 'route', 'show')).toContainEqual(expect.objectContaining({ dst: 'default', gateway: '10.77.0.1', dev: 'eth0' }));
    const [addr] = ip<IpAddr[]>(NS_CONTAINER, 'addr', 'show', 'dev', 'eth0');
    expect(addr!.addr_info).toContainEqual(expect.objectContaining({ family: 'inet', local: '10.77.0.2', prefixlen: 24 }));

    // The bridge port may take a moment to forward: a few tries.
    let result = run('ip', ['netns', 'exec', NS_CONTAINER, ...ping!, '-c1', '-W1', '10.77.0.1']);
    for (let attempt = 1; result.status !== 0 && attempt < 5; attempt++) {
      result = run('ip', ['netns', 'exec', NS_CONTAINER, ...ping!, '-c1', '-W1', '10.77.0.1']);
    }
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it('adds a device route with link scope', () => {
    container.addRoute({ dst: '10.78.0.0', dstPrefix: 16, oif: 'eth0' });
    expect(ip<IpRoute[]>(NS_CONTAINER, 'route', 'show')).toContainEqual(expect.objectContaining({ dst: '10.78.0.0/16', dev: 'eth0', scope: 'link' }));
  });

  it('reports what the kernel refuses in one line naming the object and the namespace', () => {
    const unreachable = errorOf(() => container.addRoute({ dst: '10.99.0.0', dstPrefix: 16, gateway: '10.99.0.1', oif: 'eth0' }));
    expect(unreachable.message).toMatch(new RegExp(`^netlink: add route 10\\.99\\.0\\.0/16 via 10\\.99\\.0\\.1 dev eth0 in ${CONTAINER_PATH}: `));
    expect(unreachable.message).not.toContain('\n');
    // ENETUNREACH; errno.ts may not know its name. The kernel's explanation (extended ack) follows on the line.
    expect(unreachable.message).toMatch(/: (ENETUNREACH|errno 101) \(.*\): Nexthop has invalid gateway$/);
    expect(errorOf(() => container.addAddress('eth0', '10.77.0.2', 24)).message).toMatch(
      new RegExp(`^netlink: add address 10\\.77\\.0\\.2/24 to eth0 in ${CONTAINER_PATH}: EEXIST \\(File exists\\)`),
    );
    expect(errorOf(() => container.setUp('nothere')).message).toBe(`netlink: set up nothere in ${CONTAINER_PATH}: ENODEV (No such device)`);
  });

  it('moves, renames and deletes links; deleting one end of a veth pair deletes both', () => {
    host.createVethPair('tmp-a', 'tmp-b');
    withContainerFd((fd) => host.moveToNetns('tmp-b', fd));
    expect(host.linkByName('tmp-b')).toBeUndefined();
    expect(container.linkByName('tmp-b')).toMatchObject({ kind: 'veth' });
    container.rename('tmp-b', 'eth1');
    expect(container.linkByName('tmp-b')).toBeUndefined();
    expect(ip<IpLink[]>(NS_CONTAINER, 'link', 'show', 'dev', 'eth1')).toHaveLength(1);

    host.deleteLink('tmp-a');
    expect(host.linkByName('tmp-a')).toBeUndefined();
    expect(container.linkByName('eth1')).toBeUndefined();
    expect(host.deleteLinkIfExists('tmp-a')).toBe(false);
    expect(errorOf(() => host.deleteLink('tmp-a')).message).toBe(`netlink: delete link tmp-a in ${HOST_PATH}: ENODEV (No such device)`);

    const bridge = host.linkByName('tsrun0')!;
    expect(host.deleteLinkIfExists(bridge.index)).toBe(true);
    expect(host.deleteLinkIfExists('veth-nl0')).toBe(true);
    expect(container.linkByName('eth0')).toBeUndefined();
    expect(host.links().map((l) => l.name)).toEqual(['lo']);
    expect(ip<IpLink[]>(NS_HOST, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
  });

  it('refuses requests on a closed socket', () => {
    const socket = open(HOST_PATH);
    socket.close();
    socket.close();
    expect(errorOf(() => socket.links()).message).toBe(`netlink: list links in ${HOST_PATH}: the netlink socket is closed`);
  });

  it('grows its receive buffer for a datagram larger than it (peeked with MSG_TRUNC) instead of losing data', () => {
    const socket = open(HOST_PATH);
    // Reaching into the private buffer is the only way to get a reply larger than 64 KiB without hundreds of VFs.
    const internals = socket as unknown as { buffer: Buffer };
    internals.buffer = Buffer.alloc(256);
    expect(socket.linkByName('lo')).toMatchObject({ index: 1, name: 'lo' });
    expect(internals.buffer.length).toBeGreaterThan(256);
  });

  // Last: it leaves its bridges for afterAll, which removes them with the namespace in one go (deleting them one
  // by one costs an RCU grace period, ~35 ms, each).
  it('reads a link dump that spans several datagrams', () => {
    // A bridge's RTM_NEWLINK is ~3 KiB and the kernel fills dump datagrams up to 32 KiB: 40 take 4 or more.
    const names = Array.from({ length: 40 }, (_, i) => `many${i}`);
    for (const name of names) host.createBridge(name);
    const links = host.links();
    expect(links.map((l) => l.name).filter((n) => n.startsWith('many'))).toEqual(names);
    expect(links.every((l) => l.name === 'lo' || l.kind === 'bridge')).toBe(true);
    expect(ip<IpLink[]>(NS_HOST, 'link', 'show')).toHaveLength(links.length);
  });
});
