// `npm run bench [-- --runs N] [--json FILE] [--only 1,3]`: tsrun against Debian's runc (/usr/sbin/runc) on
// a busybox bundle. Needs root, a built dist/ (`npm run build`: the bench measures what is built, it does not
// rebuild), and for (6) containerd + ctr, for (7) /usr/bin/time (apt-get install -y time).
//
// Every measure is A/B interleaved: each iteration runs runc and tsrun back to back (who goes first alternates),
// so machine noise hits both alike. One untimed warm-up iteration precedes each measure (except 4).
//   1 run           `run` of `true` in the foreground, a fresh container id each time: wall time of the call
//   2 lifecycle     create / start / kill KILL / delete of `sleep 1000`, each call timed on its own. The wait
//                   between kill and delete (until the init is a zombie) is not timed: both runtimes treat a
//                   zombie init as stopped, and `delete --force` is avoided since runc's sleeps 100 ms.
//   3 state, exec   `state` of a running container, and `exec` of `true` in it (one per runtime, created once)
//   4 run x50       50 `run true` in a row, total wall time; one batch per runtime per round, 3 rounds
//   5 init RSS      VmRSS and Pss (MiB) of the container's init parked in `created` (/proc/PID/status, smaps_rollup)
//   6 ctr run       `ctr run --rm --rootfs ... /bin/true` through a private containerd (io.containerd.runc.v2
//                   shim, --runc-binary): the whole client round trip
//   7 peak RSS      max RSS (MiB) of the runtime command for `run true`, from `/usr/bin/time -f %M` (wait4's
//                   rusage: the runtime process and the children it reaped, e.g. the container's `true`)
// Prints a markdown table (medians, p90 in parentheses, ratio tsrun/runc of the medians) and writes every raw
// sample, the machine and the versions to --json (default bench/latest.json). Everything it creates (state
// roots, bundles, containerd and its files) lives in one temp dir and is removed at the end, also on failure/Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clearTimeout, setImmediate } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { busyboxConfig, makeBusyboxBundle } from '../fixtures/make-bundle.mjs';

const repo = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const RUNTIMES = [
  { name: 'runc', bin: '/usr/sbin/runc' },
  { name: 'tsrun', bin: path.join(repo, 'bin', 'tsrun') },
];
const TIME = '/usr/bin/time';
const BATCH = 50;
const ROUNDS = 3;

const { values: opt } = parseArgs({
  options: { runs: { type: 'string', default: '30' }, json: { type: 'string' }, only: { type: 'string' } },
});
const runs = Number(opt.runs);
const only = opt.only ? new Set(opt.only.split(',').map(Number)) : null;
const jsonFile = path.resolve(opt.json ?? path.join(repo, 'bench', 'latest.json'));
if (!Number.isInteger(runs) || runs < 1) die('--runs must be a positive integer');
if (only && [...only].some((n) => !(n >= 1 && n <= 7))) die('--only takes measure numbers 1-7, e.g. --only 1,3');
if (process.getuid() !== 0) die('npm run bench needs root: it creates real containers with both runtimes');
if (spawnSync(RUNTIMES[1].bin, ['--version']).status !== 0) die('bin/tsrun --version fails: run `npm run build` first');
if (!fs.existsSync(RUNTIMES[0].bin)) die(`${RUNTIMES[0].bin} not found: apt-get install -y runc`);

function die(msg) {
  console.error(`bench: ${msg}`);
  process.exit(1);
}

// The loops are synchronous (spawnSync), so a signal handler only runs at the checkpoint between iterations;
// Ctrl-C also reaches the runtime child (same process group), which makes that iteration fail at once.
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { interrupted = true; });
async function checkpoint() {
  await new Promise(setImmediate);
  if (interrupted) throw new Error('interrupted');
}

