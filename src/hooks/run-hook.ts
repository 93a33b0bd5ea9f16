import { readSync, writeSync } from 'node:fs';
import { RuntimeError } from '../errors';
import { CLOSE_RANGE_CLOEXEC, F_GETFL, F_SETFL, OpenFlags, SIGKILL } from '../linux/constants';
import { errnoText, SyscallError } from '../linux/errno';
import type { Sys } from '../linux/sys';
import { describeWaitStatus } from '../ns/spawn-init';

/**
 * OCI runtime-spec hooks (config.json `hooks.<kind>[i]`), run synchronously. The runner is used by the tsrun
 * process and inside the container's init, a forked single-threaded copy of Node that must never wait on the
 * event loop; so it is built on `Sys` (fork + execve, pipes, poll on a pidfd) and not on child_process.
 */

export type HookKind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export interface HookCommand {
  /** Absolute path of the executable. */
  path: string;
  /** The whole argv, argv[0] included; [path] when absent. */
  args?: string[];
  /** The exact environment; empty when absent (as runc does: nothing is inherited). */
  env?: string[];
  /** Seconds; the hook is killed when it runs longer. */
  timeout?: number;
}

export interface RunHookOptions {
  /** Working directory of the hooks (the bundle, for hooks run by tsrun). */
  cwd?: string;
}

/** What a failed hook printed: the last TAIL_BYTES of each stream are kept for the error message. */
const TAIL_BYTES = 4096;
const READ_CHUNK = 65536;
/** Bigger writes than this gain nothing: a pipe holds 64 KiB by default. */
const WRITE_CHUNK = 65536;

const POLLIN = 0x1;
const POLLOUT = 0x4;
const POLLERR = 0x8;
const POLLNVAL = 0x20;
const F_DUPFD_CLOEXEC = 1030;
const EAGAIN = 11;
const EPIPE = 32;
const ECHILD = 10;
/** The shell's code for "command not found / not executable", also what runc's exec failure looks like. */
const EXEC_FAILED_EXIT = 127;

export class HookError extends RuntimeError {
  readonly kind: HookKind;
  readonly index: number;
  readonly path: string;
  /** `exit status N`, `killed by signal N`, `timed out after T s, killed`, `exec: <errno text>`, ... */
  readonly reason: string;
  /** The end of what the hook wrote to stderr and stdout (at most 4 KiB each). */
  readonly stderr: string;
  readonly stdout: string;

  constructor(kind: HookKind, index: number, path: string, reason: string, output: { stdout?: string; stderr?: string } = {}) {
    const stdout = output.stdout ?? '';
    const stderr = output.stderr ?? '';
    const shown = oneLine(stderr) ? `, stderr: ${oneLine(stderr)}` : oneLine(stdout) ? `, stdout: ${oneLine(stdout)}` : '';
    super('hook', `error running ${kind} hook #${index} (${path}): ${reason}${shown}`);
    this.name = 'HookError';
    this.kind = kind;
    this.index = index;
    this.path = path;
    this.reason = reason;
    this.stderr = stderr;
    this.stdout = stdout;
  }
}

/** Output as one line: lines trimmed, empty ones dropped, the rest joined with " | ". */
function oneLine(text: string): string {
  return text.split(/[\r\n]+/).map((line) => line.trim()).filter((line) => line !== '').join(' | ');
}

