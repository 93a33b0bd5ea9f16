import type { Readable } from 'node:stream';
import type { Descriptor, ImageConfig, ImageIndex, ImageLayoutFile, ImageManifest } from '../../spec/image-types';

/** The most tsrun reads into memory for one JSON document (index, manifest, configuration, manifest.json). */
export const DOCUMENT_LIMIT = 16 * 1024 * 1024;

/**
 * One image read from somewhere (an OCI image layout, a `docker save` archive, a registry, a rootfs tar, the layer
 * store): its manifest and configuration, already checked against tsrun's image-spec schemas and their digests,
 * and a way to read its blobs with the digest and size checked as they stream.
 */
export interface ResolvedImage {
  /** Digest of the manifest's bytes, `manifestBytes` (for a docker archive: of the manifest tsrun derived from it). */
  manifestDigest: string;
  /**
   * The manifest exactly as the source has it: the bytes whose digest is `manifestDigest` (and whose length is the
   * manifest descriptor's size), from which `manifest` was parsed — what the store keeps, `save` writes and `push`
   * sends, so the image keeps its digest wherever it goes. For a docker archive, which has no manifest blob, the
   * canonical JSON tsrun derived and hashed.
   */
  manifestBytes: Buffer;
  manifest: ImageManifest;
  config: ImageConfig;
  /** Digest of the configuration blob: the image ID. */
  configDigest: string;
  /** The name the image had in its source (`org.opencontainers.image.ref.name`, or a docker RepoTag). */
  refName?: string;
}

export interface ImageSource {
  readonly image: ResolvedImage;
  /**
   * The blob's bytes. The stream fails (with a RuntimeError naming the digest, and what was expected and found)
   * when the bytes do not match the descriptor's size or digest; the error comes at the latest at the end, so
   * whoever consumes the stream must undo what it did with the bytes.
   */
  openBlob(descriptor: Descriptor): Readable;
  /** Removes what opening the source made (an archive's temporary extraction). Safe to call twice. */
  close(): void;
}

/** The schema checks a source applies to the documents it reads; each throws a RuntimeError naming the file. */
export interface ImageDocumentValidators {
  layout(doc: unknown, where: string): ImageLayoutFile;
  index(doc: unknown, where: string): ImageIndex;
  manifest(doc: unknown, where: string): ImageManifest;
  config(doc: unknown, where: string): ImageConfig;
}

/** The platform a manifest is picked for when an index lists several. */
export interface TargetPlatform {
  os: string;
  architecture: string;
  variant?: string;
}
