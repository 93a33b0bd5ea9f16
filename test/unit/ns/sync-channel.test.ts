// The sync channel: JSON lines written with sendMessage, read back with MessageReader until EOF.
// A temporary file stands in for the pipe (a read at its end gives EOF like a pipe without writers); short
// reads and EINTR/EAGAIN are simulated by wrapping fs.readSync.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MessageReader, sendMessage, type SyncMessage } from '../../../src/ns/sync-channel';

type ReadSync = (fd: number, buffer: Buffer, offset: number, length: number, position: null) => number;

/** When set, MessageReader's readSync goes through this (with the real readSync as first argument). */
const readHook = vi.hoisted(() => ({ current: undefined as undefined | ((real: ReadSync, ...args: Parameters<ReadSync>) => number) }));

vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  const readSync = ((...args: Parameters<ReadSync>) =>
    readHook.current ? readHook.current(actual.readSync as unknown as ReadSync, ...args) : (actual.readSync as unknown as ReadSync)(...args)) as typeof actual.readSync;
  return { ...actual, default: actual, readSync };
});

let dir: string;
let file: string;
const openFds: number[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-sync-'));
  file = path.join(dir, 'channel');
});

afterEach(() => {
  readHook.current = undefined;
  for (const fd of openFds.splice(0)) fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(flags: string): number {
  const fd = fs.openSync(file, flags);
  openFds.push(fd);
  return fd;
}

function send(...messages: SyncMessage[]): void {
  const fd = open('w');
  for (const message of messages) sendMessage(fd, message);
}

function readAll(reader: MessageReader): SyncMessage[] {
  const messages: SyncMessage[] = [];
  for (let m = reader.next(); m !== undefined; m = reader.next()) messages.push(m);
  return messages;
}

describe('sendMessage', () => {
  it('writes one JSON object per line', () => {
    send({ type: 'init-pid', pid: 123 }, { type: 'ready' });
    expect(fs.readFileSync(file, 'utf8')).toBe('{"type":"init-pid","pid":123}\n{"type":"ready"}\n');
  });

  it('escapes newlines inside messages, so a message stays one line', () => {
    send({ type: 'error', code: 'x', message: 'line one\nline two' });
    const text = fs.readFileSync(file, 'utf8');
    expect(text.split('\n')).toHaveLength(2);
    expect(text).toBe('{"type":"error","code":"x","message":"line one\\nline two"}\n');
  });

  it('writes a message larger than one write completely', () => {
    const message = 'm'.repeat(200_000);
    send({ type: 'error', code: 'big', message });
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ type: 'error', code: 'big', message });
  });
});

