// The fork choreography's pure parts (closeAllExcept, wait statuses) and both sides of spawnContainerInit
// driven by a FakeSys: "pipes" are temporary files, so the sync messages are real bytes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeError } from '../../../src/errors';
import { CloneFlags, Prctl, SIGKILL } from '../../../src/linux/constants';
import { Errno } from '../../../src/linux/errno';
import { closeAllExcept, describeWaitStatus, exitCodeOf, spawnContainerInit } from '../../../src/ns/spawn-init';
import type { SyncMessage } from '../../../src/ns/sync-channel';
import { FakeSys, type SysCall } from '../../helpers/fake-sys';

// Stage 1 writes linux.timeOffsets to /proc/self/timens_offsets: catch that one file, pass everything else through.
const timens = vi.hoisted(() => ({ writes: [] as string[] }));
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  const writeFileSync = ((file: unknown, data: unknown, options?: unknown) => {
    if (file === '/proc/self/timens_offsets') {
      timens.writes.push(String(data));
      return;
    }
    return (actual.writeFileSync as (...args: unknown[]) => void)(file, data, options);
  }) as typeof actual.writeFileSync;
  return { ...actual, default: { ...actual, writeFileSync }, writeFileSync };
});

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

  /**
   * A FakeSys whose first pipe() (the sync pipe) returns a read end holding `messages` (then EOF) and a write end
   * into a file, and whose second pipe() (the ID-map ack pipe) returns an unused read end and a write end into
   * the file `acked()` reads.
   */
  function parentSys(messages: SyncMessage[], stage1 = 4242): {
    sys: FakeSys; readFd: number; writeFd: number; ackRead: number; ackWrite: number; acked: () => Buffer;
  } {
    const file = path.join(dir, 'to-parent');
    fs.writeFileSync(file, messages.map((m) => `${JSON.stringify(m)}\n`).join(''));
    const readFd = open(file, 'r');
    const writeFd = open(path.join(dir, 'unused'), 'w');
    fs.writeFileSync(path.join(dir, 'ack'), '');
    const ackRead = open(path.join(dir, 'ack'), 'r');
    const ackWrite = open(path.join(dir, 'ack'), 'w');
    const pipes: Array<[number, number]> = [[readFd, writeFd], [ackRead, ackWrite]];
    const sys = new FakeSys().implement('pipe', () => pipes.shift()!).implement('fork', () => stage1);
    return { sys, readFd, writeFd, ackRead, ackWrite, acked: () => fs.readFileSync(path.join(dir, 'ack')) };
  }

  const options = { newNamespaceFlags: CloneFlags.NEWNS | CloneFlags.NEWPID, keepFds: [], initMain: (): never => { throw new Error('parent side'); } };

  it('returns the init pid once the init reported ready', () => {
    const { sys, readFd, writeFd, ackRead, ackWrite, acked } = parentSys([{ type: 'init-pid', pid: 77 }, { type: 'ready' }]);
    expect(spawnContainerInit(sys, options)).toEqual({ initPid: 77 });
    expect(sys.calls).toEqual([
      call('pipe'),
      call('pipe'),
      call('fork'),
      call('close', writeFd),
      call('close', ackRead),
      call('waitpid', 4242, 0),
      call('close', readFd),
      call('close', ackWrite),
    ]);
    expect(acked().length).toBe(0);
  });

  it('reports an error from stage 1 with its code and message', () => {
    const { sys, ackWrite } = parentSys([{ type: 'error', code: 'syscall', message: 'unshare 0x20020000: EPERM (Operation not permitted)' }]);
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
    expect(sys.calls.at(-1)).toEqual(call('close', ackWrite));
  });

  it('kills and reaps an init that reported an error', () => {
    const { sys, readFd, ackWrite } = parentSys([{ type: 'init-pid', pid: 77 }, { type: 'error', code: 'exec-not-found', message: 'exec: "x": executable file not found in $PATH' }]);
    expect(() => spawnContainerInit(sys, options)).toThrow('exec: "x": executable file not found in $PATH');
    expect(sys.calls.slice(-4)).toEqual([call('signalIfAlive', 77, SIGKILL), call('waitpid', 77, 0), call('close', readFd), call('close', ackWrite)]);
  });

  it('reports an init that exited before it was ready, with its exit status', () => {
    const { sys } = parentSys([{ type: 'init-pid', pid: 77 }]);
    sys.implement('waitpid', (pid) => ({ pid, status: pid === 77 ? 0x0100 : 0 }));
    expect(() => spawnContainerInit(sys, options)).toThrow('container init exited before it was ready (exit status 1)');
    expect(sys.argsOf('signalIfAlive')).toEqual([[77, SIGKILL]]);
  });

  describe('parent side of the user namespace handshake', () => {
    it('writes the ID maps of stage 1 on "need-setup", then acknowledges with one byte', () => {
      const { sys, readFd, writeFd, ackRead, ackWrite, acked } = parentSys([{ type: 'need-setup' }, { type: 'init-pid', pid: 77 }, { type: 'ready' }]);
      const seen: Array<{ pid: number; ackedBytes: number; calls: number }> = [];
      const writeMaps = (pid: number) => {
        seen.push({ pid, ackedBytes: acked().length, calls: sys.calls.length });
      };
      expect(spawnContainerInit(sys, { ...options, userNamespace: { writeMaps } })).toEqual({ initPid: 77 });
      // Called once, with the stage-1 pid, before the acknowledgement, after the parent closed its child ends.
      expect(seen).toEqual([{ pid: 4242, ackedBytes: 0, calls: 5 }]);
      expect(acked()).toEqual(Buffer.from([1]));
      expect(sys.calls).toEqual([
        call('pipe'),
        call('pipe'),
        call('fork'),
        call('close', writeFd),
        call('close', ackRead),
        call('waitpid', 4242, 0),
        call('close', readFd),
        call('close', ackWrite),
      ]);
    });

    it('passes the pid fork returned', () => {
      const { sys } = parentSys([{ type: 'need-setup' }, { type: 'init-pid', pid: 8 }, { type: 'ready' }], 31337);
      const pids: number[] = [];
      spawnContainerInit(sys, { ...options, userNamespace: { writeMaps: (pid) => void pids.push(pid) } });
      expect(pids).toEqual([31337]);
    });

    it('kills and reaps a stage 1 waiting for its maps when writing them fails, and sends no byte', () => {
      const { sys, readFd, ackWrite, acked } = parentSys([{ type: 'need-setup' }]);
      const writeMaps = () => {
        throw new RuntimeError('id-map', 'config.json: /linux/uidMappings: write /proc/4242/uid_map: EPERM');
      };
      expect(() => spawnContainerInit(sys, { ...options, userNamespace: { writeMaps } })).toThrow('config.json: /linux/uidMappings: write /proc/4242/uid_map: EPERM');
      expect(acked().length).toBe(0);
      expect(sys.calls.slice(-4)).toEqual([call('signalIfAlive', 4242, SIGKILL), call('waitpid', 4242, 0), call('close', readFd), call('close', ackWrite)]);
      expect(sys.argsOf('waitpid')).toEqual([[4242, 0]]);
    });

    it('does not kill stage 1 again once it was reaped', () => {
      const { sys } = parentSys([{ type: 'error', code: 'syscall', message: 'unshare: EPERM (Operation not permitted)' }]);
      expect(() => spawnContainerInit(sys, { ...options, userNamespace: { writeMaps: () => undefined } })).toThrow('unshare: EPERM');
      expect(sys.argsOf('signalIfAlive')).toEqual([]);
      expect(sys.argsOf('waitpid')).toEqual([[4242, 0]]);
    });

    it('does not answer "need-setup" without a user namespace to map', () => {
      const { sys, acked } = parentSys([{ type: 'need-setup' }]);
      expect(() => spawnContainerInit(sys, options)).toThrow('container init exited before it was ready');
      expect(acked().length).toBe(0);
    });
  });

  describe('parent side of the go-ahead (recordReady)', () => {
    it('records the ready init, then sends the go-ahead byte', () => {
      const { sys, acked } = parentSys([{ type: 'init-pid', pid: 77 }, { type: 'ready' }]);
      const seen: Array<{ pid: number; ackedBytes: number }> = [];
      const recordReady = (pid: number) => void seen.push({ pid, ackedBytes: acked().length });
      expect(spawnContainerInit(sys, { ...options, recordReady })).toEqual({ initPid: 77 });
      // Recorded before the byte: an init never waits on exec.fifo unrecorded.
      expect(seen).toEqual([{ pid: 77, ackedBytes: 0 }]);
      expect(acked()).toEqual(Buffer.from([1]));
    });

    it('kills and reaps the init when recording fails, and sends no byte', () => {
      const { sys, readFd, ackWrite, acked } = parentSys([{ type: 'init-pid', pid: 77 }, { type: 'ready' }]);
      const recordReady = () => {
        throw new RuntimeError('state', 'write `state.json`: ENOSPC (No space left on device)');
      };
      expect(() => spawnContainerInit(sys, { ...options, recordReady })).toThrow('ENOSPC');
      expect(acked().length).toBe(0);
      expect(sys.calls.slice(-4)).toEqual([call('signalIfAlive', 77, SIGKILL), call('waitpid', 77, 0), call('close', readFd), call('close', ackWrite)]);
    });
  });

  describe('stage 1 (fork returns 0)', () => {
    class Exited extends Error {
      constructor(readonly code: number) {
        super(`exit ${code}`);
      }
    }

    /**
     * A FakeSys for stage 1: the sync pipe's write end goes into a file `written()` parses; the ack pipe's read
     * end holds `ack` (one byte by default: the parent wrote the ID maps).
     */
    function childSys(ack: Buffer = Buffer.from([1])): { sys: FakeSys; writeFd: number; ackRead: number; written: () => SyncMessage[] } {
      const file = path.join(dir, 'from-child');
      const writeFd = open(file, 'w');
      const readFd = open(path.join(dir, 'from-child'), 'r');
      fs.writeFileSync(path.join(dir, 'ack'), ack);
      const ackRead = open(path.join(dir, 'ack'), 'r');
      const ackWrite = open(path.join(dir, 'ack-unused'), 'w');
      const pipes: Array<[number, number]> = [[readFd, writeFd], [ackRead, ackWrite]];
      const sys = new FakeSys()
        .implement('pipe', () => pipes.shift()!)
        .implement('fork', () => 0)
        .implement('exit', (code) => {
          throw new Exited(code);
        });
      const written = () => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as SyncMessage);
      return { sys, writeFd, ackRead, written };
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
      const { sys, writeFd, ackRead } = childSys();
      sys.implement('cloneParent', () => 99);
      const flags = CloneFlags.NEWNS | CloneFlags.NEWPID | CloneFlags.NEWUTS;
      const extra = Math.max(writeFd, ackRead) + 3;
      const wakeup = extra + 5;
      sys.implement('eventLoopWakeupFds', () => [wakeup]);
      expect(exitCode(() => spawnContainerInit(sys, { ...options, newNamespaceFlags: flags, keepFds: [extra] }))).toBe(0);
      expect(sys.calls).toEqual([
        call('pipe'),
        call('pipe'),
        call('fork'),
        call('eventLoopWakeupFds'),
        // Kept: stdio, the sync write end, the ack read end, keepFds and libuv's wakeup eventfd (the child is
        // Node until it execs).
        ...ranges([0, 1, 2, writeFd, ackRead, extra, wakeup]),
        call('close', ackRead),
        call('unshare', flags),
        call('cloneParent'),
        call('exit', 0),
      ]);
    });

    it('keeps the join fds open, runs beforeNamespaces, then joins each namespace in the given order and closes it', () => {
      const { sys, writeFd, ackRead } = childSys();
      sys.implement('cloneParent', () => 99);
      const order: string[] = [];
      const beforeNamespaces = () => {
        order.push(`before:${sys.calls.length}`);
      };
      const joins = [{ fd: 500, flag: CloneFlags.NEWUSER }, { fd: 501, flag: CloneFlags.NEWNET }, { fd: 502, flag: CloneFlags.NEWNS }];
      const code = exitCode(() => spawnContainerInit(sys, { ...options, newNamespaceFlags: CloneFlags.NEWPID, joins, beforeNamespaces }));
      expect(code).toBe(0);
      const closing = ranges([0, 1, 2, writeFd, ackRead, 500, 501, 502]);
      expect(sys.calls).toEqual([
        call('pipe'),
        call('pipe'),
        call('fork'),
        call('eventLoopWakeupFds'),
        ...closing,
        // Joining another container's namespaces: non-dumpable first (/proc/<pid>/exe must not be reachable).
        call('prctl', Prctl.SET_DUMPABLE, 0),
        call('setns', 500, CloneFlags.NEWUSER),
        call('close', 500),
        call('setns', 501, CloneFlags.NEWNET),
        call('close', 501),
        call('setns', 502, CloneFlags.NEWNS),
        call('close', 502),
        // Root of the joined user namespace, whatever the host's root maps to there.
        call('setresgid', 0),
        call('setresuid', 0),
        call('close', ackRead),
        call('unshare', CloneFlags.NEWPID),
        call('cloneParent'),
        call('exit', 0),
      ]);
      // beforeNamespaces ran after the descriptors were closed and before anything else.
      expect(order).toEqual([`before:${4 + closing.length}`]);
    });

    it('reports a failing setns and enters no further namespace', () => {
      const { sys, written } = childSys();
      sys.failOn('setns', Errno.EINVAL, { when: (args) => args[0] === 501 });
      const joins = [{ fd: 500, flag: CloneFlags.NEWUTS }, { fd: 501, flag: CloneFlags.NEWNET }, { fd: 502, flag: CloneFlags.NEWNS }];
      expect(exitCode(() => spawnContainerInit(sys, { ...options, joins }))).toBe(1);
      expect(written()).toEqual([{ type: 'error', code: 'syscall', message: 'setns: EINVAL (Invalid argument)' }]);
      expect(sys.argsOf('setns')).toEqual([[500, CloneFlags.NEWUTS], [501, CloneFlags.NEWNET]]);
      expect(sys.names()).not.toContain('unshare');
      expect(sys.names()).not.toContain('cloneParent');
    });

    it('with a user namespace: unshares it alone, asks for the maps, waits for the byte, becomes root, then unshares the rest', () => {
      const { sys, writeFd, ackRead, written } = childSys();
      const messagesAt: Record<string, SyncMessage[]> = {};
      sys.implement('unshare', (flags) => {
        messagesAt[`unshare ${flags}`] = written();
      });
      sys.implement('setresgid', () => {
        messagesAt.setresgid = written();
      });
      sys.implement('cloneParent', () => 99);
      const flags = CloneFlags.NEWNS | CloneFlags.NEWPID;
      const userNamespace = { writeMaps: (): void => { throw new Error('parent side'); } };
      expect(exitCode(() => spawnContainerInit(sys, { ...options, newNamespaceFlags: flags, userNamespace }))).toBe(0);
      expect(sys.calls).toEqual([
        call('pipe'),
        call('pipe'),
        call('fork'),
        call('eventLoopWakeupFds'),
        ...ranges([0, 1, 2, writeFd, ackRead]),
        call('unshare', CloneFlags.NEWUSER),
        call('setresgid', 0),
        call('setresuid', 0),
        call('close', ackRead),
        call('unshare', flags),
        call('cloneParent'),
        call('exit', 0),
      ]);
      // The request goes out after unshare(CLONE_NEWUSER) and before setresgid (which needs the maps).
      expect(messagesAt[`unshare ${CloneFlags.NEWUSER}`]).toEqual([]);
      expect(messagesAt.setresgid).toEqual([{ type: 'need-setup' }]);
      expect(written()).toEqual([{ type: 'need-setup' }]);
    });

    it('joins namespaces before it unshares the user namespace', () => {
      const { sys } = childSys();
      sys.implement('cloneParent', () => 99);
      const joins = [{ fd: 500, flag: CloneFlags.NEWNET }];
      const userNamespace = { writeMaps: () => undefined };
      expect(exitCode(() => spawnContainerInit(sys, { ...options, newNamespaceFlags: CloneFlags.NEWNS, joins, userNamespace }))).toBe(0);
      const names = sys.calls.map((c) => `${c.name}${c.name === 'unshare' || c.name === 'setns' ? ` ${String(c.args[0])}` : ''}`);
      expect(names.filter((n) => /^(setns|unshare|setresgid|setresuid|cloneParent)/.test(n))).toEqual([
        'setns 500',
        `unshare ${CloneFlags.NEWUSER}`,
        'setresgid',
        'setresuid',
        `unshare ${CloneFlags.NEWNS}`,
        'cloneParent',
      ]);
    });

    it('gives up when tsrun closes the ack pipe without writing the byte', () => {
      const { sys, written } = childSys(Buffer.alloc(0));
      const userNamespace = { writeMaps: () => undefined };
      expect(exitCode(() => spawnContainerInit(sys, { ...options, userNamespace }))).toBe(1);
      expect(written()).toEqual([
        { type: 'need-setup' },
        { type: 'error', code: 'spawn', message: 'container setup: tsrun went away before setting up stage 1' },
      ]);
      expect(sys.argsOf('unshare')).toEqual([[CloneFlags.NEWUSER]]);
      expect(sys.names()).not.toContain('setresgid');
      expect(sys.names()).not.toContain('cloneParent');
    });

    it('with recordReady: keeps the ack pipe for the init, which leaves when tsrun dies before the go-ahead', () => {
      const { sys, ackRead, written } = childSys(Buffer.alloc(0));
      sys.implement('cloneParent', () => 0);
      const initMain = (_syncFd: number, parent: { awaitGoAhead(): void }): never => {
        parent.awaitGoAhead();
        throw new Error('went on without the go-ahead');
      };
      exitCode(() => spawnContainerInit(sys, { ...options, recordReady: () => undefined, initMain }));
      expect(sys.argsOf('close')).not.toContainEqual([ackRead]);
      expect(written()).toContainEqual({ type: 'error', code: 'spawn', message: 'container setup: tsrun went away before it recorded the container' });
    });

    it('does not touch the user namespace without one', () => {
      const { sys } = childSys();
      sys.implement('cloneParent', () => 99);
      expect(exitCode(() => spawnContainerInit(sys, options))).toBe(0);
      expect(sys.argsOf('unshare')).toEqual([[options.newNamespaceFlags]]);
      expect(sys.names()).not.toContain('setresgid');
      expect(sys.names()).not.toContain('setresuid');
    });

    it('writes the time offsets after the unshare and before the init is cloned', () => {
      const { sys } = childSys();
      timens.writes.length = 0;
      let writesAtUnshare = -1;
      let writesAtClone = -1;
      sys.implement('unshare', () => {
        writesAtUnshare = timens.writes.length;
      });
      sys.implement('cloneParent', () => {
        writesAtClone = timens.writes.length;
        return 99;
      });
      const flags = CloneFlags.NEWNS | CloneFlags.NEWTIME;
      const timeOffsets = 'monotonic 10 0\nboottime -5 500\n';
      expect(exitCode(() => spawnContainerInit(sys, { ...options, newNamespaceFlags: flags, timeOffsets }))).toBe(0);
      expect(timens.writes).toEqual([timeOffsets]);
      expect(writesAtUnshare).toBe(0);
      expect(writesAtClone).toBe(1);
    });

    it('writes no time offsets without any', () => {
      const { sys } = childSys();
      timens.writes.length = 0;
      sys.implement('cloneParent', () => 99);
      expect(exitCode(() => spawnContainerInit(sys, { ...options, timeOffsets: '' }))).toBe(0);
      expect(exitCode(() => spawnContainerInit(childSys().sys.implement('cloneParent', () => 99), options))).toBe(0);
      expect(timens.writes).toEqual([]);
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
