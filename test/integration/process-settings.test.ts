import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rawSyscall } from '../../src/linux/libc';
import { Sandbox, integrationSkipReason, needsPrivilege } from '../helpers/tsrun';

describe.skipIf(integrationSkipReason !== undefined)(`process settings${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox('tsrun-proc');
  });
  afterEach(() => {
    sb.cleanup();
  });

  /** Runs a detached `sleep` with the config edit applied and returns /proc/<pid>/ facts read from the host. */
  function inspect(edit: (config: ReturnType<Sandbox['config']>) => void): { pid: number; stat: string[]; status: string; id: string } {
    const config = sb.config(['sleep', '1000']);
    edit(config);
    const id = sb.newId();
    const r = sb.tsrun(['run', '-d', '-b', sb.bundle(config), id]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const pid = sb.state(id).pid;
    const statText = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const stat = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
    return { pid, stat, status: fs.readFileSync(`/proc/${pid}/status`, 'utf8'), id };
  }

  it('scheduler: SCHED_BATCH with nice 7', () => {
    const { stat } = inspect((c) => {
      c.process.scheduler = { policy: 'SCHED_BATCH', nice: 7 };
    });
    // /proc/PID/stat fields (1-based): 19 nice, 41 policy; the slice starts at field 3.
    expect(stat[19 - 3]).toBe('7');
    expect(stat[41 - 3]).toBe('3');
  });

  it.skipIf(needsPrivilege('real-time scheduling needs CAP_SYS_NICE on the host')[0])(`scheduler: SCHED_FIFO with a real-time priority${needsPrivilege('real-time scheduling needs CAP_SYS_NICE on the host')[1]}`, () => {
    const { stat } = inspect((c) => {
      c.process.scheduler = { policy: 'SCHED_FIFO', priority: 10 };
      // The container's own cpu cgroup allows no real-time time unless given some (CONFIG_RT_GROUP_SCHED).
      if (fs.existsSync('/sys/fs/cgroup/cpu/cpu.rt_runtime_us')) c.linux.resources = { cpu: { realtimeRuntime: 100000, realtimePeriod: 1000000 } };
    });
    expect(stat[41 - 3]).toBe('1');
    expect(stat[40 - 3]).toBe('10'); // rt_priority
  });

  it('execCPUAffinity: the process runs on the final CPU list', () => {
    const { status } = inspect((c) => {
      c.process.execCPUAffinity = { initial: '0', final: '0' };
    });
    expect(status).toMatch(/\nCpus_allowed_list:\s+0\n/);
  });

  it('personality LINUX32 makes uname report a 32-bit machine', () => {
    const config = sb.config(['uname', '-m']);
    config.linux.personality = { domain: 'LINUX32' };
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(/^i[3-6]86$/);
  });

  it('ioPriority: best-effort class with priority 6', () => {
    const { pid } = inspect((c) => {
      c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 };
    });
    // ioprio_get(IOPRIO_WHO_PROCESS, pid) from the host: class 2 (BE) << 13 | 6.
    const IOPRIO_GET = process.arch === 'arm64' ? 31 : 252;
    expect(rawSyscall(IOPRIO_GET, 'int', 1, 'int', pid)).toBe((2 << 13) | 6);
  });

  it('bad values fail create naming the field', () => {
    const config = sb.config(['true']);
    config.process.scheduler = { policy: 'SCHED_OTHER', priority: 10 };
    const r = sb.tsrun(['create', '-b', sb.bundle(config), sb.newId()]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^config\.json: \/process\/scheduler\/priority /);
  });
});
