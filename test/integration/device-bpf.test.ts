import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileDeviceProgram } from '../../src/cgroups/devices';
import { RuntimeError } from '../../src/errors';
import { SyscallError } from '../../src/linux/errno';
import {
  attachDeviceProgram, deviceProgramFd, detachDeviceProgram, loadDeviceProgram, queryDevicePrograms,
} from '../../src/linux/bpf';
import { errorOf } from '../helpers/errors';
import { isRoot } from '../helpers/tsrun';

/**
 * The cgroup v2 device program against the real kernel: loaded through bpf(2), attached to a child of the
 * test process's own cgroup2 cgroup, and obeyed by a shell moved into it.
 */

/** The cgroup2 mount (from mountinfo, never by listing /sys/fs/cgroup) and the test process's cgroup dir in it. */
function ownUnifiedCgroup(): string | undefined {
  const mount = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((line) => {
    const [before, after] = line.split(' - ');
    const fields = before?.split(' ') ?? [];
    return { root: fields[3], mountPoint: fields[4], fsType: after?.split(' ')[0] };
  }).find((m) => m.fsType === 'cgroup2');
  const own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((line) => line.startsWith('0::'))?.slice(3);
  if (!mount?.mountPoint || !mount.root || own === undefined) return undefined;
  // The mount shows the hierarchy from `root`; the cgroup must lie under it to be reachable through the mount.
  const relative = path.posix.relative(mount.root, own);
  if (relative.startsWith('..')) return undefined;
  return path.join(mount.mountPoint.replace(/\\040/g, ' '), relative);
}

const unified = ownUnifiedCgroup();
const skipReason = !isRoot ? 'needs root' : unified === undefined ? 'no cgroup2 mount holding this process\'s cgroup' : undefined;

