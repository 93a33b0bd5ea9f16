/**
 * Hostile input (issue 11): a fuzzer for config.json and for the command line, run through bin/tsrun.
 *
 * Every case starts from a valid input (the busybox config and variants with hooks, mounts, namespaces,
 * resources, seccomp and process settings; a valid command line for every verb), mutates it (test/helpers/fuzz.ts)
 * and checks the house rules: an invalid input exits non-zero; stderr is exactly one error line, after zero or
 * more `level=warning` lines (a success prints warnings only); no stack frame or Node-internal error text; a
 * line is at most MAX_LINE characters; and nothing is left behind — no container directory under --root, no
 * cgroup of the case under this process's cgroup, no process that tsrun forked, no mount under the sandbox.
 * A mutation may leave the input valid: the container must then work and be deleted cleanly.
 *
 * CI runs a bounded number of cases with a fresh seed (printed first, and in every failure). More on demand:
 *
 *   TSRUN_FUZZ_CASES=2000 TSRUN_FUZZ_SEED=12345 npx vitest run --project integration test/integration/fuzz-config.test.ts
 *
 * TSRUN_FUZZ_CASES is the number of config.json cases (default 200, 150 in the rootless pass: the file then takes
 * 30-45 s here); the command-line fuzzer runs half as many. A failure prints its replay command
 * (TSRUN_FUZZ_ONLY=config:17 or cli:4 with the seed runs that one case).
 * Add TSRUN_TEST_ROOTLESS=1 to run tsrun as nobody.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { caseSeed, fuzzSeedFromEnv, mutateArgv, mutateConfig, Rng, toDoc, type ArgvTemplate, type Doc } from '../helpers/fuzz';
import { integrationSkipReason, processAlive, rootlessRun, Sandbox, SHARED_ROOTFS, TSRUN, type Config, type Result } from '../helpers/tsrun';

const SEED = fuzzSeedFromEnv();
/** About 30 s here as root (0.1 s a case); tsrun through setpriv is slower, so the rootless pass runs fewer. */
const CASES = Number(process.env.TSRUN_FUZZ_CASES ?? '') || (rootlessRun ? 150 : 200);
const CLI_CASES = Math.ceil(CASES / 2);
const ONLY = process.env.TSRUN_FUZZ_ONLY; // "config:N" or "cli:N"
/** Longest acceptable stderr line: an error names the value, it does not repeat a megabyte of it. */
const MAX_LINE = 4096;

console.log(`fuzz-config: TSRUN_FUZZ_SEED=${SEED} (${CASES} config cases, ${CLI_CASES} command-line cases${rootlessRun ? ', rootless' : ''})`);

/**
 * How to run a case again. Cases share the sandbox (an earlier `spec` leaves a config.json in the working directory),
 * so a case may pass alone and fail after the others: the second line replays the whole seed.
 */
function replay(kind: string, index: number): string {
  const command = `${rootlessRun ? ' TSRUN_TEST_ROOTLESS=1' : ''} npx vitest run --project integration test/integration/fuzz-config.test.ts`;
  return `TSRUN_FUZZ_SEED=${SEED} TSRUN_FUZZ_ONLY=${kind}:${index}${command}\nif it passes alone: TSRUN_FUZZ_SEED=${SEED}${command}`;
}

/** The case numbers of a kind to run: all of them, or the one TSRUN_FUZZ_ONLY names (whatever TSRUN_FUZZ_CASES says). */
function caseNumbers(kind: string, count: number): number[] {
  if (ONLY === undefined) return Array.from({ length: count }, (_, i) => i);
  const [onlyKind, onlyIndex] = ONLY.split(':');
  return onlyKind === kind ? [Number(onlyIndex)] : [];
}

// ---------------------------------------------------------------------------------------------------------------
// stderr rules

