// Rules the schema cannot express: each fires with its pointer, and a config using all the features passes.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';
import { checkConfigSemantics, escapePointerSegment } from '../../../src/spec/semantic-checks';
import type { Spec } from '../../../src/spec/types';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type ValidateModule = typeof import('../../../src/spec/validate');

async function freshValidators(): Promise<ValidateModule> {
  const script = pathToFileURL(path.join(ROOT, 'scripts', 'compile-schemas.mjs')).href;
  const { compileSchemas } = (await import(script)) as { compileSchemas(root: string): Promise<string[]> };
  await compileSchemas(ROOT);
  return import('../../../src/spec/validate');
}

/** A valid config that exercises every rule without breaking any. */
function valid(): Spec {
  return {
    ociVersion: '1.2.1',
    root: { path: 'rootfs' },
    hostname: 'box',
    domainname: 'example.test',
    process: {
      cwd: '/home',
      args: ['sh'],
      user: { uid: 0, gid: 0 },
      rlimits: [
        { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 },
        { type: 'RLIMIT_CORE', soft: 18446744073709551615n, hard: 18446744073709551615n },
      ],
    },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/data',
        source: '/srv/data',
        options: ['rbind', 'idmap'],
        uidMappings: [{ containerID: 0, hostID: 100000, size: 1 }],
        gidMappings: [{ containerID: 0, hostID: 100000, size: 1 }],
      },
    ],
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'network', path: '/var/run/netns/pod' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'user' },
        { type: 'cgroup' },
        { type: 'time' },
      ],
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      timeOffsets: { monotonic: { secs: 86400, nanosecs: 0 } },
      sysctl: { 'net.ipv4.ip_forward': '1', 'net/core/somaxconn': '256', 'kernel.shmmax': '1', 'fs.mqueue.msg_max': '10', 'kernel.sem': '1 2 3 4' },
      cgroupsPath: '/tsrun/box',
      devices: [
        { type: 'c', path: '/dev/fuse', major: 10, minor: 229 },
        { type: 'p', path: '/dev/pipes/fifo0' },
      ],
    },
  };
}

