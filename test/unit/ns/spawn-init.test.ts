// The fork choreography's pure parts (closeAllExcept, wait statuses) and both sides of spawnContainerInit
// driven by a FakeSys: "pipes" are temporary files, so the sync messages are real bytes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../src/errors';
import { CloneFlags, SIGKILL } from '../../../src/linux/constants';
import { Errno } from '../../../src/linux/errno';
import { closeAllExcept, describeWaitStatus, exitCodeOf, spawnContainerInit } from '../../../src/ns/spawn-init';
import type { SyncMessage } from '../../../src/ns/sync-channel';
import { FakeSys, type SysCall } from '../../helpers/fake-sys';

const MAX = 0xffffffff;
const call = (name: SysCall['name'], ...args: unknown[]): SysCall => ({ name, args });
const range = (first: number, last: number): SysCall => call('closeRange', first, last, 0);

function ranges(keep: number[]): SysCall[] {
  const sys = new FakeSys();
  closeAllExcept(sys, keep);
  return sys.calls;
}

describe('closeAllExcept', () => {
  it('keeps stdio and one descriptor', () => {
    expect(ranges([0, 1, 2, 7])).toEqual([range(3, 6), range(8, MAX)]);
  });

  it('closes each gap between kept descriptors with one call', () => {
    expect(ranges([0, 1, 2, 5, 6, 9])).toEqual([range(3, 4), range(7, 8), range(10, MAX)]);
  });

  it('sorts and de-duplicates the keep list', () => {
    expect(ranges([9, 2, 6, 0, 5, 1, 6, 9, 2])).toEqual([range(3, 4), range(7, 8), range(10, MAX)]);
    expect(ranges([10, 9, 100])).toEqual([range(0, 8), range(11, 99), range(101, MAX)]);
  });

  it('sorts numerically, not as text', () => {
    expect(ranges([0, 1, 2, 10, 9])).toEqual([range(3, 8), range(11, MAX)]);
  });

  it('closes everything above stdio when only stdio is kept', () => {
    expect(ranges([0, 1, 2])).toEqual([range(3, MAX)]);
  });

  it('closes stdio too when it is not kept', () => {
    expect(ranges([1])).toEqual([range(0, 0), range(2, MAX)]);
    expect(ranges([])).toEqual([range(0, MAX)]);
  });

  it('ignores negative descriptors', () => {
    expect(ranges([-1, 0, 1, 2, -5])).toEqual([range(3, MAX)]);
  });

  it('always ends with a call that closes up to 0xffffffff', () => {
    for (const keep of [[], [0], [0, 1, 2, 3, 4], [3], [1000, 0]]) {
      const calls = ranges(keep);
      expect(calls.at(-1)!.args[1]).toBe(MAX);
      for (const c of calls) {
        expect(c.args[2]).toBe(0);
        expect(c.args[0] as number).toBeLessThanOrEqual(c.args[1] as number);
      }
    }
  });

  it('passes on a close_range failure', () => {
    const sys = new FakeSys().failOn('closeRange', Errno.ENOSYS);
    expect(() => closeAllExcept(sys, [0, 1, 2])).toThrow('closeRange: ENOSYS (Function not implemented)');
  });
});

describe('wait statuses', () => {
  it.each([
    [0x0000, 'exit status 0', 0],
    [0x0100, 'exit status 1', 1],
    [0x7f00, 'exit status 127', 127],
    [0xff00, 'exit status 255', 255],
    [0x0009, 'killed by signal 9', 137],
    [0x000f, 'killed by signal 15', 143],
    [0x0002, 'killed by signal 2', 130],
    [0x008b, 'killed by signal 11', 139], // SIGSEGV with the core-dump bit
    [0x0086, 'killed by signal 6', 134], // SIGABRT with the core-dump bit
  ])('describes wait status 0x%s', (status, description, code) => {
    expect(describeWaitStatus(status)).toBe(description);
    expect(exitCodeOf(status)).toBe(code);
  });
});

