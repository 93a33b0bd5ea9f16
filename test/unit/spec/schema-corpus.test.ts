// A generated corpus of config.json variants (mutations of the official good fixtures plus a seed that uses
// every field) judged by tsrun's compiled validator and by the OFFICIAL runtime-spec v1.2.1 schemas
// (draft-04, compiled here with ajv-draft-04). Both must agree, except for the intentional differences
// listed in INTENTIONAL below, each with its reason (docs/spec-validation.md explains them too).
import Ajv04 from 'ajv-draft-04';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';
import { parseJsonLossless, toPlainNumbers } from '../../../src/spec/json';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const OCI_SCHEMA = path.resolve(ROOT, '../shared/oci-spec/v1.2.1/schema');
const GOOD = path.join(OCI_SCHEMA, 'test', 'config', 'good');

type ValidateModule = typeof import('../../../src/spec/validate');

async function freshValidators(): Promise<ValidateModule> {
  const script = pathToFileURL(path.join(ROOT, 'scripts', 'compile-schemas.mjs')).href;
  const { compileSchemas } = (await import(script)) as { compileSchemas(root: string): Promise<string[]> };
  await compileSchemas(ROOT);
  return import('../../../src/spec/validate');
}

/** The official schemas, every file registered under its file name (their $refs are relative file names). */
function officialConfigValidator(): (value: unknown) => boolean {
  const ajv = new Ajv04({ strict: false, allErrors: false });
  for (const name of readdirSync(OCI_SCHEMA).filter((n) => n.endsWith('.json')).sort()) {
    ajv.addSchema(JSON.parse(readFileSync(path.join(OCI_SCHEMA, name), 'utf8')) as object, name);
  }
  const validate = ajv.getSchema('config-schema.json');
  if (validate === undefined) throw new Error('config-schema.json not registered');
  // The official schemas see what JSON.parse would give: plain numbers.
  return (value) => validate(toPlainNumbers(value)) === true;
}

type Json = unknown;

interface Variant {
  seed: string;
  pointer: string;
  kind: string;
  document: Json;
}

function isObject(value: Json): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function escape(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Every node of a document with its JSON pointer. */
function* walk(value: Json, pointer = ''): Generator<[string, Json]> {
  yield [pointer, value];
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) yield* walk(item, `${pointer}/${i}`);
  } else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) yield* walk(item, `${pointer}/${escape(key)}`);
  }
}

/** A copy of `document` with the node at `pointer` replaced (or removed when `replacement` is REMOVE). */
const REMOVE = Symbol('remove');
function edit(document: Json, pointer: string, replace: (old: Json) => Json | typeof REMOVE): Json {
  const copy = structuredClone(document);
  if (pointer === '') return replace(copy);
  const keys = pointer.slice(1).split('/').map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = keys.pop() as string;
  let parent = copy as Record<string, Json>;
  for (const key of keys) parent = parent[key] as Record<string, Json>;
  const next = replace(parent[last]);
  if (next === REMOVE) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    parent[last] = next;
  }
  return copy;
}

/** Numbers around the bounds of the integer types of the spec (bigint where a double cannot hold them). */
const NUMBERS: Array<[string, Json]> = [
  ['-1', -1],
  ['0.5', 0.5],
  ['8', 8],
  ['1001', 1001],
  ['65536', 65536],
  ['2^31', 2147483648],
  ['2^32', 4294967296],
  ['2^63', 2n ** 63n],
  ['2^64', 2n ** 64n],
  ['2^70', 2n ** 70n],
  ['-2^63-1', -(2n ** 63n) - 1n],
];

const PAGE_SIZES = ['64kB', '2mb', '0MB', '2TB', '02MB', '2 MB', '1GB', '64KB'];

function retype(value: Json): Json {
  if (typeof value === 'string') return 42;
  if (typeof value === 'number' || typeof value === 'bigint') return '42';
  if (typeof value === 'boolean') return 'true';
  if (Array.isArray(value)) return {};
  if (isObject(value)) return [];
  return 'null';
}

