import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../src/errors';
import { detectFirewall, enableIpForwarding, iptablesFirewall, nftFirewall, type Run, type RunResult } from '../../../../src/plugins/network/firewall';
import type { PortForward } from '../../../../src/plugins/network/publish';

const NETWORK = { name: 'tsrun0', bridge: 'tsrun0', subnet: '10.88.0.0/16' };
const WEB: PortForward = { hostPort: 8080, containerPort: 80, proto: 'tcp', containerIp: '10.88.0.2' };

interface Call {
  command: string;
  args: readonly string[];
  input?: string;
}

/** A fake `run` that records calls and answers from `answer` (success with no output by default). */
function fakeRun(answer: (call: Call) => Partial<RunResult> = () => ({})): { run: Run; calls: Call[] } {
  const calls: Call[] = [];
  const run: Run = (command, args, input) => {
    const call = input === undefined ? { command, args } : { command, args, input };
    calls.push(call);
    return { status: 0, stdout: '', stderr: '', ...answer(call) };
  };
  return { run, calls };
}

const enoent = () => Object.assign(new Error('spawnSync nft ENOENT'), { code: 'ENOENT' });
const NO_TABLE = { status: 1, stderr: 'Error: No such file or directory\nlist table ip tsrun\n           ^^^^^\n' };

function listing(rules: { chain: string; handle: number; comment?: string }[]): string {
  return JSON.stringify({ nftables: [{ metainfo: {} }, ...rules.map((r) => ({ rule: { family: 'ip', table: 'tsrun', expr: [], ...r } }))] });
}

describe('detectFirewall', () => {
  it('prefers nft', () => {
    const { run, calls } = fakeRun();
    expect(detectFirewall(run).backend).toBe('nft');
    expect(calls).toEqual([{ command: 'nft', args: ['--version'] }]);
  });

  it('falls back to iptables when nft is not installed', () => {
    const { run } = fakeRun((call) => (call.command === 'nft' ? { status: null, error: enoent() } : {}));
    expect(detectFirewall(run).backend).toBe('iptables');
  });

  it('says what to install when neither is', () => {
    const { run } = fakeRun(() => ({ status: null, error: enoent() }));
    expect(() => detectFirewall(run)).toThrow(new RuntimeError('firewall', 'neither nft (apt-get install nftables) nor iptables found'));
  });
});

describe('nftFirewall', () => {
  it('apply on a host without the table: lists, then one script that creates it and adds the rules', () => {
    const { run, calls } = fakeRun((call) => (call.args[0] === '-j' ? NO_TABLE : {}));
    nftFirewall(run).applyNetwork(NETWORK);
    expect(calls.map((c) => [c.command, ...c.args])).toEqual([
      ['nft', '-j', 'list', 'table', 'ip', 'tsrun'],
      ['nft', '-f', '-'],
    ]);
    expect(calls[1]!.input).toMatch(/^add table ip tsrun\n/);
    expect(calls[1]!.input).toContain('add rule ip tsrun forward iifname "tsrun0" accept comment "tsrun-net:tsrun0"\n');
    expect(calls[1]!.input).not.toContain('delete');
  });

  it('apply again: the same script deletes the tag\'s current rules, and only those', () => {
    const current = listing([
      { chain: 'postrouting', handle: 5, comment: 'tsrun-net:tsrun0' },
      { chain: 'prerouting', handle: 8, comment: 'tsrun:c1' },
    ]);
    const { run, calls } = fakeRun((call) => (call.args[0] === '-j' ? { stdout: current } : {}));
    nftFirewall(run).applyContainer('c1', [WEB]);
    const script = calls[1]!.input!;
    expect(script).toContain('delete rule ip tsrun prerouting handle 8\n');
    expect(script).not.toContain('handle 5');
    expect(script.indexOf('delete rule')).toBeLessThan(script.indexOf('add rule'));
    expect(script.match(/^add rule .* comment "tsrun:c1"$/gm)).toHaveLength(4);
  });

  it('remove: deletes the tagged rules; no table or no rules is a no-op', () => {
    const current = listing([{ chain: 'forward', handle: 6, comment: 'tsrun-net:tsrun0' }]);
    const withRules = fakeRun((call) => (call.args[0] === '-j' ? { stdout: current } : {}));
    nftFirewall(withRules.run).removeNetwork('tsrun0');
    expect(withRules.calls[1]).toEqual({ command: 'nft', args: ['-f', '-'], input: 'delete rule ip tsrun forward handle 6\n' });

    const none = fakeRun((call) => (call.args[0] === '-j' ? { stdout: current } : {}));
    nftFirewall(none.run).removeContainer('c1');
    expect(none.calls).toHaveLength(1);

    const noTable = fakeRun(() => NO_TABLE);
    nftFirewall(noTable.run).removeContainer('c1');
    expect(noTable.calls).toHaveLength(1);
  });

  it('a failure is one line naming what failed and nft\'s first line', () => {
    const { run } = fakeRun((call) =>
      call.args[0] === '-j' ? NO_TABLE : { status: 1, stderr: '\n/dev/stdin:7:1-80: Error: Could not process rule: Operation not supported\nadd rule ...\n^^^\n' },
    );
    expect(() => nftFirewall(run).applyContainer('c1', [WEB])).toThrow(
      new RuntimeError('firewall', 'nft: add rules for container c1: /dev/stdin:7:1-80: Error: Could not process rule: Operation not supported'),
    );
    const listFails = fakeRun(() => ({ status: 1, stderr: 'Error: Operation not permitted\n' }));
    expect(() => nftFirewall(listFails.run).removeNetwork('n1')).toThrow('nft: remove rules for network n1: Error: Operation not permitted');
    const killed = fakeRun((call) => (call.args[0] === '-j' ? NO_TABLE : { status: null, signal: 'SIGKILL' }));
    expect(() => nftFirewall(killed.run).applyNetwork(NETWORK)).toThrow('nft: add rules for network tsrun0: killed by SIGKILL');
  });

  it('checks what goes into the rules before running anything', () => {
    const { run, calls } = fakeRun(() => NO_TABLE);
    const fw = nftFirewall(run);
    expect(() => fw.applyNetwork({ ...NETWORK, bridge: 'br"0' })).toThrow('firewall: network tsrun0: bridge "br\\"0" is not a valid interface name');
    expect(() => fw.applyNetwork({ ...NETWORK, bridge: 'a-very-long-bridge-name' })).toThrow('is not a valid interface name');
    expect(() => fw.applyNetwork({ ...NETWORK, bridge: 'br*' })).toThrow('is not a valid interface name');
    expect(() => fw.applyNetwork({ ...NETWORK, subnet: '10.88.0.1/16' })).toThrow('firewall: network tsrun0: subnet "10.88.0.1/16": host bits are set');
    expect(() => fw.applyNetwork({ ...NETWORK, name: 'a b' })).toThrow('firewall: network name "a b": must be');
    expect(() => fw.removeContainer('x"y')).toThrow('firewall: container ID "x\\"y": must be');
    expect(() => fw.applyContainer('c1', [{ ...WEB, containerIp: '10.88.0' }])).toThrow('--publish "8080:80": container address "10.88.0" is not an IPv4 address');
    expect(() => fw.applyContainer('c1', [{ ...WEB, hostPort: 0 }])).toThrow('--publish "0:80": port 0 is out of range 1-65535');
    expect(() => fw.applyContainer('c1', [{ ...WEB, hostIp: '127.0.0.1' }])).toThrow(
      new RuntimeError(
        'invalid-argument',
        '--publish "127.0.0.1:8080:80": publishing on a loopback address is not supported (it needs route_localnet); leave out HOSTIP or use a non-loopback one',
      ),
    );
    expect(calls).toEqual([]);
  });
});

