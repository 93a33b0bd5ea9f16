// parseMountOptions: a config.json mount's options → mount(2) flags, cleared flags, propagation and data.
import { describe, expect, it } from 'vitest';
import { MountFlags } from '../../../src/linux/constants';
import { MountAttr, parseMountOptions } from '../../../src/spec/mount-options';

const EMPTY = { flags: 0, clearedFlags: 0, propagation: [], bind: false, recursiveBind: false, data: [], idmap: 'none', copyUp: false, recursive: { set: 0, clear: 0 } };

const SET_OPTIONS: Array<[string, number]> = [
  ['ro', MountFlags.RDONLY],
  ['nosuid', MountFlags.NOSUID],
  ['nodev', MountFlags.NODEV],
  ['noexec', MountFlags.NOEXEC],
  ['sync', MountFlags.SYNCHRONOUS],
  ['remount', MountFlags.REMOUNT],
  ['mand', MountFlags.MANDLOCK],
  ['dirsync', MountFlags.DIRSYNC],
  ['noatime', MountFlags.NOATIME],
  ['nodiratime', MountFlags.NODIRATIME],
  ['relatime', MountFlags.RELATIME],
  ['strictatime', MountFlags.STRICTATIME],
  ['nosymfollow', MountFlags.NOSYMFOLLOW],
  ['lazytime', MountFlags.LAZYTIME],
  ['silent', MountFlags.SILENT],
];

const CLEAR_OPTIONS: Array<[string, number, string]> = [
  ['rw', MountFlags.RDONLY, 'ro'],
  ['suid', MountFlags.NOSUID, 'nosuid'],
  ['dev', MountFlags.NODEV, 'nodev'],
  ['exec', MountFlags.NOEXEC, 'noexec'],
  ['async', MountFlags.SYNCHRONOUS, 'sync'],
  ['nomand', MountFlags.MANDLOCK, 'mand'],
  ['atime', MountFlags.NOATIME, 'noatime'],
  ['diratime', MountFlags.NODIRATIME, 'nodiratime'],
  ['norelatime', MountFlags.RELATIME, 'relatime'],
  ['nostrictatime', MountFlags.STRICTATIME, 'strictatime'],
  ['symfollow', MountFlags.NOSYMFOLLOW, 'nosymfollow'],
  ['nolazytime', MountFlags.LAZYTIME, 'lazytime'],
  ['loud', MountFlags.SILENT, 'silent'],
];


const ATIME = MountAttr.ATIME_MASK;
// [option, MOUNT_ATTR_* set, MOUNT_ATTR_* cleared]
const RECURSIVE: Array<[string, number, number]> = [
  ['rro', MountAttr.RDONLY, 0], ['rrw', 0, MountAttr.RDONLY],
  ['rnosuid', MountAttr.NOSUID, 0], ['rsuid', 0, MountAttr.NOSUID],
  ['rnodev', MountAttr.NODEV, 0], ['rdev', 0, MountAttr.NODEV],
  ['rnoexec', MountAttr.NOEXEC, 0], ['rexec', 0, MountAttr.NOEXEC],
  ['rnodiratime', MountAttr.NODIRATIME, 0], ['rdiratime', 0, MountAttr.NODIRATIME],
  ['rnosymfollow', MountAttr.NOSYMFOLLOW, 0], ['rsymfollow', 0, MountAttr.NOSYMFOLLOW],
  ['rrelatime', MountAttr.RELATIME, ATIME], ['rnoatime', MountAttr.NOATIME, ATIME],
  ['rstrictatime', MountAttr.STRICTATIME, ATIME], ['ratime', MountAttr.RELATIME, ATIME],
  ['rnorelatime', MountAttr.RELATIME, ATIME], ['rnostrictatime', MountAttr.RELATIME, ATIME],
];