const WARNING = /^time="[^"]*" level=warning msg="(?:[^"\\]|\\.)*"$/;
/** Text that only a crash or an unhandled Node error produces. */
const INTERNAL = /^\s+at |\.(?:ts|cjs|mjs|js):\d+|node:internal|Maximum call stack|Cannot read propert|is not a function|is not iterable|ERR_[A-Z_]{3,}|The "[^"]+" argument|Received an instance of|Invalid (?:array|string) length|\[object Object\]/;

/** What is wrong with a tsrun call's stderr given its exit status (empty when nothing is). */
function stderrProblems(r: Result, options: { mayExitFromContainer?: boolean } = {}): string[] {
  const problems: string[] = [];
  if (r.signal !== null) problems.push(`tsrun was killed by ${r.signal} (timeout?)`);
  if (r.stderr !== '' && !r.stderr.endsWith('\n')) problems.push('stderr does not end with a newline');
  const lines = r.stderr === '' ? [] : r.stderr.replace(/\n$/, '').split('\n');
  for (const line of lines) {
    if (INTERNAL.test(line)) problems.push(`internal error text: ${line.slice(0, 300)}`);
    if (line.length > MAX_LINE) problems.push(`a line of ${line.length} characters`);
  }
  const errors = lines.filter((l) => !WARNING.test(l));
  if (r.status === 0) {
    if (errors.length > 0) problems.push(`exit 0 with ${errors.length} non-warning line(s)`);
  } else if (r.status !== null) {
    const containerExit = options.mayExitFromContainer && errors.length === 0 && r.status >= 128;
    if (!containerExit && errors.length !== 1) problems.push(`exit ${r.status} with ${errors.length} error lines (expected exactly 1)`);
    if (errors.length === 1 && lines[lines.length - 1] !== errors[0]) problems.push('the error line is not the last line');
    if (errors.length === 1 && errors[0]!.trim() === '') problems.push('the error line is empty');
  }
  return problems;
}

function show(r: Result): string {
  const cut = (s: string) => (s.length > 1500 ? `${s.slice(0, 1500)}… (${s.length} chars)` : s);
  return `exit ${r.status}${r.signal ? ` signal ${r.signal}` : ''}\n--- stderr ---\n${cut(r.stderr)}--- stdout ---\n${cut(r.stdout)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Leftovers

/** This process's cgroup directory in every hierarchy (v1 controllers and the unified one), where relative paths land. */
function ownCgroupDirs(): string[] {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '));
  const dirs: string[] = [];
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean)) {
    const [id, controllers = '', cgroupPath = '/'] = line.split(':');
    const mount = mounts.find((f) => {
      const type = f[f.indexOf('-') + 1];
      const options = (f[f.indexOf('-') + 3] ?? '').split(',');
      if (id === '0') return type === 'cgroup2';
      return type === 'cgroup' && controllers.split(',').every((c) => options.includes(c));
    });
    if (!mount) continue;
    const relative = path.posix.relative(mount[3]!, cgroupPath);
    if (!relative.startsWith('..')) dirs.push(path.join(mount[4]!, relative));
  }
  return [...new Set(dirs)];
}

/** Names this test gives containers and cgroups: `fz...-<pid>-...`, so nothing of other processes is matched. */
const OWN_NAME = new RegExp(`^fz[a-z]*-${process.pid}-`);

interface Leftovers {
  stateDirs: string[];
  processes: number[];
  cgroups: string[];
  mounts: string[];
}

function findLeftovers(sb: Sandbox, mark: string, keep: ReadonlySet<string>): Leftovers {
  const stateDirs = fs.existsSync(sb.root) ? fs.readdirSync(sb.root).filter((n) => n !== '@locks' && !keep.has(n)) : [];
  const needle = Buffer.from(`TSRUN_FUZZ_MARK=${mark}\0`);
  const processes: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/environ`).includes(needle) && processAlive(Number(name))) processes.push(Number(name));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  const cgroups = rootlessRun ? [] : cgroupDirs.flatMap((dir) => {
    try {
      return fs.readdirSync(dir).filter((n) => OWN_NAME.test(n) && !keep.has(n)).map((n) => path.join(dir, n));
    } catch {
      return [];
    }
  });
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(sb.dir));
  return { stateDirs, processes, cgroups, mounts };
}

