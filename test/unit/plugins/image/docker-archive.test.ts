import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../src/errors';
import { canonicalJson, digestInName, openDockerArchive } from '../../../../src/plugins/image/docker-archive';
import type { ImageDocumentValidators } from '../../../../src/plugins/image/image-source';
import { MediaTypes, type Descriptor, type ImageConfig } from '../../../../src/spec/image-types';

const validators: ImageDocumentValidators = {
  layout: (doc) => doc as never,
  index: (doc) => doc as never,
  manifest: (doc) => doc as never,
  config(doc, where) {
    if (!Array.isArray((doc as ImageConfig).rootfs?.diff_ids)) throw new RuntimeError('image', `${where}: /rootfs is missing`);
    return doc as ImageConfig;
  },
};

const hex = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let work: string;
let dir: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-docker-archive-'));
  dir = path.join(work, 'archive');
  fs.mkdirSync(dir);
});
afterEach(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function write(rel: string, content: Buffer | string): void {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), content);
}

function configFor(diffs: (Buffer | string)[]): string {
  return JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffs.map((d) => `sha256:${hex(d)}`) } });
}

/** docker ≤ 24: `<id>.json` config, `<id>/layer.tar` uncompressed layers. Returns the config's hex. */
function oldStyle(tags: string[], layers: string[], extra: { diffs?: string[] } = {}): string {
  const config = configFor(extra.diffs ?? layers);
  write(`${hex(config)}.json`, config);
  const paths = layers.map((content, i) => {
    const id = hex(`v1-${i}-${content}`);
    write(`${id}/layer.tar`, content);
    write(`${id}/VERSION`, '1.0');
    return `${id}/layer.tar`;
  });
  const manifest = fs.existsSync(path.join(dir, 'manifest.json')) ? JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as unknown[] : [];
  manifest.push({ Config: `${hex(config)}.json`, RepoTags: tags, Layers: paths });
  write('manifest.json', JSON.stringify(manifest));
  return hex(config);
}

