import { describe, expect, it } from 'vitest';
import { normalizeArgv, separateExecCommand } from '../../../src/cli/argv';
import { parseDuration } from '../../../src/cli/commands/events';
import { parseSize } from '../../../src/cli/commands/update';
import { filterPsTable } from '../../../src/container/ps';
import { resourcesFromFlags } from '../../../src/container/update';

describe('normalizeArgv', () => {
  it('reads Go-style single-dash long options as double-dash ones', () => {
    expect(normalizeArgv(['-root', '/r', 'restore', '-no-subreaper', '-bundle=/b', 'id'])).toEqual(['--root', '/r', 'restore', '--no-subreaper', '--bundle=/b', 'id']);
  });
  it('leaves short options, unknown words and everything after -- alone', () => {
    expect(normalizeArgv(['-d', '-b', '/b', '-frobnicate', 'x', '--', '-root'])).toEqual(['-d', '-b', '/b', '-frobnicate', 'x', '--', '-root']);
  });
});

describe('separateExecCommand', () => {
  it('ends exec options at the container ID', () => {
    expect(separateExecCommand(['--root', '/r', 'exec', '-e', 'A=1', '-d', 'c1', 'sh', '-c', 'echo'])).toEqual(['--root', '/r', 'exec', '-e', 'A=1', '-d', 'c1', '--', 'sh', '-c', 'echo']);
  });
  it('skips option values and keeps an explicit --', () => {
    expect(separateExecCommand(['exec', '--user', '1:1', '--cwd', '/tmp', 'c1', 'id'])).toEqual(['exec', '--user', '1:1', '--cwd', '/tmp', 'c1', '--', 'id']);
    expect(separateExecCommand(['exec', 'c1', '--', 'ls'])).toEqual(['exec', 'c1', '--', 'ls']);
    expect(separateExecCommand(['state', 'c1'])).toEqual(['state', 'c1']);
  });
});

describe('parseSize (update)', () => {
  it.each([['512', 512], ['512m', 512 * 1024 ** 2], ['1G', 1024 ** 3], ['1.5k', 1536], ['-1', -1], ['64mb', 64 * 1024 ** 2]])('%s → %s', (text, bytes) => {
    expect(parseSize(text, 'memory')).toBe(bytes);
  });
  it('refuses anything else naming the flag', () => {
    expect(() => parseSize('lots', 'memory')).toThrow('--memory "lots": must be bytes, optionally with k, m, g or t');
    expect(parseSize(undefined, 'memory')).toBeUndefined();
  });
});

describe('parseDuration (events --interval)', () => {
  it.each([['5s', 5000], ['500ms', 500], ['1m30s', 90_000], ['1h', 3_600_000], ['0.5s', 500]])('%s → %s ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['', '5', 'soon', '0s'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/--interval/);
  });
});

describe('filterPsTable (ps --format table)', () => {
  const ps = 'UID          PID    PPID  C STIME TTY          TIME CMD\nroot           1       0  0 06:14 ?        00:00:01 /sbin/init\nroot         200       1  0 06:15 ?        00:00:00 sleep 1000\nroot         201     200  0 06:15 ?        00:00:00 sh\n';
  it('keeps the header and the lines whose PID column is a container process', () => {
    expect(filterPsTable(ps, [200])).toBe('UID          PID    PPID  C STIME TTY          TIME CMD\nroot         200       1  0 06:15 ?        00:00:00 sleep 1000\n');
  });
  it('needs a PID column', () => {
    expect(() => filterPsTable('USER CMD\nroot x\n', [1])).toThrow('no PID column');
  });
});

describe('resourcesFromFlags (update)', () => {
  it('lays the flags over --resources, flags winning', () => {
    expect(resourcesFromFlags({ memory: { limit: 1, swap: 2 }, pids: { limit: 3 } }, { memory: 10, pidsLimit: 7, cpuShare: 512, cpusetCpus: '0-1' })).toEqual({
      memory: { limit: 10, swap: 2 }, pids: { limit: 7 }, cpu: { shares: 512, cpus: '0-1' },
    });
  });
  it('does not change the object it was given', () => {
    const base = { memory: { limit: 1 } };
    resourcesFromFlags(base, { memory: 2 });
    expect(base).toEqual({ memory: { limit: 1 } });
  });
});
