import type { Readable } from 'node:stream';
import { RuntimeError } from '../../../errors';
import { MediaTypes, type Descriptor } from '../../../spec/image-types';
import { digestOf, parseDigest } from '../digest';
import type { ImageSource } from '../image-source';
import { DOCUMENT_LIMIT } from '../oci-layout';
import { formatReference, parseReference, type ImageReference } from './reference';
import type { RegistryClient } from './registry-client';

/**
 * Copies an image from any ImageSource to a registry: every blob the registry lacks (HEAD first), streamed from
 * the source, then the manifest under the reference's tag (or digest).
 *
 * The manifest bytes. A manifest's digest is that of its exact bytes, so tsrun pushes exactly the bytes whose
 * digest is `source.image.manifestDigest` whenever it can get them:
 *  1. JSON.stringify of the parsed manifest, when that hashes to manifestDigest (compact JSON, as tsrun, buildkit
 *     and `docker save` write it);
 *  2. otherwise the source's own copy, `source.openBlob({ digest: manifestDigest, ... })`. The source's
 *     descriptor size is not known (ResolvedImage has no manifest size), so the blob is asked for with the
 *     document limit as its size: the source's size check then fails at the end of the stream, and the bytes
 *     are taken when — and only when — they hash to manifestDigest, which is the check that matters;
 *  3. failing both (a source that does not serve its manifest), the manifest re-serialised with
 *     JSON.stringify: the registry then has the same image under a different manifest digest, which is
 *     returned (and `manifestBytes` says 're-serialised'). Pushing by digest refuses this case.
 */

export interface PushResult {
  /** The fully qualified reference pushed to. */
  reference: string;
  /** The digest of the manifest the registry now holds (the registry's Docker-Content-Digest, checked). */
  manifestDigest: string;
  /** 'source': the source's manifest bytes unchanged (same digest); 're-serialised': see the module comment. */
  manifestBytes: 'source' | 're-serialised';
  /** Blobs (layers, config) sent, by digest. */
  uploaded: string[];
  /** Blobs the registry already had. */
  skipped: string[];
}

/** The source's copy of its manifest when it serves one whose bytes hash to the digest; undefined otherwise. */
async function sourceManifestBytes(source: ImageSource, mediaType: string, digest: string): Promise<Buffer | undefined> {
  const { algorithm } = parseDigest(digest, 'manifest');
  let stream: Readable;
  try {
    stream = source.openBlob({ mediaType, digest, size: DOCUMENT_LIMIT });
  } catch {
    return undefined;
  }
  const chunks: Buffer[] = [];
  let length = 0;
  await new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > DOCUMENT_LIMIT) {
        stream.destroy();
        return;
      }
      chunks.push(chunk);
    });
    // The size check fails at the end (see the module comment); the digest below decides.
    stream.on('error', () => resolve());
    stream.on('close', () => resolve());
    stream.on('end', () => resolve());
  });
  stream.destroy();
  if (length > DOCUMENT_LIMIT) return undefined;
  const bytes = Buffer.concat(chunks);
  return digestOf(bytes, algorithm) === digest ? bytes : undefined;
}

export async function pushImage(client: RegistryClient, source: ImageSource, reference: ImageReference | string): Promise<PushResult> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const { manifest, manifestDigest } = source.image;
  const target = ref.tag ?? ref.digest;
  if (target === undefined) throw new RuntimeError('registry', `push ${formatReference(ref)}: the reference names no tag or digest`);

  // The manifest's bytes first: a push by digest that cannot succeed fails before anything is uploaded.
  const mediaType = manifest.mediaType ?? MediaTypes.manifest;
  const { algorithm } = parseDigest(manifestDigest, 'manifest');
  let bytes: Buffer = Buffer.from(JSON.stringify(manifest));
  let manifestBytes: PushResult['manifestBytes'] = 'source';
  if (digestOf(bytes, algorithm) !== manifestDigest) {
    const own = await sourceManifestBytes(source, mediaType, manifestDigest);
    if (own !== undefined) bytes = own;
    else manifestBytes = 're-serialised';
  }
  if (ref.digest !== undefined) {
    if (ref.digest !== manifestDigest) {
      throw new RuntimeError('registry', `push ${formatReference(ref)}: the image's manifest is ${manifestDigest}, not ${ref.digest}`);
    }
    if (manifestBytes === 're-serialised') {
      throw new RuntimeError('registry', `push ${formatReference(ref)}: pushing by digest needs the manifest's exact bytes, which the source does not serve (re-serialised they hash to ${digestOf(bytes, algorithm)}); push by tag instead`);
    }
  }

  const uploaded: string[] = [];
  const skipped: string[] = [];
  const blobs = new Map<string, Descriptor>();
  for (const descriptor of [...manifest.layers, manifest.config]) blobs.set(descriptor.digest, descriptor);
  for (const descriptor of blobs.values()) {
    if (await client.hasBlob(ref, descriptor.digest, 'push')) {
      skipped.push(descriptor.digest);
      continue;
    }
    await client.uploadBlob(ref, descriptor, () => source.openBlob(descriptor));
    uploaded.push(descriptor.digest);
  }
  const pushed = await client.putManifest(ref, target, bytes, mediaType);
  return { reference: formatReference(ref), manifestDigest: pushed, manifestBytes, uploaded, skipped };
}