function* mutations(seed: string, document: Json): Generator<Variant> {
  const variant = (pointer: string, kind: string, replace: (old: Json) => Json | typeof REMOVE): Variant => ({
    seed,
    pointer,
    kind,
    document: edit(document, pointer, replace),
  });
  for (const [pointer, value] of walk(document)) {
    if (pointer !== '') yield variant(pointer, 'remove', () => REMOVE);
    yield variant(pointer, 'retype', retype);
    if (typeof value === 'string') {
      yield variant(pointer, 'bogus-string', () => 'tsrun-bogus');
      yield variant(pointer, 'empty-string', () => '');
      if (pointer.endsWith('/pageSize')) for (const size of PAGE_SIZES) yield variant(pointer, `pageSize ${size}`, () => size);
    }
    if (typeof value === 'number' || typeof value === 'bigint') {
      for (const [kind, number] of NUMBERS) yield variant(pointer, kind, () => number);
    }
    if (Array.isArray(value)) {
      yield variant(pointer, 'empty-array', () => []);
      yield variant(pointer, 'push-number', (old) => [...(old as Json[]), 42]);
    }
    if (isObject(value)) {
      yield variant(pointer, 'unknown-prop', (old) => ({ ...(old as object), tsrunUnknownField: true }));
      yield variant(pointer, 'unknown-prop-string', (old) => ({ ...(old as object), tsrunUnknownField: 'x' }));
      yield variant(pointer, 'empty-key', (old) => ({ ...(old as object), '': 'x' }));
      yield variant(pointer, 'empty-key-number', (old) => ({ ...(old as object), '': 1 }));
    }
  }
}

/** A config that is valid for both schemas and sets (nearly) every field runtime-spec v1.2.1 defines for Linux. */
function everyFieldSeed(specExample: Record<string, Json>): Json {
  const example = structuredClone(specExample) as Record<string, Record<string, Json>>;
  const process = example.process as Record<string, Json>;
  const linux = example.linux as Record<string, Json>;
  const resources = linux.resources as Record<string, Record<string, Json>>;
  return {
    ...example,
    ociVersion: '1.2.1',
    process: {
      ...process,
      commandLine: 'sh',
      consoleSize: { height: 25, width: 80 },
      user: { uid: 1, gid: 1, umask: 18, additionalGids: [5, 6], username: 'me' },
      oomScoreAdj: 100,
      ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 4 },
      scheduler: { policy: 'SCHED_DEADLINE', nice: -5, priority: 0, flags: ['SCHED_FLAG_RESET_ON_FORK'], runtime: 1000, deadline: 2000, period: 3000 },
      execCPUAffinity: { initial: '7', final: '0-3,7' },
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 18446744073709551615n }],
    },
    mounts: [
      ...(example.mounts as unknown as Json[]),
      {
        destination: '/data',
        type: 'none',
        source: '/volumes/data',
        options: ['rbind', 'idmap'],
        uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
        gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      },
    ],
    linux: {
      ...linux,
      devices: [...(linux.devices as Json[]), { path: '/dev/fifo0', type: 'p', fileMode: 420 }],
      personality: { domain: 'LINUX', flags: [] },
      intelRdt: { closID: 'guaranteed', l3CacheSchema: 'L3:0=7f0', memBwSchema: 'MB:0=20', enableCMT: true, enableMBM: false },
      seccomp: {
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 1,
        flags: ['SECCOMP_FILTER_FLAG_LOG'],
        listenerPath: '/run/seccomp-agent.socket',
        listenerMetadata: 'meta',
        architectures: ['SCMP_ARCH_X86_64'],
        syscalls: [
          {
            names: ['personality'],
            action: 'SCMP_ACT_ALLOW',
            errnoRet: 1,
            args: [{ index: 0, value: 18446744073709551615n, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
          },
        ],
      },
      resources: {
        ...resources,
        memory: { ...resources.memory, limit: 9223372036854775807n },
        cpu: { ...resources.cpu, idle: 0 },
        blockIO: {
          ...resources.blockIO,
          throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
          throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
        },
        rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 } },
        unified: { 'memory.high': '1073741824' },
      },
    },
  };
}

