import { createHash } from 'node:crypto';
import type { FetchFunction } from '../../../../../src/plugins/image/registry/registry-client';

/**
 * A registry in memory behind a fake fetch, for unit tests of pull and push: manifests by tag and digest, blobs,
 * monolithic uploads (POST, then PUT ?digest=). No auth. `requests` records `METHOD /path`.
 */
export interface MemoryRegistry {
  fetch: FetchFunction;
  requests: string[];
  blobs: Map<string, Buffer>;
  manifests: Map<string, { bytes: Buffer; mediaType: string }>;
  putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): string;
}

export const sha256 = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function readBody(body: RequestInit['body']): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const notFound = (code: string): Response => new Response(JSON.stringify({ errors: [{ code, message: code.toLowerCase().replace('_', ' ') }] }), { status: 404 });

export function memoryRegistry(): MemoryRegistry {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  const requests: string[] = [];
  let uploads = 0;
  const putManifest = (repository: string, reference: string, bytes: Buffer, mediaType: string): string => {
    const digest = sha256(bytes);
    manifests.set(`${repository}@${digest}`, { bytes, mediaType });
    manifests.set(`${repository}:${reference}`, { bytes, mediaType });
    return digest;
  };
  const fetch: FetchFunction = async (href, init) => {
    const url = new URL(href);
    const method = init.method ?? 'GET';
    requests.push(`${method} ${url.pathname}`);
    const body = await readBody(init.body);
    const upload = /^\/v2\/(.+)\/blobs\/uploads\/(.*)$/.exec(url.pathname);
    if (upload) {
      if (method === 'POST') return new Response(null, { status: 202, headers: { location: `/v2/${upload[1]}/blobs/uploads/u${++uploads}?_state=s` } });
      if (method === 'DELETE') return new Response(null, { status: 204 });
      const digest = url.searchParams.get('digest') ?? '';
      if (sha256(body) !== digest) return new Response(JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: 'digest invalid' }] }), { status: 400 });
      blobs.set(digest, body);
      return new Response(null, { status: 201, headers: { 'docker-content-digest': digest } });
    }
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!match) return new Response('no route', { status: 404 });
    const [, repository, kind, reference] = match as unknown as [string, string, string, string];
    if (kind === 'blobs') {
      const blob = blobs.get(reference);
      if (blob === undefined) return notFound('BLOB_UNKNOWN');
      return new Response(method === 'HEAD' ? null : blob, { status: 200, headers: { 'content-length': String(blob.length) } });
    }
    if (method === 'PUT') {
      const digest = putManifest(repository, reference, body, new Headers(init.headers).get('content-type') ?? '');
      return new Response(null, { status: 201, headers: { 'docker-content-digest': digest } });
    }
    const stored = manifests.get(`${repository}${reference.includes(':') ? '@' : ':'}${reference}`);
    if (stored === undefined) return notFound('MANIFEST_UNKNOWN');
    return new Response(stored.bytes, { headers: { 'content-type': stored.mediaType, 'docker-content-digest': sha256(stored.bytes) } });
  };
  return { fetch, requests, blobs, manifests, putManifest };
}
