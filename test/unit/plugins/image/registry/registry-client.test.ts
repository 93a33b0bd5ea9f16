import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../../src/errors';
import { describeFailure, isLoopbackHost, RegistryClient, type FetchFunction, type RegistryClientOptions } from '../../../../../src/plugins/image/registry/registry-client';
import { parseReference } from '../../../../../src/plugins/image/registry/reference';
import { MediaTypes } from '../../../../../src/spec/image-types';
import { rejection } from '../../../../helpers/rejection';

const sha256 = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

interface Call {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
}

type Handler = (call: Call) => Response | Promise<Response>;

/** A fetch that records every call and answers from `handler`. */
function fakeFetch(handler: Handler): { fetch: FetchFunction; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: FetchFunction = async (url, init) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    const call: Call = { method: init.method ?? 'GET', url, headers };
    if (init.body instanceof Uint8Array) call.body = Buffer.from(init.body);
    else if (init.body instanceof ReadableStream) {
      const chunks: Buffer[] = [];
      for await (const chunk of init.body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
      call.body = Buffer.concat(chunks);
    }
    calls.push(call);
    return handler(call);
  };
  return { fetch, calls };
}

const json = (status: number, value: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json', ...headers } });

const registryError = (status: number, code: string, message: string, headers: Record<string, string> = {}): Response =>
  json(status, { errors: [{ code, message, detail: { ignored: true } }] }, headers);


async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const LOCAL = parseReference('127.0.0.1:5000/x/app:v1');
const REMOTE = parseReference('registry.example/x/app:v1');
const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.manifest, config: {}, layers: [] }));
const BEARER = 'Bearer realm="https://auth.example/token",service="registry.example"';

const client = (fetch: FetchFunction, options: Partial<RegistryClientOptions> = {}) => new RegistryClient({ fetch, ...options });

describe('transport', () => {
  it('uses http for loopback hosts and insecure registries, https otherwise', () => {
    const { fetch } = fakeFetch(() => new Response());
    const c = client(fetch, { insecureRegistries: ['insecure.example', 'other.example:8080'] });
    expect(c.baseUrl(LOCAL)).toBe('http://127.0.0.1:5000');
    expect(c.baseUrl(parseReference('localhost:5000/x'))).toBe('http://localhost:5000');
    expect(c.baseUrl(parseReference('[::1]:5000/x'))).toBe('http://[::1]:5000');
    expect(c.baseUrl(parseReference('127.1.2.3/x'))).toBe('http://127.1.2.3');
    expect(c.baseUrl(REMOTE)).toBe('https://registry.example');
    expect(c.baseUrl(parseReference('alpine'))).toBe('https://registry-1.docker.io');
    expect(c.baseUrl(parseReference('insecure.example:5000/x'))).toBe('http://insecure.example:5000');
    expect(c.baseUrl(parseReference('other.example:8080/x'))).toBe('http://other.example:8080');
    expect(c.baseUrl(parseReference('other.example/x'))).toBe('https://other.example');
    expect(c.baseUrl(parseReference('128.0.0.1/x'))).toBe('https://128.0.0.1');
  });

  it('knows loopback addresses', () => {
    for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.255.0.9', '::1', '[::1]']) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['localhost.example', '10.0.0.1', '::2', '1127.0.0.1']) expect(isLoopbackHost(host)).toBe(false);
  });

  it('reports a connection failure in one line', async () => {
    const { fetch } = fakeFetch(() => {
      throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:5000') });
    });
    const error = await rejection(client(fetch).getManifest(LOCAL));
    expect(error.message).toBe('registry 127.0.0.1:5000: GET /v2/x/app/manifests/v1: connect ECONNREFUSED 127.0.0.1:5000');
    expect(error.code).toBe('registry');
  });
});

