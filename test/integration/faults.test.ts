// Issue 11, faults: tsrun SIGKILLed at each step of create, start, exec and delete (TSRUN_TEST_PAUSE stops it
// there; docs/architecture.md "Test-only switches"), then `tsrun state` must answer (a status or one line of error)
// and `tsrun delete --force` must return the host to what it was before: the --root listing, the cgroups under this
// process's own cgroup, the mounts, the processes tsrun started. Plus the container's init dying before `start`, a
// full and a read-only --root.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestPauseStep } from '../../src/container/test-pause';
import { after, pauseArrival } from '../helpers/test-pause';
import { integrationSkipReason, rootlessRun, runSync, Sandbox, SHARED_ROOTFS, TSRUN, type Config, type Result } from '../helpers/tsrun';

/** Every cgroup a test here makes is named with this prefix, directly under this process's own cgroup. */
const PREFIX = `tsrun-faults-${process.pid}-`;

// ---- what a container can leave behind on the host ----

/** This process's cgroup directory in every mounted hierarchy (v1 controllers and cgroup2), by hierarchy name. */
function ownCgroupDirs(): Array<{ hierarchy: string; dir: string }> {
  const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean).map((line) => {
    const first = line.indexOf(':');
    const last = line.indexOf(':', first + 1);
    return { id: line.slice(0, first), controllers: line.slice(first + 1, last).split(',').filter(Boolean), cgroup: line.slice(last + 1) };
  });
  const result: Array<{ hierarchy: string; dir: string }> = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    const type = fields[dash + 1];
    const options = (fields[dash + 3] ?? '').split(',');
    const entry = type === 'cgroup2' ? own.find((e) => e.id === '0')
      : type === 'cgroup' ? own.find((e) => e.controllers.length > 0 && e.controllers.every((c) => options.includes(c))) : undefined;
    if (!entry) continue;
    const relative = path.posix.relative(fields[3]!, entry.cgroup);
    if (relative.startsWith('..')) continue;
    result.push({ hierarchy: type === 'cgroup2' ? 'unified' : entry.controllers.join(','), dir: path.join(fields[4]!, relative) });
  }
  return result;
}

function subdirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** Our cgroup directories (named `prefix`…, and everything below them) as absolute paths, deepest last. */
function ourCgroupDirs(prefix = PREFIX): string[] {
  const found: string[] = [];
  for (const { dir } of ownCgroupDirs()) {
    const stack = subdirs(dir).filter((n) => n.startsWith(prefix)).map((n) => path.join(dir, n));
    while (stack.length > 0) {
      const next = stack.shift()!;
      found.push(next);
      stack.push(...subdirs(next).map((n) => path.join(next, n)));
    }
  }
  return found;
}

/** Every file under `root` as `relative-path type` (d, f, p for a fifo, l, s, ?), sorted; the lock stripes excepted. */
function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, relative: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      // @locks holds the 256 lock stripes, made on first use and never removed by design (state-store.ts).
      if (relative === '' && name === '@locks') continue;
      const file = path.join(dir, name);
      const rel = path.join(relative, name);
      const st = fs.lstatSync(file);
      out.push(`${rel} ${st.isDirectory() ? 'd' : st.isFIFO() ? 'p' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isSocket() ? 's' : '?'}`);
      if (st.isDirectory()) walk(file, rel);
    }
  };
  walk(root, '');
  return out.sort();
}

interface Snapshot {
  state: string[];
  cgroups: string[];
  mounts: string[];
}

/**
 * The host as far as this test's containers can change it. Mounts are compared where tsrun could leave one (the
 * sandbox, the shared rootfs, cgroupfs): other work on this machine mounts and unmounts elsewhere meanwhile.
 */
function snapshot(sb: Sandbox): Snapshot {
  const watched = [sb.dir, SHARED_ROOTFS, '/sys/fs/cgroup', '/run/tsrun'];
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[4]!)
    .filter((m) => watched.some((w) => m === w || m.startsWith(`${w}/`)));
  return { state: listTree(sb.root), cgroups: ourCgroupDirs().map((d) => d.replace(/^\/sys\/fs\/cgroup\//, '')).sort(), mounts };
}

interface ProcInfo {
  pid: number;
  ppid: number;
  sid: number;
  start: string;
  state: string;
}

function procInfo(pid: number): ProcInfo | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: rest[0]!, ppid: Number(rest[1]), sid: Number(rest[3]), start: rest[19]! };
  } catch {
    return undefined;
  }
}

