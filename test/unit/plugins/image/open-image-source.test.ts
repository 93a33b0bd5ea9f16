import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageDocumentValidators, TargetPlatform } from '../../../../src/plugins/image/image-source';
import { openImageSource } from '../../../../src/plugins/image/open-image-source';
import { MediaTypes, REF_NAME_ANNOTATION, type Descriptor } from '../../../../src/spec/image-types';

const validators: ImageDocumentValidators = {
  layout: (doc) => doc as never,
  index: (doc) => doc as never,
  manifest: (doc) => doc as never,
  config: (doc) => doc as never,
};
const platform: TargetPlatform = { os: 'linux', architecture: 'amd64' };

const hex = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');

async function drain(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

/** A tar of everything below `dir` (names relative to it, as `docker save` and `tar -C dir .` write them). */
async function tarOfDirectory(dir: string, gzip = false): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const rel of (fs.readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const full = path.join(dir, rel);
    if (fs.lstatSync(full).isDirectory()) pack.entry({ name: `./${rel}/`, type: 'directory' });
    else pack.entry({ name: `./${rel}` }, fs.readFileSync(full));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const tar = Buffer.concat(chunks);
  return gzip ? zlib.gzipSync(tar) : tar;
}

let work: string;
let tmpParent: string;
let src: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-open-image-'));
  tmpParent = path.join(work, 'tmp');
  src = path.join(work, 'src');
  fs.mkdirSync(tmpParent);
  fs.mkdirSync(src);
});
afterEach(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function write(rel: string, content: Buffer | string): void {
  fs.mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
  fs.writeFileSync(path.join(src, rel), content);
}

function blob(content: Buffer | string, mediaType: string): Descriptor {
  const bytes = Buffer.from(content);
  write(`blobs/sha256/${hex(bytes)}`, bytes);
  return { mediaType, digest: `sha256:${hex(bytes)}`, size: bytes.length };
}

/** An OCI layout in `src` holding one image with one layer; `annotations` go on its index.json entry. */
function ociLayout(annotations?: Record<string, string>): { manifest: Descriptor; layer: Descriptor; config: Descriptor } {
  write('oci-layout', '{"imageLayoutVersion":"1.0.0"}');
  const layer = blob('the layer', MediaTypes.layerTar);
  const config = blob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }), MediaTypes.config);
  const manifest = blob(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.manifest, config, layers: [layer] }), MediaTypes.manifest);
  write('index.json', JSON.stringify({ schemaVersion: 2, manifests: [annotations ? { ...manifest, annotations } : manifest] }));
  return { manifest, layer, config };
}

