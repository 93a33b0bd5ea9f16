import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSys } from '../../src/linux/sys';
import { acceptUnix, listenUnix, recvFd } from '../../src/linux/unix-socket';
import { Sandbox, integrationSkipReason, rootlessRun, waitUntil, type Config } from '../helpers/tsrun';

const hasLibseccomp = ['/lib/x86_64-linux-gnu/libseccomp.so.2', '/usr/lib/x86_64-linux-gnu/libseccomp.so.2'].some((p) => fs.existsSync(p));
const skipReason = integrationSkipReason ?? (hasLibseccomp ? undefined : 'needs libseccomp2');

type Rule = { names: string[]; action: string; errnoRet?: number; args?: Array<{ index: number; value: number; valueTwo?: number; op: string }> };

describe.skipIf(skipReason !== undefined)(`seccomp filters seen from inside the container${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox('tsrun-seccomp');
  });
  afterEach(() => {
    sb.cleanup();
  });

  function withSeccomp(args: string[], seccomp: Record<string, unknown>): Config {
    const config = sb.config(args);
    config.linux.seccomp = seccomp;
    return config;
  }

  function allowExcept(rules: Rule[], extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: rules, ...extra };
  }

  function run(config: Config): { status: number | null; stdout: string; stderr: string } {
    return sb.tsrun(['run', '--bundle', sb.bundle(config), sb.newId()]);
  }

  it('a blocked syscall returns the configured errno (EPERM without errnoRet); unknown names are skipped', () => {
    const script = 'mkdir /tmp/a 2>&1; echo mkdir=$?; touch /tmp/f; chmod 600 /tmp/f 2>&1; echo chmod=$?; grep ^Seccomp: /proc/self/status';
    const r = run(withSeccomp(['sh', '-c', script], allowExcept([
      { names: ['mkdir', 'mkdirat', 'no_such_syscall_in_any_kernel'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
      { names: ['chmod', 'fchmodat', 'fchmodat2'], action: 'SCMP_ACT_ERRNO' },
    ])));
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/Permission denied\s*\nmkdir=1\n/);
    expect(r.stdout).toMatch(/Operation not permitted\s*\nchmod=1\n/);
    expect(r.stdout).toContain('Seccomp:\t2');
    expect(r.status).toBe(0);
  });

  for (const action of ['SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD'] as const) {
    it(`${action} kills the process with SIGSYS`, () => {
      const r = run(withSeccomp(['uname', '-a'], allowExcept([{ names: ['uname'], action }])));
      expect(r.stdout).toBe('');
      expect(r.status).toBe(128 + 31);
    });
  }

  it('SCMP_ACT_TRAP delivers SIGSYS; SCMP_ACT_LOG and SCMP_ACT_TRACE (no tracer: ENOSYS) behave as the kernel defines', () => {
    const trapped = run(withSeccomp(['uname'], allowExcept([{ names: ['uname'], action: 'SCMP_ACT_TRAP' }])));
    expect(trapped.status).toBe(128 + 31);
    const logged = run(withSeccomp(['uname'], allowExcept([{ names: ['uname'], action: 'SCMP_ACT_LOG' }])));
    expect(logged.stdout).toBe('Linux\n');
    expect(logged.status).toBe(0);
    const traced = run(withSeccomp(['sh', '-c', 'mkdir /tmp/t 2>&1; echo rc=$?'], allowExcept([{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_TRACE' }])));
    expect(traced.stdout).toMatch(/Function not implemented\s*\nrc=1/);
  });

  it('argument conditions: EQ and MASKED_EQ on the mode, entries on one index are OR-ed', () => {
    const script = 'touch /tmp/f; for m in 777 755 757 750 700 640; do chmod $m /tmp/f 2>/dev/null && echo $m=ok || echo $m=denied; done';
    const modeRules = (index: number, names: string[]): Rule[] => [
      // Two args on the same index: either matches (runc's rule).
      { names, action: 'SCMP_ACT_ERRNO', args: [{ index, value: 0o777, op: 'SCMP_CMP_EQ' }, { index, value: 0o700, op: 'SCMP_CMP_EQ' }] },
      { names, action: 'SCMP_ACT_ERRNO', args: [{ index, value: 0o007, valueTwo: 0o007, op: 'SCMP_CMP_MASKED_EQ' }] },
    ];
    const r = run(withSeccomp(['sh', '-c', script], allowExcept([...modeRules(1, ['chmod']), ...modeRules(2, ['fchmodat'])])));
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['777=denied', '755=ok', '757=denied', '750=ok', '700=denied', '640=ok']);
  });

  // A rootless container has only its root (the caller's own uid): the credential steps still run, with uid 0.
  const user = rootlessRun ? { uid: 0, gid: 0 } : { uid: 1000, gid: 1000 };

  it('is loaded after tsrun\'s own work: a profile that forbids the credential and fd syscalls still starts the process', () => {
    // runc (which loads the filter before dropping privileges) fails on this profile; tsrun loads it last.
    const config = withSeccomp(['id'], allowExcept([
      { names: ['setresuid', 'setresgid', 'setgroups', 'capset', 'chdir', 'fchdir', 'close_range', 'prctl', 'umask'], action: 'SCMP_ACT_ERRNO' },
    ]));
    config.process.user = user;
    config.process.noNewPrivileges = true;
    const r = run(config);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^uid=${user.uid}\\b.* gid=${user.gid}\\b`));
    expect(r.status).toBe(0);
  });

  it('also applies without no_new_privs for a process without CAP_SYS_ADMIN', () => {
    const config = withSeccomp(['sh', '-c', 'mkdir /tmp/a 2>&1; id -u'], allowExcept([{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 28 }]));
    config.process.user = user;
    config.process.noNewPrivileges = false;
    const r = run(config);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`No space left on device\\s*\\n${user.uid}\\n`));
  });

  it('flags are passed to the kernel', () => {
    const r = run(withSeccomp(['true'], allowExcept([{ names: ['uname'], action: 'SCMP_ACT_ERRNO' }], { flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_TSYNC'] })));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('bad profiles are refused at create with one line naming the field; nothing is left behind', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [allowExcept([{ names: ['mkdir'], action: 'SCMP_ACT_EXPLODE' }]), /\/linux\/seccomp\/syscalls\/0\/action/],
      [allowExcept([{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 9, value: 1, op: 'SCMP_CMP_EQ' }] }]), /\/linux\/seccomp\/syscalls\/0\/args\/0\/index/],
      [allowExcept([{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }]), /listenerPath/],
    ];
    for (const [seccomp, pointer] of cases) {
      const id = sb.newId();
      const r = sb.tsrun(['create', '--bundle', sb.bundle(withSeccomp(['true'], seccomp)), id]);
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pointer);
      expect(fs.existsSync(sb.containerDir(id))).toBe(false);
    }
  });

  /** A seccomp agent on a unix socket; bounded waits (poll) before each blocking call, so a failing tsrun cannot hang the test. */
  function agent(socketPath: string) {
    const sys = createSys();
    const listener = listenUnix(socketPath);
    // tsrun may run as another user (the rootless pass): anyone may connect to this test's agent.
    fs.chmodSync(socketPath, 0o777);
    const fds: number[] = [listener];
    const waitReadable = (fd: number, what: string) => {
      const [events] = sys.poll([fd], 20_000);
      if (((events ?? 0) & 1) === 0) throw new Error(`seccomp agent: no ${what} within 20 s`);
    };
    return {
      /** Accepts one connection and receives the listener fd with its message. */
      receive(): { notifyFd: number; message: Record<string, unknown> & { pid: number; state: { pid: number } } } {
        waitReadable(listener, 'connection');
        const connection = acceptUnix(listener);
        fds.push(connection);
        waitReadable(connection, 'message');
        const { fd, payload } = recvFd(connection);
        fds.push(fd);
        return { notifyFd: fd, message: JSON.parse(payload) };
      },
      /** Closing the listener answers the waiting and every later notified syscall with ENOSYS. */
      release(fd: number) {
        fds.splice(fds.indexOf(fd), 1);
        sys.close(fd);
      },
      close() {
        for (const fd of fds) sys.close(fd);
        fs.rmSync(socketPath, { force: true });
      },
    };
  }

  it('SCMP_ACT_NOTIFY hands the listener to the agent at listenerPath with the container process state', async () => {
    const socketPath = path.join(sb.dir, 'agent.sock');
    const seccompAgent = agent(socketPath);
    try {
      const id = sb.newId();
      const config = withSeccomp(['sh', '-c', 'mkdir /tmp/n 2>&1; echo rc=$?'], allowExcept(
        [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
        { listenerPath: socketPath, listenerMetadata: 'agent-data' },
      ));
      const bundle = sb.bundle(config);
      const running = sb.tsrunAsync(['run', '--bundle', bundle, id]);
      const { notifyFd, message } = seccompAgent.receive();
      expect(fs.readlinkSync(`/proc/self/fd/${notifyFd}`)).toBe('anon_inode:seccomp notify');
      expect(message).toMatchObject({ ociVersion: '1.2.1', fds: ['seccompFd'], metadata: 'agent-data', state: { id, status: 'created', bundle } });
      expect(message.pid).toBeGreaterThan(1);
      expect(message.state.pid).toBe(message.pid);
      seccompAgent.release(notifyFd);
      const result = await running.done;
      expect(result.stdout).toMatch(/Function not implemented\s*\nrc=1/);
      expect(result.status).toBe(0);
    } finally {
      seccompAgent.close();
    }
  });

  it('an exec\'d process hands its own listener to the agent, with its host PID', async () => {
    const socketPath = path.join(sb.dir, 'agent.sock');
    const seccompAgent = agent(socketPath);
    try {
      const id = sb.newId();
      const config = withSeccomp(['sleep', '1000'], allowExcept([{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }], { listenerPath: socketPath }));
      expect(sb.tsrun(['create', '--bundle', sb.bundle(config), id]).status).toBe(0);
      expect(sb.tsrun(['start', id]).status).toBe(0);
      const initPid = sb.state(id).pid;
      seccompAgent.release(seccompAgent.receive().notifyFd);
      const exec = sb.tsrunAsync(['exec', id, 'sh', '-c', 'mkdir /tmp/x 2>&1; echo rc=$?; cat /proc/self/stat']);
      const { notifyFd, message } = seccompAgent.receive();
      expect(message).toMatchObject({ state: { id, status: 'running', pid: initPid } });
      expect(message.pid).not.toBe(initPid);
      expect(fs.existsSync(`/proc/${message.pid}`)).toBe(true);
      seccompAgent.release(notifyFd);
      const result = await exec.done;
      expect(result.stdout).toMatch(/Function not implemented\s*\nrc=1/);
    } finally {
      seccompAgent.close();
    }
  });

  it('an unreachable listenerPath fails create with the path and errno', () => {
    const id = sb.newId();
    const seccomp = allowExcept([{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }], { listenerPath: path.join(sb.dir, 'nobody.sock') });
    const r = sb.tsrun(['create', '--bundle', sb.bundle(withSeccomp(['true'], seccomp)), id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('/linux/seccomp/listenerPath');
    expect(r.stderr).toContain('nobody.sock');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('exec\'d processes get the container\'s filter too', async () => {
    const id = sb.newId();
    const config = withSeccomp(['sleep', '1000'], allowExcept([{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 30 }]));
    expect(sb.tsrun(['run', '-d', '--bundle', sb.bundle(config), id]).status).toBe(0);
    await waitUntil(() => sb.state(id).status === 'running', 10_000, 'running');
    const r = sb.tsrun(['exec', id, 'sh', '-c', 'mkdir /tmp/e 2>&1; echo rc=$?']);
    expect(r.stdout).toMatch(/Read-only file system\s*\nrc=1/);
  });
});
