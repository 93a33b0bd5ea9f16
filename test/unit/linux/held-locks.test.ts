// HeldLocks: a lock held by the object is not taken twice (flock would wait for itself); take/release hand over.
import { describe, expect, it } from 'vitest';
import { HeldLocks } from '../../../src/linux/held-locks';

function recorder() {
  const events: string[] = [];
  const lock = (file: string) => {
    events.push(`lock ${file}`);
    return { release: () => events.push(`release ${file}`) };
  };
  return { events, locks: new HeldLocks(lock) };
}

describe('HeldLocks', () => {
  it('takes a lock once however deep the calls nest, and lets it go at the outermost end', () => {
    const { events, locks } = recorder();
    const result = locks.run('/a', () => locks.run('/a', () => {
      expect(locks.holds('/a')).toBe(true);
      return locks.run('/b', () => locks.count);
    }), () => events.push('prepare /a'));
    expect(result).toBe(2);
    expect(events).toEqual(['prepare /a', 'lock /a', 'lock /b', 'release /b', 'release /a']);
    expect(locks.count).toBe(0);
  });

  it('releases also when the callback throws; take hands one lock over to another', () => {
    const { events, locks } = recorder();
    expect(() => locks.run('/a', () => {
      throw new Error('boom');
    })).toThrow('boom');
    expect(locks.holds('/a')).toBe(false);
    const releaseStore = locks.take('/store');
    const releaseEntry = locks.take('/entry');
    releaseStore();
    expect([locks.holds('/store'), locks.holds('/entry')]).toEqual([false, true]);
    releaseEntry();
    expect(events).toEqual(['lock /a', 'release /a', 'lock /store', 'lock /entry', 'release /store', 'release /entry']);
  });
});
