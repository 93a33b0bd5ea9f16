/**
 * What the cgroup v1 and v2 resource planners share: reading `linux.resources` values (64-bit fields may be
 * bigint, see src/spec/json.ts), the unit conversions runc applies between the runtime-spec (which speaks
 * cgroup v1) and cgroup v2, and the collector that turns planned values into `CgroupWrite`s.
 *
 * Conversions (each as runc / opencontainers/cgroups does it, utils.go):
 * - memory+swap → v2 swap: `swap − limit`, `-1` stays unlimited, a limit of `-1` with no swap means both unlimited.
 * - cpu shares → cpu.weight: the quadratic formula of opencontainers/cgroups v0.0.5 (runc ≥ 1.3.2), which maps
 *   2 → 1, 1024 (the v1 default) → 100 (the v2 default) and 262144 → 10000. The linear formula runc used
 *   before (1024 → 39) is kept as `cpuSharesToWeightLinear`.
 * - blkio weight → io.weight: `1 + (weight − 10) × 9999 / 990` (integer division), 10…1000 → 1…10000.
 */
import { ConfigError, describeValue } from '../errors';
import type { CgroupWrite } from './types';

/** Options both planners take. */
export interface PlanOptions {
  /** JSON pointer of the resources object in error messages; default `/linux/resources`. */
  pointer?: string;
  /** File named in error messages (`config.json`, or the `update --resources` input); default config.json. */
  source?: string;
  /**
   * Whether a control file exists in the controller's directory (`unified` for cgroup v2 files). Optional kernel
   * features are decided with it: swap accounting, kernel memory, hugetlb reservations, CFS burst, the blkio
   * weight file (CFQ or BFQ), BFQ on v2. Without it each decision falls back as documented where it is made.
   */
  hasFile?: (controller: string, file: string) => boolean;
}

/** The writes to make, in order, and what was ignored on purpose (one line each, for the log). */
export interface ResourcePlan {
  writes: CgroupWrite[];
  warnings: string[];
}

export type IntegerKind = 'int64' | 'uint64' | 'uint32' | 'uint16';

const RANGES: Record<IntegerKind, readonly [bigint, bigint]> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
};

/** The largest int64: what a limit of -1 compares as when ordering writes. */
export const INT64_MAX = RANGES.int64[1];
/** `2^64 − 1`: a uint64 swappiness of -1 as Go's `int64(x) == -1` sees it (unset). */
export const UINT64_MAX = RANGES.uint64[1];

/** Escapes one reference token of a JSON pointer (RFC 6901). */
export function pointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Collects the writes of one plan and checks each controller is there before the first write to it. */
export class PlanBuilder {
  readonly writes: CgroupWrite[] = [];
  readonly warnings: string[] = [];
  readonly base: string;
  readonly source: string;

  /** `writeController`: the controller every write is filed under (`unified` on v2); default the real one. */
  constructor(
    private readonly available: (controller: string) => boolean,
    private readonly options: PlanOptions,
    private readonly writeController?: string,
  ) {
    this.base = options.pointer ?? '/linux/resources';
    this.source = options.source ?? 'config.json';
  }

  /** The pointer of a field below the resources object; tokens are escaped. */
  at(...tokens: Array<string | number>): string {
    return [this.base, ...tokens.map((t) => pointerToken(String(t)))].join('/');
  }

  fail(pointer: string, expectation: string, value: unknown): never {
    throw new ConfigError(pointer, `${expectation}, got ${describeValue(value)}`, { source: this.source });
  }

  /** Throws unless `controller` is available: the value at `pointer` cannot be applied without it. */
  require(controller: string, pointer: string, value: unknown): void {
    if (!this.available(controller)) this.fail(pointer, `cannot be applied: the host has no ${controller} cgroup controller`, value);
  }

  write(controller: string, file: string, value: string, pointer: string, raw: unknown = value): CgroupWrite {
    this.require(controller, pointer, raw);
    const write: CgroupWrite = { controller: this.writeController ?? controller, file, value, pointer };
    this.writes.push(write);
    return write;
  }

  warn(pointer: string, text: string): void {
    this.warnings.push(`${this.source}: ${pointer} ${text}`);
  }

  /** Whether `file` exists for `controller`; undefined when the caller gave no `hasFile`. */
  probe(controller: string, file: string): boolean | undefined {
    return this.options.hasFile?.(this.writeController ?? controller, file);
  }

  // -------------------------------------------------------------------------------------------------
  // reading values

