import { RuntimeError } from '../errors';
import { Prctl } from '../linux/constants';
import type { Sys } from '../linux/sys';
import { LAST_CAPABILITY } from '../spec/capabilities';
import type { ProcessPlan } from '../spec/plan';

/**
 * Becomes the configured user with the configured capabilities, in the order the kernel requires: drop the
 * bounding set while still privileged, keep permitted capabilities across the uid change, set the groups and
 * ids, then set the capability sets and raise the ambient ones. Runs in the container init right before exec.
 */
export function applyCredentials(sys: Sys, process: ProcessPlan, setgroupsDenied = false): void {
  const caps = process.capabilities;
  if (caps) {
    for (let cap = 0; cap <= LAST_CAPABILITY; cap++) {
      if ((caps.bounding & (1n << BigInt(cap))) === 0n) sys.prctl(Prctl.CAPBSET_DROP, cap);
    }
    sys.prctl(Prctl.SET_KEEPCAPS, 1);
  }
  // Where setgroups is denied (rootless) the groups the init has are the only ones possible.
  if (!setgroupsDenied) sys.setgroups(process.additionalGids);
  else if (process.additionalGids.length > 0) {
    throw new RuntimeError('rootless', `config.json: /process/user/additionalGids ${JSON.stringify(process.additionalGids)}: cannot be set in a rootless container (setgroups is denied)`);
  }
  sys.setresgid(process.gid);
  sys.setresuid(process.uid);
  if (caps) {
    sys.prctl(Prctl.SET_KEEPCAPS, 0);
    sys.capset(caps.effective, caps.permitted, caps.inheritable);
    sys.prctl(Prctl.CAP_AMBIENT, Prctl.CAP_AMBIENT_CLEAR_ALL);
    for (let cap = 0; cap <= LAST_CAPABILITY; cap++) {
      if ((caps.ambient & (1n << BigInt(cap))) !== 0n) sys.prctl(Prctl.CAP_AMBIENT, Prctl.CAP_AMBIENT_RAISE, cap);
    }
  }
  if (process.umask !== undefined) sys.umask(process.umask);
}
