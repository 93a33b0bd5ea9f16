import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Sandbox, integrationSkipReason, processAlive, type Config } from '../helpers/tsrun';

type Kind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

interface HookRecord {
  state: { ociVersion: string; id: string; status: string; pid?: number; bundle: string; annotations?: Record<string, string> };
  mnt: string;
  pid: string;
  net: string;
  cwd: string;
}

/**
 * Hooks are shell scripts that append their kind to an order log and record what they saw: the state on stdin,
 * their mount/PID/network namespaces and cwd. The directory is bind-mounted into the container at /hooks, so a
 * startContainer hook (whose path resolves in the container) finds its script and writes to the same log.
 */
class HookLab {
  readonly dir: string;
  constructor(sb: Sandbox) {
    this.dir = fs.mkdtempSync(path.join(sb.dir, 'hooks-'));
    fs.chmodSync(this.dir, 0o777);
  }

  /** A hook script; `inContainer` gives the path as the container sees it (startContainer). */
  script(name: string, body: string, inContainer = false): string {
    const file = path.join(this.dir, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return inContainer ? `/hooks/${name}` : file;
  }

  recorder(kind: Kind, options: { exit?: number; inContainer?: boolean } = {}): { path: string; env: string[] } {
    const base = options.inContainer ? '/hooks' : this.dir;
    const body = [
      `echo ${kind} >> ${base}/order`,
      `cat > ${base}/${kind}.state`,
      `readlink /proc/self/ns/mnt > ${base}/${kind}.mnt`,
      `readlink /proc/self/ns/pid > ${base}/${kind}.pid`,
      `readlink /proc/self/ns/net > ${base}/${kind}.net`,
      `pwd > ${base}/${kind}.cwd`,
      options.exit ? `echo "${kind} went wrong" >&2; exit ${options.exit}` : 'exit 0',
    ].join('\n');
    return { path: this.script(`${kind}.sh`, body, options.inContainer), env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] };
  }

  order(): string[] {
    const file = path.join(this.dir, 'order');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  }

  record(kind: Kind): HookRecord {
    const read = (ext: string) => fs.readFileSync(path.join(this.dir, `${kind}.${ext}`), 'utf8').trim();
    return { state: JSON.parse(read('state')), mnt: read('mnt'), pid: read('pid'), net: read('net'), cwd: read('cwd') };
  }

  /** Mounts the lab at /hooks in the container. */
  mountInto(config: Config): void {
    (config.mounts as unknown[]).push({ destination: '/hooks', type: 'bind', source: this.dir, options: ['rbind', 'rw'] });
  }
}

function ns(pid: number | 'self', name: string): string {
  return fs.readlinkSync(`/proc/${pid}/ns/${name}`);
}

