import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../../errors';
import type { RtNetlink } from '../../linux/netlink';
import { NETWORK_FILES, networkFilesDir } from './attach';
import type { Attachment, AttachmentStore } from './attachments';
import { parseAddHost, renderHostname, renderHosts, renderResolvConf } from './container-files';
import type { Firewall } from './firewall';
import type { Ipam } from './ipam';
import { subnetOf, type NetworkStore } from './network-store';
import { parseNetworkMode } from './network-mode';
import { type OverlaySettings, vxlanDeviceName } from './overlay';
import { checkHostPortsFree, checkPortConflicts, parsePublish, type PublishSpec } from './publish';
import type { HookState } from '../../spec/hook-state';

/**
 * `tsrun network setup` and `teardown`: connect a container to a bridge network and disconnect it. They run as
 * the container's createRuntime and poststop hooks (the OCI state on stdin) in the runtime's namespaces, or by
 * hand. Everything they touch is passed in, so tests can substitute any part.
 */

export interface NetworkDeps {
  store: NetworkStore;
  ipam: Ipam;
  attachments: AttachmentStore;
  firewall(): Firewall;
  /** rtnetlink in tsrun's own network namespace (the "host"). */
  hostNetlink(): RtNetlink;
  /** rtnetlink inside the network namespace at this path. */
  netlinkIn(netnsPath: string): RtNetlink;
  enableIpForwarding(): void;
  hostResolvConf(): string;
  /** Is something on the host listening on this port? */
  portInUse?: Parameters<typeof checkHostPortsFree>[1];
}

export interface SetupOptions {
  network?: string;
  ip?: string;
  publish: readonly string[];
  hostname?: string;
  dns: readonly string[];
  addHost: readonly string[];
}

/** The host end of a container's veth pair: ≤ 15 bytes, stable for an ID, so a leftover one is found again. */
export function hostVethName(id: string): string {
  return `tsv${createHash('sha256').update(id).digest('hex').slice(0, 11)}`;
}

export const CONTAINER_INTERFACE = 'eth0';
const aliasOf = (id: string) => `tsrun:${id}`;

export function setupContainerNetwork(deps: NetworkDeps, state: HookState, options: SetupOptions): Attachment | undefined {
  const mode = parseNetworkMode(options.network);
  const hostname = (options.hostname ?? state.id).slice(0, 63);
  const extraHosts = options.addHost.map(parseAddHost);
  const publish = options.publish.map(parsePublish);
  if (mode.kind === 'host' || mode.kind === 'container') {
    // Nothing to set up: `attach` left the namespace out or pointed it at the other container's.
    return undefined;
  }
  if (mode.kind === 'none') {
    if (publish.length > 0) throw new RuntimeError('usage', '--publish: a container with --network none has no network to publish on');
    writeContainerFiles(state, deps, { hostname, extraHosts, dns: options.dns });
    return undefined;
  }
  if (state.pid === undefined || state.pid <= 0) throw new RuntimeError('usage', 'container state on stdin: "pid" is needed to find the container\'s network namespace');
  const network = mode.network === 'tsrun0' ? deps.store.ensureDefault() : deps.store.get(mode.network);

  // Refusals first, while nothing exists yet.
  const existing = deps.attachments.list().filter((a) => a.id !== state.id).flatMap((a) => a.publish.map((spec) => ({ containerId: a.id, spec })));
  checkPortConflicts(existing, publish);
  checkHostPortsFree(publish, deps.portInUse);
  const earlier = deps.attachments.read(state.id);
  if (earlier) teardownContainerNetwork(deps, state.id); // a leftover of a crashed container with this ID

  const attachment: Attachment = { id: state.id, network: network.name, hostVeth: hostVethName(state.id), publish: [...publish] };
  deps.attachments.write(attachment);
  try {
    attachment.ip = deps.ipam.allocate(network.name, state.id, options.ip);
    deps.attachments.write(attachment);
    const prefix = subnetOf(network).prefix;
    const netnsPath = `/proc/${state.pid}/ns/net`;

    // What the network's containers share (bridge, VXLAN device, forwarding, the network's firewall rules) is made
    // under the network lock: setups running at once would otherwise race to create the bridge, or replace the
    // network's nft rules together (one transaction then deletes a rule handle the other already removed).
    const bridgeIndex = deps.store.withNetworkLock(network.name, () => {
      const host = deps.hostNetlink();
      let index: number;
      try {
        const bridge = host.linkByName(network.bridge) ?? host.createBridge(network.bridge);
        if (!host.addresses().some((a) => a.index === bridge.index && a.local === network.gateway && a.prefix === prefix)) {
          host.addAddress(bridge.index, network.gateway, prefix);
        }
        if (network.overlay) connectOverlay(host, network.overlay, bridge.index);
        host.setUp(bridge.index);
        index = bridge.index;
      } finally {
        host.close();
      }
      deps.enableIpForwarding();
      deps.firewall().applyNetwork({ name: network.name, bridge: network.bridge, subnet: network.subnet });
      return index;
    });

    const host = deps.hostNetlink();
    try {
      const netnsFd = fs.openSync(netnsPath, fs.constants.O_RDONLY);
      try {
        host.createVethPair(attachment.hostVeth, CONTAINER_INTERFACE, netnsFd);
      } finally {
        fs.closeSync(netnsFd);
      }
      if (network.mtu !== undefined) host.setMtu(attachment.hostVeth, network.mtu);
      host.setAlias(attachment.hostVeth, aliasOf(state.id));
      host.setMaster(attachment.hostVeth, bridgeIndex);
      host.setUp(attachment.hostVeth);
    } finally {
      host.close();
    }

    const inside = deps.netlinkIn(netnsPath);
    try {
      inside.setUp('lo');
      const eth0 = inside.link(CONTAINER_INTERFACE);
      if (network.mtu !== undefined) inside.setMtu(eth0.index, network.mtu);
      inside.addAddress(eth0.index, attachment.ip, prefix);
      inside.setUp(eth0.index);
      inside.addRoute({ gateway: network.gateway, oif: eth0.index });
    } finally {
      inside.close();
    }

    if (publish.length > 0) deps.firewall().applyContainer(state.id, publish.map((spec) => ({ ...spec, containerIp: attachment.ip! })));
    writeContainerFiles(state, deps, { hostname, ip: attachment.ip, extraHosts, dns: options.dns });
    return attachment;
  } catch (error) {
    try {
      teardownContainerNetwork(deps, state.id);
    } catch {
      // the original error is the one to report; teardown runs again as the poststop hook
    }
    throw error;
  }
}

