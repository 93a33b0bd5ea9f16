/**
 * Fork-technique stress: N create/start/wait/delete cycles in ONE tsrun process while it allocates heavily,
 * so V8 keeps mapping fresh (MADV_DONTFORK) heap pages right up to each fork. A child that touches a page
 * it did not inherit crashes; one that waits for a GC thread that does not exist hangs. Either shows up here
 * as a failed or timed-out cycle. Bundled and run by test/integration/fork-stress.test.ts under bin/tsrun's
 * V8 flags. Usage: fork-stress.mjs ROOT BUNDLE CYCLES
 */
import { createContainer } from '../../src/container/create';
import { deleteContainer } from '../../src/container/delete';
import { releaseInit } from '../../src/container/start';
import { StateStore } from '../../src/container/state-store';
import { createFileLock } from '../../src/linux/file-lock';
import { createSys } from '../../src/linux/sys';

const [root, bundle, cyclesText] = process.argv.slice(2);
const cycles = Number(cyclesText ?? 200);
const sys = createSys();
const store = new StateStore(root!, createFileLock(sys));
const ctx = { sys, store, warn: () => undefined };

// A live set that survives, and garbage made on every cycle, so minor and major GCs run throughout.
const live: unknown[] = [];
let garbage: unknown[] = [];
function churn(objects: number): void {
  for (let i = 0; i < objects; i++) {
    garbage.push({ i, s: `x${i}`.repeat(i % 50), a: new Array(i % 20).fill(i) });
    if (i % 97 === 0) live.push({ keep: garbage[garbage.length - 1] });
  }
  if (garbage.length > 300_000) garbage = [];
  if (live.length > 40_000) live.splice(0, 20_000);
}

let ok = 0;
const failures: string[] = [];
const started = Date.now();
for (let i = 0; i < cycles; i++) {
  const id = `stress-${process.pid}-${i}`;
  churn(20_000 + (i % 7) * 5_000);
  try {
    const created = createContainer(ctx, { id, bundle: bundle! });
    churn(5_000);
    releaseInit(ctx, store.containerDir(id), created.initPid);
    const { status } = sys.waitpid(created.initPid, 0);
    if (status !== 0) throw new Error(`container exited with wait status 0x${status.toString(16)}`);
    deleteContainer(ctx, { id });
    ok++;
  } catch (error) {
    failures.push(`cycle ${i}: ${(error as Error).message}`);
    process.stderr.write(`cycle ${i}: ${(error as Error).message}\n`);
    try {
      deleteContainer(ctx, { id, force: true });
    } catch {
      // reported above
    }
  }
}
process.stdout.write(`${JSON.stringify({ cycles, ok, failures: failures.slice(0, 10), ms: Date.now() - started, liveObjects: live.length })}\n`);
process.exitCode = ok === cycles ? 0 : 1;
