/**
 * Shared shapes of tsrun's cgroup support. Everything that touches cgroupfs takes its root directories as data
 * (a `CgroupLayout`), so unit tests run the same code against fake trees in a temp dir.
 */

/** One mounted hierarchy: where it is mounted, and which cgroup path its mount root corresponds to. */
export interface Hierarchy {
  /** Absolute host path of the mount point, e.g. /sys/fs/cgroup/memory or /sys/fs/cgroup. */
  mountPoint: string;
  /** The cgroup path shown as the mount's root (field 4 of mountinfo; `/` for a normal mount). */
  root: string;
}

/**
 * The host's cgroup layout, detected from /proc/self/mountinfo (never by listing /sys/fs/cgroup).
 * - `v1`: every controller has its own (or a co-mounted) v1 hierarchy; `unified` absent.
 * - `v2`: only the unified hierarchy; `controllers` lists what cgroup.controllers of its root offers.
 * - `hybrid`: v1 controllers plus a cgroup2 mount (e.g. /sys/fs/cgroup/unified) that tsrun also joins.
 */
export interface CgroupLayout {
  mode: 'v1' | 'v2' | 'hybrid';
  /** v1 controller name (cpu, cpuacct, memory, …, and `name=systemd`) → its hierarchy. */
  v1: Record<string, Hierarchy>;
  unified: Hierarchy | undefined;
}

/** What state.json keeps so later calls (delete, kill, pause…) use the same driver and directories. */
export interface CgroupState {
  driver: 'cgroupfs';
  mode: CgroupLayout['mode'];
  /** Controller (or `unified`) → absolute directory of the container's cgroup in that hierarchy. */
  paths: Record<string, string>;
  /** The directories tsrun created (deepest last); only these are removed on delete. */
  created: string[];
}

/** One write to a cgroup file, planned from linux.resources (pure) and executed by the manager. */
export interface CgroupWrite {
  /** Controller whose directory holds the file (`unified` for cgroup v2 files). */
  controller: string;
  file: string;
  value: string;
  /** JSON pointer of the config field the value came from, for error messages. */
  pointer: string;
}

/** Statistics in the shape runc's `events` prints (types/events.go), the subset tsrun fills in. */
export interface CgroupStats {
  cpu?: { usage: { total: number; percpu?: number[]; kernel: number; user: number }; throttling: { periods: number; throttledPeriods: number; throttledTime: number } };
  memory?: { cache: number; usage: MemoryEntry; swap: MemoryEntry; kernel: MemoryEntry; kernelTCP?: MemoryEntry; raw: Record<string, number> };
  pids?: { current: number; limit: number };
  blkio?: Record<string, Array<{ major: number; minor: number; op: string; value: number }>>;
  hugetlb?: Record<string, { usage: number; max: number; failcnt: number }>;
}

export interface MemoryEntry {
  limit: number;
  usage: number;
  max: number;
  failcnt: number;
}

/** The operations lifecycle code needs, whatever the host's layout. */
export interface CgroupManager {
  readonly state: CgroupState;
  /** Makes the container's cgroup directories (recording which ones did not exist). */
  create(): void;
  /** Writes the planned resource files; a refused value is a RuntimeError naming file, value and config field. */
  apply(writes: readonly CgroupWrite[]): void;
  /** Moves `pid` into the container's cgroup in every hierarchy. */
  join(pid: number): void;
  /** Every PID in the container's cgroup (and its sub-cgroups), host view. */
  pids(): number[];
  freeze(): void;
  thaw(): void;
  isFrozen(): boolean;
  stats(): CgroupStats;
  /** Kills what is left (SIGKILL, thawed first), then removes only the directories `create` made. */
  destroy(kill: (pid: number) => void): void;
}
