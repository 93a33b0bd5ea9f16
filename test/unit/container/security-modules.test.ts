import { describe, expect, it } from 'vitest';
import { applyHostSecurity } from '../../../src/container/security-modules';
import { buildPlan } from '../../../src/spec/plan';
import type { Spec } from '../../../src/spec/types';

function planWith(edit: (s: Spec & { linux: NonNullable<Spec['linux']>; process: NonNullable<Spec['process']> }) => void) {
  const spec = {
    ociVersion: '1.2.1',
    root: { path: 'rootfs' },
    process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/' },
    linux: { namespaces: [{ type: 'mount' }] },
  } as Spec & { linux: NonNullable<Spec['linux']>; process: NonNullable<Spec['process']> };
  edit(spec);
  return buildPlan(spec, { id: 'c', bundle: '/b', noPivot: false });
}

const NONE = { apparmor: false, selinux: false, resctrl: false };

describe('applyHostSecurity', () => {
  it('refuses an AppArmor profile where AppArmor is off, and keeps it where it is on', () => {
    const plan = planWith((s) => { s.process.apparmorProfile = 'p'; });
    expect(() => applyHostSecurity(plan, NONE, () => undefined)).toThrow('config.json: /process/apparmorProfile "p": AppArmor is not enabled on this host');
    expect(applyHostSecurity(plan, { ...NONE, apparmor: true }, () => undefined).process.apparmorProfile).toBe('p');
  });

  it('drops SELinux labels with one warning each where SELinux is off', () => {
    const warnings: string[] = [];
    const plan = applyHostSecurity(planWith((s) => { s.process.selinuxLabel = 'l'; s.linux.mountLabel = 'm'; }), NONE, (m) => warnings.push(m));
    expect([plan.process.selinuxLabel, plan.mountLabel]).toEqual([undefined, undefined]);
    expect(warnings).toHaveLength(2);
    const kept = applyHostSecurity(planWith((s) => { s.process.selinuxLabel = 'l'; }), { ...NONE, selinux: true }, () => undefined);
    expect(kept.process.selinuxLabel).toBe('l');
  });

  it('refuses intelRdt without resctrl, and as not supported yet with it', () => {
    const plan = planWith((s) => { s.linux.intelRdt = { closID: 'x' }; });
    expect(() => applyHostSecurity(plan, NONE, () => undefined)).toThrow(/Intel RDT is not available on this host/);
    expect(() => applyHostSecurity(plan, { ...NONE, resctrl: true }, () => undefined)).toThrow('config.json: not supported yet: /linux/intelRdt');
  });
});