  /** The object at `value` (undefined when absent or null). */
  object(value: unknown, pointer: string): Record<string, unknown> | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) this.fail(pointer, 'must be an object', value);
    return value as Record<string, unknown>;
  }

  array(value: unknown, pointer: string): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) this.fail(pointer, 'must be an array', value);
    return value;
  }

  integer(parent: Record<string, unknown>, key: string, pointer: string, kind: IntegerKind): bigint | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return undefined;
    const [min, max] = RANGES[kind];
    let big: bigint | undefined;
    if (typeof value === 'bigint') big = value;
    else if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
    if (big === undefined || big < min || big > max) this.fail(pointer, `must be an integer between ${min} and ${max} (${kind})`, value);
    return big;
  }

  boolean(parent: Record<string, unknown>, key: string, pointer: string): boolean | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') this.fail(pointer, 'must be true or false', value);
    return value;
  }

  string(parent: Record<string, unknown>, key: string, pointer: string): string | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') this.fail(pointer, 'must be a string', value);
    return value;
  }

  /** A memory byte count: positive, or -1 for unlimited; 0 (and absent) means "leave unchanged". */
  memoryBytes(parent: Record<string, unknown>, key: string, pointer: string): bigint {
    const value = this.integer(parent, key, pointer, 'int64') ?? 0n;
    if (value < -1n) this.fail(pointer, 'must be a number of bytes, or -1 for unlimited', value);
    return value;
  }

  /** `major:minor` of a block device entry (both REQUIRED, non-negative). */
  device(entry: Record<string, unknown>, pointer: string): string {
    const numbers = (['major', 'minor'] as const).map((key) => {
      const value = this.integer(entry, key, `${pointer}/${key}`, 'int64');
      if (value === undefined || value < 0n) this.fail(`${pointer}/${key}`, 'must be a device number (0 or more)', entry[key]);
      return value;
    });
    return `${numbers[0]}:${numbers[1]}`;
  }

  /** A name written into a line-based control file (interface, RDMA device): no blanks, no line breaks. */
  token(value: string, pointer: string, what: string): string {
    if (!/^[^\s]+$/.test(value)) this.fail(pointer, `must be ${what} without spaces or line breaks`, value);
    return value;
  }
}

// ---------------------------------------------------------------------------------------------------
// conversions

/** cgroup v2 spelling of a v1-style limit: 0 → undefined (leave unchanged), -1 → `max`, else the number. */
export function v2Limit(value: bigint): string | undefined {
  if (value === 0n) return undefined;
  if (value === -1n) return 'max';
  return value.toString();
}

/**
 * memory.swap.max from the runtime-spec `swap` (memory+swap total) and `limit`, as runc converts it:
 * 0 means unset; -1 unlimited; a limit of -1 without swap means both unlimited. Returns the error text when
 * the pair cannot be converted.
 */
export function memorySwapToV2(swap: bigint, memory: bigint): bigint | { error: string } {
  if (memory === -1n && swap === 0n) return -1n;
  if (swap === -1n || swap === 0n) return swap;
  if (memory === -1n) return swap;
  if (memory === 0n) return { error: 'needs linux.resources.memory.limit as well: swap is the memory+swap total' };
  if (memory < 0n) return { error: `cannot be converted from an invalid memory limit ${memory}` };
  if (swap < memory) return { error: `must be at least the memory limit (${memory}): swap is the memory+swap total` };
  return swap - memory;
}

const SHARES_MIN = 2n;
const SHARES_MAX = 262144n;
const WEIGHT_MIN = 1n;
const WEIGHT_MAX = 10000n;

/**
 * cpu.weight for cpu shares, with the formula runc uses since 1.3.2 (opencontainers/cgroups ≥ v0.0.5):
 * `⌈10^((L² + 125·L)/612 − 7/34)⌉` where `L = log2(shares)`; 0 means unset, out-of-range shares clamp.
 */
export function cpuSharesToWeight(shares: bigint): bigint {
  if (shares === 0n) return 0n;
  if (shares <= SHARES_MIN) return WEIGHT_MIN;
  if (shares >= SHARES_MAX) return WEIGHT_MAX;
  const l = Math.log2(Number(shares));
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return BigInt(Math.ceil(Math.pow(10, exponent)));
}

/** The linear shares → weight formula of runc before 1.3.2: `1 + (shares − 2) × 9999 / 262142` (1024 → 39). */
export function cpuSharesToWeightLinear(shares: bigint): bigint {
  if (shares === 0n) return 0n;
  const clamped = shares < SHARES_MIN ? SHARES_MIN : shares > SHARES_MAX ? SHARES_MAX : shares;
  return 1n + ((clamped - SHARES_MIN) * 9999n) / (SHARES_MAX - SHARES_MIN);
}

