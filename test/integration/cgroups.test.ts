import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { integrationSkipReason, processAlive, rootlessRun, Sandbox, waitUntil } from '../helpers/tsrun';

/** This process's cgroup directory in the v1 hierarchy of `controller` (where relative cgroupsPaths land). */
function ownCgroupDir(controller: string): string | undefined {
  const mount = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[f.indexOf('-') + 1] === 'cgroup' && (f[f.indexOf('-') + 3] ?? '').split(',').includes(controller));
  if (!mount) return undefined;
  const line = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes(controller));
  if (!line) return undefined;
  const cgroupPath = line.split(':')[2]!;
  return path.join(mount[4]!, path.relative(mount[3]!, cgroupPath));
}

/** This process's cgroup directory in every hierarchy mounted (v1 ones, named ones such as systemd, cgroup2). */
function allOwnCgroupDirs(): string[] {
  const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean).map((l) => l.split(':'));
  const dirs: string[] = [];
  for (const fields of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' '))) {
    const dash = fields.indexOf('-');
    const type = fields[dash + 1];
    if (type !== 'cgroup' && type !== 'cgroup2') continue;
    const options = (fields[dash + 3] ?? '').split(',');
    const line = type === 'cgroup2'
      ? own.find((f) => f[0] === '0' && f[1] === '')
      : own.find((f) => f[1] !== '' && f[1]!.split(',').every((c) => options.includes(c)));
    if (line) dirs.push(path.join(fields[4]!, path.relative(fields[3]!, line[2]!)));
  }
  return dirs;
}

const memoryDir = ownCgroupDir('memory');
const skipReason = integrationSkipReason ?? (rootlessRun ? 'rootless tsrun does not manage cgroups' : memoryDir === undefined ? 'needs a cgroup v1 memory hierarchy' : undefined);