describe('describeFailure', () => {
  it('uses the registry\'s error codes and messages', () => {
    expect(describeFailure(404, 'Not Found', '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}')).toBe('404 MANIFEST_UNKNOWN: manifest unknown');
    expect(describeFailure(400, '', '{"errors":[{"code":"A","message":"one"},{"code":"B"}]}')).toBe('400 A: one; B');
  });

  it('falls back to the status text and a short single line of the body', () => {
    expect(describeFailure(502, 'Bad Gateway', '<html>\n  <body>oops</body>\n</html>\n')).toBe('502 Bad Gateway: <html> <body>oops</body> </html>');
    expect(describeFailure(500, 'Internal Server Error', '')).toBe('500 Internal Server Error');
    expect(describeFailure(500, '', '{"errors":[]}')).toBe('500: {"errors":[]}');
    expect(describeFailure(500, 'X', 'y'.repeat(500))).toMatch(/^500 X: y{197}\.\.\.$/);
  });
});

describe('getManifest', () => {
  it('asks for every manifest type and checks the Docker-Content-Digest', async () => {
    const { fetch, calls } = fakeFetch(() => new Response(MANIFEST, { headers: { 'content-type': `${MediaTypes.manifest}; charset=utf-8`, 'docker-content-digest': sha256(MANIFEST) } }));
    const got = await client(fetch).getManifest(LOCAL);
    expect(got).toEqual({ bytes: MANIFEST, mediaType: MediaTypes.manifest, digest: sha256(MANIFEST) });
    expect(calls[0]?.url).toBe('http://127.0.0.1:5000/v2/x/app/manifests/v1');
    expect(calls[0]?.headers.accept).toBe([MediaTypes.index, MediaTypes.manifest, MediaTypes.dockerManifestList, MediaTypes.dockerManifest].join(', '));
    expect(calls[0]?.headers.authorization).toBeUndefined();
  });

  it('computes the digest when the registry sends none', async () => {
    const { fetch } = fakeFetch(() => new Response(MANIFEST, { headers: { 'content-type': MediaTypes.manifest } }));
    expect((await client(fetch).getManifest(LOCAL)).digest).toBe(sha256(MANIFEST));
  });

  it('refuses bytes that do not hash to the Docker-Content-Digest or the requested digest', async () => {
    const wrong = sha256('something else');
    const { fetch } = fakeFetch(() => new Response(MANIFEST, { headers: { 'docker-content-digest': wrong } }));
    expect((await rejection(client(fetch).getManifest(LOCAL))).message)
      .toBe(`registry 127.0.0.1:5000: GET /v2/x/app/manifests/v1: the manifest hashes to ${sha256(MANIFEST)}, not its Docker-Content-Digest ${wrong}`);
    const byDigest = fakeFetch(() => new Response(MANIFEST));
    expect((await rejection(client(byDigest.fetch).getManifest(LOCAL, wrong))).message)
      .toBe(`registry 127.0.0.1:5000: GET /v2/x/app/manifests/${wrong}: the manifest hashes to ${sha256(MANIFEST)}, not the requested digest ${wrong}`);
  });

  it('refuses a manifest larger than the document limit without reading it all', async () => {
    const { fetch } = fakeFetch(() => new Response('x', { headers: { 'content-length': String(64 * 1024 * 1024) } }));
    expect((await rejection(client(fetch).getManifest(LOCAL))).message).toMatch(/^registry 127\.0\.0\.1:5000: GET \/v2\/x\/app\/manifests\/v1: the manifest is larger than the \d+ bytes/);
  });

  it('turns a registry error into one line', async () => {
    const { fetch } = fakeFetch(() => registryError(404, 'MANIFEST_UNKNOWN', 'manifest unknown'));
    const error = await rejection(client(fetch).getManifest(LOCAL, 'latest'));
    expect(error.message).toBe('registry 127.0.0.1:5000: GET /v2/x/app/manifests/latest: 404 MANIFEST_UNKNOWN: manifest unknown');
  });

  it('refuses a malformed tag before asking', async () => {
    const { fetch, calls } = fakeFetch(() => new Response());
    expect((await rejection(client(fetch).getManifest(LOCAL, '../x'))).message).toMatch(/tag "\.\.\/x" must match/);
    expect(calls).toEqual([]);
  });
});

