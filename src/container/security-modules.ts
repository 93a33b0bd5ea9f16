import fs from 'node:fs';
import { NotSupportedError, RuntimeError } from '../errors';
import type { ContainerPlan } from '../spec/plan';

export interface HostSecurity {
  apparmor: boolean;
  selinux: boolean;
  /** Intel RDT's resctrl file system is mounted (/sys/fs/resctrl). */
  resctrl: boolean;
}

export function detectHostSecurity(): HostSecurity {
  let apparmor = false;
  try {
    apparmor = fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    // module absent
  }
  let resctrl = false;
  try {
    resctrl = / - resctrl /.test(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    // no /proc: treat as absent
  }
  return { apparmor, selinux: fs.existsSync('/sys/fs/selinux/enforce'), resctrl };
}

/**
 * Reconciles config.json's LSM fields with the host, as runc does: an AppArmor profile on a host without
 * AppArmor is an error (the container would silently run unconfined); SELinux labels on a host without SELinux
 * mean nothing and are dropped with a warning. Returns the plan to run.
 */
export function applyHostSecurity(plan: ContainerPlan, host: HostSecurity, warn: (message: string) => void): ContainerPlan {
  if (plan.process.apparmorProfile !== undefined && !host.apparmor) {
    throw new RuntimeError('apparmor', `config.json: /process/apparmorProfile ${JSON.stringify(plan.process.apparmorProfile)}: AppArmor is not enabled on this host`);
  }
  if (plan.intelRdt !== undefined) {
    // runc refuses Intel RDT settings where resctrl is absent; the container would run without its limits.
    if (!host.resctrl) throw new RuntimeError('intel-rdt', 'config.json: /linux/intelRdt: Intel RDT is not available on this host (no resctrl file system mounted at /sys/fs/resctrl)');
    throw new NotSupportedError('/linux/intelRdt', 'resctrl groups arrive with cgroup support');
  }
  let result = plan;
  if (!host.selinux && plan.process.selinuxLabel !== undefined) {
    warn(`config.json: /process/selinuxLabel ignored: SELinux is not enabled on this host`);
    result = { ...result, process: { ...result.process, selinuxLabel: undefined } };
  }
  if (!host.selinux && plan.mountLabel !== undefined) {
    warn(`config.json: /linux/mountLabel ignored: SELinux is not enabled on this host`);
    result = { ...result, mountLabel: undefined };
  }
  return result;
}
