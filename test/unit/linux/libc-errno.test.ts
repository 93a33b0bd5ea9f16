import { describe, expect, it } from 'vitest';
import { errno, fn, koffi } from '../../../src/linux/libc';

describe('errno of a declared libc function', () => {
  it('is the value the call left, even when errno changes before it is read', () => {
    const close = fn('int close(int)');
    expect(close(-1)).toBe(-1);
    // What a library call run in between (say, during a garbage collection) may do to the thread's errno.
    koffi().errno(34);
    expect(errno()).toBe(9); // EBADF, not ERANGE
  });

  it('a later successful call leaves errno as the failed one set it, as libc does', () => {
    const close = fn('int close(int)');
    const getpid = fn('int getpid()');
    expect(close(-1)).toBe(-1);
    expect(getpid()).toBeGreaterThan(0);
    expect(errno()).toBe(9);
  });
});
