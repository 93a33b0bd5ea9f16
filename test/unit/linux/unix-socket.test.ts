import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FD_CLOEXEC, F_GETFD } from '../../../src/linux/constants';
import { SyscallError } from '../../../src/linux/errno';
import { createSys } from '../../../src/linux/sys';
import {
  acceptUnix, connectUnix, listenUnix, recvFd, sendFd, socketPair, SUN_PATH_SIZE,
} from '../../../src/linux/unix-socket';
import { errorOf } from '../../helpers/errors';

const sys = createSys();
const openFds: number[] = [];
let dir: string;

function track(fd: number): number {
  openFds.push(fd);
  return fd;
}

function trackAll<T extends number[]>(fds: T): T {
  fds.forEach(track);
  return fds;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-sock-'));
});

afterEach(() => {
  for (const fd of openFds.splice(0)) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed by the test
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

function readString(fd: number, max = 4096): string {
  const buffer = Buffer.alloc(max);
  const n = fs.readSync(fd, buffer, 0, max, null);
  return buffer.toString('utf8', 0, n);
}

/** A path of exactly `bytes` bytes below the temp dir, its directories created, ending in `/<name>`. */
function pathOfLength(bytes: number, name = 's'): string {
  const tail = `/${name}`;
  let current = dir;
  while (Buffer.byteLength(current) + tail.length < bytes) {
    const room = bytes - Buffer.byteLength(current) - tail.length - 1; // one byte for the next '/'
    if (room <= 0) break;
    current = path.join(current, 'd'.repeat(Math.min(room, 50)));
    fs.mkdirSync(current);
  }
  const result = current + tail;
  if (Buffer.byteLength(result) !== bytes) throw new Error(`could not build a ${bytes}-byte path (${result.length})`);
  return result;
}

describe('socketPair', () => {
  it('returns two connected close-on-exec sockets', () => {
    const [a, b] = trackAll(socketPair());
    expect(sys.fcntl(a, F_GETFD, 0) & FD_CLOEXEC).toBe(FD_CLOEXEC);
    expect(sys.fcntl(b, F_GETFD, 0) & FD_CLOEXEC).toBe(FD_CLOEXEC);
    fs.writeSync(a, 'ping');
    expect(readString(b)).toBe('ping');
  });
});

describe('sendFd / recvFd', () => {
  it('passes a working pipe end and the payload', () => {
    const [a, b] = trackAll(socketPair());
    const [readEnd, writeEnd] = trackAll(sys.pipe());
    sendFd(a, writeEnd, '/dev/ptmx');
    const received = recvFd(b);
    track(received.fd);
    expect(received.payload).toBe('/dev/ptmx');
    expect(received.fd).not.toBe(writeEnd);
    expect(sys.fcntl(received.fd, F_GETFD, 0) & FD_CLOEXEC).toBe(FD_CLOEXEC);
    fs.closeSync(writeEnd); // only the received copy keeps the pipe writable now
    fs.writeSync(received.fd, 'through the copy');
    fs.closeSync(received.fd);
    expect(readString(readEnd)).toBe('through the copy');
  });

  it('passes a temp file that reads back what was written through the received fd', () => {
    const [a, b] = trackAll(socketPair());
    const file = path.join(dir, 'data');
    const original = track(fs.openSync(file, 'w+'));
    sendFd(a, original, 'file');
    const { fd, payload } = recvFd(b);
    track(fd);
    expect(payload).toBe('file');
    fs.writeSync(fd, 'written via received fd');
    expect(fs.readFileSync(file, 'utf8')).toBe('written via received fd');
    expect(fs.fstatSync(fd).ino).toBe(fs.statSync(file).ino);
  });

  it('keeps consecutive messages apart', () => {
    const [a, b] = trackAll(socketPair());
    const [readEnd, writeEnd] = trackAll(sys.pipe());
    sendFd(a, readEnd, 'first');
    sendFd(a, writeEnd, 'second');
    const first = recvFd(b);
    track(first.fd);
    const second = recvFd(b);
    track(second.fd);
    expect([first.payload, second.payload]).toEqual(['first', 'second']);
    fs.writeSync(second.fd, 'x');
    expect(readString(first.fd)).toBe('x');
  });

  it('carries payloads up to 4095 bytes, counted in UTF-8', () => {
    const [a, b] = trackAll(socketPair());
    const [readEnd] = trackAll(sys.pipe());
    const payload = `${'é'.repeat(2000)}${'x'.repeat(95)}`; // 4095 bytes
    expect(Buffer.byteLength(payload)).toBe(4095);
    sendFd(a, readEnd, payload);
    const received = recvFd(b);
    track(received.fd);
    expect(received.payload).toBe(payload);
  });

  it('rejects an empty or too long payload and a bad fd before any system call', () => {
    // socket -1 would give EBADF if sendmsg were reached: the errors below must be the validation ones.
    const empty = errorOf(() => sendFd(-1, 0, ''));
    expect(empty).not.toBeInstanceOf(SyscallError);
    expect(empty.message).toContain('must not be empty');
    const long = errorOf(() => sendFd(-1, 0, 'é'.repeat(2048)));
    expect(long).not.toBeInstanceOf(SyscallError);
    expect(long.message).toContain('4096 bytes, got 4096');
    expect(errorOf(() => sendFd(-1, -3, 'x')).message).toContain('invalid file descriptor -3');
    const badSocket = errorOf(() => sendFd(-1, 0, 'x'));
    expect(badSocket).toBeInstanceOf(SyscallError);
    expect((badSocket as SyscallError).errno).toBe(9);
  });

  it('reports EPIPE (not SIGPIPE) when the peer is gone', () => {
    const [a, b] = trackAll(socketPair());
    fs.closeSync(b);
    const error = errorOf(() => sendFd(a, a, 'x'));
    expect((error as SyscallError).errno).toBe(32);
    expect(error.message).toContain('sendmsg');
  });

  it('refuses a message without a file descriptor', () => {
    const [a, b] = trackAll(socketPair());
    fs.writeSync(a, 'just data');
    expect(errorOf(() => recvFd(b)).message).toContain('expected one SCM_RIGHTS file descriptor, got no control message');
  });

  it('reports a peer that closed without sending', () => {
    const [a, b] = trackAll(socketPair());
    fs.closeSync(a);
    expect(errorOf(() => recvFd(b)).message).toContain('closed the connection without sending a file descriptor');
  });
});

describe('listenUnix / connectUnix / acceptUnix', () => {
  it('connects through a socket file and passes an fd over the accepted connection', () => {
    const socketPath = path.join(dir, 'console.sock');
    const listener = track(listenUnix(socketPath));
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
    const client = track(connectUnix(socketPath));
    const server = track(acceptUnix(listener));
    for (const fd of [listener, client, server]) expect(sys.fcntl(fd, F_GETFD, 0) & FD_CLOEXEC).toBe(FD_CLOEXEC);

    const [readEnd, writeEnd] = trackAll(sys.pipe());
    sendFd(client, writeEnd, '/dev/ptmx');
    const received = recvFd(server);
    track(received.fd);
    expect(received.payload).toBe('/dev/ptmx');
    fs.writeSync(received.fd, 'over the console socket');
    expect(readString(readEnd)).toBe('over the console socket');
  });

  it('refuses to bind over an existing file (EADDRINUSE)', () => {
    const socketPath = path.join(dir, 'taken');
    fs.writeFileSync(socketPath, '');
    const error = errorOf(() => listenUnix(socketPath));
    expect((error as SyscallError).errno).toBe(98); // EADDRINUSE: bind never replaces a file
    expect(error.message).toContain(socketPath);
  });

  it('reports a missing socket as ENOENT naming the path', () => {
    const socketPath = path.join(dir, 'missing.sock');
    const error = errorOf(() => connectUnix(socketPath));
    expect(error).toBeInstanceOf(SyscallError);
    expect((error as SyscallError).errno).toBe(2);
    expect((error as SyscallError).operation).toBe('connect');
    expect(error.message).toContain(`\`${socketPath}\``);
  });

  it('reports a file that is not a socket as ECONNREFUSED', () => {
    const socketPath = path.join(dir, 'plain');
    fs.writeFileSync(socketPath, '');
    expect((errorOf(() => connectUnix(socketPath)) as SyscallError).errno).toBe(111);
  });

  it.each([SUN_PATH_SIZE - 1, SUN_PATH_SIZE, 200])('works with a %i-byte path', (bytes) => {
    const socketPath = pathOfLength(bytes);
    const listener = track(listenUnix(socketPath));
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
    const client = track(connectUnix(socketPath));
    const server = track(acceptUnix(listener));
    fs.writeSync(client, 'long path');
    expect(readString(server)).toBe('long path');
  });

  it('reports a missing long path as ENOENT naming the path', () => {
    const socketPath = pathOfLength(200);
    const error = errorOf(() => connectUnix(socketPath));
    expect((error as SyscallError).errno).toBe(2);
    expect(error.message).toContain(socketPath);
  });

  it('refuses a long path whose file name cannot be reached through its directory', () => {
    const socketPath = path.join(dir, 'n'.repeat(110));
    const error = errorOf(() => connectUnix(socketPath));
    expect(error).not.toBeInstanceOf(SyscallError);
    expect(error.message).toContain(`\`${socketPath}\` is too long`);
  });

  it('refuses an empty path and one with a NUL byte', () => {
    expect(errorOf(() => connectUnix('')).message).toContain('invalid unix socket path');
    expect(errorOf(() => listenUnix('/tmp/a\0b')).message).toContain('invalid unix socket path');
  });
});
