import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../src/errors';
import type { ImageDocumentValidators, TargetPlatform } from '../../../../src/plugins/image/image-source';
import { hostPlatform, openOciLayout } from '../../../../src/plugins/image/oci-layout';
import { MediaTypes, REF_NAME_ANNOTATION, type Descriptor, type ImageConfig, type ImageIndex, type ImageLayoutFile, type ImageManifest, type Platform } from '../../../../src/spec/image-types';

const AMD64: TargetPlatform = { os: 'linux', architecture: 'amd64' };

/** Stand-in for the schema validators: checks a field or two and casts. */
const validators: ImageDocumentValidators = {
  layout: (doc) => doc as ImageLayoutFile,
  index(doc, where) {
    if (!Array.isArray((doc as ImageIndex).manifests)) throw new RuntimeError('image', `${where}: /manifests is missing`);
    return doc as ImageIndex;
  },
  manifest(doc, where) {
    if (typeof (doc as ImageManifest).config !== 'object') throw new RuntimeError('image', `${where}: /config is missing`);
    return doc as ImageManifest;
  },
  config(doc, where) {
    if (!Array.isArray((doc as ImageConfig).rootfs?.diff_ids)) throw new RuntimeError('image', `${where}: /rootfs is missing`);
    return doc as ImageConfig;
  },
};

const sha256 = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function drain(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

/** Writes an OCI image layout: blobs, manifests, index.json. */
class Layout {
  constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  }

  blobPath(digest: string): string {
    return path.join(this.dir, 'blobs', ...digest.split(':'));
  }

  blob(content: Buffer | string, mediaType: string = MediaTypes.layerTar): Descriptor {
    const bytes = Buffer.from(content);
    const digest = sha256(bytes);
    fs.writeFileSync(this.blobPath(digest), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  json(value: unknown, mediaType: string): Descriptor {
    return this.blob(JSON.stringify(value), mediaType);
  }

  /** An image (config + layers + manifest); returns the manifest's descriptor. */
  image(layers: string[], extra: { architecture?: string; diffIds?: number; manifestType?: string } = {}): { manifest: Descriptor; layers: Descriptor[]; config: Descriptor } {
    const layerDescriptors = layers.map((content) => this.blob(content));
    const config = this.json({
      architecture: extra.architecture ?? 'amd64', os: 'linux',
      rootfs: { type: 'layers', diff_ids: layerDescriptors.slice(0, extra.diffIds ?? layers.length).map((l) => l.digest) },
    }, MediaTypes.config);
    const manifest = this.json({ schemaVersion: 2, mediaType: MediaTypes.manifest, config, layers: layerDescriptors }, extra.manifestType ?? MediaTypes.manifest);
    return { manifest, layers: layerDescriptors, config };
  }

  index(manifests: Descriptor[]): void {
    fs.writeFileSync(path.join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.index, manifests }));
  }
}

const withRef = (d: Descriptor, ref: string): Descriptor => ({ ...d, annotations: { [REF_NAME_ANNOTATION]: ref } });
const withPlatform = (d: Descriptor, platform: Platform): Descriptor => ({ ...d, platform });

