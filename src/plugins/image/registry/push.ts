import { RuntimeError } from '../../../errors';
import { MediaTypes, type Descriptor } from '../../../spec/image-types';
import { digestOf, parseDigest } from '../digest';
import type { ImageSource } from '../image-source';
import { formatReference, parseReference, type ImageReference } from './reference';
import type { RegistryClient } from './registry-client';

/**
 * Copies an image from any ImageSource to a registry: every blob the registry lacks (HEAD first), streamed from
 * the source, then the manifest under the reference's tag (or digest). The manifest sent is the source's exact
 * bytes (`source.image.manifestBytes`), so the registry holds the image under the digest it has everywhere else.
 */

export interface PushResult {
  /** The fully qualified reference pushed to. */
  reference: string;
  /** The digest of the manifest the registry now holds (the registry's Docker-Content-Digest, checked). */
  manifestDigest: string;
  /** Blobs (layers, config) sent, by digest. */
  uploaded: string[];
  /** Blobs the registry already had. */
  skipped: string[];
}

export async function pushImage(client: RegistryClient, source: ImageSource, reference: ImageReference | string): Promise<PushResult> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const { manifest, manifestBytes, manifestDigest } = source.image;
  const target = ref.tag ?? ref.digest;
  if (target === undefined) throw new RuntimeError('registry', `push ${formatReference(ref)}: the reference names no tag or digest`);

  // Checked first: a push that cannot succeed fails before anything is uploaded.
  const { algorithm } = parseDigest(manifestDigest, 'manifest');
  const actual = digestOf(manifestBytes, algorithm);
  if (actual !== manifestDigest) {
    throw new RuntimeError('registry', `push ${formatReference(ref)}: the source's manifest bytes hash to ${actual}, not to the image's manifest digest ${manifestDigest}`);
  }
  if (ref.digest !== undefined && ref.digest !== manifestDigest) {
    throw new RuntimeError('registry', `push ${formatReference(ref)}: the image's manifest is ${manifestDigest}, not ${ref.digest}`);
  }
  const mediaType = manifest.mediaType ?? MediaTypes.manifest;

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
  const pushed = await client.putManifest(ref, target, manifestBytes, mediaType);
  return { reference: formatReference(ref), manifestDigest: pushed, uploaded, skipped };
}
