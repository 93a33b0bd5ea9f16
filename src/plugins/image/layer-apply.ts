import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';
import { RuntimeError } from '../../errors';
import { MediaTypes } from '../../spec/image-types';
import { classifyEntry, hasPaxXattrs, type TarHeader } from './layer-entry';
import { paxRecordsBefore, StreamWindow } from './pax-records';
import type { RootfsWriter } from './rootfs-writer';

/**
 * Applies one layer blob to a tree: decompresses it as its media type says, hashes the uncompressed tar (the
 * layer's DiffID, which the image config lists and the caller compares), and hands each entry to the writer.
 * A failure leaves the tree half-written: the caller removes it.
 */

export type LayerCompression = 'none' | 'gzip' | 'zstd';

const COMPRESSION_BY_MEDIA_TYPE: ReadonlyMap<string, LayerCompression> = new Map([
  [MediaTypes.layerTar, 'none'],
  [MediaTypes.layerGzip, 'gzip'],
  [MediaTypes.layerZstd, 'zstd'],
  [MediaTypes.dockerLayerTar, 'none'],
  [MediaTypes.dockerLayerGzip, 'gzip'],
  // The "non-distributable" variants (deprecated, still valid) are the same bytes.
  ['application/vnd.oci.image.layer.nondistributable.v1.tar', 'none'],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'gzip'],
  ['application/vnd.oci.image.layer.nondistributable.v1.tar+zstd', 'zstd'],
  ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'gzip'],
]);

/** How a layer of this media type is compressed; a media type that is not a layer is an error. */
export function layerCompression(mediaType: string, label: string): LayerCompression {
  const compression = COMPRESSION_BY_MEDIA_TYPE.get(mediaType);
  if (compression === undefined) {
    throw new RuntimeError('image', `${label}: media type ${JSON.stringify(mediaType)} is not a layer tsrun can apply (tar, tar+gzip or tar+zstd)`);
  }
  return compression;
}

function decompressor(compression: LayerCompression): NodeJS.ReadWriteStream | undefined {
  if (compression === 'gzip') return zlib.createGunzip();
  if (compression === 'zstd') return zlib.createZstdDecompress();
  return undefined;
}

export interface AppliedLayer {
  /** sha256 of the uncompressed tar. */
  diffId: string;
  entries: number;
}

/**
 * Reads the blob through to its end (so its digest is checked) while the writer applies its entries. When the
 * tar cannot be read or an entry fails, the rest of the blob is still read: a blob that does not match its
 * digest is reported as that, the cause of whatever else went wrong.
 */
export async function applyLayer(blob: Readable, compression: LayerCompression, writer: RootfsWriter, label: string): Promise<AppliedLayer> {
  const decompress = decompressor(compression);
  const tar: Readable = decompress ? (blob.pipe(decompress) as unknown as Readable) : blob;
  // A failing blob (digest or size) must fail the whole application; pipe() does not pass errors on.
  if (decompress) blob.on('error', (error) => (decompress as unknown as Readable).destroy(error));
  const hash = createHash('sha256');
  const extract = tarStream.extract();
  const stopWriting = new AbortController();
  // The bytes since the end of the last entry's data: the header blocks of the next entry (see pax-records.ts).
  const window = new StreamWindow();

  // Feeds the tar to the parser; after a failure it only reads on. Resolves with the stream's own error.
  const feeding = (async (): Promise<unknown> => {
    try {
      for await (const chunk of tar) {
        hash.update(chunk as Buffer);
        if (stopWriting.signal.aborted) continue;
        window.add(chunk as Buffer);
        try {
          if (!extract.write(chunk as Buffer)) await once(extract, 'drain', { signal: stopWriting.signal });
        } catch {
          // the parser failed or was given up on: the main loop reports why; keep reading for the digest
        }
      }
      (extract as unknown as NodeJS.WritableStream).end();
      return undefined;
    } catch (error) {
      extract.destroy(asLayerError(error, label, compression) as Error);
      return error;
    }
  })();

  let entries = 0;
  writer.beginLayer(label);
  try {
    let dataEnd = 0;
    for await (const entry of extract) {
      const header = entry.header as unknown as TarHeader & { byteOffset: number };
      if (hasPaxXattrs(header.pax)) header.rawPax = paxRecordsBefore(window.slice(dataEnd, header.byteOffset - 512), label);
      dataEnd = header.byteOffset + Math.ceil(header.size / 512) * 512;
      window.keepFrom(dataEnd);
      const classified = classifyEntry(header, label);
      await writer.write(classified, entry as AsyncIterable<Buffer>);
      // Whatever the writer did not read (a directory's or a link's empty body) is skipped.
      for await (const chunk of entry) void chunk;
      entries++;
    }
    writer.endLayer();
  } catch (error) {
    stopWriting.abort();
    extract.destroy();
    const streamError = await feeding;
    throw asLayerError(streamError instanceof RuntimeError ? streamError : error, label, compression);
  }
  const streamError = await feeding;
  if (streamError !== undefined) throw asLayerError(streamError, label, compression);
  return { diffId: `sha256:${hash.digest('hex')}`, entries };
}

/** Errors of zlib and tar-stream as one line naming the layer; tsrun's own errors pass through. */
function asLayerError(error: unknown, label: string, compression: LayerCompression): unknown {
  if (error instanceof RuntimeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const what = compression === 'none' ? 'tar' : `${compression}-compressed tar`;
  return new RuntimeError('image', `${label}: not a valid ${what}: ${message}`, { cause: error });
}