function failure(spec: Spec, source?: string): ConfigError {
  try {
    if (source === undefined) checkConfigSemantics(spec);
    else checkConfigSemantics(spec, source);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function changed(edit: (spec: Spec & { linux: NonNullable<Spec['linux']>; process: NonNullable<Spec['process']> }) => void): Spec {
  const spec = valid() as Spec & { linux: NonNullable<Spec['linux']>; process: NonNullable<Spec['process']> };
  edit(spec);
  return spec;
}

describe('checkConfigSemantics', () => {
  it('passes a valid config that uses every feature', () => {
    expect(() => checkConfigSemantics(valid())).not.toThrow();
  });

  it('passes a config without process or linux', () => {
    expect(() => checkConfigSemantics({ ociVersion: '1.2.1', root: { path: 'rootfs' } })).not.toThrow();
  });

  const cases: Array<[string, Parameters<typeof changed>[0], string, string]> = [
    ['root.path empty', (s) => (s.root = { path: '' }), '/root/path', 'config.json: /root/path must be a non-empty string, got ""'],
    ['process.args missing', (s) => delete s.process.args, '/process/args', 'config.json: /process/args must be a non-empty array'],
    ['process.args empty', (s) => (s.process.args = []), '/process/args', 'config.json: /process/args must be a non-empty array'],
    ['relative cwd', (s) => (s.process.cwd = 'home'), '/process/cwd', 'config.json: /process/cwd must be an absolute path, got "home"'],
    [
      'duplicate rlimit',
      (s) => s.process.rlimits?.push({ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }),
      '/process/rlimits/2/type',
      'config.json: /process/rlimits/2/type "RLIMIT_NOFILE" appears twice',
    ],
    [
      'soft above hard (bigint-safe)',
      (s) => s.process.rlimits?.push({ type: 'RLIMIT_STACK', soft: 18446744073709551615n, hard: 18446744073709551614n }),
      '/process/rlimits/2/soft',
      'config.json: /process/rlimits/2/soft must not exceed hard (18446744073709551614), got 18446744073709551615',
    ],
    [
      'relative mount destination',
      (s) => s.mounts?.push({ destination: 'tmp', type: 'tmpfs' }),
      '/mounts/2/destination',
      'config.json: /mounts/2/destination must be an absolute path, got "tmp"',
    ],
    [
      'mount uidMappings without gidMappings',
      (s) => delete s.mounts?.[1]?.gidMappings,
      '/mounts/1',
      "config.json: /mounts/1 must have gidMappings as well: a mount's uidMappings and gidMappings go together",
    ],
    [
      'mount mapping of size 0',
      (s) => {
        const mapping = s.mounts?.[1]?.uidMappings?.[0];
        if (mapping) mapping.size = 0;
      },
      '/mounts/1/uidMappings/0/size',
      'config.json: /mounts/1/uidMappings/0/size must be greater than 0, got 0',
    ],
    [
      'duplicate namespace',
      (s) => (s.linux.namespaces = [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'pid' }]),
      '/linux/namespaces/3/type',
      'config.json: /linux/namespaces/3/type "pid" appears twice',
    ],
    [
      'relative namespace path',
      (s) => s.linux.namespaces?.splice(1, 1, { type: 'network', path: 'netns' }),
      '/linux/namespaces/1/path',
      'config.json: /linux/namespaces/1/path must be an absolute path, got "netns"',
    ],
    [
      'new user namespace without uidMappings',
      (s) => delete s.linux.uidMappings,
      '/linux/uidMappings',
      'config.json: /linux/uidMappings must be a non-empty array when a new user namespace is created',
    ],
    [
      'new user namespace with empty gidMappings',
      (s) => (s.linux.gidMappings = []),
      '/linux/gidMappings',
      'config.json: /linux/gidMappings must be a non-empty array when a new user namespace is created',
    ],
    [
      'mappings without a user namespace',
      (s) => (s.linux.namespaces = s.linux.namespaces?.filter((ns) => ns.type !== 'user')),
      '/linux/uidMappings',
      'config.json: /linux/uidMappings cannot be set without a user namespace in linux.namespaces',
    ],
    [
      'user mapping of size 0',
      (s) => s.linux.gidMappings?.push({ containerID: 70000, hostID: 0, size: 0 }),
      '/linux/gidMappings/1/size',
      'config.json: /linux/gidMappings/1/size must be greater than 0, got 0',
    ],
    [
      'hostname without uts namespace',
      (s) => (s.linux.namespaces = s.linux.namespaces?.filter((ns) => ns.type !== 'uts')),
      '/hostname',
      'config.json: /hostname cannot be set without a private UTS namespace in linux.namespaces',
    ],
    [
      'domainname without uts namespace',
      (s) => {
        delete s.hostname;
        s.linux.namespaces = s.linux.namespaces?.filter((ns) => ns.type !== 'uts');
      },
      '/domainname',
      'config.json: /domainname cannot be set without a private UTS namespace in linux.namespaces',
    ],
    [
      'net sysctl without network namespace',
      (s) => (s.linux.namespaces = s.linux.namespaces?.filter((ns) => ns.type !== 'network')),
      '/linux/sysctl/net.ipv4.ip_forward',
      'config.json: /linux/sysctl/net.ipv4.ip_forward cannot be set without a private network namespace in linux.namespaces',
    ],
    [
      'slash-separated net sysctl without network namespace',
      (s) => {
        s.linux.sysctl = { 'net/core/somaxconn': '256' };
        s.linux.namespaces = s.linux.namespaces?.filter((ns) => ns.type !== 'network');
      },
      '/linux/sysctl/net~1core~1somaxconn',
      'config.json: /linux/sysctl/net~1core~1somaxconn cannot be set without a private network namespace in linux.namespaces',
    ],
    [
      'ipc sysctl without ipc namespace',
      (s) => {
        s.linux.sysctl = { 'kernel.msgmax': '8192' };
        s.linux.namespaces = s.linux.namespaces?.filter((ns) => ns.type !== 'ipc');
      },
      '/linux/sysctl/kernel.msgmax',
      'config.json: /linux/sysctl/kernel.msgmax cannot be set without a private IPC namespace in linux.namespaces',
    ],
    [
      'mqueue sysctl without ipc namespace',
      (s) => {
        s.linux.sysctl = { 'fs.mqueue.queues_max': '8' };
        s.linux.namespaces = s.linux.namespaces?.filter((ns) => ns.type !== 'ipc');
      },
      '/linux/sysctl/fs.mqueue.queues_max',
      'config.json: /linux/sysctl/fs.mqueue.queues_max cannot be set without a private IPC namespace in linux.namespaces',
    ],
    [
      'kernel.hostname sysctl (runc: use the hostname field)',
      (s) => (s.linux.sysctl = { 'kernel.hostname': 'other' }),
      '/linux/sysctl/kernel.hostname',
      'config.json: /linux/sysctl/kernel.hostname cannot be set: use /hostname instead',
    ],
    [
      'kernel.domainname sysctl conflicts with domainname',
      (s) => (s.linux.sysctl = { 'kernel.domainname': 'other.test' }),
      '/linux/sysctl/kernel.domainname',
      'config.json: /linux/sysctl/kernel.domainname conflicts with /domainname: set only one of them',
    ],
    [
      'kernel.domainname sysctl without uts namespace',
      (s) => {
        s.linux.sysctl = { 'kernel.domainname': 'other.test' };
        delete s.hostname;
        delete s.domainname;
        s.linux.namespaces = s.linux.namespaces?.filter((ns) => ns.type !== 'uts');
      },
      '/linux/sysctl/kernel.domainname',
      'config.json: /linux/sysctl/kernel.domainname cannot be set without a private UTS namespace in linux.namespaces',
    ],
    [
      'sysctl no namespace isolates',
      (s) => (s.linux.sysctl = { 'vm.swappiness': '10' }),
      '/linux/sysctl/vm.swappiness',
      'config.json: /linux/sysctl/vm.swappiness cannot be set: no namespace isolates it, so it would change the host',
    ],
    [
      'timeOffsets without time namespace',
      (s) => (s.linux.namespaces = s.linux.namespaces?.filter((ns) => ns.type !== 'time')),
      '/linux/timeOffsets',
      'config.json: /linux/timeOffsets needs a new time namespace in linux.namespaces (a time namespace without a path)',
    ],
    [
      'timeOffsets with a joined time namespace',
      (s) => (s.linux.namespaces = s.linux.namespaces?.map((ns) => (ns.type === 'time' ? { type: 'time', path: '/proc/1/ns/time' } : ns))),
      '/linux/timeOffsets',
      'config.json: /linux/timeOffsets needs a new time namespace in linux.namespaces (a time namespace without a path)',
    ],
    [
      'cgroupsPath with ..',
      (s) => (s.linux.cgroupsPath = '/tsrun/../../etc'),
      '/linux/cgroupsPath',
      'config.json: /linux/cgroupsPath must not contain ".." components, got "/tsrun/../../etc"',
    ],
    [
      'systemd cgroupsPath with ..',
      (s) => (s.linux.cgroupsPath = 'system.slice:..:box'),
      '/linux/cgroupsPath',
      'config.json: /linux/cgroupsPath must not contain ".." components, got "system.slice:..:box"',
    ],
    [
      'device outside /dev',
      (s) => s.linux.devices?.push({ type: 'c', path: '/tmp/null', major: 1, minor: 3 }),
      '/linux/devices/2/path',
      'config.json: /linux/devices/2/path must be an absolute path under /dev, got "/tmp/null"',
    ],
    [
      'device escaping /dev',
      (s) => s.linux.devices?.push({ type: 'c', path: '/dev/../etc/passwd', major: 1, minor: 3 }),
      '/linux/devices/2/path',
      'config.json: /linux/devices/2/path must be an absolute path under /dev, got "/dev/../etc/passwd"',
    ],
    [
      'relative device path',
      (s) => s.linux.devices?.push({ type: 'c', path: 'dev/null', major: 1, minor: 3 }),
      '/linux/devices/2/path',
      'config.json: /linux/devices/2/path must be an absolute path under /dev, got "dev/null"',
    ],
    [
      'char device without minor',
      (s) => s.linux.devices?.push({ type: 'c', path: '/dev/null', major: 1 }),
      '/linux/devices/2',
      'config.json: /linux/devices/2 must have minor for a "c" device',
    ],
  ];

  for (const [name, edit, pointer, message] of cases) {
    it(`${name} fails`, () => {
      const error = failure(changed(edit));
      expect(error.message).toBe(message);
      expect(error.pointer).toBe(pointer);
    });
  }

  it('names the source', () => {
    expect(failure(changed((s) => (s.process.cwd = 'x')), 'process.json').message).toBe(
      'process.json: /process/cwd must be an absolute path, got "x"',
    );
  });

  it('accepts the relaxed forms', () => {
    // A joined user namespace brings its own mappings; a uts namespace joined by path is private too (runc's rule).
    const joined = changed((s) => {
      s.linux.namespaces = [{ type: 'user', path: '/proc/42/ns/user' }, { type: 'uts', path: '/proc/42/ns/uts' }, { type: 'mount' }];
      delete s.linux.uidMappings;
      delete s.linux.gidMappings;
      delete s.linux.sysctl;
      delete s.linux.timeOffsets;
    });
    expect(() => checkConfigSemantics(joined)).not.toThrow();
    // An empty hostname sets nothing; kernel.domainname with a UTS namespace and no domainname field is fine.
    const empty = changed((s) => {
      s.hostname = '';
      delete s.domainname;
      s.linux.namespaces = s.linux.namespaces?.filter((ns) => ns.type !== 'uts');
      s.linux.sysctl = {};
    });
    expect(() => checkConfigSemantics(empty)).not.toThrow();
    const kernelDomainname = changed((s) => {
      s.linux.sysctl = { 'kernel.domainname': 'x.test' };
      delete s.domainname;
    });
    expect(() => checkConfigSemantics(kernelDomainname)).not.toThrow();
    expect(() => checkConfigSemantics(changed((s) => (s.process.rlimits = [{ type: 'RLIMIT_AS', soft: 5n, hard: 5 }])))).not.toThrow();
  });

  it('escapes pointer segments', () => {
    expect(escapePointerSegment('a/b~c')).toBe('a~1b~0c');
  });
});

describe('loadConfig runs the semantic checks after the schema', () => {
  let v: ValidateModule;
  beforeAll(async () => {
    v = await freshValidators();
  });

  it('accepts the valid config as text and returns it', () => {
    const spec = v.loadConfig(
      JSON.stringify(valid(), (_key, value: unknown) => (typeof value === 'bigint' ? Number.MAX_SAFE_INTEGER : value)),
    );
    expect(spec.hostname).toBe('box');
  });

  it('reports schema errors before semantic ones', () => {
    const spec = changed((s) => {
      s.process.cwd = 'relative';
      (s.process as unknown as Record<string, unknown>).args = 'sh';
    });
    expect(() => v.validateConfigObject(spec)).toThrow('config.json: /process/args must be an array of strings, got "sh"');
  });

  it('reports semantic errors with the source name', () => {
    const spec = changed((s) => (s.linux.cgroupsPath = '../x'));
    expect(() => v.validateConfigObject(spec, 'b/config.json')).toThrow('b/config.json: /linux/cgroupsPath must not contain ".." components, got "../x"');
  });
});
