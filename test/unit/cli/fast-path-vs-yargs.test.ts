import { describe, expect, it } from 'vitest';
import { separateExecCommand } from '../../../src/cli/argv';
import { CliContext } from '../../../src/cli/cli-context';
import { parseFast } from '../../../src/cli/fast-path';
import { GLOBAL_OPTIONS } from '../../../src/cli/global-options';
import { Logger } from '../../../src/cli/logger';
import type { ParsedArgs, Verb } from '../../../src/cli/verb';
import { VERBS, VERBS_BY_NAME } from '../../../src/cli/verbs';
import { yargsParser } from '../../../src/cli/yargs-cli';

/** What yargs hands each verb's handler for a command line: the verb's own copy of the verbs captures it. */
async function parseWithYargs(line: string[]): Promise<{ verb: string; args: Record<string, unknown>; globals: Record<string, unknown> }> {
  let captured: { verb: string; args: Record<string, unknown> } | undefined;
  const capturing = VERBS.map((verb) => ({ ...verb, handler: (_cli: CliContext, args: never) => { captured = { verb: verb.name, args: args as Record<string, unknown> }; } }) as Verb<never>);
  const cli = new CliContext(new Logger(undefined, 'text', false));
  await yargsParser(cli, line, capturing).parseAsync();
  if (!captured) throw new Error(`yargs ran no verb for ${line.join(' ')}`);
  return { ...captured, globals: cli.globals as Record<string, unknown> };
}

/** The keys the fast path sets must carry yargs' values (yargs adds `_`, `$0` and dashed duplicates). */
function expectSameValues(fast: ParsedArgs, slow: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(fast)) expect(slow[key], key).toEqual(value);
  for (const [key, value] of Object.entries(slow)) {
    if (key === '_' || key === '$0' || key.includes('-') || value === undefined) continue;
    if (key in GLOBAL_OPTIONS || Object.keys(GLOBAL_OPTIONS).some((g) => g.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) === key)) continue;
    expect(fast[key], `yargs key ${key}`).toEqual(value);
  }
}

const LINES: string[][] = [
  ['--root', '/run/x', '--log', '/l.json', '--log-format', 'json', 'create', '--bundle', '/b', '--pid-file=/p', 'id1'],
  ['kill', 'c', '--root', '/r'],
  ['kill', '-a', 'c', 'KILL'],
  ['delete', '-f', 'c'],
  ['run', '-d', '-b', 'bundle', '--preserve-fds', '2', 'c'],
  ['--debug', 'start', 'c'],
  ['state', 'c'],
  ['list'],
  ['ls', '-q'],
  ['--root', '/r', 'list', '--format', 'json'],
  ['ps', 'c'],
  ['ps', '--format', 'json', 'c'],
  ['ps', 'c', 'aux'],
  ['pause', 'c'],
  ['resume', 'c'],
  ['events', '--stats', 'c'],
  ['events', '--interval', '2s', 'c'],
  ['update', '--memory', '512m', '--pids-limit', '10', '--cpuset-cpus', '0-1', 'c'],
  ['update', '-r', '-', 'c'],
  ['features'],
  ['spec', '-b', '/tmp/x'],
  ['--rootless', 'true', 'spec'],
  // containerd's exec line, and what people type.
  ['--root', '/run/r', '--log', '/l', '--log-format', 'json', 'exec', '--process', '/tmp/p.json', '--detach', '--pid-file', '/p', 'c'],
  ['exec', 'c', 'echo', 'hi'],
  ['exec', '-t', '-e', 'A=1', '-e', 'B=2', '--cwd', '/tmp', '-u', '1000:1000', 'c', 'sh', '-c', 'echo $A'],
  ['exec', '--env=X=y', '-g', '10', '-g', '20', '--cap', 'CAP_KILL', '-c', 'CAP_CHOWN', 'c', 'id'],
  ['exec', '--no-new-privs', '--ignore-paused', '--preserve-fds', '1', 'c', '--', 'ls', '-l'],
  ['exec', 'c', '--', 'sh', '-c', 'exit 3'],
  ['exec', 'c'],
];

describe('fast path and yargs agree', () => {
  it.each(LINES.map((line) => [line.join(' '), line] as const))('%s', async (_name, raw) => {
    const line = separateExecCommand(raw);
    const fast = parseFast(line, GLOBAL_OPTIONS, VERBS_BY_NAME);
    expect(fast, 'the fast path takes this line').toBeDefined();
    const slow = await parseWithYargs(line);
    expect(fast!.verb).toBe(slow.verb);
    expectSameValues(fast!.args, slow.args);
    for (const [key, value] of Object.entries(fast!.globals)) expect(slow.globals[key], `global ${key}`).toEqual(value);
  });
});