describe('openDockerArchive', () => {
  it('reads an old-style archive: hashes the layers and derives an OCI manifest', async () => {
    const configHex = oldStyle(['alpine:3'], ['layer one', 'layer two']);
    const source = await openDockerArchive(dir, { validators });
    const { image } = source;
    expect(image.refName).toBe('alpine:3');
    expect(image.configDigest).toBe(`sha256:${configHex}`);
    const configSize = fs.statSync(path.join(dir, `${configHex}.json`)).size;
    expect(image.manifest).toEqual({
      schemaVersion: 2,
      mediaType: MediaTypes.manifest,
      config: { mediaType: MediaTypes.config, digest: `sha256:${configHex}`, size: configSize },
      layers: [
        { mediaType: MediaTypes.layerTar, digest: `sha256:${hex('layer one')}`, size: 9 },
        { mediaType: MediaTypes.layerTar, digest: `sha256:${hex('layer two')}`, size: 9 },
      ],
    });
    expect(image.manifestDigest).toBe(`sha256:${hex(canonicalJson(image.manifest))}`);
    expect(image.manifestBytes.toString()).toBe(canonicalJson(image.manifest));
    expect(canonicalJson(image.manifest)).toMatch(/^\{"config":\{"digest":/);
    expect((await drain(source.openBlob(image.manifest.layers[1] as Descriptor))).toString()).toBe('layer two');
    expect((await drain(source.openBlob(image.manifest.config))).length).toBe(configSize);
    expect(() => source.openBlob({ mediaType: MediaTypes.layerTar, digest: `sha256:${hex('nope')}`, size: 4 })).toThrow(
      `${dir}: no blob sha256:${hex('nope')} in the archive (it has the configuration and 2 layers)`);
    source.close();
    source.close();
  });

  it('reads a new-style archive with blobs/sha256 paths and compressed layers', async () => {
    const plain = Buffer.from('plain layer');
    const gzipped = zlib.gzipSync(Buffer.from('gzip layer'));
    const zstded = zlib.zstdCompressSync(Buffer.from('zstd layer'));
    const config = configFor([plain, 'gzip layer', 'zstd layer']);
    write(`blobs/sha256/${hex(config)}`, config);
    for (const blob of [plain, gzipped, zstded]) write(`blobs/sha256/${hex(blob)}`, blob);
    write('manifest.json', JSON.stringify([{
      Config: `blobs/sha256/${hex(config)}`, RepoTags: ['example.com/app:1'], Layers: [plain, gzipped, zstded].map((b) => `./blobs/sha256/${hex(b)}`),
    }]));
    const source = await openDockerArchive(dir, { validators, ref: 'example.com/app:1' });
    expect(source.image.manifest.layers.map((l) => l.mediaType)).toEqual([MediaTypes.layerTar, MediaTypes.layerGzip, MediaTypes.layerZstd]);
    expect(source.image.manifest.layers.map((l) => l.digest)).toEqual([plain, gzipped, zstded].map((b) => `sha256:${hex(b)}`));
    expect((await drain(source.openBlob(source.image.manifest.layers[1] as Descriptor))).equals(gzipped)).toBe(true);
    source.close();
  });

  it('picks an image by RepoTag (in docker\'s normalised form) and lists the tags otherwise', async () => {
    oldStyle(['alpine:3'], ['a']);
    const second = oldStyle(['busybox:latest', 'busybox:1'], ['b']);
    await expect(openDockerArchive(dir, { validators })).rejects.toThrow(
      `${dir}/manifest.json: holds 2 images (tags: "alpine:3", "busybox:latest", "busybox:1"); name one with a ref`);
    const source = await openDockerArchive(dir, { validators, ref: 'docker.io/library/busybox' });
    expect(source.image.configDigest).toBe(`sha256:${second}`);
    expect(source.image.refName).toBe('busybox:latest');
    source.close();
    await expect(openDockerArchive(dir, { validators, ref: 'nginx' })).rejects.toThrow(`${dir}/manifest.json: no image tagged "nginx" (tags: `);
  });

  it('refuses a layer count other than the number of diff_ids', async () => {
    oldStyle(['a:1'], ['one', 'two'], { diffs: ['one'] });
    await expect(openDockerArchive(dir, { validators })).rejects.toThrow(/the image lists 2 layers but its configuration [0-9a-f]{64}\.json has 1 rootfs.diff_ids/);
  });

  it('refuses a config whose name says another digest', async () => {
    const configHex = oldStyle(['a:1'], ['one']);
    fs.appendFileSync(path.join(dir, `${configHex}.json`), ' ');
    const actual = hex(fs.readFileSync(path.join(dir, `${configHex}.json`)));
    await expect(openDockerArchive(dir, { validators })).rejects.toThrow(
      `${dir}/${configHex}.json: digest mismatch: the content hashes to sha256:${actual}, the name says sha256:${configHex}`);
  });

  it('refuses an uncompressed layer that is not the diff its config lists', async () => {
    oldStyle(['a:1'], ['one'], { diffs: ['other'] });
    await expect(openDockerArchive(dir, { validators })).rejects.toThrow(
      new RegExp(`layer.tar: the layer hashes to sha256:${hex('one')} but [0-9a-f]{64}\\.json rootfs.diff_ids\\[0\\] is "sha256:${hex('other')}"`));
  });

  it('refuses a layer file that is a symlink and paths leaving the archive', async () => {
    oldStyle(['a:1'], ['one']);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    const layer = (manifest[0] as { Layers: string[] }).Layers[0] as string;
    fs.renameSync(path.join(dir, layer), path.join(work, 'outside.tar'));
    fs.symlinkSync(path.join(work, 'outside.tar'), path.join(dir, layer));
    await expect(openDockerArchive(dir, { validators })).rejects.toThrow(`${dir}/${layer}: is a symbolic link (tsrun follows no links inside an image)`);

    (manifest[0] as { Layers: string[] }).Layers = ['../outside.tar'];
    write('manifest.json', JSON.stringify(manifest));
    await expect(openDockerArchive(dir, { validators })).rejects.toThrow(`${dir}/manifest.json: [0].Layers[0]: "../outside.tar" is not a relative path inside the image`);
  });

  it('refuses a malformed manifest.json', async () => {
    write('manifest.json', '{"Config":"x"}');
    await expect(openDockerArchive(dir, { validators })).rejects.toThrow(`${dir}/manifest.json: {"Config":"x"} is not a list of images`);
    write('manifest.json', '[{"Config":"x.json","Layers":"a"}]');
    await expect(openDockerArchive(dir, { validators })).rejects.toThrow(`${dir}/manifest.json: [0].Layers "a" is not a list of paths`);
  });

  it('knows which names encode a digest', () => {
    const h = 'a'.repeat(64);
    expect(digestInName(`${h}.json`)).toBe(`sha256:${h}`);
    expect(digestInName(`blobs/sha256/${h}`)).toBe(`sha256:${h}`);
    expect(digestInName(`${h}/layer.tar`)).toBeUndefined();
  });
});
