// What the hostile-input fuzzer (test/integration/fuzz-config.test.ts) found, pinned down as unit tests: deep
// nesting, NUL bytes, huge or multi-line messages, repeated and malformed flags.
import { describe, expect, it } from 'vitest';
import { CliContext } from '../../../src/cli/cli-context';
import { Logger } from '../../../src/cli/logger';
import { MAX_MESSAGE, oneLine } from '../../../src/cli/output';
import { parseFast } from '../../../src/cli/fast-path';
import { GLOBAL_OPTIONS } from '../../../src/cli/global-options';
import { checkPathArguments, type Verb } from '../../../src/cli/verb';
import { VERBS, VERBS_BY_NAME } from '../../../src/cli/verbs';
import { yargsParser } from '../../../src/cli/yargs-cli';
import { ConfigError } from '../../../src/errors';
import { MAX_NESTING, parseJsonLossless } from '../../../src/spec/json';
import { checkConfigSemantics } from '../../../src/spec/semantic-checks';
import type { Spec } from '../../../src/spec/types';
import { errorOf } from '../../helpers/errors';

describe('parseJsonLossless refuses nesting that would overflow the stack', () => {
  it.each([
    ['arrays', (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`],
    ['objects', (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`],
    ['arrays holding a big number (the reviver recurses)', (n: number) => `${'['.repeat(n)}1e400${']'.repeat(n)}`],
  ])('%s 100,000 levels deep: one ConfigError at /', (_name, make) => {
    const error = errorOf(() => parseJsonLossless(make(100_000), 'config.json'));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(new RegExp(`^config\\.json: / nests arrays and objects more than ${MAX_NESTING} levels deep`));
  });

  it('accepts MAX_NESTING levels, and brackets inside strings are not nesting', () => {
    expect(() => parseJsonLossless(`${'['.repeat(MAX_NESTING)}${']'.repeat(MAX_NESTING)}`)).not.toThrow();
    expect(parseJsonLossless(JSON.stringify({ a: '['.repeat(10_000), b: ['\\"[', '{'.repeat(600)] }))).toEqual({ a: '['.repeat(10_000), b: ['\\"[', '{'.repeat(600)] });
    expect(errorOf(() => parseJsonLossless(`{"a":"\\"",${'"b":['.repeat(1)}${'['.repeat(MAX_NESTING)}${']'.repeat(MAX_NESTING + 1)}}`)).message).toMatch(/at character \d+/);
  });
});

describe('config.json strings that reach the kernel must not hold NUL', () => {
  const valid = (): Spec => ({
    ociVersion: '1.2.1',
    root: { path: 'rootfs' },
    process: { cwd: '/', args: ['sh'], user: { uid: 0, gid: 0 } },
    linux: { namespaces: [{ type: 'mount' }] },
  }) as Spec;

  it.each<[string, (s: Spec) => void, string]>([
    ['a hook path (it would run /bin/tr)', (s) => { s.hooks = { prestart: [{ path: '/bin/tr\u0000ue' }] }; }, '/hooks/prestart/0/path'],
    ['an argument', (s) => { s.process!.args = ['sh', '-c', 'echo a\u0000b']; }, '/process/args/2'],
    ['a mount destination', (s) => { s.mounts = [{ destination: '/t\u0000mp', type: 'tmpfs' }]; }, '/mounts/0/destination'],
    ['a masked path', (s) => { s.linux!.maskedPaths = ['/proc/\u0000x']; }, '/linux/maskedPaths/0'],
    ['the rootfs', (s) => { s.root!.path = 'root\u0000fs'; }, '/root/path'],
  ])('%s', (_name, edit, pointer) => {
    const spec = valid();
    edit(spec);
    const error = errorOf(() => checkConfigSemantics(spec));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).pointer).toBe(pointer);
    expect(error.message).toMatch(/must not contain a NUL byte, got ".*\\u0000.*"$/);
  });

  it('a sysctl key names its object', () => {
    const spec = valid();
    spec.linux!.namespaces = [{ type: 'mount' }, { type: 'network' }];
    spec.linux!.sysctl = { 'net.ipv4.ip_forward\u0000': '1' };
    expect(errorOf(() => checkConfigSemantics(spec)).message).toBe('config.json: /linux/sysctl has key "net.ipv4.ip_forward\\u0000", but keys must not contain a NUL byte');
  });

  it('annotations and unknown top-level fields are only passed on: NUL is fine there', () => {
    const spec = valid() as Spec & Record<string, unknown>;
    spec.annotations = { 'a\u0000': 'b\u0000' };
    spec['x-vendor'] = 'a\u0000b';
    expect(() => checkConfigSemantics(spec)).not.toThrow();
  });
});

describe('oneLine: the error line users get', () => {
  it('joins the lines of a multi-line message (yargs, ps)', () => {
    expect(oneLine('Invalid values:\n  Argument: log-format, Given: "xml", Choices: "text", "json"')).toBe('Invalid values: Argument: log-format, Given: "xml", Choices: "text", "json"');
  });
  it('escapes control characters, keeps tabs', () => {
    expect(oneLine('mkdir /tm\u0000p:\tEEXIST\r')).toBe('mkdir /tm\\u0000p:\tEEXIST');
    expect(oneLine('a\u001bb')).toBe('a\\u001bb');
  });
  it('cuts a message quoting a megabyte and says so', () => {
    const line = oneLine(`sethostname "${'a'.repeat(1 << 20)}": EINVAL`);
    expect(line.length).toBeLessThanOrEqual(MAX_MESSAGE);
    expect(line).toMatch(/… \(cut, 1048598 characters in all\)$/);
  });
});