function dockerArchive(tag: string): void {
  const layer = 'old layer';
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${hex(layer)}`] } });
  write(`${hex(config)}.json`, config);
  write('abc/layer.tar', layer);
  write('manifest.json', JSON.stringify([{ Config: `${hex(config)}.json`, RepoTags: [tag], Layers: ['abc/layer.tar'] }]));
}

async function archiveOfSrc(gzip = false): Promise<string> {
  const file = path.join(work, gzip ? 'image.tar.gz' : 'image.tar');
  fs.writeFileSync(file, await tarOfDirectory(src, gzip));
  return file;
}

describe('openImageSource', () => {
  it('opens a layout directory in place', async () => {
    const { manifest, layer } = ociLayout({ [REF_NAME_ANNOTATION]: 'v1' });
    const source = await openImageSource(src, { tmpParent, validators, platform });
    expect(source.image.manifestDigest).toBe(manifest.digest);
    expect(source.image.refName).toBe('v1');
    expect(await drain(source.openBlob(layer))).toBe('the layer');
    source.close();
    expect(fs.readdirSync(tmpParent)).toEqual([]);
    expect(fs.existsSync(src)).toBe(true);
  });

  it('refuses a directory that is neither a layout nor a docker archive', async () => {
    write('something', 'x');
    await expect(openImageSource(src, { tmpParent, validators, platform })).rejects.toThrow(
      `${src}: not an OCI image layout (no oci-layout file) nor a docker archive`);
  });

  it('opens a tar of a layout, naming the archive in errors, and removes the extraction on close', async () => {
    const { layer } = ociLayout();
    const file = await archiveOfSrc();
    const source = await openImageSource(file, { tmpParent, validators, platform });
    expect(fs.readdirSync(tmpParent)).toHaveLength(1);
    expect(await drain(source.openBlob(layer))).toBe('the layer');
    expect(() => source.openBlob({ ...layer, digest: `sha256:${hex('other')}` })).toThrow(`${file}/blobs/sha256/${hex('other')}: missing`);
    source.close();
    source.close();
    expect(fs.readdirSync(tmpParent)).toEqual([]);
  });

  it('opens a gzip-compressed docker archive', async () => {
    dockerArchive('app:1');
    const file = await archiveOfSrc(true);
    const source = await openImageSource(file, { tmpParent, validators, platform, ref: 'app:1' });
    expect(source.image.refName).toBe('app:1');
    expect(source.image.manifest.layers[0]?.digest).toBe(`sha256:${hex('old layer')}`);
    expect(await drain(source.openBlob(source.image.manifest.layers[0] as Descriptor))).toBe('old layer');
    source.close();
    expect(fs.readdirSync(tmpParent)).toEqual([]);
  });

  it('reads a docker 25+ archive as its OCI layout, its name from manifest.json', async () => {
    const { manifest, config, layer } = ociLayout();
    write('manifest.json', JSON.stringify([{ Config: `blobs/sha256/${config.digest.slice(7)}`, RepoTags: ['app:2'], Layers: [`blobs/sha256/${layer.digest.slice(7)}`] }]));
    const file = await archiveOfSrc();
    const source = await openImageSource(file, { tmpParent, validators, platform });
    expect(source.image.manifestDigest).toBe(manifest.digest);
    expect(source.image.refName).toBe('app:2');
    source.close();
    // A ref only manifest.json knows still finds the image.
    const byTag = await openImageSource(file, { tmpParent, validators, platform, ref: 'docker.io/library/app:2' });
    expect(byTag.image.configDigest).toBe(config.digest);
    expect(byTag.image.refName).toBe('app:2');
    byTag.close();
    expect(fs.readdirSync(tmpParent)).toEqual([]);
  });

  it('prefers the ref annotation of the index over manifest.json', async () => {
    const { config, layer } = ociLayout({ [REF_NAME_ANNOTATION]: 'latest', 'io.containerd.image.name': 'docker.io/library/app:latest' });
    write('manifest.json', JSON.stringify([{ Config: `blobs/sha256/${config.digest.slice(7)}`, RepoTags: ['app:latest'], Layers: [`blobs/sha256/${layer.digest.slice(7)}`] }]));
    const source = await openImageSource(await archiveOfSrc(), { tmpParent, validators, platform, ref: 'app' });
    expect(source.image.refName).toBe('latest');
    source.close();
  });

  it('removes the extraction when the image in the archive is bad, or the archive holds no image', async () => {
    const { manifest } = ociLayout();
    fs.appendFileSync(path.join(src, 'blobs/sha256', manifest.digest.slice(7)), ' ');
    const file = await archiveOfSrc();
    await expect(openImageSource(file, { tmpParent, validators, platform })).rejects.toThrow(
      `${file}: manifest blob ${manifest.digest}: expected ${manifest.size} bytes, got ${manifest.size + 1}`);
    expect(fs.readdirSync(tmpParent)).toEqual([]);

    fs.rmSync(src, { recursive: true });
    write('readme', 'nothing');
    const other = await archiveOfSrc();
    await expect(openImageSource(other, { tmpParent, validators, platform })).rejects.toThrow(
      `${other}: not an OCI image layout (no oci-layout file) nor a docker archive`);
    expect(fs.readdirSync(tmpParent)).toEqual([]);
  });

  it('names a missing source', async () => {
    const missing = path.join(work, 'missing.tar');
    await expect(openImageSource(missing, { tmpParent, validators, platform })).rejects.toThrow(new RegExp(`^${missing}: cannot open the image: `));
  });
});
