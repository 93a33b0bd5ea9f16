import tarStream from 'tar-stream';

/** One entry of a tar the tests build: tar-stream's header fields, plus the content of a regular file. */
export interface TarEntrySpec {
  name: string;
  type?: 'file' | 'link' | 'symlink' | 'directory' | 'block-device' | 'character-device' | 'fifo';
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** PAX records (e.g. `SCHILY.xattr.user.note`). */
  pax?: Record<string, string>;
  content?: string | Buffer;
}

/** A tar archive of `entries`, in order, as one Buffer. */
export async function buildTar(entries: TarEntrySpec[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (chunk: unknown) => {
      chunks.push(chunk as Buffer);
    });
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const spec of entries) {
    const { content, ...header } = spec;
    const type = header.type ?? 'file';
    const body = content === undefined ? undefined : Buffer.from(content);
    const fullHeader = {
      mode: type === 'directory' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: new Date(1_700_000_000_000),
      ...header, type, size: body?.length ?? 0,
    };
    await new Promise<void>((resolve, reject) => {
      const callback = (error?: Error | null) => (error ? reject(error) : resolve());
      pack.entry(fullHeader, body ?? Buffer.alloc(0), callback);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}