/** Where tsrun deliberately judges differently from the official schemas, and why. */
interface Difference {
  id: string;
  reason: string;
  /** stricter: the official schema accepts, tsrun rejects; looser: the other way round. */
  direction: 'stricter' | 'looser';
  pointer: RegExp;
  kinds?: string[];
}

const TOO_BIG_FOR_INT32 = ['2^31', '2^32', '2^63', '2^64', '2^70'];

const INTENTIONAL: Difference[] = [
  { id: 'root-required', direction: 'stricter', pointer: /^\/root$/, kinds: ['remove'], reason: 'config.md: root is REQUIRED on every platform but Windows Hyper-V' },
  {
    id: 'user-required',
    direction: 'stricter',
    pointer: /^\/process\/user(\/uid|\/gid)?$/,
    kinds: ['remove'],
    reason: 'config.md: uid and gid of the POSIX user are REQUIRED (Go runtimes always write them)',
  },
  {
    id: 'ociVersion-semver',
    direction: 'stricter',
    pointer: /^\/ociVersion$/,
    kinds: ['bogus-string', 'empty-string'],
    reason: 'config.md: ociVersion MUST be SemVer 2.0.0',
  },
  {
    id: 'hook-path-absolute',
    direction: 'stricter',
    pointer: /^\/hooks\/\w+\/\d+\/path$/,
    kinds: ['bogus-string', 'empty-string'],
    reason: 'config.md: a hook path MUST be absolute',
  },
  {
    id: 'hook-timeout-int32',
    direction: 'stricter',
    pointer: /^\/hooks\/\w+\/\d+\/timeout$/,
    kinds: TOO_BIG_FOR_INT32,
    reason: 'a timeout in seconds beyond 2^31-1 is not meaningful and would reach timers as a bigint',
  },
  {
    id: 'annotation-keys',
    direction: 'stricter',
    pointer: /^\/annotations$/,
    kinds: ['empty-key', 'empty-key-number'],
    reason: 'config.md: annotation keys MUST NOT be empty (the official pattern ".{1,}" just skips the empty key)',
  },
  {
    id: 'string-map-values',
    direction: 'stricter',
    pointer: /^\/linux\/(sysctl|resources\/unified)$/,
    kinds: ['empty-key-number'],
    reason: 'every value of sysctl/unified is written to a file as a string, including the one under an empty key',
  },
  {
    id: 'exact-64-bit-bounds',
    direction: 'stricter',
    pointer: /./,
    kinds: ['2^63', '2^64', '-2^63-1'],
    reason: 'values are parsed losslessly: 2^63 and -2^63-1 are outside int64, 2^64 above uint64; the doubles of JSON.parse cannot tell',
  },
  {
    id: 'consoleSize-uint16',
    direction: 'stricter',
    pointer: /^\/process\/consoleSize\/(height|width)$/,
    kinds: ['65536', ...TOO_BIG_FOR_INT32],
    reason: 'struct winsize holds unsigned shorts',
  },
  {
    id: 'oomScoreAdj-range',
    direction: 'stricter',
    pointer: /^\/process\/oomScoreAdj$/,
    kinds: ['1001', '65536', ...TOO_BIG_FOR_INT32, '-2^63-1'],
    reason: 'the kernel accepts -1000..1000 only',
  },
  {
    id: 'ioPriority',
    direction: 'stricter',
    pointer: /^\/process\/ioPriority\/priority$/,
    kinds: ['remove', '-1', '8', '1001', '65536', ...TOO_BIG_FOR_INT32, '-2^63-1'],
    reason: 'config.md: priority is REQUIRED, 0 (highest) to 7 (lowest)',
  },
  {
    id: 'personality-domain',
    direction: 'stricter',
    pointer: /^\/linux\/personality\/domain$/,
    kinds: ['remove'],
    reason: 'config-linux.md: domain is REQUIRED',
  },
  {
    id: 'device-cgroup-rule',
    direction: 'stricter',
    pointer: /^\/linux\/resources\/devices\/\d+\/(type|access)$/,
    kinds: ['bogus-string', 'empty-string'],
    reason: 'config-linux.md: type is a, c or b; access is made of r, w and m (runc rejects anything else too)',
  },
  {
    id: 'non-linux-sections',
    direction: 'looser',
    pointer: /^\/(windows|solaris|vm|zos)\//,
    reason: 'tsrun runs Linux containers only: windows, solaris, vm and zos must be objects but are not interpreted',
  },
];

