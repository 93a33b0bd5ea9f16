import type { Sys } from '../linux/sys';
import { sendMessage } from './sync-channel';

/**
 * Runs `body` in a forked child. Code in a forked child must never return into Node, throw out of its frame
 * or call process.exit (the runtime's threads do not exist there: it would crash or hang). Any error is
 * reported over the sync pipe and the child leaves through _exit.
 */
export function runChild(sys: Sys, syncFd: number, body: () => void): never {
  let code = 0;
  try {
    body();
  } catch (error) {
    code = 1;
    try {
      const e = error as { code?: unknown; message?: unknown };
      sendMessage(syncFd, {
        type: 'error',
        code: typeof e.code === 'string' ? e.code : 'child',
        message: typeof e.message === 'string' ? e.message : String(error),
      });
    } catch {
      code = 2;
    }
  }
  return sys.exit(code);
}
