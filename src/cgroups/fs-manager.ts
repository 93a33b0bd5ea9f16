import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../errors';
import { nodeErrorCode } from '../linux/errno';
import type { CgroupLayout, CgroupManager, CgroupState, CgroupStats, CgroupWrite, MemoryEntry } from './types';

/**
 * The cgroupfs driver: the container's cgroup is a directory per hierarchy (`paths`: controller or `unified` →
 * absolute directory, as `resolveCgroupPaths` computes them), and everything is a read or a write of a file in
 * one of them. It works on v1, v2 and hybrid hosts alike:
 * - v1 controllers are used through their own hierarchy; on a hybrid host the unified directory is joined too (like
 *   runc's fs driver does) and serves what no v1 hierarchy provides (the freezer when there is no v1 freezer, stats
 *   such as hugetlb when hugetlb is only bound to cgroup2, as on this project's test host);
 * - on a v2 host only `unified` exists.
 *
 * Nothing here polls without a bound. Three places must wait for the kernel, and Node has no synchronous way to be
 * told (no inotify, no poll(2) on a file from synchronous code, and tsrun's verbs are synchronous): the v1 freezer's
 * FREEZING → FROZEN transition (freezer.state raises no event at all), the v2 `frozen 1` line of cgroup.events, and
 * the removal of a cgroup whose killed tasks the kernel is still taking out of it. Each uses short Atomics.wait naps
 * with a fixed upper bound and then reports what it saw.
 */

export interface FsCgroupManagerOptions {
  /** Directories an earlier `create` made (from state.json); only these are ever removed. */
  created?: string[];
}

/** runc's value for "no limit" in v2 (`max`), math.MaxUint64; a JS number holds it as 2^64 (the nearest double). */
export const CGROUP_UNLIMITED = 2 ** 64 - 1;

/** USER_HZ, the unit of cpuacct.stat: fixed at 100 for the values the kernel exports to user space. */
const USER_HZ = 100;
const FREEZE_POLLS = 1000;
const FREEZE_NAP_MS = 1;
/** Re-ask the v1 freezer every this many polls: it only retries the tasks it could not freeze when asked again. */
const FREEZE_REWRITE_EVERY = 100;
const DESTROY_BUDGET_MS = 5000;
const DESTROY_NAP_MS = 10;
/** mkdir walks of one directory (see makeLevels). */
const MKDIR_ATTEMPTS = 5;

const napCell = new Int32Array(new SharedArrayBuffer(4));

function codeOf(error: unknown): string {
  return nodeErrorCode(error) ?? (error instanceof Error ? error.message : String(error));
}

function isEsrch(error: unknown): boolean {
  if (nodeErrorCode(error) === 'ESRCH') return true;
  return typeof error === 'object' && error !== null && 'errno' in error && (error as { errno: unknown }).errno === 3;
}

/** A file's content, or undefined when it cannot be read (missing on this kernel, removed meanwhile, …). */
function readOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function toNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (trimmed === 'max') return CGROUP_UNLIMITED;
  if (!/^-?[0-9]+$/.test(trimmed)) return undefined;
  return Number(trimmed);
}

/** `key value` lines (memory.stat, cpu.stat, cpuacct.stat, *.events) → numbers; other lines are skipped. */
function keyValues(text: string | undefined): Record<string, number> {
  const result: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [key, value, extra] = line.trim().split(/\s+/);
    const parsed = toNumber(value);
    if (key && parsed !== undefined && extra === undefined) result[key] = parsed;
  }
  return result;
}

type BlkioEntry = { major: number; minor: number; op: string; value: number };

/** v1 blkio files: `MAJ:MIN Op value` lines (or `MAJ:MIN value` for time/sectors) and a final `Total N`. */
function blkioEntries(text: string | undefined): BlkioEntry[] {
  const entries: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const fields = line.trim().split(/\s+/);
    const device = /^([0-9]+):([0-9]+)$/.exec(fields[0] ?? '');
    if (!device) continue;
    const op = fields.length === 3 ? (fields[1] ?? '') : '';
    const value = toNumber(fields[fields.length - 1]);
    if (value === undefined || fields.length < 2 || fields.length > 3) continue;
    entries.push({ major: Number(device[1]), minor: Number(device[2]), op, value });
  }
  return entries;
}

