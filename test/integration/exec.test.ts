import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acceptUnix, listenUnix, recvFd } from '../../src/linux/unix-socket';
import { integrationSkipReason, processAlive, rootlessRun, Sandbox, waitUntil } from '../helpers/tsrun';

describe.skipIf(integrationSkipReason !== undefined)(`exec${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  let id: string;
  const fds: number[] = [];
  beforeEach(() => {
    sb = new Sandbox('tsrun-exec');
    id = sb.newId();
    const config = sb.config(['sleep', '1000']);
    config.hostname = 'exec-box';
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(config), id]).status).toBe(0);
  });
  afterEach(() => {
    for (const fd of fds.splice(0)) fs.closeSync(fd);
    sb.cleanup();
  });

  it('runs in the container\'s namespaces and passes the exit status through', () => {
    const init = sb.state(id).pid;
    const r = sb.tsrun(['exec', id, 'sh', '-c', 'hostname; echo pid=$$; readlink /proc/1/exe; exit 3']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(3);
    expect(r.stdout).toBe('exec-box\npid=2\n/bin/busybox\n');
    expect(fs.readlinkSync(`/proc/${init}/ns/net`)).not.toBe(fs.readlinkSync('/proc/self/ns/net'));
  });

  it('--detach --pid-file: returns once the process runs; the pid file names it (decimal, no newline)', async () => {
    const pidFile = path.join(sb.dir, 'exec.pid');
    const r = sb.tsrun(['exec', '-d', '--pid-file', pidFile, id, 'sleep', '1000']);
    expect(r.status).toBe(0);
    const text = fs.readFileSync(pidFile, 'utf8');
    expect(text).toMatch(/^[1-9][0-9]*$/);
    const pid = Number(text);
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\u00001000\u0000');
    expect(fs.readlinkSync(`/proc/${pid}/ns/pid`)).toBe(fs.readlinkSync(`/proc/${sb.state(id).pid}/ns/pid`));
    expect(JSON.parse(sb.tsrun(['ps', '--format', 'json', id]).stdout)).toContain(pid);
    expect(sb.tsrun(['delete', '--force', id]).status).toBe(0);
    await waitUntil(() => !processAlive(pid), 10_000, 'the exec process to die with the container');
  });

  it('--env, --cwd and --user apply; --process takes a whole process', () => {
    // Rootless, only the container's root is mapped: it is the only other user to switch to.
    const user = rootlessRun ? '0:0' : '65534:65534';
    const r = sb.tsrun(['exec', '-e', 'FOO=bar', '--cwd', '/tmp', '--user', user, id, 'sh', '-c', 'echo $FOO $(pwd) $(id -u):$(id -g)']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`bar /tmp ${user}\n`);
    const file = path.join(sb.dir, 'process.json');
    fs.writeFileSync(file, JSON.stringify({ args: ['sh', '-c', 'echo $X'], env: ['X=from-process-json', 'PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } }));
    const p = sb.tsrun(['exec', '--process', file, id]);
    expect(p.stderr).toBe('');
    expect(p.stdout).toBe('from-process-json\n');
  });

  it('a missing executable fails with "executable file not found", exit 255 and no pid file', () => {
    const pidFile = path.join(sb.dir, 'never.pid');
    const r = sb.tsrun(['exec', '-d', '--pid-file', pidFile, id, 'no-such-command']);
    expect(r.status).toBe(255);
    expect(r.stderr.trim()).toBe('exec: "no-such-command": executable file not found in $PATH');
    expect(fs.existsSync(pidFile)).toBe(false);
  });

  it('refuses a stopped container, and a paused one unless --ignore-paused', async () => {
    const cgroupsOk = sb.tsrun(['pause', id]).status === 0;
    if (cgroupsOk) {
      const paused = sb.tsrun(['exec', id, 'true']);
      expect(paused.status).toBe(255);
      expect(paused.stderr).toContain('cannot exec in a paused container (use --ignore-paused to override)');
      expect(sb.tsrun(['resume', id]).status).toBe(0);
    }
    const pid = sb.state(id).pid;
    expect(sb.tsrun(['kill', id, 'KILL']).status).toBe(0);
    await waitUntil(() => !processAlive(pid), 10_000, 'the init to die');
    const stopped = sb.tsrun(['exec', id, 'true']);
    expect(stopped.status).toBe(255);
    expect(stopped.stderr).toContain('cannot exec in a stopped container');
  });

  it('--tty with --console-socket hands over the pty master', () => {
    const socketPath = path.join(sb.dir, 'exec-console.sock');
    const listener = listenUnix(socketPath);
    fds.push(listener);
    fs.chmodSync(socketPath, 0o777);
    const r = sb.tsrun(['exec', '-t', '-d', '--console-socket', socketPath, id, 'sh', '-c', 'tty; sleep 1']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const connection = acceptUnix(listener);
    fds.push(connection);
    const { fd: master } = recvFd(connection);
    fds.push(master);
    const buffer = Buffer.alloc(256);
    const n = fs.readSync(master, buffer, 0, buffer.length, null);
    expect(buffer.toString('utf8', 0, n)).toMatch(/^\/dev\/pts\/\d+\r\n/);
  });
});
