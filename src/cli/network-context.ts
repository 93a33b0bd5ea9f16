import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createFileLock } from '../linux/file-lock';
import { openRtNetlink, openRtNetlinkIn } from '../linux/netlink';
import { createSys } from '../linux/sys';
import { AttachmentStore } from '../plugins/network/attachments';
import type { NetworkDeps } from '../plugins/network/container-network';
import { detectFirewall, enableIpForwarding } from '../plugins/network/firewall';
import { Ipam } from '../plugins/network/ipam';
import { NetworkStore } from '../plugins/network/network-store';

/** The real dependencies of the network plugin, for a state directory. */
export function networkDeps(stateDir: string): NetworkDeps {
  const store = new NetworkStore({ dir: stateDir, lock: createFileLock(createSys()) });
  return {
    store,
    ipam: new Ipam(store),
    attachments: new AttachmentStore(stateDir),
    firewall: () => detectFirewall(),
    hostNetlink: openRtNetlink,
    netlinkIn: openRtNetlinkIn,
    enableIpForwarding: () => enableIpForwarding(),
    hostResolvConf: () => {
      try {
        return fs.readFileSync('/etc/resolv.conf', 'utf8');
      } catch {
        return '';
      }
    },
  };
}

/** The launcher hooks run: bin/tsrun of this installation (dist/ is beside bin/). */
export function tsrunLauncher(): string {
  return fileURLToPath(new URL('../bin/tsrun', import.meta.url));
}
