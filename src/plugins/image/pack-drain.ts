import type tarStream from 'tar-stream';

/**
 * Resolves when a tar-stream pack entry wants more data, or is gone (its callback, or the pack's error, then says
 * why): the back-pressure wait of everything that writes tars.
 */
export function drained(sink: ReturnType<tarStream.Pack['entry']>): Promise<void> {
  return new Promise((resolve) => {
    // Gone already (the output failed and took the pack with it): no event will come.
    if (sink.destroying || sink.destroyed) {
      resolve();
      return;
    }
    const done = (): void => {
      sink.off('drain', done);
      sink.off('close', done);
      resolve();
    };
    sink.on('drain', done);
    sink.on('close', done);
  });
}