/** io.weight for a blkio weight (10…1000 → 1…10000): `1 + (weight − 10) × 9999 / 990`; 0 means unset. */
export function blkioWeightToIoWeight(weight: bigint): bigint {
  if (weight === 0n) return 0n;
  return 1n + ((weight - 10n) * 9999n) / 990n;
}

/** A hugepage size as the kernel names it in control files (`64KB`, `2MB`, `1GB`). */
export const HUGEPAGE_SIZE = /^[1-9][0-9]*[KMG]B$/;

/** One write whose success depends on values other writes change (quota vs burst, rt period vs runtime). */
export interface OrderedStep<S> {
  apply: (state: S) => S;
  emit: () => void;
}

/**
 * Emits `steps` in an order the kernel accepts: the preferred (listed) order, except that a step whose result
 * `valid` rejects waits until another step has made room. The kernel checks each write against the values in
 * place (burst ≤ quota, runtime ≤ period), which is why runc writes some files twice; with the current values
 * known up front one pass suffices. Steps that can never be made valid are emitted last, for the kernel to refuse.
 */
export function emitInValidOrder<S>(initial: S, steps: ReadonlyArray<OrderedStep<S>>, valid: (state: S) => boolean): void {
  let state = initial;
  const pending = [...steps];
  while (pending.length > 0) {
    let index = pending.findIndex((step) => valid(step.apply(state)));
    if (index < 0) index = 0;
    const [step] = pending.splice(index, 1);
    state = step!.apply(state);
    step!.emit();
  }
}

// ---------------------------------------------------------------------------------------------------
// plans both versions share

/** pids.max: a positive limit, or `max` for 0 and below (runtime-spec 1.2: "default is no limit"). */
export function pidsMax(limit: bigint): string {
  return limit > 0n ? limit.toString() : 'max';
}

/** rdma.max lines (`mlx5_0 hca_handle=2 hca_object=2000`), one per device in config order; shared with v2. */
export function planRdma(plan: PlanBuilder, value: unknown): void {
  const rdma = plan.object(value, plan.at('rdma'));
  if (rdma === undefined) return;
  for (const [device, item] of Object.entries(rdma)) {
    const pointer = plan.at('rdma', device);
    const entry = plan.object(item, pointer) ?? plan.fail(pointer, 'must be an object', item);
    plan.token(device, pointer, 'an RDMA device name');
    const handles = plan.integer(entry, 'hcaHandles', `${pointer}/hcaHandles`, 'uint32');
    const objects = plan.integer(entry, 'hcaObjects', `${pointer}/hcaObjects`, 'uint32');
    if (handles === undefined && objects === undefined) plan.fail(pointer, 'must have hcaHandles, hcaObjects or both', entry);
    let line = device;
    if (handles !== undefined) line += ` hca_handle=${handles}`;
    if (objects !== undefined) line += ` hca_object=${objects}`;
    plan.write('rdma', 'rdma.max', line, pointer, entry);
  }
}

/**
 * hugepageLimits for either cgroup version: one `hugetlb.<size>.<limit file>` write per entry, and the same limit
 * on the reservation file where the kernel has one (Linux 5.7+), as runc does. The versions differ only in the
 * file names: `limit_in_bytes`/`rsvd.limit_in_bytes` (v1), `max`/`rsvd.max` (v2).
 */
export function planHugetlb(plan: PlanBuilder, value: unknown, files: { limit: string; reservation: string }): void {
  plan.array(value, plan.at('hugepageLimits')).forEach((item, i) => {
    const pointer = plan.at('hugepageLimits', i);
    const entry = plan.object(item, pointer) ?? plan.fail(pointer, 'must be an object', item);
    const size = plan.string(entry, 'pageSize', `${pointer}/pageSize`);
    if (size === undefined || !HUGEPAGE_SIZE.test(size)) plan.fail(`${pointer}/pageSize`, 'must be a page size such as "2MB" (digits, then KB, MB or GB)', entry.pageSize);
    const limit = plan.integer(entry, 'limit', `${pointer}/limit`, 'uint64');
    if (limit === undefined) plan.fail(`${pointer}/limit`, 'must be set', entry.limit);
    const file = `hugetlb.${size}.${files.limit}`;
    plan.require('hugetlb', `${pointer}/pageSize`, size);
    if (plan.probe('hugetlb', file) === false) plan.fail(`${pointer}/pageSize`, `cannot be applied: the host has no ${size} huge pages (no ${file})`, size);
    plan.write('hugetlb', file, limit.toString(), `${pointer}/limit`, limit);
    const reservation = `hugetlb.${size}.${files.reservation}`;
    if (plan.probe('hugetlb', reservation) === true) plan.write('hugetlb', reservation, limit.toString(), `${pointer}/limit`, limit);
  });
}