/** runc's JSON names → the file suffixes of each v1 blkio statistics family. */
const BLKIO_KEYS: Array<[string, string]> = [
  ['ioServiceBytesRecursive', 'io_service_bytes_recursive'],
  ['ioServicedRecursive', 'io_serviced_recursive'],
  ['ioQueueRecursive', 'io_queued_recursive'],
  ['ioServiceTimeRecursive', 'io_service_time_recursive'],
  ['ioWaitTimeRecursive', 'io_wait_time_recursive'],
  ['ioMergedRecursive', 'io_merged_recursive'],
  ['ioTimeRecursive', 'time_recursive'],
  ['sectorsRecursive', 'sectors_recursive'],
];

function addCapped(a: number, b: number): number {
  return a >= CGROUP_UNLIMITED || b >= CGROUP_UNLIMITED ? CGROUP_UNLIMITED : a + b;
}

export class FsCgroupManager implements CgroupManager {
  private readonly layout: CgroupLayout;
  private readonly paths: Record<string, string>;
  private created: string[];

  constructor(layout: CgroupLayout, paths: Record<string, string>, opts: FsCgroupManagerOptions = {}) {
    this.layout = layout;
    this.paths = { ...paths };
    this.created = [...(opts.created ?? [])];
  }

  /** The manager of a container whose cgroups an earlier tsrun process made (delete, kill, pause…). */
  static fromState(state: CgroupState): FsCgroupManager {
    if (state.driver !== 'cgroupfs') {
      throw new RuntimeError('cgroups', `state.json names the cgroup driver ${JSON.stringify(state.driver)}, which this tsrun does not have`);
    }
    // Only the mode matters after create: every directory is in `paths`.
    return new FsCgroupManager({ mode: state.mode, v1: {}, unified: undefined }, state.paths, { created: state.created });
  }

  get state(): CgroupState {
    return { driver: 'cgroupfs', mode: this.layout.mode, paths: { ...this.paths }, created: [...this.created] };
  }

  // ---- seams: the only places that change cgroupfs or sleep (unit tests stand in for the kernel through them) ----

  /** One write(2) of `value`: O_WRONLY|O_TRUNC and never O_CREAT (cgroupfs cannot create files; a missing file is ENOENT). */
  protected writeFile(file: string, value: string): void {
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
    try {
      fs.writeFileSync(fd, value);
    } finally {
      fs.closeSync(fd);
    }
  }

  protected makeDir(dir: string): void {
    fs.mkdirSync(dir);
  }

  protected removeDir(dir: string): void {
    fs.rmdirSync(dir);
  }

  /** Blocks the thread for `ms` milliseconds: tsrun's verbs are synchronous, so a wait cannot yield to the event loop. */
  protected nap(ms: number): void {
    Atomics.wait(napCell, 0, 0, ms);
  }

  // ---- directories ----

  /** Every distinct directory, v1 hierarchies first (co-mounted controllers share one), then the unified one. */
  private directories(): string[] {
    const dirs = new Set<string>();
    for (const [key, dir] of Object.entries(this.paths)) if (key !== 'unified') dirs.add(dir);
    if (this.paths.unified !== undefined) dirs.add(this.paths.unified);
    return [...dirs];
  }

  /** The directory of a v1 controller (never on a v2 host). */
  private v1Dir(controller: string): string | undefined {
    return this.layout.mode === 'v2' ? undefined : this.paths[controller];
  }

  private get unifiedDir(): string | undefined {
    return this.layout.mode === 'v1' ? undefined : this.paths.unified;
  }

  create(): void {
    for (const dir of this.directories()) {
      this.makeLevels(dir);
      const cpuset = this.v1Dir('cpuset') === dir ? this.layout.v1.cpuset : undefined;
      if (cpuset) this.fillCpusets(levelsBelow(cpuset.mountPoint, dir));
    }
    if (this.layout.mode === 'v2' && this.paths.unified !== undefined) this.enableControllers(this.paths.unified);
  }

