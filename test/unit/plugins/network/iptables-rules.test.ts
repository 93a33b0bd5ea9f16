import { describe, expect, it } from 'vitest';
import {
  iptAddArgs,
  iptContainerRules,
  iptDeleteArgs,
  iptListArgs,
  iptNetworkRules,
  iptSetupArgs,
  parseIptablesListing,
  tokenizeIptablesLine,
} from '../../../../src/plugins/network/iptables-rules';
import type { PortForward } from '../../../../src/plugins/network/publish';

const NETWORK = { name: 'tsrun0', bridge: 'tsrun0', subnet: '10.88.0.0/16' };
const WEB: PortForward = { hostPort: 8080, containerPort: 80, proto: 'tcp', containerIp: '10.88.0.2' };
const DNS: PortForward = { hostIp: '192.168.1.5', hostPort: 53, containerPort: 5353, proto: 'udp', containerIp: '10.88.0.3' };
const TAG = ['-m', 'comment', '--comment'];

describe('rule argv', () => {
  it('a network: masquerade in nat, two accepts in filter', () => {
    expect(iptAddArgs(iptNetworkRules(NETWORK), 'tsrun-net:tsrun0')).toEqual([
      ['-w', '-t', 'nat', '-A', 'TSRUN-POSTROUTING', '-s', '10.88.0.0/16', '!', '-o', 'tsrun0', ...TAG, 'tsrun-net:tsrun0', '-j', 'MASQUERADE'],
      ['-w', '-t', 'filter', '-A', 'TSRUN-FORWARD', '-i', 'tsrun0', ...TAG, 'tsrun-net:tsrun0', '-j', 'ACCEPT'],
      ['-w', '-t', 'filter', '-A', 'TSRUN-FORWARD', '-o', 'tsrun0', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...TAG, 'tsrun-net:tsrun0', '-j', 'ACCEPT'],
    ]);
  });

  it('a port on every address: DNAT for local addresses (not loopback from the host), accept, hairpin', () => {
    const dnat = ['-j', 'DNAT', '--to-destination', '10.88.0.2:80'];
    expect(iptAddArgs(iptContainerRules([WEB]), 'tsrun:c1')).toEqual([
      ['-w', '-t', 'nat', '-A', 'TSRUN-PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-p', 'tcp', '--dport', '8080', ...TAG, 'tsrun:c1', ...dnat],
      ['-w', '-t', 'nat', '-A', 'TSRUN-OUTPUT', '!', '-d', '127.0.0.0/8', '-m', 'addrtype', '--dst-type', 'LOCAL', '-p', 'tcp', '--dport', '8080', ...TAG, 'tsrun:c1', ...dnat],
      ['-w', '-t', 'filter', '-A', 'TSRUN-FORWARD', '-d', '10.88.0.2', '-p', 'tcp', '--dport', '80', ...TAG, 'tsrun:c1', '-j', 'ACCEPT'],
      ['-w', '-t', 'nat', '-A', 'TSRUN-POSTROUTING', '-s', '10.88.0.2', '-d', '10.88.0.2', '-p', 'tcp', '--dport', '80', ...TAG, 'tsrun:c1', '-j', 'MASQUERADE'],
    ]);
  });

  it('a udp port on one host address', () => {
    const rules = iptContainerRules([DNS]);
    expect(rules.map((r) => [r.chain, ...r.match])).toEqual([
      ['TSRUN-PREROUTING', '-d', '192.168.1.5', '-p', 'udp', '--dport', '53'],
      ['TSRUN-OUTPUT', '-d', '192.168.1.5', '-p', 'udp', '--dport', '53'],
      ['TSRUN-FORWARD', '-d', '10.88.0.3', '-p', 'udp', '--dport', '5353'],
      ['TSRUN-POSTROUTING', '-s', '10.88.0.3', '-d', '10.88.0.3', '-p', 'udp', '--dport', '5353'],
    ]);
    expect(rules[0]!.target).toEqual(['-j', 'DNAT', '--to-destination', '10.88.0.3:5353']);
    expect(iptContainerRules([WEB, DNS])).toHaveLength(8);
  });

  it('listing', () => {
    expect(iptListArgs('nat')).toEqual(['-w', '-t', 'nat', '-S']);
  });
});