describe.skipIf(integrationSkipReason !== undefined)(`OCI hooks${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  let lab: HookLab;
  beforeEach(() => {
    sb = new Sandbox('tsrun-hooks');
    lab = new HookLab(sb);
  });
  afterEach(() => {
    sb.cleanup();
  });

  function configWith(hooks: Partial<Record<Kind, unknown[]>>, args = ['sleep', '1000']): Config {
    const config = sb.config(args);
    lab.mountInto(config);
    config.hooks = hooks;
    config.annotations = { 'org.example.hooks': 'yes' };
    return config;
  }

  it('runs every kind in the spec order, in the namespace the spec names, with the state of that moment', async () => {
    const id = sb.newId();
    const config = configWith({
      prestart: [lab.recorder('prestart')],
      createRuntime: [lab.recorder('createRuntime')],
      createContainer: [lab.recorder('createContainer')],
      startContainer: [lab.recorder('startContainer', { inContainer: true })],
      poststart: [lab.recorder('poststart')],
      poststop: [lab.recorder('poststop')],
    });
    const bundle = sb.bundle(config);
    const created = sb.tsrun(['create', '--bundle', bundle, id]);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    const initPid = sb.state(id).pid;
    expect(lab.order()).toEqual(['prestart', 'createRuntime', 'createContainer']);

    const base = { ociVersion: config.ociVersion, id, bundle, annotations: { 'org.example.hooks': 'yes' } };
    for (const kind of ['prestart', 'createRuntime'] as const) {
      const r = lab.record(kind);
      // Runtime namespace: tsrun's own namespaces, the init's host PID, working in the bundle.
      expect(r.state).toEqual({ ...base, status: 'creating', pid: initPid });
      expect(r.mnt).toBe(ns('self', 'mnt'));
      expect(r.pid).toBe(ns('self', 'pid'));
      expect(r.net).toBe(ns('self', 'net'));
      expect(r.cwd).toBe(bundle);
    }
    const cc = lab.record('createContainer');
    // Container namespace: the init's namespaces, and the PID as the container sees it.
    expect(cc.state).toEqual({ ...base, status: 'creating', pid: 1 });
    expect(cc.mnt).toBe(ns(initPid, 'mnt'));
    expect(cc.pid).toBe(ns(initPid, 'pid'));
    expect(cc.net).toBe(ns(initPid, 'net'));

    expect(sb.tsrun(['start', id]).status).toBe(0);
    expect(lab.order()).toEqual(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart']);
    const sc = lab.record('startContainer');
    expect(sc.state).toEqual({ ...base, status: 'created', pid: 1 });
    expect(sc.mnt).toBe(ns(initPid, 'mnt'));
    expect(sc.pid).toBe(ns(initPid, 'pid'));
    const ps = lab.record('poststart');
    expect(ps.state).toEqual({ ...base, status: 'running', pid: initPid });
    expect(ps.mnt).toBe(ns('self', 'mnt'));
    // The process runs only after startContainer: the init is the user's program by the time start returned.
    expect(fs.readFileSync(`/proc/${initPid}/cmdline`, 'utf8')).toBe('sleep\u00001000\u0000');

    expect(sb.tsrun(['kill', id, 'KILL']).status).toBe(0);
    expect(lab.order()).not.toContain('poststop');
    const deleted = sb.tsrun(['delete', id]);
    expect(deleted.stderr).toBe('');
    expect(deleted.status).toBe(0);
    expect(lab.order().at(-1)).toBe('poststop');
    const post = lab.record('poststop');
    // After delete: stopped, no PID; the state directory is already gone when poststop runs.
    expect(post.state).toEqual({ ...base, status: 'stopped' });
    expect(post.mnt).toBe(ns('self', 'mnt'));
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('run goes through all of them and ends with poststop', () => {
    const config = configWith({
      prestart: [lab.recorder('prestart')],
      createRuntime: [lab.recorder('createRuntime')],
      createContainer: [lab.recorder('createContainer')],
      startContainer: [lab.recorder('startContainer', { inContainer: true })],
      poststart: [lab.recorder('poststart')],
      poststop: [lab.recorder('poststop')],
    }, ['true']);
    const r = sb.tsrun(['run', '--bundle', sb.bundle(config), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(lab.order()).toEqual(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
  });

  it('passes args (argv[0] included) and exactly the env given, nothing of tsrun\'s', () => {
    const out = path.join(lab.dir, 'argv-env');
    const hook = {
      path: '/bin/busybox',
      // argv[0] "sh" makes busybox run its shell: proof that argv[0] reached the hook as given.
      // /proc/$$/environ is the environment the hook was given (the shell's own additions are not in it).
      args: ['sh', '-c', `{ echo "$0|$1|$2"; tr '\\0' '\\n' < /proc/$$/environ; } > ${out}`, 'first', 'second'],
      env: ['FOO=bar', 'EMPTY='],
    };
    const noEnv = { path: '/bin/busybox', args: ['sh', '-c', `tr '\\0' '\\n' < /proc/$$/environ > ${out}.none`] };
    const r = sb.tsrun(['run', '--bundle', sb.bundle(configWith({ createRuntime: [hook, noEnv] }, ['true'])), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
    expect(lines[0]).toBe('first|second|');
    expect(lines.slice(1)).toEqual(['FOO=bar', 'EMPTY=']);
    expect(fs.readFileSync(`${out}.none`, 'utf8')).toBe('');
  });

  for (const kind of ['prestart', 'createRuntime', 'createContainer'] as const) {
    it(`a failing ${kind} hook fails create, stops at that hook, cleans up and runs poststop`, () => {
      const id = sb.newId();
      const second = lab.script('second.sh', `echo second >> ${lab.dir}/order`);
      const failing = lab.recorder(kind, { exit: 3 });
      const config = configWith({ [kind]: [failing, { path: second }], poststop: [lab.recorder('poststop')] });
      const r = sb.tsrun(['create', '--bundle', sb.bundle(config), id]);
      expect(r.status).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`${kind} hook #0`);
      expect(lines[0]).toContain(failing.path);
      expect(lines[0]).toContain('exit status 3');
      expect(lines[0]).toContain(`${kind} went wrong`);
      expect(lab.order()).not.toContain('second');
      expect(lab.order().at(-1)).toBe('poststop');
      expect(fs.existsSync(sb.containerDir(id))).toBe(false);
      const seen = lab.record(kind).state.pid!;
      if (kind !== 'createContainer') expect(processAlive(seen)).toBe(false);
    });
  }

  it('a failing startContainer hook fails start before the process runs; the container is stopped', async () => {
    const id = sb.newId();
    const marker = path.join(lab.dir, 'ran');
    const config = configWith({
      startContainer: [lab.recorder('startContainer', { exit: 4, inContainer: true })],
      poststart: [lab.recorder('poststart')],
      poststop: [lab.recorder('poststop')],
    }, ['sh', '-c', 'touch /hooks/ran; sleep 1000']);
    expect(sb.tsrun(['create', '--bundle', sb.bundle(config), id]).status).toBe(0);
    const r = sb.tsrun(['start', id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('startContainer hook #0 (/hooks/startContainer.sh): exit status 4');
    expect(r.stderr).toContain('startContainer went wrong');
    expect(fs.existsSync(marker)).toBe(false);
    expect(lab.order()).not.toContain('poststart');
    expect(sb.state(id).status).toBe('stopped');
    expect(sb.tsrun(['delete', id]).status).toBe(0);
    expect(lab.order().at(-1)).toBe('poststop');
  });

  it('failing poststart and poststop hooks are warnings: start and delete succeed', () => {
    const id = sb.newId();
    const config = configWith({ poststart: [lab.recorder('poststart', { exit: 5 })], poststop: [lab.recorder('poststop', { exit: 6 })] });
    expect(sb.tsrun(['create', '--bundle', sb.bundle(config), id]).status).toBe(0);
    const started = sb.tsrun(['start', id]);
    expect(started.status).toBe(0);
    expect(started.stderr).toContain('poststart hook #0');
    expect(started.stderr).toContain('exit status 5');
    expect(sb.state(id).status).toBe('running');
    const deleted = sb.tsrun(['delete', '--force', id]);
    expect(deleted.status).toBe(0);
    expect(deleted.stderr).toContain('poststop hook #0');
    expect(deleted.stderr).toContain('exit status 6');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('a hook past its timeout is killed and reported, and create leaves nothing behind', () => {
    const id = sb.newId();
    const pidFile = path.join(lab.dir, 'sleeper.pid');
    const slow = { path: lab.script('slow.sh', `echo $$ > ${pidFile}\nexec /bin/sleep 60`), timeout: 1 };
    const started = Date.now();
    const r = sb.tsrun(['create', '--bundle', sb.bundle(configWith({ createRuntime: [slow] })), id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('createRuntime hook #0');
    expect(r.stderr).toMatch(/timed out after 1 s/);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(processAlive(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(false);
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('a hook path that does not exist is an error naming it', () => {
    const id = sb.newId();
    const r = sb.tsrun(['create', '--bundle', sb.bundle(configWith({ prestart: [{ path: '/nonexistent/hook' }] })), id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('prestart hook #0 (/nonexistent/hook)');
    expect(r.stderr).toContain('no such file or directory');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('config.json edited after create does not change the hooks delete runs', () => {
    const id = sb.newId();
    const config = configWith({ poststop: [lab.recorder('poststop')] });
    const bundle = sb.bundle(config);
    expect(sb.tsrun(['create', '--bundle', bundle, id]).status).toBe(0);
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ...config, hooks: {} }));
    expect(sb.tsrun(['delete', id]).status).toBe(0);
    expect(lab.order()).toEqual(['poststop']);
  });

  it('a poststop hook that cannot be executed is reported by delete with the errno, not as a crash', () => {
    // The forked child reports a failed execve itself; it once aborted there, after it had closed libuv's fds.
    const id = sb.newId();
    const hook = lab.script('not-executable.sh', 'exit 0');
    fs.chmodSync(hook, 0o644);
    expect(sb.tsrun(['create', '--bundle', sb.bundle(configWith({ poststop: [{ path: hook }] })), id]).status).toBe(0);
    const deleted = sb.tsrun(['delete', id]);
    expect(deleted.status).toBe(0);
    expect(deleted.stderr).toContain(`poststop hook #0 (${hook}): exec: permission denied`);
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });
});
