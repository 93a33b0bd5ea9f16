// The exact one-line wording of validation errors: `<source>: <JSON pointer> <expectation>, got <value>`.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type ValidateModule = typeof import('../../../src/spec/validate');

async function freshValidators(): Promise<ValidateModule> {
  const script = pathToFileURL(path.join(ROOT, 'scripts', 'compile-schemas.mjs')).href;
  const { compileSchemas } = (await import(script)) as { compileSchemas(root: string): Promise<string[]> };
  await compileSchemas(ROOT);
  return import('../../../src/spec/validate');
}

const base = () => ({
  ociVersion: '1.2.1',
  root: { path: 'rootfs' },
  process: { cwd: '/', args: ['sh'], user: { uid: 0, gid: 0 } },
  linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] },
});

type Patch = (config: Record<string, unknown>) => void;

/** The object holding the last segment of a dotted path ("process.user.uid" → config.process.user). */
function holder(config: Record<string, unknown>, dotted: string): [Record<string, unknown>, string] {
  const keys = dotted.split('.');
  const last = keys.pop() as string;
  let node = config;
  for (const key of keys) node = node[key] as Record<string, unknown>;
  return [node, last];
}
const set = (dotted: string, value: unknown): Patch => (config) => {
  const [node, key] = holder(config, dotted);
  node[key] = value;
};
const remove = (dotted: string): Patch => (config) => {
  const [node, key] = holder(config, dotted);
  delete node[key];
};
const push = (dotted: string, value: unknown): Patch => (config) => {
  const [node, key] = holder(config, dotted);
  (node[key] as unknown[]).push(value);
};

/** JSON text of the base config with `patch` applied to a copy. */
function configText(patch: Patch): string {
  const config: Record<string, unknown> = base();
  patch(config);
  return JSON.stringify(config);
}