describe('tokenizeIptablesLine', () => {
  it('splits on spaces and unquotes what iptables quoted', () => {
    expect(tokenizeIptablesLine('-A TSRUN-FORWARD -i tsrun0 -m comment --comment "tsrun-net:tsrun0" -j ACCEPT')).toEqual([
      '-A', 'TSRUN-FORWARD', '-i', 'tsrun0', '-m', 'comment', '--comment', 'tsrun-net:tsrun0', '-j', 'ACCEPT',
    ]);
    expect(tokenizeIptablesLine('-A X -m comment --comment "a b\\"c\\\\d" -j ACCEPT')).toEqual(['-A', 'X', '-m', 'comment', '--comment', 'a b"c\\d', '-j', 'ACCEPT']);
    expect(tokenizeIptablesLine('  ')).toEqual([]);
    expect(tokenizeIptablesLine('-A X --comment ""')).toEqual(['-A', 'X', '--comment', '']);
  });
});

// What iptables-nft 1.8.9 prints for `-t nat -S` once tsrun's rules are in (note the reordered -p and -m tcp).
const NAT = `-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N TSRUN-OUTPUT
-N TSRUN-POSTROUTING
-N TSRUN-PREROUTING
-A PREROUTING -j TSRUN-PREROUTING
-A OUTPUT -j TSRUN-OUTPUT
-A TSRUN-POSTROUTING -s 10.88.0.0/16 ! -o tsrun0 -m comment --comment "tsrun-net:tsrun0" -j MASQUERADE
-A TSRUN-POSTROUTING -s 10.88.0.2/32 -d 10.88.0.2/32 -p tcp -m tcp --dport 80 -m comment --comment "tsrun:c1" -j MASQUERADE
-A TSRUN-PREROUTING -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 8080 -m comment --comment "tsrun:c1" -j DNAT --to-destination 10.88.0.2:80
-A POSTROUTING -m comment --comment "tsrun:c1" -j MASQUERADE
`;

describe('parseIptablesListing', () => {
  it('collects chains and rule lines', () => {
    const listing = parseIptablesListing(NAT);
    expect([...listing.chains]).toEqual(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING', 'TSRUN-OUTPUT', 'TSRUN-POSTROUTING', 'TSRUN-PREROUTING']);
    expect(listing.rules).toHaveLength(6);
    expect(listing.rules[0]).toEqual(['-A', 'PREROUTING', '-j', 'TSRUN-PREROUTING']);
  });
});

describe('iptSetupArgs', () => {
  it('creates what is missing: here only the POSTROUTING jump', () => {
    expect(iptSetupArgs('nat', parseIptablesListing(NAT))).toEqual([['-w', '-t', 'nat', '-I', 'POSTROUTING', '1', '-j', 'TSRUN-POSTROUTING']]);
  });

  it('on an empty table: every chain and jump, first in the built-in chain', () => {
    expect(iptSetupArgs('filter', parseIptablesListing('-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n'))).toEqual([
      ['-w', '-t', 'filter', '-N', 'TSRUN-FORWARD'],
      ['-w', '-t', 'filter', '-I', 'FORWARD', '1', '-j', 'TSRUN-FORWARD'],
    ]);
  });

  it('nothing when all is there', () => {
    const filter = '-P FORWARD ACCEPT\n-N TSRUN-FORWARD\n-A FORWARD -j TSRUN-FORWARD\n';
    expect(iptSetupArgs('filter', parseIptablesListing(filter))).toEqual([]);
  });
});

describe('iptDeleteArgs', () => {
  it('turns the tag\'s lines in tsrun\'s chains into -D, leaving other tags and chains alone', () => {
    const listing = parseIptablesListing(NAT);
    expect(iptDeleteArgs('nat', listing, 'tsrun:c1')).toEqual([
      ['-w', '-t', 'nat', '-D', 'TSRUN-POSTROUTING', '-s', '10.88.0.2/32', '-d', '10.88.0.2/32', '-p', 'tcp', '-m', 'tcp', '--dport', '80', ...TAG, 'tsrun:c1', '-j', 'MASQUERADE'],
      ['-w', '-t', 'nat', '-D', 'TSRUN-PREROUTING', '-p', 'tcp', '-m', 'addrtype', '--dst-type', 'LOCAL', '-m', 'tcp', '--dport', '8080', ...TAG, 'tsrun:c1', '-j', 'DNAT', '--to-destination', '10.88.0.2:80'],
    ]);
    expect(iptDeleteArgs('nat', listing, 'tsrun-net:tsrun0')).toHaveLength(1);
    expect(iptDeleteArgs('nat', listing, 'tsrun:c')).toEqual([]);
    expect(iptDeleteArgs('filter', listing, 'tsrun:c1')).toEqual([]);
  });
});
