import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../../errors';
import { printOut, printTable } from '../output';
import type { FlagSpec, Verb } from '../verb';
import type { NetworkRecord } from '../../plugins/network/network-store';

/** `tsrun network …`: Docker-style bridge networks for containers, wired in as OCI hooks (README, Networking). */

/**
 * Networks, allocations and per-container records. Declared here, not in network-context.ts: this file is loaded
 * by every tsrun call (the verb table), the plugin only by network verbs.
 */
const DEFAULT_NETWORK_DIR = '/var/lib/tsrun/network';

const STATE_DIR: Record<string, FlagSpec> = {
  'state-dir': { type: 'string', path: true, default: DEFAULT_NETWORK_DIR, describe: 'where networks and allocations are kept' },
};

const CONNECT_OPTIONS: Record<string, FlagSpec> = {
  network: { type: 'string', default: 'tsrun0', describe: 'a network name, or none, host, container:ID' },
  ip: { type: 'string', describe: 'the container\'s address (default: the lowest free one)' },
  publish: { alias: 'p', type: 'string', array: true, default: [], describe: '[HOSTIP:]HOSTPORT:PORT[/tcp|udp]' },
  hostname: { type: 'string', describe: 'the container\'s hostname (also in /etc/hosts)' },
  dns: { type: 'string', array: true, default: [], describe: 'a nameserver for /etc/resolv.conf' },
  'add-host': { type: 'string', array: true, default: [], describe: 'NAME:IP for /etc/hosts' },
};

interface ConnectArgs {
  stateDir: string;
  network: string;
  ip?: string;
  publish: string[];
  hostname?: string;
  dns: string[];
  addHost: string[];
}

async function deps(stateDir: string) {
  const { networkDeps } = await import('../network-context');
  return networkDeps(stateDir);
}

interface CreateArgs {
  name: string;
  stateDir: string;
  subnet?: string;
  gateway?: string;
  bridge?: string;
  label: string[];
  driver: string;
  ipRange?: string;
  mtu?: number;
  vni?: number;
  peer: string[];
  local?: string;
  vxlanPort?: number;
}

export const networkCreateVerb: Verb<CreateArgs> = {
  name: 'network create',
  describe: 'create a bridge network (or an overlay: a bridge joined to other hosts\' bridges through VXLAN)',
  positionals: [{ name: 'name' }],
  options: {
    ...STATE_DIR,
    subnet: { type: 'string', describe: 'IPv4 CIDR (default: the first free /16 from 10.89.0.0)' },
    gateway: { type: 'string', describe: 'the bridge\'s address (default: the first host of the subnet)' },
    bridge: { type: 'string', describe: 'the bridge interface\'s name (default: tsrun-<hash>)' },
    label: { type: 'string', array: true, default: [], describe: 'KEY=VALUE' },
    driver: { alias: 'd', type: 'string', choices: ['bridge', 'overlay'], default: 'bridge' },
    'ip-range': { type: 'string', describe: 'CIDR inside the subnet to allocate addresses from' },
    mtu: { type: 'number', describe: 'the containers\' interface MTU (overlay default: 1450)' },
    vni: { type: 'number', describe: 'overlay: the VXLAN id, the same on every host' },
    peer: { type: 'string', array: true, default: [], describe: 'overlay: another host\'s underlay address (repeatable)' },
    local: { type: 'string', describe: 'overlay: this host\'s underlay address (default: chosen by route)' },
    'vxlan-port': { type: 'number', describe: 'overlay: the UDP port (default: 4789)' },
  },
  async handler(_cli, args) {
    const labels: Record<string, string> = {};
    for (const label of args.label) {
      const eq = label.indexOf('=');
      if (eq <= 0) throw new RuntimeError('usage', `--label ${JSON.stringify(label)}: must be KEY=VALUE`);
      labels[label.slice(0, eq)] = label.slice(eq + 1);
    }
    const { store } = await deps(args.stateDir);
    const record = store.create({
      name: args.name,
      subnet: args.subnet,
      gateway: args.gateway,
      bridge: args.bridge,
      labels: args.label.length > 0 ? labels : undefined,
      driver: args.driver,
      ipRange: args.ipRange,
      mtu: args.mtu,
      overlay: { vni: args.vni, peers: args.peer, local: args.local, port: args.vxlanPort },
    });
    printOut(`${record.name}\n`);
  },
};

