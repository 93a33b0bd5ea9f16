// The OCI distribution client (src/plugins/image/registry) against a real registry: Debian's docker-registry
// (distribution 2.8), started by the tests on 127.0.0.1 with its storage in a temp dir, once without auth and
// once with token auth, whose token server runs inside this test (node:http, JWTs signed with a key whose
// self-signed certificate is the registry's rootcertbundle, made with the openssl CLI). Images come from
// writeOciLayout; what is pushed is pulled back and compared byte for byte.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../src/errors';
import { verifyBlobStream } from '../../src/plugins/image/digest';
import type { ImageSource } from '../../src/plugins/image/image-source';
import { hostPlatform } from '../../src/plugins/image/oci-layout';
import { openImageSource } from '../../src/plugins/image/open-image-source';
import { pushImage } from '../../src/plugins/image/registry/push';
import { RegistryClient, type RegistryClientOptions } from '../../src/plugins/image/registry/registry-client';
import { openRegistryImage } from '../../src/plugins/image/registry/registry-source';
import { imageDocumentValidators } from '../../src/spec/image-validate';
import { MediaTypes, type ImageManifest } from '../../src/spec/image-types';
import { sha256, writeOciLayout, type BuiltImage, type TestImage } from '../helpers/image-build';
import { needsPrivilege, TSRUN } from '../helpers/tsrun';

const REGISTRY_BIN = '/usr/bin/docker-registry';
const registrySkip = fs.existsSync(REGISTRY_BIN) ? undefined : `${REGISTRY_BIN} is missing (Debian package docker-registry)`;
const opensslSkip = registrySkip ?? (spawnSync('which', ['openssl']).status === 0 ? undefined : 'the openssl CLI is missing (Debian package openssl), needed to make the token signing certificate');

const platform = hostPlatform();
const OTHER_ARCH = platform.architecture === 'arm64' ? 'amd64' : 'arm64';

/** One docker-registry process; `stop()` kills it (by its PID) and waits for it to exit. */
interface RunningRegistry {
  /** Resolves to 127.0.0.1:<port> once it logged "listening on"; rejects when it exits before. */
  ready: Promise<string>;
  /** Its last log lines (JSON), for failure messages. */
  log: string[];
  stop(): Promise<void>;
}

/**
 * Starts `docker-registry serve` on 127.0.0.1:0; `ready` resolves when it logs "listening on <address>" (its JSON
 * log on stderr names the port the kernel chose), without polling. The handle exists as soon as the process does,
 * so afterAll can stop it even when it never becomes ready. The config is JSON, which YAML reads as well.
 */
function startRegistry(dir: string, auth?: Record<string, unknown>): RunningRegistry {
  const configFile = path.join(dir, 'config.yml');
  fs.writeFileSync(configFile, JSON.stringify({
    version: '0.1',
    log: { level: 'info', formatter: 'json', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: path.join(dir, 'storage') },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: '127.0.0.1:0', secret: crypto.randomBytes(16).toString('hex') },
    ...(auth ? { auth } : {}),
  }));
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  let running = child.pid !== undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  child.once('exit', () => {
    running = false;
  });
  const ready = new Promise<string>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stderr as Readable });
    let listening = false;
    lines.on('line', (line) => {
      log.push(line);
      if (log.length > 200) log.shift();
      if (listening) return;
      let msg: unknown;
      try {
        msg = (JSON.parse(line) as { msg?: unknown }).msg;
      } catch {
        return;
      }
      const match = typeof msg === 'string' ? /^listening on (\S+)$/.exec(msg) : null;
      if (match?.[1]) {
        listening = true;
        resolve(match[1]);
      }
    });
    child.once('error', (error) => reject(error));
    child.once('exit', (code, signal) => {
      if (!listening) reject(new Error(`docker-registry exited (${code ?? signal}) before listening:\n${log.join('\n')}`));
    });
  });
  // Not every test awaits it; a start failure is reported by beforeAll.
  ready.catch(() => undefined);
  return {
    ready,
    log,
    async stop() {
      if (running && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      if (child.pid !== undefined) await exited;
    },
  };
}

