import fs from 'node:fs';
import { clip } from './output';

export type LogFormat = 'text' | 'json';
export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

/**
 * runc-compatible logging: with --log, one entry per line appended to the file with a single write (several
 * tsrun processes append to the same file); json entries are {"level","msg","time"} with RFC 3339 time, which
 * containerd and podman parse. Without --log, entries go to stderr. stdout is never used: callers parse it.
 */
export class Logger {
  private fd: number | undefined;

  constructor(
    private readonly file: string | undefined,
    private readonly format: LogFormat,
    private readonly debugEnabled: boolean,
  ) {}

  log(level: LogLevel, msg: string): void {
    if (level === 'debug' && !this.debugEnabled) return;
    const time = new Date().toISOString();
    msg = clip(msg);
    const line = this.format === 'json'
      ? `${JSON.stringify({ level, msg, time })}\n`
      : `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
    const fd = this.open();
    try {
      fs.writeSync(fd, line);
    } catch {
      // a log that cannot be written must not turn success into failure
    }
  }

  warn(msg: string): void {
    this.log('warning', msg);
  }

  /** True when entries go to the --log file; false without one, or when it could not be opened (stderr then). */
  fileOpened(): boolean {
    return this.toFile && this.open() !== 2;
  }

  get toFile(): boolean {
    return this.file !== undefined && this.file !== '';
  }

  private open(): number {
    if (this.fd === undefined) {
      this.fd = 2;
      if (this.toFile) {
        try {
          this.fd = fs.openSync(this.file!, fs.constants.O_CREAT | fs.constants.O_WRONLY | fs.constants.O_APPEND, 0o644);
        } catch {
          this.fd = 2;
        }
      }
    }
    return this.fd;
  }
}