let work: string;
let layout: Layout;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-oci-layout-'));
  layout = new Layout(path.join(work, 'layout'));
});
afterEach(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

const open = (ref?: string, platform: TargetPlatform = AMD64) => openOciLayout(layout.dir, { validators, platform, ...(ref === undefined ? {} : { ref }) });

describe('openOciLayout', () => {
  it('resolves the only manifest and serves its layers as verified streams', async () => {
    const { manifest, layers, config } = layout.image(['layer one', 'layer two']);
    layout.index([manifest]);
    const source = open();
    expect(source.image.manifestDigest).toBe(manifest.digest);
    expect(source.image.manifestBytes.equals(fs.readFileSync(layout.blobPath(manifest.digest)))).toBe(true);
    expect(source.image.configDigest).toBe(config.digest);
    expect(source.image.refName).toBeUndefined();
    expect(source.image.manifest.layers).toEqual(layers);
    expect(source.image.config.rootfs.diff_ids).toHaveLength(2);
    expect(await drain(source.openBlob(layers[1] as Descriptor))).toBe('layer two');
    source.close();
    source.close();
    expect(() => source.openBlob(layers[0] as Descriptor)).toThrow(/the image source is closed/);
  });

  it('accepts Docker schema-2 media types', () => {
    const { manifest } = layout.image(['a'], { manifestType: MediaTypes.dockerManifest });
    layout.index([manifest]);
    const source = open();
    expect(source.image.manifestDigest).toBe(manifest.digest);
    source.close();
  });

  it('picks an image by ref, and lists the refs when none is given', () => {
    const one = layout.image(['one']).manifest;
    const two = layout.image(['two']).manifest;
    layout.index([withRef(one, 'v1'), withRef(two, 'v2')]);
    expect(() => open()).toThrow(`${layout.dir}/index.json: holds 2 images ("v1", "v2"); name one with a ref`);
    const source = open('v2');
    expect(source.image.manifestDigest).toBe(two.digest);
    expect(source.image.refName).toBe('v2');
    source.close();
    expect(() => open('v3')).toThrow(`${layout.dir}/index.json: no image with ref "v3" (refs: "v1", "v2")`);
  });

  it('accepts a manifest digest as the ref', () => {
    const one = layout.image(['one']).manifest;
    const two = layout.image(['two']).manifest;
    layout.index([withRef(one, 'v1'), withRef(two, 'v2')]);
    const source = open(two.digest);
    expect(source.image.manifestDigest).toBe(two.digest);
    expect(source.image.refName).toBe('v2');
    source.close();
  });

  it('matches a docker name against io.containerd.image.name in its normalised form', () => {
    const one = layout.image(['one']).manifest;
    layout.index([{ ...one, annotations: { 'io.containerd.image.name': 'docker.io/library/alpine:3', [REF_NAME_ANNOTATION]: '3' } }]);
    const source = open('alpine:3');
    expect(source.image.refName).toBe('3');
    source.close();
  });

  it('follows a nested index and selects the manifest for the platform', () => {
    const amd = layout.image(['amd'], { architecture: 'amd64' }).manifest;
    const arm = layout.image(['arm'], { architecture: 'arm64' }).manifest;
    const attestation = layout.image(['att']).manifest;
    const nested = layout.json({
      schemaVersion: 2, mediaType: MediaTypes.index,
      manifests: [
        withPlatform(amd, { os: 'linux', architecture: 'amd64' }),
        withPlatform(arm, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
        withPlatform(attestation, { os: 'unknown', architecture: 'unknown' }),
      ],
    }, MediaTypes.index);
    layout.index([withRef(nested, 'multi')]);
    const a = open();
    expect(a.image.manifestDigest).toBe(amd.digest);
    expect(a.image.refName).toBe('multi');
    a.close();
    const b = open('multi', { os: 'linux', architecture: 'arm64' });
    expect(b.image.manifestDigest).toBe(arm.digest);
    b.close();
    const c = open(arm.digest, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(c.image.manifestDigest).toBe(arm.digest);
    c.close();
    expect(() => open(undefined, { os: 'linux', architecture: 's390x' })).toThrow(
      `${layout.dir}/index.json: no manifest for linux/s390x (the index has linux/amd64, linux/arm64/v8, unknown/unknown)`);
  });

  it('selects by platform among the entries of index.json', () => {
    const amd = layout.image(['amd']).manifest;
    const arm = layout.image(['arm'], { architecture: 'arm64' }).manifest;
    layout.index([withPlatform(arm, { os: 'linux', architecture: 'arm64' }), withPlatform(amd, { os: 'linux', architecture: 'amd64' })]);
    const source = open(undefined, hostPlatform('x64'));
    expect(source.image.manifestDigest).toBe(amd.digest);
    source.close();
  });

  it('refuses a nested index whose bytes do not match its digest', () => {
    const amd = layout.image(['amd']).manifest;
    const nested = layout.json({ schemaVersion: 2, manifests: [amd] }, MediaTypes.index);
    fs.writeFileSync(layout.blobPath(nested.digest), JSON.stringify({ schemaVersion: 2, manifests: [amd] }).replace('2', '3'));
    layout.index([nested]);
    expect(() => open()).toThrow(`${layout.dir}: index blob ${nested.digest}: digest mismatch: the content hashes to `);
  });

  it('refuses a manifest whose digest or size does not match', () => {
    const { manifest } = layout.image(['one']);
    layout.index([manifest]);
    const file = layout.blobPath(manifest.digest);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 2] = 0x20; // same size, other content
    fs.writeFileSync(file, bytes);
    expect(() => open()).toThrow(`${layout.dir}: manifest blob ${manifest.digest}: digest mismatch: the content hashes to ${sha256(bytes)}`);
    layout.index([{ ...manifest, size: manifest.size + 1 }]);
    expect(() => open()).toThrow(`${layout.dir}: manifest blob ${manifest.digest}: expected ${manifest.size + 1} bytes, got ${manifest.size}`);
  });

  it('refuses a config whose digest does not match', () => {
    const { manifest, config } = layout.image(['one']);
    layout.index([manifest]);
    fs.appendFileSync(layout.blobPath(config.digest), ' ');
    expect(() => open()).toThrow(`${layout.dir}: config blob ${config.digest}: expected ${config.size} bytes, got ${config.size + 1}`);
  });

  it('fails a layer stream that is shorter, longer or other than its descriptor says', async () => {
    const { manifest, layers } = layout.image(['0123456789']);
    layout.index([manifest]);
    const source = open();
    const layer = layers[0] as Descriptor;
    await expect(drain(source.openBlob({ ...layer, size: 12 }))).rejects.toThrow(`blob ${layer.digest}: expected 12 bytes, got 10`);
    await expect(drain(source.openBlob({ ...layer, size: 4 }))).rejects.toThrow(`blob ${layer.digest}: expected 4 bytes, got at least 10`);
    fs.writeFileSync(layout.blobPath(layer.digest), '0123456788');
    await expect(drain(source.openBlob(layer))).rejects.toThrow(`blob ${layer.digest}: digest mismatch: the content hashes to ${sha256('0123456788')}`);
    source.close();
  });

  it('refuses a layer blob that is a symlink, even to a good copy inside the layout', () => {
    const { manifest, layers } = layout.image(['content']);
    layout.index([manifest]);
    const layer = layers[0] as Descriptor;
    const file = layout.blobPath(layer.digest);
    fs.renameSync(file, path.join(layout.dir, 'elsewhere'));
    fs.symlinkSync('../../elsewhere', file);
    const source = open();
    expect(() => source.openBlob(layer)).toThrow(`${layout.dir}/blobs/sha256/${layer.digest.slice(7)}: is a symbolic link (tsrun follows no links inside an image)`);
    source.close();
  });

  it('refuses blobs reached through a symlinked directory', () => {
    const { manifest } = layout.image(['content']);
    layout.index([manifest]);
    fs.renameSync(path.join(layout.dir, 'blobs'), path.join(work, 'blobs-outside'));
    fs.symlinkSync(path.join(work, 'blobs-outside'), path.join(layout.dir, 'blobs'));
    expect(() => open()).toThrow(`${layout.dir}/blobs: is a symbolic link (tsrun follows no links inside an image)`);
  });

  it('refuses an index.json that is a symlink', () => {
    const { manifest } = layout.image(['content']);
    layout.index([manifest]);
    fs.renameSync(path.join(layout.dir, 'index.json'), path.join(work, 'index.json'));
    fs.symlinkSync(path.join(work, 'index.json'), path.join(layout.dir, 'index.json'));
    expect(() => open()).toThrow(/index.json: is a symbolic link/);
  });

  it('names a missing blob', () => {
    const { manifest, layers } = layout.image(['content']);
    layout.index([manifest]);
    const source = open();
    fs.rmSync(layout.blobPath((layers[0] as Descriptor).digest));
    expect(() => source.openBlob(layers[0] as Descriptor)).toThrow(`${layout.dir}/blobs/sha256/${(layers[0] as Descriptor).digest.slice(7)}: missing`);
    source.close();
    fs.rmSync(layout.blobPath(manifest.digest));
    expect(() => open()).toThrow(`${layout.dir}/blobs/sha256/${manifest.digest.slice(7)}: missing`);
  });

  it('refuses unknown digest algorithms and uppercase hex', () => {
    const { manifest, layers } = layout.image(['content']);
    layout.index([{ ...manifest, digest: manifest.digest.toUpperCase().replace('SHA256', 'sha256') }]);
    expect(() => open()).toThrow(/digest "sha256:[0-9A-F]+" must have 64 lowercase hex digits after "sha256:"/);
    layout.index([manifest]);
    const source = open();
    expect(() => source.openBlob({ ...(layers[0] as Descriptor), digest: `md5:${'0'.repeat(32)}` })).toThrow(/uses the unsupported algorithm "md5" \(expected sha256 or sha512\)/);
    source.close();
  });

  it('refuses an unknown manifest media type, a non-image config and a diff_ids count mismatch', () => {
    const artifact = layout.image(['content']).manifest;
    layout.index([{ ...artifact, mediaType: 'application/vnd.example.thing+json' }]);
    expect(() => open()).toThrow(`${layout.dir}: manifest ${artifact.digest}: media type "application/vnd.example.thing+json" is not an image manifest`);

    const { manifest } = layout.image(['a', 'b'], { diffIds: 1 });
    layout.index([manifest]);
    expect(() => open()).toThrow(`${layout.blobPath(manifest.digest)}: lists 2 layers but its configuration's rootfs.diff_ids has 1`);

    const config = layout.json({ anything: true }, 'application/vnd.example.config+json');
    const odd = layout.json({ schemaVersion: 2, config, layers: [] }, MediaTypes.manifest);
    layout.index([odd]);
    expect(() => open()).toThrow(/config.mediaType "application\/vnd.example.config\+json" is not an image configuration/);
  });

  it('refuses a layout of another version and an index without manifests', () => {
    layout.index([]);
    expect(() => open()).toThrow(`${layout.dir}/index.json: lists no manifests`);
    fs.writeFileSync(path.join(layout.dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    expect(() => open()).toThrow(`${layout.dir}/oci-layout: imageLayoutVersion "2.0.0" is not supported (expected "1.0.0")`);
  });

  it('passes the file name to the validators', () => {
    fs.writeFileSync(path.join(layout.dir, 'index.json'), '{"schemaVersion":2}');
    expect(() => open()).toThrow(`${layout.dir}/index.json: /manifests is missing`);
    fs.writeFileSync(path.join(layout.dir, 'index.json'), '{');
    expect(() => open()).toThrow(new RegExp(`^${layout.dir}/index.json: not valid JSON`));
  });

  it('leaves no descriptor open after a failure', () => {
    layout.index([]);
    const before = fs.readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 5; i++) expect(() => open()).toThrow();
    expect(fs.readdirSync('/proc/self/fd').length).toBe(before);
  });
});

describe('hostPlatform', () => {
  it('names node architectures as OCI does', () => {
    expect(hostPlatform('x64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(hostPlatform('arm64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(hostPlatform('ia32')).toEqual({ os: 'linux', architecture: '386' });
  });
});
