// applyCredentials against a FakeSys: bounding set, ids, capability sets and ambient capabilities, in order.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { applyCredentials } from '../../../src/init/credentials';
import { Prctl } from '../../../src/linux/constants';
import { Errno, SyscallError } from '../../../src/linux/errno';
import { LAST_CAPABILITY } from '../../../src/spec/capabilities';
import { buildPlan, type ProcessPlan } from '../../../src/spec/plan';
import type { Spec } from '../../../src/spec/types';
import { FakeSys, type SysCall } from '../../helpers/fake-sys';

const FIXTURE = fileURLToPath(new URL('../../../fixtures/busybox/config.json', import.meta.url));
const bit = (n: number) => 1n << BigInt(n);
const call = (name: SysCall['name'], ...args: unknown[]): SysCall => ({ name, args });
const ALL_CAPS = Array.from({ length: LAST_CAPABILITY + 1 }, (_, i) => i);

function processPlan(overrides: Partial<ProcessPlan> = {}): ProcessPlan {
  return {
    args: ['sh'],
    env: [],
    cwd: '/',
    uid: 0,
    gid: 0,
    additionalGids: [],
    umask: undefined,
    capabilities: undefined,
    rlimits: [],
    noNewPrivileges: false,
    oomScoreAdj: undefined,
    terminal: false,
    consoleSize: undefined,
    ioPriority: undefined,
    scheduler: undefined,
    personality: undefined,
    cpuAffinity: undefined,
    apparmorProfile: undefined,
    selinuxLabel: undefined,
    ...overrides,
  };
}

function caps(sets: Partial<Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', number[]>>): ProcessPlan['capabilities'] {
  const mask = (list: number[] = []) => list.reduce((acc, n) => acc | bit(n), 0n);
  return {
    bounding: mask(sets.bounding),
    effective: mask(sets.effective),
    permitted: mask(sets.permitted),
    inheritable: mask(sets.inheritable),
    ambient: mask(sets.ambient),
  };
}

function drops(keep: number[]): SysCall[] {
  return ALL_CAPS.filter((c) => !keep.includes(c)).map((c) => call('prctl', Prctl.CAPBSET_DROP, c));
}

