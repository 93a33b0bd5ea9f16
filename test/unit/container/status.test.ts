import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../src/errors';
import {
  checkTransition,
  deriveStatus,
  type LifecycleOperation,
  type StatusInput,
  type TransitionOptions,
} from '../../../src/container/status';
import type { ContainerStatus } from '../../../src/spec/types';

function stat(pid: number, state: string, startTime: string, comm = 'sh'): string {
  return `${pid} (${comm}) ${state} 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 ${startTime} 1234567 123\n`;
}

const live: StatusInput = {
  initPid: 4242,
  recordedStartTime: '1000',
  procStat: stat(4242, 'S', '1000'),
  execFifoExists: false,
  frozen: false,
};

describe('deriveStatus', () => {
  it('is running when the init lives and the FIFO is gone', () => {
    expect(deriveStatus(live)).toBe('running');
  });

  it('is created while the exec FIFO exists', () => {
    expect(deriveStatus({ ...live, execFifoExists: true })).toBe('created');
  });

  it('is paused when the cgroup is frozen, before anything else (runc’s order)', () => {
    expect(deriveStatus({ ...live, frozen: true })).toBe('paused');
    expect(deriveStatus({ ...live, frozen: true, execFifoExists: true })).toBe('paused');
    // containerd resumes a paused container whose init died: it must still read as paused.
    expect(deriveStatus({ ...live, frozen: true, procStat: null })).toBe('paused');
  });

  it.each<[string, Partial<StatusInput>]>([
    ['pid 0', { initPid: 0 }],
    ['a negative pid', { initPid: -1 }],
    ['a fractional pid', { initPid: 1.5 }],
    ['no /proc entry', { procStat: null }],
    ['a zombie', { procStat: stat(4242, 'Z', '1000') }],
    ['a dead task (X)', { procStat: stat(4242, 'X', '1000') }],
    ['a dead task (x, old kernels)', { procStat: stat(4242, 'x', '1000') }],
    ['a reused PID (other start time)', { procStat: stat(4242, 'S', '1001') }],
    ['a stat of another pid', { procStat: stat(4243, 'S', '1000') }],
    ['an unparseable stat', { procStat: 'garbage' }],
    ['an empty stat', { procStat: '' }],
  ])('is stopped with %s', (_what, change) => {
    expect(deriveStatus({ ...live, ...change })).toBe('stopped');
    expect(deriveStatus({ ...live, ...change, execFifoExists: true })).toBe('stopped');
  });

  it.each(['R', 'S', 'D', 'T', 't', 'I', 'W', 'P'])('counts state %s as alive', (state) => {
    expect(deriveStatus({ ...live, procStat: stat(4242, state, '1000') })).toBe('running');
  });

  it('copes with a comm that looks like stat fields', () => {
    expect(deriveStatus({ ...live, procStat: stat(4242, 'S', '1000', 'x) Z 1 2 (y') })).toBe('running');
  });
});

function outcome(operation: LifecycleOperation, status: ContainerStatus, options: TransitionOptions = {}): string {
  try {
    checkTransition(operation, status, options);
    return 'ok';
  } catch (error) {
    if (!(error instanceof RuntimeError)) throw error;
    return `${error.code}: ${error.message}`;
  }
}

const STATUSES: ContainerStatus[] = ['creating', 'created', 'running', 'paused', 'stopped'];

describe('checkTransition', () => {
  it('start: only a created container', () => {
    expect(STATUSES.map((s) => outcome('start', s))).toEqual([
      'invalid-status: cannot start a container in the creating state',
      'ok',
      'invalid-status: cannot start an already running container',
      'invalid-status: cannot start a container in the paused state',
      'invalid-status: cannot start a container that has stopped',
    ]);
  });

  it('kill: anything with an init; stopped only with --all', () => {
    expect(STATUSES.map((s) => outcome('kill', s))).toEqual([
      'ok', 'ok', 'ok', 'ok', 'not-running: container not running',
    ]);
    expect(STATUSES.map((s) => outcome('kill', s, { all: true }))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
  });

  it('delete: stopped and created freely, the others only with --force', () => {
    expect(STATUSES.map((s) => outcome('delete', s, { id: 'c1' }))).toEqual([
      'not-stopped: cannot delete container c1 that is not stopped: creating',
      'ok',
      'not-stopped: cannot delete container c1 that is not stopped: running',
      'not-stopped: cannot delete container c1 that is not stopped: paused',
      'ok',
    ]);
    expect(STATUSES.map((s) => outcome('delete', s, { id: 'c1', force: true }))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
  });

  it('delete: the message reads sensibly without an id', () => {
    expect(outcome('delete', 'running')).toBe('not-stopped: cannot delete container that is not stopped: running');
  });

  it('pause: created or running', () => {
    expect(STATUSES.map((s) => outcome('pause', s))).toEqual([
      'not-running: container not running',
      'ok',
      'ok',
      'not-running: container not running',
      'not-running: container not running',
    ]);
  });

  it('resume: only paused', () => {
    expect(STATUSES.map((s) => outcome('resume', s))).toEqual([
      'not-paused: container not paused',
      'not-paused: container not paused',
      'not-paused: container not paused',
      'ok',
      'not-paused: container not paused',
    ]);
  });

  it('exec: not stopped, and not paused unless told to ignore it', () => {
    expect(STATUSES.map((s) => outcome('exec', s))).toEqual([
      'invalid-status: cannot exec in a container in the creating state',
      'ok',
      'ok',
      'invalid-status: cannot exec in a paused container (use --ignore-paused to override)',
      'invalid-status: cannot exec in a stopped container',
    ]);
    expect(outcome('exec', 'paused', { ignorePaused: true })).toBe('ok');
    expect(outcome('exec', 'stopped', { ignorePaused: true })).toBe(
      'invalid-status: cannot exec in a stopped container',
    );
  });

  it('ignores options that do not apply to the operation', () => {
    expect(outcome('start', 'running', { force: true, all: true, ignorePaused: true })).toBe(
      'invalid-status: cannot start an already running container',
    );
    expect(outcome('resume', 'running', { force: true })).toBe('not-paused: container not paused');
    expect(outcome('pause', 'stopped', { all: true })).toBe('not-running: container not running');
  });
});
