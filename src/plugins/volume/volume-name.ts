import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { RuntimeError, describeValue } from '../../errors';

/**
 * Volume names, by docker's rule for its `local` driver: a letter or digit, then letters, digits, `_`, `.` or `-`.
 * A name is a directory name in the volume store, so it is also held to NAME_MAX (255 bytes; valid names are
 * ASCII) and can never name a path outside the store (no `/`, no leading `.`).
 */

export const MAX_VOLUME_NAME_LENGTH = 255;

const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Bytes of randomness in an anonymous volume's name: 32, written as 64 lowercase hex digits like docker's. */
const RANDOM_NAME_BYTES = 32;

/** True when `name` can name a volume; `validateVolumeName` says why not. */
export function isValidVolumeName(name: string): boolean {
  return name.length <= MAX_VOLUME_NAME_LENGTH && NAME_PATTERN.test(name);
}

/** Throws a one-line usage error unless `name` can name a volume. */
export function validateVolumeName(name: string): void {
  if (isValidVolumeName(name)) return;
  const what = `volume name ${describeValue(name)}`;
  if (name === '') throw new RuntimeError('usage', `${what}: must not be empty`);
  if (name.includes('/')) {
    throw new RuntimeError('usage', `${what}: a name cannot contain "/"; to mount a host directory use a bind mount of its absolute path`);
  }
  if (name.length > MAX_VOLUME_NAME_LENGTH) {
    throw new RuntimeError('usage', `${what}: must be at most ${MAX_VOLUME_NAME_LENGTH} characters, got ${name.length}`);
  }
  throw new RuntimeError(
    'usage',
    `${what}: must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (a letter or digit, then letters, digits, "_", "." or "-")`,
  );
}

/**
 * A fresh name for an anonymous volume: 64 lowercase hex digits, as docker gives them. `randomBytes` is the
 * source of randomness (node:crypto's by default; tests pass their own).
 */
export function randomVolumeName(randomBytes: (size: number) => Uint8Array = cryptoRandomBytes): string {
  const bytes = randomBytes(RANDOM_NAME_BYTES);
  if (bytes.length !== RANDOM_NAME_BYTES) {
    throw new RuntimeError('internal', `randomVolumeName: the random source returned ${bytes.length} bytes, expected ${RANDOM_NAME_BYTES}`);
  }
  return Buffer.from(bytes).toString('hex');
}
