import { describe, expect, it } from 'vitest';
import { MountFlags } from '../../../src/linux/constants';
import { stFlagsToMountFlags } from '../../../src/linux/sys';

describe('stFlagsToMountFlags', () => {
  it('translates statfs ST_* flags to MS_* (relatime and nosymfollow differ)', () => {
    expect(stFlagsToMountFlags(0x1020)).toBe(MountFlags.RELATIME); // rw,relatime as seen on ext4; 0x20 is ST_VALID
    expect(stFlagsToMountFlags(0x2000)).toBe(MountFlags.NOSYMFOLLOW);
    expect(stFlagsToMountFlags(0x1 | 0x2 | 0x4 | 0x8)).toBe(MountFlags.RDONLY | MountFlags.NOSUID | MountFlags.NODEV | MountFlags.NOEXEC);
    expect(stFlagsToMountFlags(0x400 | 0x800)).toBe(MountFlags.NOATIME | MountFlags.NODIRATIME);
    expect(stFlagsToMountFlags(0x20 | 0x80 | 0x100 | 0x200)).toBe(0); // ST_VALID, ST_WRITE, ST_APPEND, ST_IMMUTABLE
  });
});
