import path from 'node:path';
import { ConfigError, NotSupportedError } from '../errors';
import { MountFlags } from '../linux/constants';
import { CAPABILITIES } from './capabilities';
import { RLIMITS } from './rlimits';
import { parseMountOptions } from './mount-options';
import type { CgroupMountAction } from './cgroup-mount-plan';
import { NAMESPACE_FLAGS, type NamespaceJoin } from './namespaces';
import { planSeccomp, type SeccompPlan } from './seccomp';
import { planCpuAffinity, planIoPriority, planPersonality, planScheduler, type CpuAffinityPlan, type SchedulerPlan } from './process-settings';
import type { Hook, Hooks, IdMapping, Int64, Linux, NamespaceType, Spec } from './types';

/**
 * Everything the container's processes need, decided up front from config.json (pure: no system calls).
 * The forked children only execute this plan; they make no decisions that could fail late.
 */
export interface ContainerPlan {
  id: string;
  bundle: string;
  rootfs: string;
  readonlyRoot: boolean;
  noPivot: boolean;
  /** Session keyring to create and join (runc's default); undefined with --no-new-keyring. */
  sessionKeyring: string | undefined;
  /** CLONE_NEW* flags of the namespaces the container gets of its own (without CLONE_NEWUSER). */
  newNamespaceFlags: number;
  /** Every namespace type the container has, new or joined. */
  namespaces: NamespaceType[];
  /** The container gets a network namespace of its own: the init brings its loopback up, as runc does. */
  newNetwork: boolean;
  /** Namespaces joined by path, in config order (stage 1 orders them: user first, mount last). */
  joinNamespaces: NamespaceJoin[];
  /** Set when the container gets a new user namespace: the maps tsrun writes for it. */
  userNamespace: { uidMappings: IdMapping[]; gidMappings: IdMapping[] } | undefined;
  /** The container runs in a user namespace (new or joined): no mknod, locked mount flags. */
  inUserNamespace: boolean;
  /** setgroups is denied in the container's user namespace (rootless): the init must not call it. */
  setgroupsDenied: boolean;
  /** linux.timeOffsets for a new time namespace. */
  timeOffsets: Array<{ clock: 'monotonic' | 'boottime'; secs: bigint; nanosecs: number }>;
  /** MS_* propagation applied to `/` of the new mount namespace before anything is mounted. */
  rootPropagation: number;
  mounts: MountStep[];
  /** Whether tsrun populates /dev (true unless config.json bind-mounts /dev from somewhere). */
  setupDev: boolean;
  devices: DeviceNode[];
  maskedPaths: string[];
  readonlyPaths: string[];
  hostname: string | undefined;
  domainname: string | undefined;
  sysctl: Array<[string, string]>;
  /** linux.intelRdt as given: checked against the host (resctrl) in create. */
  intelRdt: Record<string, unknown> | undefined;
  /** SELinux context for the container's mounts (linux.mountLabel). */
  mountLabel: string | undefined;
  /** linux.seccomp, checked and translated to numbers; compiled to BPF by create (it needs libseccomp). */
  seccomp: SeccompPlan | undefined;
  /** config.json's hooks, every kind present (empty lists for the kinds not given). */
  hooks: PlannedHooks;
  process: ProcessPlan;
}

export type HookKind = keyof Hooks;
export type PlannedHooks = Record<HookKind, Hook[]>;

export const HOOK_KINDS: readonly HookKind[] = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

/** Every hook kind as a list. The schema already checked each entry (absolute path, timeout > 0). */
export function planHooks(hooks: Hooks | undefined): PlannedHooks {
  const planned = {} as PlannedHooks;
  for (const kind of HOOK_KINDS) planned[kind] = hooks?.[kind] ?? [];
  return planned;
}

export interface MountStep {
  /** Absolute path inside the container. */
  destination: string;
  /** For bind mounts an absolute host path; otherwise the source string handed to the kernel. */
  source: string;
  type: string;
  bind: boolean;
  recursiveBind: boolean;
  flags: number;
  clearedFlags: number;
  propagation: number[];
  data: string;
  /** MOUNT_ATTR_* to set and clear on the whole mounted tree (recursive options such as rro). */
  recursive: { set: number; clear: number };
  /** tmpcopyup: copy the destination's previous contents into the new tmpfs. */
  copyUp: boolean;
  /** An idmapped bind mount: the maps, whether the whole tree is idmapped, and (filled in by create) the detached idmapped tree's fd. */
  idmap?: { uidMappings: IdMapping[]; gidMappings: IdMapping[]; recursive: boolean; treeFd?: number };
  /** For `type: cgroup`: how to build the cgroupfs view (filled in by create from the host's cgroup layout). */
  cgroupActions?: CgroupMountAction[];
}