function allProcs(): ProcInfo[] {
  return fs.readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n)).map((n) => procInfo(Number(n))).filter((p): p is ProcInfo => p !== undefined);
}

/**
 * Processes a killed tsrun may have left, identified by PID and start time (a PID may be reused): its descendants
 * (found before the kill: they are reparented after it), everything in its session (tsrun runs as a session
 * leader here), the container's init, and whatever is in the container's cgroups.
 */
class Tracked {
  private readonly procs = new Map<number, string>();

  add(pid: number): void {
    const info = procInfo(pid);
    if (info && info.state !== 'Z') this.procs.set(pid, info.start);
  }

  familyOf(root: number): void {
    const procs = allProcs();
    const members = new Set([root]);
    for (let grew = true; grew;) {
      grew = false;
      for (const p of procs) {
        if (!members.has(p.pid) && (members.has(p.ppid) || p.sid === root)) {
          members.add(p.pid);
          grew = true;
        }
      }
    }
    members.delete(root);
    for (const pid of members) this.add(pid);
  }

  /** Whatever is in the cgroups of container `id` (see config()). */
  inCgroupsOf(id: string): void {
    for (const dir of ourCgroupDirs(cgroupName(id))) this.inCgroupDir(dir);
  }

  inCgroupDir(dir: string): void {
    let text = '';
    try {
      text = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8');
    } catch {
      // removed meanwhile
    }
    for (const pid of text.split('\n').filter(Boolean).map(Number)) this.add(pid);
  }

  private livePids(): number[] {
    return [...this.procs].filter(([pid, start]) => {
      const info = procInfo(pid);
      return info !== undefined && info.start === start && info.state !== 'Z' && info.state !== 'X';
    }).map(([pid]) => pid);
  }

  /** Those still alive (a zombie has exited; only its reaper is missing), with their command lines. */
  alive(): string[] {
    return this.livePids().map((pid) => {
      let cmdline = '';
      try {
        cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
      } catch {
        // exited just now
      }
      return `${pid} ${cmdline}`;
    });
  }

