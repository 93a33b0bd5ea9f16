import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { isatty, ReadStream } from 'node:tty';
import { getWindowSize, restoreMode, setRawMode, setWindowSize, type TerminalMode } from '../linux/pty';

/**
 * tsrun's side of a container terminal when nobody gave a --console-socket (`run`/`exec` by hand): the caller's
 * stdin goes to the pty master, the master's output to stdout; a terminal stdin is put in raw mode (restored
 * after) and its size is passed on, now and on every SIGWINCH. Event-driven through Node streams.
 */
export class TerminalRelay {
  private saved: TerminalMode | undefined;
  private readonly output: Promise<void>;
  private readonly onResize = () => this.copySize();
  private input: Readable | undefined;

  constructor(private readonly master: number) {
    // tty.isatty, never process.stdin: creating Node's stdin stream makes fd 0 non-blocking, for the container too.
    if (isatty(0)) {
      this.saved = setRawMode(0);
      this.copySize();
      process.on('SIGWINCH', this.onResize);
    }
    this.output = new Promise((resolve) => {
      const stream = readableOf(master);
      stream.on('data', (chunk) => writeAll(1, chunk as Buffer));
      // EIO once the last slave descriptor is closed: the container's side is gone.
      stream.on('error', () => resolve());
      stream.on('end', () => resolve());
    });
    this.input = readableOf(0);
    this.input.on('data', (chunk) => {
      try {
        writeAll(master, chunk as Buffer);
      } catch {
        // the container's side went away
      }
    });
    this.input.on('error', () => undefined);
  }

  private copySize(): void {
    try {
      const { rows, cols } = getWindowSize(0);
      setWindowSize(this.master, rows, cols);
    } catch {
      // stdin is no terminal after all
    }
  }

  /** Waits (bounded) for the container's last output, then restores the caller's terminal. */
  async finish(): Promise<void> {
    await Promise.race([this.output, new Promise((resolve) => setTimeout(resolve, 500))]);
    process.off('SIGWINCH', this.onResize);
    this.input?.destroy();
    if (this.saved) restoreMode(0, this.saved);
  }
}

/**
 * A readable for a descriptor. Terminals (the pty master, an interactive stdin) are read through libuv's tty
 * handle, driven by epoll: a read blocked in the thread pool would keep Node from exiting (it joins those
 * threads at exit). In relay mode the container's stdio is the pty slave, so the caller's own terminal being
 * switched to non-blocking does not reach the container.
 */
function readableOf(fd: number): Readable {
  if (isatty(fd)) return new ReadStream(fd);
  return fs.createReadStream('', { fd, autoClose: false });
}

function writeAll(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(fd, data, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}
