// docker's -v and --mount syntaxes, parsed into mount requests: accepted forms and one-line refusals.
import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../src/errors';
import { checkTarget, parseMountFlag, parseSize, parseVolumeFlag } from '../../../../src/plugins/volume/mount-spec';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RuntimeError);
    expect((error as RuntimeError).code).toBe('usage');
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('parseVolumeFlag (-v)', () => {
  it('a name is a volume, an absolute path a bind mount; ro, rw and nocopy', () => {
    expect(parseVolumeFlag('data:/var/lib/data')).toEqual({ kind: 'volume', name: 'data', target: '/var/lib/data', readonly: false, nocopy: false });
    expect(parseVolumeFlag('data:/d:ro,nocopy')).toEqual({ kind: 'volume', name: 'data', target: '/d', readonly: true, nocopy: true });
    expect(parseVolumeFlag('/srv/www:/www/:rw')).toEqual({ kind: 'bind', source: '/srv/www', target: '/www', readonly: false, createSource: false });
  });

  it('refuses what docker refuses, naming the flag', () => {
    expect(refusal(() => parseVolumeFlag('data'))).toBe('-v data: expected SOURCE:DEST[:OPTIONS] (SOURCE a volume name or an absolute host path)');
    expect(refusal(() => parseVolumeFlag('data:relative'))).toBe('-v data:relative: the destination "relative" must be an absolute path in the container');
    expect(refusal(() => parseVolumeFlag('data:/a/../b'))).toBe('-v data:/a/../b: the destination "/a/../b" may not contain "." or ".."');
    expect(refusal(() => parseVolumeFlag('data:/'))).toBe('-v data:/: the destination cannot be / itself');
    expect(refusal(() => parseVolumeFlag('data:/d:z'))).toBe('-v data:/d:z: unknown option "z" (expected ro, rw or nocopy)');
    expect(refusal(() => parseVolumeFlag('/h:/d:nocopy'))).toBe('-v /h:/d:nocopy: nocopy applies to volumes, not to host paths');
    expect(refusal(() => parseVolumeFlag(':/d'))).toMatch(/^-v :\/d: expected SOURCE:DEST/);
  });
});

describe('parseMountFlag (--mount)', () => {
  it('volume (the default type), bind and tmpfs, with docker\'s aliases', () => {
    expect(parseMountFlag('source=data,target=/d')).toEqual({ kind: 'volume', name: 'data', target: '/d', readonly: false, nocopy: false });
    expect(parseMountFlag('type=volume,src=data,dst=/d,ro,volume-nocopy')).toEqual({ kind: 'volume', name: 'data', target: '/d', readonly: true, nocopy: true });
    expect(parseMountFlag('type=bind,source=/h,destination=/d,readonly=true,bind-create-src')).toEqual({ kind: 'bind', source: '/h', target: '/d', readonly: true, createSource: true });
    expect(parseMountFlag('type=tmpfs,target=/scratch,tmpfs-size=64m,tmpfs-mode=1770')).toEqual({ kind: 'tmpfs', target: '/scratch', readonly: false, sizeBytes: 64 * 1024 ** 2, mode: 0o1770 });
    expect(parseMountFlag('type=tmpfs,target=/t')).toEqual({ kind: 'tmpfs', target: '/t', readonly: false });
  });

  it('refuses unknown types and keys, missing fields and bad values', () => {
    expect(refusal(() => parseMountFlag('type=nfs,target=/d'))).toBe('--mount type=nfs,target=/d: type "nfs" is not volume, bind or tmpfs');
    expect(refusal(() => parseMountFlag('type=tmpfs,source=x,target=/d'))).toBe('--mount type=tmpfs,source=x,target=/d: source does not apply to type=tmpfs (expected target, readonly, tmpfs-size, tmpfs-mode)');
    expect(refusal(() => parseMountFlag('type=bind,target=/d'))).toBe('--mount type=bind,target=/d: a bind mount needs source=<absolute host path>');
    expect(refusal(() => parseMountFlag('type=bind,source=rel,target=/d'))).toBe('--mount type=bind,source=rel,target=/d: a bind mount\'s source must be an absolute host path, got "rel"');
    expect(refusal(() => parseMountFlag('source=data'))).toBe('--mount source=data: target=… is required');
    expect(refusal(() => parseMountFlag('source=data,target=/d,readonly=maybe'))).toBe('--mount source=data,target=/d,readonly=maybe: readonly=maybe must be true or false');
    expect(refusal(() => parseMountFlag('source=a,src=b,target=/d'))).toBe('--mount source=a,src=b,target=/d: source is given twice');
    expect(refusal(() => parseMountFlag('type=tmpfs,target=/d,tmpfs-mode=999'))).toMatch(/tmpfs-mode "999" must be octal/);
    expect(refusal(() => parseMountFlag('type=tmpfs,target=/d,tmpfs-size=lots'))).toMatch(/"lots" is not a size/);
  });
});

describe('helpers', () => {
  it('checkTarget cleans repeated and trailing slashes', () => {
    expect(checkTarget('//a//b/', 'x')).toBe('/a/b');
  });
  it('parseSize takes bytes, k, m, g', () => {
    expect([parseSize('4096', 'x'), parseSize('1k', 'x'), parseSize('2M', 'x'), parseSize('1g', 'x')]).toEqual([4096, 1024, 2 * 1024 ** 2, 1024 ** 3]);
    expect(() => parseSize('0', 'x')).toThrow(/not a positive size/);
  });
});
