import { describe, expect, it } from 'vitest';
import { parseImageRecord, serializeImageRecord, type ImageRecord } from '../../../../src/plugins/image/store-records';

const digest = (c: string): string => `sha256:${c.repeat(64)}`;

const record: ImageRecord = {
  manifestDigest: digest('a'),
  manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
  manifestSize: 512,
  configDigest: digest('b'),
  layers: [{ digest: digest('c'), diffId: digest('d'), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 100 }],
  created: '2026-01-01T00:00:00Z',
  loadedAt: '2026-02-01T00:00:00.000Z',
};

describe('image records', () => {
  it('round-trip', () => {
    expect(parseImageRecord(serializeImageRecord(record), 'r.json')).toEqual(record);
  });

  it('read a record of an older tsrun that carries sourceManifestDigest, and do not write it back', () => {
    const old = JSON.stringify({ ...record, sourceManifestDigest: digest('e') });
    const parsed = parseImageRecord(old, 'r.json');
    expect(parsed).toEqual(record);
    expect(serializeImageRecord(parsed)).not.toContain('sourceManifestDigest');
  });
});
