import { ConfigError, describeValue } from '../errors';
import type { IdMapping, Namespace, NamespaceType, Spec } from './types';

/**
 * Rules for config.json that JSON Schema cannot express (uniqueness, cross-field requirements, paths),
 * checked after the schema accepted the document. Pure: no file system, no system calls. Each failure is
 * a ConfigError naming the JSON pointer of the offending value.
 *
 * "A private namespace" below means an entry of that type in linux.namespaces, new or joined by path
 * (runc's rule: whether a joined path is really the host's namespace needs the file system, so it is
 * checked when the container is set up, not here).
 */
export function checkConfigSemantics(spec: Spec, source = 'config.json'): void {
  const fail = (pointer: string, message: string): never => {
    throw new ConfigError(pointer, message, { source });
  };

  checkNoNul(spec, fail);
  if (spec.root !== undefined && spec.root.path === '') fail('/root/path', 'must be a non-empty string, got ""');

  checkProcess(spec, fail);
  checkMounts(spec, fail);
  checkLinux(spec, fail);
}

type Fail = (pointer: string, message: string) => never;

/** JSON pointer segment escaping (RFC 6901). */
export function escapePointerSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isAbsolute(path: string): boolean {
  return path.startsWith('/');
}

function hasDotDot(path: string): boolean {
  return path.split('/').includes('..');
}

function toBigInt(value: number | bigint): bigint {
  return typeof value === 'bigint' ? value : BigInt(value);
}

/** The parts of config.json tsrun applies: their strings become C strings (paths, args, hostnames, options). */
const APPLIED_FIELDS = ['process', 'root', 'hostname', 'domainname', 'mounts', 'hooks', 'linux'] as const;

/**
 * No string in the applied parts may hold a NUL: the kernel would see it cut short there (a hook path
 * "/bin/tr\u0000ue" would run /bin/tr). Annotations and unknown top-level fields are only passed on, so they may.
 */
function checkNoNul(spec: Spec, fail: Fail): void {
  const document = spec as unknown as Record<string, unknown>;
  const pending: [string, unknown][] = APPLIED_FIELDS.map((field) => [`/${field}`, document[field]]);
  for (let next = 0; next < pending.length; next++) {
    const [pointer, value] = pending[next]!;
    if (typeof value === 'string') {
      if (value.includes('\0')) fail(pointer, `must not contain a NUL byte, got ${describeValue(value)}`);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => pending.push([`${pointer}/${i}`, item]));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        if (key.includes('\0')) fail(pointer, `has key ${describeValue(key)}, but keys must not contain a NUL byte`);
        pending.push([`${pointer}/${escapePointerSegment(key)}`, item]);
      }
    }
  }
}

function checkProcess(spec: Spec, fail: Fail): void {
  const process = spec.process;
  if (process === undefined) return;
  if (!Array.isArray(process.args) || process.args.length === 0) fail('/process/args', 'must be a non-empty array');
  if (!isAbsolute(process.cwd)) fail('/process/cwd', `must be an absolute path, got ${describeValue(process.cwd)}`);

  const seen = new Set<string>();
  for (const [i, rlimit] of (process.rlimits ?? []).entries()) {
    if (seen.has(rlimit.type)) fail(`/process/rlimits/${i}/type`, `${describeValue(rlimit.type)} appears twice`);
    seen.add(rlimit.type);
    if (toBigInt(rlimit.soft) > toBigInt(rlimit.hard)) {
      fail(`/process/rlimits/${i}/soft`, `must not exceed hard (${describeValue(rlimit.hard)}), got ${describeValue(rlimit.soft)}`);
    }
  }
}

function checkIdMappings(mappings: IdMapping[] | undefined, pointer: string, fail: Fail): void {
  for (const [i, mapping] of (mappings ?? []).entries()) {
    if (mapping.size <= 0) fail(`${pointer}/${i}/size`, `must be greater than 0, got ${describeValue(mapping.size)}`);
  }
}

function checkMounts(spec: Spec, fail: Fail): void {
  for (const [i, mount] of (spec.mounts ?? []).entries()) {
    const pointer = `/mounts/${i}`;
    if (!isAbsolute(mount.destination)) {
      fail(`${pointer}/destination`, `must be an absolute path, got ${describeValue(mount.destination)}`);
    }
    // config.md: uidMappings and gidMappings of a mount MUST be specified together.
    if ((mount.uidMappings === undefined) !== (mount.gidMappings === undefined)) {
      const missing = mount.uidMappings === undefined ? 'uidMappings' : 'gidMappings';
      fail(pointer, `must have ${missing} as well: a mount's uidMappings and gidMappings go together`);
    }
    checkIdMappings(mount.uidMappings, `${pointer}/uidMappings`, fail);
    checkIdMappings(mount.gidMappings, `${pointer}/gidMappings`, fail);
  }
}