describe('spawnContainerInit', () => {
  let dir: string;
  const openFds: number[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-spawn-'));
  });

  afterEach(() => {
    for (const fd of openFds.splice(0)) fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function open(file: string, flags: string): number {
    const fd = fs.openSync(file, flags);
    openFds.push(fd);
    return fd;
  }

  /** A FakeSys whose pipe() returns a read end holding `messages` (then EOF) and a write end into a file. */
  function parentSys(messages: SyncMessage[], stage1 = 4242): { sys: FakeSys; readFd: number; writeFd: number } {
    const file = path.join(dir, 'to-parent');
    fs.writeFileSync(file, messages.map((m) => `${JSON.stringify(m)}\n`).join(''));
    const readFd = open(file, 'r');
    const writeFd = open(path.join(dir, 'unused'), 'w');
    const sys = new FakeSys().implement('pipe', () => [readFd, writeFd]).implement('fork', () => stage1);
    return { sys, readFd, writeFd };
  }

  const options = { newNamespaceFlags: CloneFlags.NEWNS | CloneFlags.NEWPID, keepFds: [], initMain: (): never => { throw new Error('parent side'); } };

  it('returns the init pid once the init reported ready', () => {
    const { sys, readFd, writeFd } = parentSys([{ type: 'init-pid', pid: 77 }, { type: 'ready' }]);
    expect(spawnContainerInit(sys, options)).toEqual({ initPid: 77 });
    expect(sys.calls).toEqual([
      call('pipe'),
      call('fork'),
      call('close', writeFd),
      call('waitpid', 4242, 0),
      call('close', readFd),
    ]);
  });

  it('reports an error from stage 1 with its code and message', () => {
    const { sys, readFd } = parentSys([{ type: 'error', code: 'syscall', message: 'unshare 0x20020000: EPERM (Operation not permitted)' }]);
    let thrown: unknown;
    try {
      spawnContainerInit(sys, options);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(RuntimeError);
    expect((thrown as RuntimeError).code).toBe('syscall');
    expect((thrown as RuntimeError).message).toBe('unshare 0x20020000: EPERM (Operation not permitted)');
    expect(sys.names()).not.toContain('signalIfAlive');
    expect(sys.calls.at(-1)).toEqual(call('close', readFd));
  });

  it('kills and reaps an init that reported an error', () => {
    const { sys, readFd } = parentSys([{ type: 'init-pid', pid: 77 }, { type: 'error', code: 'exec-not-found', message: 'exec: "x": executable file not found in $PATH' }]);
    expect(() => spawnContainerInit(sys, options)).toThrow('exec: "x": executable file not found in $PATH');
    expect(sys.calls.slice(-3)).toEqual([call('signalIfAlive', 77, SIGKILL), call('waitpid', 77, 0), call('close', readFd)]);
  });

  it('reports an init that exited before it was ready, with its exit status', () => {
    const { sys } = parentSys([{ type: 'init-pid', pid: 77 }]);
    sys.implement('waitpid', (pid) => ({ pid, status: pid === 77 ? 0x0100 : 0 }));
    expect(() => spawnContainerInit(sys, options)).toThrow('container init exited before it was ready (exit status 1)');
    expect(sys.argsOf('signalIfAlive')).toEqual([[77, SIGKILL]]);
  });

  describe('stage 1 (fork returns 0)', () => {
    class Exited extends Error {
      constructor(readonly code: number) {
        super(`exit ${code}`);
      }
    }

    function childSys(): { sys: FakeSys; writeFd: number; written: () => SyncMessage[] } {
      const file = path.join(dir, 'from-child');
      const writeFd = open(file, 'w');
      const readFd = open(path.join(dir, 'from-child'), 'r');
      const sys = new FakeSys()
        .implement('pipe', () => [readFd, writeFd])
        .implement('fork', () => 0)
        .implement('exit', (code) => {
          throw new Exited(code);
        });
      const written = () => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as SyncMessage);
      return { sys, writeFd, written };
    }

    function exitCode(fn: () => unknown): number {
      try {
        fn();
      } catch (error) {
        if (error instanceof Exited) return error.code;
        throw error;
      }
      throw new Error('expected the child to exit');
    }

    it('closes foreign descriptors, unshares and clones the init', () => {
      const { sys, writeFd } = childSys();
      sys.implement('cloneParent', () => 99);
      const flags = CloneFlags.NEWNS | CloneFlags.NEWPID | CloneFlags.NEWUTS;
      expect(exitCode(() => spawnContainerInit(sys, { ...options, newNamespaceFlags: flags, keepFds: [writeFd + 3] }))).toBe(0);
      expect(sys.calls).toEqual([
        call('pipe'),
        call('fork'),
        range(3, writeFd - 1),
        range(writeFd + 1, writeFd + 2),
        range(writeFd + 4, MAX),
        call('unshare', flags),
        call('cloneParent'),
        call('exit', 0),
      ]);
    });

    it('reports a failing unshare over the pipe and exits 1', () => {
      const { sys, written } = childSys();
      sys.failOn('unshare', Errno.EPERM);
      expect(exitCode(() => spawnContainerInit(sys, options))).toBe(1);
      expect(written()).toEqual([{ type: 'error', code: 'syscall', message: 'unshare: EPERM (Operation not permitted)' }]);
      expect(sys.names()).not.toContain('cloneParent');
    });
  });
});

describe('FakeSys', () => {
  it('refuses fork, cloneParent, exit and execve unless implemented', () => {
    const sys = new FakeSys();
    expect(() => sys.fork()).toThrow('not in a unit test');
    expect(() => sys.cloneParent()).toThrow('not in a unit test');
    expect(() => sys.exit(0)).toThrow('not in a unit test');
    expect(() => sys.execve('/bin/sh', ['sh'], [])).toThrow('not in a unit test');
    expect(sys.names()).toEqual(['fork', 'cloneParent', 'exit', 'execve']);
  });

  it('fails only the matching calls, as often as asked', () => {
    const sys = new FakeSys().failOn('chdir', Errno.ENOENT, { when: (args) => args[0] === '/x', times: 1 });
    sys.chdir('/y');
    expect(() => sys.chdir('/x')).toThrow('chdir: ENOENT (No such file or directory)');
    sys.chdir('/x');
    expect(sys.calls).toEqual([call('chdir', '/y'), call('chdir', '/x'), call('chdir', '/x')]);
  });
});