/** For commands that start no container: runs CMD, returns its stdout; a failure aborts the benchmark. */
function output(cmd, args) {
  const r = tryExec(cmd, args);
  if (r.error || r.status !== 0) throw new Error(`failed: ${cmd} ${args.join(' ')}\n${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout;
}
const tryExec = (cmd, args) => spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

/**
 * Runs a command to completion and times it (spawn to exit); a failure aborts the benchmark with its stderr.
 * Its stdout/stderr are files, not pipes: a container's process inherits the runtime's stdio, and spawnSync
 * would wait for EOF on a pipe that a parked (created, or detached) init holds open.
 */
function timed(cmd, args) {
  const files = [path.join(tmp, 'stdout'), path.join(tmp, 'stderr')];
  const fds = files.map((f) => fs.openSync(f, 'w'));
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', ...fds] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  fds.forEach((fd) => fs.closeSync(fd));
  const [out, err] = files.map((f) => fs.readFileSync(f, 'utf8'));
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.signal === 'SIGINT') throw new Error('interrupted');
  if (r.status !== 0) throw new Error(`failed (${r.signal ?? `exit ${r.status}`}): ${cmd} ${args.join(' ')}\n${err.trim()}`);
  return { ms, out };
}

// ---- containers: every id that may exist is tracked until its delete succeeded, for the final cleanup
let seq = 0;
const newId = (rt) => { const id = `bench${process.pid}-${++seq}`; rt.live.add(id); return id; };
const call = (rt, ...args) => timed(rt.bin, ['--root', rt.root, ...args]);
function statePid(rt, id, want) {
  const state = JSON.parse(call(rt, 'state', id).out);
  if (state.status !== want) throw new Error(`${rt.name}: ${id} is ${state.status}, expected ${want}`);
  return state.pid;
}

/**
 * Returns once PID is a zombie or gone (or its PID was reused: other start time). Node has no pidfd and the
 * init is not our child, so this spins on /proc instead of sleeping: a poll interval would end up in the numbers.
 */
function waitDead(pid) {
  let start;
  for (;;) {
    let stat;
    try { stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return; }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // [0] = state, [19] = starttime
    if (fields[0] === 'Z' || fields[0] === 'X' || (start ??= fields[19]) !== fields[19]) return;
  }
}

/** kill KILL, wait for the init to die (untimed), delete: the timings of the two calls. */
function stop(rt, id, pid) {
  const kill = call(rt, 'kill', id, 'KILL').ms;
  waitDead(pid);
  const del = call(rt, 'delete', id).ms;
  rt.live.delete(id);
  return { kill, delete: del };
}

function runTrue(rt) {
  const id = newId(rt);
  const { ms } = call(rt, 'run', '--bundle', B.true, id);
  rt.live.delete(id); // a foreground run deletes its container
  return ms;
}

function procKiB(file, field) {
  const m = fs.readFileSync(file, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  if (!m) throw new Error(`no ${field} in ${file}`);
  return Number(m[1]);
}

// ---- containerd: a private daemon (root, state, sockets in the temp dir), as ../shared/e2e/lib.sh starts it
const ctrd = { ns: `tsbench${process.pid}` };
const ctr = (...args) => ['--address', ctrd.sock, '--namespace', ctrd.ns, ...args];
function startContainerd() {
  const dir = path.join(tmp, 'containerd');
  fs.mkdirSync(dir, { recursive: true });
  Object.assign(ctrd, { dir, sock: path.join(dir, 'containerd.sock'), fifo: path.join(dir, 'fifo') });
  // Paths containerd 1.6 hard-codes (shim sockets): removed at the end if this run made them (and they are empty)
  ctrd.residue = ['/run/containerd/s', '/run/containerd'].filter((p) => !fs.existsSync(p));
  fs.writeFileSync(path.join(dir, 'config.toml'), `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${ctrd.sock}"
[ttrpc]
  address = "${ctrd.sock}.ttrpc"
[debug]
  address = "${dir}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
`);
  const log = fs.openSync(path.join(dir, 'containerd.log'), 'a');
  // detached: its own process group, so Ctrl-C does not take it down before its tasks are cleaned up
  ctrd.child = spawn('containerd', ['--config', path.join(dir, 'config.toml')], { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  ctrd.exited = new Promise((resolve) => { ctrd.child.once('exit', resolve); ctrd.child.once('error', resolve); });
  // ctr dials with retries for up to 10 s: one successful `ctr version` is the readiness wait
  try {
    output('ctr', ctr('version'));
  } catch (e) {
    const log = fs.readFileSync(path.join(dir, 'containerd.log'), 'utf8').split('\n').slice(-20).join('\n');
    throw new Error(`containerd did not come up: ${e.message}\ncontainerd.log (end):\n${log}`, { cause: e });
  }
  ctrd.version = output('containerd', ['--version']).trim();
}
async function stopContainerd() {
  if (!ctrd.child) return;
  // tasks and containers first, so that no shim outlives the daemon
  for (const id of tryExec('ctr', ctr('task', 'ls', '-q')).stdout.split('\n').filter(Boolean)) tryExec('ctr', ctr('task', 'delete', '--force', id));
  for (const id of tryExec('ctr', ctr('container', 'ls', '-q')).stdout.split('\n').filter(Boolean)) tryExec('ctr', ctr('container', 'delete', id));
  if (ctrd.child.exitCode === null && ctrd.child.signalCode === null) {
    ctrd.child.kill('SIGTERM');
    const escalate = setTimeout(() => ctrd.child.kill('SIGKILL'), 10_000); // cleanup only, not a measurement
    await ctrd.exited;
    clearTimeout(escalate);
  }
  ctrd.child = null;
  // ctr's default cgroupsPath is /<namespace>/<id>: the runtimes remove the leaves, the parents are ours
  const cg = '/sys/fs/cgroup';
  for (const d of [cg, ...fs.readdirSync(cg).map((c) => path.join(cg, c))]) {
    try { fs.rmdirSync(path.join(d, ctrd.ns)); } catch { /* absent, or not ours to remove */ }
  }
  for (const p of ctrd.residue) try { fs.rmdirSync(p); } catch { /* not empty: someone else uses it */ }
}

// ---- the measures
const MEASURES = [
  { n: 1, title: 'run true', unit: 'ms', sample: (rt) => ({ 'run true': runTrue(rt) }) },
  {
    n: 2, title: 'create/start/kill/delete (sleep 1000)', unit: 'ms',
    sample(rt) {
      const id = newId(rt);
      const create = call(rt, 'create', '--bundle', B.sleep, id).ms;
      const pid = statePid(rt, id, 'created');
      const start = call(rt, 'start', id).ms;
      const { kill, delete: del } = stop(rt, id, pid);
      return { create, start, kill, delete: del, 'create+start+kill+delete': create + start + kill + del };
    },
  },
  {
    n: 3, title: 'state and exec (running)', unit: 'ms',
    setup() {
      for (const rt of RUNTIMES) {
        const id = newId(rt);
        call(rt, 'create', '--bundle', B.sleep, id);
        call(rt, 'start', id);
        rt.parked = { id, pid: statePid(rt, id, 'running') };
      }
    },
    sample: (rt) => ({
      'state of a running container': call(rt, 'state', rt.parked.id).ms,
      'exec true in a running container': call(rt, 'exec', rt.parked.id, 'true').ms,
    }),
    teardown() {
      for (const rt of RUNTIMES) if (rt.parked) { stop(rt, rt.parked.id, rt.parked.pid); rt.parked = null; }
    },
  },
  {
    n: 4, title: `${BATCH} x run true`, unit: 'ms', runs: ROUNDS, warmup: 0,
    sample(rt) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < BATCH; i++) runTrue(rt);
      return { [`${BATCH} x run true, total`]: Number(process.hrtime.bigint() - t0) / 1e6 };
    },
  },
  {
    n: 5, title: 'init RSS in created', unit: 'MiB',
    sample(rt) {
      const id = newId(rt);
      call(rt, 'create', '--bundle', B.sleep, id);
      const pid = statePid(rt, id, 'created');
      const rss = procKiB(`/proc/${pid}/status`, 'VmRSS') / 1024;
      const pss = procKiB(`/proc/${pid}/smaps_rollup`, 'Pss') / 1024;
      stop(rt, id, pid);
      return { 'created init VmRSS': rss, 'created init Pss': pss };
    },
  },
  {
    n: 6, title: 'ctr run --rm (containerd)', unit: 'ms',
    skip: () => (spawnSync('sh', ['-c', 'command -v containerd && command -v ctr']).status === 0 ? null
      : 'containerd/ctr not installed (apt-get install -y containerd)'),
    setup: startContainerd,
    sample(rt) {
      const { ms } = timed('ctr', ctr('run', '--rm', '--rootfs', '--runc-binary', rt.bin,
        '--runc-root', path.join(tmp, `ctr-${rt.name}`), '--fifo-dir', ctrd.fifo, rootfs, `bench${++seq}`, '/bin/true'));
      return { 'ctr run --rm /bin/true': ms };
    },
    teardown: stopContainerd,
  },
  {
    n: 7, title: 'peak RSS of the runtime (run true)', unit: 'MiB',
    skip: () => (fs.existsSync(TIME) ? null : `${TIME} missing (apt-get install -y time)`),
    sample(rt) {
      const id = newId(rt);
      const out = path.join(tmp, 'maxrss');
      timed(TIME, ['-f', '%M', '-o', out, rt.bin, '--root', rt.root, 'run', '--bundle', B.true, id]);
      rt.live.delete(id);
      return { 'peak RSS of `run true`': Number(fs.readFileSync(out, 'utf8').trim().split('\n').pop()) / 1024 };
    },
  },
];

/** Runs `sample(rt)` for both runtimes per iteration; returns { metric: { runc: [...], tsrun: [...] } }. */
async function interleave(n, warmup, sample) {
  const samples = {};
  for (let i = -warmup; i < n; i++) {
    // who goes first alternates, so neither always runs right after the other's teardown
    const order = i % 2 === 0 ? RUNTIMES : [...RUNTIMES].reverse();
    for (const rt of order) {
      const values = sample(rt);
      if (i < 0) continue;
      for (const [k, v] of Object.entries(values)) ((samples[k] ??= {})[rt.name] ??= []).push(v);
    }
    await checkpoint();
  }
  return samples;
}

const sorted = (xs) => [...xs].sort((a, b) => a - b);
function median(xs) {
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const p90 = (xs) => sorted(xs)[Math.ceil(0.9 * xs.length) - 1]; // nearest rank
const fmt = (x) => x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0);

// ---- main
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-bench-'));
const rootfs = path.join(tmp, 'rootfs');
const B = {};
const results = {};
let failed = null;
try {
  for (const rt of RUNTIMES) Object.assign(rt, { root: path.join(tmp, `root-${rt.name}`), live: new Set() });
  // one busybox rootfs, shared read-only by the two bundles
  for (const [name, args] of [['true', ['true']], ['sleep', ['sleep', '1000']]]) {
    const config = busyboxConfig();
    config.process.args = args;
    B[name] = makeBusyboxBundle(path.join(tmp, `bundle-${name}`), { sharedRootfs: rootfs, config });
  }
  for (const m of MEASURES) {
    if (only && !only.has(m.n)) continue;
    const skipped = m.skip?.();
    if (skipped) { console.error(`(${m.n}) ${m.title}: skipped, ${skipped}`); continue; }
    const n = m.runs ?? runs;
    console.error(`(${m.n}) ${m.title}: ${n} interleaved iterations per runtime...`);
    try {
      await m.setup?.();
      const samples = await interleave(n, m.warmup ?? 1, m.sample);
      for (const [metric, byRt] of Object.entries(samples)) {
        const stats = Object.fromEntries(RUNTIMES.map(({ name }) => [name, { median: median(byRt[name]), p90: p90(byRt[name]), samples: byRt[name] }]));
        results[metric] = { measure: m.n, unit: m.unit, ...stats, ratio: stats.tsrun.median / stats.runc.median };
      }
    } finally {
      await m.teardown?.();
    }
  }
} catch (e) {
  failed = e;
} finally {
  await stopContainerd().catch((e) => console.error(`bench: stopping containerd: ${e.message}`));
  for (const rt of RUNTIMES) {
    for (const id of rt.live ?? []) tryExec(rt.bin, ['--root', rt.root, 'delete', '--force', id]);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
if (failed) die(`${failed.message === 'interrupted' ? 'interrupted' : `aborted: ${failed.message}`} (cleaned up)`);

const version = (bin) => output(bin, ['--version']).trim().split('\n');
const report = {
  timestamp: new Date().toISOString(),
  machine: { kernel: os.release(), nproc: os.availableParallelism(), cpu: os.cpus()[0]?.model },
  versions: { benchNode: process.version, runc: version(RUNTIMES[0].bin), tsrun: version(RUNTIMES[1].bin), containerd: ctrd.version },
  options: { runs, only: only ? [...only] : null, batch: BATCH, rounds: ROUNDS },
  results,
};
fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
fs.writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);

console.log(`tsrun vs runc: medians (p90), ${runs} runs, ${os.availableParallelism()} CPUs, Linux ${os.release()}\n`);
console.log('| # | measure | unit | runc | tsrun | tsrun/runc |');
console.log('|---|---|---|---|---|---|');
for (const [metric, r] of Object.entries(results)) {
  console.log(`| ${r.measure} | ${metric} | ${r.unit} | ${fmt(r.runc.median)} (${fmt(r.runc.p90)}) | ${fmt(r.tsrun.median)} (${fmt(r.tsrun.p90)}) | ${r.ratio.toFixed(2)}x |`);
}
console.error(`\nraw samples: ${jsonFile}`);
