import { PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { RuntimeError } from '../../../errors';
import { MediaTypes, type Descriptor } from '../../../spec/image-types';
import { checkBlobBytes, checkSize, digestOf, parseDigest, quote, verifyBlobStream } from '../digest';
import { DOCUMENT_LIMIT } from '../image-source';
import { manifestReference, type ImageReference } from './reference';
import { findChallenge, parseWwwAuthenticate, type Challenge } from './www-authenticate';

/**
 * A client of the OCI distribution spec's HTTP API (`/v2/...`): manifests and blobs, read and written, with the
 * registry's authentication.
 *
 * Transport: `https://<apiHost>`, except plain `http://` for loopback hosts (localhost, 127.0.0.0/8, ::1) and the
 * registries listed in `insecureRegistries` (docker's insecure-registries, without its CIDR ranges and without
 * trying https first).
 *
 * Authentication (distribution's token spec, docs/spec/auth/token.md): a request goes out with what the cache
 * holds for its registry and scope. A 401 with a `Bearer realm=…,service=…` challenge makes the client GET
 * `realm?service=…&scope=repository:<repo>:pull[,push]` from the token server — with HTTP Basic credentials when
 * it has some, anonymously otherwise — take `token` (or `access_token`) from the JSON answer, cache it for that
 * scope until `expires_in` runs out, and send the request once more with `Authorization: Bearer <token>`. A 401
 * with only a Basic challenge is answered with the credentials, also once. Authorization is only ever sent to
 * the registry's own origin (never to a blob redirect or upload location elsewhere) and to the token realm.
 *
 * Every failure is one RuntimeError line (code 'registry') naming the host, the request and the registry's own
 * error codes: `registry 127.0.0.1:5000: GET /v2/x/manifests/latest: 404 MANIFEST_UNKNOWN: manifest unknown`.
 */

/** The global fetch, or a stand-in with the same contract (tests). */
export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>;

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  fetch: FetchFunction;
  /** Used for every registry, or looked up by the registry's name (ImageReference.registry). */
  credentials?: RegistryCredentials | ((registry: string) => RegistryCredentials | undefined);
  /** Registries reached over plain HTTP: `host` (any port) or `host:port`. Loopback hosts always are. */
  insecureRegistries?: readonly string[];
}

/** What a request needs the token to allow: reading, or reading and writing (distribution scope actions). */
export type RegistryAction = 'pull' | 'push';

export interface ManifestResponse {
  /** The manifest exactly as the registry sent it (its digest is `digest`). */
  bytes: Buffer;
  /** The Content-Type without parameters ('' when the registry sent none). */
  mediaType: string;
  /** The requested digest, else the registry's Docker-Content-Digest, else sha256 of the bytes; all checked. */
  digest: string;
}

/** The manifest types tsrun reads, in the Accept header of every manifest request. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaTypes.index, MediaTypes.manifest, MediaTypes.dockerManifestList, MediaTypes.dockerManifest,
];

/** The most of an error body or token answer that is read. */
const SMALL_BODY_LIMIT = 64 * 1024;
/** distribution's token spec: a token without expires_in lasts 60 seconds, and none should be assumed shorter. */
const MIN_TOKEN_SECONDS = 60;

interface CachedAuth {
  header: string;
  /** ms since the epoch; Infinity for Basic. */
  expiresAt: number;
}

interface SendOptions {
  method: string;
  url: URL;
  action: RegistryAction;
  headers?: Record<string, string>;
  /** A stream body is sent once: no retry after a 401 (the auth was obtained by an earlier request). */
  body?: Uint8Array | Readable;
  signal?: AbortSignal;
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost' || host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The scope a token is asked for (distribution token scope: `repository:<name>:<actions>`). */
export function repositoryScope(repository: string, action: RegistryAction): string {
  return `repository:${repository}:${action === 'push' ? 'pull,push' : 'pull'}`;
}

/** The registry's answer in one line: `404 MANIFEST_UNKNOWN: manifest unknown`, or the status and its text. */
export function describeFailure(status: number, statusText: string, body: string): string {
  let errors: unknown;
  try {
    errors = (JSON.parse(body) as { errors?: unknown }).errors;
  } catch {
    errors = undefined;
  }
  if (Array.isArray(errors) && errors.length > 0) {
    const parts = errors.map((e: { code?: unknown; message?: unknown }) => [e?.code, e?.message]
      .filter((x) => typeof x === 'string' && x !== '').join(': '));
    const text = parts.filter((p) => p !== '').join('; ');
    if (text !== '') return `${status} ${oneLine(text)}`;
  }
  const snippet = oneLine(body);
  const head = `${status}${statusText ? ` ${statusText}` : ''}`;
  return snippet === '' ? head : `${head}: ${snippet}`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? error.cause.message : '';
    // undici's "fetch failed" says nothing; its cause names the connection error.
    return cause !== '' && error.message === 'fetch failed' ? cause : error.message + (cause ? `: ${cause}` : '');
  }
  return String(error);
}

