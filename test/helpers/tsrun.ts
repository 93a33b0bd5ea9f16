import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error plain ESM helper shared with the demo script, no type declarations
import { busyboxConfig, makeBusyboxBundle, makeBusyboxRootfs } from '../../fixtures/make-bundle.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TSRUN = path.join(REPO, 'bin', 'tsrun');
export const SHARED_ROOTFS = path.join(REPO, '.cache', 'busybox-rootfs');

export const isRoot = process.getuid?.() === 0;
export const hasBusybox = fs.existsSync('/bin/busybox');
/** Why integration tests cannot run here, or undefined when they can. */
export const integrationSkipReason = !isRoot ? 'needs root' : !hasBusybox ? 'needs busybox-static (/bin/busybox)' : undefined;

export type Config = ReturnType<typeof busyboxConfig> & Record<string, unknown>;

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function toResult(r: SpawnSyncReturns<string>): Result {
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * One test's private tsrun world: its own --root and bundle directory under a temp dir. `cleanup()` force-deletes
 * every container the test created (by ID, through tsrun) and removes the temp dir; call it in afterEach so it
 * runs when the test fails too.
 */
export interface SandboxOptions {
  /** Run bin/tsrun as this unprivileged user (through setpriv): rootless mode. */
  user?: { uid: number; gid: number };
  /** A command prefix bin/tsrun runs under, e.g. `nsenter --net=/run/netns/X` for network tests' "hosts". */
  wrap?: string[];
}

/** The unprivileged user rootless tests run tsrun as: nobody exists on every Debian system. */
export const ROOTLESS_USER = { uid: 65534, gid: 65534 };

/**
 * TSRUN_TEST_ROOTLESS=1 runs the whole integration suite with bin/tsrun as ROOTLESS_USER (CI does a second
 * pass like that). Tests of what only a privileged tsrun can do skip themselves with `rootlessSkip`.
 */
export const rootlessRun = process.env.TSRUN_TEST_ROOTLESS === '1';

/** For it.skipIf: the reason a test cannot run in the rootless pass, in the test's name. */
export function needsPrivilege(reason: string): [boolean, string] {
  return [rootlessRun, rootlessRun ? ` (skipped in the rootless pass: ${reason})` : ''];
}

export class Sandbox {
  readonly dir: string;
  readonly root: string;
  readonly user: { uid: number; gid: number } | undefined;
  private readonly wrap: string[];
  private readonly ids = new Set<string>();
  /** tsrun processes started by spawnTsrun that have not exited yet (killed by cleanup). */
  private readonly spawned = new Set<ChildProcess>();
  private counter = 0;

  constructor(name = 'tsrun-test', options: SandboxOptions = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    this.root = path.join(this.dir, 'state');
    this.user = options.user ?? (rootlessRun ? ROOTLESS_USER : undefined);
    this.wrap = options.wrap ?? [];
    if (this.user) {
      // The unprivileged tsrun must be able to create its --root here and read the bundles.
      fs.chmodSync(this.dir, 0o755);
      fs.chownSync(this.dir, this.user.uid, this.user.gid);
    }
    makeBusyboxRootfs(SHARED_ROOTFS);
  }

  /** The command line that runs bin/tsrun (as the sandbox's user when it has one). */
  private command(args: string[]): [string, string[]] {
    const argv = ['--root', this.root, ...args];
    if (this.wrap.length > 0) return [this.wrap[0]!, [...this.wrap.slice(1), TSRUN, ...argv]];
    if (!this.user) return [TSRUN, argv];
    return ['setpriv', ['--reuid', String(this.user.uid), '--regid', String(this.user.gid), '--clear-groups', TSRUN, ...argv]];
  }

  newId(prefix = 'c'): string {
    const id = `${prefix}-${process.pid}-${++this.counter}`;
    this.ids.add(id);
    return id;
  }

  config(args?: string[]): Config {
    const config = busyboxConfig() as Config;
    if (args) config.process.args = args;
    if (this.user) {
      // What `tsrun spec --rootless` sets up: a user namespace mapping root to the unprivileged user.
      config.linux.namespaces.push({ type: 'user' });
      config.linux.uidMappings = [{ containerID: 0, hostID: this.user.uid, size: 1 }];
      config.linux.gidMappings = [{ containerID: 0, hostID: this.user.gid, size: 1 }];
    }
    return config;
  }

  /** A bundle sharing the read-only busybox rootfs; `edit` may change the config first. */
  bundle(config: Config = this.config()): string {
    const dir = fs.mkdtempSync(path.join(this.dir, 'bundle-'));
    makeBusyboxBundle(dir, { sharedRootfs: SHARED_ROOTFS, config });
    if (this.user) fs.chmodSync(dir, 0o755);
    return dir;
  }

  /** A bundle whose config.json is exactly `text` (for malformed input). */
  rawBundle(text: string): string {
    const dir = fs.mkdtempSync(path.join(this.dir, 'bundle-'));
    fs.writeFileSync(path.join(dir, 'config.json'), text);
    fs.symlinkSync(SHARED_ROOTFS, path.join(dir, 'rootfs'));
    if (this.user) fs.chmodSync(dir, 0o755);
    return dir;
  }

  /**
   * Runs bin/tsrun and waits for it. stdout and stderr go to files, not pipes: a container created by `create`
   * or `run -d` inherits them and keeps them open (as with runc), so waiting for a pipe's EOF would hang.
   */
  tsrun(args: string[], options: { timeoutMs?: number } = {}): Result {
    const out = path.join(this.dir, `out-${++this.counter}`);
    const err = path.join(this.dir, `err-${this.counter}`);
    const outFd = fs.openSync(out, 'w');
    const errFd = fs.openSync(err, 'w');
    try {
      const [command, argv] = this.command(args);
      const r = spawnSync(command, argv, {
        stdio: ['ignore', outFd, errFd],
        timeout: options.timeoutMs ?? 30_000,
        killSignal: 'SIGKILL',
      });
      return { status: r.status, signal: r.signal, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
    } finally {
      fs.closeSync(outFd);
      fs.closeSync(errFd);
      fs.rmSync(out, { force: true });
      fs.rmSync(err, { force: true });
    }
  }

  /** Starts tsrun without waiting (for `run` in the foreground); resolves with its result. */
  tsrunAsync(args: string[]): { pid: number; done: Promise<Result> } {
    const [command, argv] = this.command(args);
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const done = new Promise<Result>((resolve) => {
      child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
    });
    return { pid: child.pid!, done };
  }

  /**
   * Starts bin/tsrun without blocking and resolves with its result once it has exited, so many can run at once.
   * Like tsrun(), stdout and stderr go to files (a container it creates keeps them open). After `timeoutMs` it is
   * SIGKILLed (by its PID) and the result says so; cleanup() kills any still running.
   */
  spawnTsrun(args: string[], options: { timeoutMs?: number } = {}): Promise<Result> {
    const n = ++this.counter;
    const out = path.join(this.dir, `out-${n}`);
    const err = path.join(this.dir, `err-${n}`);
    const outFd = fs.openSync(out, 'w');
    const errFd = fs.openSync(err, 'w');
    const [command, argv] = this.command(args);
    let child: ChildProcess;
    try {
      child = spawn(command, argv, { stdio: ['ignore', outFd, errFd] });
    } finally {
      fs.closeSync(outFd);
      fs.closeSync(errFd);
    }
    this.spawned.add(child);
    return new Promise<Result>((resolve) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      }, options.timeoutMs ?? 30_000);
      const finish = (status: number | null, signal: NodeJS.Signals | null, extra = ''): void => {
        clearTimeout(timer);
        this.spawned.delete(child);
        const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
        const result = { status, signal, stdout: read(out), stderr: read(err) + extra };
        fs.rmSync(out, { force: true });
        fs.rmSync(err, { force: true });
        resolve(result);
      };
      child.once('error', (error) => finish(null, null, `spawn failed: ${error.message}`));
      child.once('exit', (status, signal) => finish(status, signal, timedOut ? `(killed after ${options.timeoutMs ?? 30_000} ms)` : ''));
    });
  }

  state(id: string): { status: string; pid: number; [k: string]: unknown } {
    const r = this.tsrun(['state', id]);
    if (r.status !== 0) throw new Error(`tsrun state ${id} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  containerDir(id: string): string {
    return path.join(this.root, id);
  }

  cleanup(): void {
    for (const child of this.spawned) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    }
    this.spawned.clear();
    for (const id of this.ids) {
      if (fs.existsSync(path.join(this.root, id))) this.tsrun(['delete', '--force', id]);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** True while a process with this PID exists (a zombie counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Waits (event-driven via pidfd is not available from plain Node; /proc is checked on each SIGCHLD-free tick). */
export async function waitUntil(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Mount points currently in the host mount namespace (to prove nothing is left mounted). */
export function hostMountPoints(): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[4]!);
}

export function runSync(cmd: string, args: string[]): Result {
  return toResult(spawnSync(cmd, args, { encoding: 'utf8' }));
}
