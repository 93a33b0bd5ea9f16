import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../src/errors';
import { nftContainerRules, nftDeleteScript, nftNetworkRules, nftReplaceScript, nftTaggedRules } from '../../../../src/plugins/network/nft-rules';
import type { PortForward } from '../../../../src/plugins/network/publish';

const NETWORK = { name: 'tsrun0', bridge: 'tsrun0', subnet: '10.88.0.0/16' };
const WEB: PortForward = { hostPort: 8080, containerPort: 80, proto: 'tcp', containerIp: '10.88.0.2' };
const DNS: PortForward = { hostIp: '192.168.1.5', hostPort: 53, containerPort: 5353, proto: 'udp', containerIp: '10.88.0.3' };

const CHAINS = [
  'add table ip tsrun',
  'add chain ip tsrun prerouting { type nat hook prerouting priority dstnat; policy accept; }',
  'add chain ip tsrun output { type nat hook output priority -100; policy accept; }',
  'add chain ip tsrun postrouting { type nat hook postrouting priority srcnat; policy accept; }',
  'add chain ip tsrun forward { type filter hook forward priority filter; policy accept; }',
];

describe('nftNetworkRules', () => {
  it('masquerades the subnet leaving through another interface and accepts the forwarding', () => {
    expect(nftNetworkRules(NETWORK)).toEqual([
      { chain: 'postrouting', rule: 'ip saddr 10.88.0.0/16 oifname != "tsrun0" masquerade' },
      { chain: 'forward', rule: 'iifname "tsrun0" accept' },
      { chain: 'forward', rule: 'oifname "tsrun0" ct state established,related accept' },
    ]);
  });

  it('refuses to write a bridge name that would break the quoting', () => {
    expect(() => nftNetworkRules({ ...NETWORK, bridge: 'a"b' })).toThrow(RuntimeError);
    expect(() => nftNetworkRules({ ...NETWORK, bridge: 'a\nb' })).toThrow(RuntimeError);
  });
});

describe('nftContainerRules', () => {
  it('on every address: DNAT for local addresses, not loopback from the host; forward accept; hairpin masquerade', () => {
    expect(nftContainerRules([WEB])).toEqual([
      { chain: 'prerouting', rule: 'fib daddr type local meta l4proto tcp th dport 8080 dnat to 10.88.0.2:80' },
      { chain: 'output', rule: 'ip daddr != 127.0.0.0/8 fib daddr type local meta l4proto tcp th dport 8080 dnat to 10.88.0.2:80' },
      { chain: 'forward', rule: 'ip daddr 10.88.0.2 meta l4proto tcp th dport 80 accept' },
      { chain: 'postrouting', rule: 'ip saddr 10.88.0.2 ip daddr 10.88.0.2 meta l4proto tcp th dport 80 masquerade' },
    ]);
  });

  it('on one host address, udp', () => {
    expect(nftContainerRules([DNS])).toEqual([
      { chain: 'prerouting', rule: 'ip daddr 192.168.1.5 meta l4proto udp th dport 53 dnat to 10.88.0.3:5353' },
      { chain: 'output', rule: 'ip daddr 192.168.1.5 meta l4proto udp th dport 53 dnat to 10.88.0.3:5353' },
      { chain: 'forward', rule: 'ip daddr 10.88.0.3 meta l4proto udp th dport 5353 accept' },
      { chain: 'postrouting', rule: 'ip saddr 10.88.0.3 ip daddr 10.88.0.3 meta l4proto udp th dport 5353 masquerade' },
    ]);
  });

  it('four rules a port, none without ports', () => {
    expect(nftContainerRules([WEB, DNS])).toHaveLength(8);
    expect(nftContainerRules([])).toEqual([]);
  });
});