/** Throws the response's body away so its connection can be reused. */
async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // nothing to free
  }
}

/** The body, at most `limit` bytes; more is an error (`what` names it). Cancels the rest. */
async function readBody(response: Response, limit: number, tooLarge: () => RuntimeError): Promise<Buffer> {
  const body = response.body;
  if (body === null) return Buffer.alloc(0);
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await discard(response);
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let length = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return Buffer.concat(chunks, length);
}

/** Up to SMALL_BODY_LIMIT bytes of the body as text, for error messages; never throws. */
async function bodyText(response: Response): Promise<string> {
  const body = response.body;
  if (body === null) return '';
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    const reader = body.getReader();
    while (length < SMALL_BODY_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
      length += value.length;
    }
    await reader.cancel().catch(() => undefined);
  } catch {
    // what arrived is enough for a message
  }
  return Buffer.concat(chunks).subarray(0, SMALL_BODY_LIMIT).toString('utf8');
}

export class RegistryClient {
  readonly #fetch: FetchFunction;
  readonly #credentials: RegistryClientOptions['credentials'];
  readonly #insecure: readonly string[];
  /** By `<apiHost> <scope>` for bearer tokens, `<apiHost> basic` for Basic credentials. */
  readonly #auth = new Map<string, CachedAuth>();

  constructor(options: RegistryClientOptions) {
    this.#fetch = options.fetch;
    this.#credentials = options.credentials;
    this.#insecure = (options.insecureRegistries ?? []).map((entry) => entry.toLowerCase());
  }

  /** `https://host[:port]`, or `http://` for loopback and insecure registries. */
  baseUrl(ref: ImageReference): string {
    const host = ref.apiHost.toLowerCase();
    const hostname = new URL(`http://${host}`).hostname;
    const plain = isLoopbackHost(hostname)
      || this.#insecure.some((entry) => entry === host || entry === hostname || entry === ref.registry.toLowerCase());
    return `${plain ? 'http' : 'https'}://${ref.apiHost}`;
  }

  /**
   * The manifest (or index) `reference` (a tag or digest; by default the reference's digest, else its tag), its
   * bytes checked against the requested digest and the registry's Docker-Content-Digest.
   */
  async getManifest(ref: ImageReference, reference: string = manifestReference(ref)): Promise<ManifestResponse> {
    const byDigest = reference.includes(':');
    if (byDigest) parseDigest(reference, `registry ${ref.apiHost}: manifest`);
    else if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(reference)) {
      throw new RuntimeError('registry', `registry ${ref.apiHost}: tag ${quote(reference)} must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`);
    }
    const url = this.#url(ref, `/manifests/${reference}`);
    const response = await this.#send(ref, { method: 'GET', url, action: 'pull', headers: { accept: MANIFEST_ACCEPT.join(', ') } });
    if (response.status !== 200) throw await this.#failure(ref, 'GET', url, response);
    const bytes = await readBody(response, DOCUMENT_LIMIT,
      () => this.#error('GET', url, `the manifest is larger than the ${DOCUMENT_LIMIT} bytes tsrun reads for a document`));
    const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
    const header = response.headers.get('docker-content-digest');
    for (const [expected, what] of [[byDigest ? reference : undefined, 'the requested digest'], [header ?? undefined, 'its Docker-Content-Digest']] as const) {
      if (expected === undefined) continue;
      const { algorithm } = parseDigest(expected, `registry ${url.host}: GET ${url.pathname}: ${what}`);
      const actual = digestOf(bytes, algorithm);
      if (actual !== expected) {
        throw this.#error('GET', url, `the manifest hashes to ${actual}, not ${what} ${expected}`);
      }
    }
    return { bytes, mediaType, digest: byDigest ? reference : header ?? digestOf(bytes) };
  }

