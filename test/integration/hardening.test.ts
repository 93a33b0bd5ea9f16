import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isValidContainerId } from '../../src/spec/container-id';
import { after, pauseArrival } from '../helpers/test-pause';
import { integrationSkipReason, needsPrivilege, processAlive, rootlessRun, runSync, Sandbox, TSRUN, waitUntil, type Config, type Result } from '../helpers/tsrun';

/**
 * Regression tests for container-escape classes that a naive runtime gets wrong: descriptors leaking into the
 * container, /proc/<pid>/exe of a runtime process inside it, host device nodes changed, state-directory escapes
 * and /proc or /sys made writable from inside. Each test fails on a runtime that lacks the defence.
 */
describe.skipIf(integrationSkipReason !== undefined)(`hardening${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  /** Descriptors and processes this test opened or started: closed / killed (by PID) in afterEach. */
  const fds: number[] = [];
  const pids: number[] = [];
  beforeEach(() => {
    sb = new Sandbox('tsrun-hardening');
  });
  afterEach(() => {
    for (const pid of pids.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const fd of fds.splice(0)) fs.closeSync(fd);
    sb.cleanup();
  });

  function open(file: string, flags: string | number = 'r'): number {
    const fd = fs.openSync(file, flags);
    fds.push(fd);
    return fd;
  }

  /** argv and owner for running bin/tsrun as the sandbox's user (rootless pass) without the sandbox's --root. */
  function command(args: string[]): [string, string[]] {
    if (!sb.user) return [TSRUN, args];
    return ['setpriv', ['--reuid', String(sb.user.uid), '--regid', String(sb.user.gid), '--clear-groups', TSRUN, ...args]];
  }

  /**
   * bin/tsrun with the sandbox's --root and `extra` descriptors from 3 up that are NOT marked to be preserved:
   * what a careless caller (a shim with a log file open, a socket) hands over.
   */
  function tsrunWithFds(args: string[], extra: number[], options: { env?: NodeJS.ProcessEnv; cwd?: string; noRoot?: boolean } = {}): Result {
    const out = path.join(sb.dir, `fd-out-${Math.random().toString(36).slice(2)}`);
    const err = `${out}.err`;
    const outFd = fs.openSync(out, 'w');
    const errFd = fs.openSync(err, 'w');
    try {
      const [cmd, argv] = command(options.noRoot ? args : ['--root', sb.root, ...args]);
      const r = spawnSync(cmd, argv, { stdio: ['ignore', outFd, errFd, ...extra], timeout: 30_000, killSignal: 'SIGKILL', env: options.env ?? process.env, cwd: options.cwd });
      return { status: r.status, signal: r.signal, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
    } finally {
      fs.closeSync(outFd);
      fs.closeSync(errFd);
      fs.rmSync(out, { force: true });
      fs.rmSync(err, { force: true });
    }
  }

  /** A user-namespace config for the privileged pass (the rootless pass has one already). */
  function userNamespaceConfig(args: string[], hostId = 100000): Config {
    const config = sb.config(args);
    if (!sb.user) {
      config.linux.namespaces.push({ type: 'user' });
      config.linux.uidMappings = [{ containerID: 0, hostID: hostId, size: 65536 }];
      config.linux.gidMappings = [{ containerID: 0, hostID: hostId, size: 65536 }];
    }
    return config;
  }

  /** `ls -l /proc/self/fd` (busybox) → fd number → link target. */
  function parseFdListing(text: string): Map<number, string> {
    const fdMap = new Map<number, string>();
    for (const line of text.split('\n')) {
      const match = / (\d+) -> (.*)$/.exec(line);
      if (match) fdMap.set(Number(match[1]), match[2]!);
    }
    return fdMap;
  }

  /**
   * The listing of `ls -l /proc/self/fd` shows 0-2 (plus `preserved` from 3 up) and one more: ls's own descriptor
   * of the directory, which it has closed again when it reads the links — busybox then prints the entry without
   * a target and says so on stderr, once.
   */
  function expectOnlyFds(r: Result, preserved = 0): void {
    const expected = Array.from({ length: 3 + preserved }, (_, i) => i);
    const own = 3 + preserved;
    expect(r.stderr).toBe(`ls: /proc/self/fd/${own}: cannot read link: No such file or directory\n`);
    const listed = r.stdout.split('\n').filter((line) => line.startsWith('l')).map((line) => Number(/ (\d+)(?: -> .*)?$/.exec(line)![1]));
    expect(listed).toEqual([...expected, own]);
  }

  describe('no descriptor of tsrun or its caller reaches the container', () => {
    /** A host directory (the escape route of CVE-2024-21626), a file and a pipe, at 3, 4 and 5. */
    function hostFds(): number[] {
      const [readEnd] = pipeFds();
      return [open(sb.dir), open(path.join(sb.dir, 'host-file'), 'w'), readEnd];
    }

    function pipeFds(): [number, number] {
      // A FIFO gives a pipe without spawning anything: open the read side non-blocking, then the write side.
      const fifo = path.join(sb.dir, `pipe-${fds.length}`);
      expect(runSync('mkfifo', [fifo]).status).toBe(0);
      const r = open(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      return [r, open(fifo, 'w')];
    }

    it('run', () => {
      const r = tsrunWithFds(['run', '-b', sb.bundle(sb.config(['ls', '-l', '/proc/self/fd'])), sb.newId()], hostFds());
      expect(r.status).toBe(0);
      expectOnlyFds(r);
    });

    it('create + start', async () => {
      const id = sb.newId();
      const out = path.join(sb.dir, 'container-out');
      const outFd = open(out, 'w');
      const errFd = open(`${out}.err`, 'w');
      // The container's stdout is create's: give create the file and the extra descriptors, start too.
      const [cmd, argv] = command(['--root', sb.root, 'create', '-b', sb.bundle(sb.config(['ls', '-l', '/proc/self/fd'])), id]);
      const created = spawnSync(cmd, argv, { stdio: ['ignore', outFd, errFd, ...hostFds()], timeout: 30_000, killSignal: 'SIGKILL' });
      expect(fs.readFileSync(`${out}.err`, 'utf8')).toBe('');
      expect(created.status).toBe(0);
      const started = tsrunWithFds(['start', id], hostFds());
      expect(started.stderr).toBe('');
      expect(started.status).toBe(0);
      await waitUntil(() => sb.state(id).status === 'stopped', 10_000, 'the container to exit');
      expectOnlyFds({ status: 0, signal: null, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(`${out}.err`, 'utf8') });
    });

    it('exec', () => {
      const id = sb.newId();
      expect(sb.tsrun(['run', '-d', '-b', sb.bundle(sb.config(['sleep', '1000'])), id]).status).toBe(0);
      const r = tsrunWithFds(['exec', id, 'ls', '-l', '/proc/self/fd'], hostFds());
      expect(r.status).toBe(0);
      expectOnlyFds(r);
    });

    it('--preserve-fds 2 passes exactly 3 and 4, for run and exec', () => {
      const id = sb.newId();
      const passed = hostFds();
      const r = tsrunWithFds(['run', '--preserve-fds', '2', '-b', sb.bundle(sb.config(['ls', '-l', '/proc/self/fd'])), sb.newId()], passed);
      expect(r.status).toBe(0);
      expectOnlyFdsPreserved(r);

      expect(sb.tsrun(['run', '-d', '-b', sb.bundle(sb.config(['sleep', '1000'])), id]).status).toBe(0);
      const e = tsrunWithFds(['exec', '--preserve-fds', '2', id, 'ls', '-l', '/proc/self/fd'], passed);
      expect(e.status).toBe(0);
      expectOnlyFdsPreserved(e);
    });

    /** 3 is the host directory and 4 the file, as passed on purpose; the pipe at 5 was not, 5 is ls's own. */
    function expectOnlyFdsPreserved(r: Result): void {
      expect(r.stderr).toBe('ls: /proc/self/fd/5: cannot read link: No such file or directory\n');
      const fdMap = parseFdListing(r.stdout);
      expect(fdMap.get(3)).toBe(sb.dir);
      expect(fdMap.get(4)).toBe(path.join(sb.dir, 'host-file'));
      const listed = r.stdout.split('\n').filter((line) => line.startsWith('l')).map((line) => Number(/ (\d+)(?: -> .*)?$/.exec(line)![1]));
      expect(listed).toEqual([0, 1, 2, 3, 4, 5]);
    }

    // CVE-2024-21626: a runtime that leaks a host directory descriptor lets process.cwd /proc/self/fd/N start
    // the process outside the container's root. tsrun's caller holds a host directory at every N here.
    it('process.cwd /proc/self/fd/N (N = 3..9) never leaves the process outside the container', () => {
      const dirFd = open(sb.dir);
      const extra = Array.from({ length: 7 }, () => dirFd);
      const id = sb.newId();
      expect(sb.tsrun(['run', '-d', '-b', sb.bundle(sb.config(['sleep', '1000'])), id]).status).toBe(0);
      for (let n = 3; n <= 9; n++) {
        const cwd = `/proc/self/fd/${n}`;
        const config = sb.config(['sh', '-c', 'pwd; ls -a ..']);
        config.process.cwd = cwd;
        const runs = [
          tsrunWithFds(['run', '-b', sb.bundle(config), sb.newId()], extra),
          tsrunWithFds(['exec', '--cwd', cwd, id, 'sh', '-c', 'pwd; ls -a ..'], extra),
        ];
        for (const r of runs) {
          if (r.status === 0) {
            // It ran: then from a directory of the container, not the host's.
            expect(r.stdout).not.toContain('unreachable');
            expect(r.stdout).not.toContain(path.basename(sb.dir));
            expect(r.stdout.split('\n')[0]).toMatch(/^\//);
          } else {
            expect(r.stderr.trim()).not.toBe('');
            expect(r.stderr.trim().split('\n')).toHaveLength(1);
            expect(r.stderr).toContain(cwd);
          }
        }
      }
    });
  });

  describe('/proc/<pid>/exe of a tsrun process in the container (CVE-2019-5736 class)', () => {
    /**
     * From a new process in container `id` with CAP_SYS_PTRACE in its user namespace (so the other ptrace checks
     * pass): for every PID there, readlink of /proc/PID/exe (or DENIED) and whether the file could be read.
     */
    function inspectExes(id: string): Map<number, { exe: string | undefined; read: string | undefined }> {
      const script = 'for p in /proc/[0-9]*; do n=${p#/proc/}; e=$(readlink $p/exe 2>/dev/null) || e=DENIED; '
        + 'if cat $p/exe >/dev/null 2>&1; then c=READ; else c=DENIED; fi; echo "$n $e $c"; done';
      const caps = [...sb.config().process.capabilities!.bounding!, 'CAP_SYS_PTRACE'];
      const processFile = path.join(sb.dir, `inspector-${id}.json`);
      fs.writeFileSync(processFile, JSON.stringify({
        args: ['sh', '-c', script], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 },
        capabilities: { bounding: caps, effective: caps, permitted: caps },
      }));
      if (sb.user) fs.chmodSync(processFile, 0o644);
      const r = sb.tsrun(['exec', '--process', processFile, id]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      return new Map(r.stdout.trim().split('\n').map((line) => {
        const [pid, exe, read] = line.split(' ');
        return [Number(pid), { exe, read }];
      }));
    }

    it('an exec process that joined the container is not dumpable: nothing inside can open its exe', async () => {
      const id = sb.newId();
      // In a user namespace the container's root may hold CAP_SYS_PTRACE there (given below): the other ptrace
      // checks then let it at a dumpable process of the host's root; only non-dumpable stops it.
      expect(sb.tsrun(['run', '-d', '-b', sb.bundle(userNamespaceConfig(['sleep', '1000'])), id]).status).toBe(0);
      const initPid = sb.state(id).pid;
      const fifo = path.join(sb.dir, 'pause.fifo');
      expect(runSync('mkfifo', ['-m', '0666', fifo]).status).toBe(0);
      process.env.TSRUN_TEST_PAUSE = `exec-joined:${fifo}`;
      let paused: ReturnType<Sandbox['tsrunAsync']>;
      try {
        paused = sb.tsrunAsync(['exec', id, 'true']);
      } finally {
        delete process.env.TSRUN_TEST_PAUSE;
      }
      pids.push(paused.pid);
      // Returns once the process sits in the pause (it opened the fifo for reading); it stays until `release` closes.
      const release = await pauseArrival(fifo, Promise.race([paused.done.then((r) => `tsrun exited: ${r.stderr}`), after(10_000, 'timed out')]));
      try {
        // The paused process: a child of tsrun (CLONE_PARENT) inside the container's PID namespace.
        let pausedPid = 0;
        await waitUntil(() => {
          pausedPid = childrenOf(paused.pid).find((c) => sameNamespace(c, initPid, 'pid') && sameNamespace(c, initPid, 'mnt')) ?? 0;
          return pausedPid > 0;
        }, 10_000, 'the exec process to pause inside the container');
        const inContainer = Number(/^NSpid:.*\s(\d+)$/m.exec(fs.readFileSync(`/proc/${pausedPid}/status`, 'utf8'))![1]);
        const rows = inspectExes(id);
        expect(rows.get(inContainer)).toEqual({ exe: 'DENIED', read: 'DENIED' });
        // The same check succeeds on the container's own processes: the inspector has the power to look.
        expect(rows.get(1)).toEqual({ exe: '/bin/busybox', read: 'READ' });
        for (const { exe } of rows.values()) expect(['DENIED', '/bin/busybox']).toContain(exe);
      } finally {
        // Let it go: closing the write end ends the paused read; it then runs `true`.
        await release.close();
      }
      const done = await Promise.race([paused.done, new Promise<undefined>((resolve) => setTimeout(resolve, 10_000, undefined))]);
      expect(done?.status).toBe(0);
    });

    const joinsUserns = needsPrivilege('a rootless container always gets a new user namespace, which keeps the init dumpable');
    it.skipIf(joinsUserns[0])(`a created init that joined another container's namespaces is not dumpable either${joinsUserns[1]}`, async () => {
      // Container A: a user namespace mapping its root to the host's (so the joining init's IDs exist in it).
      const a = sb.newId();
      expect(sb.tsrun(['run', '-d', '-b', sb.bundle(userNamespaceConfig(['sleep', '1000'], 0)), a]).status).toBe(0);
      const aPid = sb.state(a).pid;
      // Container B joins A's user, PID and network namespaces and stays parked in `created`.
      const b = sb.newId();
      const out = path.join(sb.dir, 'b-out');
      const config = sb.config(['cat', '/proc/self/oom_score_adj']);
      config.process.oomScoreAdj = 100;
      config.linux.namespaces = [
        { type: 'user', path: `/proc/${aPid}/ns/user` }, { type: 'pid', path: `/proc/${aPid}/ns/pid` },
        { type: 'network', path: `/proc/${aPid}/ns/net` }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' },
      ];
      // Files, not pipes: the parked init keeps create's stdout and stderr open.
      const outFd = open(out, 'w');
      const errFd = open(`${out}.err`, 'w');
      const created = spawnSync(TSRUN, ['--root', sb.root, 'create', '-b', sb.bundle(config), b], { stdio: ['ignore', outFd, errFd], timeout: 30_000, killSignal: 'SIGKILL' });
      expect(fs.readFileSync(`${out}.err`, 'utf8')).toBe('');
      expect(created.status).toBe(0);
      const bPid = sb.state(b).pid;
      const inA = Number(/^NSpid:.*\s(\d+)$/m.exec(fs.readFileSync(`/proc/${bPid}/status`, 'utf8'))![1]);
      const rows = inspectExes(a);
      expect(rows.get(inA)).toEqual({ exe: 'DENIED', read: 'DENIED' });
      expect(rows.get(1)).toEqual({ exe: '/bin/busybox', read: 'READ' });
      // Its own /proc/self writes still work: it is the owner (the host's root) of its /proc files.
      expect(sb.tsrun(['start', b]).status).toBe(0);
      await waitUntil(() => !processAlive(bPid), 10_000, 'B to exit');
      expect(fs.readFileSync(out, 'utf8')).toBe('100\n');
    });

    it('TSRUN_TEST_PAUSE is checked: an unknown step is one clear error', () => {
      const id = sb.newId();
      expect(sb.tsrun(['run', '-d', '-b', sb.bundle(sb.config(['sleep', '1000'])), id]).status).toBe(0);
      const r = tsrunWithFds(['exec', id, 'true'], [], { env: { ...process.env, TSRUN_TEST_PAUSE: 'nowhere:/x' } });
      expect(r.status).toBe(255);
      expect(r.stderr.trim()).toMatch(/^TSRUN_TEST_PAUSE: unknown step "nowhere" \(known: [a-z-]+(, [a-z-]+)*\)$/);
      expect(r.stderr).toContain('exec-joined');
    });
  });

  describe('host device nodes are never changed (runc #3674)', () => {
    const devices = [
      { path: '/dev/null', type: 'c', major: 1, minor: 3 },
      { path: '/dev/zero', type: 'c', major: 1, minor: 5 },
    ];

    function hostStat(): string[] {
      return devices.map((d) => {
        const s = fs.statSync(d.path);
        return `${d.path} ${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid}`;
      });
    }

    function withDevices(config: Config, uid: number, gid: number): Config {
      config.linux.devices = devices.map((d) => ({ ...d, fileMode: 0o600, uid, gid }));
      return config;
    }

    const script = 'stat -c "%n %a %u:%g" /dev/null /dev/zero';

    const noUserns = needsPrivilege('a rootless container always has a user namespace');
    it.skipIf(noUserns[0])(`without a user namespace: the container gets its own nodes${noUserns[1]}`, () => {
      const before = hostStat();
      const r = sb.tsrun(['run', '-b', sb.bundle(withDevices(sb.config(['sh', '-c', script]), 1234, 4321)), sb.newId()]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('/dev/null 600 1234:4321\n/dev/zero 600 1234:4321\n');
      expect(hostStat()).toEqual(before);
    });

    it('in a user namespace the host nodes are bind-mounted and keep their owner and mode', () => {
      const before = hostStat();
      // An identity map: the container's root is the host's root, so a chown or chmod of the bind-mounted host
      // node would succeed — only not attempting it keeps the host's /dev/null as it was.
      const config = withDevices(userNamespaceConfig(['sh', '-c', script], 0), 0, 0);
      config.linux.devices = (config.linux.devices as Array<Record<string, unknown>>).map((d) => ({ ...d, fileMode: 0o600 }));
      const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual(
        before.map((line) => line.replace(/ (\d+):(\d+)$/, (_, u: string, g: string) => ` ${sb.user ? 65534 : u}:${sb.user ? 65534 : g}`)),
      );
      expect(hostStat()).toEqual(before);
    });
  });

  describe('container IDs and --root stay inside the state directory', () => {
    it('refuses ids that are paths, empty, too long or with control characters, creating nothing', () => {
      const bundle = sb.bundle(sb.config(['true']));
      const outside = fs.readdirSync(sb.dir).sort();
      const absolute = path.join(sb.dir, 'abs-target');
      // 256: one more than a directory name may have (NAME_MAX), refused up front rather than by mkdir.
      const ids = ['..', '../x', 'a/b', absolute, '.', '', 'x'.repeat(1025), 'x'.repeat(256), 'a\nb', 'a b', '@locks'];
      for (const id of ids) {
        for (const args of [['create', '-b', bundle, id], ['run', '-b', bundle, id], ['state', id], ['start', id], ['kill', id, 'KILL'], ['delete', id], ['delete', '--force', id], ['exec', id, 'true']]) {
          const r = sb.tsrun(args);
          const what = `${args[0]} ${JSON.stringify(id).slice(0, 40)}`;
          expect(r.status, what).not.toBe(0);
          expect(r.stderr.trim().split('\n'), what).toHaveLength(1);
          expect(r.stderr, what).toMatch(/^invalid container ID format: "/);
        }
        expect(fs.existsSync(absolute)).toBe(false);
      }
      expect(fs.readdirSync(sb.dir).sort().filter((n) => n !== 'state')).toEqual(outside);
      const inRoot = fs.existsSync(sb.root) ? fs.readdirSync(sb.root).filter((n) => n !== '@locks') : [];
      expect(inRoot).toEqual([]);
      // NUL cannot pass through execve; the check itself refuses it.
      expect(isValidContainerId('a\0b')).toBe(false);
    });

    it('a <root>/<id> symlink to another directory is never followed', async () => {
      // A decoy that looks like a container: its state names a process of ours.
      const decoy = spawn('sleep', ['1000'], { stdio: 'ignore' });
      pids.push(decoy.pid!);
      const stat = fs.readFileSync(`/proc/${decoy.pid}/stat`, 'latin1');
      const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
      const id = sb.newId();
      const target = path.join(sb.dir, 'elsewhere');
      fs.mkdirSync(target);
      const state = { id, bundle: sb.dir, rootfs: sb.dir, ociVersion: '1.2.1', initPid: decoy.pid, initStartTime: startTime, created: '2026-01-01T00:00:00Z', owner: '' };
      fs.writeFileSync(path.join(target, 'state.json'), JSON.stringify(state));
      fs.writeFileSync(path.join(target, 'precious'), 'keep me');
      fs.mkdirSync(sb.root, { mode: 0o700 });
      if (sb.user) {
        fs.chownSync(sb.root, sb.user.uid, sb.user.gid);
        fs.chmodSync(target, 0o755);
      }
      fs.symlinkSync(target, sb.containerDir(id));
      const untouched = (): void => {
        expect(fs.readdirSync(target).sort()).toEqual(['precious', 'state.json']);
        expect(fs.readFileSync(path.join(target, 'precious'), 'utf8')).toBe('keep me');
        expect(JSON.parse(fs.readFileSync(path.join(target, 'state.json'), 'utf8'))).toEqual(state);
        expect(processAlive(decoy.pid!)).toBe(true);
      };
      const st = sb.tsrun(['state', id]);
      expect(st.status).not.toBe(0);
      expect(st.stdout).not.toContain(String(decoy.pid));
      expect(st.stderr.trim().split('\n')).toHaveLength(1);
      const list = sb.tsrun(['list', '--format', 'json']);
      expect(list.stdout).not.toContain(String(decoy.pid));
      for (const args of [['kill', id, 'KILL'], ['kill', '--all', id, 'KILL'], ['start', id], ['exec', id, 'true'], ['pause', id], ['ps', id]]) {
        const r = sb.tsrun(args);
        expect(r.status, args.join(' ')).not.toBe(0);
        untouched();
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      untouched();
      for (const args of [['delete', id], ['delete', '--force', id]]) {
        sb.tsrun(args);
        untouched();
      }
    });

    it('a relative --root or one with .. resolves against the working directory, consistently', () => {
      const work = path.join(sb.dir, 'work');
      fs.mkdirSync(path.join(work, 'sub'), { recursive: true });
      if (sb.user) fs.chownSync(work, sb.user.uid, sb.user.gid);
      const bundle = sb.bundle(sb.config(['sleep', '1000']));
      for (const [root, where] of [['rel-state', path.join(work, 'rel-state')], ['sub/../dotted', path.join(work, 'dotted')]] as const) {
        const id = `rel-${process.pid}`;
        const tsrun = (args: string[]) => tsrunWithFds(['--root', root, ...args], [], { cwd: work, noRoot: true });
        try {
          const r = tsrun(['run', '-d', '-b', bundle, id]);
          expect(r.stderr).toBe('');
          expect(r.status).toBe(0);
          expect(fs.statSync(path.join(where, id, 'state.json')).isFile()).toBe(true);
          const state = JSON.parse(tsrun(['state', id]).stdout);
          expect(state).toMatchObject({ id, status: 'running', bundle });
          expect(JSON.parse(tsrun(['list', '--format', 'json']).stdout).map((c: { id: string }) => c.id)).toEqual([id]);
          expect(tsrun(['delete', '--force', id]).status).toBe(0);
          expect(fs.existsSync(path.join(where, id))).toBe(false);
        } finally {
          if (fs.existsSync(path.join(where, id))) tsrun(['delete', '--force', id]);
        }
      }
      expect(fs.readdirSync(work).sort()).toEqual(['dotted', 'rel-state', 'sub']);
      expect(fs.readdirSync(path.join(work, 'sub'))).toEqual([]);
    });
  });

  describe('/proc and /sys stay masked and read-only with the default capabilities', () => {
    // Each attempt prints "<name>-ok" only if it worked.
    const attempts = [
      'mount -o remount,rw /proc/sys && echo remount-proc-sys-ok',
      'umount /proc/kcore && echo umount-kcore-ok',
      'umount /proc/timer_list && echo umount-timer-list-ok',
      'umount -l /proc/sys && echo umount-proc-sys-ok',
      'mkdir -p /tmp/p && mount -t proc proc /tmp/p && echo mount-proc-ok && echo tsrun > /tmp/p/sys/kernel/domainname && echo write-proc-ok',
      'mount -o remount,rw /sys && echo remount-sys-ok',
      'echo 1 > /proc/sysrq-trigger && echo sysrq-ok',
      'echo tsrun > /proc/sys/kernel/domainname && echo write-proc-sys-ok',
      // A user namespace of its own would give the container's root every capability there (the kernel refuses
      // mapping its root without CAP_SETFCAP; were it allowed, locked mounts and the "proc must be fully visible"
      // rule would still have to refuse).
      'unshare -Urm sh -c "mount -o remount,rw /proc/sys && echo userns-remount-ok; mount -o remount,rw /sys && echo userns-remount-sys-ok; umount /proc/timer_list && echo userns-umount-ok"',
      'unshare -Urmpf sh -c "mount -t proc proc /tmp && echo userns-mount-proc-ok"',
    ];
    // (/proc/kcore and /proc/sysrq-trigger do not exist on every kernel: this VM's has neither.)
    const script = `${attempts.join('\n')}\necho timer_list=$(cat /proc/timer_list | wc -c) keys=$(cat /proc/keys | wc -c)`;

    for (const userns of [false, true]) {
      // The rootless pass always has a user namespace: the other case covers it.
      it.skipIf(!userns && rootlessRun)(`${userns ? 'with' : 'without'} a user namespace`, () => {
        const config = userns ? userNamespaceConfig(['sh', '-c', script]) : sb.config(['sh', '-c', script]);
        const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
        expect(r.stdout).not.toMatch(/-ok$/m);
        // Masked: empty inside, though not on the host.
        expect(fs.readFileSync('/proc/timer_list').length).toBeGreaterThan(0);
        expect(r.stdout).toContain('timer_list=0 keys=0\n');
        expect(r.status).toBe(0);
      });
    }
  });
});

/** Host PIDs of the children of `pid` (all its threads'). */
function childrenOf(pid: number): number[] {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

function sameNamespace(a: number, b: number, type: string): boolean {
  try {
    return fs.readlinkSync(`/proc/${a}/ns/${type}`) === fs.readlinkSync(`/proc/${b}/ns/${type}`);
  } catch {
    return false;
  }
}