const testImage = (architecture?: string): TestImage => ({
  ...(architecture ? { architecture } : {}),
  config: { Cmd: ['/bin/true'], Env: ['A=1'] },
  layers: [
    { entries: [{ name: 'etc/', type: 'directory' }, { name: 'etc/os-release', content: `ID=tsrun-test\nARCH=${architecture ?? 'host'}\n` }] },
    { compression: 'gzip', entries: [{ name: 'data/', type: 'directory' }, { name: 'data/random', content: crypto.randomBytes(300_000) }] },
    { compression: 'zstd', entries: [{ name: 'data/more', content: 'zstd layer '.repeat(1000) }] },
  ],
});

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function errorOf(promise: Promise<unknown>): Promise<RuntimeError> {
  return promise.then(() => {
    throw new Error('expected a RuntimeError');
  }, (error: unknown) => {
    if (error instanceof RuntimeError) return error;
    throw error;
  });
}

/** A registry started in `dir` and the test image as an OCI layout there, opened: what each suite pushes and pulls. */
async function serveTestImage(dir: string, auth?: Record<string, unknown>): Promise<{ registry: RunningRegistry; host: string; layout: string; built: BuiltImage; source: ImageSource }> {
  const registry = startRegistry(dir, auth);
  try {
    const host = await registry.ready;
    const layout = path.join(dir, 'layout');
    const built = await writeOciLayout(layout, testImage());
    const source = await openImageSource(layout, { tmpParent: dir, validators: imageDocumentValidators, platform });
    return { registry, host, layout, built, source };
  } catch (error) {
    await registry.stop(); // the suite's afterAll never learns of it
    throw error;
  }
}

const blobFile = (layout: string, digest: string): string => path.join(layout, 'blobs', ...digest.split(':'));