describe('parseMountOptions', () => {
  it('gives nothing for no options', () => {
    expect(parseMountOptions(undefined)).toEqual(EMPTY);
    expect(parseMountOptions([])).toEqual(EMPTY);
  });

  it.each(SET_OPTIONS)('sets the flag of %s', (option, flag) => {
    expect(parseMountOptions([option])).toEqual({ ...EMPTY, flags: flag });
  });

  it('uses the kernel values of the flags', () => {
    expect(Object.fromEntries(SET_OPTIONS)).toEqual({
      ro: 0x1, nosuid: 0x2, nodev: 0x4, noexec: 0x8, sync: 0x10, remount: 0x20, mand: 0x40, dirsync: 0x80,
      noatime: 0x400, nodiratime: 0x800, relatime: 0x200000, strictatime: 0x1000000, nosymfollow: 0x100,
      lazytime: 0x2000000, silent: 0x8000,
    });
  });

  it.each(CLEAR_OPTIONS)('records %s as clearing its flag', (option, flag) => {
    expect(parseMountOptions([option])).toEqual({ ...EMPTY, clearedFlags: flag });
  });

  it.each(CLEAR_OPTIONS)('lets %s after its opposite win (clears the flag)', (option, flag, opposite) => {
    expect(parseMountOptions([opposite, option])).toEqual({ ...EMPTY, flags: 0, clearedFlags: flag });
  });

  it.each(CLEAR_OPTIONS)('lets the opposite after %s win (sets the flag again)', (option, flag, opposite) => {
    expect(parseMountOptions([option, opposite])).toEqual({ ...EMPTY, flags: flag, clearedFlags: 0 });
  });

  it('lets rw after ro win and keeps the other flags', () => {
    const parsed = parseMountOptions(['nosuid', 'ro', 'nodev', 'rw']);
    expect(parsed.flags).toBe(MountFlags.NOSUID | MountFlags.NODEV);
    expect(parsed.clearedFlags).toBe(MountFlags.RDONLY);
    expect(parseMountOptions(['rw', 'ro']).flags).toBe(MountFlags.RDONLY);
    expect(parseMountOptions(['rw', 'ro']).clearedFlags).toBe(0);
  });

  it('combines many flags', () => {
    const parsed = parseMountOptions(['nosuid', 'noexec', 'nodev', 'ro', 'relatime', 'exec']);
    expect(parsed.flags).toBe(MountFlags.NOSUID | MountFlags.NODEV | MountFlags.RDONLY | MountFlags.RELATIME);
    expect(parsed.clearedFlags).toBe(MountFlags.NOEXEC);
  });

  it.each([
    ['private', MountFlags.PRIVATE],
    ['rprivate', MountFlags.PRIVATE | MountFlags.REC],
    ['slave', MountFlags.SLAVE],
    ['rslave', MountFlags.SLAVE | MountFlags.REC],
    ['shared', MountFlags.SHARED],
    ['rshared', MountFlags.SHARED | MountFlags.REC],
    ['unbindable', MountFlags.UNBINDABLE],
    ['runbindable', MountFlags.UNBINDABLE | MountFlags.REC],
  ])('turns %s into a propagation step', (option, flags) => {
    expect(parseMountOptions([option])).toEqual({ ...EMPTY, propagation: [flags] });
  });

  it('keeps propagation options in order, repeated ones too, apart from the flags', () => {
    const parsed = parseMountOptions(['rshared', 'ro', 'private', 'runbindable', 'rshared']);
    expect(parsed.propagation).toEqual([
      MountFlags.SHARED | MountFlags.REC,
      MountFlags.PRIVATE,
      MountFlags.UNBINDABLE | MountFlags.REC,
      MountFlags.SHARED | MountFlags.REC,
    ]);
    expect(parsed.flags).toBe(MountFlags.RDONLY);
  });

  it('recognises bind and rbind', () => {
    expect(parseMountOptions(['bind'])).toEqual({ ...EMPTY, bind: true, recursiveBind: false });
    expect(parseMountOptions(['rbind'])).toEqual({ ...EMPTY, bind: true, recursiveBind: true });
    // rbind stays recursive whatever the order
    expect(parseMountOptions(['rbind', 'bind'])).toMatchObject({ bind: true, recursiveBind: true });
    expect(parseMountOptions(['bind', 'rbind'])).toMatchObject({ bind: true, recursiveBind: true });
  });

  it('puts neither bind nor rbind into the flags', () => {
    expect(parseMountOptions(['rbind', 'ro']).flags).toBe(MountFlags.RDONLY);
  });

  it('ignores "defaults"', () => {
    expect(parseMountOptions(['defaults'])).toEqual(EMPTY);
    expect(parseMountOptions(['defaults', 'ro', 'defaults'])).toEqual({ ...EMPTY, flags: MountFlags.RDONLY });
  });

  it('passes unknown options on as data, in order', () => {
    expect(parseMountOptions(['mode=755', 'size=65536k'])).toEqual({ ...EMPTY, data: ['mode=755', 'size=65536k'] });
    const parsed = parseMountOptions(['nosuid', 'newinstance', 'strictatime', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
    expect(parsed.data).toEqual(['newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
    expect(parsed.flags).toBe(MountFlags.NOSUID | MountFlags.STRICTATIME);
  });

  it('keeps data options verbatim, duplicates and odd spellings included', () => {
    expect(parseMountOptions(['size=1m', 'size=2m', 'RO', 'x-systemd.automount', 'lowerdir=/a:/b']).data).toEqual([
      'size=1m', 'size=2m', 'RO', 'x-systemd.automount', 'lowerdir=/a:/b',
    ]);
  });

  // regression test (was a bug): src/spec/mount-options.ts parseMountOptions tests `option in SET` / `option in CLEAR` on plain object
  // literals, so names of Object.prototype members ("constructor", "toString", "valueOf", "__proto__") match:
  // `flags |= <function>` adds nothing and the option is silently dropped instead of being passed on as data.
  it('passes option names that are Object.prototype members on as data', () => {
    expect(parseMountOptions(['constructor', 'toString', '__proto__']).data).toEqual(['constructor', 'toString', '__proto__']);
  });

  it('reads idmap and ridmap (the later one wins)', () => {
    expect(parseMountOptions(['bind', 'idmap']).idmap).toBe('idmap');
    expect(parseMountOptions(['rbind', 'ridmap']).idmap).toBe('ridmap');
    expect(parseMountOptions(['ridmap', 'idmap']).idmap).toBe('idmap');
  });

  it.each(RECURSIVE)('maps %s to MOUNT_ATTR set 0x%s clear 0x%s', (option, set, clear) => {
    expect(parseMountOptions([option]).recursive).toEqual({ set, clear });
  });

  it('lets a later recursive option win over an earlier one', () => {
    expect(parseMountOptions(['rro', 'rrw']).recursive).toEqual({ set: 0, clear: MountAttr.RDONLY });
    expect(parseMountOptions(['rrw', 'rro']).recursive).toEqual({ set: MountAttr.RDONLY, clear: 0 });
    expect(parseMountOptions(['rnoatime', 'rstrictatime']).recursive).toEqual({ set: MountAttr.STRICTATIME, clear: ATIME });
    expect(parseMountOptions(['rro', 'rnosuid', 'rnoatime']).recursive).toEqual({
      // The kernel's documented way to change the atime mode: clear the whole mask, set the new mode.
      set: MountAttr.RDONLY | MountAttr.NOSUID | MountAttr.NOATIME, clear: ATIME,
    });
  });

  it('does not modify the options array', () => {
    const options = ['ro', 'mode=1777', 'rprivate'];
    parseMountOptions(options);
    expect(options).toEqual(['ro', 'mode=1777', 'rprivate']);
  });
});
