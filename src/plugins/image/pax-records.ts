import { RuntimeError } from '../../errors';

/**
 * The raw bytes of a tar entry's PAX extended header. tar-stream decodes PAX values as UTF-8, which damages
 * binary values: Docker, BuildKit and GNU tar store extended attributes as `SCHILY.xattr.<name>=<raw bytes>`,
 * and `security.capability` is binary. So the layer reader keeps the bytes that came before each entry's header
 * (StreamWindow) and reads the PAX records from them again, byte for byte; tar-stream still does all the rest.
 */

const BLOCK = 512;
const TYPEFLAG_OFFSET = 156;
const SIZE_OFFSET = 124;
const SIZE_LENGTH = 12;
const PAX_HEADER = 0x78; // 'x'

const padded = (size: number): number => Math.ceil(size / BLOCK) * BLOCK;

/** The size field of a header block: octal text, or base-256 when its first byte has the high bit set. */
function headerSize(block: Buffer): number {
  const field = block.subarray(SIZE_OFFSET, SIZE_OFFSET + SIZE_LENGTH);
  if (field[0]! & 0x80) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = field.toString('latin1').replace(/[\0 ].*$/s, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/**
 * The records of the PAX extended header ('x') among the header blocks that precede an entry's own header
 * (`blocks`: everything between the previous entry's data and this entry's header). Undefined when there is none.
 */
export function paxRecordsBefore(blocks: Buffer, label: string): Map<string, Buffer> | undefined {
  let records: Map<string, Buffer> | undefined;
  for (let offset = 0; offset + BLOCK <= blocks.length;) {
    const block = blocks.subarray(offset, offset + BLOCK);
    const size = headerSize(block);
    const data = blocks.subarray(offset + BLOCK, offset + BLOCK + size);
    if (block[TYPEFLAG_OFFSET] === PAX_HEADER) records = parsePaxRecords(data, label);
    offset += BLOCK + padded(size);
  }
  return records;
}

/** `<length> <key>=<value>\n` records (POSIX pax); the length counts the whole record. Values stay bytes. */
export function parsePaxRecords(data: Buffer, label: string): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let offset = 0;
  while (offset < data.length && data[offset] !== 0) {
    const space = data.indexOf(0x20, offset);
    const length = space < 0 ? NaN : Number(data.toString('latin1', offset, space));
    if (!Number.isInteger(length) || length <= space - offset + 1 || offset + length > data.length || data[offset + length - 1] !== 0x0a) {
      throw new RuntimeError('image', `${label}: a PAX extended header record at byte ${offset} is malformed`);
    }
    const record = data.subarray(space + 1, offset + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new RuntimeError('image', `${label}: a PAX extended header record at byte ${offset} has no key`);
    records.set(record.toString('utf8', 0, eq), Buffer.from(record.subarray(eq + 1)));
    offset += length;
  }
  return records;
}

/**
 * The bytes of a stream between two offsets, for a stream read in chunks: keeps the chunks from `keepFrom` on.
 * What lies before is dropped as soon as it is passed, so a large file's data is never held.
 */
export class StreamWindow {
  #chunks: Array<{ start: number; data: Buffer }> = [];
  #end = 0;
  #keepFrom = 0;

  add(chunk: Buffer): void {
    if (this.#end + chunk.length > this.#keepFrom) this.#chunks.push({ start: this.#end, data: chunk });
    this.#end += chunk.length;
  }

  /** Nothing before `offset` is asked for again. */
  keepFrom(offset: number): void {
    this.#keepFrom = Math.max(this.#keepFrom, offset);
    while (this.#chunks.length > 0 && this.#chunks[0]!.start + this.#chunks[0]!.data.length <= this.#keepFrom) this.#chunks.shift();
  }

  /** The bytes [start, end): they must have been added and not dropped. */
  slice(start: number, end: number): Buffer {
    const parts: Buffer[] = [];
    for (const { start: at, data } of this.#chunks) {
      const from = Math.max(start, at);
      const to = Math.min(end, at + data.length);
      if (from < to) parts.push(data.subarray(from - at, to - at));
    }
    return Buffer.concat(parts);
  }
}
