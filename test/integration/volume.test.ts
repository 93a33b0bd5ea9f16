// `tsrun volume` through bin/tsrun with real containers: data that outlives a container, a volume shared live,
// first-use population (once, only into an empty volume), rm refused while a container uses the volume, :ro
// enforced inside, tmpfs that vanishes with its container, and bad input that changes nothing.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { integrationSkipReason, needsPrivilege, Sandbox, waitUntil, type Config } from '../helpers/tsrun';

const [rootlessSkip, rootlessNote] = needsPrivilege('volume population copies files of other owners: root only');

describe.skipIf(integrationSkipReason !== undefined || rootlessSkip)(`tsrun volume${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : rootlessNote}`, () => {
  let sb: Sandbox;
  let volumes: string;
  let counter = 0;
  beforeAll(() => {
    sb = new Sandbox('tsrun-volume');
    volumes = path.join(sb.dir, 'volumes');
  });
  afterAll(() => sb.cleanup());

  /** A bundle of its own (a private copy of the busybox rootfs, so the image can have content at a path). */
  function bundle(args: string[], imageFiles: Record<string, string> = {}): string {
    const config = sb.config(args);
    config.linux.cgroupsPath = `tsrun-volume-${process.pid}-${++counter}`;
    const dir = sb.bundle(config);
    const shared = path.resolve(dir, (config as Config & { root: { path: string } }).root.path);
    const rootfs = path.join(dir, 'own-rootfs');
    fs.cpSync(shared, rootfs, { recursive: true, verbatimSymlinks: true });
    for (const [file, content] of Object.entries(imageFiles)) {
      fs.mkdirSync(path.dirname(path.join(rootfs, file)), { recursive: true });
      fs.writeFileSync(path.join(rootfs, file), content);
    }
    const written = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Config & { root: { path: string; readonly?: boolean } };
    written.root = { path: 'own-rootfs', readonly: false };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(written));
    return dir;
  }

  const volume = (...args: string[]) => sb.tsrun(['volume', ...args, '--state-dir', volumes]);
  const attach = (dir: string, ...specs: string[]) => {
    const r = sb.tsrun(['volume', 'attach', '--state-dir', volumes, dir, ...specs]);
    expect([r.stderr, r.status]).toEqual(['', 0]);
  };
  const run = (dir: string) => sb.tsrun(['run', '--bundle', dir, sb.newId('v')]);

  it('data written by one container is read by a second one started later', () => {
    expect(volume('create', 'keep').stdout).toBe('keep\n');
    const writer = bundle(['sh', '-c', 'echo kept > /data/file']);
    attach(writer, 'keep:/data');
    expect(run(writer).status).toBe(0);
    const reader = bundle(['cat', '/data/file']);
    attach(reader, 'keep:/data');
    expect(run(reader).stdout).toBe('kept\n');
    expect(fs.readFileSync(path.join(volumes, 'keep', '_data', 'file'), 'utf8')).toBe('kept\n');
  });

  it('two running containers share a volume live', async () => {
    const a = bundle(['sh', '-c', 'echo from-a > /shared/a; while [ ! -f /shared/b ]; do sleep 0.05; done; cat /shared/b; sleep 60']);
    const b = bundle(['sh', '-c', 'while [ ! -f /shared/a ]; do sleep 0.05; done; cat /shared/a; echo from-b > /shared/b; sleep 60']);
    attach(a, 'live:/shared');
    attach(b, '--mount', 'type=volume,source=live,target=/shared');
    const [idA, idB] = [sb.newId('live'), sb.newId('live')];
    expect(sb.tsrun(['run', '--detach', '--bundle', a, idA]).status).toBe(0);
    expect(sb.tsrun(['run', '--detach', '--bundle', b, idB]).status).toBe(0);
    await waitUntil(() => fs.existsSync(path.join(volumes, 'live', '_data', 'b')), 10_000, 'container b to answer through the volume');
    expect(fs.readFileSync(path.join(volumes, 'live', '_data', 'a'), 'utf8')).toBe('from-a\n');
    // rm of a volume in use is refused, naming the containers; nothing is removed.
    const refused = volume('rm', 'live');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^volume live is in use by containers ${idA}, ${idB}`));
    expect(fs.existsSync(path.join(volumes, 'live', '_data', 'a'))).toBe(true);
    expect(volume('ls', '-q', '--filter', 'dangling=true').stdout.split('\n')).not.toContain('live');
    for (const id of [idA, idB]) expect(sb.tsrun(['delete', '--force', id]).status).toBe(0);
    expect(volume('rm', 'live').stdout).toBe('live\n');
    expect(fs.existsSync(path.join(volumes, 'live'))).toBe(false);
  });

  it('an empty volume is filled from the image on its first use only, and never a non-empty one', () => {
    const first = bundle(['sh', '-c', 'cat /etc/app/conf; echo changed > /etc/app/conf; rm /etc/app/extra'], { 'etc/app/conf': 'from image 1\n', 'etc/app/extra': 'x' });
    attach(first, 'conf:/etc/app');
    expect(run(first).stdout).toBe('from image 1\n');
    const second = bundle(['cat', '/etc/app/conf'], { 'etc/app/conf': 'from image 2\n', 'etc/app/other': 'y' });
    attach(second, 'conf:/etc/app');
    expect(run(second).stdout).toBe('changed\n');
    expect(fs.readdirSync(path.join(volumes, 'conf', '_data'))).toEqual(['conf']);
    expect(JSON.parse(volume('inspect', 'conf').stdout)[0].populated.from).toMatch(/^\/etc\/app of /);

    // A volume that already has content when first used is not touched.
    expect(volume('create', 'full').status).toBe(0);
    fs.writeFileSync(path.join(volumes, 'full', '_data', 'mine'), 'mine');
    const third = bundle(['ls', '/etc/app'], { 'etc/app/conf': 'image' });
    attach(third, 'full:/etc/app');
    expect(run(third).stdout).toBe('mine\n');
    // nocopy: never filled.
    const fourth = bundle(['ls', '-A', '/etc/app'], { 'etc/app/conf': 'image' });
    attach(fourth, 'untouched:/etc/app:nocopy');
    expect(run(fourth).stdout).toBe('');
  });

  it(':ro is enforced inside; a host path is bound, a tmpfs vanishes with its container', () => {
    const host = path.join(sb.dir, 'host-dir');
    fs.mkdirSync(host);
    fs.writeFileSync(path.join(host, 'seen'), 'host file\n');
    const dir = bundle(['sh', '-c', 'cat /host/seen; echo x > /ro/y 2>/dev/null && echo wrote || echo refused; echo t > /scratch/t; ls /scratch']);
    attach(dir, 'rovol:/ro:ro', `${host}:/host:ro`, '--mount', 'type=tmpfs,target=/scratch,tmpfs-size=1m');
    const first = run(dir);
    expect(first.stdout).toBe('host file\nrefused\nt\n');
    expect(fs.readdirSync(path.join(volumes, 'rovol', '_data'))).toEqual([]);
    const again = bundle(['ls', '-A', '/scratch']);
    attach(again, '--mount', 'type=tmpfs,target=/scratch');
    expect(run(again).stdout).toBe('');
  });

  it('bad input gets one line and changes nothing', () => {
    const dir = bundle(['true']);
    const before = fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
    const cases: Array<[string[], RegExp]> = [
      [['volume', 'create', 'a/b'], /^volume name "a\/b": a name cannot contain "\/"/],
      [['volume', 'attach', dir, `${path.join(sb.dir, 'missing')}:/m`], /^bind source .*missing: no such file or directory \(add bind-create-src/],
      [['volume', 'attach', dir, 'bad/name:/m'], /^volume name "bad\/name"/],
      [['volume', 'attach', dir, 'ok:relative'], /^-v ok:relative: the destination "relative" must be an absolute path/],
      [['volume', 'rm', 'never-made'], /^volume never-made does not exist/],
    ];
    for (const [args, message] of cases) {
      const r = sb.tsrun([...args, '--state-dir', volumes]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe(before);
    expect(fs.existsSync(path.join(volumes, 'ok'))).toBe(false);
    expect(fs.existsSync(path.join(sb.dir, 'missing'))).toBe(false);
  });
});
