import { check, fn } from './libc';

/**
 * CLOCK_REALTIME in nanoseconds, exact. Node has no such call: Date is milliseconds, and `performance` loads
 * node:perf_hooks on first use (~4 ms of a tsrun call); koffi is loaded anyway by the verbs that need a timestamp.
 */
export function realtimeNanoseconds(): bigint {
  const timespec = Buffer.alloc(16);
  check(fn('int clock_gettime(int, void *)')(0, timespec), 'clock_gettime');
  return timespec.readBigInt64LE(0) * 1_000_000_000n + timespec.readBigInt64LE(8);
}
