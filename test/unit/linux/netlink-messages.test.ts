import { describe, expect, it } from 'vitest';
import * as nl from '../../../src/linux/netlink-messages';
import { errorOf } from '../../helpers/errors';

/*
 * Requests are checked byte for byte against layouts written out by hand from the uapi headers; replies are
 * built by hand the same way (the helpers below deliberately do not use the module's encoders).
 */

function hex(buffer: Buffer): string {
  return buffer.toString('hex');
}

/** A raw rtattr: u16 length (without padding), u16 type, payload, zero padding to 4 bytes. */
function rta(type: number, payload: Buffer): Buffer {
  const out = Buffer.alloc((4 + payload.length + 3) & ~3);
  out.writeUInt16LE(4 + payload.length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value, 0);
  return b;
}

function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`);
}

/** A raw netlink message: nlmsghdr then the body (padded). */
function nlmsg(type: number, flags: number, seq: number, body: Buffer, pid = 4242): Buffer {
  const out = Buffer.alloc(16 + ((body.length + 3) & ~3));
  out.writeUInt32LE(16 + body.length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq, 8);
  out.writeUInt32LE(pid, 12);
  body.copy(out, 16);
  return out;
}

function header(buffer: Buffer): { length: number; type: number; flags: number; seq: number; pid: number } {
  return {
    length: buffer.readUInt32LE(0),
    type: buffer.readUInt16LE(4),
    flags: buffer.readUInt16LE(6),
    seq: buffer.readUInt32LE(8),
    pid: buffer.readUInt32LE(12),
  };
}

describe('attributes', () => {
  it('NUL-terminates strings; rta_len counts the payload, the buffer is padded to 4 bytes with zeros', () => {
    expect(hex(nl.stringAttribute(nl.IFLA_IFNAME, 'br0'))).toBe('0800' + '0300' + '62723000');
    const eth0 = nl.stringAttribute(nl.IFLA_IFNAME, 'eth0');
    expect(eth0.length).toBe(12);
    expect(hex(eth0)).toBe('0900' + '0300' + '6574683000' + '000000');
  });

  it('writes u32 in host (little endian) order and IPv4 addresses in network order', () => {
    expect(hex(nl.u32Attribute(nl.IFLA_MASTER, 0x01020304))).toBe('0800' + '0a00' + '04030201');
    expect(hex(nl.ipv4Attribute(nl.RTA_GATEWAY, '10.77.0.1'))).toBe('0800' + '0500' + '0a4d0001');
  });

  it('sets NLA_F_NESTED on nests, whose length includes the padding of the last member', () => {
    const nest = nl.nestedAttribute(nl.IFLA_LINKINFO, [nl.stringAttribute(nl.IFLA_INFO_KIND, 'bridge')]);
    // kind: 4 + 7 ("bridge\0") = 11, padded to 12; nest: 4 + 12 = 16.
    expect(hex(nest)).toBe('1000' + '1280' + '0b00' + '0100' + '62726964676500' + '00');
    const parsed = nl.parseAttributes(nest);
    expect(parsed).toHaveLength(1);
    expect(parsed[0]!.type).toBe(nl.IFLA_LINKINFO); // the flag is masked out when parsing
    expect(parsed[0]!.value.length).toBe(12);
  });

  it('refuses an attribute that does not fit rta_len', () => {
    expect(errorOf(() => nl.attribute(1, Buffer.alloc(0x10000))).message).toBe('netlink: attribute 1 too large (65540 bytes)');
  });
});

describe('requests', () => {
  it('newBridge: RTM_NEWLINK with CREATE|EXCL|ACK, an empty ifinfomsg, IFLA_IFNAME and LINKINFO{KIND "bridge"}', () => {
    const m = nl.newBridge(7, 'br0');
    expect(header(m)).toEqual({ length: 56, type: 16, flags: 0x1 | 0x4 | 0x400 | 0x200, seq: 7, pid: 0 });
    expect(m.length).toBe(56);
    expect(hex(m.subarray(16))).toBe(
      '00000000' + '00000000' + '00000000' + '00000000' // ifinfomsg: family, pad, type, index, flags, change
      + '0800' + '0300' + '62723000' // IFLA_IFNAME "br0"
      + '1000' + '1280' + '0b00' + '0100' + '627269646765' + '0000', // IFLA_LINKINFO { IFLA_INFO_KIND "bridge" }
    );
  });

  it('newVethPair: the peer is an ifinfomsg plus its own attributes inside LINKINFO/INFO_DATA/VETH_INFO_PEER', () => {
    const m = nl.newVethPair(9, 'veth1234', 'eth0', 5);
    const h = header(m);
    expect(h).toMatchObject({ type: nl.RTM_NEWLINK, flags: 0x605, seq: 9 });
    expect(h.length).toBe(m.length);
    expect(h.length % 4).toBe(0);
    expect(m.subarray(16, 32).equals(Buffer.alloc(16))).toBe(true);
    const outer = nl.parseAttributes(m.subarray(32));
    expect(outer.map((a) => a.type)).toEqual([nl.IFLA_IFNAME, nl.IFLA_LINKINFO]);
    expect(outer[0]!.value.toString()).toBe('veth1234\0');
    expect(m.readUInt16LE(32 + 16 + 2)).toBe(nl.IFLA_LINKINFO | nl.NLA_F_NESTED); // after "veth1234\0", padded to 16
    const info = nl.parseAttributes(outer[1]!.value);
    expect(info.map((a) => [a.type, a.value.length])).toEqual([[nl.IFLA_INFO_KIND, 5], [nl.IFLA_INFO_DATA, 4 + 16 + 12 + 8]]);
    expect(info[0]!.value.toString()).toBe('veth\0');
    const data = nl.parseAttributes(info[1]!.value);
    expect(data).toHaveLength(1);
    expect(data[0]!.type).toBe(nl.VETH_INFO_PEER);
    const peer = data[0]!.value;
    // VETH_INFO_PEER is not a plain nest: no NLA_F_NESTED on it, and an ifinfomsg comes before its attributes.
    expect(info[1]!.value.readUInt16LE(2)).toBe(nl.VETH_INFO_PEER);
    expect(peer.subarray(0, 16).equals(Buffer.alloc(16))).toBe(true);
    expect(hex(peer.subarray(16))).toBe('0900' + '0300' + '6574683000000000' + '0800' + '1c00' + '05000000');
  });

  it('newVxlan: LINKINFO{KIND "vxlan", DATA{ID u32, PORT big-endian u16, LEARNING u8, LOCAL}}', () => {
    const m = nl.newVxlan(5, 'tsvx4242', { vni: 4242, port: 4789, local: '10.77.0.1' });
    expect(header(m)).toMatchObject({ type: nl.RTM_NEWLINK, flags: 0x605, seq: 5, length: m.length });
    const outer = nl.parseAttributes(m.subarray(32));
    expect(outer.map((a) => a.type)).toEqual([nl.IFLA_IFNAME, nl.IFLA_LINKINFO]);
    const info = nl.parseAttributes(outer[1]!.value);
    expect(info[0]!.value.toString()).toBe('vxlan\0');
    const data = nl.parseAttributes(info[1]!.value);
    expect(data.map((a) => [a.type, hex(a.value)])).toEqual([
      [nl.IFLA_VXLAN_ID, '92100000'], // 4242 = 0x1092, little endian
      [nl.IFLA_VXLAN_PORT, '12b5'], // 4789 = 0x12b5, network byte order
      [nl.IFLA_VXLAN_LEARNING, '01'],
      [nl.IFLA_VXLAN_LOCAL, '0a4d0001'],
    ]);
    expect(nl.newVxlan(1, 'v', { vni: 1, port: 8472 }).includes(Buffer.from([0x08, 0x00, 0x04, 0x00]))).toBe(false);
  });

  it('newVxlan refuses an id or port out of range, naming it', () => {
    expect(errorOf(() => nl.newVxlan(1, 'v', { vni: 0x1000000, port: 4789 })).message).toBe('VXLAN id: expected 1 to 16777215, got 16777216');
    expect(errorOf(() => nl.newVxlan(1, 'v', { vni: 1, port: 0 })).message).toBe('VXLAN port: expected 1 to 65535, got 0');
  });

  it('appendFdb: RTM_NEWNEIGH with CREATE|APPEND, an AF_BRIDGE ndmsg (PERMANENT|NOARP, NTF_SELF), zero MAC and DST', () => {
    const m = nl.appendFdb(8, 12, '10.77.0.2');
    expect(header(m)).toEqual({ length: 16 + 12 + 12 + 8, type: nl.RTM_NEWNEIGH, flags: 0x1 | 0x4 | 0x400 | 0x800, seq: 8, pid: 0 });
    expect(hex(m.subarray(16, 28))).toBe('07000000' + '0c000000' + 'c000' + '02' + '00');
    expect(hex(m.subarray(28))).toBe('0a00' + '0200' + '000000000000' + '0000' + '0800' + '0100' + '0a4d0002');
  });

  it('newVethPair without a netns leaves IFLA_NET_NS_FD out', () => {
    const m = nl.newVethPair(1, 'a', 'b');
    expect(m.includes(Buffer.from([0x08, 0x00, 0x1c, 0x00]))).toBe(false);
    expect(header(m).length).toBe(m.length);
  });

  it('setLinkUp / setLinkDown: RTM_SETLINK with IFF_UP in ifi_change, set or clear in ifi_flags', () => {
    const up = nl.setLinkUp(3, 42);
    expect(header(up)).toEqual({ length: 32, type: nl.RTM_SETLINK, flags: 0x5, seq: 3, pid: 0 });
    expect(hex(up.subarray(16))).toBe('00000000' + '2a000000' + '01000000' + '01000000');
    expect(hex(nl.setLinkDown(4, 42).subarray(16))).toBe('00000000' + '2a000000' + '00000000' + '01000000');
  });

  it('setLinkMaster, setLinkNetns, setLinkMtu and renameLink carry the index in ifinfomsg and one attribute', () => {
    expect(hex(nl.setLinkMaster(1, 7, 3).subarray(16))).toBe('00000000' + '07000000' + '0000000000000000' + '0800' + '0a00' + '03000000');
    expect(hex(nl.setLinkMaster(1, 7, 0).subarray(32))).toBe('0800' + '0a00' + '00000000');
    expect(hex(nl.setLinkNetns(1, 7, 11).subarray(32))).toBe('0800' + '1c00' + '0b000000');
    expect(hex(nl.setLinkMtu(1, 7, 1450).subarray(32))).toBe('0800' + '0400' + 'aa050000');
    const rename = nl.renameLink(2, 7, 'eth1');
    expect(header(rename)).toMatchObject({ length: 16 + 16 + 12, type: nl.RTM_SETLINK, flags: 0x5 });
    expect(rename.readInt32LE(20)).toBe(7);
  });

  it('deleteLink by index, deleteLinkByName by IFLA_IFNAME with index 0', () => {
    const byIndex = nl.deleteLink(5, 9);
    expect(header(byIndex)).toEqual({ length: 32, type: nl.RTM_DELLINK, flags: 0x5, seq: 5, pid: 0 });
    expect(byIndex.readInt32LE(20)).toBe(9);
    const byName = nl.deleteLinkByName(6, 'br0');
    expect(header(byName)).toEqual({ length: 40, type: nl.RTM_DELLINK, flags: 0x5, seq: 6, pid: 0 });
    expect(hex(byName.subarray(16))).toBe('00'.repeat(16) + '0800' + '0300' + '62723000');
  });

  it('getLink asks for an ACK; dumps carry NLM_F_DUMP (ROOT|MATCH) and the family to list', () => {
    expect(header(nl.getLink(1, 'lo'))).toMatchObject({ type: nl.RTM_GETLINK, flags: 0x5 });
    const links = nl.dumpLinks(2);
    expect(header(links)).toEqual({ length: 32, type: nl.RTM_GETLINK, flags: 0x301, seq: 2, pid: 0 });
    const addresses = nl.dumpAddresses(3);
    expect(header(addresses)).toEqual({ length: 24, type: nl.RTM_GETADDR, flags: 0x301, seq: 3, pid: 0 });
    expect(hex(addresses.subarray(16))).toBe('0200000000000000');
    const routes = nl.dumpRoutes(4);
    expect(header(routes)).toEqual({ length: 28, type: nl.RTM_GETROUTE, flags: 0x301, seq: 4, pid: 0 });
    expect(hex(routes.subarray(16))).toBe('02' + '00'.repeat(11));
  });

  it('newAddress: ifaddrmsg (AF_INET, prefix, universe scope, index) with IFA_LOCAL and IFA_ADDRESS', () => {
    const m = nl.newAddress(8, 12, '10.77.0.1', 24);
    expect(header(m)).toEqual({ length: 40, type: nl.RTM_NEWADDR, flags: 0x605, seq: 8, pid: 0 });
    expect(hex(m.subarray(16))).toBe('02' + '18' + '00' + '00' + '0c000000' + '0800' + '0200' + '0a4d0001' + '0800' + '0100' + '0a4d0001');
  });

  it('newRoute via a gateway: main table, RTPROT_BOOT, universe scope, unicast; no RTA_DST for the default route', () => {
    const m = nl.newRoute(10, { gateway: '10.77.0.1', oif: 3 });
    expect(header(m)).toEqual({ length: 16 + 12 + 8 + 8, type: nl.RTM_NEWROUTE, flags: 0x605, seq: 10, pid: 0 });
    expect(hex(m.subarray(16))).toBe(
      '02' + '00' + '00' + '00' + 'fe' + '03' + '00' + '01' + '00000000' // rtmsg
      + '0800' + '0500' + '0a4d0001' // RTA_GATEWAY
      + '0800' + '0400' + '03000000', // RTA_OIF
    );
  });

  it('newRoute to a network on the link: link scope, RTA_DST and its prefix length', () => {
    const m = nl.newRoute(11, { dst: '192.168.5.0', dstPrefix: 24, oif: 4 });
    expect(hex(m.subarray(16, 28))).toBe('02' + '18' + '00' + '00' + 'fe' + '03' + 'fd' + '01' + '00000000');
    expect(hex(m.subarray(28))).toBe('0800' + '0100' + 'c0a80500' + '0800' + '0400' + '04000000');
    // A destination without a prefix length is a host route.
    expect(nl.newRoute(12, { dst: '192.168.5.7', oif: 4 }).readUInt8(17)).toBe(32);
  });

  it('refuses bad input before anything is sent, in one line', () => {
    expect(errorOf(() => nl.newBridge(1, 'a-name-that-is-too-long')).message).toBe(
      'netlink: invalid interface name "a-name-that-is-too-long": it must have 1-15 bytes, not be "." or "..", and contain no "/", ":" or whitespace',
    );
    for (const name of ['', '.', '..', 'a/b', 'a:b', 'a b']) expect(() => nl.newBridge(1, name)).toThrow(/invalid interface name/);
    expect(nl.newBridge(1, 'x'.repeat(15)).length).toBeGreaterThan(0);
    for (const address of ['10.0.0', '10.0.0.256', '10.0.0.01', '1.2.3.4.5', ' 1.2.3.4', 'a.b.c.d', '']) {
      expect(errorOf(() => nl.newAddress(1, 1, address, 24)).message).toBe(`netlink: invalid IPv4 address ${JSON.stringify(address)}`);
    }
    expect(errorOf(() => nl.newAddress(1, 1, '10.0.0.1', 33)).message).toBe('netlink: invalid IPv4 prefix length 33');
    expect(errorOf(() => nl.setLinkUp(1, 0)).message).toBe('netlink: invalid interface index 0');
    expect(errorOf(() => nl.newRoute(1, { dstPrefix: 8, oif: 1 })).message).toBe('netlink: route prefix /8 without a destination');
  });

  it('messages are always a multiple of 4 bytes long and nlmsg_len says so', () => {
    for (const m of [nl.newBridge(1, 'b'), nl.newBridge(1, 'bb'), nl.newBridge(1, 'bbb'), nl.newVethPair(1, 'v', 'p', 3), nl.getLink(1, 'eth0')]) {
      expect(m.length % 4).toBe(0);
      expect(header(m).length).toBe(m.length);
    }
  });
});

describe('parsing replies', () => {
  const request = nl.newBridge(21, 'br0');

  it('an ACK is an NLMSG_ERROR with error 0', () => {
    const ack = nlmsg(nl.NLMSG_ERROR, nl.NLM_F_CAPPED, 21, Buffer.concat([u32(0), request.subarray(0, 16)]));
    const [m, ...rest] = nl.parseMessages(ack);
    expect(rest).toHaveLength(0);
    expect(m).toMatchObject({ type: nl.NLMSG_ERROR, seq: 21, pid: 4242 });
    expect(nl.parseErrorReply(m!)).toEqual({ errno: 0 });
  });

  it('an error carries -errno, and the kernel explanation after the echoed request', () => {
    const code = Buffer.alloc(4);
    code.writeInt32LE(-17, 0);
    // Not capped: the whole request is echoed, then the TLVs.
    const full = nlmsg(nl.NLMSG_ERROR, nl.NLM_F_ACK_TLVS, 21, Buffer.concat([code, request, rta(nl.NLMSGERR_ATTR_MSG, cstring('Device already exists'))]));
    expect(nl.parseErrorReply(nl.parseMessages(full)[0]!)).toEqual({ errno: 17, detail: 'Device already exists' });
    // Capped: only the request's header is echoed.
    const capped = nlmsg(nl.NLMSG_ERROR, nl.NLM_F_CAPPED | nl.NLM_F_ACK_TLVS, 21, Buffer.concat([code, request.subarray(0, 16), rta(2, u32(36)), rta(nl.NLMSGERR_ATTR_MSG, cstring('nope'))]));
    expect(nl.parseErrorReply(nl.parseMessages(capped)[0]!)).toEqual({ errno: 17, detail: 'nope' });
    // Without TLVs there is no detail.
    expect(nl.parseErrorReply(nl.parseMessages(nlmsg(nl.NLMSG_ERROR, nl.NLM_F_CAPPED, 21, Buffer.concat([code, request.subarray(0, 16)])))[0]!)).toEqual({ errno: 17 });
  });

  it('splits a link dump datagram (two links, then DONE) and decodes each link', () => {
    const ifinfo = (index: number, flags: number): Buffer => {
      const b = Buffer.alloc(16);
      b.writeUInt8(nl.AF_UNSPEC, 0);
      b.writeUInt16LE(1, 2); // ARPHRD_ETHER
      b.writeInt32LE(index, 4);
      b.writeUInt32LE(flags, 8);
      return b;
    };
    const lo = nlmsg(nl.RTM_NEWLINK, nl.NLM_F_MULTI, 30, Buffer.concat([ifinfo(1, 0x49), rta(nl.IFLA_IFNAME, cstring('lo')), rta(nl.IFLA_MTU, u32(65536)), rta(nl.IFLA_ADDRESS, Buffer.alloc(6))]));
    const veth = nlmsg(nl.RTM_NEWLINK, nl.NLM_F_MULTI, 30, Buffer.concat([
      ifinfo(7, nl.IFF_UP | nl.IFF_LOWER_UP),
      rta(nl.IFLA_ADDRESS, Buffer.from([0x02, 0x42, 0xac, 0x11, 0x00, 0x0a])),
      rta(nl.IFLA_IFNAME, cstring('veth0')),
      rta(nl.IFLA_MASTER, u32(3)),
      // LINKINFO arrives with NLA_F_NESTED unset from some kernels and set from others: both must work.
      rta(nl.IFLA_LINKINFO | nl.NLA_F_NESTED, Buffer.concat([rta(nl.IFLA_INFO_KIND, cstring('veth')), rta(nl.IFLA_INFO_DATA | nl.NLA_F_NESTED, Buffer.alloc(0))])),
    ]));
    const done = nlmsg(nl.NLMSG_DONE, nl.NLM_F_MULTI, 30, u32(0));
    const messages = nl.parseMessages(Buffer.concat([lo, veth, done]));
    expect(messages.map((m) => [m.type, m.seq])).toEqual([[16, 30], [16, 30], [3, 30]]);
    expect(nl.parseLink(messages[0]!)).toEqual({ index: 1, flags: 0x49, name: 'lo', mtu: 65536, mac: '00:00:00:00:00:00' });
    expect(nl.parseLink(messages[1]!)).toEqual({ index: 7, flags: 0x10001, name: 'veth0', master: 3, kind: 'veth', mac: '02:42:ac:11:00:0a' });
    expect(nl.parseErrorReply(messages[2]!)).toEqual({ errno: 0 });
  });

  it('a DONE with a negative code ends a dump with that error', () => {
    const code = Buffer.alloc(4);
    code.writeInt32LE(-16, 0);
    expect(nl.parseErrorReply(nl.parseMessages(nlmsg(nl.NLMSG_DONE, nl.NLM_F_MULTI, 1, code))[0]!)).toEqual({ errno: 16 });
  });

  it('decodes an IPv4 address', () => {
    const ifaddr = Buffer.from([nl.AF_INET, 24, 0x80, 0, 12, 0, 0, 0]);
    const m = nlmsg(nl.RTM_NEWADDR, nl.NLM_F_MULTI, 5, Buffer.concat([
      ifaddr,
      rta(nl.IFA_ADDRESS, Buffer.from([10, 77, 0, 1])),
      rta(nl.IFA_LOCAL, Buffer.from([10, 77, 0, 1])),
      rta(nl.IFA_LABEL, cstring('tsrun0')),
    ]));
    expect(nl.parseAddress(nl.parseMessages(m)[0]!)).toEqual({ index: 12, family: 2, prefix: 24, scope: 0, local: '10.77.0.1', label: 'tsrun0' });
  });

  it('decodes routes: a default route via a gateway and a device route in table 1000', () => {
    const rt = (dstLength: number, table: number, protocol: number, scope: number): Buffer => Buffer.from([nl.AF_INET, dstLength, 0, 0, table, protocol, scope, 1, 0, 0, 0, 0]);
    const defaultRoute = nlmsg(nl.RTM_NEWROUTE, nl.NLM_F_MULTI, 6, Buffer.concat([
      rt(0, 254, 3, 0), rta(nl.RTA_TABLE, u32(254)), rta(nl.RTA_GATEWAY, Buffer.from([10, 77, 0, 1])), rta(nl.RTA_OIF, u32(2)),
    ]));
    const deviceRoute = nlmsg(nl.RTM_NEWROUTE, nl.NLM_F_MULTI, 6, Buffer.concat([
      rt(24, 252, 2, 253), rta(nl.RTA_TABLE, u32(1000)), rta(nl.RTA_DST, Buffer.from([10, 77, 0, 0])),
      rta(nl.RTA_PREFSRC, Buffer.from([10, 77, 0, 2])), rta(nl.RTA_OIF, u32(2)), rta(nl.RTA_PRIORITY, u32(100)),
    ]));
    const [first, second] = nl.parseMessages(Buffer.concat([defaultRoute, deviceRoute]));
    expect(nl.parseRoute(first!)).toEqual({ family: 2, dst: '0.0.0.0', prefix: 0, gateway: '10.77.0.1', oif: 2, table: 254, protocol: 3, scope: 0, type: 1 });
    expect(nl.parseRoute(second!)).toEqual({ family: 2, dst: '10.77.0.0', prefix: 24, oif: 2, table: 1000, protocol: 2, scope: 253, type: 1, priority: 100, prefsrc: '10.77.0.2' });
  });

  it('refuses truncated or inconsistent replies with one line', () => {
    const ack = nlmsg(nl.NLMSG_ERROR, nl.NLM_F_CAPPED, 1, Buffer.concat([u32(0), request.subarray(0, 16)]));
    expect(errorOf(() => nl.parseMessages(ack.subarray(0, 30))).message).toBe('netlink: malformed reply from the kernel: message at byte 0 claims 36 bytes, 30 are left');
    const badLength = Buffer.from(ack);
    badLength.writeUInt32LE(8, 0);
    expect(() => nl.parseMessages(badLength)).toThrow(/claims 8 bytes/);
    expect(errorOf(() => nl.parseAttributes(Buffer.from([0x10, 0, 1, 0, 0, 0]))).message).toBe('netlink: malformed reply from the kernel: attribute at byte 0 claims 16 bytes, 6 are left');
    expect(() => nl.parseLink({ type: nl.RTM_NEWLINK, flags: 0, seq: 1, pid: 0, payload: Buffer.alloc(8) })).toThrow(/RTM_NEWLINK of 8 bytes/);
  });
});