function anyLeftover(l: Leftovers): boolean {
  return l.stateDirs.length + l.processes.length + l.cgroups.length + l.mounts.length > 0;
}

/** Removes what a failed case left, so the next cases start clean (and reports it). */
function removeLeftovers(sb: Sandbox, l: Leftovers): void {
  for (const id of l.stateDirs) sb.tsrun(['delete', '--force', id]);
  for (const pid of l.processes) {
    try {
      process.kill(pid, 'SIGKILL'); // forked by the tsrun this case started
    } catch {
      // gone
    }
  }
  for (const mount of l.mounts.reverse()) spawnSync('umount', ['-l', mount]);
  const removeCgroup = (dir: string): void => {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) removeCgroup(path.join(dir, entry.name));
    try {
      fs.rmdirSync(dir);
    } catch {
      // still busy: reported anyway
    }
  };
  l.cgroups.forEach(removeCgroup);
  for (const id of l.stateDirs) fs.rmSync(path.join(sb.root, id), { recursive: true, force: true });
}

let cgroupDirs: string[] = [];

// ---------------------------------------------------------------------------------------------------------------
// Running tsrun with a marker in its environment (every process it forks inherits it until an exec)

function withMark<T>(mark: string, fn: () => T): T {
  process.env.TSRUN_FUZZ_MARK = mark;
  try {
    return fn();
  } finally {
    delete process.env.TSRUN_FUZZ_MARK;
  }
}

/** Arguments that are not UTF-8 cannot go through spawn's strings: perl execs them from a file of NUL-separated bytes. */
const PERL_EXEC = 'open(my $f, "<:raw", shift) or die; local $/; my @a = split(/\\0/, <$f>, -1); pop @a; exec { $a[0] } @a; print STDERR "exec: $!\\n"; exit 127;';

