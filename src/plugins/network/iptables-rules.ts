import type { FirewallNetwork } from './firewall';
import type { PortForward } from './publish';

/**
 * The iptables form of tsrun's rules, for hosts without nft: argv arrays for `iptables` and the parsing of
 * `iptables -S`. Pure: the runner in firewall.ts executes them. Same rules as nft-rules.ts, in chains of tsrun's
 * own (TSRUN-*) that the built-in chains jump to, each rule tagged with `-m comment --comment <tag>`.
 */

export type IptTable = 'nat' | 'filter';

/** tsrun's chains and the built-in chain that jumps to each. */
export const IPT_CHAINS: readonly { table: IptTable; builtin: string; chain: string }[] = [
  { table: 'nat', builtin: 'PREROUTING', chain: 'TSRUN-PREROUTING' },
  { table: 'nat', builtin: 'OUTPUT', chain: 'TSRUN-OUTPUT' },
  { table: 'nat', builtin: 'POSTROUTING', chain: 'TSRUN-POSTROUTING' },
  { table: 'filter', builtin: 'FORWARD', chain: 'TSRUN-FORWARD' },
];

export const IPT_TABLES: readonly IptTable[] = ['nat', 'filter'];

/** One rule without its tag: what it matches and what it does (`-j ...`). */
export interface IptRule {
  table: IptTable;
  chain: string;
  match: string[];
  target: string[];
}

/** What `iptables -t TABLE -S` shows: the chains (built-in and `-N`) and each `-A` line as argv tokens. */
export interface IptListing {
  chains: Set<string>;
  rules: string[][];
}

/**
 * `-w` everywhere: wait for the xtables lock instead of failing when another program (Docker, firewalld) is
 * changing rules at the same moment.
 */
function base(table: IptTable): string[] {
  return ['-w', '-t', table];
}

export function iptNetworkRules(network: FirewallNetwork): IptRule[] {
  return [
    { table: 'nat', chain: 'TSRUN-POSTROUTING', match: ['-s', network.subnet, '!', '-o', network.bridge], target: ['-j', 'MASQUERADE'] },
    { table: 'filter', chain: 'TSRUN-FORWARD', match: ['-i', network.bridge], target: ['-j', 'ACCEPT'] },
    {
      table: 'filter',
      chain: 'TSRUN-FORWARD',
      match: ['-o', network.bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED'],
      target: ['-j', 'ACCEPT'],
    },
  ];
}

/** Four rules per published port; see nftContainerRules for why each exists and why loopback is left out. */
export function iptContainerRules(ports: readonly PortForward[]): IptRule[] {
  const rules: IptRule[] = [];
  for (const port of ports) {
    const local = port.hostIp === undefined ? ['-m', 'addrtype', '--dst-type', 'LOCAL'] : ['-d', port.hostIp];
    const notLoopback = port.hostIp === undefined ? ['!', '-d', '127.0.0.0/8'] : [];
    const hostPort = ['-p', port.proto, '--dport', String(port.hostPort)];
    const containerPort = ['-p', port.proto, '--dport', String(port.containerPort)];
    const dnat = ['-j', 'DNAT', '--to-destination', `${port.containerIp}:${port.containerPort}`];
    rules.push({ table: 'nat', chain: 'TSRUN-PREROUTING', match: [...local, ...hostPort], target: dnat });
    rules.push({ table: 'nat', chain: 'TSRUN-OUTPUT', match: [...notLoopback, ...local, ...hostPort], target: dnat });
    rules.push({ table: 'filter', chain: 'TSRUN-FORWARD', match: ['-d', port.containerIp, ...containerPort], target: ['-j', 'ACCEPT'] });
    rules.push({
      table: 'nat',
      chain: 'TSRUN-POSTROUTING',
      match: ['-s', port.containerIp, '-d', port.containerIp, ...containerPort],
      target: ['-j', 'MASQUERADE'],
    });
  }
  return rules;
}

/** `iptables` argv appending each rule with the tag. */
export function iptAddArgs(rules: readonly IptRule[], tag: string): string[][] {
  return rules.map((rule) => [...base(rule.table), '-A', rule.chain, ...rule.match, '-m', 'comment', '--comment', tag, ...rule.target]);
}

/**
 * The argv that create tsrun's chains of `table` and the jumps to them, for what the listing lacks. The jumps are
 * inserted first in the built-in chain so a DROP further down (or a policy) does not come before them.
 */
export function iptSetupArgs(table: IptTable, listing: IptListing): string[][] {
  const args: string[][] = [];
  for (const { table: chainTable, builtin, chain } of IPT_CHAINS) {
    if (chainTable !== table) continue;
    if (!listing.chains.has(chain)) args.push([...base(table), '-N', chain]);
    const jumps = listing.rules.some((tokens) => sameTokens(tokens, ['-A', builtin, '-j', chain]));
    if (!jumps) args.push([...base(table), '-I', builtin, '1', '-j', chain]);
  }
  return args;
}

/**
 * The argv that delete the rules of tsrun's chains carrying `tag`: each `-A` line of `-S` with `-D` instead.
 * iptables deletes the first rule matching a spec, which lets the runner add the new rules before deleting the
 * old ones (which come first) without a moment when none are there.
 */
export function iptDeleteArgs(table: IptTable, listing: IptListing, tag: string): string[][] {
  const ours = new Set(IPT_CHAINS.filter((c) => c.table === table).map((c) => c.chain));
  return listing.rules
    .filter((tokens) => ours.has(tokens[1] ?? '') && hasComment(tokens, tag))
    .map((tokens) => [...base(table), '-D', ...tokens.slice(1)]);
}

/** The argv that list a table in `-S` form. */
export function iptListArgs(table: IptTable): string[] {
  return [...base(table), '-S'];
}

export function parseIptablesListing(text: string): IptListing {
  const listing: IptListing = { chains: new Set(), rules: [] };
  for (const line of text.split('\n')) {
    const tokens = tokenizeIptablesLine(line);
    if ((tokens[0] === '-N' || tokens[0] === '-P') && tokens[1] !== undefined) listing.chains.add(tokens[1]);
    else if (tokens[0] === '-A' && tokens.length >= 2) listing.rules.push(tokens);
  }
  return listing;
}

/**
 * Splits one line of `iptables -S`. iptables double-quotes a value holding anything but letters, digits, `-` and
 * `_` (a comment such as `tsrun:abc` comes out as `"tsrun:abc"`) and escapes `"`, `'` and `\` inside with `\`.
 */
export function tokenizeIptablesLine(line: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ' || line[i] === '\t') {
      i++;
      continue;
    }
    let token = '';
    let quoted = false;
    while (i < line.length && (quoted || (line[i] !== ' ' && line[i] !== '\t'))) {
      const c = line[i]!;
      if (c === '"') quoted = !quoted;
      else if (c === '\\' && i + 1 < line.length) token += line[++i];
      else token += c;
      i++;
    }
    tokens.push(token);
  }
  return tokens;
}

function hasComment(tokens: readonly string[], tag: string): boolean {
  return tokens.some((token, i) => token === '--comment' && tokens[i + 1] === tag);
}

function sameTokens(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((token, i) => token === b[i]);
}
