// `tsrun image unpack` through bin/tsrun on images the tests build: layers with whiteouts, hard links, gzip
// and zstd, an OCI layout as a directory and as a tar, a docker save archive; each result is run with
// `tsrun run` and checked from inside the container. Hostile and corrupt images leave nothing behind.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxLayer, sha256, tarDirectory, writeDockerArchive, writeOciLayout, type TestImage } from '../helpers/image-build';
import { integrationSkipReason, needsPrivilege, Sandbox, waitUntil } from '../helpers/tsrun';

/** The parts of an unpacked config.json the tests look at. */
interface UnpackedConfig {
  process: { args: string[] };
  root: unknown;
  annotations: Record<string, string>;
  mounts: unknown[];
  linux: { cgroupsPath?: string };
}

const [rootlessSkip, rootlessNote] = needsPrivilege('tsrun image unpack writes files of other users: root only');

describe.skipIf(integrationSkipReason !== undefined || rootlessSkip)(`tsrun image unpack${integrationSkipReason ? ` (skipped: ${integrationSkipReason})` : rootlessNote}`, () => {
  let sb: Sandbox;
  let counter = 0;
  /** Bundles with an overlay rootfs: unmounted before the sandbox goes, also when a test failed. */
  const overlayBundles: string[] = [];
  beforeAll(() => {
    sb = new Sandbox('tsrun-image');
  });
  afterAll(() => {
    for (const bundle of overlayBundles) sb.tsrun(['image', 'umount', '--state-dir', path.join(sb.dir, 'store'), bundle]);
    sb.cleanup();
  });

  const newPath = (name: string) => path.join(sb.dir, `${name}-${++counter}`);

  /** Unpacks, points the cgroup below this test process's own, runs the container and returns its output. */
  function unpackAndRun(source: string, extraArgs: string[] = []): { stdout: string; bundle: string; config: UnpackedConfig } {
    const bundle = newPath('bundle');
    const unpacked = sb.tsrun(['image', 'unpack', ...extraArgs, source, bundle]);
    expect(unpacked.stderr).toBe('');
    expect(unpacked.status).toBe(0);
    const configFile = path.join(bundle, 'config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as UnpackedConfig;
    config.linux.cgroupsPath = `tsrun-image-${process.pid}-${counter}`;
    fs.writeFileSync(configFile, JSON.stringify(config));
    const id = sb.newId('img');
    const ran = sb.tsrun(['run', '--bundle', bundle, id]);
    expect(ran.stderr).toBe('');
    expect(ran.status).toBe(0);
    return { stdout: ran.stdout, bundle, config };
  }

  const script = [
    'echo "user=$(id -u):$(id -g) groups=$(id -G)"',
    'echo "cwd=$(pwd) greeting=$GREETING home=$HOME"',
    'echo "data=$(ls /data | tr "\\n" " ")"',
    'echo "opq=$(ls /opq | tr "\\n" " ")"',
    'echo "links=$(stat -c %h /app/file) same=$(test /app/file -ef /app/link && echo yes)"',
    'echo "motd=$(cat /etc/motd) vol=$(cat /vol/seed)"',
  ].join('; ');

  const layered: TestImage = {
    layers: [
      busyboxLayer(),
      {
        compression: 'gzip',
        entries: [
          { name: 'etc/motd', content: 'from layer 1' },
          { name: 'data/a', content: 'a' },
          { name: 'data/b', content: 'b' },
          { name: 'app/', type: 'directory', uid: 1000, gid: 1000 },
          { name: 'app/file', content: 'f', uid: 1000, gid: 1000 },
          { name: 'app/link', type: 'link', linkname: 'app/file' },
          { name: 'opq/old', content: 'old' },
          { name: 'vol/seed', content: 'seeded' },
        ],
      },
      {
        compression: 'zstd',
        entries: [
          { name: 'data/.wh.a' },
          { name: 'opq/.wh..wh..opq' },
          { name: 'opq/new', content: 'new' },
          { name: 'etc/motd', content: 'from layer 2' },
        ],
      },
    ],
    config: {
      Entrypoint: ['/bin/sh', '-c'], Cmd: [script], Env: ['GREETING=hi', 'PATH=/bin'], WorkingDir: '/app', User: 'app',
      Labels: { 'org.example.kind': 'test' }, ExposedPorts: { '8080/tcp': {} }, Volumes: { '/vol': {} },
    },
  };

  it('an OCI layout of several layers (whiteouts, hard links, gzip, zstd) becomes a bundle that runs as the image says', async () => {
    const layout = newPath('layout');
    const built = await writeOciLayout(layout, layered, 'example/app:1');
    const { stdout, bundle, config } = unpackAndRun(layout);
    expect(stdout.split('\n')).toEqual([
      'user=1000:1000 groups=1000 50',
      'cwd=/app greeting=hi home=/home/app',
      'data=b ',
      'opq=new ',
      'links=2 same=yes',
      'motd=from layer 2 vol=seeded',
      '',
    ]);
    expect(config.process.args).toEqual(['/bin/sh', '-c', script]);
    expect(config.root).toEqual({ path: 'rootfs', readonly: false });
    expect(config.annotations).toMatchObject({
      'org.opencontainers.image.ref.name': 'example/app:1',
      'org.opencontainers.image.exposedPorts': '8080/tcp',
      'org.example.kind': 'test',
    });
    // The volume is a bind mount of a bundle directory that took over the image's content.
    expect(config.mounts).toContainEqual({ destination: '/vol', type: 'bind', source: path.join(bundle, 'volumes', '0'), options: ['rbind', 'rw'] });
    expect(fs.readdirSync(path.join(bundle, 'rootfs', 'vol'))).toEqual([]);
    expect(fs.readdirSync(bundle).sort()).toEqual(['config.json', 'rootfs', 'volumes']);
    expect(built.diffIds).toHaveLength(3);
  });

  it('a tar of a layout and a docker save archive unpack the same way; --ref picks the image', async () => {
    const layout = newPath('layout');
    await writeOciLayout(layout, layered, 'example/app:1');
    const layoutTar = newPath('layout.tar');
    await tarDirectory(layout, layoutTar);
    expect(unpackAndRun(layoutTar, ['--ref', 'example/app:1']).stdout).toContain('opq=new ');

    const archive = newPath('docker.tar');
    await writeDockerArchive(archive, layered, 'example/app:2');
    const { stdout, config, bundle } = unpackAndRun(archive);
    expect(stdout).toContain('motd=from layer 2 vol=seeded');
    expect(config.annotations['org.opencontainers.image.ref.name']).toBe('example/app:2');
    // The archive's temporary extraction is gone.
    expect(fs.readdirSync(bundle).sort()).toEqual(['config.json', 'rootfs', 'volumes']);
  });

  /** Unpack must fail with one line matching `message` and leave no bundle behind. */
  function refused(source: string, message: RegExp, extraArgs: string[] = []): void {
    const bundle = newPath('bundle');
    const r = sb.tsrun(['image', 'unpack', ...extraArgs, source, bundle]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(bundle)).toBe(false);
  }

  it('hostile and corrupt images are refused with one line, and no bundle is left', async () => {
    const outside = newPath('outside');
    fs.mkdirSync(outside);
    const escape = newPath('layout');
    await writeOciLayout(escape, { layers: [busyboxLayer([{ name: 'evil', type: 'symlink', linkname: outside }]), { entries: [{ name: 'evil/pwned', content: 'x' }] }] });
    refused(escape, /layer 1 \(sha256:[0-9a-f]{64}\): entry "evil\/pwned": the path leaves the rootfs through a symlink/);
    expect(fs.readdirSync(outside)).toEqual([]);

    const dotdot = newPath('layout');
    await writeOciLayout(dotdot, { layers: [{ entries: [{ name: '../../escaped', content: 'x' }] }] });
    refused(dotdot, /entry "\.\.\/\.\.\/escaped": the path leaves the rootfs/);

    // A layer blob whose bytes no longer match its digest.
    const corrupt = newPath('layout');
    const built = await writeOciLayout(corrupt, { layers: [busyboxLayer(), { entries: [{ name: 'x', content: 'original' }] }] });
    const blob = path.join(corrupt, 'blobs', 'sha256', built.layerDigests[1]!.slice('sha256:'.length));
    const bytes = fs.readFileSync(blob);
    const flip = bytes.length - 600;
    bytes.writeUInt8(bytes.readUInt8(flip) ^ 0xff, flip);
    fs.writeFileSync(blob, bytes);
    refused(corrupt, new RegExp(`${built.layerDigests[1]}.*(digest|hashes)`));

    // A layer whose DiffID in the config does not match its content.
    const wrongDiff = newPath('layout');
    const second = await writeOciLayout(wrongDiff, { layers: [busyboxLayer()] });
    const configPath = path.join(wrongDiff, 'blobs', 'sha256', second.configDigest.slice('sha256:'.length));
    const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
    config.rootfs.diff_ids = [sha256('something else')];
    const configText = JSON.stringify(config);
    fs.rmSync(configPath);
    const newConfigDigest = sha256(configText);
    fs.writeFileSync(path.join(wrongDiff, 'blobs', 'sha256', newConfigDigest.slice('sha256:'.length)), configText);
    const manifestPath = path.join(wrongDiff, 'blobs', 'sha256', second.manifestDigest.slice('sha256:'.length));
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    manifest.config = { ...manifest.config, digest: newConfigDigest, size: Buffer.byteLength(configText) };
    const manifestText = JSON.stringify(manifest);
    const newManifestDigest = sha256(manifestText);
    fs.writeFileSync(path.join(wrongDiff, 'blobs', 'sha256', newManifestDigest.slice('sha256:'.length)), manifestText);
    const index = JSON.parse(fs.readFileSync(path.join(wrongDiff, 'index.json'), 'utf8'));
    index.manifests[0] = { ...index.manifests[0], digest: newManifestDigest, size: Buffer.byteLength(manifestText) };
    fs.writeFileSync(path.join(wrongDiff, 'index.json'), JSON.stringify(index));
    refused(wrongDiff, /layer 0 \(sha256:[0-9a-f]{64}\): the uncompressed layer hashes to sha256:[0-9a-f]{64}, the image config's rootfs.diff_ids\[0\] is/);

    // An unknown user, a missing ref, and a bundle that is not empty.
    const noUser = newPath('layout');
    await writeOciLayout(noUser, { layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'], User: 'ghost' } });
    refused(noUser, /User "ghost": no such user/);
    refused(noUser, /ref|no image/i, ['--ref', 'nope:1']);
    const full = newPath('bundle');
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, 'keep'), 'mine');
    const r = sb.tsrun(['image', 'unpack', noUser, full]);
    expect(r.stderr).toMatch(/exists and is not empty/);
    expect(fs.readdirSync(full)).toEqual(['keep']);
  });

  it('--overlay: two bundles share the stored layers, each one\'s writes stay its own; rm waits for umount', async () => {
    const store = path.join(sb.dir, 'store');
    const layout = newPath('layout');
    await writeOciLayout(layout, { layers: [busyboxLayer(), { compression: 'gzip', entries: [{ name: 'data/shared', content: 'from the image' }] }] }, 'example/ov:1');
    const loaded = sb.tsrun(['image', 'load', '--state-dir', store, layout]);
    expect(loaded.stderr).toBe('');
    expect(loaded.stdout).toBe('Loaded image: docker.io/example/ov:1\n');
    expect(sb.tsrun(['image', 'load', '--state-dir', store, layout]).status).toBe(0); // again: nothing new
    expect(fs.readdirSync(path.join(store, 'layers'))).toHaveLength(2);

    const bundles = [newPath('bundle'), newPath('bundle')];
    for (const bundle of bundles) {
      overlayBundles.push(bundle);
      const r = sb.tsrun(['image', 'unpack', '--overlay', '--state-dir', store, 'example/ov:1', bundle]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    const run = (bundle: string, command: string) => {
      const configFile = path.join(bundle, 'config.json');
      const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as UnpackedConfig;
      config.process.args = ['/bin/sh', '-c', command];
      config.linux.cgroupsPath = `tsrun-image-${process.pid}-${++counter}`;
      fs.writeFileSync(configFile, JSON.stringify(config));
      const r = sb.tsrun(['run', '--bundle', bundle, sb.newId('ov')]);
      expect(r.stderr).toBe('');
      return r.stdout;
    };
    expect(run(bundles[0]!, 'echo mine > /data/own; echo changed > /data/shared; cat /data/shared')).toBe('changed\n');
    expect(run(bundles[1]!, 'cat /data/shared; echo; ls /data')).toBe('from the image\nshared\n');
    expect(fs.readFileSync(path.join(bundles[0]!, 'overlay', 'upper', 'data', 'own'), 'utf8')).toBe('mine\n');
    expect(fs.existsSync(path.join(bundles[1]!, 'overlay', 'upper', 'data'))).toBe(false);

    const list = JSON.parse(sb.tsrun(['image', 'ls', '--state-dir', store, '--format', 'json']).stdout) as Array<{ refs: string[] }>;
    expect(list.map((i) => i.refs)).toEqual([['docker.io/example/ov:1']]);
    const refused = sb.tsrun(['image', 'rm', '--state-dir', store, 'example/ov:1']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/2 bundles?/);
    for (const bundle of bundles) expect(sb.tsrun(['image', 'umount', '--state-dir', store, bundle]).status).toBe(0);
    expect(fs.readdirSync(path.join(bundles[0]!, 'rootfs'))).toEqual([]);
    const removed = sb.tsrun(['image', 'rm', '--state-dir', store, 'example/ov:1']);
    expect(removed.stdout).toMatch(/^Untagged: docker.io\/example\/ov:1\nDeleted: sha256:/);
    expect(fs.readdirSync(path.join(store, 'layers'))).toEqual([]);
  });

  it('--overlay --umount-on-stop: the rootfs is unmounted when the container has stopped', async () => {
    const store = path.join(sb.dir, 'store');
    const layout = newPath('layout');
    await writeOciLayout(layout, {
      layers: [busyboxLayer([{ name: 'vol/seed', content: 'seeded', uid: 1000, gid: 1000 }])],
      config: { Cmd: ['/bin/sh', '-c', 'echo ran; cat /vol/seed >&2'], Volumes: { '/vol': {} } },
    });
    const bundle = newPath('bundle');
    overlayBundles.push(bundle);
    // A path is loaded into the store first.
    expect(sb.tsrun(['image', 'unpack', '--overlay', '--umount-on-stop', '--state-dir', store, layout, bundle]).status).toBe(0);
    const configFile = path.join(bundle, 'config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as UnpackedConfig;
    config.linux.cgroupsPath = `tsrun-image-${process.pid}-${++counter}`;
    fs.writeFileSync(configFile, JSON.stringify(config));
    expect(fs.readdirSync(path.join(bundle, 'rootfs'))).toContain('bin');
    const r = sb.tsrun(['run', '--bundle', bundle, sb.newId('ov')]);
    expect([r.stdout, r.stderr, r.status]).toEqual(['ran\n', 'seeded', 0]);
    expect(fs.readdirSync(path.join(bundle, 'rootfs'))).toEqual([]);
    // The volume is a copy of the image's /vol (a lower layer's directory cannot be moved out of an overlay).
    expect(fs.statSync(path.join(bundle, 'volumes', '0', 'seed')).uid).toBe(1000);
  });

  it('export a container\'s rootfs, import it as an image, save that, and the saved archive unpacks and runs', async () => {
    const store = path.join(sb.dir, 'store');
    const layout = newPath('layout');
    await writeOciLayout(layout, { layers: [busyboxLayer()], config: { Cmd: ['/bin/sh', '-c', 'echo inside > /made; mkdir /exported-dir; sleep 60'] } });
    const bundle = newPath('bundle');
    expect(sb.tsrun(['image', 'unpack', layout, bundle]).status).toBe(0);
    const configFile = path.join(bundle, 'config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as UnpackedConfig;
    config.linux.cgroupsPath = `tsrun-image-${process.pid}-${++counter}`;
    fs.writeFileSync(configFile, JSON.stringify(config));
    const id = sb.newId('exp');
    expect(sb.tsrun(['run', '--detach', '--bundle', bundle, id]).status).toBe(0);
    await waitUntil(() => fs.existsSync(path.join(bundle, 'rootfs', 'exported-dir')), 10_000, 'the container to write its files');

    const exported = newPath('export.tar');
    const r = sb.tsrun(['image', 'export', id, exported]);
    expect([r.stderr, r.status]).toEqual(['', 0]);
    expect(fs.readdirSync(path.dirname(exported)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    sb.tsrun(['delete', '--force', id]);

    const imported = sb.tsrun(['image', 'import', '--state-dir', store, exported, 'example/exported:1']);
    expect([imported.stderr, imported.status]).toEqual(['', 0]);
    const saved = newPath('saved.tar');
    expect(sb.tsrun(['image', 'save', '--state-dir', store, 'example/exported:1', saved]).status).toBe(0);

    const again = newPath('bundle');
    expect(sb.tsrun(['image', 'unpack', saved, again]).status).toBe(0);
    const againConfig = JSON.parse(fs.readFileSync(path.join(again, 'config.json'), 'utf8')) as UnpackedConfig;
    expect(againConfig.annotations['org.opencontainers.image.ref.name']).toBe('1');
    expect(fs.readFileSync(path.join(again, 'rootfs', 'made'), 'utf8')).toBe('inside\n');
    expect(fs.statSync(path.join(again, 'rootfs', 'bin', 'busybox')).mode & 0o777).toBe(0o755);
    // An import has no command of its own: running it needs one, as with docker import.
    againConfig.process.args = ['/bin/cat', '/made'];
    againConfig.linux.cgroupsPath = `tsrun-image-${process.pid}-${++counter}`;
    fs.writeFileSync(path.join(again, 'config.json'), JSON.stringify(againConfig));
    const ran = sb.tsrun(['run', '--bundle', again, sb.newId('exp')]);
    expect([ran.stdout, ran.stderr, ran.status]).toEqual(['inside\n', '', 0]);
  });
});