describe('nftReplaceScript', () => {
  it('creates the table and chains, deletes the tag\'s rules and adds the new ones with the tag, in one script', () => {
    const script = nftReplaceScript('tsrun-net:tsrun0', [{ chain: 'forward', handle: 7 }, { chain: 'postrouting', handle: 5 }], nftNetworkRules(NETWORK));
    expect(script).toBe(
      [
        ...CHAINS,
        'delete rule ip tsrun forward handle 7',
        'delete rule ip tsrun postrouting handle 5',
        'add rule ip tsrun postrouting ip saddr 10.88.0.0/16 oifname != "tsrun0" masquerade comment "tsrun-net:tsrun0"',
        'add rule ip tsrun forward iifname "tsrun0" accept comment "tsrun-net:tsrun0"',
        'add rule ip tsrun forward oifname "tsrun0" ct state established,related accept comment "tsrun-net:tsrun0"',
      ].join('\n') + '\n',
    );
  });

  it('with nothing to delete or add it still makes sure the chains exist', () => {
    expect(nftReplaceScript('tsrun:c1', [], [])).toBe(CHAINS.join('\n') + '\n');
  });
});

describe('nftDeleteScript', () => {
  it('one delete per rule, nothing at all when there is none', () => {
    expect(nftDeleteScript([{ chain: 'prerouting', handle: 3 }, { chain: 'output', handle: 4 }])).toBe(
      'delete rule ip tsrun prerouting handle 3\ndelete rule ip tsrun output handle 4\n',
    );
    expect(nftDeleteScript([])).toBe('');
  });
});

describe('nftTaggedRules', () => {
  // Shaped like nft 1.0.6's `nft -j list table ip tsrun`.
  const listing = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
      { table: { family: 'ip', name: 'tsrun', handle: 1 } },
      { chain: { family: 'ip', table: 'tsrun', name: 'prerouting', handle: 1, type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' } },
      { rule: { family: 'ip', table: 'tsrun', chain: 'postrouting', handle: 5, comment: 'tsrun-net:tsrun0', expr: [] } },
      { rule: { family: 'ip', table: 'tsrun', chain: 'forward', handle: 6, comment: 'tsrun-net:tsrun0', expr: [] } },
      { rule: { family: 'ip', table: 'tsrun', chain: 'prerouting', handle: 8, comment: 'tsrun:c1', expr: [] } },
      { rule: { family: 'ip', table: 'tsrun', chain: 'forward', handle: 9, expr: [] } },
      { rule: { family: 'ip', table: 'tsrun', chain: 'forward', handle: 10, comment: 'tsrun-net:tsrun01', expr: [] } },
      { rule: { family: 'ip', table: 'tsrun', chain: 'someone-elses', handle: 11, comment: 'tsrun-net:tsrun0', expr: [] } },
      { rule: { family: 'ip', table: 'other', chain: 'forward', handle: 12, comment: 'tsrun-net:tsrun0', expr: [] } },
    ],
  });

  it('finds the rules whose comment is exactly the tag, in tsrun\'s chains', () => {
    expect(nftTaggedRules(listing, 'tsrun-net:tsrun0')).toEqual([
      { chain: 'postrouting', handle: 5 },
      { chain: 'forward', handle: 6 },
    ]);
    expect(nftTaggedRules(listing, 'tsrun:c1')).toEqual([{ chain: 'prerouting', handle: 8 }]);
    expect(nftTaggedRules(listing, 'tsrun:c2')).toEqual([]);
  });

  it('an empty table has none', () => {
    expect(nftTaggedRules('{"nftables": [{"metainfo": {}}, {"table": {"family": "ip", "name": "tsrun", "handle": 1}}]}', 'tsrun:c1')).toEqual([]);
  });

  it('output that is not nft\'s JSON is one error line', () => {
    expect(() => nftTaggedRules('table ip tsrun {', 'x')).toThrow(new RuntimeError('firewall', 'nft: list table ip tsrun: output is not JSON'));
    expect(() => nftTaggedRules('{}', 'x')).toThrow('no "nftables" array');
  });
});
