import fs from 'node:fs';
import { NotSupportedError, RuntimeError } from '../errors';
import type { ContainerPlan, ProcessPlan } from '../spec/plan';

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
  let result: ContainerPlan = { ...plan, process: processOnHost(plan.process, host, warn, { apparmor: 'config.json: /process/apparmorProfile', selinux: 'config.json: /process/selinuxLabel' }) };
  if (plan.intelRdt !== undefined) {
    // runc refuses Intel RDT settings where resctrl is absent; the container would run without its limits.
    if (!host.resctrl) throw new RuntimeError('intel-rdt', 'config.json: /linux/intelRdt: Intel RDT is not available on this host (no resctrl file system mounted at /sys/fs/resctrl)');
    throw new NotSupportedError('/linux/intelRdt', 'resctrl groups arrive with cgroup support');
  }
  if (!host.selinux && plan.mountLabel !== undefined) {
    warn(`config.json: /linux/mountLabel ignored: SELinux is not enabled on this host`);
    result = { ...result, mountLabel: undefined };
  }
  return result;
}

/**
 * The LSM fields of one process against the host (also `exec`'s, whose flags `--apparmor` and `--process-label`
 * set them): a profile the host cannot enforce is an error, a label without SELinux is dropped with a warning.
 */
export function processOnHost(process: ProcessPlan, host: HostSecurity, warn: (message: string) => void, names: { apparmor: string; selinux: string }): ProcessPlan {
  if (process.apparmorProfile !== undefined && !host.apparmor) {
    throw new RuntimeError('apparmor', `${names.apparmor} ${JSON.stringify(process.apparmorProfile)}: AppArmor is not enabled on this host`);
  }
  if (!host.selinux && process.selinuxLabel !== undefined) {
    warn(`${names.selinux} ignored: SELinux is not enabled on this host`);
    return { ...process, selinuxLabel: undefined };
  }
  return process;
}