describe('validation error messages', () => {
  let v: ValidateModule;
  beforeAll(async () => {
    v = await freshValidators();
  });

  const messageOf = (text: string, source?: string): string => {
    try {
      if (source === undefined) v.loadConfig(text);
      else v.loadConfig(text, source);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('expected a ConfigError');
  };

  const cases: Array<[string, Patch, string]> = [
    ['args not an array', set('process.args', 'sh'), 'config.json: /process/args must be an array of strings, got "sh"'],
    [
      'unknown namespace type',
      push('linux.namespaces', { type: 'foo' }),
      'config.json: /linux/namespaces/2/type must be one of pid, network, mount, ipc, uts, user, cgroup, time, got "foo"',
    ],
    ['missing cwd', remove('process.cwd'), 'config.json: /process must have required property "cwd"'],
    ['missing ociVersion', remove('ociVersion'), 'config.json: / must have required property "ociVersion"'],
    ['ociVersion not SemVer', set('ociVersion', '1.0'), 'config.json: /ociVersion must be a SemVer 2.0.0 version such as "1.2.1", got "1.0"'],
    ['negative uid', set('process.user.uid', -1), 'config.json: /process/user/uid must be an integer between 0 and 4294967295, got -1'],
    ['fractional gid', set('process.user.gid', 1.5), 'config.json: /process/user/gid must be an integer between 0 and 4294967295, got 1.5'],
    ['terminal not boolean', set('process.terminal', 'yes'), 'config.json: /process/terminal must be true or false, got "yes"'],
    ['args item not a string', set('process.args', ['sh', 1]), 'config.json: /process/args/1 must be a string, got 1'],
    ['mounts not an array', set('mounts', { destination: '/x' }), 'config.json: /mounts must be an array of mount objects, got {"destination":"/x"}'],
    [
      'hugepage size',
      set('linux.resources', { hugepageLimits: [{ pageSize: '64kB', limit: 1 }] }),
      'config.json: /linux/resources/hugepageLimits/0/pageSize must be a page size such as "2MB" (digits, then KB, MB or GB), got "64kB"',
    ],
    [
      'empty syscall names',
      set('linux.seccomp', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }),
      'config.json: /linux/seccomp/syscalls/0/names must be a non-empty array, got []',
    ],
    [
      'seccomp action',
      set('linux.seccomp', { defaultAction: 'SCMP_ACT_DENY' }),
      'config.json: /linux/seccomp/defaultAction must be one of SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY, got "SCMP_ACT_DENY"',
    ],
    ['empty annotation key', set('annotations', { '': 'x' }), 'config.json: /annotations must not have an empty key'],
    ['annotation value', set('annotations', { 'org.example': 1 }), 'config.json: /annotations/org.example must be a string, got 1'],
    ['sysctl key with a slash', set('linux.sysctl', { 'net/ipv4/ip_forward': 1 }), 'config.json: /linux/sysctl/net~1ipv4~1ip_forward must be a string, got 1'],
    ['relative hook path', set('hooks', { poststop: [{ path: 'cleanup.sh' }] }), 'config.json: /hooks/poststop/0/path must be an absolute path, got "cleanup.sh"'],
    ['rlimit type', set('process.rlimits', [{ type: 'NOFILE', soft: 1, hard: 1 }]), 'config.json: /process/rlimits/0/type must be a resource name such as "RLIMIT_NOFILE", got "NOFILE"'],
    ['missing root', remove('root'), 'config.json: / must have required property "root"'],
    ['linux not an object', set('linux', []), 'config.json: /linux must be an object, got []'],
    [
      'device cgroup access',
      set('linux.resources', { devices: [{ allow: true, access: 'rwx' }] }),
      'config.json: /linux/resources/devices/0/access must be a combination of the letters r, w and m, got "rwx"',
    ],
    ['ioPriority range', set('process.ioPriority', { class: 'IOPRIO_CLASS_BE', priority: 9 }), 'config.json: /process/ioPriority/priority must be an integer between 0 and 7, got 9'],
    [
      'object value is shortened',
      set('process.capabilities', ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN']),
      'config.json: /process/capabilities must be an object, got ["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE","CAP...',
    ],
  ];

  for (const [name, patch, expected] of cases) {
    it(name, () => {
      const message = messageOf(configText(patch));
      expect(message).toBe(expected);
      expect(message).not.toContain('\n');
    });
  }

  it('prints 64-bit values and bounds exactly', () => {
    expect(messageOf('{"ociVersion":"1.2.1","root":{"path":"r"},"linux":{"resources":{"memory":{"limit":9223372036854775808}}}}')).toBe(
      'config.json: /linux/resources/memory/limit must be an integer between -9223372036854775808 and 9223372036854775807, got 9223372036854775808',
    );
    expect(messageOf('{"ociVersion":"1.2.1","root":{"path":"r"},"linux":{"resources":{"memory":{"swappiness":18446744073709551616}}}}')).toBe(
      'config.json: /linux/resources/memory/swappiness must be an integer between 0 and 18446744073709551615, got 18446744073709551616',
    );
  });

  it('names the source it was given', () => {
    expect(messageOf('{"ociVersion":"1.2.1"}', 'bundle/config.json')).toBe('bundle/config.json: / must have required property "root"');
    expect(messageOf('{', 'process.json')).toMatch(/^process\.json: \/ is not valid JSON: \S/);
  });

  it('carries the JSON pointer on the error', () => {
    try {
      v.loadConfig(configText(set('process.user.uid', 'root')));
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).pointer).toBe('/process/user/uid');
      expect((error as ConfigError).code).toBe('config');
    }
  });
});

describe('describeSchemaErrors (combinators)', () => {
  let v: ValidateModule;
  beforeAll(async () => {
    v = await freshValidators();
  });

  it('reports the deepest branch error of anyOf, or lists the branches', () => {
    const branchA = { instancePath: '/x', schemaPath: '#/anyOf/0/type', keyword: 'type', params: { type: 'string' }, parentSchema: { type: 'string' } };
    const branchB = { instancePath: '/x/n', schemaPath: '#/anyOf/1/properties/n/type', keyword: 'type', params: {}, parentSchema: { type: 'integer' } };
    const anyOf = { instancePath: '/x', schemaPath: '#/anyOf', keyword: 'anyOf', params: {}, schema: [{ type: 'string' }, { type: 'object' }] };
    expect(v.describeSchemaErrors([branchA, branchB, anyOf], { x: { n: 'a' } })).toEqual({ pointer: '/x/n', message: 'must be an integer, got "a"' });
    const shallowB = { ...branchB, instancePath: '/x', schemaPath: '#/anyOf/1/type', parentSchema: { type: 'object' } };
    expect(v.describeSchemaErrors([branchA, shallowB, anyOf], { x: 5 })).toEqual({ pointer: '/x', message: 'must be a string or an object, got 5' });
  });
});
