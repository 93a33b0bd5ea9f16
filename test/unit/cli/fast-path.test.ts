import { describe, expect, it } from 'vitest';
import { camel, parseFast } from '../../../src/cli/fast-path';
import { GLOBAL_OPTIONS } from '../../../src/cli/global-options';
import { VERBS_BY_NAME } from '../../../src/cli/verbs';

const parse = (line: string[]) => parseFast(line, GLOBAL_OPTIONS, VERBS_BY_NAME);
const GLOBAL_DEFAULTS = { logFormat: 'text', debug: false, systemdCgroup: false };

describe('fast path: plain invocations of every verb, parsed as yargs would', () => {
  it('parses containerd\'s create line: global flags before the verb, options in both spellings', () => {
    expect(parse(['--root', '/run/x', '--log', '/l.json', '--log-format', 'json', '--systemd-cgroup', 'create', '--bundle', '/b', '--pid-file=/p', 'id1'])).toEqual({
      verb: 'create',
      globals: { ...GLOBAL_DEFAULTS, root: '/run/x', log: '/l.json', logFormat: 'json', systemdCgroup: true },
      args: { id: 'id1', bundle: '/b', pidFile: '/p', noPivot: false, noNewKeyring: false, preserveFds: 0 },
    });
  });

  it('takes defaults, short aliases, optional positionals and global flags after the verb', () => {
    expect(parse(['kill', 'c', '--root', '/r'])).toEqual({ verb: 'kill', globals: { ...GLOBAL_DEFAULTS, root: '/r' }, args: { id: 'c', signal: 'SIGTERM', all: false } });
    expect(parse(['kill', '-a', 'c', 'KILL'])!.args).toEqual({ id: 'c', signal: 'KILL', all: true });
    expect(parse(['delete', '-f', 'c'])!.args).toEqual({ id: 'c', force: true });
    expect(parse(['run', '-d', '-b', 'bundle', '--preserve-fds', '2', 'c'])!.args).toMatchObject({ id: 'c', detach: true, bundle: 'bundle', preserveFds: 2 });
    expect(parse(['state', 'c'])).toEqual({ verb: 'state', globals: GLOBAL_DEFAULTS, args: { id: 'c' } });
    expect(parse(['--debug', 'start', 'c'])!.globals.debug).toBe(true);
  });

  it.each([
    ['no verb', ['--root', '/r']],
    ['an unknown verb', ['nosuch', 'c']],
    ['an array flag followed by a flag', ['exec', '--env', '--tty', 'c', 'true']],
    ['help', ['state', '--help']],
    ['a missing positional', ['state']],
    ['an extra positional', ['state', 'a', 'b']],
    ['an unknown flag', ['delete', '--forcefully', 'c']],
    ['a verb flag before the verb', ['--force', 'delete', 'c']],
    ['another verb\'s flag', ['state', '--force', 'c']],
    ['a value flag without its value', ['create', 'c', '--bundle']],
    ['a value flag followed by a flag', ['create', '--bundle', '--no-pivot', 'c']],
    ['a boolean given a value', ['delete', '--force=false', 'c']],
    ['a number that is not an integer', ['create', '--preserve-fds', 'two', 'c']],
    ['a choice not on the list', ['--log-format', 'xml', 'state', 'c']],
    ['a repeated flag (yargs makes it an array)', ['--root', '/a', '--root', '/b', 'state', 'c']],
    ['a repeated flag whose first value is the default', ['--log-format', 'text', '--log-format', 'json', 'state', 'c']],
    ['combined short flags', ['delete', '-fa', 'c']],
    ['an end of options marker', ['kill', '--', 'c']],
    ['a negative-looking signal', ['kill', 'c', '-9']],
  ])('leaves %s to yargs', (_what, line) => {
    expect(parse(line)).toBeUndefined();
  });

  it('collects repeated array flags and the rest of the line for a variadic positional', () => {
    expect(parse(['exec', '-e', 'A=1', '--env=B=2', '-g', '7', 'c', '--', 'sh', '-c', 'echo $A'])!.args).toMatchObject({
      id: 'c', env: ['A=1', 'B=2'], additionalGids: [7], cap: [], command: ['sh', '-c', 'echo $A'],
    });
    expect(parse(['exec', '--process', 'p.json', 'c'])!.args).toMatchObject({ id: 'c', process: 'p.json', command: [], env: [] });
    expect(parse(['ls'])!.verb).toBe('list');
  });

  it('names keys the way yargs does', () => {
    expect(camel('pid-file')).toBe('pidFile');
    expect(camel('no-new-keyring')).toBe('noNewKeyring');
    expect(camel('root')).toBe('root');
  });
});
