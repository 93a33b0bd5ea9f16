import { CAPABILITY_NAMES } from './capabilities';
import { knownMountOptions } from './mount-options';

/**
 * `tsrun features`: what this build implements (runtime-spec features.md), not what the host has — callers
 * (containerd's CRI, dockerd) switch features on from it, so it lists only what really works: no hooks and no
 * seccomp yet, idmapped mounts yes. Only properties runtime-spec v1.2.1 defines.
 */
export function features(version: string): Record<string, unknown> {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: '1.2.1',
    hooks: [],
    mountOptions: knownMountOptions(),
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'],
      capabilities: [...CAPABILITY_NAMES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: true },
      seccomp: { enabled: false },
      apparmor: { enabled: true },
      selinux: { enabled: true },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: true } },
    },
    annotations: { 'io.github.tsrun.version': version },
  };
}
