/**
 * Load (issue 11): CONTAINERS containers created, started, killed and deleted concurrently on ONE --root, driven by
 * up to POOL bin/tsrun processes at once, while LISTERS loops call `tsrun list --format json` and check that every
 * entry they get is complete — never a corrupt or half-written one. At the end nothing may be left: no container
 * directory under the root, no cgroup under this test's own cgroup, no process, no mount; and every command that
 * failed must have failed for a reason the test provoked (anything else fails the test with its stderr). A warning
 * on stderr counts as a failure too (a `list` that skips an entry says so there).
 *
 * The containers' cgroupsPaths are relative — under this test process's own cgroup — in one parent that the test
 * makes first, as an orchestrator makes a pod's cgroup (a parent made by tsrun stays while it holds other
 * containers: see fs-manager's destroy).
 *
 * Provoked, per container index i:
 * - i % 10 === 0: two `create`s of the same ID at once: exactly one succeeds, the other says "already exists";
 * - i % 10 === 3: a second `start` at the same time as the first: exactly one starts it, the other is refused.
 *
 * Shapes of lifecycle (all on `sleep 1000` unless said otherwise):
 * - i % 10 === 5: create → delete (a created container's parked init is killed by delete);
 * - i % 10 === 7: create → start → delete --force;
 * - i % 4 === 1 (and none of the above): `true`: create → start → wait until it has exited → delete;
 * - otherwise: create → start → kill KILL → wait until the init is dead → delete; for even i (40 containers) the
 *   kill and delete go to the back of the queue, so they run after every lifecycle has begun: then dozens of
 *   containers are alive at once and every list reads that many entries.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupDirsUnder, hostMounts, leftoverProcesses, makeCgroupParent, removeCgroupDirsUnder } from '../helpers/leaks';
import { integrationSkipReason, processAlive, rootlessRun, Sandbox, SHARED_ROOTFS, waitUntil, type Result } from '../helpers/tsrun';

const CONTAINERS = 100;
/** bin/tsrun processes driving the lifecycles at once (each container's steps are sequential). */
const POOL = 12;
/** Concurrent `tsrun list --format json` loops while the lifecycles run. */
const LISTERS = 2;

