import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../../src/errors';
import { verifyBlobStream } from '../../../../../src/plugins/image/digest';
import type { ImageSource } from '../../../../../src/plugins/image/image-source';
import { pushImage } from '../../../../../src/plugins/image/registry/push';
import { RegistryClient } from '../../../../../src/plugins/image/registry/registry-client';
import { MediaTypes, type ImageConfig, type ImageManifest } from '../../../../../src/spec/image-types';
import { memoryRegistry, sha256 } from './memory-registry';
import { rejection } from '../../../../helpers/rejection';

/**
 * An ImageSource over blobs in memory, its manifest serialised with `indent`; `lie` hands out other manifest
 * bytes than those its digest names.
 */
function memorySource(options: { indent?: number; lie?: boolean } = {}) {
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
  const handedOut = options.lie === true ? Buffer.from(JSON.stringify(manifest)) : manifestBytes;
  const source: ImageSource = {
    image: { manifestDigest: sha256(manifestBytes), manifestBytes: handedOut, manifest, config, configDigest: sha256(configBytes) },
    openBlob(descriptor) {
      const blob = blobs.get(descriptor.digest);
      if (blob === undefined) throw new RuntimeError('image', `blob ${descriptor.digest}: missing`);
      return verifyBlobStream(Readable.from([blob]), descriptor);
    },
    close: () => undefined,
  };
  return { source, manifestBytes, layers, configBytes };
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
      uploaded: [sha256(layers[1] as Buffer), sha256(configBytes)],
      skipped: [sha256(layers[0] as Buffer)],
    });
    expect(registry.manifests.get('team/app:v1')).toEqual({ bytes: manifestBytes, mediaType: MediaTypes.manifest });
    expect(registry.requests.filter((r) => r.startsWith('PUT /v2/team/app/manifests'))).toEqual(['PUT /v2/team/app/manifests/v1']);
  });

  it('pushes the source\'s manifest bytes as they are, however they are indented', async () => {
    const registry = memoryRegistry();
    const { source, manifestBytes } = memorySource({ indent: 3 });
    expect(manifestBytes.equals(Buffer.from(JSON.stringify(source.image.manifest)))).toBe(false);
    const result = await pushImage(new RegistryClient({ fetch: registry.fetch }), source, 'localhost:5000/team/app:v1');
    expect(result.manifestDigest).toBe(sha256(manifestBytes));
    expect(registry.manifests.get('team/app:v1')?.bytes.equals(manifestBytes)).toBe(true);
  });

  it('pushes by digest', async () => {
    const registry = memoryRegistry();
    const { source, manifestBytes } = memorySource({ indent: 2 });
    const digest = source.image.manifestDigest;
    const result = await pushImage(new RegistryClient({ fetch: registry.fetch }), source, `localhost:5000/team/app@${digest}`);
    expect(result.manifestDigest).toBe(digest);
    expect(registry.requests.at(-1)).toBe(`PUT /v2/team/app/manifests/${digest}`);
    expect(registry.manifests.get(`team/app@${digest}`)?.bytes.equals(manifestBytes)).toBe(true);
  });

  it('refuses manifest bytes that are not the ones the digest names, before uploading anything', async () => {
    const registry = memoryRegistry();
    const { source } = memorySource({ indent: 2, lie: true });
    const error = await rejection(pushImage(new RegistryClient({ fetch: registry.fetch }), source, 'localhost:5000/team/app:v1'));
    expect(error.message).toBe(`push localhost:5000/team/app:v1: the source's manifest bytes hash to ${sha256(source.image.manifestBytes)}, not to the image's manifest digest ${source.image.manifestDigest}`);
    expect(registry.requests).toEqual([]);
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