export interface HookState {
  ociVersion: string;
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped';
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

/**
 * The runtime-spec state a hook reads on its stdin, fields in the spec's order. pid is left out when there is
 * none (0 or undefined, as for a stopped container), annotations when there are none (as runc's omitempty).
 */
export function formatHookState(state: HookState): string {
  const out: Record<string, unknown> = { ociVersion: state.ociVersion, id: state.id, status: state.status };
  if (state.pid !== undefined && state.pid > 0) out.pid = state.pid;
  out.bundle = state.bundle;
  if (state.annotations && Object.keys(state.annotations).length > 0) out.annotations = state.annotations;
  return JSON.stringify(out);
}

/** Runs hooks[0..] of one kind in order with `state` (the JSON text) on each one's stdin; throws HookError at the first failure. */
export function runHooks(sys: Sys, kind: HookKind, hooks: readonly HookCommand[], state: string, options: RunHookOptions = {}): void {
  const input = Buffer.from(state);
  for (let index = 0; index < hooks.length; index++) runHook(sys, kind, index, hooks[index]!, input, options);
}

/** The descriptors of one hook run; -1 once closed. */
interface Fds {
  stdinRead: number;
  stdinWrite: number;
  stdoutRead: number;
  stdoutWrite: number;
  stderrRead: number;
  stderrWrite: number;
  /** The close-on-exec pipe the child reports a failed setup or execve on: EOF without data = exec succeeded. */
  reportRead: number;
  reportWrite: number;
  pidfd: number;
}

function runHook(sys: Sys, kind: HookKind, index: number, hook: HookCommand, input: Buffer, options: RunHookOptions): void {
  const fail = (reason: string, output?: { stdout?: string; stderr?: string }) => new HookError(kind, index, hook.path, reason, output);
  const fds: Fds = {
    stdinRead: -1, stdinWrite: -1, stdoutRead: -1, stdoutWrite: -1, stderrRead: -1, stderrWrite: -1,
    reportRead: -1, reportWrite: -1, pidfd: -1,
  };
  const close = (name: keyof Fds) => {
    const fd = fds[name];
    if (fd < 0) return;
    fds[name] = -1;
    sys.close(fd);
  };
  let pid = -1;
  let reaped = false;
  try {
    // sys.pipe() makes close-on-exec pipes: nothing of the parent's leaks into another hook or the container.
    [fds.stdinRead, fds.stdinWrite] = sys.pipe();
    [fds.stdoutRead, fds.stdoutWrite] = sys.pipe();
    [fds.stderrRead, fds.stderrWrite] = sys.pipe();
    [fds.reportRead, fds.reportWrite] = sys.pipe();
    // The parent's ends never block: a state bigger than a pipe, or a hook that stops reading, must not hang us.
    for (const fd of [fds.stdinWrite, fds.stdoutRead, fds.stderrRead, fds.reportRead]) {
      sys.fcntl(fd, F_SETFL, sys.fcntl(fd, F_GETFL, 0) | OpenFlags.NONBLOCK);
    }
    const argv = hook.args && hook.args.length > 0 ? hook.args : [hook.path];
    const env = hook.env ?? [];
    const timeoutMs = hook.timeout !== undefined && hook.timeout > 0 ? hook.timeout * 1000 : undefined;
    const started = performance.now();

    pid = sys.fork();
    if (pid === 0) execHook(sys, fds, hook.path, argv, env, options.cwd);

    close('stdinRead');
    close('stdoutWrite');
    close('stderrWrite');
    close('reportWrite');
    fds.pidfd = sys.pidfdOpen(pid);

    const stdout = new Tail();
    const stderr = new Tail();
    let written = 0;
    if (input.length === 0) close('stdinWrite');
    for (;;) {
      const entries: Array<{ fd: number; events: number; name: 'stdinWrite' | 'stdoutRead' | 'stderrRead' | 'pidfd' }> = [];
      if (fds.stdinWrite >= 0) entries.push({ fd: fds.stdinWrite, events: POLLOUT, name: 'stdinWrite' });
      if (fds.stdoutRead >= 0) entries.push({ fd: fds.stdoutRead, events: POLLIN, name: 'stdoutRead' });
      if (fds.stderrRead >= 0) entries.push({ fd: fds.stderrRead, events: POLLIN, name: 'stderrRead' });
      entries.push({ fd: fds.pidfd, events: POLLIN, name: 'pidfd' });
      const left = timeoutMs === undefined ? -1 : Math.max(0, Math.ceil(started + timeoutMs - performance.now()));
      const revents = sys.pollEvents(entries, left);
      let exited = false;
      entries.forEach((entry, i) => {
        const ready = revents[i] ?? 0;
        if (ready === 0) return;
        if (entry.name === 'pidfd') {
          exited = true;
        } else if (entry.name === 'stdinWrite') {
          // POLLERR on a pipe's write end: the hook closed its stdin. It is done reading, which is its right.
          if (ready & (POLLERR | POLLNVAL)) close('stdinWrite');
          else if ((written = writeSome(sys, fds.stdinWrite, input, written)) >= input.length) close('stdinWrite');
        } else if (drain(fds[entry.name], entry.name === 'stdoutRead' ? stdout : stderr)) {
          close(entry.name);
        }
      });
      if (exited) break;
      if (timeoutMs !== undefined && performance.now() - started >= timeoutMs) {
        killAndReap(sys, pid);
        reaped = true;
        throw fail(`timed out after ${hook.timeout} s, killed`, { stdout: stdout.text(), stderr: stderr.text() });
      }
    }

    // The hook has exited. What it wrote is in the pipes now; take it without waiting for EOF, because a
    // daemon the hook started may hold the pipes open for as long as it lives.
    if (fds.stdoutRead >= 0) drain(fds.stdoutRead, stdout);
    if (fds.stderrRead >= 0) drain(fds.stderrRead, stderr);
    let status: number;
    try {
      status = sys.waitpid(pid, 0).status;
    } catch (error) {
      // ECHILD: SIGCHLD is ignored in this process, so the kernel reaped the hook and threw its status away.
      if (error instanceof SyscallError && error.errno === ECHILD) {
        reaped = true;
        throw fail('exit status unknown (SIGCHLD is ignored)', { stdout: stdout.text(), stderr: stderr.text() });
      }
      throw error;
    }
    reaped = true;
    const report = new Tail();
    drain(fds.reportRead, report);
    const setupFailure = report.text();
    if (setupFailure !== '' && (status & 0x7f) === 0 && ((status >> 8) & 0xff) === EXEC_FAILED_EXIT) {
      throw fail(setupFailure, { stdout: stdout.text(), stderr: stderr.text() });
    }
    if (status !== 0) throw fail(describeWaitStatus(status), { stdout: stdout.text(), stderr: stderr.text() });
  } finally {
    // An error of our own (poll, read, pidfd_open) left the hook running: it must not outlive us as a zombie.
    if (pid > 0 && !reaped) killAndReap(sys, pid);
    for (const name of Object.keys(fds) as Array<keyof Fds>) {
      try {
        close(name);
      } catch {
        // a close error must not hide the hook's own failure
      }
    }
  }
}

/**
 * Writes from `offset` what the pipe takes now; returns the new offset, input.length when nothing more is to be
 * written: all of it written, or the reader gone.
 */
function writeSome(sys: Sys, fd: number, input: Buffer, offset: number): number {
  while (offset < input.length) {
    try {
      offset += sys.writeNoSigpipe(fd, input.subarray(offset, Math.min(input.length, offset + WRITE_CHUNK)));
    } catch (error) {
      if (error instanceof SyscallError && error.errno === EAGAIN) return offset;
      // EPIPE: the hook exited or closed stdin without reading all of it; that is not a failure of the hook.
      if (error instanceof SyscallError && error.errno === EPIPE) return input.length;
      throw error;
    }
  }
  return offset;
}

/** SIGKILL and reap; quiet, for paths that already have an error to report. */
function killAndReap(sys: Sys, pid: number): void {
  try {
    sys.signalIfAlive(pid, SIGKILL);
    sys.waitpid(pid, 0);
  } catch {
    // reaped already, or SIGCHLD is ignored and the kernel reaped it
  }
}

/** Reads what is there without blocking; true at EOF (every writer closed). */
function drain(fd: number, tail: Tail): boolean {
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EAGAIN') return false;
      throw error;
    }
    if (n === 0) return true;
    tail.add(buffer.subarray(0, n));
  }
}