interface Failure {
  command: string;
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

const STATUSES = ['created', 'running', 'stopped', 'paused'];

describe.skipIf(integrationSkipReason !== undefined)(`load: ${CONTAINERS} containers on one --root${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  const cgroupPrefix = `tsrun-load-${process.pid}`;
  /** Set by afterAll: after a timeout the workers must not start anything more while cleanup runs. */
  let aborted = false;

  beforeAll(() => {
    sb = new Sandbox('tsrun-load');
  });
  afterAll(() => {
    aborted = true;
    // Also after a failure: kills the tsrun processes still running, deletes every container by ID, removes the dir.
    sb.cleanup();
    removeCgroupDirsUnder(cgroupPrefix);
  });

  it(`${CONTAINERS} concurrent lifecycles, ${POOL} tsrun processes at a time, list never shows a half-written entry`, async () => {
    const mountsBefore = hostMounts(sb.dir);
    expect(cgroupDirsUnder(cgroupPrefix)).toEqual([]);
    // The containers' cgroups share a parent under this test process's own cgroup, made here as an orchestrator makes
    // a pod's (rootless tsrun makes no cgroups: nothing to put there).
    const parents = rootlessRun ? [] : makeCgroupParent(cgroupPrefix);

    // A bundle per container, for its own cgroup: relative, so under this test process's own cgroup, in the parent.
    const bundles = new Map<string, string>();
    function bundleOf(id: string, kind: 'sleep' | 'true'): string {
      const config = sb.config(kind === 'sleep' ? ['sleep', '1000'] : ['true']);
      config.linux.cgroupsPath = `${cgroupPrefix}/${id}`;
      const dir = sb.bundle(config);
      bundles.set(id, dir);
      return dir;
    }

    const failures: Failure[] = [];
    const initPids = new Set<number>();
    let inFlight = 0;
    let maxInFlight = 0;

    /** One bin/tsrun invocation; a non-zero exit is recorded unless `provoked` accepts it. */
    async function tsrun(args: string[], provoked?: (r: Result) => boolean): Promise<Result> {
      if (aborted) return { status: null, signal: null, stdout: '', stderr: 'not run: the test was aborted' };
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const r = await sb.spawnTsrun(args, { timeoutMs: 45_000 });
      inFlight--;
      const ok = r.status === 0 && r.stderr === '';
      if (!ok && !provoked?.(r)) failures.push({ command: `tsrun ${args.join(' ')}`, status: r.status, signal: r.signal, stderr: r.stderr.trim() });
      return r;
    }

    const pidOf = (id: string): number | undefined => {
      const file = path.join(sb.dir, `${id}.pid`);
      if (!fs.existsSync(file)) return undefined;
      const pid = Number(fs.readFileSync(file, 'utf8'));
      initPids.add(pid);
      return pid;
    };

    /** Work for the POOL workers: each container's lifecycle, and the ends of lifecycles put off by `lifecycle`. */
    const queue: Array<() => Promise<void>> = Array.from({ length: CONTAINERS }, (_, i) => () => lifecycle(i));

    async function lifecycle(i: number): Promise<void> {
      const kind = i % 10 !== 0 && i % 10 !== 3 && i % 10 !== 5 && i % 10 !== 7 && i % 4 === 1 ? 'true' : 'sleep';
      const id = sb.newId('load');
      const create = ['create', '-b', bundleOf(id, kind), '--pid-file', path.join(sb.dir, `${id}.pid`), id];
      if (i % 10 === 0) {
        const both = await Promise.all([tsrun(create, exists), tsrun(create, exists)]);
        const succeeded = both.filter((r) => r.status === 0).length;
        if (succeeded !== 1) failures.push({ command: `two concurrent creates of ${id}`, status: null, signal: null, stderr: `${succeeded} succeeded` });
      } else if ((await tsrun(create)).status !== 0) return;
      const pid = pidOf(id);
      if (pid === undefined) {
        failures.push({ command: `create ${id}`, status: null, signal: null, stderr: 'no pid file' });
        return;
      }
      if (i % 10 === 5) {
        await tsrun(['delete', id]);
        return;
      }
      if (i % 10 === 3) {
        const both = await Promise.all([tsrun(['start', id], alreadyStarted), tsrun(['start', id], alreadyStarted)]);
        const started = both.filter((r) => r.status === 0).length;
        if (started !== 1) failures.push({ command: `two concurrent starts of ${id}`, status: null, signal: null, stderr: `${started} started it` });
      } else if ((await tsrun(['start', id])).status !== 0) return;
      if (i % 10 === 7) {
        await tsrun(['delete', '--force', id]);
        return;
      }
      const end = async () => {
        if (kind === 'sleep') await tsrun(['kill', id, 'KILL']);
        await waitUntil(() => !processAlive(pid), 20_000, `the init of ${id} (${pid}) to exit`);
        await tsrun(['delete', id]);
      };
      if (kind === 'sleep' && i % 2 === 0) queue.push(end);
      else await end();
    }
    const exists = (r: Result) => r.status === 1 && /already exists/.test(r.stderr);
    const alreadyStarted = (r: Result) => r.status === 1 && /cannot start an already running container/.test(r.stderr);

    // The lists: every entry complete and consistent, whatever moment it was read at.
    let done = false;
    let lists = 0;
    let entriesSeen = 0;
    const badEntries: string[] = [];
    async function lister(): Promise<void> {
      while (!done && !aborted) {
        const r = await tsrun(['list', '--format', 'json']);
        lists++;
        let parsed: unknown;
        try {
          parsed = JSON.parse(r.stdout);
        } catch (error) {
          badEntries.push(`list output is not JSON (${(error as Error).message}): ${r.stdout.slice(0, 300)}`);
          continue;
        }
        if (parsed === null) continue;
        if (!Array.isArray(parsed)) {
          badEntries.push(`list output is not an array: ${r.stdout.slice(0, 300)}`);
          continue;
        }
        for (const entry of parsed as Array<Record<string, unknown>>) {
          entriesSeen++;
          const problem = checkEntry(entry);
          if (problem) badEntries.push(`${problem}: ${JSON.stringify(entry)}`);
        }
      }
    }
    function checkEntry(e: Record<string, unknown>): string | undefined {
      if (typeof e.id !== 'string' || !bundles.has(e.id)) return 'unknown id';
      if (e.ociVersion !== '1.2.1') return 'ociVersion';
      if (typeof e.status !== 'string' || !STATUSES.includes(e.status)) return 'status';
      if (typeof e.pid !== 'number' || !Number.isInteger(e.pid) || (e.status === 'stopped') !== (e.pid === 0)) return 'pid';
      if (e.bundle !== bundles.get(e.id)) return 'bundle';
      if (e.rootfs !== SHARED_ROOTFS) return 'rootfs';
      if (typeof e.created !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(e.created)) return 'created';
      if (typeof e.owner !== 'string' || e.owner === '') return 'owner';
      return undefined;
    }

    const started = Date.now();
    const listers = Array.from({ length: LISTERS }, () => lister());
    // POOL workers take the next task when they finish one. A lifecycle's two provoked commands run at once, so a
    // moment may see POOL + a few tsrun processes (plus the lists).
    let alive = 0;
    let maxAlive = 0;
    const workers = Array.from({ length: POOL }, async () => {
      for (let task = queue.shift(); task && !aborted; task = queue.shift()) {
        await task();
        alive = fs.readdirSync(sb.root).length - 1;
        maxAlive = Math.max(maxAlive, alive);
      }
    });
    try {
      await Promise.all(workers);
    } finally {
      done = true;
      await Promise.all(listers);
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(`load: ${CONTAINERS} containers in ${seconds.toFixed(1)} s, ${lists} lists (${entriesSeen} entries), up to ${maxInFlight} tsrun and ${maxAlive} containers at once${rootlessRun ? ' (rootless)' : ''}`);

    expect.soft(failures).toEqual([]);
    expect.soft(badEntries).toEqual([]);
    expect.soft(lists).toBeGreaterThan(0);
    expect.soft(entriesSeen).toBeGreaterThan(0);
    // Nothing left: no container directory (only the lock stripes), no temporary state file, no cgroup, no process,
    // no mount.
    expect.soft(fs.readdirSync(sb.root).filter((name) => name !== '@locks')).toEqual([]);
    expect.soft(cgroupDirsUnder(cgroupPrefix)).toEqual(parents);
    removeCgroupDirsUnder(cgroupPrefix);
    expect.soft(cgroupDirsUnder(cgroupPrefix)).toEqual([]);
    expect.soft([...initPids].filter(processAlive)).toEqual([]);
    expect.soft(leftoverProcesses(sb.root)).toEqual([]);
    expect.soft(hostMounts(sb.dir)).toEqual(mountsBefore);
  }, 180_000);
});
