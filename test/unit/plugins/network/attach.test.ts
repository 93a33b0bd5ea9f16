import { describe, expect, it } from 'vitest';
import { attachToConfig, type AttachRequest } from '../../../../src/plugins/network/attach';
import { parseAddHost, renderHosts, renderResolvConf } from '../../../../src/plugins/network/container-files';
import { parseNetworkMode } from '../../../../src/plugins/network/network-mode';
import type { Spec } from '../../../../src/spec/types';

const context = { bundle: '/b', tsrun: '/opt/tsrun/bin/tsrun', stateDir: '/var/lib/tsrun/network' };
const request = (over: Partial<AttachRequest> = {}): AttachRequest => ({ mode: { kind: 'bridge', network: 'web' }, publish: [], dns: [], addHost: [], ...over });
const base = (): Spec => ({
  ociVersion: '1.2.1',
  root: { path: 'rootfs' },
  mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
  hooks: { poststop: [{ path: '/usr/bin/other' }] },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'network', path: '/proc/1/ns/net' }] },
});

describe('network modes', () => {
  it('parses the four modes; a bare name is a bridge network; bridge means the default one', () => {
    expect(parseNetworkMode(undefined)).toEqual({ kind: 'bridge', network: 'tsrun0' });
    expect(parseNetworkMode('bridge')).toEqual({ kind: 'bridge', network: 'tsrun0' });
    expect(parseNetworkMode('web')).toEqual({ kind: 'bridge', network: 'web' });
    expect(parseNetworkMode('host')).toEqual({ kind: 'host' });
    expect(parseNetworkMode('none')).toEqual({ kind: 'none' });
    expect(parseNetworkMode('container:db')).toEqual({ kind: 'container', id: 'db' });
    expect(() => parseNetworkMode('container:')).toThrow(/container: needs a container ID/);
  });
});

describe('network attach: config.json edits', () => {
  it('bridge: a new network namespace, setup and teardown hooks carrying every option, /etc files from the bundle', () => {
    const out = attachToConfig(base(), request({ ip: '10.1.0.9', publish: ['8080:80', '53:53/udp'], hostname: 'web1', dns: ['1.1.1.1'], addHost: ['db:10.1.0.5'] }), context);
    expect(out.linux!.namespaces).toEqual([{ type: 'pid' }, { type: 'mount' }, { type: 'network' }, { type: 'uts' }]);
    expect(out.hostname).toBe('web1');
    expect(out.hooks!.createRuntime).toEqual([{
      path: context.tsrun,
      args: ['tsrun', 'network', 'setup', '--state-dir', context.stateDir, '--network', 'web', '--ip', '10.1.0.9', '--publish', '8080:80', '--publish', '53:53/udp', '--hostname', 'web1', '--dns', '1.1.1.1', '--add-host', 'db:10.1.0.5'],
      env: [expect.stringMatching(/^PATH=/)],
    }]);
    expect(out.hooks!.poststop).toEqual([{ path: '/usr/bin/other' }, { path: context.tsrun, args: ['tsrun', 'network', 'teardown', '--state-dir', context.stateDir], env: [expect.stringMatching(/^PATH=/)] }]);
    expect(out.mounts!.map((m) => [m.destination, m.source])).toEqual([
      ['/proc', 'proc'], ['/etc/hosts', '/b/network/hosts'], ['/etc/resolv.conf', '/b/network/resolv.conf'], ['/etc/hostname', '/b/network/hostname'],
    ]);
  });

  it('attaching again replaces the earlier attach instead of adding to it', () => {
    const once = attachToConfig(base(), request(), context);
    const twice = attachToConfig(once, request({ mode: { kind: 'none' } }), context);
    expect(twice.hooks!.createRuntime).toHaveLength(1);
    expect(twice.hooks!.createRuntime![0]!.args).toContain('none');
    expect(twice.hooks!.poststop).toHaveLength(2);
    expect(twice.mounts!.filter((m) => m.destination === '/etc/hosts')).toHaveLength(1);
  });

  it('host: no network namespace, no hooks, nothing of an earlier attach left', () => {
    const out = attachToConfig(attachToConfig(base(), request(), context), request({ mode: { kind: 'host' } }), context);
    expect(out.linux!.namespaces!.map((ns) => ns.type)).toEqual(['pid', 'mount']);
    expect(out.hooks!.createRuntime).toBeUndefined();
    expect(out.hooks!.poststop).toEqual([{ path: '/usr/bin/other' }]);
    expect(out.mounts).toEqual([{ destination: '/proc', type: 'proc', source: 'proc' }]);
  });

  it('container: joins the other container\'s network namespace and shares its /etc files', () => {
    const out = attachToConfig(base(), request({ mode: { kind: 'container', id: 'db' } }), { ...context, target: { pid: 4242, filesDir: '/other/network' } });
    expect(out.linux!.namespaces).toContainEqual({ type: 'network', path: '/proc/4242/ns/net' });
    expect(out.hooks!.createRuntime).toBeUndefined();
    expect(out.mounts!.find((m) => m.destination === '/etc/hosts')!.source).toBe('/other/network/hosts');
  });

  it('leaves the input untouched', () => {
    const config = base();
    const copy = structuredClone(config);
    attachToConfig(config, request(), context);
    expect(config).toEqual(copy);
  });
});

describe('container files', () => {
  it('writes /etc/hosts with localhost, the container and the extra hosts', () => {
    expect(renderHosts({ hostname: 'web1', ip: '10.1.0.9', extra: [parseAddHost('db:10.1.0.5')] }))
      .toBe('127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.0.9\tweb1\n10.1.0.5\tdb\n');
    expect(() => parseAddHost('db=10.1.0.5')).toThrow(/--add-host "db=10.1.0.5": must be NAME:IPV4/);
  });

  it('resolv.conf: --dns replaces the servers; otherwise the host\'s, without loopback servers', () => {
    const host = 'search example.org\nnameserver 127.0.0.53\nnameserver 192.0.2.1\noptions edns0\n# comment\n';
    expect(renderResolvConf({ dns: [], hostResolvConf: host })).toBe('# written by tsrun network\nsearch example.org\nnameserver 192.0.2.1\noptions edns0\n');
    expect(renderResolvConf({ dns: ['1.1.1.1'], hostResolvConf: host })).toBe('# written by tsrun network\nsearch example.org\noptions edns0\nnameserver 1.1.1.1\n');
  });
});
