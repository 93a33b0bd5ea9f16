import { readSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

/**
 * Messages between tsrun and its forked children over a pipe: one JSON object per line. Both sides use
 * blocking reads and writes only (the children must never wait on the event loop).
 */
export type SyncMessage =
  | { type: 'init-pid'; pid: number }
  | { type: 'need-setup' }
  /** The init has its mounts in place and waits for tsrun to run the prestart and createRuntime hooks. */
  | { type: 'run-hooks' }
  | { type: 'ready' }
  | { type: 'error'; code: string; message: string };

export function sendMessage(fd: number, message: SyncMessage): void {
  const data = Buffer.from(`${JSON.stringify(message)}\n`);
  let offset = 0;
  while (offset < data.length) offset += writeSync(fd, data, offset);
}

export class MessageReader {
  private pending = '';
  private closed = false;
  // Keeps a multi-byte character that straddles two reads intact.
  private readonly decoder = new StringDecoder('utf8');

  constructor(private readonly fd: number) {}

  /** The next message, or undefined once every writer has closed the pipe. */
  next(): SyncMessage | undefined {
    for (;;) {
      const newline = this.pending.indexOf('\n');
      if (newline >= 0) {
        const line = this.pending.slice(0, newline);
        this.pending = this.pending.slice(newline + 1);
        return JSON.parse(line) as SyncMessage;
      }
      if (this.closed) return undefined;
      const buffer = Buffer.alloc(4096);
      let count: number;
      try {
        count = readSync(this.fd, buffer, 0, buffer.length, null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EINTR' || (error as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        throw error;
      }
      if (count === 0) {
        this.closed = true;
        this.pending += this.decoder.end();
      } else {
        this.pending += this.decoder.write(buffer.subarray(0, count));
      }
    }
  }
}
