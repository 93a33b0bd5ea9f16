import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../src/errors';
import { checkBlobBytes, digestOf, digestOfStream, parseDigest, verifyBlobStream } from '../../../../src/plugins/image/digest';

const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('parseDigest', () => {
  it('accepts sha256 and sha512 in lowercase hex', () => {
    const hex = 'a'.repeat(64);
    expect(parseDigest(`sha256:${hex}`, 'x')).toEqual({ algorithm: 'sha256', encoded: hex });
    expect(parseDigest(`sha512:${'0'.repeat(128)}`, 'x').algorithm).toBe('sha512');
  });

  it('refuses other algorithms, naming the field, the value and what was expected', () => {
    expect(() => parseDigest(`md5:${'a'.repeat(32)}`, 'manifest layers[0]')).toThrow(
      `manifest layers[0]: digest "md5:${'a'.repeat(32)}" uses the unsupported algorithm "md5" (expected sha256 or sha512)`);
    expect(() => parseDigest(`sha256+b64u:${'a'.repeat(43)}`, 'x')).toThrow(/unsupported algorithm "sha256\+b64u"/);
  });

  it('refuses uppercase hex, the wrong length and malformed values', () => {
    expect(() => parseDigest(`sha256:${'A'.repeat(64)}`, 'x')).toThrow(/must have 64 lowercase hex digits after "sha256:"/);
    expect(() => parseDigest(`sha256:${'a'.repeat(63)}`, 'x')).toThrow(/must have 64 lowercase hex digits/);
    expect(() => parseDigest(`sha512:${'a'.repeat(64)}`, 'x')).toThrow(/must have 128 lowercase hex digits/);
    expect(() => parseDigest('sha256', 'x')).toThrow(/is not of the form algorithm:encoded/);
    expect(() => parseDigest(42, 'x')).toThrow(/x: digest 42 is not of the form/);
    expect(() => parseDigest(`SHA256:${'a'.repeat(64)}`, 'x')).toThrow(RuntimeError);
  });
});

describe('digestOf / digestOfStream / checkBlobBytes', () => {
  it('hashes bytes and streams alike', async () => {
    expect(digestOf(Buffer.from('hello'))).toBe(sha256('hello'));
    expect(digestOf(Buffer.from('hello'), 'sha512')).toMatch(/^sha512:[0-9a-f]{128}$/);
    expect(await digestOfStream(Readable.from([Buffer.from('hel'), Buffer.from('lo')]))).toEqual({ digest: sha256('hello'), size: 5 });
  });

  it('checks size first, then digest', () => {
    expect(() => checkBlobBytes(Buffer.from('hello'), { digest: sha256('hello'), size: 5 })).not.toThrow();
    expect(() => checkBlobBytes(Buffer.from('hello'), { digest: sha256('hello'), size: 6 })).toThrow(
      `blob ${sha256('hello')}: expected 6 bytes, got 5`);
    expect(() => checkBlobBytes(Buffer.from('hellO'), { digest: sha256('hello'), size: 5 })).toThrow(
      `blob ${sha256('hello')}: digest mismatch: the content hashes to ${sha256('hellO')}`);
  });
});

describe('verifyBlobStream', () => {
  it('passes the bytes through when size and digest match', async () => {
    const out = verifyBlobStream(Readable.from([Buffer.from('hel'), Buffer.from('lo')]), { digest: sha256('hello'), size: 5 });
    expect((await drain(out)).toString()).toBe('hello');
  });

  it('fails at the end when bytes are missing', async () => {
    const out = verifyBlobStream(Readable.from([Buffer.from('hel')]), { digest: sha256('hello'), size: 5 });
    await expect(drain(out)).rejects.toThrow(`blob ${sha256('hello')}: expected 5 bytes, got 3`);
  });

  it('fails as soon as more bytes than the size arrive, without reading the rest', async () => {
    let pulled = 0;
    const source = new Readable({
      read() {
        pulled++;
        this.push(pulled > 1000 ? null : Buffer.alloc(4, 1));
      },
      highWaterMark: 1,
    });
    const out = verifyBlobStream(source, { digest: sha256('hello'), size: 5 });
    await expect(drain(out)).rejects.toThrow(`blob ${sha256('hello')}: expected 5 bytes, got at least 8`);
    expect(pulled).toBeLessThan(10);
    await new Promise((resolve) => setImmediate(resolve));
    expect(source.destroyed).toBe(true);
  });

  it('fails on a digest mismatch', async () => {
    const out = verifyBlobStream(Readable.from([Buffer.from('jello')]), { digest: sha256('hello'), size: 5 });
    await expect(drain(out)).rejects.toThrow(`blob ${sha256('hello')}: digest mismatch: the content hashes to ${sha256('jello')}`);
  });

  it('turns a failure of the source into a RuntimeError naming the blob', async () => {
    const source = new Readable({ read() { this.destroy(new Error('EIO: i/o error')); } });
    const out = verifyBlobStream(source, { digest: sha256('hello'), size: 5 });
    await expect(drain(out)).rejects.toThrow(`blob ${sha256('hello')}: EIO: i/o error`);
  });

  it('destroys the source when the consumer destroys the stream', async () => {
    const source = new Readable({ read() { /* never produces */ } });
    const out = verifyBlobStream(source, { digest: sha256('hello'), size: 5 });
    out.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    expect(source.destroyed).toBe(true);
  });

  it('refuses an unsupported digest at once and closes the source', () => {
    const source = Readable.from([Buffer.from('x')]);
    expect(() => verifyBlobStream(source, { digest: `md5:${'a'.repeat(32)}`, size: 1 })).toThrow(/unsupported algorithm "md5"/);
    expect(source.destroyed).toBe(true);
  });
});