describe.skipIf(skipReason !== undefined)(`cgroup v2 device program${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cgroupDir: string;
  const fds: number[] = [];

  function track(fd: number): number {
    fds.push(fd);
    return fd;
  }

  beforeEach(() => {
    cgroupDir = path.join(unified!, `tsrun-devtest-${process.pid}-${Math.random().toString(16).slice(2, 8)}`);
    fs.mkdirSync(cgroupDir);
  });

  afterEach(() => {
    for (const fd of fds.splice(0)) fs.closeSync(fd);
    // Whatever failed, no process may be left in the cgroup and the directory must go.
    for (let attempt = 0; ; attempt++) {
      try {
        for (const pid of fs.readFileSync(path.join(cgroupDir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
          try { process.kill(Number(pid), 'SIGKILL'); } catch { /* already gone */ }
        }
        fs.rmdirSync(cgroupDir);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        if (attempt >= 50) throw error;
        spawnSync('sleep', ['0.1']);
      }
    }
  });

  function openDir(dir: string): number {
    return track(fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
  }

  /** Runs `script` with /bin/sh in the test cgroup: a wrapper moves itself in, then execs the script. */
  function runInCgroup(script: string) {
    const wrapper = `echo $$ > ${path.join(cgroupDir, 'cgroup.procs')} && exec /bin/sh -c '${script.replace(/'/g, `'\\''`)}'`;
    return spawnSync('/bin/sh', ['-c', wrapper], { encoding: 'utf8', timeout: 20_000 });
  }

  it('a program allowing only /dev/null and reading /dev/zero is enforced on a process in the cgroup', () => {
    const program = compileDeviceProgram([
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
    ], { defaults: false });
    const progFd = track(loadDeviceProgram(program));
    const dirFd = openDir(cgroupDir);
    attachDeviceProgram(dirFd, progFd);
    expect(queryDevicePrograms(dirFd)).toHaveLength(1);

    const r = runInCgroup('head -c1 /dev/zero >/dev/null && echo ok; head -c1 /dev/urandom || echo denied; echo x > /dev/zero || echo zero-write-denied');
    expect(r.error).toBeUndefined();
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['ok', 'denied', 'zero-write-denied']);
    expect(r.stderr).toMatch(/\/dev\/urandom.*Operation not permitted/);
    expect(r.status).toBe(0);

    // The same shell outside the cgroup is not affected.
    const outside = spawnSync('/bin/sh', ['-c', 'head -c1 /dev/urandom >/dev/null && echo free'], { encoding: 'utf8' });
    expect(outside.stdout.trim()).toBe('free');
  });

  it('runc\'s default rules: /dev/urandom and mknod of any device are allowed, other devices are not', () => {
    const progFd = track(loadDeviceProgram(compileDeviceProgram([{ allow: false, access: 'rwm' }])));
    const dirFd = openDir(cgroupDir);
    attachDeviceProgram(dirFd, progFd);
    const node = path.join(cgroupDir.replace(/.*\//, '/tmp/'), 'mem');
    fs.mkdirSync(path.dirname(node));
    try {
      const r = runInCgroup([
        'head -c1 /dev/urandom >/dev/null && echo urandom-ok',
        'head -c1 /dev/kmsg 2>&1 >/dev/null | grep -q "Operation not permitted" && echo kmsg-denied',
        `mknod ${node} c 1 1 && echo mknod-ok`,
        `head -c1 ${node} 2>&1 >/dev/null | grep -q "Operation not permitted" && echo mem-denied`,
      ].join('; '));
      expect(r.stdout.split('\n').filter(Boolean)).toEqual(['urandom-ok', 'kmsg-denied', 'mknod-ok', 'mem-denied']);
    } finally {
      fs.rmSync(path.dirname(node), { recursive: true, force: true });
    }
  });

  it('programs can be queried, found by ID and detached', () => {
    const dirFd = openDir(cgroupDir);
    expect(queryDevicePrograms(dirFd)).toEqual([]);
    // Two programs: one allowing everything but writes to /dev/zero, one everything but /dev/urandom.
    const first = track(loadDeviceProgram(compileDeviceProgram([{ allow: true }, { allow: false, type: 'c', major: 1, minor: 5, access: 'w' }], { defaults: false })));
    const second = track(loadDeviceProgram(compileDeviceProgram([{ allow: true }, { allow: false, type: 'c', major: 1, minor: 9, access: 'rwm' }], { defaults: false })));
    attachDeviceProgram(dirFd, first);
    attachDeviceProgram(dirFd, second);
    const ids = queryDevicePrograms(dirFd);
    expect(ids).toHaveLength(2);
    // With several programs attached, an access must pass all of them.
    const script = 'head -c1 /dev/urandom >/dev/null || echo urandom-denied; head -c1 /dev/zero >/dev/null && echo zero-read; echo >/dev/zero || echo zero-write-denied';
    expect(runInCgroup(script).stdout.split('\n').filter(Boolean)).toEqual(['urandom-denied', 'zero-read', 'zero-write-denied']);
    // Swap: detach the older program through an fd found by its ID.
    detachDeviceProgram(dirFd, track(deviceProgramFd(ids[0]!)));
    expect(queryDevicePrograms(dirFd)).toEqual([ids[1]]);
    expect(runInCgroup(script).stdout.split('\n').filter(Boolean)).toEqual(['urandom-denied', 'zero-read']);
    detachDeviceProgram(dirFd, second);
    expect(queryDevicePrograms(dirFd)).toEqual([]);
    expect(runInCgroup('head -c1 /dev/urandom >/dev/null && echo free').stdout.trim()).toBe('free');
  });

  it('a program the verifier refuses fails with the errno and the verifier\'s log', () => {
    // r0 = *(u32 *)(r1 + 12): past the end of struct bpf_cgroup_dev_ctx; then exit.
    const bad = Buffer.alloc(16);
    bad.writeUInt8(0x61, 0);
    bad.writeUInt8(0x10, 1);
    bad.writeInt16LE(12, 2);
    bad.writeUInt8(0x95, 8);
    const error = errorOf(() => loadDeviceProgram(bad));
    expect(error).toBeInstanceOf(SyscallError);
    expect((error as SyscallError).errno).toBe(13); // EACCES
    expect(error.message).toMatch(/^bpf BPF_PROG_LOAD cgroup device program \(2 instructions\): EACCES .*; verifier log: .*invalid bpf_context access/);
    expect(errorOf(() => loadDeviceProgram(Buffer.alloc(12)))).toBeInstanceOf(RuntimeError);
  });

  it('attaching to something that is not a cgroup fails naming the call', () => {
    const progFd = track(loadDeviceProgram(compileDeviceProgram([], { defaults: false })));
    const notCgroup = openDir('/tmp');
    const error = errorOf(() => attachDeviceProgram(notCgroup, progFd));
    expect(error.message).toMatch(/^bpf BPF_PROG_ATTACH device program \(fd \d+\) to cgroup \(fd \d+\): EBADF/);
  });
});
