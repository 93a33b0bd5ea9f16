// The namespace table and the order stage 1 joins namespaces in: user first, mount last, the rest as in config.json.
import { describe, expect, it } from 'vitest';
import { CloneFlags } from '../../../src/linux/constants';
import { NAMESPACE_FLAGS, orderJoins, TYPE_BY_FLAG, type NamespaceJoin } from '../../../src/spec/namespaces';
import type { NamespaceType } from '../../../src/spec/types';

const join = (type: NamespaceType, i: number): NamespaceJoin => ({ type, path: `/proc/1/ns/${type}`, pointer: `/linux/namespaces/${i}` });
const typesOf = (joins: NamespaceJoin[]) => joins.map((j) => j.type);

describe('NAMESPACE_FLAGS and TYPE_BY_FLAG', () => {
  it('maps every namespace type to its CLONE_NEW* flag', () => {
    expect(NAMESPACE_FLAGS).toEqual({
      pid: CloneFlags.NEWPID,
      network: CloneFlags.NEWNET,
      mount: CloneFlags.NEWNS,
      ipc: CloneFlags.NEWIPC,
      uts: CloneFlags.NEWUTS,
      user: CloneFlags.NEWUSER,
      cgroup: CloneFlags.NEWCGROUP,
      time: CloneFlags.NEWTIME,
    });
    expect(NAMESPACE_FLAGS.user).toBe(0x10000000);
    expect(NAMESPACE_FLAGS.mount).toBe(0x00020000);
  });

  it('maps each flag back to its type (the NS_GET_NSTYPE answer)', () => {
    for (const [type, flag] of Object.entries(NAMESPACE_FLAGS)) expect(TYPE_BY_FLAG.get(flag)).toBe(type);
    expect(TYPE_BY_FLAG.size).toBe(8);
    expect(TYPE_BY_FLAG.get(0)).toBeUndefined();
  });
});

describe('orderJoins', () => {
  it('puts the user namespace first and the mount namespace last', () => {
    const joins = [join('mount', 0), join('network', 1), join('user', 2)];
    expect(orderJoins(joins)).toEqual([join('user', 2), join('network', 1), join('mount', 0)]);
  });

  it('keeps the other namespaces in config order', () => {
    const joins = [join('uts', 0), join('mount', 1), join('ipc', 2), join('pid', 3), join('user', 4), join('network', 5), join('cgroup', 6), join('time', 7)];
    expect(typesOf(orderJoins(joins))).toEqual(['user', 'uts', 'ipc', 'pid', 'network', 'cgroup', 'time', 'mount']);
  });

  it('is stable: entries of the same rank keep their relative order', () => {
    const a = { type: 'network' as const, path: '/a', pointer: '/linux/namespaces/0' };
    const b = { type: 'network' as const, path: '/b', pointer: '/linux/namespaces/1' };
    const c = { type: 'ipc' as const, path: '/c', pointer: '/linux/namespaces/2' };
    expect(orderJoins([a, b, c]).map((j) => j.path)).toEqual(['/a', '/b', '/c']);
    expect(orderJoins([c, b, a]).map((j) => j.path)).toEqual(['/c', '/b', '/a']);
  });

  it('leaves an already ordered list as it is', () => {
    const joins = [join('user', 0), join('pid', 1), join('mount', 2)];
    expect(orderJoins(joins)).toEqual(joins);
  });

  it('handles empty and single-entry lists', () => {
    expect(orderJoins([])).toEqual([]);
    expect(orderJoins([join('mount', 0)])).toEqual([join('mount', 0)]);
    expect(orderJoins([join('user', 0)])).toEqual([join('user', 0)]);
  });

  it('returns a new array and leaves its argument alone', () => {
    const joins = [join('mount', 0), join('user', 1)];
    const copy = [...joins];
    const ordered = orderJoins(joins);
    expect(ordered).not.toBe(joins);
    expect(joins).toEqual(copy);
    expect(ordered[0]).toBe(joins[1]);
  });
});
