import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { ExecutionConfig } from '../../src/spec/image-types';
import { buildTar, type TarEntrySpec } from './tar-build';

/**
 * Images the tests build themselves: layers from entry lists, written as an OCI image layout (a directory, or
 * a tar of one) or as a `docker save` archive.
 */

export interface LayerSpec {
  entries: TarEntrySpec[];
  compression?: 'none' | 'gzip' | 'zstd';
}

export interface TestImage {
  layers: LayerSpec[];
  config?: ExecutionConfig;
  architecture?: string;
}

export interface BuiltImage {
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
  diffIds: string[];
}

const LAYER_MEDIA_TYPES = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A static busybox with the applets the tests call, plus /etc/passwd and /etc/group. */
export function busyboxLayer(extra: TarEntrySpec[] = []): LayerSpec {
  const applets = ['sh', 'cat', 'ls', 'stat', 'id', 'echo', 'sleep', 'test', 'readlink', 'touch', 'wc', 'find', 'mkdir', 'rm'];
  return {
    entries: [
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', content: fs.readFileSync('/bin/busybox'), mode: 0o755 },
      ...applets.map((applet): TarEntrySpec => ({ name: `bin/${applet}`, type: 'symlink', linkname: 'busybox' })),
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' },
      { name: 'etc/group', content: 'root:x:0:\napp:x:1000:\nstaff:x:50:app\n' },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
      ...['proc/', 'sys/', 'dev/', 'root/', 'home/app/'].map((name): TarEntrySpec => ({ name, type: 'directory' })),
      ...extra,
    ],
  };
}

function compress(tar: Buffer, compression: LayerSpec['compression']): Buffer {
  if (compression === 'gzip') return zlib.gzipSync(tar);
  if (compression === 'zstd') return zlib.zstdCompressSync(tar);
  return tar;
}

function writeBlob(layout: string, data: Buffer): string {
  const digest = sha256(data);
  const dir = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, digest.slice('sha256:'.length)), data);
  return digest;
}

/** The image's layers, as stored (compressed) and as tars (for the DiffIDs). */
async function layerBlobs(image: TestImage): Promise<Array<{ blob: Buffer; tar: Buffer; mediaType: string }>> {
  const out = [];
  for (const layer of image.layers) {
    const tar = await buildTar(layer.entries);
    const compression = layer.compression ?? 'none';
    out.push({ blob: compress(tar, compression), tar, mediaType: LAYER_MEDIA_TYPES[compression] });
  }
  return out;
}

function imageConfig(image: TestImage, diffIds: string[]): Buffer {
  return Buffer.from(JSON.stringify({
    created: '2026-01-01T00:00:00Z',
    architecture: image.architecture ?? (process.arch === 'arm64' ? 'arm64' : 'amd64'),
    os: 'linux',
    config: image.config ?? { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
  }));
}

/** Writes an OCI image layout into `dir` (created), the image named `refName` in index.json. */
export async function writeOciLayout(dir: string, image: TestImage, refName = 'test:latest'): Promise<BuiltImage> {
  fs.mkdirSync(dir, { recursive: true });
  const layers = await layerBlobs(image);
  const diffIds = layers.map((l) => sha256(l.tar));
  const layerDigests = layers.map((l) => writeBlob(dir, l.blob));
  const config = imageConfig(image, diffIds);
  const configDigest = writeBlob(dir, config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layers.map((l, i) => ({ mediaType: l.mediaType, digest: layerDigests[i], size: l.blob.length })),
  }));
  const manifestDigest = writeBlob(dir, manifest);
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': refName },
    }],
  }));
  return { manifestDigest, configDigest, layerDigests, diffIds };
}

/** Writes a `docker save` archive (the classic layout: <id>/layer.tar, <config hex>.json, manifest.json) as a tar. */
export async function writeDockerArchive(tarPath: string, image: TestImage, tag = 'test:latest'): Promise<BuiltImage> {
  const layers = await layerBlobs(image);
  const diffIds = layers.map((l) => sha256(l.tar));
  const config = imageConfig(image, diffIds);
  const configDigest = sha256(config);
  const entries: TarEntrySpec[] = [];
  const layerPaths = layers.map((l, i) => {
    const id = sha256(`${i}:${diffIds[i]}`).slice('sha256:'.length);
    entries.push({ name: `${id}/`, type: 'directory' }, { name: `${id}/layer.tar`, content: l.tar });
    return `${id}/layer.tar`;
  });
  entries.push(
    { name: `${configDigest.slice('sha256:'.length)}.json`, content: config },
    { name: 'manifest.json', content: JSON.stringify([{ Config: `${configDigest.slice('sha256:'.length)}.json`, RepoTags: [tag], Layers: layerPaths }]) },
  );
  fs.writeFileSync(tarPath, await buildTar(entries));
  return { manifestDigest: '', configDigest, layerDigests: layers.map((l) => sha256(l.tar)), diffIds };
}

/** A tar of every regular file and directory under `dir`, names relative to it. */
export async function tarDirectory(dir: string, tarPath: string): Promise<void> {
  const entries: TarEntrySpec[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const relative = rel === '' ? name : `${rel}/${name}`;
      const stat = fs.statSync(path.join(dir, relative));
      if (stat.isDirectory()) {
        entries.push({ name: `${relative}/`, type: 'directory' });
        walk(relative);
      } else {
        entries.push({ name: relative, content: fs.readFileSync(path.join(dir, relative)) });
      }
    }
  };
  walk('');
  fs.writeFileSync(tarPath, await buildTar(entries));
}
