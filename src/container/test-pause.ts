import { closeSync, openSync, readSync } from 'node:fs';
import { RuntimeError } from '../errors';
import { OpenFlags } from '../linux/constants';

/**
 * Test-only switch (docs/architecture.md, "Test-only switches"): `TSRUN_TEST_PAUSE=<step>:<fifo path>` makes the
 * named step stop, so an integration test can inspect a process there, or SIGKILL tsrun there, at a moment that is
 * otherwise far too short to catch. Inert unless the variable is set.
 *
 * Protocol, race-free in both directions: at the step the process opens the fifo for READING. That open blocks
 * until the test opens the fifo for writing, and the test's open returns only then — its proof that tsrun has
 * arrived. The process then reads until end of file: it stays where it is until the test closes its end (or kills
 * it there). Nothing polls or sleeps.
 */
export interface TestPause {
  step: TestPauseStep;
  /** Absolute path of a fifo made by the test. */
  fifo: string;
}

/**
 * The steps, in the order a container's life meets them (each runs in the tsrun process of that command unless
 * noted):
 * - `create-dir`: the state directory exists, nothing else does.
 * - `create-cgroups`: the container's cgroups exist with their limits (and are recorded), no init yet.
 * - `create-init`: the init announced itself; it builds the root filesystem meanwhile.
 * - `create-hooks`: the prestart/createRuntime hooks have run; the init waits for tsrun's go (only with hooks).
 * - `create-ready`: the init is ready and waits for tsrun's go; state.json is not written yet.
 * - `create-state`: state.json (and the pid file) are written; the init still waits for tsrun's go.
 * - `create-done`: the init was let on to exec.fifo; `create` is about to return.
 * - `start-checked`: the container was found `created`; the init is not released yet.
 * - `start-released`: the process was executed and exec.fifo removed; poststart has not run.
 * - `exec-joined`: the new process of `tsrun exec` (not tsrun itself), inside the container's namespaces, before
 *   it takes on the process's settings.
 * - `exec-spawned`: the process of `tsrun exec` runs; tsrun has not started waiting for it.
 * - `delete-checked`: the container was found; nothing is killed yet.
 * - `delete-killed`: the init is dead; the cgroups still exist.
 * - `delete-cgroups-removed`: the cgroups are gone; the state directory still exists.
 */
export const TEST_PAUSE_STEPS = [
  'create-dir', 'create-cgroups', 'create-init', 'create-hooks', 'create-ready', 'create-state', 'create-done',
  'start-checked', 'start-released',
  'exec-joined', 'exec-spawned',
  'delete-checked', 'delete-killed', 'delete-cgroups-removed',
] as const;
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

/** Opens the fifo for reading (blocks until the test opens it for writing), then reads until the test closes it. */
function holdUntilReleased(open: () => number, close: (fd: number) => void): void {
  const fd = open();
  try {
    const buffer = Buffer.alloc(64);
    while (readSync(fd, buffer, 0, buffer.length, null) > 0);
  } finally {
    close(fd);
  }
}

/** The pause of `step` in this (tsrun's own) process, if the switch names it; otherwise returns at once. */
export function pauseAt(pause: TestPause | undefined, step: TestPauseStep): void {
  if (pause?.step !== step) return;
  holdUntilReleased(() => openSync(pause.fifo, OpenFlags.RDONLY | OpenFlags.CLOEXEC), closeSync);
}

/** What a pause in a forked child needs from the system: the caller's Sys fits. */
export interface PauseIo {
  open(path: string, flags: number): number;
  close(fd: number): void;
}

/**
 * The pause of `step` in a forked child, if the switch names it. The fifo is opened O_PATH now, by tsrun, because
 * the paused process may no longer see the host's paths (it sits in the container's mount namespace); `wait`
 * reopens it through /proc/self/fd for reading. `fd` must be kept open across the fork and closed by the caller
 * afterwards.
 */
export function pauseFor(pause: TestPause | undefined, step: TestPauseStep, io: PauseIo): { fd: number; wait: () => void } | undefined {
  if (pause?.step !== step) return undefined;
  const fd = io.open(pause.fifo, OpenFlags.PATH | OpenFlags.CLOEXEC);
  return {
    fd,
    wait: () => holdUntilReleased(() => io.open(`/proc/self/fd/${fd}`, OpenFlags.RDONLY | OpenFlags.CLOEXEC), (f) => io.close(f)),
  };
}
