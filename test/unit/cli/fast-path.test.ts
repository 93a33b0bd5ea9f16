import { describe, expect, it } from 'vitest';
import { createVerb } from '../../../src/cli/commands/create';
import { deleteVerb } from '../../../src/cli/commands/delete';
import { killVerb } from '../../../src/cli/commands/kill';
import { runVerb } from '../../../src/cli/commands/run';
import { startVerb } from '../../../src/cli/commands/start';
import { stateVerb } from '../../../src/cli/commands/state';
import { camel, parseFast } from '../../../src/cli/fast-path';
import { GLOBAL_OPTIONS } from '../../../src/cli/global-options';
import type { Verb } from '../../../src/cli/verb';

const VERBS = new Map<string, Verb<never>>([createVerb, startVerb, stateVerb, killVerb, deleteVerb, runVerb].map((v) => [v.name, v as unknown as Verb<never>]));
const parse = (line: string[]) => parseFast(line, GLOBAL_OPTIONS, VERBS);
const GLOBAL_DEFAULTS = { logFormat: 'text', debug: false, systemdCgroup: false };

describe('fast path: plain invocations of the hot verbs, parsed as yargs would', () => {
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
    ['a verb it does not handle', ['list']],
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

  it('names keys the way yargs does', () => {
    expect(camel('pid-file')).toBe('pidFile');
    expect(camel('no-new-keyring')).toBe('noNewKeyring');
    expect(camel('root')).toBe('root');
  });
});
