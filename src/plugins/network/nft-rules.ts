import { RuntimeError } from '../../errors';
import type { FirewallNetwork } from './firewall';
import type { PortForward } from './publish';

/**
 * The nftables rules of tsrun's bridge networks, as text for `nft -f -`. Pure: the runner in firewall.ts lists the
 * table, asks here for a script and feeds it to nft.
 *
 * Everything lives in one table, `ip tsrun`, so tsrun never edits a table someone else owns. Every rule carries a
 * comment (the "tag") naming what it belongs to — `tsrun-net:<network>` or `tsrun:<containerId>` — which is how
 * rules are found again to be replaced or removed.
 */

export const NFT_FAMILY = 'ip';
export const NFT_TABLE = 'tsrun';

export const NFT_CHAINS = ['prerouting', 'output', 'postrouting', 'forward'] as const;
export type NftChain = (typeof NFT_CHAINS)[number];

/**
 * The base chains. `add chain` with the same definition is a no-op in nft, so every script can start with them.
 *
 * The forward chain only accepts, and its policy is accept: in nftables an accept ends processing in this base
 * chain only, and every other table's forward chain still sees the packet. A host that drops forwarded traffic in
 * a table of its own (a firewall, the iptables FORWARD policy DROP that Docker's iptables mode leaves behind) keeps
 * dropping tsrun's traffic; as with Docker's nftables mode, the admin adds accepts for the bridges there — tsrun
 * does not edit foreign tables. The accepts here still document the intent and make the rules complete should the
 * policy ever become drop.
 */
const CHAIN_DEFINITIONS: Record<NftChain, string> = {
  prerouting: 'type nat hook prerouting priority dstnat; policy accept;',
  output: 'type nat hook output priority -100; policy accept;',
  postrouting: 'type nat hook postrouting priority srcnat; policy accept;',
  forward: 'type filter hook forward priority filter; policy accept;',
};

/** One rule without its tag: the chain it goes to and the statement text. */
export interface NftRule {
  chain: NftChain;
  rule: string;
}

/** A rule already in the table, as `nft -j list` shows it. */
export interface NftRuleRef {
  chain: NftChain;
  handle: number;
}

/** A network's rules: masquerade what leaves the subnet for elsewhere, forward what comes from the bridge and the replies to it. */
export function nftNetworkRules(network: FirewallNetwork): NftRule[] {
  const bridge = quote(network.bridge);
  return [
    // Docker's form: traffic from the subnet that leaves through another interface than the bridge.
    { chain: 'postrouting', rule: `ip saddr ${network.subnet} oifname != ${bridge} masquerade` },
    { chain: 'forward', rule: `iifname ${bridge} accept` },
    { chain: 'forward', rule: `oifname ${bridge} ct state established,related accept` },
  ];
}

/** A container's rules, four per published port. */
export function nftContainerRules(ports: readonly PortForward[]): NftRule[] {
  const rules: NftRule[] = [];
  for (const port of ports) {
    const match = `meta l4proto ${port.proto} th dport ${port.hostPort}`;
    const dnat = `dnat to ${port.containerIp}:${port.containerPort}`;
    const local = port.hostIp === undefined ? 'fib daddr type local' : `ip daddr ${port.hostIp}`;
    // Traffic arriving from outside (and from other containers) for a local address.
    rules.push({ chain: 'prerouting', rule: `${local} ${match} ${dnat}` });
    // Traffic of the host's own processes. Not to 127.0.0.0/8: DNAT'd loopback traffic would leave the host with a
    // loopback source, which the kernel only routes with route_localnet=1, a sysctl that also lets neighbours reach
    // the host's loopback services; tsrun leaves it off, so localhost does not reach published ports (and the
    // firewall refuses a loopback HOSTIP).
    const notLoopback = port.hostIp === undefined ? 'ip daddr != 127.0.0.0/8 ' : '';
    rules.push({ chain: 'output', rule: `${notLoopback}${local} ${match} ${dnat}` });
    rules.push({ chain: 'forward', rule: `ip daddr ${port.containerIp} meta l4proto ${port.proto} th dport ${port.containerPort} accept` });
    // Hairpin: the container reaching its own published port through a host address gets its own packet back;
    // without a new source it would answer itself directly and drop the reply as unknown.
    rules.push({
      chain: 'postrouting',
      rule: `ip saddr ${port.containerIp} ip daddr ${port.containerIp} meta l4proto ${port.proto} th dport ${port.containerPort} masquerade`,
    });
  }
  return rules;
}

/**
 * The rules of `nft -j list table ip tsrun` (its stdout) tagged `tag`. Rules in chains tsrun does not create
 * are left alone.
 */
export function nftTaggedRules(listJson: string, tag: string): NftRuleRef[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(listJson);
  } catch {
    throw new RuntimeError('firewall', `nft: list table ${NFT_FAMILY} ${NFT_TABLE}: output is not JSON`);
  }
  const items = (parsed as { nftables?: unknown })?.nftables;
  if (!Array.isArray(items)) throw new RuntimeError('firewall', `nft: list table ${NFT_FAMILY} ${NFT_TABLE}: no "nftables" array in the JSON output`);
  const refs: NftRuleRef[] = [];
  for (const item of items) {
    const rule = (item as { rule?: Record<string, unknown> } | null)?.rule;
    if (rule === undefined || rule.family !== NFT_FAMILY || rule.table !== NFT_TABLE || rule.comment !== tag) continue;
    if (!isNftChain(rule.chain) || !Number.isInteger(rule.handle)) continue;
    refs.push({ chain: rule.chain, handle: rule.handle as number });
  }
  return refs;
}

/**
 * One transaction that makes sure the table and chains exist, deletes the tag's current rules and adds `rules`
 * with the tag: nft applies a `-f` script all or nothing, so applying twice never duplicates and a failure leaves
 * the old rules in place.
 */
export function nftReplaceScript(tag: string, current: readonly NftRuleRef[], rules: readonly NftRule[]): string {
  const lines = [`add table ${NFT_FAMILY} ${NFT_TABLE}`];
  for (const chain of NFT_CHAINS) lines.push(`add chain ${NFT_FAMILY} ${NFT_TABLE} ${chain} { ${CHAIN_DEFINITIONS[chain]} }`);
  lines.push(...deleteLines(current));
  for (const { chain, rule } of rules) lines.push(`add rule ${NFT_FAMILY} ${NFT_TABLE} ${chain} ${rule} comment ${quote(tag)}`);
  return `${lines.join('\n')}\n`;
}

/** One transaction deleting the rules (empty when there is nothing to delete). */
export function nftDeleteScript(current: readonly NftRuleRef[]): string {
  const lines = deleteLines(current);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function deleteLines(current: readonly NftRuleRef[]): string[] {
  return current.map(({ chain, handle }) => `delete rule ${NFT_FAMILY} ${NFT_TABLE} ${chain} handle ${handle}`);
}

function isNftChain(value: unknown): value is NftChain {
  return (NFT_CHAINS as readonly unknown[]).includes(value);
}

/**
 * An nft string literal. nft has no escape for a double quote, so a value with one (or a line break, which would
 * end the statement) cannot be written; the firewall checks names before they get here, this is the last guard.
 */
function quote(text: string): string {
  if (/["\\\n\r]/.test(text)) throw new RuntimeError('internal', `nft: cannot quote ${JSON.stringify(text)}`);
  return `"${text}"`;
}
