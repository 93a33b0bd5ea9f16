import { describe, expect, it } from 'vitest';
import { MAX_CONTAINER_ID_LENGTH, isValidContainerId, validateContainerId } from '../../../src/spec/container-id';
import { errorOf } from '../../helpers/errors';

describe('validateContainerId', () => {
  it.each([
    'a', 'Z', '0', 'abc', 'ABC-def_123', 'a.b', 'a+b', '_', '-', '+', '...', '.a', 'a.', '..a', 'a..', '.hidden',
    'f'.repeat(64), 'x'.repeat(MAX_CONTAINER_ID_LENGTH),
  ])('accepts %j', (id) => {
    expect(isValidContainerId(id)).toBe(true);
    expect(() => validateContainerId(id)).not.toThrow();
  });

  it.each([
    '', '.', '..', '/', 'a/b', '../etc', '/abs', 'a b', ' a', 'a ', 'a\tb', 'a\nb', 'a:b', 'a,b', 'a@b', 'a~b',
    'a*b', 'é', 'a\u0000b', '\\', 'x'.repeat(MAX_CONTAINER_ID_LENGTH + 1),
  ])('rejects %j', (id) => {
    expect(isValidContainerId(id)).toBe(false);
    const error = errorOf(() => validateContainerId(id));
    expect(error.code).toBe('invalid-id');
    expect(error.message).toContain('invalid container ID format');
  });

  it('quotes the id with JSON so empty and blank ids are visible', () => {
    expect(errorOf(() => validateContainerId('')).message).toBe('invalid container ID format: ""');
    expect(errorOf(() => validateContainerId('a b')).message).toBe('invalid container ID format: "a b"');
    expect(errorOf(() => validateContainerId('a\nb')).message).toBe('invalid container ID format: "a\\nb"');
  });

  it('shortens a long id in the message', () => {
    const message = errorOf(() => validateContainerId('/'.repeat(5000))).message;
    expect(message.length).toBeLessThan(120);
    expect(message).toMatch(/^invalid container ID format: "\/+\.\.\.$/);
  });
});
