import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { RuntimeError, describeValue } from '../../errors';

/**
 * Content digests (`algorithm:encoded`, OCI image-spec "Digests"): parsing, hashing, and streams that check a
 * blob's bytes against the size and digest its descriptor promises.
 */

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  /** Lowercase hex. */
  encoded: string;
}

/** What a blob is expected to be: its descriptor's digest and size. */
export interface ExpectedBlob {
  digest: string;
  size: number;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
/** The grammar of the spec: any registered or unregistered algorithm, which tsrun may still not support. */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * Parses and checks a digest. `where` names the field or file it came from; the error names it, the value and
 * what was expected. Only sha256 and sha512 are supported; the spec requires lowercase hex for both.
 */
export function parseDigest(digest: unknown, where: string): ParsedDigest {
  if (typeof digest !== 'string' || !DIGEST_GRAMMAR.test(digest)) {
    throw new RuntimeError('image', `${where}: digest ${quote(digest)} is not of the form algorithm:encoded (e.g. sha256:<64 hex digits>)`);
  }
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new RuntimeError('image', `${where}: digest ${quote(digest)} uses the unsupported algorithm "${algorithm}" (expected sha256 or sha512)`);
  }
  const length = HEX_LENGTH[algorithm];
  if (encoded.length !== length || !/^[0-9a-f]+$/.test(encoded)) {
    throw new RuntimeError('image', `${where}: digest ${quote(digest)} must have ${length} lowercase hex digits after "${algorithm}:"`);
  }
  return { algorithm, encoded };
}

/**
 * True when `text` is meant as a digest rather than a name: `algorithm:` and at least 32 hex digits (`alpine:3`
 * fits the digest grammar too). Nothing more is checked.
 */
export function looksLikeDigest(text: string): boolean {
  return /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/.test(text);
}

/**
 * A value in an image error message: JSON, cut at 150 characters (describeValue's 60 would cut digests, which
 * are 71 or 135, and long media types).
 */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : describeValue(value);
  return text.length > 150 ? `${text.slice(0, 147)}...` : text;
}

/** Checks a descriptor's size field: a non-negative safe integer. */
export function checkSize(size: unknown, where: string): number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new RuntimeError('image', `${where}: size ${describeValue(size)} is not a non-negative integer`);
  }
  return size;
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Hashes a stream to its end: its digest and its length in bytes. */
export async function digestOfStream(source: AsyncIterable<Uint8Array>, algorithm: DigestAlgorithm = 'sha256'): Promise<{ digest: string; size: number }> {
  const hash = createHash(algorithm);
  let size = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: `${algorithm}:${hash.digest('hex')}`, size };
}

function sizeError(expected: ExpectedBlob, got: string): RuntimeError {
  return new RuntimeError('image', `blob ${expected.digest}: expected ${expected.size} bytes, got ${got}`);
}

function digestError(expected: ExpectedBlob, actual: string): RuntimeError {
  return new RuntimeError('image', `blob ${expected.digest}: digest mismatch: the content hashes to ${actual}`);
}

/** Checks bytes read in full (a manifest, a config) against what their descriptor says. */
export function checkBlobBytes(bytes: Uint8Array, expected: ExpectedBlob): void {
  const { algorithm } = parseDigest(expected.digest, 'blob');
  if (bytes.length !== expected.size) throw sizeError(expected, String(bytes.length));
  const actual = digestOf(bytes, algorithm);
  if (actual !== expected.digest) throw digestError(expected, actual);
}

/**
 * Passes a blob's bytes through while hashing and counting them. It fails with a RuntimeError as soon as more
 * bytes than the expected size arrive, and at the end when there were fewer or the digest differs: whoever
 * consumes it must undo what it did with the bytes when it fails.
 */
export class VerifyingStream extends Transform {
  readonly #expected: ExpectedBlob;
  readonly #hash: Hash;
  readonly #algorithm: DigestAlgorithm;
  #received = 0;

  constructor(expected: ExpectedBlob) {
    super();
    this.#algorithm = parseDigest(expected.digest, 'blob').algorithm;
    checkSize(expected.size, `blob ${expected.digest}`);
    this.#expected = expected;
    this.#hash = createHash(this.#algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#received += chunk.length;
    if (this.#received > this.#expected.size) {
      callback(sizeError(this.#expected, `at least ${this.#received}`));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#received !== this.#expected.size) {
      callback(sizeError(this.#expected, String(this.#received)));
      return;
    }
    const actual = `${this.#algorithm}:${this.#hash.digest('hex')}`;
    callback(actual === this.#expected.digest ? null : digestError(this.#expected, actual));
  }
}

/**
 * `source` through a VerifyingStream. A failure of the source fails the result (a non-RuntimeError becomes one
 * naming the blob); destroying the result destroys the source (closing its file).
 */
export function verifyBlobStream(source: Readable, expected: ExpectedBlob): Readable {
  let verifier: VerifyingStream;
  try {
    verifier = new VerifyingStream(expected);
  } catch (error) {
    source.destroy();
    throw error;
  }
  source.on('error', (error: unknown) => {
    verifier.destroy(error instanceof RuntimeError
      ? error
      : new RuntimeError('image', `blob ${expected.digest}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
  });
  verifier.on('close', () => source.destroy());
  return source.pipe(verifier);
}