function runRaw(sb: Sandbox, argv: Buffer[], options: { cwd: string; isolate: boolean; timeoutMs: number }): Result {
  const user = sb.user;
  const prefix = [
    // A mutation may drop --state-dir: the default /var/lib/tsrun/* must then land in a throwaway tmpfs of the
    // namespace, never on the host.
    ...(options.isolate ? ['unshare', '--net', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t tmpfs tmpfs /var/lib && exec "$@"', 'sh'] : []),
    ...(user ? ['setpriv', '--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups'] : []),
    TSRUN, '--root', sb.root,
  ];
  const out = path.join(sb.dir, 'cli-out');
  const err = path.join(sb.dir, 'cli-err');
  const outFd = fs.openSync(out, 'w');
  const errFd = fs.openSync(err, 'w');
  try {
    const utf8 = argv.every((a) => Buffer.from(a.toString()).equals(a));
    let r;
    if (utf8) {
      r = spawnSync(prefix[0]!, [...prefix.slice(1), ...argv.map((a) => a.toString())], { cwd: options.cwd, stdio: ['ignore', outFd, errFd], timeout: options.timeoutMs, killSignal: 'SIGKILL' });
    } else {
      const file = path.join(sb.dir, 'cli-argv');
      fs.writeFileSync(file, Buffer.concat([...prefix.map((a) => Buffer.from(a)), ...argv].flatMap((a) => [a, Buffer.from([0])])));
      r = spawnSync('perl', ['-e', PERL_EXEC, file], { cwd: options.cwd, stdio: ['ignore', outFd, errFd], timeout: options.timeoutMs, killSignal: 'SIGKILL' });
    }
    return { status: r.status, signal: r.signal, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
  } finally {
    fs.closeSync(outFd);
    fs.closeSync(errFd);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Base configs

type Variant = (sb: Sandbox, data: string) => Config;

const VARIANTS: Record<string, Variant> = {
  busybox: (sb) => sb.config(['sh', '-c', 'echo fuzz']),
  hooks: (sb) => ({
    ...sb.config(['true']),
    hooks: {
      prestart: [{ path: '/bin/true', args: ['true', 'prestart'], env: ['A=1'], timeout: 10 }],
      createRuntime: [{ path: '/bin/true' }],
      createContainer: [{ path: '/bin/true', args: ['true'] }],
      startContainer: [{ path: '/bin/true' }],
      poststart: [{ path: '/bin/true', timeout: 5 }],
      poststop: [{ path: '/bin/true', env: [] }],
    },
  }),
  mounts: (sb, data) => {
    const c = sb.config(['true']);
    (c.mounts as unknown[]).push(
      { destination: '/data', type: 'bind', source: data, options: ['rbind', 'ro', 'nosuid'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=1m', 'mode=755'] },
      { destination: '/var/cache', type: 'tmpfs', source: 'tmpfs', options: ['rro', 'noexec'] },
    );
    return c;
  },
  namespaces: (sb) => {
    const c = sb.config(['true']);
    c.linux.namespaces.push({ type: 'cgroup' }, { type: 'time' });
    const linux = c.linux as Record<string, unknown>;
    linux.timeOffsets = { monotonic: { secs: 100, nanosec: 0 }, boottime: { secs: -1, nanosec: 500 } };
    linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.msgmax': '8192' };
    c.domainname = 'fuzz.example';
    if (!sb.user) {
      c.linux.namespaces.push({ type: 'user' });
      linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    }
    return c;
  },
  resources: (sb) => {
    const c = sb.config(['true']);
    (c.linux as Record<string, unknown>).resources = {
      memory: { limit: 67108864, swap: 134217728, reservation: 33554432 },
      pids: { limit: 64 },
      cpu: { shares: 512, quota: 50000, period: 100000 },
      devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }],
    };
    return c;
  },
  seccomp: (sb) => {
    const c = sb.config(['true']);
    (c.linux as Record<string, unknown>).seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      syscalls: [
        { names: ['personality', 'keyctl'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
        { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] },
        { names: ['no_such_syscall'], action: 'SCMP_ACT_LOG' },
      ],
    };
    return c;
  },
  process: (sb) => {
    const c = sb.config(['true']);
    const p = c.process as Record<string, unknown>;
    (c.process.rlimits as unknown[]).push({ type: 'RLIMIT_NPROC', soft: 4096, hard: 4096 });
    p.oomScoreAdj = 100;
    p.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 4 };
    p.user = { uid: 0, gid: 0, umask: 18, ...(sb.user ? {} : { additionalGids: [1, 2] }) };
    p.consoleSize = { height: 25, width: 80 };
    p.scheduler = { policy: 'SCHED_OTHER', nice: 5 };
    p.execCPUAffinity = { initial: '0' };
    const caps = ['CAP_CHOWN', 'CAP_KILL'];
    p.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] };
    p.env = ['PATH=/bin:/usr/bin', 'TERM=xterm', 'EMPTY='];
    p.cwd = '/tmp';
    return c;
  },
};

const REQUIRED = [
  '/ociVersion', '/process', '/process/args', '/process/cwd', '/process/user', '/process/user/uid', '/process/user/gid',
  '/root', '/root/path', '/mounts/0/destination', '/linux/namespaces/0/type', '/hooks/prestart/0/path',
  '/linux/seccomp/defaultAction', '/process/rlimits/0/type', '/process/rlimits/0/hard', '/linux/uidMappings/0/size',
];

/**
 * Keeps fuzzed strings inside the sandbox: the rootfs stays under the bundle, the cgroup under this test's name,
 * and hooks, bind-mount sources and namespace paths never name host files the base config does not name.
 */
function makeGuard(cgroupName: string, allowed: ReadonlySet<string>) {
  return (pointer: string, value: string): string => {
    if (pointer === '/root/path') return value.replace(/^\/+/, '').split('/').map((s) => (s === '..' ? '_' : s)).join('/');
    if (pointer === '/linux/cgroupsPath') return value === '' ? '' : `${cgroupName}/${value}`;
    const hostPath = /^\/hooks\/[^/]+\/\d+\/path$|^\/mounts\/\d+\/source$|^\/linux\/namespaces\/\d+\/path$|^\/linux\/seccomp\/listenerPath$/.test(pointer);
    if (!hostPath) return value;
    const safe = value.split('/').map((s) => (s === '..' ? '_' : s)).join('/');
    if (allowed.has(safe)) return safe;
    let exists: boolean;
    try {
      exists = fs.existsSync(safe.startsWith('/') ? safe : path.join('/', safe));
    } catch {
      exists = false;
    }
    return exists ? `${safe}.fuzz-missing` : safe;
  };
}

// ---------------------------------------------------------------------------------------------------------------

describe.skipIf(integrationSkipReason !== undefined)(`fuzzing config.json and the command line${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  let rootfs: string;
  let data: string;
  let bundles = 0;

  beforeAll(() => {
    sb = new Sandbox('tsrun-fuzz');
    // The namespaces variant's container root is host uid 100000: it must reach the bundle and the rootfs.
    fs.chmodSync(sb.dir, 0o755);
    // A private copy of the rootfs: mount destinations the fuzzer invents are created in it.
    rootfs = path.join(sb.dir, 'rootfs');
    expect(spawnSync('cp', ['-a', SHARED_ROOTFS, rootfs]).status).toBe(0);
    data = path.join(sb.dir, 'data');
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, 'file'), 'data\n');
    if (sb.user) fs.chmodSync(data, 0o755);
    cgroupDirs = ownCgroupDirs();
  });
  /** How the cases ended, printed at the end: how many mutated inputs were still valid. */
  const outcomes = new Map<string, number>();
  const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  /** The case running now: when it fails before its own check, afterEach removes what it left all the same. */
  let current: { mark: string; keep: ReadonlySet<string> } | undefined;
  afterEach(() => {
    if (current) removeLeftovers(sb, findLeftovers(sb, current.mark, current.keep));
    current = undefined;
  });
  afterAll(() => {
    // Nothing may stay mounted under the sandbox when it is removed (rm -r would go through the mount).
    if (sb) removeLeftovers(sb, findLeftovers(sb, 'none', new Set()));
    sb?.cleanup();
    console.log(`fuzz-config: seed ${SEED}: ${[...outcomes].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
  });

  /** A bundle whose config.json is exactly `bytes`, its rootfs the private copy. */
  function bundleOf(bytes: Buffer): string {
    const dir = path.join(sb.dir, `bundle-${++bundles}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), bytes);
    fs.symlinkSync(rootfs, path.join(dir, 'rootfs'));
    if (sb.user) fs.chmodSync(dir, 0o755);
    return dir;
  }

  function baseConfig(name: string, cgroupName: string, args?: string[]): Config {
    const config = VARIANTS[name]!(sb, data);
    config.root = { path: 'rootfs', readonly: true };
    if (args) config.process.args = args;
    (config.linux as Record<string, unknown>).cgroupsPath = cgroupName;
    return config;
  }

  /** Checks for leftovers of case `mark`; cleans them up and returns a description if there were any. */
  function leftoversOf(mark: string, keep: ReadonlySet<string> = new Set()): string | undefined {
    const left = findLeftovers(sb, mark, keep);
    if (!anyLeftover(left)) return undefined;
    removeLeftovers(sb, left);
    return `left behind: ${JSON.stringify(left)}`;
  }

  /** Deletes a container that came into existence; returns what went wrong. */
  function deleteCleanly(id: string, pid: number | undefined, force: boolean): string[] {
    const r = sb.tsrun(['delete', ...(force ? ['--force'] : []), id]);
    const problems = stderrProblems(r).map((p) => `delete: ${p}`);
    if (r.status !== 0) problems.push(`delete failed: ${show(r)}`);
    if (pid !== undefined && pid > 0 && processAlive(pid)) problems.push(`the container's process ${pid} is alive after delete`);
    return problems;
  }

  it('every base config is valid, and its container is created and deleted cleanly', () => {
    for (const name of Object.keys(VARIANTS)) {
      const id = sb.newId('fz');
      const mark = `${process.pid}-base-${name}`;
      const bundle = bundleOf(Buffer.from(JSON.stringify(baseConfig(name, `fzcg-${process.pid}-base-${name}`))));
      const r = withMark(mark, () => sb.tsrun(['create', '-b', bundle, id]));
      if (sb.user && (name === 'resources' || name === 'mounts' || name === 'namespaces')) {
        // rootless: no cgroup limits; the rootfs (owned by root) gets no new mount points
        expect(stderrProblems(r), `${name}: ${show(r)}`).toEqual([]);
        if (r.status === 0) expect(deleteCleanly(id, sb.state(id).pid, false)).toEqual([]);
        expect(leftoversOf(mark)).toBeUndefined();
        continue;
      }
      expect(r.status, `${name}: ${show(r)}`).toBe(0);
      expect(stderrProblems(r), `${name}: ${show(r)}`).toEqual([]);
      const pid = sb.state(id).pid;
      expect(deleteCleanly(id, pid, false), name).toEqual([]);
      expect(leftoversOf(mark), name).toBeUndefined();
    }
  });

  describe.skipIf(caseNumbers('config', CASES).length === 0)('config.json', () => {
    for (const index of caseNumbers('config', CASES)) {
      it(`case ${index}`, () => {
        const rng = new Rng(caseSeed(SEED, index));
        const variant = rng.pick(Object.keys(VARIANTS));
        const verb = rng.chance(0.2) ? 'run' : 'create';
        const cgroupName = `fzcg-${process.pid}-${index}`;
        // `run` starts the process: `true`, so whatever it prints is tsrun's.
        const base = baseConfig(variant, cgroupName, verb === 'run' ? ['true'] : undefined);
        const guard = makeGuard(cgroupName, new Set([data, '/bin/true']));
        const mutated = mutateConfig(rng, toDoc(base) as Doc, { guard, required: REQUIRED, maxMutations: 3 });
        const id = sb.newId('fz');
        const mark = `${process.pid}-config-${index}`;
        current = { mark, keep: new Set() };
        const bundle = bundleOf(mutated.bytes);
        const context = `seed ${SEED} case config:${index} (${variant}, ${verb}): ${mutated.mutations.join('; ')}\nreplay: ${replay('config', index)}`;

        const r = withMark(mark, () => sb.tsrun([verb, '-b', bundle, id], { timeoutMs: 30_000 }));
        count(`config ${verb} ${r.status === 0 ? 'succeeded' : 'refused'}`);
        const problems = stderrProblems(r, { mayExitFromContainer: verb === 'run' }).map((p) => `${verb}: ${p}`);
        if (verb === 'create' && r.status === 0) {
          // Still valid: the container must exist, and go away cleanly (sometimes after it ran).
          const state = sb.tsrun(['state', id]);
          let pid: number | undefined;
          if (state.status !== 0) problems.push(`state after a successful create: ${show(state)}`);
          else pid = (JSON.parse(state.stdout) as { pid: number }).pid;
          let started = false;
          if (rng.chance(0.3)) {
            const start = sb.tsrun(['start', id]);
            problems.push(...stderrProblems(start).map((p) => `start: ${p}`));
            started = start.status === 0;
          }
          problems.push(...deleteCleanly(id, pid, started));
        }
        const left = leftoversOf(mark);
        if (left) problems.push(left);
        fs.rmSync(bundle, { recursive: true, force: true });
        expect(problems, `${context}\n${show(r)}`).toEqual([]);
      });
    }
  });

  describe.skipIf(caseNumbers('cli', CLI_CASES).length === 0)('command line', () => {
    let target: string;
    let quick: string;
    let scratch: string;
    const stateDirs = () => ({ network: path.join(sb.dir, 'network-state'), image: path.join(sb.dir, 'image-state'), volume: path.join(sb.dir, 'volume-state') });

    beforeAll(() => {
      target = `fz-${process.pid}-target`;
      quick = bundleOf(Buffer.from(JSON.stringify(baseConfig('busybox', `fzcg-${process.pid}-quick`, ['true']))));
      scratch = path.join(sb.dir, 'scratch');
      fs.mkdirSync(scratch);
      if (sb.user) {
        fs.chmodSync(sb.dir, 0o755);
        fs.chownSync(scratch, sb.user.uid, sb.user.gid);
      }
    });
    afterAll(() => {
      if (target && fs.existsSync(path.join(sb.root, target))) sb.tsrun(['delete', '--force', target]);
    });

    /** The long-lived container most verbs act on; made again when a case removed it (a stopped one stays). */
    function ensureTarget(): void {
      if (fs.existsSync(path.join(sb.root, target))) return;
      const bundle = bundleOf(Buffer.from(JSON.stringify(baseConfig('busybox', `fzcg-${process.pid}-target`, ['sleep', '1000']))));
      const r = withMark(`${process.pid}-target`, () => sb.tsrun(['create', '-b', bundle, target]));
      expect(r.status, show(r)).toBe(0);
      // running, so that exec, pause, ps, update and events get past "not running"
      const start = sb.tsrun(['start', target]);
      expect(start.status, show(start)).toBe(0);
    }

    function templates(caseId: string, inScratch: (name: string) => string): ArgvTemplate[] {
      const dirs = stateDirs();
      const id = (value: string) => ({ value, id: true, required: true });
      const arg = (value: string) => ({ value, required: true });
      const sd = (group: keyof typeof dirs) => ['--state-dir', dirs[group]];
      const specDir = inScratch(`spec-${caseId}`);
      fs.mkdirSync(specDir, { recursive: true });
      if (sb.user) fs.chownSync(specDir, sb.user.uid, sb.user.gid);
      return [
        { verb: ['create'], options: [['--bundle', quick], ['--pid-file', inScratch(`pid-${caseId}`)]], positionals: [id(caseId)], numberFlags: ['--preserve-fds'] },
        { verb: ['run'], options: [['-b', quick]], positionals: [id(caseId)], numberFlags: ['--preserve-fds'] },
        // refused as it stands (no terminal): its flag values get fuzzed all the same
        { verb: ['create'], options: [['--bundle', quick], ['--console-socket', inScratch('console.sock')], ['--pid-file', inScratch('pid')]], positionals: [id(caseId)] },
        { verb: ['start'], options: [], positionals: [id(target)] },
        { verb: ['state'], options: [], positionals: [id(target)] },
        { verb: ['kill'], options: [], positionals: [id(target), { value: 'CONT' }] },
        { verb: ['delete'], options: [['--force']], positionals: [id(caseId)] },
        { verb: ['list'], options: [['--format', 'json']], positionals: [] },
        { verb: ['ls'], options: [['-q']], positionals: [] },
        { verb: ['spec'], options: [['--bundle', specDir], ['--rootless']], positionals: [] },
        { verb: ['pause'], options: [], positionals: [id(target)] },
        { verb: ['resume'], options: [], positionals: [id(target)] },
        { verb: ['ps'], options: [['--format', 'json']], positionals: [id(target)] },
        { verb: ['update'], options: [['--pids-limit', '100'], ['--cpu-share', '512']], positionals: [id(target)], numberFlags: ['--pids-limit', '--cpu-share', '--cpu-quota', '--blkio-weight'] },
        { verb: ['events'], options: [['--stats']], positionals: [id(target)] },
        { verb: ['exec'], options: [['--cwd', '/'], ['--env', 'A=1'], ['--pid-file', inScratch(`exec-pid-${caseId}`)], ['--user', '0:0']], positionals: [id(target)], rest: ['true'], numberFlags: ['--preserve-fds', '--additional-gids'] },
        { verb: ['features'], options: [], positionals: [] },
        { verb: ['network', 'create'], options: [sd('network'), ['--subnet', '10.250.0.0/24']], positionals: [arg('fznet')] },
        { verb: ['network', 'ls'], options: [sd('network')], positionals: [] },
        { verb: ['network', 'inspect'], options: [sd('network')], positionals: [arg('fznet')] },
        { verb: ['network', 'rm'], options: [sd('network')], positionals: [arg('fznet')] },
        { verb: ['network', 'prune'], options: [sd('network')], positionals: [] },
        { verb: ['network', 'attach'], options: [sd('network'), ['--network', 'none']], positionals: [arg(inScratch('attach-bundle'))] },
        { verb: ['network', 'teardown'], options: [sd('network')], positionals: [{ value: caseId }] },
        { verb: ['volume', 'create'], options: [sd('volume'), ['--label', 'a=b']], positionals: [{ value: 'fzvol' }] },
        { verb: ['volume', 'ls'], options: [sd('volume')], positionals: [] },
        { verb: ['volume', 'inspect'], options: [sd('volume')], positionals: [arg('fzvol')] },
        { verb: ['volume', 'rm'], options: [sd('volume')], positionals: [arg('fzvol')] },
        { verb: ['volume', 'attach'], options: [sd('volume')], positionals: [arg(inScratch('attach-bundle')), arg('fzvol:/data')] },
        { verb: ['image', 'ls'], options: [sd('image')], positionals: [] },
        { verb: ['image', 'inspect'], options: [sd('image')], positionals: [arg('fz:1')] },
        { verb: ['image', 'rm'], options: [sd('image')], positionals: [arg('fz:1')] },
        { verb: ['image', 'prune'], options: [sd('image')], positionals: [] },
        { verb: ['image', 'load'], options: [sd('image')], positionals: [arg(inScratch('image.tar'))] },
        { verb: ['image', 'unpack'], options: [sd('image')], positionals: [arg(inScratch('oci-layout')), arg(inScratch(`unpacked-${caseId}`))] },
        { verb: ['image', 'export'], options: [sd('image')], positionals: [id(target), arg(inScratch(`export-${caseId}.tar`))] },
        { verb: ['image', 'pull'], options: [sd('image')], positionals: [arg('127.0.0.1:9/fz:1')] },
      ];
    }

    for (const index of caseNumbers('cli', CLI_CASES)) {
      it(`case ${index}`, () => {
        ensureTarget();
        const rng = new Rng(caseSeed(SEED ^ 0x5a5a5a5a, index));
        const caseId = `fz-${process.pid}-cli${index}`;
        const inScratch = (name: string) => path.join(scratch, name);
        const template = rng.pick(templates(caseId, inScratch));
        const fuzzed = mutateArgv(rng, template, (name) => inScratch(name === '' ? 'p' : name));
        const mark = `${process.pid}-cli-${index}`;
        const keep = new Set([target, `fzcg-${process.pid}-target`]);
        current = { mark, keep };
        // Verbs with host-wide effects (bridges, firewall rules, registries, overlay mounts) run in a network and
        // mount namespace of their own; their state directories are the sandbox's.
        const isolate = ['network', 'image', 'volume'].includes(template.verb[0]!);
        const r = withMark(mark, () => runRaw(sb, fuzzed.argv, { cwd: scratch, isolate, timeoutMs: 20_000 }));
        count(`cli ${r.status === 0 ? 'succeeded' : 'refused'}`);
        const shown = fuzzed.argv.map((a) => (a.length > 60 ? `${a.subarray(0, 40).toString()}…(${a.length} bytes)` : a.length === 0 ? "''" : a.toString())).join(' ');
        const context = `seed ${SEED} case cli:${index}: tsrun ${shown}\nmutations: ${fuzzed.mutations.join('; ')}\nreplay: ${replay('cli', index)}`;
        const problems = stderrProblems(r, { mayExitFromContainer: template.verb[0] === 'exec' || template.verb[0] === 'run' });
        if (fuzzed.invalid && r.status === 0) problems.push('invalid input, but exit 0');
        if (r.status === 0) {
          // A valid command may have made a container (create, run -d): it must go away cleanly.
          for (const name of fs.existsSync(sb.root) ? fs.readdirSync(sb.root) : []) {
            if (name !== '@locks' && !keep.has(name)) problems.push(...deleteCleanly(name, undefined, true));
          }
        }
        const left = leftoversOf(mark, keep);
        if (left) problems.push(left);
        expect(problems, `${context}\n${show(r)}`).toEqual([]);
      });
    }
  });
});
