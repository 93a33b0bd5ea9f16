// The user namespace's ID maps and the time namespace's offsets: their /proc text, the host ID lookup, and
// writeIdMaps against a temporary directory standing in for /proc.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatIdMap, formatTimeOffsets, hostIdOf, writeIdMaps } from '../../../src/ns/id-maps';
import type { IdMapping } from '../../../src/spec/types';
import { errorOf } from '../../helpers/errors';

const ROOT_ONLY: IdMapping[] = [{ containerID: 0, hostID: 1000, size: 1 }];
const TWO_RANGES: IdMapping[] = [
  { containerID: 0, hostID: 100000, size: 1000 },
  { containerID: 1000, hostID: 5000, size: 10 },
];

describe('formatIdMap', () => {
  it('writes one "inside outside count" line per range', () => {
    expect(formatIdMap(ROOT_ONLY)).toBe('0 1000 1\n');
    expect(formatIdMap(TWO_RANGES)).toBe('0 100000 1000\n1000 5000 10\n');
  });

  it('keeps the config order of the ranges', () => {
    expect(formatIdMap([...TWO_RANGES].reverse())).toBe('1000 5000 10\n0 100000 1000\n');
  });

  it('writes 32-bit IDs in full, without exponent notation', () => {
    expect(formatIdMap([{ containerID: 0, hostID: 4294967294, size: 1 }, { containerID: 1, hostID: 0, size: 4294967295 }])).toBe(
      '0 4294967294 1\n1 0 4294967295\n',
    );
  });

  it('writes nothing for no ranges', () => {
    expect(formatIdMap([])).toBe('');
  });
});

describe('hostIdOf', () => {
  it('maps the first and the last ID of a range', () => {
    expect(hostIdOf(0, TWO_RANGES)).toBe(100000);
    expect(hostIdOf(999, TWO_RANGES)).toBe(100999);
    expect(hostIdOf(1000, TWO_RANGES)).toBe(5000);
    expect(hostIdOf(1009, TWO_RANGES)).toBe(5009);
  });

  it('maps an ID in the middle of a range by its offset', () => {
    expect(hostIdOf(42, TWO_RANGES)).toBe(100042);
    expect(hostIdOf(1005, TWO_RANGES)).toBe(5005);
  });

  it('returns undefined just past the end of the last range', () => {
    expect(hostIdOf(1010, TWO_RANGES)).toBeUndefined();
    expect(hostIdOf(1, ROOT_ONLY)).toBeUndefined();
  });

  it('returns undefined below a range and in a gap between ranges', () => {
    const gapped: IdMapping[] = [{ containerID: 10, hostID: 0, size: 5 }, { containerID: 20, hostID: 100, size: 5 }];
    expect(hostIdOf(9, gapped)).toBeUndefined();
    expect(hostIdOf(15, gapped)).toBeUndefined();
    expect(hostIdOf(19, gapped)).toBeUndefined();
    expect(hostIdOf(20, gapped)).toBe(100);
  });

  it('maps nothing through a range of size 0 or without ranges', () => {
    expect(hostIdOf(0, [{ containerID: 0, hostID: 1000, size: 0 }])).toBeUndefined();
    expect(hostIdOf(0, [])).toBeUndefined();
  });

  it('maps host ID 0 (a falsy result) correctly', () => {
    expect(hostIdOf(5, [{ containerID: 5, hostID: 0, size: 1 }])).toBe(0);
  });

  it('takes the first matching range', () => {
    expect(hostIdOf(3, [{ containerID: 0, hostID: 100, size: 10 }, { containerID: 3, hostID: 900, size: 1 }])).toBe(103);
  });

  it('handles the top of the 32-bit ID space', () => {
    expect(hostIdOf(4294967294, [{ containerID: 0, hostID: 0, size: 4294967295 }])).toBe(4294967294);
    expect(hostIdOf(4294967295, [{ containerID: 0, hostID: 0, size: 4294967295 }])).toBeUndefined();
  });
});

describe('formatTimeOffsets', () => {
  it('writes one "clock secs nanosecs" line per clock', () => {
    expect(formatTimeOffsets([{ clock: 'monotonic', secs: 10n, nanosecs: 5 }, { clock: 'boottime', secs: 0n, nanosecs: 0 }])).toBe(
      'monotonic 10 5\nboottime 0 0\n',
    );
  });

  it('writes bigint seconds exactly, negative ones too', () => {
    expect(formatTimeOffsets([{ clock: 'monotonic', secs: 9007199254740993n, nanosecs: 1 }])).toBe('monotonic 9007199254740993 1\n');
    expect(formatTimeOffsets([{ clock: 'boottime', secs: -9223372036854775808n, nanosecs: 999999999 }])).toBe(
      'boottime -9223372036854775808 999999999\n',
    );
    expect(formatTimeOffsets([{ clock: 'monotonic', secs: -1n, nanosecs: 0 }])).toBe('monotonic -1 0\n');
  });

  it('writes nothing for no offsets', () => {
    expect(formatTimeOffsets([])).toBe('');
  });
});

describe('writeIdMaps', () => {
  let procRoot: string;

  beforeEach(() => {
    procRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-idmaps-'));
  });

  afterEach(() => {
    fs.rmSync(procRoot, { recursive: true, force: true });
  });

  it('writes uid_map and gid_map of the process under procRoot', () => {
    fs.mkdirSync(path.join(procRoot, '4242'));
    writeIdMaps(4242, ROOT_ONLY, TWO_RANGES, procRoot);
    expect(fs.readFileSync(path.join(procRoot, '4242/uid_map'), 'utf8')).toBe('0 1000 1\n');
    expect(fs.readFileSync(path.join(procRoot, '4242/gid_map'), 'utf8')).toBe('0 100000 1000\n1000 5000 10\n');
    expect(fs.readdirSync(path.join(procRoot, '4242')).sort()).toEqual(['gid_map', 'uid_map']);
  });

  it('names /linux/uidMappings, the file and the error code when uid_map cannot be written, and skips gid_map', () => {
    const e = errorOf(() => writeIdMaps(999, ROOT_ONLY, ROOT_ONLY, procRoot));
    expect(e.code).toBe('id-map');
    expect(e.message).toBe(
      `config.json: /linux/uidMappings: write ${procRoot}/999/uid_map: ENOENT (overlapping ranges, more than 340 lines, or host IDs tsrun may not map?)`,
    );
    expect(fs.existsSync(path.join(procRoot, '999'))).toBe(false);
  });

  it('names /linux/gidMappings when only gid_map cannot be written', () => {
    fs.mkdirSync(path.join(procRoot, '7'));
    fs.mkdirSync(path.join(procRoot, '7/gid_map'));
    const e = errorOf(() => writeIdMaps(7, ROOT_ONLY, ROOT_ONLY, procRoot));
    expect(e.code).toBe('id-map');
    expect(e.message).toBe(
      `config.json: /linux/gidMappings: write ${procRoot}/7/gid_map: EISDIR (overlapping ranges, more than 340 lines, or host IDs tsrun may not map?)`,
    );
    expect(fs.readFileSync(path.join(procRoot, '7/uid_map'), 'utf8')).toBe('0 1000 1\n');
  });

  it('writes to /proc by default (a missing PID fails with the /proc path)', () => {
    // PID 0 never has a /proc entry.
    const e = errorOf(() => writeIdMaps(0, ROOT_ONLY, ROOT_ONLY));
    expect(e.message).toMatch(/^config\.json: \/linux\/uidMappings: write \/proc\/0\/uid_map: E[A-Z]+ \(/);
  });
});
