import type { Sys } from '../linux/sys';
import type { StateStore } from './state-store';
import type { TestPause } from './test-pause';

/** What the lifecycle operations need from the outside world, passed in so tests can substitute fakes. */
export interface RuntimeContext {
  sys: Sys;
  store: StateStore;
  /** Writes a warning to the log (never to stdout, which callers parse). */
  warn(message: string): void;
  /**
   * tsrun runs without privilege on the host (--rootless, or auto-detected from a non-zero euid): only the
   * caller's own uid and gid can be mapped into a user namespace, and setgroups is denied there.
   */
  rootless?: boolean;
  /** TSRUN_TEST_PAUSE, read once by the CLI (test-only; see test-pause.ts). */
  testPause?: TestPause | undefined;
}