describe('bearer token auth', () => {
  /** A registry wanting `Bearer <token>` and a token server handing out tokens named after the scope. */
  function tokenWorld(options: { tokenKey?: 'token' | 'access_token'; password?: string } = {}) {
    let issued = 0;
    return fakeFetch((call) => {
      const url = new URL(call.url);
      if (url.host === 'auth.example') {
        if (options.password !== undefined && call.headers.authorization !== `Basic ${Buffer.from(`alice:${options.password}`).toString('base64')}`) {
          return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
        }
        issued++;
        return json(200, { [options.tokenKey ?? 'token']: `t${issued}:${url.searchParams.get('scope')}`, expires_in: 300 });
      }
      const auth = call.headers.authorization ?? '';
      if (!auth.startsWith('Bearer t')) {
        return registryError(401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': `${BEARER},scope="repository:x/app:pull"` });
      }
      if (call.method === 'HEAD') return new Response(null, { status: 404 });
      return new Response(MANIFEST, { headers: { 'content-type': MediaTypes.manifest } });
    });
  }

  it('gets a token for the scope, retries once and caches it', async () => {
    const { fetch, calls } = tokenWorld();
    const c = client(fetch);
    await c.getManifest(REMOTE);
    await c.getManifest(REMOTE, 'v2');
    expect(calls.map((call) => `${call.method} ${call.url} ${call.headers.authorization ?? '-'}`)).toEqual([
      'GET https://registry.example/v2/x/app/manifests/v1 -',
      'GET https://auth.example/token?service=registry.example&scope=repository%3Ax%2Fapp%3Apull -',
      'GET https://registry.example/v2/x/app/manifests/v1 Bearer t1:repository:x/app:pull',
      'GET https://registry.example/v2/x/app/manifests/v2 Bearer t1:repository:x/app:pull',
    ]);
  });

  it('asks for pull,push when pushing, and uses that token for pulls too', async () => {
    const { fetch, calls } = tokenWorld({ tokenKey: 'access_token' });
    const c = client(fetch);
    expect(await c.hasBlob(REMOTE, sha256('x'), 'push')).toBe(false);
    await c.getManifest(REMOTE);
    expect(calls[1]?.url).toBe('https://auth.example/token?service=registry.example&scope=repository%3Ax%2Fapp%3Apull%2Cpush');
    expect(calls.filter((call) => call.url.startsWith('https://auth.example'))).toHaveLength(1);
    expect(calls.at(-1)?.headers.authorization).toBe('Bearer t1:repository:x/app:pull,push');
  });

  it('sends the credentials to the token server with Basic auth', async () => {
    const { fetch, calls } = tokenWorld({ password: 'pw' });
    await client(fetch, { credentials: (registry) => (registry === 'registry.example' ? { username: 'alice', password: 'pw' } : undefined) }).getManifest(REMOTE);
    const tokenCall = calls[1];
    expect(tokenCall?.headers.authorization).toBe(`Basic ${Buffer.from('alice:pw').toString('base64')}`);
    expect(new URL(tokenCall?.url ?? '').searchParams.get('account')).toBe('alice');
  });

  it('reports a token server refusal in one line naming the user', async () => {
    const { fetch } = tokenWorld({ password: 'pw' });
    const wrong = await rejection(client(fetch, { credentials: { username: 'alice', password: 'nope' } }).getManifest(REMOTE));
    expect(wrong.message).toBe('registry registry.example: GET /v2/x/app/manifests/v1: token server https://auth.example/token: 401 UNAUTHORIZED: bad credentials (as user "alice")');
    const anonymous = await rejection(client(fetch).getManifest(REMOTE));
    expect(anonymous.message).toBe('registry registry.example: GET /v2/x/app/manifests/v1: token server https://auth.example/token: 401 UNAUTHORIZED: bad credentials (no credentials given)');
  });

  it('gives up after one retry', async () => {
    const { fetch, calls } = fakeFetch((call) => (call.url.startsWith('https://auth.example')
      ? json(200, { token: 'useless' })
      : registryError(401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': BEARER })));
    const error = await rejection(client(fetch).getManifest(REMOTE));
    expect(error.message).toBe('registry registry.example: GET /v2/x/app/manifests/v1: 401 UNAUTHORIZED: authentication required (no credentials given)');
    expect(calls).toHaveLength(3);
  });

  it('reports unusable challenges and token answers', async () => {
    const answer = (registry: Response, token?: Response) => fakeFetch((call) => (call.url.startsWith('https://auth.example') ? (token ?? json(200, {})) : registry.clone()));
    const cases: Array<[ReturnType<typeof answer>, string]> = [
      [answer(new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer service="s"' } })), '401 with a Bearer challenge that names no realm (token server)'],
      [answer(new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer realm="/relative"' } })), '401 with a Bearer realm "/relative" that is not a URL'],
      [answer(new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer realm="file:///etc/passwd"' } })), 'the Bearer realm "file:///etc/passwd" is not an http(s) URL'],
      [answer(new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer realm="open' } })), '401 with WWW-Authenticate "Bearer realm=\\"open": a quoted string is not closed (at character 19)'],
      [answer(new Response(null, { status: 401, headers: { 'www-authenticate': BEARER } }), json(200, { expires_in: 3 })), 'token server https://auth.example/token: the answer has no "token" nor "access_token"'],
      [answer(new Response(null, { status: 401, headers: { 'www-authenticate': BEARER } }), new Response('<html>')), 'token server https://auth.example/token: the answer is not JSON'],
    ];
    for (const [{ fetch }, problem] of cases) {
      expect((await rejection(client(fetch).getManifest(REMOTE))).message).toBe(`registry registry.example: GET /v2/x/app/manifests/v1: ${problem}`);
    }
  });
});

describe('basic auth', () => {
  const world = () => fakeFetch((call) => (call.headers.authorization === `Basic ${Buffer.from('bob:secret').toString('base64')}`
    ? new Response(MANIFEST)
    : registryError(401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': 'Basic realm="Registry Realm"' })));

  it('answers a Basic challenge with the credentials, once, and remembers them', async () => {
    const { fetch, calls } = world();
    const c = client(fetch, { credentials: { username: 'bob', password: 'secret' } });
    await c.getManifest(LOCAL);
    await c.getManifest(LOCAL, 'v2');
    expect(calls.map((call) => call.headers.authorization ?? '-')).toEqual(['-', `Basic ${Buffer.from('bob:secret').toString('base64')}`, `Basic ${Buffer.from('bob:secret').toString('base64')}`]);
  });

  it('reports the 401 without credentials, and with wrong ones', async () => {
    const { fetch, calls } = world();
    expect((await rejection(client(fetch).getManifest(LOCAL))).message)
      .toBe('registry 127.0.0.1:5000: GET /v2/x/app/manifests/v1: 401 UNAUTHORIZED: authentication required (no credentials given)');
    expect(calls).toHaveLength(1);
    expect((await rejection(client(fetch, { credentials: { username: 'bob', password: 'x' } }).getManifest(LOCAL))).message)
      .toBe('registry 127.0.0.1:5000: GET /v2/x/app/manifests/v1: 401 UNAUTHORIZED: authentication required (as user "bob")');
  });
});

describe('blobs', () => {
  const LAYER = Buffer.from('layer bytes '.repeat(100));
  const layer = { mediaType: MediaTypes.layerTar, digest: sha256(LAYER), size: LAYER.length };

  it('streams a blob, verified', async () => {
    const { fetch, calls } = fakeFetch(() => new Response(LAYER));
    expect((await drain(client(fetch).openBlob(LOCAL, layer))).equals(LAYER)).toBe(true);
    expect(calls[0]?.url).toBe(`http://127.0.0.1:5000/v2/x/app/blobs/${layer.digest}`);
  });

  it('fails the stream on corrupt bytes and on registry errors', async () => {
    const corrupt = fakeFetch(() => new Response(Buffer.from(LAYER).fill(0x41, 0, 1)));
    await expect(drain(client(corrupt.fetch).openBlob(LOCAL, layer))).rejects.toThrow(`blob ${layer.digest}: digest mismatch`);
    const missing = fakeFetch(() => registryError(404, 'BLOB_UNKNOWN', 'blob unknown to registry'));
    await expect(drain(client(missing.fetch).openBlob(LOCAL, layer))).rejects
      .toThrow(`registry 127.0.0.1:5000: GET /v2/x/app/blobs/${layer.digest}: 404 BLOB_UNKNOWN: blob unknown to registry`);
  });

  it('reads a whole blob against its descriptor', async () => {
    const { fetch } = fakeFetch(() => new Response(LAYER));
    expect((await client(fetch).readBlob(LOCAL, layer)).equals(LAYER)).toBe(true);
    expect((await rejection(client(fetch).readBlob(LOCAL, { ...layer, size: 10 }))).message)
      .toBe(`registry 127.0.0.1:5000: GET /v2/x/app/blobs/${layer.digest}: more than the 10 bytes its descriptor says`);
    expect((await rejection(client(fetch).readBlob(LOCAL, layer, 100))).message)
      .toBe(`registry 127.0.0.1:5000: GET /v2/x/app/blobs/${layer.digest}: size ${LAYER.length} is more than the 100 bytes tsrun reads for a document`);
  });

  it('answers HEAD with true or false', async () => {
    const { fetch } = fakeFetch((call) => new Response(null, { status: call.url.endsWith(layer.digest) ? 200 : 404 }));
    expect(await client(fetch).hasBlob(LOCAL, layer.digest)).toBe(true);
    expect(await client(fetch).hasBlob(LOCAL, sha256('other'))).toBe(false);
    const broken = fakeFetch(() => new Response(null, { status: 500, statusText: 'Internal Server Error' }));
    expect((await rejection(client(broken.fetch).hasBlob(LOCAL, layer.digest))).message)
      .toBe(`registry 127.0.0.1:5000: HEAD /v2/x/app/blobs/${layer.digest}: 500 Internal Server Error`);
  });

  it('uploads: POST, then PUT ?digest= to the relative Location with the streamed body', async () => {
    const { fetch, calls } = fakeFetch((call) => {
      if (call.method === 'POST') return new Response(null, { status: 202, headers: { location: '/v2/x/app/blobs/uploads/u1?_state=abc%3D' } });
      return new Response(null, { status: 201, headers: { 'docker-content-digest': layer.digest } });
    });
    await client(fetch).uploadBlob(LOCAL, layer, () => Readable.from([LAYER.subarray(0, 10), LAYER.subarray(10)]));
    expect(calls.map((call) => `${call.method} ${call.url}`)).toEqual([
      'POST http://127.0.0.1:5000/v2/x/app/blobs/uploads/',
      `PUT http://127.0.0.1:5000/v2/x/app/blobs/uploads/u1?_state=abc%3D&digest=${encodeURIComponent(layer.digest)}`,
    ]);
    expect(calls[1]?.body?.equals(LAYER)).toBe(true);
    expect(calls[1]?.headers['content-type']).toBe('application/octet-stream');
  });

  it('cancels the upload when the PUT fails, and sends no Authorization to another origin', async () => {
    const { fetch, calls } = fakeFetch((call) => {
      if (call.method === 'POST' && call.headers.authorization === undefined) {
        return registryError(401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': 'Basic realm="r"' });
      }
      if (call.method === 'POST') return new Response(null, { status: 202, headers: { location: 'https://storage.example/upload/u2' } });
      if (call.method === 'PUT') return registryError(400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
      return new Response(null, { status: 204 });
    });
    const c = client(fetch, { credentials: { username: 'u', password: 'p' } });
    const error = await rejection(c.uploadBlob(LOCAL, layer, () => Readable.from([LAYER])));
    expect(error.message).toBe('registry storage.example: PUT /upload/u2: 400 DIGEST_INVALID: provided digest did not match uploaded content');
    expect(calls.map((call) => `${call.method} ${call.url} ${call.headers.authorization ?? '-'}`)).toEqual([
      'POST http://127.0.0.1:5000/v2/x/app/blobs/uploads/ -',
      `POST http://127.0.0.1:5000/v2/x/app/blobs/uploads/ Basic ${Buffer.from('u:p').toString('base64')}`,
      `PUT https://storage.example/upload/u2?digest=${encodeURIComponent(layer.digest)} -`,
      'DELETE https://storage.example/upload/u2 -',
    ]);
  });

  it('throws the source\'s own error when the source fails', async () => {
    const { fetch, calls } = fakeFetch((call) => (call.method === 'POST'
      ? new Response(null, { status: 202, headers: { location: '/v2/x/app/blobs/uploads/u3' } })
      : new Response(null, { status: 204 })));
    const failing = () => new Readable({
      read() {
        this.destroy(new RuntimeError('image', 'blob sha256:…: digest mismatch'));
      },
    });
    const error = await rejection(client(fetch).uploadBlob(LOCAL, layer, failing));
    expect(error.message).toBe('blob sha256:…: digest mismatch');
    expect(calls.at(-1)?.method).toBe('DELETE');
  });

  it('reports a POST without Location', async () => {
    const { fetch } = fakeFetch(() => new Response(null, { status: 202 }));
    expect((await rejection(client(fetch).uploadBlob(LOCAL, layer, () => Readable.from([LAYER])))).message)
      .toBe('registry 127.0.0.1:5000: POST /v2/x/app/blobs/uploads/: 202 without a Location header for the upload');
  });
});

describe('putManifest', () => {
  it('PUTs with the media type and checks the digest the registry stored', async () => {
    const { fetch, calls } = fakeFetch(() => new Response(null, { status: 201, headers: { 'docker-content-digest': sha256(MANIFEST) } }));
    expect(await client(fetch).putManifest(LOCAL, 'v1', MANIFEST, MediaTypes.manifest)).toBe(sha256(MANIFEST));
    expect(calls[0]).toMatchObject({ method: 'PUT', url: 'http://127.0.0.1:5000/v2/x/app/manifests/v1', headers: { 'content-type': MediaTypes.manifest } });
    expect(calls[0]?.body?.equals(MANIFEST)).toBe(true);
    const other = fakeFetch(() => new Response(null, { status: 201, headers: { 'docker-content-digest': sha256('x') } }));
    expect((await rejection(client(other.fetch).putManifest(LOCAL, 'v1', MANIFEST, MediaTypes.manifest))).message)
      .toBe(`registry 127.0.0.1:5000: PUT /v2/x/app/manifests/v1: the registry stored the manifest as ${sha256('x')}, but it hashes to ${sha256(MANIFEST)}`);
  });

  it('reports a refused manifest in one line', async () => {
    const { fetch } = fakeFetch(() => registryError(400, 'MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry'));
    expect((await rejection(client(fetch).putManifest(LOCAL, 'v1', MANIFEST, MediaTypes.manifest))).message)
      .toBe('registry 127.0.0.1:5000: PUT /v2/x/app/manifests/v1: 400 MANIFEST_BLOB_UNKNOWN: blob unknown to registry');
  });
});
