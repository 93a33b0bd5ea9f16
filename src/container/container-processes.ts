import fs from 'node:fs';

/**
 * Host PIDs of every process in the PID namespace whose init is `initPid` (the init included). Without
 * cgroups this is how "every process of the container" is found; it relies on the container having its own
 * PID namespace, which tsrun requires for kill --all.
 */
export function processesInPidNamespaceOf(initPid: number, procRoot = '/proc'): number[] {
  let namespace: string;
  try {
    namespace = fs.readlinkSync(`${procRoot}/${initPid}/ns/pid`);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of fs.readdirSync(procRoot)) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (fs.readlinkSync(`${procRoot}/${entry}/ns/pid`) === namespace) pids.push(Number(entry));
    } catch {
      // exited meanwhile, or a kernel thread without namespaces
    }
  }
  return pids;
}