/**
 * The overlay's VXLAN device as a port of the bridge, flooding to every peer. Made once per network and host, and
 * left in place like the bridge (`network rm` removes both); the forwarding entries are appended idempotently, so a
 * device someone emptied by hand is repaired by the next container's setup.
 */
function connectOverlay(host: RtNetlink, overlay: OverlaySettings, bridgeIndex: number): void {
  const name = vxlanDeviceName(overlay.vni);
  const device = host.linkByName(name) ?? host.createVxlan(name, { vni: overlay.vni, port: overlay.port, local: overlay.local });
  if (device.master !== bridgeIndex) host.setMaster(device.index, bridgeIndex);
  for (const peer of overlay.peers) host.appendFdb(device.index, peer);
  host.setUp(device.index);
}

/** Removes what setup made for `id`: its veth pair, firewall rules, address and record. Nothing to remove is fine. */
export function teardownContainerNetwork(deps: NetworkDeps, id: string): boolean {
  const attachment = deps.attachments.read(id);
  if (!attachment) return false;
  const host = deps.hostNetlink();
  try {
    const link = host.linkByName(attachment.hostVeth);
    // Only the link made for this container (a crash may have left the name to someone else's by now).
    if (link && (link.alias === undefined || link.alias === aliasOf(id))) host.deleteLinkIfExists(link.index);
  } finally {
    host.close();
  }
  if (attachment.publish.length > 0) deps.firewall().removeContainer(id);
  try {
    deps.ipam.release(attachment.network, id);
  } catch (error) {
    // The network itself may be gone (removed with --force or by hand): then so is the allocation.
    if (!(error instanceof RuntimeError && /does not exist/.test(error.message))) throw error;
  }
  deps.attachments.remove(id);
  return true;
}

interface FileContent {
  hostname: string;
  ip?: string;
  extraHosts: ReturnType<typeof parseAddHost>[];
  dns: readonly string[];
}

/**
 * Rewrites the bundle's network/ files in place: they are already bind-mounted into the container (create did
 * that before this hook ran), so the inode must stay the same — no rename.
 */
function writeContainerFiles(state: HookState, deps: NetworkDeps, content: FileContent): void {
  if (state.bundle === undefined) return;
  const dir = networkFilesDir(state.bundle);
  const texts: Record<(typeof NETWORK_FILES)[number], string> = {
    hosts: renderHosts({ hostname: content.hostname, ip: content.ip, extra: content.extraHosts }),
    'resolv.conf': renderResolvConf({ dns: content.dns, hostResolvConf: deps.hostResolvConf() }),
    hostname: renderHostname(content.hostname),
  };
  for (const name of NETWORK_FILES) {
    const file = path.join(dir, name);
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // not attached with `tsrun network attach`
      throw new RuntimeError('network', `write ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    try {
      fs.writeSync(fd, texts[name]);
    } finally {
      fs.closeSync(fd);
    }
  }
}

export type { PublishSpec };
