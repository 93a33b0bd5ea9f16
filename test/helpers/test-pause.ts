import fs from 'node:fs';
import fsp from 'node:fs/promises';

/**
 * The test's side of TSRUN_TEST_PAUSE (src/container/test-pause.ts, docs/architecture.md "Test-only switches"):
 * the paused step opens the fifo for reading, so the test's open for writing returns exactly when tsrun has
 * arrived there; tsrun then stays until the returned handle is closed (or until the test kills it).
 *
 * `gaveUp` settles with a reason when tsrun can no longer arrive (it exited, a timeout): the pending open is then
 * completed by a reader of the test's own and the promise rejects with that reason. The blocking open runs in
 * libuv's thread pool, never on the event loop.
 */
export async function pauseArrival(fifo: string, gaveUp: Promise<string>): Promise<fsp.FileHandle> {
  const opening = fsp.open(fifo, fs.constants.O_WRONLY);
  const outcome = await Promise.race([opening.then((handle) => ({ handle })), gaveUp.then((why) => ({ why }))]);
  if ('handle' in outcome) return outcome.handle;
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    await (await opening).close();
  } finally {
    fs.closeSync(reader);
  }
  throw new Error(`tsrun never reached the pause (${fifo}): ${outcome.why}`);
}

/** Settles with `why` after `ms` milliseconds; unref'd, so it never keeps the test process alive. */
export function after(ms: number, why: string): Promise<string> {
  return new Promise((resolve) => setTimeout(resolve, ms, why).unref());
}
