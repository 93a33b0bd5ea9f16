import { describe, expect, it } from 'vitest';
import { errorOf } from '../../../helpers/errors';
import { MAX_VOLUME_NAME_LENGTH, isValidVolumeName, randomVolumeName, validateVolumeName } from '../../../../src/plugins/volume/volume-name';

function refusal(name: string): string {
  const error = errorOf(() => validateVolumeName(name));
  expect(error.code).toBe('usage');
  expect(error.message).not.toContain('\n');
  return error.message;
}

describe('validateVolumeName', () => {
  it.each(['a', 'Z', '0', 'web-data', 'my_vol.v2', 'a..b', 'A-_.', 'x'.repeat(MAX_VOLUME_NAME_LENGTH), 'f'.repeat(64)])('accepts %j', (name) => {
    expect(isValidVolumeName(name)).toBe(true);
    expect(() => validateVolumeName(name)).not.toThrow();
  });

  it('refuses the empty name', () => {
    expect(refusal('')).toBe('volume name "": must not be empty');
  });

  it('says a name cannot contain "/"', () => {
    expect(refusal('a/b')).toBe('volume name "a/b": a name cannot contain "/"; to mount a host directory use a bind mount of its absolute path');
    expect(refusal('/srv/data')).toContain('a name cannot contain "/"');
    expect(refusal('../x')).toContain('a name cannot contain "/"');
  });

  it('refuses names longer than 255 characters', () => {
    const name = 'a'.repeat(256);
    expect(refusal(name)).toMatch(/^volume name "a+\.\.\.: must be at most 255 characters, got 256$/);
  });

  it.each(['-x', '.x', '_x', '.', '..', '.tmp-1', 'a b', 'a:b', 'tab\t', 'é', 'a\nb'])('refuses %j, naming the rule', (name) => {
    expect(isValidVolumeName(name)).toBe(false);
    expect(refusal(name)).toContain('must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (a letter or digit, then letters, digits, "_", "." or "-")');
  });
});

describe('randomVolumeName', () => {
  it('is 64 lowercase hex digits of 32 random bytes', () => {
    const sizes: number[] = [];
    const name = randomVolumeName((size) => {
      sizes.push(size);
      return Uint8Array.from({ length: size }, (_, i) => i * 7 + 0xa0);
    });
    expect(sizes).toEqual([32]);
    expect(name).toBe(Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 0xa0)).toString('hex'));
    expect(name).toMatch(/^[0-9a-f]{64}$/);
    expect(isValidVolumeName(name)).toBe(true);
  });

  it('uses node:crypto by default: a new name each time', () => {
    const a = randomVolumeName();
    const b = randomVolumeName();
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toMatch(/^[0-9a-f]{64}$/);
    expect(a).not.toBe(b);
  });

  it('refuses a source that returns the wrong number of bytes', () => {
    expect(errorOf(() => randomVolumeName(() => new Uint8Array(4))).message).toBe(
      'randomVolumeName: the random source returned 4 bytes, expected 32',
    );
  });
});
