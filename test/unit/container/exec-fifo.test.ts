import { describe, expect, it } from 'vitest';
import { EXEC_FIFO_NAME, execFifoPath } from '../../../src/container/exec-fifo';

describe('execFifoPath', () => {
  it('is exec.fifo inside the container directory', () => {
    expect(EXEC_FIFO_NAME).toBe('exec.fifo');
    expect(execFifoPath('/run/tsrun/c1')).toBe('/run/tsrun/c1/exec.fifo');
    expect(execFifoPath('/run/tsrun/c1/')).toBe('/run/tsrun/c1/exec.fifo');
  });
});
