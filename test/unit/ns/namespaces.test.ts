// openNamespaceFiles against a FakeSys: the namespaces to join are opened in setns order (user first, mount last),
// each checked with NS_GET_NSTYPE, and a failure closes what was already opened.
import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../src/errors';
import { CloneFlags, OpenFlags } from '../../../src/linux/constants';
import { Errno, SyscallError } from '../../../src/linux/errno';
import { openNamespaceFiles } from '../../../src/ns/namespaces';
import { NAMESPACE_FLAGS, type NamespaceJoin } from '../../../src/spec/namespaces';
import type { NamespaceType } from '../../../src/spec/types';
import { errorOf } from '../../helpers/errors';
import { FakeSys, type SysCall } from '../../helpers/fake-sys';

const NS_GET_NSTYPE = 0xb703;
const O_RDONLY_CLOEXEC = OpenFlags.RDONLY | OpenFlags.CLOEXEC;
// The table itself is checked against the literal flags in test/unit/spec/namespaces.test.ts.
const FLAG: Record<NamespaceType, number> = NAMESPACE_FLAGS;

const call = (name: SysCall['name'], ...args: unknown[]): SysCall => ({ name, args });

/**
 * A FakeSys whose open() hands out fds 10, 11, … and whose ioctl(NS_GET_NSTYPE) answers with the flag of the
 * namespace type `kinds` gives for the opened path (the declared type unless a test says otherwise).
 */
function nsSys(kinds: Record<string, NamespaceType | 'file'>): FakeSys {
  let next = 10;
  const pathOf = new Map<number, string>();
  return new FakeSys()
    .implement('open', (p) => {
      const fd = next++;
      pathOf.set(fd, p);
      return fd;
    })
    .implement('ioctl', (fd) => {
      const kind = kinds[pathOf.get(fd)!];
      if (kind === undefined || kind === 'file') throw new SyscallError('ioctl', 25, `fd ${fd} request 0xb703`); // ENOTTY
      return FLAG[kind];
    });
}

const join = (type: NamespaceType, path: string, i: number): NamespaceJoin => ({ type, path, pointer: `/linux/namespaces/${i}` });