describe('iptablesFirewall', () => {
  const NAT_WITH_OLD = `-P PREROUTING ACCEPT
-N TSRUN-OUTPUT
-N TSRUN-POSTROUTING
-N TSRUN-PREROUTING
-A PREROUTING -j TSRUN-PREROUTING
-A OUTPUT -j TSRUN-OUTPUT
-A POSTROUTING -j TSRUN-POSTROUTING
-A TSRUN-POSTROUTING -s 10.88.0.0/16 ! -o tsrun0 -m comment --comment "tsrun-net:tsrun0" -j MASQUERADE
`;

  it('apply: sets up chains and jumps, adds the new rules, then deletes the old ones', () => {
    const { run, calls } = fakeRun((call) => {
      if (call.args.includes('-S')) return { stdout: call.args[2] === 'nat' ? NAT_WITH_OLD : '-P FORWARD DROP\n' };
      return {};
    });
    iptablesFirewall(run).applyNetwork(NETWORK);
    const lines = calls.map((c) => `${c.command} ${c.args.join(' ')}`);
    expect(lines).toEqual([
      'iptables -w -t nat -S',
      'iptables -w -t filter -S',
      'iptables -w -t filter -N TSRUN-FORWARD',
      'iptables -w -t filter -I FORWARD 1 -j TSRUN-FORWARD',
      'iptables -w -t nat -A TSRUN-POSTROUTING -s 10.88.0.0/16 ! -o tsrun0 -m comment --comment tsrun-net:tsrun0 -j MASQUERADE',
      'iptables -w -t filter -A TSRUN-FORWARD -i tsrun0 -m comment --comment tsrun-net:tsrun0 -j ACCEPT',
      'iptables -w -t filter -A TSRUN-FORWARD -o tsrun0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment tsrun-net:tsrun0 -j ACCEPT',
      'iptables -w -t nat -D TSRUN-POSTROUTING -s 10.88.0.0/16 ! -o tsrun0 -m comment --comment tsrun-net:tsrun0 -j MASQUERADE',
    ]);
  });

  it('remove: only deletions; an error names the step and iptables\' first line', () => {
    const { run, calls } = fakeRun((call) => (call.args.includes('-S') ? { stdout: call.args[2] === 'nat' ? NAT_WITH_OLD : '' } : {}));
    iptablesFirewall(run).removeNetwork('tsrun0');
    expect(calls.map((c) => c.args[3])).toEqual(['-S', '-S', '-D']);

    const failing = fakeRun((call) => (call.args.includes('-S') ? { stdout: NAT_WITH_OLD } : { status: 4, stderr: 'iptables v1.8.9 (nf_tables): RULE_DELETE failed (No such file or directory)\n' }));
    expect(() => iptablesFirewall(failing.run).removeNetwork('tsrun0')).toThrow(
      'iptables: remove rules for network tsrun0: iptables v1.8.9 (nf_tables): RULE_DELETE failed (No such file or directory)',
    );
  });
});

describe('enableIpForwarding', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('writes 1 when it is off, leaves it when it is on, and says which file failed', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-fw-'));
    const file = path.join(dir, 'net', 'ipv4', 'ip_forward');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '0\n');
    enableIpForwarding(dir);
    expect(fs.readFileSync(file, 'utf8')).toBe('1\n');
    fs.writeFileSync(file, '1');
    enableIpForwarding(dir); // already on: not written again (a read-only /proc/sys that has it on is fine)
    expect(fs.readFileSync(file, 'utf8')).toBe('1');
    fs.rmSync(file);
    expect(() => enableIpForwarding(dir)).toThrow(new RuntimeError('sysctl', `enable IPv4 forwarding: ${file}: ENOENT`));
  });
});
