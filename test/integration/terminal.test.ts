import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acceptUnix, listenUnix, recvFd } from '../../src/linux/unix-socket';
import { integrationSkipReason, processAlive, Sandbox, waitUntil } from '../helpers/tsrun';

/** Reads a pty master until the slave side is gone (EIO) or `until` matches. */
function readMaster(fd: number, until: RegExp, timeoutMs = 10_000): string {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  const buffer = Buffer.alloc(4096);
  while (!until.test(text) && Date.now() < deadline) {
    let n: number;
    try {
      n = fs.readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EIO') break; // every slave fd closed: the container exited
      if (code === 'EAGAIN') continue;
      throw error;
    }
    if (n === 0) break;
    text += buffer.toString('utf8', 0, n);
  }
  return text;
}

describe.skipIf(integrationSkipReason !== undefined)(`terminals${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  const fds: number[] = [];
  beforeEach(() => {
    sb = new Sandbox('tsrun-tty');
  });
  afterEach(() => {
    for (const fd of fds.splice(0)) fs.closeSync(fd);
    sb.cleanup();
  });

  function ttyConfig(args: string[]) {
    const config = sb.config(args);
    config.process.terminal = true;
    config.process.consoleSize = { height: 33, width: 111 };
    return config;
  }

  it('--console-socket receives the pty master; the process has it as controlling terminal with consoleSize', async () => {
    const socketPath = path.join(sb.dir, 'console.sock');
    const listener = listenUnix(socketPath);
    fds.push(listener);
    fs.chmodSync(socketPath, 0o777); // tsrun may run as another (unprivileged) user
    const id = sb.newId();
    const script = 'tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; ls /proc/self/fd | tr "\\n" " "';
    const created = sb.tsrun(['create', '--console-socket', socketPath, '-b', sb.bundle(ttyConfig(['sh', '-c', script])), id]);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    const connection = acceptUnix(listener);
    fds.push(connection);
    const { fd: master, payload } = recvFd(connection);
    fds.push(master);
    expect(payload).toBe('/dev/ptmx');
    expect(sb.tsrun(['start', id]).status).toBe(0);
    const output = readMaster(master, /\d+ \d+ \d+ \r?\n?$/);
    expect(output).toMatch(/^\/dev\/pts\/0\r\n33 111\r\nall-ttys\r\n0 1 2 3 $/);
    const pid = sb.state(id).pid;
    await waitUntil(() => !processAlive(pid), 10_000, 'the container to exit');
  });

  it('a terminal without --console-socket (detached) and a socket without a terminal are refused', () => {
    const id = sb.newId();
    const noSocket = sb.tsrun(['create', '-b', sb.bundle(ttyConfig(['true'])), id]);
    expect(noSocket.status).toBe(1);
    expect(noSocket.stderr).toMatch(/^cannot allocate tty if tsrun will detach without setting console socket/);
    const socketPath = path.join(sb.dir, 'unused.sock');
    fds.push(listenUnix(socketPath));
    const noTerminal = sb.tsrun(['create', '--console-socket', socketPath, '-b', sb.bundle(sb.config(['true'])), id]);
    expect(noTerminal.status).toBe(1);
    expect(noTerminal.stderr).toMatch(/^cannot use console socket if tsrun will not detach or allocate tty/);
    const missing = sb.tsrun(['create', '--console-socket', path.join(sb.dir, 'nobody.sock'), '-b', sb.bundle(ttyConfig(['true'])), id]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/--console-socket .*nobody\.sock: .*ENOENT/);
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('run in the foreground with a terminal and no socket: tsrun relays the pty and passes the exit status', () => {
    const id = sb.newId();
    const r = sb.tsrun(['run', '-b', sb.bundle(ttyConfig(['sh', '-c', 'tty; [ -t 0 ] && echo stdin-is-tty; exit 4'])), id]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(4);
    expect(r.stdout).toBe('/dev/pts/0\r\nstdin-is-tty\r\n');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('exec -t without a socket relays the pty too; exec -t -d without one is refused', () => {
    const id = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(sb.config(['sleep', '1000'])), id]).status).toBe(0);
    const r = sb.tsrun(['exec', '-t', id, 'sh', '-c', 'tty; exit 2']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r\n$/);
    const detached = sb.tsrun(['exec', '-t', '-d', id, 'true']);
    expect(detached.status).toBe(255);
    expect(detached.stderr).toMatch(/cannot allocate tty if tsrun will detach without setting console socket/);
  });
});

