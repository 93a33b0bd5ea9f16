import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';
import { parseJsonLossless } from '../../../src/spec/json';
import {
  notifyStateMessage, planSeccomp, SECCOMP_ACTIONS, SECCOMP_ARCHES, SECCOMP_KNOWN_FLAGS, SECCOMP_OPERATORS,
  SECCOMP_SUPPORTED_FLAGS,
} from '../../../src/spec/seccomp';
import configLinuxSchema from '../../../src/spec/schema/config-linux.json';
import { errorOf } from '../../helpers/errors';

/** The ConfigError `fn` throws, checked for its pointer and its whole message. */
function configError(fn: () => unknown, pointer: string, message: string): void {
  const error = errorOf(fn);
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).pointer).toBe(pointer);
  expect(error.message).toBe(`config.json: ${pointer} ${message}`);
}

const ALLOW = 0x7fff0000;
const errno = (n: number): number => (0x00050000 | n) >>> 0;
const allow = (syscalls: unknown[], more: Record<string, unknown> = {}): Record<string, unknown> => ({ defaultAction: 'SCMP_ACT_ALLOW', syscalls, ...more });
const ACTION_NAMES = Object.keys(SECCOMP_ACTIONS).join(', ');

describe('actions', () => {
  const cases: Array<[string, number]> = [
    ['SCMP_ACT_KILL', 0x00000000],
    ['SCMP_ACT_KILL_THREAD', 0x00000000],
    ['SCMP_ACT_KILL_PROCESS', 0x80000000],
    ['SCMP_ACT_TRAP', 0x00030000],
    ['SCMP_ACT_ERRNO', 0x00050001],
    ['SCMP_ACT_TRACE', 0x7ff00001],
    ['SCMP_ACT_ALLOW', 0x7fff0000],
    ['SCMP_ACT_LOG', 0x7ffc0000],
  ];
  it.each(cases)('%s as the default action is %i', (name, value) => {
    expect(planSeccomp({ defaultAction: name }).defaultAction).toBe(value);
  });

  it.each([...cases, ['SCMP_ACT_NOTIFY', 0x7fc00000] as [string, number]])('%s as a rule action', (name, value) => {
    const defaultAction = name === 'SCMP_ACT_ALLOW' ? 'SCMP_ACT_ERRNO' : 'SCMP_ACT_ALLOW';
    const extra = name === 'SCMP_ACT_NOTIFY' ? { listenerPath: '/run/agent.sock' } : {};
    const plan = planSeccomp({ defaultAction, syscalls: [{ names: ['getpid'], action: name }], ...extra });
    expect(plan.rules).toEqual([{ names: ['getpid'], pointer: '/linux/seccomp/syscalls/0', action: value, conditions: [] }]);
    expect(plan.rules[0]!.action).toBeGreaterThanOrEqual(0);
  });

  it('ERRNO and TRACE carry errnoRet, EPERM without one', () => {
    const plan = planSeccomp(allow([
      { names: ['a'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      { names: ['b'], action: 'SCMP_ACT_TRACE', errnoRet: 1234 },
      { names: ['c'], action: 'SCMP_ACT_ERRNO', errnoRet: 0 },
      { names: ['d'], action: 'SCMP_ACT_TRACE' },
      { names: ['e'], action: 'SCMP_ACT_ERRNO', errnoRet: 65535 },
    ]));
    expect(plan.rules.map((r) => r.action)).toEqual([0x00050026, 0x7ff004d2, 0x00050000, 0x7ff00001, 0x0005ffff]);
  });

  it('defaultErrnoRet sets the default ERRNO/TRACE data', () => {
    expect(planSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38 }).defaultAction).toBe(0x00050026);
    expect(planSeccomp({ defaultAction: 'SCMP_ACT_TRACE', defaultErrnoRet: 2 }).defaultAction).toBe(0x7ff00002);
    expect(planSeccomp({ defaultAction: 'SCMP_ACT_ERRNO' }).defaultAction).toBe(0x00050001);
  });

  it('refuses an unknown action', () => {
    configError(() => planSeccomp({ defaultAction: 'SCMP_ACT_NOPE' }), '/linux/seccomp/defaultAction', `must be one of ${ACTION_NAMES}, got "SCMP_ACT_NOPE"`);
    configError(() => planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_ALLOW' }, { names: ['b'], action: 'allow' }])),
      '/linux/seccomp/syscalls/1/action', `must be one of ${ACTION_NAMES}, got "allow"`);
    configError(() => planSeccomp({ defaultAction: 'toString' }), '/linux/seccomp/defaultAction', `must be one of ${ACTION_NAMES}, got "toString"`);
  });

  it('refuses errnoRet with an action that has no errno', () => {
    configError(() => planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_KILL', errnoRet: 1 }])),
      '/linux/seccomp/syscalls/0/errnoRet', 'is only allowed with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not with SCMP_ACT_KILL, got 1');
    configError(() => planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 1 }),
      '/linux/seccomp/defaultErrnoRet', 'is only allowed with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not with SCMP_ACT_ALLOW, got 1');
  });

  it('refuses an errno that does not fit the 16 data bits', () => {
    configError(() => planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_ERRNO', errnoRet: 65536 }])),
      '/linux/seccomp/syscalls/0/errnoRet', 'must be an integer from 0 to 65535 (the 16 data bits of a seccomp action), got 65536');
    configError(() => planSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: -1 }),
      '/linux/seccomp/defaultErrnoRet', 'must be an integer from 0 to 65535 (the 16 data bits of a seccomp action), got -1');
  });

  it('refuses NOTIFY as the default action', () => {
    configError(() => planSeccomp({ defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/x' }), '/linux/seccomp/defaultAction',
      'must not be SCMP_ACT_NOTIFY (the container\'s first syscalls would wait for an agent that is not yet connected), got "SCMP_ACT_NOTIFY"');
  });

  it('drops rules whose action is the default action (also KILL next to KILL_THREAD, and equal errnos)', () => {
    const plan = planSeccomp({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      syscalls: [
        { names: ['a'], action: 'SCMP_ACT_ERRNO' },
        { names: ['b'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] },
        { names: ['c'], action: 'SCMP_ACT_ERRNO', errnoRet: 2 },
      ],
    });
    expect(plan.rules.map((r) => r.names)).toEqual([['c']]);
    expect(planSeccomp({ defaultAction: 'SCMP_ACT_KILL', syscalls: [{ names: ['a'], action: 'SCMP_ACT_KILL_THREAD' }] }).rules).toEqual([]);
  });

  it('exports the action list for features', () => {
    expect(Object.keys(SECCOMP_ACTIONS)).toEqual(configLinuxSchema.definitions.seccompAction.enum);
  });
});