  /** After a failed test: SIGKILL, by PID, whatever of them is still alive. */
  killAlive(): void {
    for (const pid of this.livePids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}

async function eventually(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** One line of error, nothing else: the CLI's contract for every failure. */
function expectOneLineError(r: Result, pattern: RegExp): void {
  expect(r.status, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^[^\n]+\n$/);
  expect(r.stderr.trim()).toMatch(pattern);
}

/** The cgroup of container `id`: relative, so under this process's own cgroups. */
function cgroupName(id: string): string {
  return `${PREFIX}${id}`;
}

describe.skipIf(integrationSkipReason !== undefined)(`faults: tsrun killed at every step${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  let counter = 0;
  /** tsrun processes started here that may still run, what they started, pause handles still open: ended in afterEach. */
  const running = new Set<number>();
  const trackers: Tracked[] = [];
  const handles: fsp.FileHandle[] = [];
  const track = (): Tracked => {
    const tracked = new Tracked();
    trackers.push(tracked);
    return tracked;
  };

  beforeAll(() => {
    sb = new Sandbox('tsrun-faults');
  });
  afterEach(async () => {
    for (const pid of running) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    running.clear();
    for (const tracked of trackers.splice(0)) tracked.killAlive();
    for (const handle of handles.splice(0)) await handle.close().catch(() => undefined);
  });
  afterAll(async () => {
    sb?.cleanup();
    // What a failed test left in our cgroups: killed by PID, then the cgroups removed deepest first.
    const leftovers = track();
    for (const dir of ourCgroupDirs()) leftovers.inCgroupDir(dir);
    leftovers.killAlive();
    await eventually(() => leftovers.alive().length === 0, 5000);
    for (const dir of ourCgroupDirs().reverse()) {
      try {
        fs.rmdirSync(dir);
      } catch {
        // still busy: nothing more a test may do about it
      }
    }
  });

  function config(id: string, args: string[] = ['sleep', '1000']): Config {
    const c = sb.config(args);
    // Rootless tsrun runs without cgroups.
    if (!rootlessRun) c.linux.cgroupsPath = cgroupName(id);
    return c;
  }

  /** Runs bin/tsrun without waiting, as a session leader, stdout/stderr into files (an init keeps them open). */
  function spawnTsrun(args: string[], env: NodeJS.ProcessEnv = process.env): { pid: number; done: Promise<Result> } {
    const n = ++counter;
    const out = path.join(sb.dir, `async-out-${n}`);
    const err = path.join(sb.dir, `async-err-${n}`);
    const outFd = fs.openSync(out, 'w');
    const errFd = fs.openSync(err, 'w');
    const argv = ['--root', sb.root, ...args];
    const [command, commandArgs] = sb.user
      ? ['setpriv', ['--reuid', String(sb.user.uid), '--regid', String(sb.user.gid), '--clear-groups', TSRUN, ...argv]]
      : [TSRUN, argv];
    const child = spawn(command, commandArgs, { stdio: ['ignore', outFd, errFd], detached: true, env });
    fs.closeSync(outFd);
    fs.closeSync(errFd);
    running.add(child.pid!);
    const done = new Promise<Result>((resolve) => {
      child.once('exit', (status, signal) => {
        running.delete(child.pid!);
        const result = { status, signal, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
        fs.rmSync(out, { force: true });
        fs.rmSync(err, { force: true });
        resolve(result);
      });
    });
    return { pid: child.pid!, done };
  }

  /** Starts `args` with the pause at `step` and returns once tsrun has arrived there (see test/helpers/test-pause.ts). */
  async function pausedAt(step: TestPauseStep, args: string[]): Promise<{ pid: number; done: Promise<Result> }> {
    const fifo = path.join(sb.dir, `pause-${++counter}.fifo`);
    expect(runSync('mkfifo', ['-m', '0666', fifo]).status).toBe(0);
    const run = spawnTsrun(args, { ...process.env, TSRUN_TEST_PAUSE: `${step}:${fifo}` });
    const gaveUp = Promise.race([run.done.then((r) => `tsrun exited (${r.status ?? r.signal}): ${r.stderr.trim()}`), after(15_000, 'timed out after 15 s')]);
    handles.push(await pauseArrival(fifo, gaveUp));
    return run;
  }

  /** SIGKILLs tsrun by its PID; the processes it started are tracked first, as they are reparented by the kill. */
  async function kill(id: string, run: { pid: number; done: Promise<Result> }, tracked: Tracked): Promise<void> {
    tracked.familyOf(run.pid);
    process.kill(run.pid, 'SIGKILL');
    const result = await run.done;
    expect(result.signal).toBe('SIGKILL');
    // Orphans keep tsrun's session; the init may have made its own, so its cgroups are looked into too.
    tracked.familyOf(run.pid);
    tracked.inCgroupsOf(id);
  }

  /** What `state` says now: a status, or `none` after one line of "does not exist". */
  function stateAfterKill(id: string, tracked: Tracked): string {
    const r = sb.tsrun(['state', id]);
    if (r.status === 0) {
      const state = JSON.parse(r.stdout) as { status: string; pid: number };
      if (state.pid > 0) tracked.add(state.pid);
      return state.status;
    }
    expectOneLineError(r, new RegExp(`^container "${id}" does not exist`));
    return 'none';
  }

  /** `delete --force`, then the host must be what `before` saw and every tracked process gone. */
  async function expectCleanedUp(id: string, before: Snapshot, tracked: Tracked): Promise<void> {
    const r = sb.tsrun(['delete', '--force', id]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // Processes that end by themselves (an init that lost its tsrun) may take a moment; nothing is killed here.
    await eventually(() => tracked.alive().length === 0, 5000);
    expect(tracked.alive()).toEqual([]);
    expect(snapshot(sb)).toEqual(before);
    // And the ID is free again.
    expectOneLineError(sb.tsrun(['state', id]), /does not exist/);
  }

  /** Creates a container (parked, `created`); `start` too when asked. */
  function prepare(id: string, how: 'created' | 'running'): void {
    const r = sb.tsrun([how === 'created' ? 'create' : 'run', ...(how === 'running' ? ['-d'] : []), '-b', sb.bundle(config(id)), id]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }

  interface StepCase {
    step: TestPauseStep;
    /** The container as it is before the command runs. */
    given: 'nothing' | 'created' | 'running';
    command: (id: string) => string[];
    /** What `state` may say after the kill (`none`: one line of "does not exist"). */
    states: string[];
  }

  const withHook = (id: string): Config => {
    const c = config(id);
    c.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', 'true'] }] };
    return c;
  };
  const create = (c: (id: string) => Config = (id) => config(id)) => (id: string) => ['create', '-b', sb.bundle(c(id)), id];
  const cases: StepCase[] = [
    { step: 'create-dir', given: 'nothing', command: create(), states: ['none'] },
    { step: 'create-cgroups', given: 'nothing', command: create(), states: ['none'] },
    { step: 'create-init', given: 'nothing', command: create(), states: ['none'] },
    { step: 'create-hooks', given: 'nothing', command: create(withHook), states: ['none'] },
    { step: 'create-ready', given: 'nothing', command: create(), states: ['none'] },
    // state.json is written but the init never got tsrun's go: it ends by itself (it may not have yet).
    { step: 'create-state', given: 'nothing', command: create(), states: ['stopped', 'created'] },
    { step: 'create-done', given: 'nothing', command: create(), states: ['created'] },
    { step: 'start-checked', given: 'created', command: (id) => ['start', id], states: ['created'] },
    // The process runs and exec.fifo is gone (removed as soon as start opened it): `running`.
    { step: 'start-released', given: 'created', command: (id) => ['start', id], states: ['running'] },
    { step: 'exec-joined', given: 'running', command: (id) => ['exec', id, 'true'], states: ['running'] },
    { step: 'exec-spawned', given: 'running', command: (id) => ['exec', id, 'sleep', '1000'], states: ['running'] },
    { step: 'delete-checked', given: 'created', command: (id) => ['delete', id], states: ['created'] },
    { step: 'delete-killed', given: 'running', command: (id) => ['delete', '--force', id], states: ['stopped'] },
    { step: 'delete-cgroups-removed', given: 'running', command: (id) => ['delete', '--force', id], states: ['stopped'] },
  ];

  it.each(cases)('SIGKILL at $step: state answers, delete --force restores the host', async ({ step, given, command, states }) => {
    const id = sb.newId(step);
    const before = snapshot(sb);
    const tracked = track();
    if (given !== 'nothing') {
      prepare(id, given);
      tracked.add(sb.state(id).pid);
    }
    const run = await pausedAt(step, command(id));
    await kill(id, run, tracked);
    expect(states).toContain(stateAfterKill(id, tracked));
    await expectCleanedUp(id, before, tracked);
  });

  it('the init killed before start: start fails in one line, delete cleans up', async () => {
    const id = sb.newId('init-dies');
    const before = snapshot(sb);
    prepare(id, 'created');
    const pid = sb.state(id).pid;
    process.kill(pid, 'SIGKILL');
    expectOneLineError(sb.tsrun(['start', id]), /^cannot start a container that has stopped$|^container init exited before it was started$/);
    expect(sb.state(id).status).toBe('stopped');
    const r = sb.tsrun(['delete', id]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const tracked = track();
    tracked.add(pid);
    await eventually(() => tracked.alive().length === 0, 5000);
    expect(tracked.alive()).toEqual([]);
    expect(snapshot(sb)).toEqual(before);
  });

  it('a start that died after releasing the init left exec.fifo: the next start says so at once, the container reads running', async () => {
    const id = sb.newId('released');
    const before = snapshot(sb);
    prepare(id, 'running');
    const tracked = track();
    tracked.add(sb.state(id).pid);
    // What such a start leaves: the process runs, exec.fifo is still there, so the status reads `created`.
    const fifo = path.join(sb.containerDir(id), 'exec.fifo');
    expect(runSync('mkfifo', ['-m', '0622', fifo]).status).toBe(0);
    if (sb.user) fs.chownSync(fifo, sb.user.uid, sb.user.gid);
    expect(sb.state(id).status).toBe('created');
    // Nothing will ever write to that fifo: without the check this start waits forever (the timeout ends it).
    expectOneLineError(sb.tsrun(['start', id], { timeoutMs: 20_000 }), /^cannot start an already running container \(an earlier start released it\)$/);
    expect(fs.existsSync(fifo)).toBe(false);
    expect(sb.state(id).status).toBe('running');
    await expectCleanedUp(id, before, tracked);
  });

  it('create\'s tsrun killed while the init waits on exec.fifo: the container stays created, delete --force cleans', async () => {
    const id = sb.newId('parked');
    const before = snapshot(sb);
    const tracked = track();
    const run = await pausedAt('create-done', ['create', '-b', sb.bundle(config(id)), id]);
    await kill(id, run, tracked);
    const state = sb.state(id);
    expect(state.status).toBe('created');
    // The init outlived its tsrun and sits on exec.fifo (its wait channel is the fifo open).
    expect(fs.readFileSync(`/proc/${state.pid}/wchan`, 'utf8')).toMatch(/fifo|pipe|wait_for_partner/);
    tracked.add(state.pid);
    await expectCleanedUp(id, before, tracked);
  });

  describe('a --root that cannot be written', () => {
    /** A tmpfs mounted over the sandbox's --root for these tests; unmounted in afterAll. */
    let mounted = false;

    function mountRoot(options: string): void {
      fs.mkdirSync(sb.root, { recursive: true });
      const owner = sb.user ? `,uid=${sb.user.uid},gid=${sb.user.gid}` : '';
      const r = runSync('mount', ['-t', 'tmpfs', '-o', `${options},mode=0700${owner}`, 'tsrun-faults', sb.root]);
      expect(r.stderr).toBe('');
      mounted = true;
    }

    function unmountRoot(): void {
      if (!mounted) return;
      const r = runSync('umount', [sb.root]);
      if (r.status !== 0) runSync('umount', ['-l', sb.root]);
      mounted = false;
    }

    afterEach(unmountRoot);
    afterAll(unmountRoot);

    it('full (ENOSPC): create fails in one line naming ENOSPC and leaves nothing', async () => {
      mountRoot('size=64k');
      // Fill it: the write stops at the size limit.
      const filler = path.join(sb.root, 'filler');
      expect(() => fs.writeFileSync(filler, Buffer.alloc(1024 * 1024))).toThrow(/ENOSPC/);
      if (sb.user) fs.chownSync(filler, sb.user.uid, sb.user.gid);
      expect(fs.statfsSync(sb.root).bavail).toBe(0);
      const id = sb.newId('full');
      const before = snapshot(sb);
      const run = spawnTsrun(['create', '-b', sb.bundle(config(id)), id]);
      const tracked = track();
      const r = await run.done;
      tracked.familyOf(run.pid);
      tracked.inCgroupsOf(id);
      expectOneLineError(r, /ENOSPC/);
      await eventually(() => tracked.alive().length === 0, 5000);
      expect(tracked.alive()).toEqual([]);
      expect(snapshot(sb)).toEqual(before);
    });

    it('read-only (EROFS): create fails in one line naming EROFS and leaves nothing, with and without lock files', () => {
      mountRoot('size=1m');
      const id = sb.newId('ro');
      const check = () => {
        const before = snapshot(sb);
        expectOneLineError(sb.tsrun(['create', '-b', sb.bundle(config(id)), id]), /EROFS/);
        expect(snapshot(sb)).toEqual(before);
      };
      expect(runSync('mount', ['-o', 'remount,ro', sb.root]).status).toBe(0);
      check(); // a fresh root: its lock directory cannot be made
      expect(runSync('mount', ['-o', 'remount,rw', sb.root]).status).toBe(0);
      prepare(id, 'created');
      expect(sb.tsrun(['delete', id]).status).toBe(0);
      expect(runSync('mount', ['-o', 'remount,ro', sb.root]).status).toBe(0);
      check(); // the lock files exist, but cannot be opened for writing
    });
  });
});