describe('openNamespaceFiles', () => {
  it('opens every namespace read-only and close-on-exec in setns order, checking each type', () => {
    const joins = [join('mount', '/m', 0), join('network', '/n', 1), join('user', '/u', 2), join('uts', '/h', 3)];
    const sys = nsSys({ '/m': 'mount', '/n': 'network', '/u': 'user', '/h': 'uts' });
    const opened = openNamespaceFiles(sys, joins);
    expect(opened).toEqual([
      { type: 'user', path: '/u', pointer: '/linux/namespaces/2', fd: 10, flag: CloneFlags.NEWUSER },
      { type: 'network', path: '/n', pointer: '/linux/namespaces/1', fd: 11, flag: CloneFlags.NEWNET },
      { type: 'uts', path: '/h', pointer: '/linux/namespaces/3', fd: 12, flag: CloneFlags.NEWUTS },
      { type: 'mount', path: '/m', pointer: '/linux/namespaces/0', fd: 13, flag: CloneFlags.NEWNS },
    ]);
    expect(sys.calls).toEqual([
      call('open', '/u', O_RDONLY_CLOEXEC),
      call('ioctl', 10, NS_GET_NSTYPE, 0),
      call('open', '/n', O_RDONLY_CLOEXEC),
      call('ioctl', 11, NS_GET_NSTYPE, 0),
      call('open', '/h', O_RDONLY_CLOEXEC),
      call('ioctl', 12, NS_GET_NSTYPE, 0),
      call('open', '/m', O_RDONLY_CLOEXEC),
      call('ioctl', 13, NS_GET_NSTYPE, 0),
    ]);
  });

  it('opens nothing for no joins', () => {
    const sys = new FakeSys();
    expect(openNamespaceFiles(sys, [])).toEqual([]);
    expect(sys.calls).toEqual([]);
  });

  it('refuses a namespace of another type, naming both types, and closes what it opened', () => {
    const joins = [join('mount', '/m', 0), join('user', '/u', 1), join('network', '/x', 2)];
    const sys = nsSys({ '/m': 'mount', '/u': 'user', '/x': 'uts' });
    const e = errorOf(() => openNamespaceFiles(sys, joins));
    expect(e).toBeInstanceOf(RuntimeError);
    expect(e.code).toBe('namespace');
    expect(e.message).toBe('config.json: /linux/namespaces/2/path "/x" is a uts namespace, not a network namespace');
    expect(sys.calls).toEqual([
      call('open', '/u', O_RDONLY_CLOEXEC),
      call('ioctl', 10, NS_GET_NSTYPE, 0),
      call('open', '/x', O_RDONLY_CLOEXEC),
      call('ioctl', 11, NS_GET_NSTYPE, 0),
      call('close', 10),
      call('close', 11),
    ]);
    expect(sys.names()).not.toContain('setns');
  });

  it('says "a different namespace" for a type it does not know', () => {
    const sys = new FakeSys().implement('ioctl', () => 0x1);
    const e = errorOf(() => openNamespaceFiles(sys, [join('pid', '/p', 4)]));
    expect(e.message).toBe('config.json: /linux/namespaces/4/path "/p" is a different namespace, not a pid namespace');
  });

  it('refuses a file that is not a namespace (NS_GET_NSTYPE fails) and closes it', () => {
    const sys = nsSys({ '/u': 'user', '/etc/hostname': 'file' });
    const e = errorOf(() => openNamespaceFiles(sys, [join('uts', '/etc/hostname', 1), join('user', '/u', 0)]));
    expect(e.code).toBe('namespace');
    expect(e.message).toBe('config.json: /linux/namespaces/1/path "/etc/hostname" is not a namespace file (expected a uts namespace)');
    expect(sys.calls.slice(-2)).toEqual([call('close', 10), call('close', 11)]);
  });

  it('reports a missing path with the errno, without repeating the path, and closes the fds already opened', () => {
    // The real open names its path (open `/gone`: ENOENT ...): that prefix is dropped, the pointer names it.
    const sys = new FakeSys()
      .implement('open', (p) => {
        if (p === '/gone') throw new SyscallError('open', Errno.ENOENT, `\`${p}\``);
        return p === '/u' ? 10 : 11;
      })
      .implement('ioctl', (fd) => (fd === 10 ? CloneFlags.NEWUSER : CloneFlags.NEWNET));
    const e = errorOf(() => openNamespaceFiles(sys, [join('network', '/n', 0), join('mount', '/gone', 1), join('user', '/u', 2)]));
    expect(e.code).toBe('namespace');
    expect(e.message).toContain('ENOENT');
    expect(e.message).toBe('config.json: /linux/namespaces/1/path "/gone": ENOENT (No such file or directory)');
    expect(sys.calls).toEqual([
      call('open', '/u', O_RDONLY_CLOEXEC),
      call('ioctl', 10, NS_GET_NSTYPE, 0),
      call('open', '/n', O_RDONLY_CLOEXEC),
      call('ioctl', 11, NS_GET_NSTYPE, 0),
      call('open', '/gone', O_RDONLY_CLOEXEC),
      call('close', 10),
      call('close', 11),
    ]);
  });

  it('keeps the message of an open failure with another wording', () => {
    const sys = new FakeSys().failOn('open', Errno.EACCES);
    const e = errorOf(() => openNamespaceFiles(sys, [join('ipc', '/i', 3)]));
    expect(e.message).toBe('config.json: /linux/namespaces/3/path "/i": open: EACCES (Permission denied)');
    expect(sys.names()).toEqual(['open']);
  });

  it('closes nothing when the first open fails', () => {
    const sys = new FakeSys().failOn('open', Errno.ENOENT);
    expect(() => openNamespaceFiles(sys, [join('user', '/u', 0), join('mount', '/m', 1)])).toThrow('ENOENT');
    expect(sys.names()).toEqual(['open']);
  });
});
