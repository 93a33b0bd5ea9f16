import { RuntimeError } from '../../src/errors';

/** The RuntimeError `fn` throws; fails the test if it throws something else or nothing. */
export function errorOf(fn: () => unknown): RuntimeError {
  try {
    fn();
  } catch (error) {
    if (error instanceof RuntimeError) return error;
    throw error;
  }
  throw new Error('expected a RuntimeError');
}