describe('arguments', () => {
  it.each(Object.entries(SECCOMP_OPERATORS))('%s is libseccomp operator %d', (op, value) => {
    const plan = planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_ERRNO', args: [{ index: 2, value: 7, op }] }]));
    expect(plan.rules[0]!.conditions).toEqual([{ index: 2, op: value, value: 7n, valueTwo: 0n }]);
  });

  it('operators are libseccomp\'s enum scmp_compare and match the schema', () => {
    expect(SECCOMP_OPERATORS).toEqual({ SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7 });
    const schemaOps = configLinuxSchema.definitions.syscallRule.properties.args.items.properties.op.enum;
    expect(Object.keys(SECCOMP_OPERATORS)).toEqual(schemaOps);
  });

  it('ANDs the args of one entry when every index differs', () => {
    const plan = planSeccomp(allow([{
      names: ['socket', 'socketpair'], action: 'SCMP_ACT_ERRNO',
      args: [{ index: 0, value: 16, op: 'SCMP_CMP_EQ' }, { index: 2, value: 0xff, valueTwo: 9, op: 'SCMP_CMP_MASKED_EQ' }],
    }]));
    expect(plan.rules).toEqual([{
      names: ['socket', 'socketpair'], pointer: '/linux/seccomp/syscalls/0', action: errno(1),
      conditions: [{ index: 0, op: 4, value: 16n, valueTwo: 0n }, { index: 2, op: 7, value: 0xffn, valueTwo: 9n }],
    }]);
  });

  it('makes every arg its own rule (OR) when two args share an index, like runc', () => {
    const plan = planSeccomp(allow([{
      names: ['personality'], action: 'SCMP_ACT_ERRNO',
      args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_EQ' }, { index: 1, value: 3, op: 'SCMP_CMP_NE' }],
    }]));
    expect(plan.rules.map((r) => r.conditions)).toEqual([
      [{ index: 0, op: 4, value: 0n, valueTwo: 0n }],
      [{ index: 0, op: 4, value: 8n, valueTwo: 0n }],
      [{ index: 1, op: 1, value: 3n, valueTwo: 0n }],
    ]);
    expect(plan.rules.every((r) => r.pointer === '/linux/seccomp/syscalls/0' && r.action === errno(1))).toBe(true);
  });

  it('keeps 64-bit values exact, from numbers and from a lossless parse', () => {
    const seccomp = parseJsonLossless(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO",
      "args":[{"index":5,"value":18446744073709551615,"valueTwo":9007199254740993,"op":"SCMP_CMP_MASKED_EQ"}]}]}`) as Record<string, unknown>;
    expect(planSeccomp(seccomp).rules[0]!.conditions).toEqual([{ index: 5, op: 7, value: 18446744073709551615n, valueTwo: 9007199254740993n }]);
    const small = planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 2 ** 40, op: 'SCMP_CMP_GE' }] }]));
    expect(small.rules[0]!.conditions[0]!.value).toBe(1099511627776n);
  });

  it('refuses an index past the sixth argument', () => {
    configError(() => planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }])),
      '/linux/seccomp/syscalls/0/args/1/index', 'must be a syscall argument index from 0 to 5, got 6');
  });

  it('refuses an unknown operator', () => {
    configError(() => planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_MASKED' }] }])),
      '/linux/seccomp/syscalls/0/args/0/op', `must be one of ${Object.keys(SECCOMP_OPERATORS).join(', ')}, got "SCMP_CMP_MASKED"`);
  });

  it('refuses values outside uint64', () => {
    const range = 'must be an integer from 0 to 18446744073709551615 (uint64)';
    configError(() => planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }])),
      '/linux/seccomp/syscalls/0/args/0/value', `${range}, got -1`);
    configError(() => planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, valueTwo: 1n << 64n, op: 'SCMP_CMP_EQ' }] }])),
      '/linux/seccomp/syscalls/0/args/0/valueTwo', `${range}, got 18446744073709551616`);
    configError(() => planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1.5, op: 'SCMP_CMP_EQ' }] }])),
      '/linux/seccomp/syscalls/0/args/0/value', `${range}, got 1.5`);
  });
});

describe('architectures', () => {
  it('maps every spec name of the schema to libseccomp\'s name, in config order', () => {
    const schemaArches = configLinuxSchema.definitions.seccomp.properties.architectures.items.enum;
    expect(Object.keys(SECCOMP_ARCHES).sort()).toEqual([...schemaArches].sort());
    const plan = planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: schemaArches });
    expect(plan.architectures).toEqual(schemaArches.map((name) => name.slice('SCMP_ARCH_'.length).toLowerCase()));
    expect(planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }).architectures)
      .toEqual(['x86_64', 'x86', 'x32']);
  });

  it('is empty (native only) when not given', () => {
    expect(planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW' })).toEqual({ defaultAction: ALLOW, architectures: [], flags: 0, rules: [] });
  });

  it('refuses an unknown name', () => {
    configError(() => planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'amd64'] }),
      '/linux/seccomp/architectures/1', `must be one of ${Object.keys(SECCOMP_ARCHES).join(', ')}, got "amd64"`);
  });
});

describe('flags', () => {
  it('turns flag names into SECCOMP_FILTER_FLAG_* bits', () => {
    expect(planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG'] }).flags).toBe(2);
    expect(planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_LOG'] }).flags).toBe(6);
    expect(planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: [] }).flags).toBe(0);
  });

  it('drops TSYNC: the init that loads the filter has one thread (runc ignores it too)', () => {
    expect(planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG'] }).flags).toBe(2);
  });

  it('passes WAIT_KILLABLE_RECV with a listener and refuses it without one', () => {
    const plan = planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_NOTIFY' }], { listenerPath: '/a.sock', flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }));
    expect(plan.flags).toBe(32 | 8);
    configError(() => planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }),
      '/linux/seccomp/flags/1', 'needs a syscall rule with SCMP_ACT_NOTIFY (the kernel refuses the flag without a listener), got "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"');
  });

  it('refuses an unknown flag, also the runtime\'s own NEW_LISTENER', () => {
    const names = SECCOMP_KNOWN_FLAGS.join(', ');
    configError(() => planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_NOPE'] }),
      '/linux/seccomp/flags/0', `must be one of ${names}, got "SECCOMP_FILTER_FLAG_NOPE"`);
    configError(() => planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_NEW_LISTENER'] }),
      '/linux/seccomp/flags/1', `must be one of ${names}, got "SECCOMP_FILTER_FLAG_NEW_LISTENER"`);
  });

  it('exports the known flags (the schema\'s) for features', () => {
    expect([...SECCOMP_KNOWN_FLAGS]).toEqual(configLinuxSchema.definitions.seccomp.properties.flags.items.enum);
    expect(SECCOMP_SUPPORTED_FLAGS).toEqual(SECCOMP_KNOWN_FLAGS);
  });
});

describe('notify', () => {
  it('sets NEW_LISTENER and keeps the listener path and metadata', () => {
    const plan = planSeccomp(allow([{ names: ['mknod', 'mknodat'], action: 'SCMP_ACT_NOTIFY' }], { listenerPath: '/run/agent.sock', listenerMetadata: 'MKNOD=/dev/null' }));
    expect(plan.flags).toBe(8);
    expect(plan.notify).toEqual({ listenerPath: '/run/agent.sock', listenerMetadata: 'MKNOD=/dev/null' });
    expect(plan.rules[0]!.action).toBe(0x7fc00000);
    expect(planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_NOTIFY' }], { listenerPath: '/a.sock' })).notify)
      .toEqual({ listenerPath: '/a.sock', listenerMetadata: '' });
  });

  it('needs listenerPath for a NOTIFY rule', () => {
    configError(() => planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_NOTIFY' }])), '/linux/seccomp/listenerPath',
      'must be set when a syscall rule uses SCMP_ACT_NOTIFY (the path of the seccomp agent\'s unix socket), got undefined');
    configError(() => planSeccomp(allow([{ names: ['a'], action: 'SCMP_ACT_NOTIFY' }], { listenerPath: '' })), '/linux/seccomp/listenerPath',
      'must be set when a syscall rule uses SCMP_ACT_NOTIFY (the path of the seccomp agent\'s unix socket), got ""');
  });

  it('refuses listenerPath and listenerMetadata without a NOTIFY rule', () => {
    configError(() => planSeccomp(allow([], { listenerPath: '/a.sock' })), '/linux/seccomp/listenerPath',
      'must only be set when a syscall rule uses SCMP_ACT_NOTIFY, got "/a.sock"');
    configError(() => planSeccomp(allow([], { listenerMetadata: 'x' })), '/linux/seccomp/listenerMetadata',
      'must only be set when a syscall rule uses SCMP_ACT_NOTIFY, got "x"');
  });

  it('refuses NOTIFY for write, like runc', () => {
    configError(() => planSeccomp(allow([{ names: ['read', 'write'], action: 'SCMP_ACT_NOTIFY' }], { listenerPath: '/a.sock' })),
      '/linux/seccomp/syscalls/0/names/1',
      'must not be "write" with SCMP_ACT_NOTIFY (the runtime writes to the container\'s init after the filter is loaded and would deadlock), got "write"');
  });

  it('builds the containerProcessState message for the agent', () => {
    const message = notifyStateMessage({
      ociVersion: '1.2.1', pid: 4422, metadata: 'MKNOD=/dev/null',
      state: { ociVersion: '1.2.1', id: 'c1', status: 'creating', pid: 4422, bundle: '/b', annotations: { a: 'b' } },
    });
    expect(JSON.parse(message)).toEqual({
      ociVersion: '1.2.1', fds: ['seccompFd'], pid: 4422, metadata: 'MKNOD=/dev/null',
      state: { ociVersion: '1.2.1', id: 'c1', status: 'creating', pid: 4422, bundle: '/b', annotations: { a: 'b' } },
    });
    expect(Object.keys(JSON.parse(message) as object)).toEqual(['ociVersion', 'fds', 'pid', 'metadata', 'state']);
    const bare = notifyStateMessage({ ociVersion: '1.2.1', pid: 7, metadata: '', state: { ociVersion: '1.2.1', id: 'c', status: 'creating', bundle: '/b' } });
    expect(JSON.parse(bare)).toEqual({ ociVersion: '1.2.1', fds: ['seccompFd'], pid: 7, state: { ociVersion: '1.2.1', id: 'c', status: 'creating', bundle: '/b' } });
  });
});

describe('syscall entries', () => {
  it('keeps names as written, unknown ones too (the compiler skips them)', () => {
    expect(planSeccomp(allow([{ names: ['getpid', 'not_a_syscall'], action: 'SCMP_ACT_LOG' }])).rules[0]!.names).toEqual(['getpid', 'not_a_syscall']);
  });

  it('refuses an entry without names', () => {
    configError(() => planSeccomp(allow([{ names: [], action: 'SCMP_ACT_LOG' }])), '/linux/seccomp/syscalls/0/names', 'must name at least one syscall, got []');
  });

  it('refuses malformed values the schema would have caught', () => {
    configError(() => planSeccomp(allow([7])), '/linux/seccomp/syscalls/0', 'must be an object, got 7');
    configError(() => planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: {} }), '/linux/seccomp/syscalls', 'must be an array, got {}');
    configError(() => planSeccomp(allow([{ names: [1], action: 'SCMP_ACT_LOG' }])), '/linux/seccomp/syscalls/0/names/0', 'must be a string, got 1');
  });
});
