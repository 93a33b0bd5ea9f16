// PAX extended header records read as bytes, and the window of stream bytes they are read from.
import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../src/errors';
import { paxRecordsBefore, parsePaxRecords, StreamWindow } from '../../../../src/plugins/image/pax-records';

/** One record: the length prefix counts itself, the space, key, '=', value and the newline. */
function record(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

/** A header block of `type` announcing `size` bytes, followed by `data` padded to 512. */
function block(type: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(data.length.toString(8).padStart(11, '0'), 124, 'latin1');
  header.write(type, 156, 'latin1');
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

describe('parsePaxRecords', () => {
  it('keeps binary values byte for byte, also ones holding newlines, NULs and "="', () => {
    const binary = Buffer.from([0x01, 0x00, 0xff, 0x0a, 0x3d, 0x80]);
    const records = parsePaxRecords(Buffer.concat([record('path', Buffer.from('a/b')), record('SCHILY.xattr.security.capability', binary)]), 'layer 0');
    expect([...records.keys()]).toEqual(['path', 'SCHILY.xattr.security.capability']);
    expect(records.get('SCHILY.xattr.security.capability')).toEqual(binary);
  });

  it('stops at the NUL padding and refuses a malformed record naming the layer', () => {
    expect(parsePaxRecords(Buffer.concat([record('k', Buffer.from('v')), Buffer.alloc(20)]), 'l').get('k')).toEqual(Buffer.from('v'));
    for (const bad of ['x k=v\n', '99 k=v\n', '6 k=v!', '5 =v\n']) {
      expect(() => parsePaxRecords(Buffer.from(bad), 'layer 3')).toThrow(RuntimeError);
      expect(() => parsePaxRecords(Buffer.from(bad), 'layer 3')).toThrow(/^layer 3: a PAX extended header record at byte 0/);
    }
  });
});

describe('paxRecordsBefore', () => {
  it('finds the x header among the blocks before an entry, skipping GNU long names and global headers', () => {
    const blocks = Buffer.concat([
      block('g', record('comment', Buffer.from('global'))),
      block('L', Buffer.from('a-very-long-name\0')),
      block('x', record('SCHILY.xattr.user.a', Buffer.from([0xfe]))),
    ]);
    expect(paxRecordsBefore(blocks, 'l')?.get('SCHILY.xattr.user.a')).toEqual(Buffer.from([0xfe]));
    expect(paxRecordsBefore(block('L', Buffer.from('name')), 'l')).toBeUndefined();
    expect(paxRecordsBefore(Buffer.alloc(0), 'l')).toBeUndefined();
  });
});

describe('StreamWindow', () => {
  it('returns bytes across chunk borders and drops what lies before keepFrom', () => {
    const window = new StreamWindow();
    window.add(Buffer.from('abcd'));
    window.add(Buffer.from('efgh'));
    expect(window.slice(2, 6).toString()).toBe('cdef');
    window.keepFrom(4);
    expect(window.slice(4, 8).toString()).toBe('efgh');
    expect(window.slice(0, 8).toString()).toBe('efgh'); // the first chunk is gone
    window.keepFrom(20);
    window.add(Buffer.from('ijkl')); // entirely before 20: never kept
    window.add(Buffer.from('mnopqrstuvwx'));
    expect(window.slice(16, 24).toString()).toBe('qrstuvwx');
  });
});
