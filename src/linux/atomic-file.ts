import fs from 'node:fs';
import path from 'node:path';
import { SyscallError } from './errno';

/**
 * Files replaced all at once: readers see the old content or the new one, never a part, also after a crash
 * or a power loss. The text goes to a new temporary file beside the target (O_EXCL, so nothing planted there
 * is written through), is fsynced, renamed over the target, and the directory is synced.
 */

/** A Node fs error as a SyscallError naming the step and the file; anything else passes through. */
export function fsSyscallError(operation: string, file: string, error: unknown): unknown {
  if (typeof error === 'object' && error !== null && 'errno' in error && typeof error.errno === 'number') {
    return new SyscallError(operation, Math.abs(error.errno), `\`${file}\``);
  }
  return error;
}

/** Makes a rename or unlink durable; best effort, some filesystems refuse fsync on a directory. */
export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // The change is in place and visible already; only its durability across a power loss is at stake.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Replaces `<dir>/<fileName>` with `text`. Throws a SyscallError naming the step (open, write, fsync, rename)
 * and the file; the temporary file is gone again whatever failed.
 */
export function writeFileAtomic(dir: string, fileName: string, text: string, mode = 0o600): void {
  const target = path.join(dir, fileName);
  const temporary = path.join(dir, `.${fileName}.${process.pid}.${process.hrtime.bigint()}`);
  let fd: number;
  try {
    fd = fs.openSync(temporary, 'wx', mode);
  } catch (error) {
    throw fsSyscallError('open', temporary, error);
  }
  let step = 'write';
  try {
    try {
      fs.writeFileSync(fd, text);
      step = 'fsync';
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    step = 'rename';
    fs.renameSync(temporary, target);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw fsSyscallError(step, step === 'rename' ? target : temporary, error);
  }
  syncDirectory(dir);
}
