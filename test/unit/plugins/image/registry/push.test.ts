import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../../src/errors';
import { verifyBlobStream } from '../../../../../src/plugins/image/digest';
import type { ImageSource } from '../../../../../src/plugins/image/image-source';
import { pushImage } from '../../../../../src/plugins/image/registry/push';
import { RegistryClient } from '../../../../../src/plugins/image/registry/registry-client';
import { MediaTypes, type ImageConfig, type ImageManifest } from '../../../../../src/spec/image-types';
import { memoryRegistry, sha256 } from './memory-registry';

/** An ImageSource over blobs in memory; `serveManifest` false makes it refuse to open its manifest. */
function memorySource(options: { indent?: number; serveManifest?: boolean } = {}) {
  const layers = [Buffer.from('layer one'), Buffer.from('layer two')];
  const config: ImageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(`diff ${l.toString()}`)) } };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.manifest,
    config: { mediaType: MediaTypes.config, digest: sha256(configBytes), size: configBytes.length },
    layers: layers.map((l) => ({ mediaType: MediaTypes.layerGzip, digest: sha256(l), size: l.length })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, options.indent));
  const blobs = new Map([...layers, configBytes].map((b) => [sha256(b), b]));
  if (options.serveManifest !== false) blobs.set(sha256(manifestBytes), manifestBytes);
  const source: ImageSource = {
    image: { manifestDigest: sha256(manifestBytes), manifest, config, configDigest: sha256(configBytes) },
    openBlob(descriptor) {
      const blob = blobs.get(descriptor.digest);
      if (blob === undefined) throw new RuntimeError('image', `blob ${descriptor.digest}: missing`);
      return verifyBlobStream(Readable.from([blob]), descriptor);
    },
    close: () => undefined,
  };
  return { source, manifestBytes, layers, configBytes };
}

async function rejection(promise: Promise<unknown>): Promise<RuntimeError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RuntimeError) return error;
    throw error;
  }
  throw new Error('expected a RuntimeError');
}

describe('pushImage', () => {
  it('uploads the blobs the registry lacks, then the manifest under the tag', async () => {
    const registry = memoryRegistry();
    const { source, manifestBytes, layers, configBytes } = memorySource();
    registry.blobs.set(sha256(layers[0] as Buffer), layers[0] as Buffer);
    const result = await pushImage(new RegistryClient({ fetch: registry.fetch }), source, 'localhost:5000/team/app:v1');
    expect(result).toEqual({
      reference: 'localhost:5000/team/app:v1',
      manifestDigest: sha256(manifestBytes),
      manifestBytes: 'source',
      uploaded: [sha256(layers[1] as Buffer), sha256(configBytes)],
      skipped: [sha256(layers[0] as Buffer)],
    });
    expect(registry.manifests.get('team/app:v1')).toEqual({ bytes: manifestBytes, mediaType: MediaTypes.manifest });
    expect(registry.requests.filter((r) => r.startsWith('PUT /v2/team/app/manifests'))).toEqual(['PUT /v2/team/app/manifests/v1']);
  });

  it('pushes the source\'s own bytes when they are not what JSON.stringify gives', async () => {
    const registry = memoryRegistry();
    const { source, manifestBytes } = memorySource({ indent: 3 });
    const result = await pushImage(new RegistryClient({ fetch: registry.fetch }), source, 'localhost:5000/team/app:v1');
    expect(result.manifestBytes).toBe('source');
    expect(result.manifestDigest).toBe(sha256(manifestBytes));
    expect(registry.manifests.get('team/app:v1')?.bytes.equals(manifestBytes)).toBe(true);
  });

  it('re-serialises a manifest the source does not serve, and says so', async () => {
    const registry = memoryRegistry();
    const { source, manifestBytes } = memorySource({ indent: 3, serveManifest: false });
    const result = await pushImage(new RegistryClient({ fetch: registry.fetch }), source, 'localhost:5000/team/app:v1');
    const compact = Buffer.from(JSON.stringify(source.image.manifest));
    expect(result.manifestBytes).toBe('re-serialised');
    expect(result.manifestDigest).toBe(sha256(compact));
    expect(result.manifestDigest).not.toBe(sha256(manifestBytes));
  });

  it('pushes by digest only with the exact bytes', async () => {
    const registry = memoryRegistry();
    const exact = memorySource({ indent: 2 });
    const digest = exact.source.image.manifestDigest;
    const result = await pushImage(new RegistryClient({ fetch: registry.fetch }), exact.source, `localhost:5000/team/app@${digest}`);
    expect(result.manifestDigest).toBe(digest);
    expect(registry.requests.at(-1)).toBe(`PUT /v2/team/app/manifests/${digest}`);

    const inexact = memorySource({ indent: 2, serveManifest: false });
    const before = registry.requests.length;
    const error = await rejection(pushImage(new RegistryClient({ fetch: registry.fetch }), inexact.source, `localhost:5000/team/app@${digest}`));
    expect(error.message).toBe(`push localhost:5000/team/app@${digest}: pushing by digest needs the manifest's exact bytes, which the source does not serve (re-serialised they hash to ${sha256(JSON.stringify(inexact.source.image.manifest))}); push by tag instead`);
    expect(registry.requests.length).toBe(before);
  });

  it('refuses a digest that is not the image\'s', async () => {
    const registry = memoryRegistry();
    const { source } = memorySource();
    const other = sha256('other');
    const error = await rejection(pushImage(new RegistryClient({ fetch: registry.fetch }), source, `localhost:5000/team/app@${other}`));
    expect(error.message).toBe(`push localhost:5000/team/app@${other}: the image's manifest is ${source.image.manifestDigest}, not ${other}`);
    expect(registry.requests).toEqual([]);
  });
});