function intentional(variant: Variant, official: boolean, mine: boolean): Difference | undefined {
  if (official === mine) return undefined;
  const direction = official ? 'stricter' : 'looser';
  return INTENTIONAL.find(
    (d) => d.direction === direction && d.pointer.test(variant.pointer) && (d.kinds === undefined || d.kinds.includes(variant.kind)),
  );
}

describe.skipIf(!existsSync(GOOD))('schema corpus vs the official runtime-spec v1.2.1 schemas (needs ../shared/oci-spec)', () => {
  let v: ValidateModule;
  let official: (value: unknown) => boolean;
  const seeds = new Map<string, Json>();

  beforeAll(async () => {
    v = await freshValidators();
    official = officialConfigValidator();
    for (const name of readdirSync(GOOD).filter((n) => n.endsWith('.json')).sort()) {
      seeds.set(name, parseJsonLossless(readFileSync(path.join(GOOD, name), 'utf8')));
    }
    seeds.set('every-field', everyFieldSeed(seeds.get('spec-example.json') as Record<string, Json>));
  });

  const mine = (document: Json): boolean => {
    try {
      v.checkConfigSchema(document);
      return true;
    } catch (error) {
      if (error instanceof ConfigError) return false;
      throw error;
    }
  };

  it('the every-field seed is valid for both schemas and for loadConfig', () => {
    const seed = seeds.get('every-field');
    expect(official(seed)).toBe(true);
    expect(mine(seed)).toBe(true);
    expect(() => v.validateConfigObject(seed)).not.toThrow();
  });

  it('judges every variant like the official schemas, except the listed intentional differences', () => {
    const used = new Set<string>();
    const disagreements: string[] = [];
    let total = 0;
    let rejected = 0;
    for (const [seed, document] of seeds) {
      for (const variant of mutations(seed, document)) {
        total += 1;
        const theirs = official(variant.document);
        const ours = mine(variant.document);
        if (!ours) rejected += 1;
        if (theirs === ours) continue;
        const difference = intentional(variant, theirs, ours);
        if (difference !== undefined) {
          used.add(difference.id);
          continue;
        }
        disagreements.push(`${seed} ${variant.pointer} [${variant.kind}]: official ${theirs ? 'accepts' : 'rejects'}, tsrun ${ours ? 'accepts' : 'rejects'}`);
      }
    }
    console.log(`schema corpus: ${total} variants, ${rejected} rejected by tsrun, ${disagreements.length} unexplained disagreements`);
    expect(disagreements).toEqual([]);
    expect(total).toBeGreaterThanOrEqual(200);
    expect(rejected).toBeGreaterThan(total / 10);
    expect(total - rejected).toBeGreaterThan(total / 10);
    // Every listed difference is real: the corpus runs into each of them.
    expect([...used].sort()).toEqual(INTENTIONAL.map((d) => d.id).sort());
  });
});
