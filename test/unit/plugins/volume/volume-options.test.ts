import { describe, expect, it } from 'vitest';
import { errorOf } from '../../../helpers/errors';
import {
  checkVolumeLabels,
  checkVolumeOptions,
  describeVolumeOptions,
  formatTmpfsOptions,
  parseTmpfsOptions,
  parseVolumeLabels,
  parseVolumeOptions,
  sameVolumeOptions,
  tmpfsMountOptions,
  volumeKind,
} from '../../../../src/plugins/volume/volume-options';

function usage(fn: () => unknown): string {
  const error = errorOf(fn);
  expect(error.code).toBe('usage');
  expect(error.message).not.toContain('\n');
  return error.message;
}

const TMPFS = ['type=tmpfs', 'device=tmpfs'];

describe('parseVolumeLabels', () => {
  it('maps KEY=VALUE; KEY alone is empty, a later key wins, values may hold "="', () => {
    expect(parseVolumeLabels([])).toEqual({});
    expect(parseVolumeLabels(['team=db', 'tier=', 'backup', 'url=a=b', 'team=web'])).toEqual({ team: 'web', tier: '', backup: '', url: 'a=b' });
  });

  it('refuses an empty name', () => {
    expect(usage(() => parseVolumeLabels(['=x']))).toBe('--label "=x": the label name must not be empty, expected KEY=VALUE');
    expect(usage(() => parseVolumeLabels([' =x']))).toContain('the label name must not be empty');
    expect(usage(() => parseVolumeLabels(['']))).toContain('the label name must not be empty');
  });

  it('keeps "__proto__" as a plain label', () => {
    const labels = parseVolumeLabels(['__proto__=x']);
    expect(Object.keys(labels)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
  });
});

describe('parseVolumeOptions', () => {
  it('takes no options: a plain directory', () => {
    expect(parseVolumeOptions([])).toEqual({});
    expect(volumeKind({})).toEqual({ kind: 'directory' });
  });

  it("takes docker's tmpfs example", () => {
    const options = parseVolumeOptions([...TMPFS, 'o=size=100m,uid=1000']);
    expect(options).toEqual({ type: 'tmpfs', device: 'tmpfs', o: 'size=100m,uid=1000' });
    expect(volumeKind(options)).toEqual({ kind: 'tmpfs', device: 'tmpfs', tmpfs: { size: 100 * 1024 * 1024, uid: 1000 } });
  });

  it('takes type and device without o', () => {
    expect(volumeKind(parseVolumeOptions(TMPFS))).toEqual({ kind: 'tmpfs', device: 'tmpfs', tmpfs: {} });
  });

  it('names unknown keys', () => {
    expect(usage(() => parseVolumeOptions(['size=1g']))).toBe('--opt "size": unknown option, the local driver takes type, device, o');
    expect(usage(() => parseVolumeOptions([...TMPFS, 'foo=1', 'bar=2']))).toBe('--opt "foo", "bar": unknown options, the local driver takes type, device, o');
  });

  it('wants KEY=VALUE, each key once', () => {
    expect(usage(() => parseVolumeOptions(['type']))).toBe('--opt "type": must be KEY=VALUE (keys: type, device, o)');
    expect(usage(() => parseVolumeOptions(['=tmpfs']))).toContain('must be KEY=VALUE');
    expect(usage(() => parseVolumeOptions([...TMPFS, 'o=size=1m', 'o=size=2m']))).toBe('--opt o: given twice ("size=1m" and "size=2m"), expected once');
  });

  it('wants type, device and o together, like docker', () => {
    expect(usage(() => parseVolumeOptions(['type=tmpfs']))).toBe(
      '--opt type: needs --opt device=... as well (e.g. --opt type=tmpfs --opt device=tmpfs --opt o=size=64m)',
    );
    expect(usage(() => parseVolumeOptions(['device=tmpfs']))).toContain('--opt device: needs --opt type=... as well');
    expect(usage(() => parseVolumeOptions(['o=size=1m']))).toContain('--opt o: needs --opt type=... and --opt device=... as well');
  });

  it('mounts only tmpfs', () => {
    expect(usage(() => parseVolumeOptions(['type=nfs', 'device=:/export']))).toBe('--opt type="nfs": not supported, expected tmpfs');
    expect(usage(() => parseVolumeOptions(['type=', 'device=x']))).toContain('--opt type="": not supported');
  });

  it('refuses an empty device', () => {
    expect(usage(() => parseVolumeOptions(['type=tmpfs', 'device=']))).toBe('--opt device="": must not be empty, expected e.g. --opt device=tmpfs');
  });

  it('refuses a bad o, naming it', () => {
    expect(usage(() => parseVolumeOptions([...TMPFS, 'o=size=lots']))).toBe(
      '--opt o="size=lots": size "lots" must be a number of bytes with an optional k, m or g suffix (e.g. 64m)',
    );
  });
});

describe('parseTmpfsOptions', () => {
  it('reads size with k, m, g (1024-based, either case), mode in octal, uid and gid', () => {
    expect(parseTmpfsOptions('')).toEqual({});
    expect(parseTmpfsOptions('size=123')).toEqual({ size: 123 });
    expect(parseTmpfsOptions('size=64k')).toEqual({ size: 65536 });
    expect(parseTmpfsOptions('size=64m')).toEqual({ size: 67108864 });
    expect(parseTmpfsOptions('size=2G')).toEqual({ size: 2 * 1024 ** 3 });
    expect(parseTmpfsOptions('mode=1777,uid=1000,gid=0')).toEqual({ mode: 0o1777, uid: 1000, gid: 0 });
    expect(parseTmpfsOptions('mode=0755')).toEqual({ mode: 0o755 });
    expect(parseTmpfsOptions('uid=4294967294')).toEqual({ uid: 4294967294 });
  });

  it.each([
    ['size=64x', 'size "64x" must be a number of bytes with an optional k, m or g suffix (e.g. 64m)'],
    ['size=-1', 'size "-1" must be a number of bytes'],
    ['size=1.5g', 'size "1.5g" must be a number of bytes'],
    ['size=50%', 'size "50%" must be a number of bytes'],
    ['size=0', 'size "0" must be more than 0 bytes (leave size out for the kernel default)'],
    ['size=99999999999g', 'size "99999999999g" must be a size tsrun can represent (at most 8 PiB)'],
    ['mode=8', 'mode "8" must be octal permission bits, at most 7777 (e.g. 1777 or 0755)'],
    ['mode=17777', 'mode "17777" must be octal permission bits'],
    ['mode=', 'mode "" must be octal permission bits'],
    ['uid=-1', 'uid "-1" must be a decimal ID from 0 to 4294967294'],
    ['uid=4294967295', 'uid "4294967295" must be a decimal ID from 0 to 4294967294'],
    ['gid=staff', 'gid "staff" must be a decimal ID'],
    ['nr_inodes=10', 'tmpfs option "nr_inodes" is not supported, expected size, mode, uid or gid'],
    ['ro', '"ro" is not KEY=VALUE, expected size, mode, uid or gid (e.g. size=64m,uid=1000)'],
    ['size=1m,', '"" is not KEY=VALUE'],
    ['size=1m,size=2m', 'size is given twice, expected once'],
  ])('refuses %j', (text, detail) => {
    const message = usage(() => parseTmpfsOptions(text));
    expect(message.startsWith(`--opt o=${JSON.stringify(text)}: `)).toBe(true);
    expect(message).toContain(detail);
  });
});

describe('tmpfsMountOptions', () => {
  it('gives the OCI mount options of a tmpfs volume: bytes and octal, in a fixed order', () => {
    expect(tmpfsMountOptions({ type: 'tmpfs', device: 'tmpfs', o: 'size=64m,mode=1777' })).toEqual(['size=67108864', 'mode=1777']);
    expect(tmpfsMountOptions({ type: 'tmpfs', device: 'tmpfs', o: 'gid=5,uid=1000,mode=0755,size=1k' })).toEqual([
      'size=1024',
      'mode=755',
      'uid=1000',
      'gid=5',
    ]);
    expect(tmpfsMountOptions({ type: 'tmpfs', device: 'tmpfs' })).toEqual([]);
    expect(formatTmpfsOptions({ mode: 0 })).toEqual(['mode=0']);
  });

  it('refuses the options of a plain volume', () => {
    expect(usage(() => tmpfsMountOptions({}))).toBe('volume options {}: not a tmpfs volume, expected --opt type=tmpfs');
  });
});

describe('helpers', () => {
  it('describes options in type, device, o order', () => {
    expect(describeVolumeOptions({})).toBe('no options');
    expect(describeVolumeOptions({ o: 'size=1m', device: 'tmpfs', type: 'tmpfs' })).toBe('type=tmpfs device=tmpfs o=size=1m');
  });

  it('compares options regardless of order', () => {
    expect(sameVolumeOptions({ type: 'tmpfs', device: 'x' }, { device: 'x', type: 'tmpfs' })).toBe(true);
    expect(sameVolumeOptions({}, {})).toBe(true);
    expect(sameVolumeOptions({ type: 'tmpfs', device: 'x' }, { type: 'tmpfs', device: 'y' })).toBe(false);
    expect(sameVolumeOptions({ type: 'tmpfs', device: 'x' }, { type: 'tmpfs', device: 'x', o: '' })).toBe(false);
  });

  it('checks maps given to the store directly', () => {
    expect(checkVolumeLabels({ a: 'b' })).toEqual({ a: 'b' });
    expect(usage(() => checkVolumeLabels(['a=b']))).toBe('--label: must map names to strings, got ["a=b"]');
    expect(usage(() => checkVolumeLabels({ a: 1 }))).toBe('--label a: the value must be a string, got 1');
    expect(usage(() => checkVolumeLabels({ '': 'x' }))).toBe('--label "": the label name must not be empty');
    expect(usage(() => checkVolumeOptions({ type: 'tmpfs' }))).toContain('--opt type: needs --opt device=...');
    expect(usage(() => checkVolumeOptions(null))).toBe('--opt: must map names to strings, got null');
  });
});
