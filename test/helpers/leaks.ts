import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * What a container operation could leave behind on the host, read from /proc and cgroupfs, for tests that compare
 * a before and an after (load, soak). Everything here is a snapshot: plain data that `expect(...).toEqual` diffs.
 */

/** A cgroup hierarchy mounted on this host: its name (`memory`, `cpu,cpuacct`, `unified`) and this process's directory in it. */
export interface OwnCgroup {
  hierarchy: string;
  dir: string;
}

/**
 * This process's cgroup directory in every hierarchy (every v1 one and the unified one), which is where tsrun puts a
 * container whose cgroupsPath is relative (tsrun runs as a child of this process, in the same cgroups).
 */
export function ownCgroupDirs(): OwnCgroup[] {
  const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean).map((line) => {
    const [id, controllers, cgroupPath] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1, line.lastIndexOf(':')), line.slice(line.lastIndexOf(':') + 1)];
    return { v2: id === '0' && controllers === '', controllers: controllers.split(',').filter(Boolean), cgroupPath };
  });
  const result: OwnCgroup[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    const [root, mountPoint] = [fields[3]!, fields[4]!];
    const type = fields[dash + 1];
    const options = (fields[dash + 3] ?? '').split(',');
    let entry;
    if (type === 'cgroup2') entry = own.find((e) => e.v2);
    else if (type === 'cgroup') entry = own.find((e) => !e.v2 && e.controllers.length > 0 && e.controllers.every((c) => options.includes(c)));
    if (!entry) continue;
    const relative = path.posix.relative(root, entry.cgroupPath);
    if (relative.startsWith('..')) continue; // our cgroup is not visible through this mount
    result.push({ hierarchy: type === 'cgroup2' ? 'unified' : entry.controllers.join(','), dir: path.join(mountPoint, relative) });
  }
  return result;
}

/**
 * Every cgroup directory below this process's own cgroups whose path (relative to the own cgroup) starts with
 * `prefix`, as `hierarchy:relative/path`, sorted. The host's cgroups are shared with everything else running here
 * (other test files, CI): only names a test made unique to itself can be compared.
 */
export function cgroupDirsUnder(prefix: string): string[] {
  const found: string[] = [];
  for (const { hierarchy, dir } of ownCgroupDirs()) {
    const stack = listDirs(dir).filter((name) => name.startsWith(prefix));
    while (stack.length > 0) {
      const relative = stack.pop()!;
      found.push(`${hierarchy}:${relative}`);
      for (const child of listDirs(path.join(dir, relative))) stack.push(path.join(relative, child));
    }
  }
  return found.sort();
}

/** rmdir, deepest first, of what cgroupDirsUnder(prefix) finds: for a test's cleanup after a failure. */
export function removeCgroupDirsUnder(prefix: string): void {
  const byHierarchy = new Map(ownCgroupDirs().map((c) => [c.hierarchy, c.dir]));
  const dirs = cgroupDirsUnder(prefix).map((entry) => path.join(byHierarchy.get(entry.slice(0, entry.indexOf(':')))!, entry.slice(entry.indexOf(':') + 1)));
  for (const dir of dirs.sort((a, b) => b.length - a.length)) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // still busy: the assertion that found it reports it
    }
  }
}

function listDirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** This process's open descriptors as `fd -> target`, sorted by fd. */
export function openFds(): string[] {
  const result: Array<[number, string]> = [];
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      result.push([Number(name), fs.readlinkSync(`/proc/self/fd/${name}`)]);
    } catch {
      // the descriptor readdir itself used, closed again by now
    }
  }
  return result.sort((a, b) => a[0] - b[0]).map(([fd, target]) => `${fd} -> ${target}`);
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  state: string;
  cmdline: string;
}

/** Every process of the host (this PID namespace) that can be read now. */
export function processes(): ProcessInfo[] {
  const result: ProcessInfo[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0').join(' ').trim();
      result.push({ pid: Number(name), ppid: Number(rest[1]), state: rest[0]!, cmdline });
    } catch {
      // exited meanwhile
    }
  }
  return result;
}

/** Processes whose command line mentions `text` (e.g. a test's --root), and zombies whose parent is this process. */
export function leftoverProcesses(text: string): ProcessInfo[] {
  return processes().filter((p) => p.pid !== process.pid && (p.cmdline.includes(text) || (p.ppid === process.pid && p.state === 'Z')));
}

/**
 * The mounts of this (the host's) mount namespace as `mount point, type, source`, in mountinfo order — except those
 * under the temp directory (other than `ownDir`) and under /run/netns: other test runs on the same host (other files'
 * sandboxes, CI, named network namespaces) mount and unmount there at any time.
 */
export function hostMounts(ownDir: string): string[] {
  const others = [`${os.tmpdir()}/`, '/run/netns/'];
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((line) => {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    return { point: fields[4]!, entry: `${fields[4]} ${fields[dash + 1]} ${fields[dash + 2]}` };
  }).filter(({ point }) => point === ownDir || point.startsWith(`${ownDir}/`) || !others.some((dir) => point.startsWith(dir)))
    .map(({ entry }) => entry);
}

/**
 * Makes `name` below this process's own cgroup in every hierarchy, as an orchestrator makes a pod's cgroup before
 * its containers (v1 cpuset values copied from the own cgroup, or it would refuse tasks). Returns what it made, as
 * cgroupDirsUnder shows it.
 */
export function makeCgroupParent(name: string): string[] {
  const made: string[] = [];
  for (const { hierarchy, dir } of ownCgroupDirs()) {
    const target = path.join(dir, name);
    fs.mkdirSync(target);
    made.push(`${hierarchy}:${name}`);
    if (hierarchy.split(',').includes('cpuset')) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) fs.writeFileSync(path.join(target, file), fs.readFileSync(path.join(dir, file), 'utf8').trim());
    }
  }
  return made.sort();
}
