import { CAPABILITY_NAMES } from './capabilities';
import { knownMountOptions } from './mount-options';
import { HOOK_KINDS } from './plan';
import { SECCOMP_ACTIONS, SECCOMP_KNOWN_FLAGS, SECCOMP_OPERATORS, SECCOMP_SUPPORTED_FLAGS } from './seccomp';

/** What the host's libseccomp offers (undefined when it is missing: seccomp is then unavailable). */
export interface SeccompHost {
  version: string;
  /** Spec architecture names libseccomp knows. */
  archs: string[];
}

/**
 * `tsrun features`: what this build implements (runtime-spec features.md), not what the host has — callers
 * (containerd's CRI, dockerd) switch features on from it, so it lists only what really works. Only properties
 * runtime-spec v1.2.1 defines.
 */
export function features(version: string, seccompHost?: SeccompHost): Record<string, unknown> {
  const seccomp = seccompHost === undefined ? { enabled: false } : {
    enabled: true,
    actions: Object.keys(SECCOMP_ACTIONS),
    operators: Object.keys(SECCOMP_OPERATORS),
    archs: seccompHost.archs,
    knownFlags: [...SECCOMP_KNOWN_FLAGS],
    supportedFlags: [...SECCOMP_SUPPORTED_FLAGS],
  };
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: '1.2.1',
    hooks: [...HOOK_KINDS],
    mountOptions: knownMountOptions(),
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'],
      capabilities: [...CAPABILITY_NAMES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: true },
      seccomp,
      apparmor: { enabled: true },
      selinux: { enabled: true },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: true } },
    },
    annotations: {
      'io.github.tsrun.version': version,
      ...(seccompHost ? { 'io.github.seccomp.libseccomp.version': seccompHost.version } : {}),
    },
  };
}
