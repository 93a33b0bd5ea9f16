import path from 'node:path';

/** File name of the FIFO the parked init blocks on until `start`; its presence is what makes a container `created`. */
export const EXEC_FIFO_NAME = 'exec.fifo';

export function execFifoPath(containerDir: string): string {
  return path.join(containerDir, EXEC_FIFO_NAME);
}
