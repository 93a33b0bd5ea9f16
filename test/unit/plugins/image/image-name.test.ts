import { describe, expect, it } from 'vitest';
import { normalizeImageName } from '../../../../src/plugins/image/image-name';

describe('normalizeImageName', () => {
  it('normalises docker names', () => {
    expect(normalizeImageName('alpine')).toBe('docker.io/library/alpine:latest');
    expect(normalizeImageName('alpine:3')).toBe('docker.io/library/alpine:3');
    expect(normalizeImageName('user/app')).toBe('docker.io/user/app:latest');
    expect(normalizeImageName('index.docker.io/library/alpine:3')).toBe('docker.io/library/alpine:3');
    expect(normalizeImageName('localhost:5000/app')).toBe('localhost:5000/app:latest');
    expect(normalizeImageName('quay.io/x/y@sha256:abc')).toBe('quay.io/x/y@sha256:abc');
  });
});
