/**
 * Soak (issue 11): RUNS sequential `tsrun run` of `true` on one --root, then the host must look exactly as before:
 * the same mount points, no cgroup of these containers under this test process's own cgroups (every v1 hierarchy
 * and the unified one), the same open descriptors in this process (numbers and targets), the same entries in the
 * state root, no tsrun process left and no zombie child of this process.
 *
 * RUNS comes from TSRUN_SOAK_RUNS (default 200, about half a minute here, so CI runs it every time). The issue's
 * 1,000 runs, on demand:
 *
 *   TSRUN_SOAK_RUNS=1000 npx vitest run --project integration test/integration/soak.test.ts
 *
 * (add TSRUN_TEST_ROOTLESS=1 for the rootless variant). Other things may run on the host meanwhile (other test
 * runs, CI): mount points under the temp directory other than this test's own and under /run/netns (where other
 * suites mount their scratch filesystems and named network namespaces) are left out of the comparison (hostMounts),
 * and of the cgroups only those named after this test's containers are compared.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupDirsUnder, hostMounts, leftoverProcesses, openFds, removeCgroupDirsUnder } from '../helpers/leaks';
import { integrationSkipReason, rootlessRun, Sandbox } from '../helpers/tsrun';

const RUNS = Number(process.env.TSRUN_SOAK_RUNS ?? 200);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`TSRUN_SOAK_RUNS=${process.env.TSRUN_SOAK_RUNS}: a positive integer, please`);

describe.skipIf(integrationSkipReason !== undefined)(`soak: ${RUNS} × tsrun run${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  // Container IDs (sb.newId('soak'), so that cleanup deletes any a failure leaves), and so the cgroup names: with
  // cgroupsPath left out, a container's cgroup is its ID under tsrun's own cgroup, which is this process's.
  const prefix = `soak-${process.pid}-`;

  beforeAll(() => {
    sb = new Sandbox('tsrun-soak');
  });
  afterAll(() => {
    sb.cleanup();
    removeCgroupDirsUnder(prefix);
  });

  /** The state root: its entries, and the lock directory's (lock stripes: a fixed set, never removed, by design). */
  function stateRoot(): { entries: string[]; strayLockEntries: string[] } {
    const locks = path.join(sb.root, '@locks');
    return {
      entries: fs.readdirSync(sb.root).sort(),
      strayLockEntries: fs.readdirSync(locks).filter((name) => !/^[0-9a-f]{2}\.lock$/.test(name)),
    };
  }

  function snapshot() {
    return { mounts: hostMounts(sb.dir), cgroups: cgroupDirsUnder(prefix), fds: openFds(), stateRoot: stateRoot() };
  }

  it(`${RUNS} sequential runs of true leave mounts, cgroups, descriptors and the state root as they were`, () => {
    const bundle = sb.bundle(sb.config(['true']));
    const run = () => {
      const id = sb.newId('soak');
      const r = sb.tsrun(['run', '-b', bundle, id]);
      return { id, ...r };
    };
    // One run first: what the first tsrun process makes once (the state root, its lock directory) and what this
    // process opens once for children (libuv's signal pipe) belong to the "before".
    expect(run()).toMatchObject({ status: 0, stderr: '' });
    const before = snapshot();
    expect(before.cgroups).toEqual([]);

    const failed: Array<{ id: string; status: number | null; signal: string | null; stderr: string }> = [];
    const started = Date.now();
    for (let i = 0; i < RUNS; i++) {
      const r = run();
      if (r.status !== 0 || r.stderr !== '' || r.stdout !== '') failed.push({ id: r.id, status: r.status, signal: r.signal, stderr: r.stderr.trim() });
      if (failed.length >= 10) break; // enough to tell what is wrong
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(`soak: ${RUNS} runs in ${seconds.toFixed(1)} s (${((seconds * 1000) / RUNS).toFixed(0)} ms each)${rootlessRun ? ' (rootless)' : ''}`);

    expect.soft(failed).toEqual([]);
    const after = snapshot();
    expect.soft(after.mounts).toEqual(before.mounts);
    expect.soft(after.cgroups).toEqual([]);
    expect.soft(after.fds).toEqual(before.fds);
    expect.soft(after.stateRoot).toEqual(before.stateRoot);
    expect.soft(after.stateRoot.entries).toEqual(['@locks']);
    // Every tsrun process has exited (sb.root is on each one's command line) and none is a zombie of this process.
    expect.soft(leftoverProcesses(sb.root)).toEqual([]);
  }, RUNS * 2_000 + 60_000);
});