  /** A whole blob (a configuration), at most `limit` bytes, checked against its descriptor. */
  async readBlob(ref: ImageReference, descriptor: Descriptor, limit: number = DOCUMENT_LIMIT): Promise<Buffer> {
    const size = checkSize(descriptor.size, `registry ${ref.apiHost}: blob ${descriptor.digest}`);
    parseDigest(descriptor.digest, `registry ${ref.apiHost}: blob`);
    const url = this.#url(ref, `/blobs/${descriptor.digest}`);
    if (size > limit) throw this.#error('GET', url, `size ${size} is more than the ${limit} bytes tsrun reads for a document`);
    const response = await this.#send(ref, { method: 'GET', url, action: 'pull' });
    if (response.status !== 200) throw await this.#failure(ref, 'GET', url, response);
    const bytes = await readBody(response, size, () => this.#error('GET', url, `more than the ${size} bytes its descriptor says`));
    try {
      checkBlobBytes(bytes, descriptor);
    } catch (error) {
      throw this.#error('GET', url, (error as Error).message);
    }
    return bytes;
  }

  /**
   * A blob as a stream checked against its descriptor (verifyBlobStream); the request starts at once and its
   * failures arrive as the stream's error. Redirects (to a CDN) are followed, without the registry's
   * Authorization. Destroying the stream aborts the request.
   */
  openBlob(ref: ImageReference, descriptor: Descriptor): Readable {
    parseDigest(descriptor.digest, `registry ${ref.apiHost}: blob`);
    checkSize(descriptor.size, `registry ${ref.apiHost}: blob ${descriptor.digest}`);
    const url = this.#url(ref, `/blobs/${descriptor.digest}`);
    const controller = new AbortController();
    const relay = new PassThrough();
    relay.on('close', () => controller.abort());
    this.#send(ref, { method: 'GET', url, action: 'pull', signal: controller.signal }).then(async (response) => {
      if (response.status !== 200 || response.body === null) throw await this.#failure(ref, 'GET', url, response);
      const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
      body.on('error', (error) => relay.destroy(this.#error('GET', url, `reading the blob: ${errorText(error)}`)));
      body.pipe(relay);
    }).catch((error: unknown) => {
      if (!relay.destroyed) relay.destroy(error instanceof RuntimeError ? error : this.#error('GET', url, errorText(error)));
    });
    return verifyBlobStream(relay, descriptor);
  }

  /** Whether the repository has the blob (HEAD). `action` 'push' asks for the push token right away. */
  async hasBlob(ref: ImageReference, digest: string, action: RegistryAction = 'pull'): Promise<boolean> {
    parseDigest(digest, `registry ${ref.apiHost}: blob`);
    const url = this.#url(ref, `/blobs/${digest}`);
    const response = await this.#send(ref, { method: 'HEAD', url, action });
    if (response.status === 200) {
      await discard(response);
      return true;
    }
    if (response.status === 404) {
      await discard(response);
      return false;
    }
    throw await this.#failure(ref, 'HEAD', url, response);
  }

  /**
   * Uploads a blob in one request (POST to start the upload, then PUT `?digest=` with the body streamed from
   * `open()`). On any failure the upload session is cancelled (DELETE) and the source's own error, if it failed,
   * is what is thrown.
   */
  async uploadBlob(ref: ImageReference, descriptor: Descriptor, open: () => Readable): Promise<void> {
    parseDigest(descriptor.digest, `registry ${ref.apiHost}: blob`);
    const size = checkSize(descriptor.size, `registry ${ref.apiHost}: blob ${descriptor.digest}`);
    const start = this.#url(ref, '/blobs/uploads/');
    const started = await this.#send(ref, { method: 'POST', url: start, action: 'push', headers: { 'content-length': '0' } });
    if (started.status !== 202) throw await this.#failure(ref, 'POST', start, started);
    const location = started.headers.get('location');
    await discard(started);
    if (location === null || location === '') throw this.#error('POST', start, '202 without a Location header for the upload');
    let upload: URL;
    try {
      upload = new URL(location, started.url || start);
    } catch (error) {
      throw this.#error('POST', start, `the upload Location ${quote(location)} is not a URL: ${errorText(error)}`);
    }
    const put = new URL(upload);
    put.searchParams.set('digest', descriptor.digest);
    let source: Readable | undefined;
    let sourceError: unknown;
    try {
      source = open();
      source.on('error', (error) => {
        sourceError ??= error;
      });
      const response = await this.#send(ref, {
        method: 'PUT',
        url: put,
        action: 'push',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: source,
      });
      if (response.status !== 201) throw await this.#failure(ref, 'PUT', put, response);
      const stored = response.headers.get('docker-content-digest');
      await discard(response);
      if (stored !== null && stored !== descriptor.digest) {
        throw this.#error('PUT', put, `the registry stored the blob as ${stored}, not ${descriptor.digest}`);
      }
    } catch (error) {
      source?.destroy();
      await this.#cancelUpload(ref, upload);
      throw sourceError instanceof RuntimeError ? sourceError : error;
    }
  }

