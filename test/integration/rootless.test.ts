import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { integrationSkipReason, processAlive, ROOTLESS_USER, Sandbox, waitUntil } from '../helpers/tsrun';

/**
 * The lifecycle again, with bin/tsrun started as an unprivileged user (setpriv; the test runner itself needs root
 * only to hand the sandbox to that user). tsrun detects rootless mode from its euid.
 */
describe.skipIf(integrationSkipReason !== undefined)(`rootless tsrun (as uid ${ROOTLESS_USER.uid})${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : ''}`, () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox('tsrun-rootless', { user: ROOTLESS_USER });
  });
  afterEach(() => {
    sb.cleanup();
  });

  it('run prints from a container whose root is the unprivileged user', () => {
    const script = 'id -u; cat /proc/self/uid_map; hostname; echo x > /dev/null && echo devnull-ok; touch / 2>/dev/null && echo root=rw || echo root=ro';
    const r = sb.tsrun(['run', '-b', sb.bundle(sb.config(['sh', '-c', script])), sb.newId()]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '))).toEqual(['0', `0 ${ROOTLESS_USER.uid} 1`, 'tsrun', 'devnull-ok', 'root=ro']);
  });

  it('create → start → kill → delete, with the init owned by the user on the host', async () => {
    const id = sb.newId();
    expect(sb.tsrun(['create', '-b', sb.bundle(sb.config(['sleep', '1000'])), id]).status).toBe(0);
    const created = sb.state(id);
    expect(created.status).toBe('created');
    expect(fs.readFileSync(`/proc/${created.pid}/status`, 'utf8')).toMatch(new RegExp(`\\nUid:\\s+${ROOTLESS_USER.uid}\\s`));
    expect(fs.statSync(sb.containerDir(id)).uid).toBe(ROOTLESS_USER.uid);
    expect(sb.tsrun(['start', id]).status).toBe(0);
    expect(sb.state(id).status).toBe('running');
    expect(sb.tsrun(['kill', id, 'KILL']).status).toBe(0);
    await waitUntil(() => !processAlive(created.pid), 10_000, 'the init to die');
    expect(sb.state(id).status).toBe('stopped');
    expect(sb.tsrun(['delete', id]).status).toBe(0);
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('run exits with the container\'s status and cleans up', () => {
    const id = sb.newId();
    expect(sb.tsrun(['run', '-b', sb.bundle(sb.config(['sh', '-c', 'exit 5'])), id]).status).toBe(5);
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('a config without a user namespace is refused with a pointer to spec --rootless', () => {
    const config = sb.config(['true']);
    config.linux.namespaces = config.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'user');
    delete config.linux.uidMappings;
    delete config.linux.gidMappings;
    const id = sb.newId();
    const r = sb.tsrun(['create', '-b', sb.bundle(config), id]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('config.json: /linux/namespaces: a rootless container needs a new user namespace (see tsrun spec --rootless)');
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('maps naming other host IDs are refused before anything is created', () => {
    const config = sb.config(['true']);
    config.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const id = sb.newId();
    const r = sb.tsrun(['create', '-b', sb.bundle(config), id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^config\\.json: /linux/uidMappings: rootless tsrun can only map its own uid ${ROOTLESS_USER.uid}`));
    expect(fs.existsSync(sb.containerDir(id))).toBe(false);
  });

  it('additionalGids cannot be set where setgroups is denied', () => {
    const config = sb.config(['true']);
    config.process.user.additionalGids = [10];
    const r = sb.tsrun(['run', '-b', sb.bundle(config), sb.newId()]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/additionalGids \[10\]: cannot be set in a rootless container/);
  });

  it('spec --rootless writes a config whose user namespace maps root to the caller', () => {
    const dir = sb.bundle(sb.config(['true']));
    fs.rmSync(`${dir}/config.json`);
    fs.chownSync(dir, ROOTLESS_USER.uid, ROOTLESS_USER.gid);
    expect(sb.tsrun(['spec', '--rootless', '--bundle', dir]).status).toBe(0);
    const spec = JSON.parse(fs.readFileSync(`${dir}/config.json`, 'utf8'));
    expect(spec.linux.uidMappings).toEqual([{ containerID: 0, hostID: ROOTLESS_USER.uid, size: 1 }]);
    expect(spec.linux.namespaces.map((n: { type: string }) => n.type)).toContain('user');
  });
});