describe('applyCredentials', () => {
  it('applies the fixture process in the kernel\'s order', () => {
    const spec = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Spec;
    const plan = buildPlan(spec, { id: 'c1', bundle: '/b', noPivot: false });
    const sys = new FakeSys();
    applyCredentials(sys, plan.process);
    const kept = [5, 10, 29]; // CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE
    const mask = bit(5) | bit(10) | bit(29);
    expect(sys.calls).toEqual([
      ...drops(kept),
      call('prctl', Prctl.SET_KEEPCAPS, 1),
      call('setgroups', []),
      call('setresgid', 0),
      call('setresuid', 0),
      call('prctl', Prctl.SET_KEEPCAPS, 0),
      call('capset', mask, mask, 0n),
      call('prctl', Prctl.CAP_AMBIENT, Prctl.CAP_AMBIENT_CLEAR_ALL),
    ]);
    expect(sys.argsOf('prctl').filter((a) => a[0] === Prctl.CAPBSET_DROP)).toHaveLength(LAST_CAPABILITY + 1 - kept.length);
  });

  it('drops every capability 0..40 that is not in the bounding set, before any id change', () => {
    const sys = new FakeSys();
    applyCredentials(sys, processPlan({ uid: 1000, gid: 1000, capabilities: caps({ bounding: [0, 21, 40] }) }));
    const dropped = sys.argsOf('prctl').filter((a) => a[0] === Prctl.CAPBSET_DROP).map((a) => a[1]);
    expect(dropped).toEqual(ALL_CAPS.filter((c) => c !== 0 && c !== 21 && c !== 40));
    const names = sys.names();
    const lastDrop = sys.calls.findLastIndex((c) => c.name === 'prctl' && c.args[0] === Prctl.CAPBSET_DROP);
    expect(lastDrop).toBeLessThan(names.indexOf('setgroups'));
    expect(lastDrop).toBeLessThan(names.indexOf('setresgid'));
    expect(lastDrop).toBeLessThan(names.indexOf('setresuid'));
  });

  it('drops all 41 capabilities for an empty bounding set', () => {
    const sys = new FakeSys();
    applyCredentials(sys, processPlan({ capabilities: caps({}) }));
    expect(sys.calls.slice(0, LAST_CAPABILITY + 1)).toEqual(drops([]));
  });

  it('drops nothing when the bounding set holds every capability', () => {
    const sys = new FakeSys();
    applyCredentials(sys, processPlan({ capabilities: caps({ bounding: ALL_CAPS }) }));
    expect(sys.argsOf('prctl').filter((a) => a[0] === Prctl.CAPBSET_DROP)).toEqual([]);
  });

  it('keeps capabilities across the id change: KEEPCAPS 1 right before, 0 right after', () => {
    const sys = new FakeSys();
    applyCredentials(sys, processPlan({ uid: 1000, gid: 100, additionalGids: [10, 20], capabilities: caps({ bounding: ALL_CAPS }) }));
    expect(sys.calls.slice(0, 6)).toEqual([
      call('prctl', Prctl.SET_KEEPCAPS, 1),
      call('setgroups', [10, 20]),
      call('setresgid', 100),
      call('setresuid', 1000),
      call('prctl', Prctl.SET_KEEPCAPS, 0),
      call('capset', 0n, 0n, 0n),
    ]);
  });

  it('sets groups, then gid, then uid', () => {
    const sys = new FakeSys();
    applyCredentials(sys, processPlan({ uid: 65534, gid: 65533, additionalGids: [4] }));
    expect(sys.calls).toEqual([call('setgroups', [4]), call('setresgid', 65533), call('setresuid', 65534)]);
  });

  it('passes the masks to capset, then clears and raises the ambient set in capability order', () => {
    const sys = new FakeSys();
    const c = caps({
      bounding: ALL_CAPS,
      effective: [5, 12, 38],
      permitted: [5, 12, 38, 39],
      inheritable: [12, 39],
      ambient: [39, 12],
    });
    applyCredentials(sys, processPlan({ uid: 1000, gid: 1000, capabilities: c }));
    expect(sys.calls.slice(-4)).toEqual([
      call('capset', bit(5) | bit(12) | bit(38), bit(5) | bit(12) | bit(38) | bit(39), bit(12) | bit(39)),
      call('prctl', Prctl.CAP_AMBIENT, Prctl.CAP_AMBIENT_CLEAR_ALL),
      call('prctl', Prctl.CAP_AMBIENT, Prctl.CAP_AMBIENT_RAISE, 12),
      call('prctl', Prctl.CAP_AMBIENT, Prctl.CAP_AMBIENT_RAISE, 39),
    ]);
  });

  it('uses the kernel values of the prctl options', () => {
    expect([Prctl.CAPBSET_DROP, Prctl.SET_KEEPCAPS, Prctl.CAP_AMBIENT, Prctl.CAP_AMBIENT_CLEAR_ALL, Prctl.CAP_AMBIENT_RAISE]).toEqual([24, 8, 47, 4, 2]);
  });

  it('makes no prctl or capset call without capabilities', () => {
    const sys = new FakeSys();
    applyCredentials(sys, processPlan({ uid: 1, gid: 2 }));
    expect(sys.names()).toEqual(['setgroups', 'setresgid', 'setresuid']);
  });

  it('applies the umask last when set', () => {
    const sys = new FakeSys();
    applyCredentials(sys, processPlan({ umask: 0o027, capabilities: caps({ bounding: ALL_CAPS, ambient: [1] }) }));
    expect(sys.calls.at(-1)).toEqual(call('umask', 0o027));
    expect(sys.argsOf('umask')).toEqual([[0o027]]);
  });

  it('applies umask 0 (a set value, not absent)', () => {
    const sys = new FakeSys();
    applyCredentials(sys, processPlan({ umask: 0 }));
    expect(sys.argsOf('umask')).toEqual([[0]]);
  });

  it('leaves the umask alone when unset', () => {
    const sys = new FakeSys();
    applyCredentials(sys, processPlan({ capabilities: caps({}) }));
    expect(sys.names()).not.toContain('umask');
  });

  it('stops at a failing setresuid without touching the capability sets', () => {
    const sys = new FakeSys().failOn('setresuid', Errno.EPERM);
    expect(() => applyCredentials(sys, processPlan({ uid: 1000, capabilities: caps({ bounding: ALL_CAPS }) }))).toThrow(SyscallError);
    expect(sys.names().at(-1)).toBe('setresuid');
    expect(sys.names()).not.toContain('capset');
  });
});