  /** PUTs a manifest under a tag or digest; returns its digest, checked against the registry's. */
  async putManifest(ref: ImageReference, reference: string, bytes: Uint8Array, mediaType: string): Promise<string> {
    const url = this.#url(ref, `/manifests/${reference}`);
    const response = await this.#send(ref, { method: 'PUT', url, action: 'push', headers: { 'content-type': mediaType }, body: bytes });
    if (response.status !== 201) throw await this.#failure(ref, 'PUT', url, response);
    const stored = response.headers.get('docker-content-digest');
    await discard(response);
    const algorithm = stored === null ? 'sha256' : parseDigest(stored, `registry ${url.host}: PUT ${url.pathname}: Docker-Content-Digest`).algorithm;
    const digest = digestOf(bytes, algorithm);
    if (stored !== null && stored !== digest) throw this.#error('PUT', url, `the registry stored the manifest as ${stored}, but it hashes to ${digest}`);
    return digest;
  }

  async #cancelUpload(ref: ImageReference, upload: URL): Promise<void> {
    try {
      const response = await this.#send(ref, { method: 'DELETE', url: upload, action: 'push' });
      await discard(response);
    } catch {
      // Best effort: the registry purges abandoned uploads itself.
    }
  }

  #url(ref: ImageReference, suffix: string): URL {
    return new URL(`${this.baseUrl(ref)}/v2/${ref.repository}${suffix}`);
  }

  #error(method: string, url: URL, problem: string): RuntimeError {
    return new RuntimeError('registry', `registry ${url.host}: ${method} ${url.pathname}: ${problem}`);
  }

  #credentialsFor(ref: ImageReference): RegistryCredentials | undefined {
    const credentials = this.#credentials;
    return typeof credentials === 'function' ? credentials(ref.registry) : credentials;
  }

  /** The error for an unexpected answer, its body read for the registry's error codes. */
  async #failure(ref: ImageReference, method: string, url: URL, response: Response): Promise<RuntimeError> {
    let text = describeFailure(response.status, response.statusText, await bodyText(response));
    if (response.status === 401) {
      text += this.#credentialsFor(ref) === undefined ? ' (no credentials given)' : ` (as user ${quote(this.#credentialsFor(ref)?.username)})`;
    }
    return this.#error(method, url, text);
  }

  #cachedAuth(ref: ImageReference, action: RegistryAction): string | undefined {
    const keys = [repositoryScope(ref.repository, action), ...(action === 'pull' ? [repositoryScope(ref.repository, 'push')] : []), 'basic'];
    const now = Date.now();
    for (const key of keys) {
      const cached = this.#auth.get(`${ref.apiHost} ${key}`);
      if (cached === undefined) continue;
      if (cached.expiresAt > now) return cached.header;
      this.#auth.delete(`${ref.apiHost} ${key}`);
    }
    return undefined;
  }

  /** One request, authenticated from the cache; a 401 with a usable challenge gets credentials and one retry. */
  async #send(ref: ImageReference, options: SendOptions): Promise<Response> {
    const { method, url } = options;
    const sameOrigin = url.origin === new URL(this.baseUrl(ref)).origin;
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(options.headers);
      const auth = sameOrigin ? this.#cachedAuth(ref, options.action) : undefined;
      if (auth !== undefined) headers.set('authorization', auth);
      const init: RequestInit = { method, headers, redirect: 'follow' };
      if (options.signal) init.signal = options.signal;
      const streamed = options.body instanceof Readable;
      if (options.body instanceof Readable) {
        init.body = Readable.toWeb(options.body) as ReadableStream<Uint8Array>;
        init.duplex = 'half';
      } else if (options.body !== undefined) {
        init.body = new Uint8Array(options.body);
      }
      let response: Response;
      try {
        response = await this.#fetch(url.href, init);
      } catch (error) {
        if (error instanceof RuntimeError) throw error;
        throw this.#error(method, url, errorText(error));
      }
      if (response.status !== 401 || attempt > 0 || !sameOrigin || streamed) return response;
      const header = response.headers.get('www-authenticate');
      if (header === null) return response;
      let challenges: Challenge[];
      try {
        challenges = parseWwwAuthenticate(header);
      } catch (error) {
        await discard(response);
        throw this.#error(method, url, `401 with ${(error as Error).message}`);
      }
      const bearer = findChallenge(challenges, 'bearer');
      const credentials = this.#credentialsFor(ref);
      if (bearer !== undefined) {
        await discard(response);
        await this.#fetchToken(ref, options, bearer);
      } else if (findChallenge(challenges, 'basic') !== undefined && credentials !== undefined) {
        await discard(response);
        const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
        this.#auth.set(`${ref.apiHost} basic`, { header: `Basic ${basic}`, expiresAt: Infinity });
      } else {
        return response;
      }
    }
  }

  /** Asks the challenge's token server for a token of the request's scope and caches it. */
  async #fetchToken(ref: ImageReference, request: SendOptions, challenge: Challenge): Promise<void> {
    const fail = (problem: string): RuntimeError => this.#error(request.method, request.url, problem);
    const realm = challenge.params['realm'];
    if (realm === undefined || realm === '') throw fail('401 with a Bearer challenge that names no realm (token server)');
    let tokenUrl: URL;
    try {
      tokenUrl = new URL(realm);
    } catch {
      throw fail(`401 with a Bearer realm ${quote(realm)} that is not a URL`);
    }
    if (tokenUrl.protocol !== 'https:' && tokenUrl.protocol !== 'http:') throw fail(`the Bearer realm ${quote(realm)} is not an http(s) URL`);
    const scope = repositoryScope(ref.repository, request.action);
    const service = challenge.params['service'];
    if (service !== undefined) tokenUrl.searchParams.set('service', service);
    tokenUrl.searchParams.append('scope', scope);
    const credentials = this.#credentialsFor(ref);
    const headers = new Headers({ accept: 'application/json' });
    if (credentials !== undefined) {
      tokenUrl.searchParams.set('account', credentials.username);
      headers.set('authorization', `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`);
    }
    const server = `token server ${tokenUrl.origin}${tokenUrl.pathname}`;
    const who = credentials === undefined ? ' (no credentials given)' : ` (as user ${quote(credentials.username)})`;
    let response: Response;
    try {
      response = await this.#fetch(tokenUrl.href, { method: 'GET', headers, redirect: 'follow' });
    } catch (error) {
      throw fail(`${server}: ${errorText(error)}`);
    }
    if (response.status !== 200) {
      throw fail(`${server}: ${describeFailure(response.status, response.statusText, await bodyText(response))}${who}`);
    }
    const body = await readBody(response, SMALL_BODY_LIMIT, () => fail(`${server}: the answer is larger than ${SMALL_BODY_LIMIT} bytes`));
    let answer: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      answer = JSON.parse(body.toString('utf8')) as typeof answer;
    } catch {
      throw fail(`${server}: the answer is not JSON`);
    }
    const token = typeof answer?.token === 'string' && answer.token !== '' ? answer.token : answer?.access_token;
    if (typeof token !== 'string' || token === '') throw fail(`${server}: the answer has no "token" nor "access_token"`);
    const seconds = typeof answer.expires_in === 'number' && answer.expires_in > MIN_TOKEN_SECONDS ? answer.expires_in : MIN_TOKEN_SECONDS;
    // A few seconds of margin for the time the request takes.
    this.#auth.set(`${ref.apiHost} ${scope}`, { header: `Bearer ${token}`, expiresAt: Date.now() + (seconds - 5) * 1000 });
  }
}