/** The last TAIL_BYTES bytes of a stream. */
class Tail {
  private data = Buffer.alloc(0);

  add(chunk: Buffer): void {
    const joined = Buffer.concat([this.data, chunk]);
    this.data = joined.length > TAIL_BYTES ? joined.subarray(joined.length - TAIL_BYTES) : joined;
  }

  text(): string {
    return this.data.toString('utf8');
  }
}

/**
 * The forked child: becomes the hook. It must never return into Node or throw out (see docs/architecture.md),
 * so everything is caught, a failure is written to the report pipe and the child leaves through _exit(127).
 */
function execHook(sys: Sys, fds: Fds, path: string, argv: string[], env: string[], cwd: string | undefined): never {
  let report = fds.reportWrite;
  let operation = 'setup';
  try {
    // Node ignores SIGPIPE and others, and an ignored signal or a blocked mask survives execve.
    operation = 'reset signals';
    sys.resetSignals();
    // First move every end we keep above 2 (close-on-exec copies): if tsrun itself was started with 0-2 closed,
    // a pipe may sit on 0, 1 or 2, and placing one end onto stdio would then overwrite another.
    operation = 'set up stdio';
    const [stdin, stdout, stderr, moved] = [fds.stdinRead, fds.stdoutWrite, fds.stderrWrite, fds.reportWrite]
      .map((fd) => sys.fcntl(fd, F_DUPFD_CLOEXEC, 3)) as [number, number, number, number];
    report = moved;
    sys.dup2(stdin, 0);
    sys.dup2(stdout, 1);
    sys.dup2(stderr, 2);
    // Nothing of tsrun's reaches the hook (lock files, the container's fifo, other pipes): execve closes them.
    // Marked, not closed: until execve succeeds this is still Node, and libuv wakes its loop through an eventfd
    // among them (V8 posts a task when the heap grows); written after a close it aborts the child (EBADF), or
    // after reuse of its number it writes into whatever got it. So a failed execve can still be reported.
    operation = 'close descriptors';
    sys.closeRange(3, 0xffffffff, CLOSE_RANGE_CLOEXEC);
    if (cwd !== undefined) {
      operation = `chdir ${cwd}`;
      sys.chdir(cwd);
    }
    operation = 'exec';
    sys.execve(path, argv, env);
  } catch (error) {
    try {
      const reason = error instanceof SyscallError ? errnoText(error.errno).toLowerCase() : String((error as Error)?.message ?? error);
      writeSync(report, `${operation}: ${reason}`);
    } catch {
      // nothing more can be told; the exit status still says the hook did not run
    }
  }
  return sys.exit(EXEC_FAILED_EXIT);
}