export interface DeviceNode {
  path: string;
  type: 'c' | 'b' | 'p';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

export interface CapabilitySets {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

export interface ProcessPlan {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  umask: number | undefined;
  capabilities: CapabilitySets | undefined;
  rlimits: Array<{ resource: number; soft: bigint; hard: bigint }>;
  noNewPrivileges: boolean;
  oomScoreAdj: number | undefined;
  terminal: boolean;
  /** process.consoleSize, only when terminal is set (the spec says to ignore it otherwise). */
  consoleSize: { rows: number; cols: number } | undefined;
  /** ioprio_set value (class << 13 | priority). */
  ioPriority: number | undefined;
  scheduler: SchedulerPlan | undefined;
  /** personality(2) persona (linux.personality). */
  personality: number | undefined;
  cpuAffinity: CpuAffinityPlan | undefined;
  /** AppArmor profile to exec into (checked against the host in create). */
  apparmorProfile: string | undefined;
  /** SELinux label to exec into (dropped with a warning where SELinux is off). */
  selinuxLabel: string | undefined;
}

export interface PlanOptions {
  id: string;
  /** Absolute path of the bundle directory. */
  bundle: string;
  noPivot: boolean;
  noNewKeyring?: boolean;
}

const ROOTFS_PROPAGATION: Record<string, number> = {
  private: MountFlags.PRIVATE | MountFlags.REC,
  rprivate: MountFlags.PRIVATE | MountFlags.REC,
  slave: MountFlags.SLAVE | MountFlags.REC,
  rslave: MountFlags.SLAVE | MountFlags.REC,
  shared: MountFlags.SHARED | MountFlags.REC,
  rshared: MountFlags.SHARED | MountFlags.REC,
  unbindable: MountFlags.UNBINDABLE | MountFlags.REC,
  runbindable: MountFlags.UNBINDABLE | MountFlags.REC,
};

/** The nodes every container gets in a tsrun-populated /dev (the runtime-spec's default device list). */
export const DEFAULT_DEVICES: readonly DeviceNode[] = [
  { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/zero', type: 'c', major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/full', type: 'c', major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/random', type: 'c', major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/urandom', type: 'c', major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/tty', type: 'c', major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

/**
 * Fields of runtime-spec v1.2.1 that are valid but that this tsrun cannot apply yet. Each is refused with a
 * clear message rather than ignored: a container that silently lacks its limits or filters is worse than none.
 */
function refuseUnsupported(spec: Spec): void {
  const linux = spec.linux ?? {};
  // Empty arrays and objects (also objects of empty lists, like hooks: {prestart: []}) ask for nothing.
  const present = (value: unknown): boolean => {
    if (value === undefined || value === null) return false;
    if (Array.isArray(value)) return value.length > 0;
    if (typeof value === 'object') return Object.values(value).some(present);
    return true;
  };
  const checks: Array<[string, unknown, string?]> = [
    ['/process/user/username', spec.process?.user?.username, 'Windows only'],
    ['/linux/memoryPolicy', linux.memoryPolicy],
    ['/linux/netDevices', linux.netDevices],
  ];
  for (const [pointer, value, detail] of checks) {
    if (present(value)) throw new NotSupportedError(pointer, detail);
  }
}

/** `/dev/` and `/dev` are the same place; normalize() alone keeps the trailing slash. */
function normalizeContainerPath(p: string): string {
  return path.posix.normalize(p).replace(/(.)\/+$/, '$1');
}

function toBigInt(value: Int64): bigint {
  return typeof value === 'bigint' ? value : BigInt(value);
}

function capabilityMask(names: string[] | undefined, pointer: string): bigint {
  let mask = 0n;
  (names ?? []).forEach((name, i) => {
    const bit = Object.hasOwn(CAPABILITIES, name) ? CAPABILITIES[name] : undefined;
    if (bit === undefined) throw new ConfigError(`${pointer}/${i}`, `must be a Linux capability name (e.g. CAP_KILL), got ${JSON.stringify(name)}`);
    mask |= 1n << BigInt(bit);
  });
  return mask;
}

function planIdmap(spec: Spec, i: number, mode: 'none' | 'idmap' | 'ridmap', bind: boolean): MountStep['idmap'] {
  const mount = spec.mounts![i]!;
  const hasMaps = (mount.uidMappings?.length ?? 0) > 0 || (mount.gidMappings?.length ?? 0) > 0;
  if (mode === 'none' && !hasMaps) return undefined;
  if (!bind) throw new ConfigError(`/mounts/${i}`, 'can only be idmapped (idmap, ridmap, uidMappings) when it is a bind mount');
  // Without maps of its own the mount takes the container's user namespace maps, as runc does.
  const uidMappings = hasMaps ? mount.uidMappings ?? [] : spec.linux?.uidMappings ?? [];
  const gidMappings = hasMaps ? mount.gidMappings ?? [] : spec.linux?.gidMappings ?? [];
  if (uidMappings.length === 0 || gidMappings.length === 0) {
    throw new ConfigError(`/mounts/${i}/options`, `${mode} needs uidMappings and gidMappings on the mount or a user namespace with maps`);
  }
  return { uidMappings, gidMappings, recursive: mode === 'ridmap' };
}

function planMounts(spec: Spec, bundle: string): MountStep[] {
  return (spec.mounts ?? []).map((mount, i) => {
    const options = parseMountOptions(mount.options);
    const type = mount.type ?? '';
    const bind = options.bind || type === 'bind';
    if (options.copyUp && type !== 'tmpfs') {
      throw new ConfigError(`/mounts/${i}/options`, `tmpcopyup only applies to tmpfs mounts, got type ${JSON.stringify(type)}`);
    }
    if (!bind && type === '') {
      throw new ConfigError(`/mounts/${i}/type`, 'must be set for a mount that is not a bind mount (options "bind" or "rbind")');
    }
    let source = mount.source ?? '';
    if (bind) {
      if (source === '') throw new ConfigError(`/mounts/${i}/source`, 'must be set for a bind mount');
      // runc resolves a relative bind source against the bundle directory.
      source = path.resolve(bundle, source);
    }
    return {
      destination: normalizeContainerPath(mount.destination),
      source,
      type: bind ? 'bind' : type,
      bind,
      recursiveBind: options.recursiveBind,
      flags: options.flags,
      clearedFlags: options.clearedFlags,
      propagation: options.propagation,
      data: options.data.join(','),
      recursive: options.recursive,
      copyUp: options.copyUp,
      idmap: planIdmap(spec, i, options.idmap, bind),
    };
  });
}

/**
 * In a user namespace sysfs can only be mounted together with a network namespace owned by it; runc then
 * bind-mounts the host's /sys instead, read-only and recursively. So does tsrun.
 */
function sysfsAsBind(step: MountStep): MountStep {
  return {
    ...step,
    type: 'bind',
    source: '/sys',
    bind: true,
    recursiveBind: true,
    flags: step.flags | MountFlags.NOSUID | MountFlags.NODEV | MountFlags.NOEXEC,
    data: '',
    // Read-only all the way down (runc makes only the top read-only; /sys/fs/cgroup below would stay writable).
    recursive: (step.flags & MountFlags.RDONLY) !== 0 ? { set: 0x1, clear: 0 } : step.recursive,
  };
}

function planTimeOffsets(offsets: Linux['timeOffsets']): ContainerPlan['timeOffsets'] {
  return Object.entries(offsets ?? {}).map(([clock, offset]) => {
    if (clock !== 'monotonic' && clock !== 'boottime') {
      throw new ConfigError(`/linux/timeOffsets/${clock}`, `must be "monotonic" or "boottime", got ${JSON.stringify(clock)}`);
    }
    return { clock, secs: toBigInt(offset.secs ?? 0), nanosecs: offset.nanosecs ?? 0 };
  });
}

function planDevices(spec: Spec): DeviceNode[] {
  return (spec.linux?.devices ?? []).map((device, i) => {
    if (device.type !== 'c' && device.type !== 'b' && device.type !== 'p' && device.type !== 'u') {
      throw new ConfigError(`/linux/devices/${i}/type`, `must be one of c, b, u, p, got ${JSON.stringify(device.type)}`);
    }
    if (device.type !== 'p' && (device.major === undefined || device.minor === undefined)) {
      throw new ConfigError(`/linux/devices/${i}`, 'must have major and minor for a character or block device');
    }
    return {
      path: normalizeContainerPath(device.path),
      type: device.type === 'u' ? 'c' : device.type,
      major: Number(device.major ?? 0),
      minor: Number(device.minor ?? 0),
      fileMode: device.fileMode ?? 0o666,
      uid: device.uid ?? 0,
      gid: device.gid ?? 0,
    };
  });
}

function planProcess(spec: Spec): ProcessPlan {
  const process = spec.process;
  if (!process) throw new ConfigError('/process', 'must be set: tsrun needs a process to run');
  const args = process.args ?? [];
  if (args.length === 0) throw new ConfigError('/process/args', 'must be a non-empty array');
  const caps = process.capabilities;
  const rlimits = (process.rlimits ?? []).map((rlimit, i) => {
    const resource = Object.hasOwn(RLIMITS, rlimit.type) ? RLIMITS[rlimit.type] : undefined;
    if (resource === undefined) throw new ConfigError(`/process/rlimits/${i}/type`, `must be an RLIMIT_* name, got ${JSON.stringify(rlimit.type)}`);
    return { resource, soft: toBigInt(rlimit.soft), hard: toBigInt(rlimit.hard) };
  });
  return {
    args,
    env: process.env ?? [],
    cwd: process.cwd,
    uid: process.user.uid,
    gid: process.user.gid,
    additionalGids: process.user.additionalGids ?? [],
    umask: process.user.umask,
    capabilities: caps === undefined ? undefined : {
      bounding: capabilityMask(caps.bounding, '/process/capabilities/bounding'),
      effective: capabilityMask(caps.effective, '/process/capabilities/effective'),
      permitted: capabilityMask(caps.permitted, '/process/capabilities/permitted'),
      inheritable: capabilityMask(caps.inheritable, '/process/capabilities/inheritable'),
      ambient: capabilityMask(caps.ambient, '/process/capabilities/ambient'),
    },
    rlimits,
    noNewPrivileges: process.noNewPrivileges ?? false,
    oomScoreAdj: process.oomScoreAdj,
    terminal: process.terminal ?? false,
    consoleSize: process.terminal && process.consoleSize ? { rows: process.consoleSize.height, cols: process.consoleSize.width } : undefined,
    ioPriority: planIoPriority(process.ioPriority)?.ioprio,
    scheduler: planScheduler(process.scheduler),
    personality: planPersonality(spec.linux?.personality)?.persona,
    cpuAffinity: planCpuAffinity(process.execCPUAffinity),
    apparmorProfile: process.apparmorProfile || undefined,
    selinuxLabel: process.selinuxLabel || undefined,
  };
}

export function buildPlan(spec: Spec, options: PlanOptions): ContainerPlan {
  refuseUnsupported(spec);
  if (!spec.root?.path) throw new ConfigError('/root/path', 'must name the root filesystem directory');
  const linux = spec.linux ?? {};
  const namespaces = (linux.namespaces ?? []).map((ns) => ns.type);
  if (!namespaces.includes('mount')) {
    // Without a mount namespace of its own the container's mounts and pivot_root would land on the host.
    throw new NotSupportedError('/linux/namespaces', 'a container without a mount namespace entry');
  }
  const joinNamespaces: NamespaceJoin[] = [];
  let newNamespaceFlags = 0;
  (linux.namespaces ?? []).forEach((ns, i) => {
    if (ns.path !== undefined && ns.path !== '') joinNamespaces.push({ type: ns.type, path: ns.path, pointer: `/linux/namespaces/${i}` });
    else if (ns.type !== 'user') newNamespaceFlags |= NAMESPACE_FLAGS[ns.type];
  });
  const newUser = (linux.namespaces ?? []).some((ns) => ns.type === 'user' && !ns.path);
  const userNamespace = newUser ? { uidMappings: linux.uidMappings ?? [], gidMappings: linux.gidMappings ?? [] } : undefined;
  const inUserNamespace = namespaces.includes('user');

  const propagationName = linux.rootfsPropagation;
  let rootPropagation: number = MountFlags.SLAVE | MountFlags.REC;
  if (propagationName !== undefined && propagationName !== '') {
    const flags = ROOTFS_PROPAGATION[propagationName];
    if (flags === undefined) {
      throw new ConfigError('/linux/rootfsPropagation', `must be one of ${Object.keys(ROOTFS_PROPAGATION).join(', ')}, got ${JSON.stringify(propagationName)}`);
    }
    rootPropagation = flags;
  }

  const newNetwork = (linux.namespaces ?? []).some((ns) => ns.type === 'network' && !ns.path);
  const mounts = planMounts(spec, options.bundle).map((m) => (inUserNamespace && !newNetwork && m.type === 'sysfs' ? sysfsAsBind(m) : m));
  const devBound = mounts.some((m) => m.destination === '/dev' && m.bind);
  const sysctl = Object.entries(linux.sysctl ?? {});
  return {
    id: options.id,
    bundle: options.bundle,
    rootfs: path.resolve(options.bundle, spec.root.path),
    readonlyRoot: spec.root.readonly ?? false,
    noPivot: options.noPivot,
    sessionKeyring: options.noNewKeyring ? undefined : `_ses.${options.id}`,
    newNamespaceFlags,
    namespaces,
    newNetwork,
    joinNamespaces,
    userNamespace,
    inUserNamespace,
    setgroupsDenied: false,
    timeOffsets: planTimeOffsets(linux.timeOffsets),
    rootPropagation,
    mounts,
    setupDev: !devBound,
    devices: planDevices(spec),
    maskedPaths: linux.maskedPaths ?? [],
    readonlyPaths: linux.readonlyPaths ?? [],
    hostname: spec.hostname,
    domainname: spec.domainname,
    sysctl,
    mountLabel: linux.mountLabel || undefined,
    intelRdt: linux.intelRdt && Object.keys(linux.intelRdt).length > 0 ? linux.intelRdt : undefined,
    seccomp: linux.seccomp ? planSeccomp(linux.seccomp) : undefined,
    hooks: planHooks(spec.hooks),
    process: planProcess(spec),
  };
}