describe.skipIf(registrySkip !== undefined)(`registry client against docker-registry${registrySkip ? ` (skipped: ${registrySkip})` : ''}`, () => {
  let dir: string;
  let registry: RunningRegistry | undefined;
  let host: string;
  let layout: string;
  let built: BuiltImage;
  let source: ImageSource;
  const client = new RegistryClient({ fetch });
  const open = (ref: string, options: { architecture?: string } = {}) => openRegistryImage(client, ref, {
    platform: options.architecture ? { os: 'linux', architecture: options.architecture } : platform,
    validators: imageDocumentValidators,
  });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-registry-'));
    ({ registry, host, layout, built, source } = await serveTestImage(dir));
  });

  afterAll(async () => {
    source?.close();
    await registry?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pushes an OCI layout (plain, gzip and zstd layers) and pulls it back byte for byte', async () => {
    const pushed = await pushImage(client, source, `${host}/tsrun/test:v1`);
    expect(pushed).toEqual({
      reference: `${host}/tsrun/test:v1`,
      manifestDigest: built.manifestDigest,
      uploaded: [...built.layerDigests, built.configDigest],
      skipped: [],
    });

    const pulled = await open(`${host}/tsrun/test:v1`);
    try {
      expect(pulled.image.manifestDigest).toBe(built.manifestDigest);
      expect(pulled.image.configDigest).toBe(built.configDigest);
      expect(pulled.image.refName).toBe(`${host}/tsrun/test:v1`);
      expect(pulled.image.config).toEqual(source.image.config);
      expect(pulled.image.manifest).toEqual(source.image.manifest);
      for (const layer of pulled.image.manifest.layers) {
        expect((await drain(pulled.openBlob(layer))).equals(fs.readFileSync(blobFile(layout, layer.digest)))).toBe(true);
      }
      const config = await drain(pulled.openBlob(pulled.image.manifest.config));
      expect(config.equals(fs.readFileSync(blobFile(layout, built.configDigest)))).toBe(true);
    } finally {
      pulled.close();
    }

    // A second push finds every blob in place.
    const again = await pushImage(client, source, `${host}/tsrun/test:v2`);
    expect(again.uploaded).toEqual([]);
    expect(again.skipped).toHaveLength(4);
    expect(again.manifestDigest).toBe(built.manifestDigest);
  });

  it('pulls by digest', async () => {
    await pushImage(client, source, `${host}/tsrun/bydigest:v1`);
    const pulled = await open(`${host}/tsrun/bydigest@${built.manifestDigest}`);
    expect(pulled.image.manifestDigest).toBe(built.manifestDigest);
    expect(pulled.image.refName).toBe(`${host}/tsrun/bydigest@${built.manifestDigest}`);
    pulled.close();
    // Pushing by digest needs the exact bytes: these are.
    const byDigest = await pushImage(client, source, `${host}/tsrun/bydigest2@${built.manifestDigest}`);
    expect(byDigest.manifestDigest).toBe(built.manifestDigest);
  });

  it('reports an unknown tag, an unknown repository and a wrong digest in one line', async () => {
    await pushImage(client, source, `${host}/tsrun/known:v1`);
    const unknownTag = await errorOf(open(`${host}/tsrun/known:nope`));
    expect(unknownTag.message).toBe(`registry ${host}: GET /v2/tsrun/known/manifests/nope: 404 MANIFEST_UNKNOWN: manifest unknown`);
    expect(unknownTag.code).toBe('registry');
    const unknownRepo = await errorOf(open(`${host}/tsrun/never-pushed:latest`));
    expect(unknownRepo.message).toMatch(new RegExp(`^registry ${host}: GET /v2/tsrun/never-pushed/manifests/latest: 404 [A-Z_]+: .*unknown`));
    const missing = sha256('not a manifest');
    const unknownDigest = await errorOf(open(`${host}/tsrun/known@${missing}`));
    expect(unknownDigest.message).toBe(`registry ${host}: GET /v2/tsrun/known/manifests/${missing}: 404 MANIFEST_UNKNOWN: manifest unknown`);
    for (const error of [unknownTag, unknownRepo, unknownDigest]) expect(error.message).not.toContain('\n');
  });

  it('resolves an index by platform', async () => {
    const otherLayout = path.join(dir, 'other');
    const other = await writeOciLayout(otherLayout, testImage(OTHER_ARCH));
    const otherSource = await openImageSource(otherLayout, { tmpParent: dir, validators: imageDocumentValidators, platform: { os: 'linux', architecture: OTHER_ARCH } });
    try {
      await pushImage(client, source, `${host}/tsrun/multi:host`);
      await pushImage(client, otherSource, `${host}/tsrun/multi:other`);
    } finally {
      otherSource.close();
    }
    const entry = (digest: string, architecture: string) => ({
      mediaType: MediaTypes.manifest, digest, size: fs.statSync(blobFile(digest === built.manifestDigest ? layout : otherLayout, digest)).size,
      platform: { os: 'linux', architecture },
    });
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaTypes.index,
      manifests: [entry(other.manifestDigest, OTHER_ARCH), entry(built.manifestDigest, platform.architecture)],
    }));
    expect(await client.putManifest({ registry: host, apiHost: host, repository: 'tsrun/multi' }, 'latest', index, MediaTypes.index)).toBe(sha256(index));

    const mine = await open(`${host}/tsrun/multi`);
    expect(mine.image.manifestDigest).toBe(built.manifestDigest);
    expect(mine.image.refName).toBe(`${host}/tsrun/multi:latest`);
    mine.close();
    const theirs = await open(`${host}/tsrun/multi:latest`, { architecture: OTHER_ARCH });
    expect(theirs.image.manifestDigest).toBe(other.manifestDigest);
    expect(theirs.image.config.architecture).toBe(OTHER_ARCH);
    theirs.close();
    const none = await errorOf(open(`${host}/tsrun/multi:latest`, { architecture: 's390x' }));
    expect(none.message).toBe(`${host}/tsrun/multi@${sha256(index)}: no manifest for linux/s390x (the index has linux/${OTHER_ARCH}, linux/${platform.architecture})`);
  });

  it('pulls a Docker schema-2 manifest as it is and copies it to another repository unchanged', async () => {
    const ref = { registry: host, apiHost: host, repository: 'tsrun/docker' };
    const { manifest } = source.image;
    for (const blob of [...manifest.layers, manifest.config]) {
      await client.uploadBlob(ref, blob, () => source.openBlob(blob));
    }
    const dockerLayer = (mediaType: string): string => (mediaType === MediaTypes.layerGzip ? MediaTypes.dockerLayerGzip : mediaType === MediaTypes.layerTar ? MediaTypes.dockerLayerTar : mediaType);
    // Docker writes its manifests indented with three spaces: not what JSON.stringify of the object gives.
    const docker: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: { ...manifest.config, mediaType: MediaTypes.dockerConfig },
      layers: manifest.layers.filter((l) => l.mediaType !== MediaTypes.layerZstd).map((l) => ({ ...l, mediaType: dockerLayer(l.mediaType) })),
    };
    // diff_ids must match the layer count: a config for the two docker layers.
    const config = { ...source.image.config, rootfs: { type: 'layers', diff_ids: source.image.config.rootfs.diff_ids.slice(0, 2) } };
    const configBytes = Buffer.from(JSON.stringify(config, null, 2));
    docker.config = { mediaType: MediaTypes.dockerConfig, digest: sha256(configBytes), size: configBytes.length };
    await client.uploadBlob(ref, docker.config, () => Readable.from([configBytes]));
    const bytes = Buffer.from(JSON.stringify(docker, null, 3));
    const digest = await client.putManifest(ref, 'v1', bytes, MediaTypes.dockerManifest);
    expect(digest).toBe(sha256(bytes));

    const pulled = await open(`${host}/tsrun/docker:v1`);
    try {
      expect(pulled.image.manifestDigest).toBe(digest);
      expect(pulled.image.manifest.mediaType).toBe(MediaTypes.dockerManifest);
      expect(pulled.image.config.rootfs.diff_ids).toHaveLength(2);
      const copied = await pushImage(client, pulled, `${host}/tsrun/docker-copy:v1`);
      expect(copied.manifestDigest).toBe(digest);
      const copy = await client.getManifest({ ...ref, repository: 'tsrun/docker-copy' }, 'v1');
      expect(copy.mediaType).toBe(MediaTypes.dockerManifest);
      expect(copy.bytes.equals(bytes)).toBe(true);
    } finally {
      pulled.close();
    }
  });

  it('fails a push whose source blob is corrupt with the source\'s error, and leaves no blob behind', async () => {
    const layer = source.image.manifest.layers[1];
    if (layer === undefined) throw new Error('test image has no second layer');
    const corrupt: ImageSource = {
      image: source.image,
      close: () => undefined,
      openBlob(descriptor) {
        const real = source.openBlob(descriptor);
        if (descriptor.digest !== layer.digest) return real;
        // The source's verification catches the flipped byte at the end of the stream.
        const bytes = fs.readFileSync(blobFile(layout, descriptor.digest));
        bytes[100] = (bytes[100] ?? 0) ^ 0xff;
        real.destroy();
        return verifyBlobStream(Readable.from([bytes]), descriptor);
      },
    };
    const error = await errorOf(pushImage(client, corrupt, `${host}/tsrun/corrupt:v1`));
    expect(error.message).toMatch(new RegExp(`^blob ${layer.digest}: digest mismatch: the content hashes to sha256:[0-9a-f]{64}$`));
    expect(await client.hasBlob({ registry: host, apiHost: host, repository: 'tsrun/corrupt' }, layer.digest)).toBe(false);
    // The upload session was cancelled (DELETE): its partial data is gone. (distribution 2.8 writes the upload's
    // hash state once more when it closes the cancelled upload, so an empty hashstates/ directory may stay.)
    const uploads = path.join(dir, 'storage', 'docker', 'registry', 'v2', 'repositories', 'tsrun', 'corrupt', '_uploads');
    const files = fs.existsSync(uploads) ? fs.readdirSync(uploads, { recursive: true, encoding: 'utf8' }) : [];
    expect(files.filter((f) => /(^|\/)(data|startedat)$/.test(f))).toEqual([]);
  });

  it('reports a registry that is not there in one line', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const error = await errorOf(open(`127.0.0.1:${port}/tsrun/test:v1`));
    expect(error.message).toBe(`registry 127.0.0.1:${port}: GET /v2/tsrun/test/manifests/v1: connect ECONNREFUSED 127.0.0.1:${port}`);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Token auth

const SERVICE = 'tsrun-test-registry';
const ISSUER = 'tsrun-test-token-issuer';
const USER = { username: 'alice', password: 'correct horse' };

interface TokenServer {
  realm: string;
  /** The scopes asked for, one entry per token request. */
  requests: string[];
  close(): Promise<void>;
}

const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/**
 * A token server after distribution's docs/spec/auth/token.md and jwt.md: Basic credentials in, a JWT out whose
 * header carries the signing certificate (`x5c`, verified against the registry's rootcertbundle) and whose
 * claims are iss/sub/aud/exp/nbf/iat/jti and `access` (every action asked for, for the right user).
 */
async function startTokenServer(keyPem: string, certPem: string): Promise<TokenServer> {
  const key = crypto.createPrivateKey(keyPem);
  const certDer = new crypto.X509Certificate(certPem).raw.toString('base64');
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const scopes = url.searchParams.getAll('scope');
    requests.push(scopes.join(' '));
    const [scheme, encoded] = (req.headers.authorization ?? '').split(' ');
    const [username, ...rest] = scheme === 'Basic' ? Buffer.from(encoded ?? '', 'base64').toString().split(':') : [];
    if (url.pathname !== '/token' || username !== USER.username || rest.join(':') !== USER.password) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="tsrun-test"' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'wrong username or password' }] }));
      return;
    }
    const access = scopes.map((scope) => {
      const [type, ...more] = scope.split(':');
      const actions = (more.pop() ?? '').split(',').filter((a) => a !== '');
      return { type, name: more.join(':'), actions };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [certDer] }));
    const claims = base64url(JSON.stringify({
      iss: ISSUER, sub: username, aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now,
      jti: crypto.randomUUID(), access,
    }));
    const signature = crypto.sign('sha256', Buffer.from(`${header}.${claims}`), key).toString('base64url');
    const token = `${header}.${claims}.${signature}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe.skipIf(opensslSkip !== undefined)(`registry client with token auth${opensslSkip ? ` (skipped: ${opensslSkip})` : ''}`, () => {
  let dir: string;
  let registry: RunningRegistry | undefined;
  let host: string;
  let tokens: TokenServer | undefined;
  let layout: string;
  let built: BuiltImage;
  let source: ImageSource;
  const clientWith = (credentials?: RegistryClientOptions['credentials']) => new RegistryClient({ fetch, ...(credentials ? { credentials } : {}) });
  const options = { platform, validators: imageDocumentValidators };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-registry-auth-'));
    const keyFile = path.join(dir, 'token.key');
    const certFile = path.join(dir, 'token.crt');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile,
      '-days', '2', '-subj', `/CN=${ISSUER}`], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
    tokens = await startTokenServer(fs.readFileSync(keyFile, 'utf8'), fs.readFileSync(certFile, 'utf8'));
    ({ registry, host, layout, built, source } = await serveTestImage(dir, { token: { realm: tokens.realm, service: SERVICE, issuer: ISSUER, rootcertbundle: certFile } }));
  });

  afterAll(async () => {
    source?.close();
    await registry?.stop();
    await tokens?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pushes and pulls with credentials, one token per scope', async () => {
    const pusher = clientWith(USER);
    const before = tokens?.requests.length ?? 0;
    const pushed = await pushImage(pusher, source, `${host}/tsrun/private:v1`);
    expect(pushed.manifestDigest).toBe(built.manifestDigest);
    expect(tokens?.requests.slice(before)).toEqual(['repository:tsrun/private:pull,push']);

    const puller = clientWith(() => USER);
    const pulled = await openRegistryImage(puller, `${host}/tsrun/private:v1`, options);
    try {
      expect(pulled.image.manifestDigest).toBe(built.manifestDigest);
      for (const layer of pulled.image.manifest.layers) {
        expect((await drain(pulled.openBlob(layer))).equals(fs.readFileSync(blobFile(layout, layer.digest)))).toBe(true);
      }
    } finally {
      pulled.close();
    }
    expect(tokens?.requests.slice(before)).toEqual(['repository:tsrun/private:pull,push', 'repository:tsrun/private:pull']);
  });

  it('reports a wrong password and missing credentials in one 401 line', async () => {
    await pushImage(clientWith(USER), source, `${host}/tsrun/locked:v1`);
    const realm = tokens?.realm as string;
    const wrong = await errorOf(openRegistryImage(clientWith({ username: USER.username, password: 'wrong' }), `${host}/tsrun/locked:v1`, options));
    expect(wrong.message).toBe(`registry ${host}: GET /v2/tsrun/locked/manifests/v1: token server ${realm}: 401 UNAUTHORIZED: wrong username or password (as user "alice")`);
    const anonymous = await errorOf(openRegistryImage(clientWith(), `${host}/tsrun/locked:v1`, options));
    expect(anonymous.message).toBe(`registry ${host}: GET /v2/tsrun/locked/manifests/v1: token server ${realm}: 401 UNAUTHORIZED: wrong username or password (no credentials given)`);
    const push = await errorOf(pushImage(clientWith({ username: USER.username, password: 'wrong' }), source, `${host}/tsrun/locked:v2`));
    expect(push.message).toMatch(new RegExp(`^registry ${host}: HEAD /v2/tsrun/locked/blobs/sha256:[0-9a-f]{64}: token server ${realm}: 401 UNAUTHORIZED`));
  });

  const [cliSkip, cliNote] = needsPrivilege('tsrun image writes the store as root');
  it.skipIf(cliSkip)(`tsrun image push and pull through bin/tsrun with --creds, into a second store${cliNote}`, async () => {
    // Not spawnSync: the token server answers from this process's event loop.
    const tsrun = (...args: string[]) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(TSRUN, ['image', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    const storeA = path.join(dir, 'store-a');
    const storeB = path.join(dir, 'store-b');
    const name = `${host}/tsrun/cli:v1`;
    expect((await tsrun('load', '--state-dir', storeA, '--ref', name, layout)).status).toBe(0);
    const creds = `${USER.username}:${USER.password}`;
    const pushed = await tsrun('push', '--state-dir', storeA, '--creds', creds, name);
    expect([pushed.stderr, pushed.status]).toEqual(['', 0]);
    expect(pushed.stdout).toBe(`${name}: ${built.manifestDigest} (4 blobs uploaded, 0 already there)\n`);
    const refused = await tsrun('pull', '--state-dir', storeB, '--creds', `${USER.username}:wrong`, name);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^registry .*: 401 UNAUTHORIZED: wrong username or password \(as user "alice"\)\n$/);
    expect(fs.existsSync(path.join(storeB, 'images')) ? fs.readdirSync(path.join(storeB, 'images')) : []).toEqual([]);
    const pulled = await tsrun('pull', '--state-dir', storeB, '--creds', creds, name);
    expect([pulled.stderr, pulled.status]).toEqual(['', 0]);
    expect(pulled.stdout).toBe(`${name}: ${built.manifestDigest} (3 layers unpacked, 0 reused)\n`);
    const inspected = JSON.parse((await tsrun('inspect', '--state-dir', storeB, name)).stdout) as Array<{ manifestDigest: string; configDigest: string }>;
    expect(inspected.map((i) => [i.manifestDigest, i.configDigest])).toEqual([[built.manifestDigest, built.configDigest]]);
  });
});
