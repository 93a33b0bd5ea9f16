import { describe, expect, it } from 'vitest';
import { realtimeNanoseconds } from '../../../src/linux/clock';

describe('realtimeNanoseconds', () => {
  it('is the wall clock in nanoseconds, with a sub-millisecond part', () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const samples = Array.from({ length: 20 }, () => realtimeNanoseconds());
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    for (const ns of samples) {
      expect(ns >= before && ns <= after).toBe(true);
    }
    // Not milliseconds scaled up: some sample has non-zero digits below the millisecond.
    expect(samples.some((ns) => ns % 1_000_000n !== 0n)).toBe(true);
  });
});