  /**
   * mkdir -p of `dir`, recording the levels made here. Other tsrun processes work on the same tree at the same time:
   * a level they made is fine (EEXIST), and a parent they made and removed again (deleting the last container in it)
   * between our look and our mkdir makes the mkdir fail with ENOENT: then the walk starts again and makes that
   * parent here. Each retry means another tsrun removed a level meanwhile; a few are enough.
   */
  private makeLevels(dir: string): void {
    for (let attempt = 1; ; attempt++) {
      const missing: string[] = [];
      for (let level = dir; !fs.existsSync(level); level = path.dirname(level)) {
        missing.unshift(level);
        if (path.dirname(level) === level) break;
      }
      try {
        for (const level of missing) {
          try {
            this.makeDir(level);
          } catch (error) {
            if (nodeErrorCode(error) === 'EEXIST') continue;
            throw error;
          }
          if (!this.created.includes(level)) this.created.push(level);
        }
        return;
      } catch (error) {
        if (nodeErrorCode(error) === 'ENOENT' && attempt < MKDIR_ATTEMPTS) continue;
        const level = missing.find((l) => !fs.existsSync(l)) ?? dir;
        throw new RuntimeError('cgroups', `cgroup: mkdir ${level}: ${codeOf(error)}`, { cause: error });
      }
    }
  }

