import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLock, createTryFileLock } from '../../../src/linux/file-lock';
import { createSys } from '../../../src/linux/sys';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-file-lock-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('createTryFileLock (real flock)', () => {
  it('takes a free lock without waiting, and answers undefined at once while another holder has it', () => {
    const sys = createSys();
    const lock = createFileLock(sys);
    const tryLock = createTryFileLock(sys);
    const file = path.join(tmp, '00.lock');
    const first = tryLock(file);
    expect(first).toBeDefined();
    expect(fs.existsSync(file)).toBe(true);
    // flock belongs to the open file description: another descriptor is another holder, even in this process.
    expect(tryLock(file)).toBeUndefined();
    first?.release();
    const held = lock(file);
    expect(tryLock(file)).toBeUndefined();
    held.release();
    const again = tryLock(file);
    expect(again).toBeDefined();
    again?.release();
  });
});
