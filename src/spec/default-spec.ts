import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../errors';
import { SyscallError, nodeErrorCode } from '../linux/errno';
import type { Mount, Namespace, Spec } from './types';

export interface DefaultSpecOptions {
  /** `tsrun spec --rootless`: a user namespace mapping container root to the caller. */
  rootless: boolean;
  /** Effective uid/gid of the caller, mapped to 0 inside; required when rootless (passed in, never read here). */
  uid?: number;
  gid?: number;
  /**
   * Add a cgroup namespace. runc adds it only on cgroup v2 (unified) hosts; the caller decides from the host, and
   * without a decision we include it (it works on v1 too and hides the host's cgroup paths).
   */
  cgroupNamespace?: boolean;
}

const DEFAULT_CAPABILITIES = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

function defaultMounts(): Mount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts', type: 'devpts', source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

/**
 * Rootless adjustments, as runc's `spec --rootless` makes them: sysfs cannot be mounted without owning the network
 * namespace, so /sys becomes a read-only recursive bind of the host's; uid=/gid= mount options name ids the user
 * namespace may not map, so they go. The cgroup mount stays (runc keeps it too: it binds the host's hierarchy).
 */
function rootlessMounts(mounts: Mount[]): Mount[] {
  return mounts.map((mount): Mount => {
    if (path.posix.normalize(mount.destination) === '/sys') {
      return { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
    }
    if (mount.options === undefined) return mount;
    return { ...mount, options: mount.options.filter((o) => !o.startsWith('uid=') && !o.startsWith('gid=')) };
  });
}

function hostId(value: number | undefined, name: 'uid' | 'gid'): number {
  if (value === undefined || !Number.isInteger(value) || value < 0 || value > 0xfffffffe) {
    throw new RuntimeError('invalid-argument', `rootless spec needs the caller's ${name} (got ${String(value)})`);
  }
  return value;
}

/**
 * The config.json `tsrun spec` writes: the content of runc v1.2's `runc spec` (a busybox-style shell with a minimal
 * capability set, read-only rootfs, masked /proc files), ociVersion of the spec tsrun implements, hostname "tsrun".
 * Keys are built in the order Go's encoder emits runc's structs, so the file reads like runc's.
 */
export function defaultSpec(options: DefaultSpecOptions): Spec {
  const namespaces: Namespace[] = [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (options.cgroupNamespace ?? true) namespaces.push({ type: 'cgroup' });

  const spec: Spec = {
    ociVersion: '1.2.1',
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_CAPABILITIES],
        effective: [...DEFAULT_CAPABILITIES],
        permitted: [...DEFAULT_CAPABILITIES],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'tsrun',
    mounts: defaultMounts(),
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces,
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  if (!options.rootless) return spec;

  const linux = spec.linux ?? {};
  const uid = hostId(options.uid, 'uid');
  const gid = hostId(options.gid, 'gid');
  // Rebuilt rather than patched so the mappings come first, where Go's encoder puts them.
  const { resources: _dropped, namespaces: rootfulNamespaces = [], ...rest } = linux;
  spec.linux = {
    uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
    gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
    // No network namespace: an unprivileged user could not configure anything in it. No resources: no cgroup
    // delegation can be assumed.
    namespaces: [...rootfulNamespaces.filter((ns) => ns.type !== 'network' && ns.type !== 'user'), { type: 'user' }],
    ...rest,
  };
  spec.mounts = rootlessMounts(spec.mounts ?? []);
  return spec;
}

/** JSON of a spec: tab-indented like runc's; 64-bit values that arrived as bigint are written as plain digits. */
export function specToJson(spec: Spec): string {
  const rawJSON = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;
  return JSON.stringify(
    spec,
    (_key, value: unknown) => {
      if (typeof value !== 'bigint') return value;
      if (rawJSON === undefined) throw new RuntimeError('internal', 'cannot write a 64-bit value: JSON.rawJSON missing');
      return rawJSON(value.toString());
    },
    '\t',
  );
}

/**
 * Writes `<bundleDir>/config.json` like `runc spec`: refuses to overwrite (the check and the create are one
 * O_EXCL open, so a file appearing meanwhile is not clobbered either), mode 0666 minus the umask (applied by the
 * kernel), no trailing newline.
 */
export function writeDefaultSpec(bundleDir: string, spec: Spec): void {
  const file = path.join(bundleDir, 'config.json');
  const text = specToJson(spec);
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o666);
  } catch (error) {
    if (nodeErrorCode(error) === 'EEXIST') {
      throw new RuntimeError('exists', `File ${file} exists. Remove it first.`);
    }
    throw toSyscallError('open', file, error);
  }
  try {
    fs.writeFileSync(fd, text);
  } catch (error) {
    // Leave no half-written config behind: the next `tsrun spec` would refuse to replace it.
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw toSyscallError('write', file, error);
  }
  fs.closeSync(fd);
}

function toSyscallError(operation: string, file: string, error: unknown): unknown {
  if (typeof error === 'object' && error !== null && 'errno' in error && typeof error.errno === 'number') {
    return new SyscallError(operation, Math.abs(error.errno), `\`${file}\``);
  }
  return error;
}