describe('MessageReader', () => {
  it('reads messages back in order, then undefined at EOF (and again after)', () => {
    const sent: SyncMessage[] = [
      { type: 'init-pid', pid: 4242 },
      { type: 'ready' },
      { type: 'error', code: 'exec-not-found', message: 'exec: "x": executable file not found in $PATH' },
    ];
    send(...sent);
    const reader = new MessageReader(open('r'));
    expect(reader.next()).toEqual(sent[0]);
    expect(reader.next()).toEqual(sent[1]);
    expect(reader.next()).toEqual(sent[2]);
    expect(reader.next()).toBeUndefined();
    expect(reader.next()).toBeUndefined();
  });

  it('returns undefined for a channel closed without a message', () => {
    fs.writeFileSync(file, '');
    expect(new MessageReader(open('r')).next()).toBeUndefined();
  });

  it('takes several messages out of one read', () => {
    send({ type: 'init-pid', pid: 1 }, { type: 'init-pid', pid: 2 }, { type: 'ready' });
    const reads: number[] = [];
    readHook.current = (real, ...args) => {
      const n = real(...args);
      reads.push(n);
      return n;
    };
    const reader = new MessageReader(open('r'));
    expect(readAll(reader)).toEqual([{ type: 'init-pid', pid: 1 }, { type: 'init-pid', pid: 2 }, { type: 'ready' }]);
    // one read with all three, one read for EOF
    expect(reads).toEqual([fs.statSync(file).size, 0]);
  });

  it('does not read ahead while a whole message is pending', () => {
    send({ type: 'init-pid', pid: 1 }, { type: 'ready' });
    let reads = 0;
    readHook.current = (real, ...args) => {
      reads++;
      return real(...args);
    };
    const reader = new MessageReader(open('r'));
    reader.next();
    reader.next();
    expect(reads).toBe(1);
  });

  it('joins a message split across reads (one byte per read)', () => {
    const sent: SyncMessage[] = [{ type: 'init-pid', pid: 987654 }, { type: 'error', code: 'c', message: 'hello, world' }, { type: 'ready' }];
    send(...sent);
    readHook.current = (real, fd, buffer, offset, _length, position) => real(fd, buffer, offset, 1, position);
    expect(readAll(new MessageReader(open('r')))).toEqual(sent);
  });

  it('joins a message longer than the read buffer', () => {
    const message = 'x'.repeat(10_000);
    send({ type: 'error', code: 'long', message }, { type: 'ready' });
    expect(readAll(new MessageReader(open('r')))).toEqual([{ type: 'error', code: 'long', message }, { type: 'ready' }]);
  });

  it('handles a newline exactly at the end of a read', () => {
    const prefix = '{"type":"error","code":"c","message":"';
    const message = 'y'.repeat(4096 - prefix.length - 3); // `"}\n` ends at byte 4096
    send({ type: 'error', code: 'c', message }, { type: 'ready' });
    expect(fs.readFileSync(file, 'utf8').indexOf('\n')).toBe(4095);
    expect(readAll(new MessageReader(open('r')))).toEqual([{ type: 'error', code: 'c', message }, { type: 'ready' }]);
  });

  it('retries reads interrupted by EINTR or EAGAIN', () => {
    send({ type: 'ready' });
    const failures = ['EINTR', 'EAGAIN', 'EINTR'];
    readHook.current = (real, ...args) => {
      const code = failures.shift();
      if (code) throw Object.assign(new Error(code), { code });
      return real(...args);
    };
    expect(readAll(new MessageReader(open('r')))).toEqual([{ type: 'ready' }]);
    expect(failures).toEqual([]);
  });

  it('passes on other read errors', () => {
    readHook.current = () => {
      throw Object.assign(new Error('EBADF: bad file descriptor, read'), { code: 'EBADF' });
    };
    expect(() => new MessageReader(999).next()).toThrow('EBADF');
  });

  it('ignores a partial last line at EOF', () => {
    fs.writeFileSync(file, '{"type":"ready"}\n{"type":"init-p');
    const reader = new MessageReader(open('r'));
    expect(reader.next()).toEqual({ type: 'ready' });
    expect(reader.next()).toBeUndefined();
  });

  it('keeps non-ASCII text intact within one read', () => {
    const message = 'ünïcödé ✓ 🚀';
    send({ type: 'error', code: 'c', message });
    expect(readAll(new MessageReader(open('r')))).toEqual([{ type: 'error', code: 'c', message }]);
  });

  // regression test (was a bug): src/ns/sync-channel.ts MessageReader.next decodes every chunk on its own
  // (`buffer.toString('utf8', 0, count)`), so a multi-byte UTF-8 character split between two reads becomes two
  // U+FFFD replacement characters. Error messages carry paths and config values (any UTF-8), and a pipe read
  // may end anywhere; here the 2-byte "é" straddles the 4096-byte read buffer. Expected: the message intact.
  it('keeps a multi-byte character that straddles two reads intact', () => {
    const prefix = '{"type":"error","code":"c","message":"';
    const message = `${'a'.repeat(4095 - prefix.length)}é and more`;
    send({ type: 'error', code: 'c', message });
    expect(Buffer.from(fs.readFileSync(file)).subarray(4095, 4097)).toEqual(Buffer.from('é'));
    expect(readAll(new MessageReader(open('r')))).toEqual([{ type: 'error', code: 'c', message }]);
  });
});