/** sysctls isolated by the IPC namespace (besides fs.mqueue.*), as runc lists them. */
const IPC_SYSCTLS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

function checkLinux(spec: Spec, fail: Fail): void {
  const linux = spec.linux;
  const namespaces: Namespace[] = linux?.namespaces ?? [];
  const entry = (type: NamespaceType): Namespace | undefined => namespaces.find((ns) => ns.type === type);
  const isNew = (ns: Namespace | undefined): boolean => ns !== undefined && (ns.path === undefined || ns.path === '');

  const seen = new Set<string>();
  for (const [i, ns] of namespaces.entries()) {
    if (seen.has(ns.type)) fail(`/linux/namespaces/${i}/type`, `${describeValue(ns.type)} appears twice`);
    seen.add(ns.type);
    if (ns.path !== undefined && ns.path !== '' && !isAbsolute(ns.path)) {
      fail(`/linux/namespaces/${i}/path`, `must be an absolute path, got ${describeValue(ns.path)}`);
    }
  }

  for (const field of ['hostname', 'domainname'] as const) {
    const value = spec[field];
    if (typeof value === 'string' && value !== '' && entry('uts') === undefined) {
      fail(`/${field}`, 'cannot be set without a private UTS namespace in linux.namespaces');
    }
  }

  if (linux === undefined) return;

  // User namespace and ID mappings go together: a new user namespace needs both maps, and maps need a user namespace.
  const user = entry('user');
  for (const field of ['uidMappings', 'gidMappings'] as const) {
    const mappings = linux[field];
    if (isNew(user) && (mappings === undefined || mappings.length === 0)) {
      fail(`/linux/${field}`, 'must be a non-empty array when a new user namespace is created');
    }
    if (user === undefined && mappings !== undefined && mappings.length > 0) {
      fail(`/linux/${field}`, 'cannot be set without a user namespace in linux.namespaces');
    }
    checkIdMappings(mappings, `/linux/${field}`, fail);
  }

  if (linux.timeOffsets !== undefined && Object.keys(linux.timeOffsets).length > 0 && !isNew(entry('time'))) {
    fail('/linux/timeOffsets', 'needs a new time namespace in linux.namespaces (a time namespace without a path)');
  }

  for (const key of Object.keys(linux.sysctl ?? {})) {
    const pointer = `/linux/sysctl/${escapePointerSegment(key)}`;
    const name = key.replace(/\//g, '.');
    if (IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.')) {
      if (entry('ipc') === undefined) fail(pointer, 'cannot be set without a private IPC namespace in linux.namespaces');
    } else if (name.startsWith('net.')) {
      if (entry('network') === undefined) fail(pointer, 'cannot be set without a private network namespace in linux.namespaces');
    } else if (name === 'kernel.hostname' || name === 'kernel.domainname') {
      if (entry('uts') === undefined) fail(pointer, 'cannot be set without a private UTS namespace in linux.namespaces');
      // runc: the hostname has its own field, always use it; the domainname sysctl may stand in for the field.
      if (name === 'kernel.hostname') fail(pointer, 'cannot be set: use /hostname instead');
      if (typeof spec.domainname === 'string' && spec.domainname !== '') fail(pointer, 'conflicts with /domainname: set only one of them');
    } else {
      fail(pointer, 'cannot be set: no namespace isolates it, so it would change the host');
    }
  }

  if (linux.cgroupsPath !== undefined && linux.cgroupsPath.split(/[/:]/).includes('..')) {
    fail('/linux/cgroupsPath', `must not contain ".." components, got ${describeValue(linux.cgroupsPath)}`);
  }

  for (const [i, device] of (linux.devices ?? []).entries()) {
    const pointer = `/linux/devices/${i}`;
    if (!device.path.startsWith('/dev/') || hasDotDot(device.path) || device.path.length <= '/dev/'.length) {
      fail(`${pointer}/path`, `must be an absolute path under /dev, got ${describeValue(device.path)}`);
    }
    // config-linux.md: major and minor are REQUIRED unless type is p.
    if (device.type !== 'p' && (device.major === undefined || device.minor === undefined)) {
      fail(pointer, `must have ${device.major === undefined ? 'major' : 'minor'} for a ${describeValue(device.type)} device`);
    }
  }
}