export const networkListVerb: Verb<{ stateDir: string; format: string; quiet: boolean }> = {
  name: 'network list',
  aliases: ['ls'],
  describe: 'list the networks',
  positionals: [],
  options: {
    ...STATE_DIR,
    format: { alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table' },
    quiet: { alias: 'q', type: 'boolean', default: false, describe: 'print only the names' },
  },
  async handler(_cli, args) {
    const { store } = await deps(args.stateDir);
    const networks = store.list();
    if (args.quiet) printOut(networks.map((n) => `${n.name}\n`).join(''));
    else if (args.format === 'json') printOut(`${JSON.stringify(networks, null, 2)}\n`);
    else {
      const rows = [['NAME', 'DRIVER', 'SUBNET', 'GATEWAY', 'BRIDGE'], ...networks.map((n) => [n.name, n.driver, n.subnet, n.gateway, n.bridge])];
      printTable(rows);
    }
  },
};

export const networkInspectVerb: Verb<{ names: string[]; stateDir: string }> = {
  name: 'network inspect',
  describe: 'print networks as JSON, with the containers attached and their addresses',
  positionals: [{ name: 'names', variadic: true }],
  options: { ...STATE_DIR },
  async handler(_cli, args) {
    if (args.names.length === 0) throw new RuntimeError('usage', 'network inspect: name at least one network');
    const { store, ipam } = await deps(args.stateDir);
    const out = args.names.map((name) => ({ ...(name === 'tsrun0' ? store.ensureDefault() : store.get(name)), containers: ipam.allocations(name) }));
    printOut(`${JSON.stringify(out, null, 2)}\n`);
  },
};

export const networkRemoveVerb: Verb<{ names: string[]; stateDir: string }> = {
  name: 'network rm',
  aliases: ['remove'],
  describe: 'remove networks (refused while containers are attached) and their bridges and rules',
  positionals: [{ name: 'names', variadic: true }],
  options: { ...STATE_DIR },
  async handler(_cli, args) {
    if (args.names.length === 0) throw new RuntimeError('usage', 'network rm: name at least one network');
    const d = await deps(args.stateDir);
    for (const name of args.names) {
      const record = d.store.get(name);
      d.store.remove(name, (n) => d.ipam.usersOf(n));
      await removeNetworkArtefacts(d, record);
      printOut(`${name}\n`);
    }
  },
};

export const networkPruneVerb: Verb<{ stateDir: string }> = {
  name: 'network prune',
  describe: 'remove every network no container is attached to (the default one stays)',
  positionals: [],
  options: { ...STATE_DIR },
  async handler(_cli, args) {
    const d = await deps(args.stateDir);
    const records = new Map(d.store.list().map((n) => [n.name, n]));
    for (const name of d.store.prune((n) => d.ipam.usersOf(n))) {
      await removeNetworkArtefacts(d, records.get(name)!);
      printOut(`${name}\n`);
    }
  },
};

async function removeNetworkArtefacts(d: Awaited<ReturnType<typeof deps>>, record: NetworkRecord): Promise<void> {
  const host = d.hostNetlink();
  try {
    if (record.overlay) {
      const { vxlanDeviceName } = await import('../../plugins/network/overlay');
      host.deleteLinkIfExists(vxlanDeviceName(record.overlay.vni));
    }
    host.deleteLinkIfExists(record.bridge);
  } finally {
    host.close();
  }
  d.firewall().removeNetwork(record.name);
}

export const networkSetupVerb: Verb<ConnectArgs> = {
  name: 'network setup',
  describe: 'connect a container (OCI state on stdin): the createRuntime hook `network attach` installs',
  positionals: [],
  options: { ...STATE_DIR, ...CONNECT_OPTIONS },
  async handler(_cli, args) {
    const [{ setupContainerNetwork }, { parseHookState }] = await Promise.all([import('../../plugins/network/container-network'), import('../../spec/hook-state')]);
    const state = parseHookState(fs.readFileSync(0, 'utf8'));
    setupContainerNetwork(await deps(args.stateDir), state, args);
  },
};

export const networkTeardownVerb: Verb<{ id?: string; stateDir: string }> = {
  name: 'network teardown',
  describe: 'disconnect a container (its ID, or OCI state on stdin): the poststop hook; nothing to do is fine',
  positionals: [{ name: 'id', default: '' }],
  options: { ...STATE_DIR },
  async handler(_cli, args) {
    const [{ teardownContainerNetwork }, { parseHookState }] = await Promise.all([import('../../plugins/network/container-network'), import('../../spec/hook-state')]);
    const id = args.id ? args.id : parseHookState(fs.readFileSync(0, 'utf8')).id;
    teardownContainerNetwork(await deps(args.stateDir), id);
  },
};

export const networkAttachVerb: Verb<ConnectArgs & { bundle: string }> = {
  name: 'network attach',
  describe: 'wire a bundle\'s config.json to a network: namespace, hooks and /etc files',
  positionals: [{ name: 'bundle', path: true }],
  options: { ...STATE_DIR, ...CONNECT_OPTIONS },
  async handler(cli, args) {
    const [{ attachToConfig, networkFilesDir, NETWORK_FILES }, { parseNetworkMode }, { tsrunLauncher }, { parsePublish }, { parseAddHost }] = await Promise.all([
      import('../../plugins/network/attach'), import('../../plugins/network/network-mode'), import('../network-context'),
      import('../../plugins/network/publish'), import('../../plugins/network/container-files'),
    ]);
    const bundle = path.resolve(args.bundle);
    const configPath = path.join(bundle, 'config.json');
    const { parseJsonLossless } = await import('../../spec/json');
    const config = parseJsonLossless(fs.readFileSync(configPath, 'utf8'), configPath) as import('../../spec/types').Spec;
    const mode = parseNetworkMode(args.network);
    // Check what setup would refuse now, not when the container starts.
    args.publish.forEach(parsePublish);
    args.addHost.forEach(parseAddHost);
    if (mode.kind === 'bridge') {
      const { store } = await deps(args.stateDir);
      const network = mode.network === 'tsrun0' ? store.ensureDefault() : store.get(mode.network);
      if (args.ip !== undefined) {
        const [{ contains, parseIPv4 }, { subnetOf }] = await Promise.all([import('../../plugins/network/ipv4'), import('../../plugins/network/network-store')]);
        if (!contains(subnetOf(network), parseIPv4(args.ip, '--ip'))) throw new RuntimeError('usage', `--ip ${args.ip}: outside network ${JSON.stringify(network.name)} (${network.subnet})`);
      }
    } else if (args.ip !== undefined || args.publish.length > 0) {
      throw new RuntimeError('usage', `--ip and --publish need a bridge network, not --network ${args.network}`);
    }
    let target: { pid: number; filesDir?: string } | undefined;
    if (mode.kind === 'container') {
      const { inspectContainer } = await import('../../container/inspect');
      const view = inspectContainer(cli.context(), mode.id);
      if (view.status !== 'running' && view.status !== 'created') throw new RuntimeError('state', `--network container:${mode.id}: the container is ${view.status}, not running`);
      const filesDir = networkFilesDir(view.state.bundle);
      target = { pid: view.state.initPid, filesDir: fs.existsSync(path.join(filesDir, 'hosts')) ? filesDir : undefined };
    }
    const request = { mode, ip: args.ip, publish: args.publish, hostname: args.hostname, dns: args.dns, addHost: args.addHost };
    const next = attachToConfig(config, request, { bundle, tsrun: tsrunLauncher(), stateDir: path.resolve(args.stateDir), target });
    // The files exist before create bind-mounts them; setup fills them in place. Made first, removed again if
    // config.json cannot be replaced, so a failed attach leaves the bundle as it was.
    const dir = networkFilesDir(bundle);
    const madeDir = (mode.kind === 'bridge' || mode.kind === 'none') && !fs.existsSync(dir);
    try {
      if (mode.kind === 'bridge' || mode.kind === 'none') {
        fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
        for (const name of NETWORK_FILES) fs.writeFileSync(path.join(dir, name), '', { flag: 'a' });
      }
      const [{ writeFileAtomic }, { specToJson }] = await Promise.all([import('../../linux/atomic-file'), import('../../spec/default-spec')]);
      writeFileAtomic(bundle, 'config.json', specToJson(next), 0o644);
    } catch (error) {
      if (madeDir) fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  },
};

export const NETWORK_VERBS = [
  networkCreateVerb, networkListVerb, networkInspectVerb, networkRemoveVerb, networkPruneVerb, networkSetupVerb, networkTeardownVerb, networkAttachVerb,
];
