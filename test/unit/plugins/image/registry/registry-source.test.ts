import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TargetPlatform } from '../../../../../src/plugins/image/image-source';
import { RegistryClient } from '../../../../../src/plugins/image/registry/registry-client';
import { chooseIndexEntry, openRegistryImage } from '../../../../../src/plugins/image/registry/registry-source';
import { imageDocumentValidators } from '../../../../../src/spec/image-validate';
import { MediaTypes, type Descriptor, type Platform } from '../../../../../src/spec/image-types';
import { memoryRegistry, sha256 } from './memory-registry';
import { rejection } from '../../../../helpers/rejection';

const AMD64: TargetPlatform = { os: 'linux', architecture: 'amd64' };
const entry = (name: string, platform?: Platform, mediaType: string = MediaTypes.manifest): Descriptor => ({
  mediaType, digest: sha256(name), size: 1, ...(platform ? { platform } : {}),
});

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}


describe('chooseIndexEntry', () => {
  const arm = (variant?: string): Platform => ({ os: 'linux', architecture: 'arm', ...(variant ? { variant } : {}) });

  it('picks the entry of the target platform', () => {
    const list = [entry('arm64', { os: 'linux', architecture: 'arm64' }), entry('amd64', { os: 'linux', architecture: 'amd64' }), entry('win', { os: 'windows', architecture: 'amd64' })];
    expect(chooseIndexEntry(list, AMD64, 'w')).toBe(list[1]);
  });

  it('prefers the same variant, then an entry without one, then (target without variant) any', () => {
    const v6 = entry('v6', arm('v6'));
    const v7 = entry('v7', arm('v7'));
    const plain = entry('plain', arm());
    expect(chooseIndexEntry([v6, plain, v7], { os: 'linux', architecture: 'arm', variant: 'v7' }, 'w')).toBe(v7);
    expect(chooseIndexEntry([v6, plain], { os: 'linux', architecture: 'arm', variant: 'v7' }, 'w')).toBe(plain);
    expect(chooseIndexEntry([v6, v7], { os: 'linux', architecture: 'arm' }, 'w')).toBe(v6);
    expect(() => chooseIndexEntry([v6], { os: 'linux', architecture: 'arm', variant: 'v7' }, 'w')).toThrow('w: no manifest for linux/arm/v7 (the index has linux/arm/v6)');
  });

  it('takes the first of equally good entries, and a lone entry without platform', () => {
    const a = entry('a', { os: 'linux', architecture: 'amd64' });
    const b = entry('b', { os: 'linux', architecture: 'amd64' });
    expect(chooseIndexEntry([a, b], AMD64, 'w')).toBe(a);
    const lone = entry('lone');
    expect(chooseIndexEntry([lone], AMD64, 'w')).toBe(lone);
  });

  it('ignores entries that are not image manifests or indexes (attestations keep their platform unknown)', () => {
    const attestation = entry('att', { os: 'unknown', architecture: 'unknown' });
    const blob = entry('blob', undefined, 'application/vnd.example+json');
    const image = entry('img', { os: 'linux', architecture: 'amd64' }, MediaTypes.dockerManifest);
    expect(chooseIndexEntry([blob, attestation, image], AMD64, 'w')).toBe(image);
    expect(() => chooseIndexEntry([blob], AMD64, 'w')).toThrow(/^w: the index lists no image manifests/);
    expect(() => chooseIndexEntry([entry('x'), entry('y')], AMD64, 'w')).toThrow('w: no manifest for linux/amd64 (the index has no platforms)');
  });
});

/** A Docker image (manifest list → manifest, indented as docker writes them) in a memory registry. */
function dockerImage(options: { diffIds?: number; layerType?: string; listSize?: (size: number) => number; manifestContentType?: string } = {}) {
  const registry = memoryRegistry();
  const layer = Buffer.from('pretend this is a gzipped tar');
  registry.blobs.set(sha256(layer), layer);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, container_config: {}, docker_version: '27.0.0',
    rootfs: { type: 'layers', diff_ids: Array.from({ length: options.diffIds ?? 1 }, (_, i) => sha256(`tar ${i}`)) },
  }, null, 2));
  registry.blobs.set(sha256(config), config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaTypes.dockerManifest,
    config: { mediaType: MediaTypes.dockerConfig, size: config.length, digest: sha256(config) },
    layers: [{ mediaType: options.layerType ?? MediaTypes.dockerLayerGzip, size: layer.length, digest: sha256(layer) }],
  }, null, 3));
  const manifestDigest = registry.putManifest('lib/app', 'amd64', manifest, options.manifestContentType ?? MediaTypes.dockerManifest);
  const list = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaTypes.dockerManifestList,
    manifests: [
      { mediaType: MediaTypes.dockerManifest, size: 7, digest: sha256('arm64'), platform: { architecture: 'arm64', os: 'linux' } },
      { mediaType: MediaTypes.dockerManifest, size: (options.listSize ?? ((s) => s))(manifest.length), digest: manifestDigest, platform: { architecture: 'amd64', os: 'linux' } },
    ],
  }, null, 3));
  const listDigest = registry.putManifest('lib/app', 'latest', list, MediaTypes.dockerManifestList);
  return { registry, client: new RegistryClient({ fetch: registry.fetch }), layer, config, manifest, manifestDigest, listDigest };
}

