import { RuntimeError } from '../errors';
import { OpenFlags } from '../linux/constants';

/**
 * Test-only switch (docs/architecture.md, "Test-only switches"): `TSRUN_TEST_PAUSE=<step>:<fifo path>` makes the
 * named step block by opening the fifo for writing, so an integration test can inspect a process at a moment
 * that is otherwise far too short to catch. Inert unless the variable is set.
 */
export interface TestPause {
  step: TestPauseStep;
  /** Absolute path of a fifo made by the test; the step continues once the test opens it for reading. */
  fifo: string;
}

/** `exec-joined`: the `tsrun exec` process, inside the container's namespaces, before it takes on the process. */
export const TEST_PAUSE_STEPS = ['exec-joined'] as const;
export type TestPauseStep = (typeof TEST_PAUSE_STEPS)[number];

/** Parses the variable's value; undefined or empty means no pause. Pure: the caller reads the environment. */
export function parseTestPause(value: string | undefined): TestPause | undefined {
  if (value === undefined || value === '') return undefined;
  const colon = value.indexOf(':');
  const step = colon < 0 ? value : value.slice(0, colon);
  const fifo = colon < 0 ? '' : value.slice(colon + 1);
  if (!(TEST_PAUSE_STEPS as readonly string[]).includes(step)) {
    throw new RuntimeError('usage', `TSRUN_TEST_PAUSE: unknown step ${JSON.stringify(step)} (known: ${TEST_PAUSE_STEPS.join(', ')})`);
  }
  if (!fifo.startsWith('/')) {
    throw new RuntimeError('usage', `TSRUN_TEST_PAUSE: the fifo must be an absolute path after "${step}:", got ${JSON.stringify(fifo)}`);
  }
  return { step: step as TestPauseStep, fifo };
}

/** What a pause needs from the system: the caller's Sys fits. */
export interface PauseIo {
  open(path: string, flags: number): number;
  close(fd: number): void;
}

/**
 * The pause of `step`, if the switch names it. The fifo is opened O_PATH now, by tsrun, because the paused
 * process may no longer see the host's paths (it sits in the container's mount namespace); it reopens the fifo
 * through /proc/self/fd for writing, which blocks until the test opens the read side. `fd` must be kept open
 * across the fork and closed by the caller afterwards.
 */
export function pauseFor(pause: TestPause | undefined, step: TestPauseStep, io: PauseIo): { fd: number; wait: () => void } | undefined {
  if (pause?.step !== step) return undefined;
  const fd = io.open(pause.fifo, OpenFlags.PATH | OpenFlags.CLOEXEC);
  return {
    fd,
    wait: () => io.close(io.open(`/proc/self/fd/${fd}`, OpenFlags.WRONLY | OpenFlags.CLOEXEC)),
  };
}