describe.skipIf(skipReason !== undefined)(`cgroups${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let sb: Sandbox;
  let counter = 0;
  let cgroupName: string;
  beforeEach(() => {
    sb = new Sandbox('tsrun-cg');
    cgroupName = `tsrun-it-${process.pid}-${++counter}`;
  });
  afterEach(() => {
    sb.cleanup();
    // Nothing tsrun made may survive a test, passing or failing.
    const left = allOwnCgroupDirs().map((d) => path.join(d, cgroupName)).filter((d) => fs.existsSync(d));
    for (const dir of left) fs.rmdirSync(dir);
    expect(left).toEqual([]);
  });

  function config(args: string[], resources: Record<string, unknown> = {}) {
    const c = sb.config(args);
    c.linux.cgroupsPath = cgroupName; // relative: under this test process's own cgroup
    c.linux.resources = resources;
    return c;
  }

  const cg = (controller: string, file: string) => fs.readFileSync(path.join(ownCgroupDir(controller)!, cgroupName, file), 'utf8').trim();

  it('puts the init into its cgroup before create returns, with the limits written', () => {
    const id = sb.newId();
    const r = sb.tsrun(['create', '-b', sb.bundle(config(['sleep', '1000'], { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 20 } })), id]);
    expect(r.stderr).toBe('');
    const pid = sb.state(id).pid;
    expect(cg('memory', 'cgroup.procs').split('\n').map(Number)).toContain(pid);
    expect(cg('memory', 'memory.limit_in_bytes')).toBe(String(64 * 1024 * 1024));
    expect(cg('pids', 'pids.max')).toBe('20');
    expect(sb.tsrun(['delete', id]).status).toBe(0);
    expect(fs.existsSync(path.join(ownCgroupDir('memory')!, cgroupName))).toBe(false);
  });

  it('a memory hog is OOM-killed: run exits 137', () => {
    const limit = 32 * 1024 * 1024;
    const r = sb.tsrun(['run', '-b', sb.bundle(config(['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=1'], { memory: { limit, swap: limit } })), sb.newId()]);
    expect(r.status).toBe(137);
  });

  it('pids.limit stops a fork bomb', () => {
    const script = 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait';
    const r = sb.tsrun(['run', '-b', sb.bundle(config(['sh', '-c', script], { pids: { limit: 4 } })), sb.newId()]);
    expect(r.stderr).toMatch(/can't fork/);
  });

  it('pause freezes the container, resume thaws it; state follows', async () => {
    const id = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(config(['sleep', '1000'])), id]).status).toBe(0);
    expect(sb.tsrun(['pause', id]).status).toBe(0);
    expect(sb.state(id).status).toBe('paused');
    expect(cg('freezer', 'freezer.state')).toBe('FROZEN');
    const again = sb.tsrun(['pause', id]);
    expect(again.status).toBe(1);
    expect(sb.tsrun(['resume', id]).status).toBe(0);
    expect(sb.state(id).status).toBe('running');
    const notPaused = sb.tsrun(['resume', id]);
    expect(notPaused.status).toBe(1);
    expect(notPaused.stderr).toContain('container not paused');
    // delete --force of a paused container works (thaw after SIGKILL)
    expect(sb.tsrun(['pause', id]).status).toBe(0);
    const pid = sb.state(id).pid;
    expect(sb.tsrun(['delete', '--force', id]).status).toBe(0);
    await waitUntil(() => !processAlive(pid), 10_000, 'the paused init to die');
  });

  it('update changes the limits of a running container', () => {
    const id = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(config(['sleep', '1000'], { memory: { limit: 64 * 1024 * 1024 } })), id]).status).toBe(0);
    const r = sb.tsrun(['update', '--memory', '96m', '--pids-limit', '9', id]);
    expect(r.stderr).toBe('');
    expect(cg('memory', 'memory.limit_in_bytes')).toBe(String(96 * 1024 * 1024));
    expect(cg('pids', 'pids.max')).toBe('9');
    const file = path.join(sb.dir, 'resources.json');
    fs.writeFileSync(file, JSON.stringify({ cpu: { shares: 512 } }));
    expect(sb.tsrun(['update', '--resources', file, id]).status).toBe(0);
    expect(cg('cpu', 'cpu.shares')).toBe('512');
  });

  it('ps --format json prints a bare array of the container\'s host PIDs; kill --all reaches them all', async () => {
    const id = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(config(['sh', '-c', 'trap "" TERM; sleep 1000 & sleep 1001 & wait'])), id]).status).toBe(0);
    const init = sb.state(id).pid;
    await waitUntil(() => JSON.parse(sb.tsrun(['ps', '--format', 'json', id]).stdout).length === 3, 10_000, 'three processes');
    const ps = sb.tsrun(['ps', '--format', 'json', id]);
    expect(ps.stderr).toBe('');
    const pids: number[] = JSON.parse(ps.stdout);
    expect(pids).toContain(init);
    const table = sb.tsrun(['ps', id]).stdout.split('\n');
    expect(table[0]).toMatch(/PID/);
    expect(table.filter((l) => /\ssleep 100[01]$/.test(l))).toHaveLength(2);
    expect(sb.tsrun(['kill', '--all', id, 'KILL']).status).toBe(0);
    await waitUntil(() => pids.every((p) => !processAlive(p)), 10_000, 'every process to die');
  });

  it('events --stats prints runc-shaped statistics', () => {
    const id = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(config(['sleep', '1000'], { pids: { limit: 50 } })), id]).status).toBe(0);
    const r = sb.tsrun(['events', '--stats', id]);
    expect(r.stderr).toBe('');
    const event = JSON.parse(r.stdout.trim());
    expect(event).toMatchObject({ type: 'stats', id });
    expect(event.data.memory.usage.usage).toBeGreaterThan(0);
    expect(event.data.pids).toEqual({ current: 1, limit: 50 });
  });

  it('a parent cgroup tsrun made for two containers goes with the last of them, whichever made it', () => {
    const parents = allOwnCgroupDirs().map((d) => path.join(d, cgroupName));
    const ids = ['maker', 'joiner'].map((leaf) => {
      const id = sb.newId(leaf);
      const c = config(['sleep', '1000']);
      c.linux.cgroupsPath = `${cgroupName}/${leaf}`;
      const r = sb.tsrun(['run', '-d', '-b', sb.bundle(c), id]);
      expect(r.stderr).toBe('');
      return id;
    });
    // The first container made the parent: deleting it first leaves the parent to the second.
    expect(sb.tsrun(['delete', '--force', ids[0]!]).status).toBe(0);
    expect(parents.filter((d) => fs.existsSync(d))).toEqual(parents);
    const last = sb.tsrun(['delete', '--force', ids[1]!]);
    expect(last.stderr).toBe('');
    expect(parents.filter((d) => fs.existsSync(d))).toEqual([]);
    expect(fs.readdirSync(sb.root).filter((n) => n !== '@locks')).toEqual([]);
  });

  it('a limit the kernel refuses fails create naming the file and value, and leaves no cgroup', () => {
    const id = sb.newId();
    const r = sb.tsrun(['create', '-b', sb.bundle(config(['true'], { cpu: { cpus: '9999' } })), id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cpuset\.cpus "9999"/);
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('the device cgroup denies devices the config does not allow, even to root with CAP_MKNOD', () => {
    // A block device node made inside the container (allowed: runc's default rules permit mknod) cannot be
    // opened; /dev/null (a default rule) can.
    // The host's root block device: readable by root on the host, so only the device cgroup can deny it.
    const dev = fs.statSync('/').dev;
    const [major, minor] = [Math.floor(dev / 256) & 0xfff, (dev & 0xff) | ((Math.floor(dev / 1048576) & 0xfff) << 8)];
    const c = config(['sh', '-c', `mknod /dev/disk b ${major} ${minor} && (head -c1 /dev/disk >/dev/null 2>&1 && echo disk=read || echo disk=denied); echo x > /dev/null && echo null=ok`]);
    for (const set of ['bounding', 'effective', 'permitted']) c.process.capabilities[set].push('CAP_MKNOD');
    const r = sb.tsrun(['run', '-b', sb.bundle(c), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('disk=denied\nnull=ok\n');
  });

  it('update with checkBeforeUpdate refuses a memory limit below the current usage', () => {
    const id = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(config(['sleep', '1000'], { memory: { limit: 64 * 1024 * 1024 } })), id]).status).toBe(0);
    const file = path.join(sb.dir, 'tiny.json');
    fs.writeFileSync(file, JSON.stringify({ memory: { limit: 4096, checkBeforeUpdate: true } }));
    const r = sb.tsrun(['update', '--resources', file, id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/checkBeforeUpdate/);
    expect(cg('memory', 'memory.limit_in_bytes')).toBe(String(64 * 1024 * 1024));
  });

  it('events reports an OOM kill inside the container', async () => {
    const id = sb.newId();
    const limit = 32 * 1024 * 1024;
    const script = 'sleep 0.5; dd if=/dev/zero of=/dev/null bs=128M count=1; sleep 1000';
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(config(['sh', '-c', script], { memory: { limit, swap: limit } })), id]).status).toBe(0);
    const events = sb.tsrunAsync(['events', '--interval', '100ms', id]);
    // The hog is OOM-killed half a second in; events samples every 100 ms. Stop it after 3 s either way.
    const stop = setTimeout(() => process.kill(events.pid, 'SIGKILL'), 3000);
    let output: string;
    try {
      output = (await events.done).stdout;
    } finally {
      clearTimeout(stop);
    }
    expect(output.split('\n').filter(Boolean).map((l) => JSON.parse(l).type)).toContain('oom');
  });

  it('cpu, cpuset and blkio limits land in their cgroup files', () => {
    const dev = fs.statSync('/').dev;
    const [major, minor] = [Math.floor(dev / 256) & 0xfff, dev & 0xff];
    const id = sb.newId();
    const resources = {
      cpu: { shares: 256, quota: 50000, period: 100000, cpus: '0', mems: '0' },
      blockIO: { throttleReadBpsDevice: [{ major, minor, rate: 1048576 }], throttleWriteIOPSDevice: [{ major, minor, rate: 100 }] },
    };
    const r = sb.tsrun(['run', '-d', '-b', sb.bundle(config(['sleep', '1000'], resources)), id]);
    expect(r.stderr).toBe('');
    expect(cg('cpu', 'cpu.shares')).toBe('256');
    expect(cg('cpu', 'cpu.cfs_quota_us')).toBe('50000');
    expect(cg('cpu', 'cpu.cfs_period_us')).toBe('100000');
    expect(cg('cpuset', 'cpuset.cpus')).toBe('0');
    expect(cg('blkio', 'blkio.throttle.read_bps_device')).toBe(`${major}:${minor} 1048576`);
    expect(cg('blkio', 'blkio.throttle.write_iops_device')).toBe(`${major}:${minor} 100`);
  });

  it('kill --all reaches processes that outlived the init (no PID namespace of its own)', async () => {
    const c = config(['sh', '-c', 'sleep 1000 & echo $! > /tmp/child; exit 0']);
    c.linux.namespaces = c.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'pid');
    c.mounts = c.mounts.filter((m: { destination: string }) => m.destination !== '/tmp');
    const id = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(c), id]).status).toBe(0);
    const init = sb.state(id).pid;
    await waitUntil(() => !processAlive(init), 10_000, 'the init to exit');
    const left: number[] = JSON.parse(sb.tsrun(['ps', '--format', 'json', id]).stdout);
    expect(left).toHaveLength(1);
    expect(sb.state(id).status).toBe('stopped');
    expect(sb.tsrun(['kill', '--all', id, 'KILL']).status).toBe(0);
    await waitUntil(() => !processAlive(left[0]!), 10_000, 'the leftover to die');
    expect(sb.tsrun(['delete', id]).status).toBe(0);
  });

  it('kill KILL of a paused container (without --all) thaws it so the init dies', async () => {
    const id = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(config(['sleep', '1000'])), id]).status).toBe(0);
    const pid = sb.state(id).pid;
    expect(sb.tsrun(['pause', id]).status).toBe(0);
    expect(sb.tsrun(['kill', id, 'KILL']).status).toBe(0);
    await waitUntil(() => !processAlive(pid), 5_000, 'the paused init to die');
    expect(sb.state(id).status).toBe('stopped');
  });
});