const options = { platform: AMD64, validators: imageDocumentValidators };

describe('openRegistryImage', () => {
  it('resolves a Docker manifest list to the platform\'s manifest, validated as it is', async () => {
    const world = dockerImage();
    const source = await openRegistryImage(world.client, 'localhost:5000/lib/app', options);
    expect(source.image).toMatchObject({
      manifestDigest: world.manifestDigest,
      configDigest: sha256(world.config),
      refName: 'localhost:5000/lib/app:latest',
      manifest: { mediaType: MediaTypes.dockerManifest, config: { mediaType: MediaTypes.dockerConfig } },
      config: { architecture: 'amd64', rootfs: { diff_ids: [sha256('tar 0')] } },
    });
    expect(world.registry.requests).toEqual([
      'GET /v2/lib/app/manifests/latest',
      `GET /v2/lib/app/manifests/${world.manifestDigest}`,
      `GET /v2/lib/app/blobs/${sha256(world.config)}`,
    ]);
    // The manifest's bytes are the registry's, indented as docker wrote them.
    expect(source.image.manifestBytes.equals(world.manifest)).toBe(true);
    // The manifest and config come from memory, byte for byte; layers from the registry.
    const manifest = await drain(source.openBlob({ mediaType: MediaTypes.dockerManifest, digest: world.manifestDigest, size: world.manifest.length }));
    expect(manifest.equals(world.manifest)).toBe(true);
    expect((await drain(source.openBlob(source.image.manifest.config))).equals(world.config)).toBe(true);
    expect(world.registry.requests).toHaveLength(3);
    const layer = source.image.manifest.layers[0] as Descriptor;
    expect((await drain(source.openBlob(layer))).equals(world.layer)).toBe(true);
    expect(world.registry.requests.at(-1)).toBe(`GET /v2/lib/app/blobs/${layer.digest}`);
    source.close();
    expect(() => source.openBlob(layer)).toThrow('localhost:5000/lib/app: the image source is closed');
  });

  it('opens a manifest by digest directly', async () => {
    const world = dockerImage();
    const source = await openRegistryImage(world.client, `localhost:5000/lib/app@${world.manifestDigest}`, options);
    expect(source.image.manifestDigest).toBe(world.manifestDigest);
    expect(source.image.refName).toBe(`localhost:5000/lib/app@${world.manifestDigest}`);
  });

  it('refuses a manifest whose size differs from the index descriptor', async () => {
    const world = dockerImage({ listSize: (size) => size + 1 });
    expect((await rejection(openRegistryImage(world.client, 'localhost:5000/lib/app', options))).message)
      .toBe(`localhost:5000/lib/app@${world.manifestDigest}: expected ${world.manifest.length + 1} bytes (the index's descriptor), got ${world.manifest.length}`);
  });

  it('refuses a Content-Type that contradicts the document', async () => {
    const world = dockerImage({ manifestContentType: MediaTypes.index });
    expect((await rejection(openRegistryImage(world.client, 'localhost:5000/lib/app', options))).message)
      .toBe(`localhost:5000/lib/app@${world.manifestDigest}: the registry sent it as "${MediaTypes.index}" but its mediaType is "${MediaTypes.dockerManifest}"`);
  });

  it('refuses layer types it cannot unpack and configs that do not match the layers', async () => {
    const foreign = dockerImage({ layerType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' });
    expect((await rejection(openRegistryImage(foreign.client, 'localhost:5000/lib/app', options))).message)
      .toMatch(new RegExp(`^localhost:5000/lib/app@${foreign.manifestDigest}: layers\\[0\\]\\.mediaType "application/vnd\\.docker\\.image\\.rootfs\\.foreign\\.diff\\.tar\\.gzip" is not a supported layer type`));
    const mismatch = dockerImage({ diffIds: 2 });
    expect((await rejection(openRegistryImage(mismatch.client, 'localhost:5000/lib/app', options))).message)
      .toBe(`localhost:5000/lib/app@${mismatch.manifestDigest}: lists 1 layers but its configuration's rootfs.diff_ids has 2`);
  });

  it('reports a platform the index does not have', async () => {
    const world = dockerImage();
    expect((await rejection(openRegistryImage(world.client, 'localhost:5000/lib/app', { ...options, platform: { os: 'linux', architecture: 'riscv64' } }))).message)
      .toBe(`localhost:5000/lib/app@${world.listDigest}: no manifest for linux/riscv64 (the index has linux/arm64, linux/amd64)`);
  });

  it('validates documents with the validators', async () => {
    const world = dockerImage();
    world.registry.putManifest('lib/app', 'broken', Buffer.from('{"schemaVersion":2,"layers":[]}'), MediaTypes.manifest);
    const error = await rejection(openRegistryImage(world.client, 'localhost:5000/lib/app:broken', options));
    expect(error.message).toMatch(/^localhost:5000\/lib\/app@sha256:[0-9a-f]{64}: /);
    const notJson = dockerImage();
    notJson.registry.putManifest('lib/app', 'text', Buffer.from('not json'), MediaTypes.manifest);
    expect((await rejection(openRegistryImage(notJson.client, 'localhost:5000/lib/app:text', options))).message)
      .toMatch(/^localhost:5000\/lib\/app@sha256:[0-9a-f]{64}: not valid JSON: /);
  });
});