describe('yargs: repeated and malformed flags', () => {
  async function parse(line: string[]): Promise<Record<string, unknown>> {
    let captured: Record<string, unknown> | undefined;
    const capturing = VERBS.map((verb) => ({ ...verb, handler: (_cli: CliContext, args: never) => { captured = args; } }) as Verb<never>);
    await yargsParser(new CliContext(new Logger(undefined, 'text', false)), line, capturing).parseAsync();
    return captured!;
  }
  /** The error yargs fails with (it wraps what a coerce function throws in its own YError, same message). */
  async function refusal(line: string[]): Promise<Error> {
    try {
      await parse(line);
    } catch (error) {
      if (error instanceof Error) return error;
      throw error;
    }
    throw new Error('expected an error');
  }

  it('the last of a repeated single-value flag counts (as in runc); repeatable flags keep every value', async () => {
    const args = await parse(['create', '-b', 'a', '--bundle', 'b', '--pid-file', 'p', '--pid-file', 'q', 'id']);
    expect(args.bundle).toBe('b');
    expect(args.pidFile).toBe('q');
    const exec = await parse(['exec', '-e', 'A=1', '-e', 'B=2', '-g', '1', '-g', '2', '--preserve-fds', '0', '--preserve-fds', '1', 'id', '--', 'true']);
    expect(exec.env).toEqual(['A=1', 'B=2']);
    expect(exec.additionalGids).toEqual([1, 2]);
    expect(exec.preserveFds).toBe(1);
  });

  it.each([[''], ['abc'], ['1.5'], ['0x3'], ['1e1'], [' ']])('a number flag given %j is refused with the value', async (value) => {
    expect((await refusal(['create', '--preserve-fds', value, 'id'])).message).toBe(`--preserve-fds ${JSON.stringify(value)}: must be an integer`);
    expect((await refusal(['create', '--preserve-fds', value, '--preserve-fds', '1', 'id'])).message).toBe(`--preserve-fds ${JSON.stringify(value)}: must be an integer`);
    expect((await refusal(['exec', '-g', '1', '-g', value, 'id', '--', 'true'])).message).toBe(`--additional-gids ${JSON.stringify(value)}: must be an integer`);
  });
});

describe('an empty path argument is refused, not taken for the working directory', () => {
  /**
   * The refusal both parsers give `line` (the fast path for `fastLine`, when it takes that line at all), before the
   * verb's handler runs. Returns the fast path's parse.
   */
  async function refusedByBoth(line: string[], expected: string, fastLine = line): Promise<ReturnType<typeof parseFast>> {
    let reached = false;
    const capturing = VERBS.map((verb) => ({ ...verb, handler: () => { reached = true; } }) as Verb<never>);
    const parse = async () => yargsParser(new CliContext(new Logger(undefined, 'text', false)), line, capturing).parseAsync();
    await expect(parse()).rejects.toThrow(expected);
    const fast = parseFast(fastLine, GLOBAL_OPTIONS, VERBS_BY_NAME);
    if (fast) expect(() => checkPathArguments(VERBS_BY_NAME.get(fast.verb)!, fast.args)).toThrow(expected);
    expect(reached).toBe(false);
    return fast;
  }

  it.each<[string, string[], string]>([
    ['network attach', ['network', 'attach', '--network', 'none', ''], 'BUNDLE'],
    ['volume attach', ['volume', 'attach', '', 'v:/data'], 'BUNDLE'],
    ['volume populate', ['volume', 'populate', 'v', ''], 'TARGET'],
    ['image unpack', ['image', 'unpack', 'layout', ''], 'BUNDLE'],
    ['image umount', ['image', 'umount', ''], 'BUNDLE'],
    ['image load', ['image', 'load', ''], 'ARCHIVE'],
    ['image import', ['image', 'import', '', 'r:1'], 'FILE'],
    ['image save', ['image', 'save', 'r:1', ''], 'FILE'],
    ['image export', ['image', 'export', 'id', ''], 'FILE'],
  ])('%s, through yargs and through the fast path', async (_name, line, name) => {
    await refusedByBoth(line, `${name} "": expected a path, got an empty string`);
  });

  it.each([['network', 'ls'], ['volume', 'ls'], ['image', 'ls'], ['network', 'create', 'n1']])('an empty --state-dir: %s %s', async (...line) => {
    const fast = await refusedByBoth([...line, '--state-dir', ''], '--state-dir "": expected a path, got an empty string', [...line, '--state-dir=']);
    expect(fast).toBeDefined();
  });

  it('a path given as . is accepted', () => {
    const fast = parseFast(['network', 'attach', '.'], GLOBAL_OPTIONS, VERBS_BY_NAME);
    expect(fast).toBeDefined();
    expect(() => checkPathArguments(VERBS_BY_NAME.get(fast!.verb)!, fast!.args)).not.toThrow();
  });
});