  /**
   * A new v1 cpuset cgroup starts with empty cpuset.cpus and cpuset.mems and refuses tasks (ENOSPC) until both are
   * set (unless the parent has cgroup.clone_children). Like runc (cpusetEnsureParent), copy them from the parent,
   * top-down, into every level on the way that still has them empty: the levels made here, and a parent that another
   * tsrun made a moment ago and has not filled yet (its container's cgroup would be refused otherwise). A level with
   * values is never touched.
   */
  private fillCpusets(levels: string[]): void {
    for (const level of levels) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        const own = readOptional(path.join(level, file));
        if (own === undefined || own.trim() !== '') continue;
        const parent = readOptional(path.join(path.dirname(level), file))?.trim();
        if (!parent) continue;
        try {
          this.writeFile(path.join(level, file), parent);
        } catch (error) {
          throw new RuntimeError('cgroups', `cgroup: write ${path.join(level, file)} ${JSON.stringify(parent)} (copied from the parent cgroup): ${codeOf(error)}`, { cause: error });
        }
      }
    }
  }

  /**
   * cgroup v2 shows a controller's files in a cgroup only when its parent lists the controller in
   * cgroup.subtree_control. Like runc, enable every available controller on each level from the mount root down to
   * the container's parent. Refusals are not errors here (a level with processes of its own cannot delegate
   * controllers, "no internal processes"): a write that needs a missing file fails later, naming the file.
   */
  private enableControllers(leaf: string): void {
    const mountPoint = this.layout.unified?.mountPoint;
    if (mountPoint === undefined) return;
    const relative = path.relative(mountPoint, leaf);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return;
    const parts = relative.split(path.sep);
    let level = mountPoint;
    for (let i = 0; i < parts.length; i++) {
      const available = (readOptional(path.join(level, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean);
      const enabled = new Set((readOptional(path.join(level, 'cgroup.subtree_control')) ?? '').split(/\s+/).filter(Boolean));
      const wanted = available.filter((name) => !enabled.has(name));
      if (wanted.length > 0) {
        const file = path.join(level, 'cgroup.subtree_control');
        try {
          this.writeFile(file, wanted.map((name) => `+${name}`).join(' '));
        } catch {
          for (const name of wanted) {
            try {
              this.writeFile(file, `+${name}`);
            } catch {
              // Refused (e.g. EBUSY): see above.
            }
          }
        }
      }
      level = path.join(level, parts[i] ?? '');
    }
  }

  apply(writes: readonly CgroupWrite[]): void {
    for (const write of writes) {
      const where = `${JSON.stringify(write.value)} (config.json ${write.pointer || '/'})`;
      const dir = write.controller === 'unified' ? this.unifiedDir : this.v1Dir(write.controller);
      if (dir === undefined) {
        throw new RuntimeError('cgroup-write', `cgroup: write ${write.controller}/${write.file} ${where}: there is no ${write.controller === 'unified' ? 'cgroup v2' : write.controller} hierarchy on this host`);
      }
      try {
        this.writeFile(path.join(dir, write.file), write.value);
      } catch (error) {
        const code = codeOf(error);
        throw new RuntimeError('cgroup-write', `cgroup: write ${dir}/${write.file} ${where}: ${code}${explainWriteError(code)}`, { cause: error });
      }
    }
  }

  join(pid: number): void {
    for (const dir of this.directories()) {
      try {
        this.writeFile(path.join(dir, 'cgroup.procs'), String(pid));
      } catch (error) {
        const code = codeOf(error);
        const hint = code === 'ENOSPC' ? ' (a v1 cpuset cgroup with an empty cpuset.cpus or cpuset.mems refuses tasks)'
          : code === 'ESRCH' ? ` (process ${pid} no longer exists)` : '';
        throw new RuntimeError('cgroups', `cgroup: join ${dir}: write cgroup.procs ${pid}: ${code}${hint}`, { cause: error });
      }
    }
  }

  /** The hierarchy whose cgroup.procs lists the container's processes: freezer, pids or memory on v1, else any. */
  private pidsDir(): string | undefined {
    if (this.layout.mode === 'v2') return this.paths.unified;
    for (const controller of ['freezer', 'pids', 'memory']) {
      const dir = this.paths[controller];
      if (dir !== undefined) return dir;
    }
    return Object.entries(this.paths).find(([key]) => key !== 'unified')?.[1] ?? this.paths.unified;
  }

  pids(): number[] {
    const dir = this.pidsDir();
    return dir === undefined ? [] : pidsUnder(dir);
  }

  // ---- freezer ----

  private freezer(): { version: 1 | 2; dir: string } | undefined {
    const v1 = this.v1Dir('freezer');
    if (v1 !== undefined) return { version: 1, dir: v1 };
    const unified = this.unifiedDir;
    return unified === undefined ? undefined : { version: 2, dir: unified };
  }

  private requireFreezer(): { version: 1 | 2; dir: string } {
    const freezer = this.freezer();
    if (!freezer) throw new RuntimeError('cgroups', 'cgroup: there is no freezer on this host (no v1 freezer hierarchy and no cgroup v2 mount): the container cannot be paused');
    return freezer;
  }

  private writeControl(file: string, value: string): void {
    try {
      this.writeFile(file, value);
    } catch (error) {
      throw new RuntimeError('cgroups', `cgroup: write ${file} ${JSON.stringify(value)}: ${codeOf(error)}`, { cause: error });
    }
  }

  freeze(): void {
    const { version, dir } = this.requireFreezer();
    if (version === 1) {
      // The v1 freezer answers FREEZING until every task has entered the refrigerator; reading freezer.state is what
      // re-checks that, and the file raises no event, so the only way to learn the outcome is to read it again.
      const file = path.join(dir, 'freezer.state');
      this.writeControl(file, 'FROZEN');
      let state = '';
      for (let poll = 1; poll <= FREEZE_POLLS; poll++) {
        state = (readOptional(file) ?? '').trim();
        if (state === 'FROZEN') return;
        if (poll % FREEZE_REWRITE_EVERY === 0) this.writeControl(file, 'FROZEN');
        this.nap(FREEZE_NAP_MS);
      }
      this.thawQuietly(file, 'THAWED');
      throw new RuntimeError('cgroups', `cgroup: ${file} still read ${JSON.stringify(state)} after ${FREEZE_POLLS} ms: some tasks would not freeze, so the container was thawed again`);
    }
    // v2: cgroup.freeze asks, cgroup.events' `frozen 1` confirms once every task has stopped (asynchronously).
    this.writeControl(path.join(dir, 'cgroup.freeze'), '1');
    const events = path.join(dir, 'cgroup.events');
    for (let poll = 1; poll <= FREEZE_POLLS; poll++) {
      const text = readOptional(events);
      if (text === undefined || /^frozen 1$/m.test(text)) return;
      this.nap(FREEZE_NAP_MS);
    }
    this.thawQuietly(path.join(dir, 'cgroup.freeze'), '0');
    throw new RuntimeError('cgroups', `cgroup: ${events} did not report "frozen 1" within ${FREEZE_POLLS} ms, so the container was thawed again`);
  }

  private thawQuietly(file: string, value: string): void {
    try {
      this.writeFile(file, value);
    } catch {
      // The error being reported is the failed freeze.
    }
  }

  thaw(): void {
    const { version, dir } = this.requireFreezer();
    if (version === 1) this.writeControl(path.join(dir, 'freezer.state'), 'THAWED');
    else this.writeControl(path.join(dir, 'cgroup.freeze'), '0');
  }

  /** True when a freeze was asked for: FROZEN, or FREEZING still after a few re-reads (v1); cgroup.freeze = 1 (v2). */
  isFrozen(): boolean {
    const freezer = this.freezer();
    if (!freezer) return false;
    if (freezer.version === 2) return (readOptional(path.join(freezer.dir, 'cgroup.freeze')) ?? '').trim() === '1';
    const file = path.join(freezer.dir, 'freezer.state');
    for (let poll = 0; ; poll++) {
      const state = (readOptional(file) ?? '').trim();
      if (state !== 'FREEZING' || poll >= 10) return state === 'FROZEN' || state === 'FREEZING';
      this.nap(FREEZE_NAP_MS);
    }
  }

  /** Thaws the container's cgroup and every sub-cgroup frozen on its own (those stay frozen when the parent thaws). */
  private thawTree(): boolean {
    const freezer = this.freezer();
    if (!freezer) return false;
    const [file, frozen, thawed] = freezer.version === 1 ? ['freezer.state', /^(FROZEN|FREEZING)$/, 'THAWED'] : ['cgroup.freeze', /^1$/, '0'];
    let any = false;
    for (const dir of walk(freezer.dir)) {
      const state = (readOptional(path.join(dir, file)) ?? '').trim();
      if (!frozen.test(state)) continue;
      any = true;
      this.thawQuietly(path.join(dir, file), thawed);
    }
    return any;
  }

  // ---- statistics ----

  stats(): CgroupStats {
    const stats: CgroupStats = {};
    const cpu = this.cpuStats();
    if (cpu) stats.cpu = cpu;
    const memory = this.memoryStats();
    if (memory) stats.memory = memory;
    const pids = this.pidsStats();
    if (pids) stats.pids = pids;
    const blkio = this.blkioStats();
    if (blkio) stats.blkio = blkio;
    const hugetlb = this.hugetlbStats();
    if (hugetlb) stats.hugetlb = hugetlb;
    return stats;
  }

  private cpuStats(): CgroupStats['cpu'] {
    const acct = this.v1Dir('cpuacct');
    const cpu = this.v1Dir('cpu');
    const usage = acct === undefined ? undefined : readOptional(path.join(acct, 'cpuacct.usage'));
    const percpu = acct === undefined ? undefined : readOptional(path.join(acct, 'cpuacct.usage_percpu'));
    const times = acct === undefined ? undefined : readOptional(path.join(acct, 'cpuacct.stat'));
    const throttling = cpu === undefined ? undefined : readOptional(path.join(cpu, 'cpu.stat'));
    if (usage !== undefined || percpu !== undefined || times !== undefined || throttling !== undefined) {
      const ticks = keyValues(times);
      const throttled = keyValues(throttling);
      const result: NonNullable<CgroupStats['cpu']> = {
        usage: {
          total: toNumber(usage) ?? 0,
          // cpuacct.stat counts USER_HZ ticks; runc reports nanoseconds.
          kernel: ((ticks.system ?? 0) * 1e9) / USER_HZ,
          user: ((ticks.user ?? 0) * 1e9) / USER_HZ,
        },
        throttling: { periods: throttled.nr_periods ?? 0, throttledPeriods: throttled.nr_throttled ?? 0, throttledTime: throttled.throttled_time ?? 0 },
      };
      if (percpu !== undefined) result.usage.percpu = percpu.trim().split(/\s+/).filter(Boolean).map(Number);
      return result;
    }
    const unified = this.unifiedDir;
    const text = unified === undefined ? undefined : readOptional(path.join(unified, 'cpu.stat'));
    if (text === undefined) return undefined;
    const stat = keyValues(text);
    return {
      usage: { total: (stat.usage_usec ?? 0) * 1000, kernel: (stat.system_usec ?? 0) * 1000, user: (stat.user_usec ?? 0) * 1000 },
      throttling: { periods: stat.nr_periods ?? 0, throttledPeriods: stat.nr_throttled ?? 0, throttledTime: (stat.throttled_usec ?? 0) * 1000 },
    };
  }

  private memoryStats(): CgroupStats['memory'] {
    const v1 = this.v1Dir('memory');
    if (v1 !== undefined && readOptional(path.join(v1, 'memory.usage_in_bytes')) !== undefined) {
      const entry = (prefix: string): MemoryEntry => ({
        limit: toNumber(readOptional(path.join(v1, `${prefix}.limit_in_bytes`))) ?? 0,
        usage: toNumber(readOptional(path.join(v1, `${prefix}.usage_in_bytes`))) ?? 0,
        max: toNumber(readOptional(path.join(v1, `${prefix}.max_usage_in_bytes`))) ?? 0,
        failcnt: toNumber(readOptional(path.join(v1, `${prefix}.failcnt`))) ?? 0,
      });
      const raw = keyValues(readOptional(path.join(v1, 'memory.stat')));
      const result: NonNullable<CgroupStats['memory']> = {
        cache: raw.cache ?? 0,
        usage: entry('memory'),
        swap: entry('memory.memsw'),
        kernel: entry('memory.kmem'),
        raw,
      };
      if (readOptional(path.join(v1, 'memory.kmem.tcp.usage_in_bytes')) !== undefined) result.kernelTCP = entry('memory.kmem.tcp');
      return result;
    }
    const dir = this.unifiedDir;
    const current = dir === undefined ? undefined : toNumber(readOptional(path.join(dir, 'memory.current')));
    if (dir === undefined || current === undefined) return undefined;
    const read = (file: string): number | undefined => toNumber(readOptional(path.join(dir, file)));
    const usage: MemoryEntry = {
      usage: current,
      limit: read('memory.max') ?? CGROUP_UNLIMITED,
      max: read('memory.peak') ?? 0,
      failcnt: keyValues(readOptional(path.join(dir, 'memory.events'))).max ?? 0,
    };
    // v2 counts swap alone; v1's memsw (what runc's events shows) is memory + swap, so runc adds the two.
    const swapCurrent = read('memory.swap.current');
    const swapLimit = read('memory.swap.max');
    const swap: MemoryEntry = {
      usage: (swapCurrent ?? 0) + current,
      limit: swapCurrent === undefined ? 0 : swapLimit === undefined || swapLimit >= CGROUP_UNLIMITED ? CGROUP_UNLIMITED : addCapped(swapLimit, usage.limit),
      max: 0,
      failcnt: keyValues(readOptional(path.join(dir, 'memory.swap.events'))).fail ?? 0,
    };
    const raw = keyValues(readOptional(path.join(dir, 'memory.stat')));
    const kernelUsage = raw.kernel ?? (raw.kernel_stack ?? 0) + (raw.slab ?? 0);
    return { cache: raw.file ?? 0, usage, swap, kernel: { limit: 0, usage: kernelUsage, max: 0, failcnt: 0 }, raw };
  }

  private pidsStats(): CgroupStats['pids'] {
    for (const dir of [this.v1Dir('pids'), this.unifiedDir]) {
      if (dir === undefined) continue;
      const current = toNumber(readOptional(path.join(dir, 'pids.current')));
      if (current === undefined) continue;
      const limit = toNumber(readOptional(path.join(dir, 'pids.max')));
      // runc shows "max" (no limit) as 0.
      return { current, limit: limit === undefined || limit >= CGROUP_UNLIMITED ? 0 : limit };
    }
    return undefined;
  }

  private blkioStats(): CgroupStats['blkio'] {
    const v1 = this.v1Dir('blkio');
    if (v1 !== undefined && fs.existsSync(v1)) {
      // runc's order: BFQ statistics when they have entries, else CFQ ones, else the throttling layer's.
      const families = ['blkio.bfq.', 'blkio.', 'blkio.throttle.'];
      const hasEntries = (prefix: string): boolean => blkioEntries(readOptional(path.join(v1, `${prefix}io_serviced_recursive`))).length > 0;
      const prefix = families.find(hasEntries) ?? 'blkio.throttle.';
      const result: NonNullable<CgroupStats['blkio']> = {};
      for (const [key, suffix] of BLKIO_KEYS) {
        const text = readOptional(path.join(v1, `${prefix}${suffix}`));
        if (text !== undefined) result[key] = blkioEntries(text);
      }
      return Object.keys(result).length > 0 ? result : undefined;
    }
    const dir = this.unifiedDir;
    const text = dir === undefined ? undefined : readOptional(path.join(dir, 'io.stat'));
    if (text === undefined) return undefined;
    // io.stat: `MAJ:MIN rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…`, one device a line.
    const bytes: BlkioEntry[] = [];
    const ios: BlkioEntry[] = [];
    for (const line of text.split('\n')) {
      const [device, ...pairs] = line.trim().split(/\s+/);
      const match = /^([0-9]+):([0-9]+)$/.exec(device ?? '');
      if (!match) continue;
      const major = Number(match[1]);
      const minor = Number(match[2]);
      for (const pair of pairs) {
        const [key, value] = pair.split('=');
        const parsed = toNumber(value);
        if (parsed === undefined) continue;
        if (key === 'rbytes') bytes.push({ major, minor, op: 'Read', value: parsed });
        else if (key === 'wbytes') bytes.push({ major, minor, op: 'Write', value: parsed });
        else if (key === 'rios') ios.push({ major, minor, op: 'Read', value: parsed });
        else if (key === 'wios') ios.push({ major, minor, op: 'Write', value: parsed });
      }
    }
    return { ioServiceBytesRecursive: bytes, ioServicedRecursive: ios };
  }

  private hugetlbStats(): CgroupStats['hugetlb'] {
    const v1 = this.v1Dir('hugetlb');
    const unified = this.unifiedDir;
    const result: NonNullable<CgroupStats['hugetlb']> = {};
    let any = false;
    if (v1 !== undefined) {
      for (const name of listDir(v1)) {
        const size = /^hugetlb\.(.+)\.usage_in_bytes$/.exec(name)?.[1];
        if (size === undefined) continue;
        any = true;
        result[size] = {
          usage: toNumber(readOptional(path.join(v1, name))) ?? 0,
          max: toNumber(readOptional(path.join(v1, `hugetlb.${size}.max_usage_in_bytes`))) ?? 0,
          failcnt: toNumber(readOptional(path.join(v1, `hugetlb.${size}.failcnt`))) ?? 0,
        };
      }
    } else if (unified !== undefined) {
      // v2 (also a hybrid host whose hugetlb controller is bound to cgroup2): no peak usage; failures in .events.
      for (const name of listDir(unified)) {
        const size = /^hugetlb\.([^.]+)\.current$/.exec(name)?.[1];
        if (size === undefined) continue;
        any = true;
        result[size] = {
          usage: toNumber(readOptional(path.join(unified, name))) ?? 0,
          max: 0,
          failcnt: keyValues(readOptional(path.join(unified, `hugetlb.${size}.events`))).max ?? 0,
        };
      }
    }
    return any ? result : undefined;
  }

  // ---- removal ----

  private killEach(pids: number[], kill: (pid: number) => void, failures: string[]): void {
    for (const pid of pids) {
      // Never tsrun itself, whatever a misconfigured cgroup says.
      if (pid === process.pid) continue;
      try {
        kill(pid);
      } catch (error) {
        if (!isEsrch(error)) failures.push(`kill ${pid}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  /**
   * Kills what is left and removes only what `create` made, deepest first. The order follows what runc learned
   * (runc#3134, PR#3217): SIGKILL goes to the frozen tasks first and THEN the cgroup is thawed, so no task runs user
   * code again (thawing first would let them run, and fork, before the signal); the kill is repeated for whatever
   * shows up afterwards. The kernel takes killed tasks out of the cgroup asynchronously and rmdir answers EBUSY until
   * it has, with no event to wait on from synchronous code, so removal is retried with 10 ms naps for at most 5 s.
   * A directory that is not the container's own cgroup (a parent `create` made) is only removed when empty: another
   * container may have put its cgroup there meanwhile. Sub-cgroups inside the container's own cgroup (made by its
   * processes, never by anyone else) are removed with it.
   */
  destroy(kill: (pid: number) => void): void {
    const failures: string[] = [];
    this.killEach(this.pids(), kill, failures);
    if (this.thawTree()) this.killEach(this.pids(), kill, failures);

    const deadline = Date.now() + DESTROY_BUDGET_MS;
    const leaves = new Set(this.directories());
    const remaining: string[] = [];
    for (const dir of [...this.created].reverse()) {
      const problem = leaves.has(dir) ? this.removeLeaf(dir, kill, deadline, failures) : this.removeParent(dir);
      if (problem !== undefined) {
        remaining.unshift(dir);
        failures.push(problem);
      }
    }
    this.created = remaining;
    if (failures.length > 0) throw new RuntimeError('cgroups', `cgroup: cannot remove the container's cgroups: ${failures.join('; ')}`);
  }

  private removeLeaf(dir: string, kill: (pid: number) => void, deadline: number, failures: string[]): string | undefined {
    for (;;) {
      try {
        this.removeTree(dir);
        return undefined;
      } catch (error) {
        const code = nodeErrorCode(error);
        if (code === 'ENOENT') return undefined;
        if (code !== 'EBUSY' && code !== 'ENOTEMPTY') return `rmdir ${dir}: ${codeOf(error)}`;
        const left = pidsUnder(dir);
        if (Date.now() >= deadline) {
          return `rmdir ${dir}: ${code} after ${DESTROY_BUDGET_MS / 1000} s${left.length > 0 ? `, processes still in it: ${left.join(' ')}` : ''}`;
        }
        this.killEach(left, kill, failures);
        this.nap(DESTROY_NAP_MS);
      }
    }
  }

  /** rmdir of `dir` after its sub-directories, deepest first (cgroupfs removes a cgroup's files with it). */
  private removeTree(dir: string): void {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) this.removeTree(path.join(dir, entry.name));
    }
    this.removeDir(dir);
  }

  private removeParent(dir: string): string | undefined {
    try {
      this.removeDir(dir);
    } catch (error) {
      const code = nodeErrorCode(error);
      // Gone already, or holding another cgroup now: either way not ours to insist on.
      if (code === 'ENOENT' || code === 'EBUSY' || code === 'ENOTEMPTY') return undefined;
      return `rmdir ${dir}: ${codeOf(error)}`;
    }
    return undefined;
  }
}

function explainWriteError(code: string): string {
  switch (code) {
    case 'ENOENT': return ' (this kernel has no such file: the controller or feature is missing)';
    case 'EINVAL': return ' (the kernel refused the value)';
    case 'EBUSY': return ' (the kernel refused the change while the cgroup is in use)';
    case 'EACCES':
    case 'EPERM': return ' (permission denied)';
    case 'EROFS': return ' (the cgroup file system is mounted read-only)';
    default: return '';
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The directories from just below `mountPoint` down to `dir`, top first (none when `dir` is not below it). */
function levelsBelow(mountPoint: string, dir: string): string[] {
  const relative = path.relative(mountPoint, dir);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return [];
  const parts = relative.split(path.sep);
  return parts.map((_, i) => path.join(mountPoint, ...parts.slice(0, i + 1)));
}

/** `dir` and every directory below it, parents before children; directories that vanish meanwhile are skipped. */
function walk(dir: string): string[] {
  const result = [dir];
  for (let i = 0; i < result.length; i++) {
    const current = result[i] ?? '';
    try {
      for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
        if (entry.isDirectory()) result.push(path.join(current, entry.name));
      }
    } catch {
      // Removed meanwhile (or never there): nothing below it.
    }
  }
  return result;
}

/** The union of cgroup.procs of `dir` and all its sub-cgroups, sorted. */
function pidsUnder(dir: string): number[] {
  const pids = new Set<number>();
  for (const cgroup of walk(dir)) {
    for (const line of (readOptional(path.join(cgroup, 'cgroup.procs')) ?? '').split('\n')) {
      if (/^[0-9]+$/.test(line.trim())) pids.add(Number(line.trim()));
    }
  }
  return [...pids].sort((a, b) => a - b);
}
