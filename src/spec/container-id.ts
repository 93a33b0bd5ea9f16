import { Phrases, RuntimeError, describeValue } from '../errors';

/**
 * Longest id accepted: NAME_MAX (255 bytes; valid ids are ASCII), because an id is a directory name under `--root`.
 * runc sets no limit of its own and fails at mkdir or open with ENAMETOOLONG instead; refusing up front gives the
 * one phrase callers match and keeps absurd input out of messages and lock hashing.
 */
export const MAX_CONTAINER_ID_LENGTH = 255;

// runc's rule: letters, digits and `_ + - .`, nothing else (no `/`, so an id can never name a path outside --root).
const ID_PATTERN = /^[A-Za-z0-9_+.-]+$/;

/** True when `id` is acceptable as a container id; `validateContainerId` says why not. */
export function isValidContainerId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_CONTAINER_ID_LENGTH && ID_PATTERN.test(id) && id !== '.' && id !== '..';
}

/**
 * Throws unless `id` is a valid container id. Callers (containerd, podman) match the phrase
 * "invalid container ID format", so it stays verbatim; the id is quoted (and shortened) to make empty or
 * whitespace ids visible.
 */
export function validateContainerId(id: string): void {
  if (!isValidContainerId(id)) {
    throw new RuntimeError('invalid-id', `${Phrases.invalidId}: ${describeValue(id)}`);
  }
}
