import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOTLESS_USER, Sandbox, hostMountPoints, integrationSkipReason, needsPrivilege, processAlive, rootlessRun, waitUntil } from '../helpers/tsrun';

describe.skipIf(integrationSkipReason !== undefined)(`lifecycle through bin/tsrun${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox();
  });
  afterEach(() => {
    sb.cleanup();
  });

  it('run prints from a busybox container and leaves nothing behind', () => {
    const mountsBefore = hostMountPoints().length;
    const id = sb.newId();
    const r = sb.tsrun(['run', '--bundle', sb.bundle(sb.config(['echo', 'hello from busybox'])), id]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hello from busybox\n');
    expect(r.status).toBe(0);
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
    expect(hostMountPoints().length).toBe(mountsBefore);
  });

  it('run exits with the container process exit code', () => {
    expect(sb.tsrun(['run', '-b', sb.bundle(sb.config(['sh', '-c', 'exit 7'])), sb.newId()]).status).toBe(7);
  });

  it('run forwards signals to the container and exits 128+signal when the container is killed', async () => {
    const trapping = sb.newId();
    const script = 'trap "echo got TERM; exit 143" TERM; echo ready; while :; do sleep 0.05; done';
    const first = sb.tsrunAsync(['run', '-b', sb.bundle(sb.config(['sh', '-c', script])), trapping]);
    await waitUntil(() => fs.existsSync(sb.containerDir(trapping)) && sb.tsrun(['state', trapping]).stdout.includes('"running"'), 10_000, 'running');
    process.kill(first.pid, 'SIGTERM');
    const r1 = await first.done;
    expect(r1.stdout).toContain('got TERM');
    expect(r1.status).toBe(143);

    const killed = sb.newId();
    const second = sb.tsrunAsync(['run', '-b', sb.bundle(sb.config(['sleep', '1000'])), killed]);
    await waitUntil(() => fs.existsSync(sb.containerDir(killed)) && sb.tsrun(['state', killed]).stdout.includes('"running"'), 10_000, 'running');
    expect(sb.tsrun(['kill', killed, 'KILL']).status).toBe(0);
    const r2 = await second.done;
    expect(r2.status).toBe(137);
    expect(fs.existsSync(sb.containerDir(killed))).toBe(false);
  });

  it('create → created with a pid; start → running; kill → stopped; delete → gone', async () => {
    const id = sb.newId();
    const pidFile = path.join(sb.dir, 'init.pid');
    const bundle = sb.bundle(sb.config(['sleep', '1000']));
    const created = sb.tsrun(['create', '--bundle', bundle, '--pid-file', pidFile, id]);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    const pidText = fs.readFileSync(pidFile, 'utf8');
    expect(pidText).toMatch(/^[1-9][0-9]*$/); // decimal, no newline
    const st = sb.state(id);
    expect(st).toMatchObject({ ociVersion: '1.2.1', id, status: 'created', pid: Number(pidText), bundle });
    expect(st.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
    expect(processAlive(st.pid)).toBe(true);

    expect(sb.tsrun(['start', id]).status).toBe(0);
    expect(sb.state(id).status).toBe('running');
    expect(fs.readFileSync(`/proc/${st.pid}/cmdline`, 'utf8')).toBe('sleep\u00001000\u0000');

    expect(sb.tsrun(['kill', id, 'KILL']).status).toBe(0);
    await waitUntil(() => !processAlive(st.pid), 10_000, 'the init to die');
    expect(sb.state(id)).toMatchObject({ status: 'stopped', pid: 0 });

    const deleted = sb.tsrun(['delete', id]);
    expect(deleted.status).toBe(0);
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
    const gone = sb.tsrun(['state', id]);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toContain('does not exist');
  });

  it('refuses what the runtime-spec forbids, each with one clear line and exit 1', async () => {
    const id = sb.newId();
    const bundle = sb.bundle(sb.config(['sleep', '1000']));
    expect(sb.tsrun(['create', '-b', bundle, id]).status).toBe(0);

    const again = sb.tsrun(['create', '-b', bundle, id]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/container with given ID already exists/);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);

    expect(sb.tsrun(['start', id]).status).toBe(0);
    const twice = sb.tsrun(['start', id]);
    expect(twice.status).toBe(1);
    expect(twice.stderr).toMatch(/cannot start an already running container/);

    const running = sb.tsrun(['delete', id]);
    expect(running.status).toBe(1);
    expect(running.stderr).toMatch(/cannot delete container .* that is not stopped: running/);

    const pid = sb.state(id).pid;
    expect(sb.tsrun(['kill', id, '9']).status).toBe(0);
    await waitUntil(() => !processAlive(pid), 10_000, 'the init to die');
    const killStopped = sb.tsrun(['kill', id, 'TERM']);
    expect(killStopped.status).toBe(1);
    expect(killStopped.stderr).toMatch(/container not running/);
    expect(sb.tsrun(['kill', '--all', id, 'KILL']).status).toBe(0);
    const startStopped = sb.tsrun(['start', id]);
    expect(startStopped.status).toBe(1);
    expect(startStopped.stderr).toMatch(/cannot start a container that has stopped/);
    expect(sb.tsrun(['delete', id]).status).toBe(0);
  });

  it('delete of a created container kills its parked init; delete --force kills a running one', async () => {
    const created = sb.newId();
    expect(sb.tsrun(['create', '-b', sb.bundle(sb.config(['true'])), created]).status).toBe(0);
    const createdPid = sb.state(created).pid;
    expect(sb.tsrun(['delete', created]).status).toBe(0);
    expect(processAlive(createdPid)).toBe(false);
    expect(fs.existsSync(sb.containerDir(created))).toBe(false);

    const running = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(sb.config(['sleep', '1000'])), running]).status).toBe(0);
    const runningPid = sb.state(running).pid;
    expect(sb.tsrun(['delete', '--force', running]).status).toBe(0);
    expect(processAlive(runningPid)).toBe(false);
    expect(fs.existsSync(sb.containerDir(running))).toBe(false);

    expect(sb.tsrun(['delete', '--force', 'never-existed']).status).toBe(0);
    const unknown = sb.tsrun(['delete', 'never-existed']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('does not exist');
  });

  it('a missing executable fails create with "executable file not found" and leaves nothing', () => {
    const id = sb.newId();
    const r = sb.tsrun(['create', '-b', sb.bundle(sb.config(['no-such-binary'])), id]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('exec: "no-such-binary": executable file not found in $PATH');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('a bad config.json fails with one line naming the field, and leaves nothing', () => {
    const id = sb.newId();
    const config = sb.config();
    (config.process as Record<string, unknown>).args = 'sh';
    const r = sb.tsrun(['create', '-b', sb.bundle(config), id]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('/process/args');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);

    const broken = sb.tsrun(['create', '-b', sb.rawBundle('{"ociVersion": '), sb.newId()]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/config\.json: .*not valid JSON/);
  });

  it('invalid IDs are refused before anything is created', () => {
    for (const id of ['../escape', 'a/b', '..', 'with space']) {
      const r = sb.tsrun(['create', '-b', sb.bundle(), id]);
      expect(r.status, id).toBe(1);
      expect(r.stderr).toContain('invalid container ID format');
    }
    expect(fs.existsSync(sb.root) ? fs.readdirSync(sb.root).filter((e) => !e.endsWith('.lock')) : []).toEqual([]);
  });

  it('list shows containers as table, json and -q', () => {
    const id = sb.newId();
    expect(sb.tsrun(['create', '-b', sb.bundle(sb.config(['true'])), id]).status).toBe(0);
    const json = JSON.parse(sb.tsrun(['list', '--format', 'json']).stdout);
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ id, status: 'created', owner: rootlessRun ? 'nobody' : 'root' });
    expect(sb.tsrun(['list', '-q']).stdout).toBe(`${id}\n`);
    const table = sb.tsrun(['list']).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER/);
    expect(table[1]).toContain(id);
  });

  it('the container gets its own namespaces, hostname, read-only root and masked paths', () => {
    const script = [
      'echo pid=$$',
      'echo host=$(hostname)',
      'echo ifaces=$(ls /sys/class/net | tr "\\n" " ")',
      'touch /probe 2>/dev/null && echo root=rw || echo root=ro',
      'echo keys=$(wc -c < /proc/keys)',
      'echo acpi=$(ls -A /proc/acpi | wc -l)',
      'touch /proc/sys/kernel/hostname 2>/dev/null && echo procsys=rw || echo procsys=ro',
      'echo uid=$(id -u)',
      'ls /dev | tr "\\n" " "; echo',
      'grep CapEff /proc/self/status',
      'grep NoNewPrivs /proc/self/status',
      'echo nofile=$(ulimit -n)',
    ].join('; ');
    const r = sb.tsrun(['run', '-b', sb.bundle(sb.config(['sh', '-c', script])), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = r.stdout;
    expect(out).toContain('pid=1\n');
    expect(out).toContain('host=tsrun\n');
    expect(out).toMatch(/ifaces=lo\n/);
    expect(out).toContain('root=ro\n');
    expect(out).toContain('keys=0\n'); // masked by /dev/null
    expect(out).toContain('acpi=0\n'); // masked by an empty read-only tmpfs
    expect(out).toContain('procsys=ro\n');
    expect(out).toContain('uid=0\n');
    for (const dev of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'mqueue', 'ptmx', 'fd', 'stdin']) {
      expect(out).toMatch(new RegExp(`(^| )${dev}( |$)`, 'm'));
    }
    // CAP_AUDIT_WRITE(29) | CAP_KILL(5) | CAP_NET_BIND_SERVICE(10)
    expect(out).toMatch(/CapEff:\s+0000000020000420/);
    expect(out).toMatch(/NoNewPrivs:\s+1/);
    expect(out).toContain('nofile=1024\n');
  });

  it.skipIf(needsPrivilege('only the uid and gid of the caller exist in a rootless container')[0])(`runs the process as the configured user and groups in the configured cwd${needsPrivilege('only the uid and gid of the caller exist in a rootless container')[1]}`, () => {
    const config = sb.config(['sh', '-c', 'echo $(id -u):$(id -g):$(id -G) $(pwd)']);
    config.process.user = { uid: 65534, gid: 65534, additionalGids: [10, 20] };
    config.process.cwd = '/tmp';
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('65534:65534:65534 10 20 /tmp');
  });

  it('--no-pivot runs the container through MS_MOVE + chroot', () => {
    const r = sb.tsrun(['run', '--no-pivot', '-b', sb.bundle(sb.config(['cat', '/etc/hostname'])), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('tsrun\n');
  });

  it('fields it cannot apply yet are refused by name, not ignored', () => {
    const config = sb.config();
    config.linux.netDevices = { eth1: { name: 'eth1' } };
    const r = sb.tsrun(['create', '-b', sb.bundle(config), sb.newId()]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('config.json: not supported yet: /linux/netDevices');
  });

  it('--log --log-format json appends one JSON error entry for a failing command', () => {
    const log = path.join(sb.dir, 'log.json');
    const r = sb.tsrun(['--log', log, '--log-format', 'json', 'state', 'nope']);
    expect(r.status).toBe(1);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1]!);
    expect(last.level).toBe('error');
    expect(last.msg).toContain('does not exist');
    expect(new Date(last.time).toString()).not.toBe('Invalid Date');
  });

  it('spec writes a default config.json and refuses to overwrite one', () => {
    const dir = path.join(sb.dir, 'spec');
    fs.mkdirSync(dir);
    if (rootlessRun) fs.chownSync(dir, ROOTLESS_USER.uid, ROOTLESS_USER.gid);
    expect(sb.tsrun(['spec', '--bundle', dir]).status).toBe(0);
    const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(spec.ociVersion).toBe('1.2.1');
    expect(spec.process.args).toEqual(['sh']);
    const again = sb.tsrun(['spec', '--bundle', dir]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('exists');
  });

  it('--version prints runc-style lines', () => {
    const r = sb.tsrun(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^tsrun version \S+\ncommit: \S+\nspec: 1\.2\.1\n/);
  });

  it('kill --all signals every process of the container, not only its init', async () => {
    const id = sb.newId();
    // The init handles TERM and survives it; its child does not: only --all reaches the child.
    const script = 'trap "echo got TERM" TERM; sleep 1000 & while :; do sleep 0.2; done';
    const config = sb.config(['sh', '-c', script]);
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(config), id]).status).toBe(0);
    const init = sb.state(id).pid;
    const sleeper = () => childrenOf(init).find((pid) => readCmdline(pid) === 'sleep 1000');
    await waitUntil(() => sleeper() !== undefined, 10_000, 'the child');
    const child = sleeper();
    expect(sb.tsrun(['kill', '--all', id, 'TERM']).status).toBe(0);
    await waitUntil(() => !processAlive(child!), 10_000, 'the child to die');
    expect(processAlive(init)).toBe(true);
    expect(sb.tsrun(['delete', '--force', id]).status).toBe(0);
  });

  it.skipIf(needsPrivilege('host root cannot view keyrings of an unprivileged user in /proc/keys')[0])(`gives the container its own session keyring unless --no-new-keyring${needsPrivilege('host root cannot view keyrings of an unprivileged user in /proc/keys')[1]}`, () => {
    // Seen from the host: /proc/keys lists the keyrings root may view, the container's among them.
    const hostKeys = () => fs.readFileSync('/proc/keys', 'utf8');
    const own = sb.newId();
    expect(sb.tsrun(['run', '-d', '-b', sb.bundle(sb.config(['sleep', '1000'])), own]).status).toBe(0);
    expect(hostKeys()).toContain(`_ses.${own}`);
    const shared = sb.newId();
    expect(sb.tsrun(['run', '-d', '--no-new-keyring', '-b', sb.bundle(sb.config(['sleep', '1000'])), shared]).status).toBe(0);
    expect(hostKeys()).not.toContain(`_ses.${shared}`);
  });

  it('accepts Go-style single-dash long flags and --flag=value', () => {
    const id = sb.newId();
    const r = sb.tsrun(['run', `-bundle=${sb.bundle(sb.config(['true']))}`, id]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

function readCmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

