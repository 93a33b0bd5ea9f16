import { MountFlags } from '../linux/constants';

/** What a config.json mount's `options` array means to mount(2): flags, propagation, and the fs-specific data. */
export interface ParsedMountOptions {
  /** MS_* flags for the mount call itself (MS_RDONLY, MS_NOSUID, ...). */
  flags: number;
  /** Flags the options clear; matters for bind remounts, which otherwise inherit the source's flags. */
  clearedFlags: number;
  /** MS_PRIVATE/MS_SLAVE/MS_SHARED/MS_UNBINDABLE, each possibly with MS_REC: applied with separate calls. */
  propagation: number[];
  bind: boolean;
  recursiveBind: boolean;
  /** Options the kernel does not know as flags: passed as the comma-separated data string (e.g. mode=755). */
  data: string[];
  /** idmap / ridmap: an idmapped bind mount (ridmap: of every mount in the tree). */
  idmap: 'none' | 'idmap' | 'ridmap';
  /** runc's tmpcopyup: fill a new tmpfs with what the destination directory held. */
  copyUp: boolean;
  /** Recursive attributes (rro, rnosuid, …): MOUNT_ATTR_* bits set and cleared with mount_setattr(AT_RECURSIVE). */
  recursive: { set: number; clear: number };
}

/** MOUNT_ATTR_* values of linux/mount.h. */
export const MountAttr = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  ATIME_MASK: 0x70,
  RELATIME: 0x0,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
  NODIRATIME: 0x80,
  IDMAP: 0x100000,
  NOSYMFOLLOW: 0x200000,
} as const;

/**
 * The recursive variants runc accepts. An atime mode replaces the whole atime mask (the kernel refuses partial
 * atime changes), and clearing one (ratime, rnorelatime, rnostrictatime) returns the tree to the default relatime.
 */
const RECURSIVE: Record<string, { set: number; clear: number }> = {
  rro: { set: MountAttr.RDONLY, clear: 0 },
  rrw: { set: 0, clear: MountAttr.RDONLY },
  rnosuid: { set: MountAttr.NOSUID, clear: 0 },
  rsuid: { set: 0, clear: MountAttr.NOSUID },
  rnodev: { set: MountAttr.NODEV, clear: 0 },
  rdev: { set: 0, clear: MountAttr.NODEV },
  rnoexec: { set: MountAttr.NOEXEC, clear: 0 },
  rexec: { set: 0, clear: MountAttr.NOEXEC },
  rnodiratime: { set: MountAttr.NODIRATIME, clear: 0 },
  rdiratime: { set: 0, clear: MountAttr.NODIRATIME },
  rnosymfollow: { set: MountAttr.NOSYMFOLLOW, clear: 0 },
  rsymfollow: { set: 0, clear: MountAttr.NOSYMFOLLOW },
  rrelatime: { set: MountAttr.RELATIME, clear: MountAttr.ATIME_MASK },
  rnoatime: { set: MountAttr.NOATIME, clear: MountAttr.ATIME_MASK },
  rstrictatime: { set: MountAttr.STRICTATIME, clear: MountAttr.ATIME_MASK },
  ratime: { set: MountAttr.RELATIME, clear: MountAttr.ATIME_MASK },
  rnorelatime: { set: MountAttr.RELATIME, clear: MountAttr.ATIME_MASK },
  rnostrictatime: { set: MountAttr.RELATIME, clear: MountAttr.ATIME_MASK },
};

const SET: Record<string, number> = {
  ro: MountFlags.RDONLY, nosuid: MountFlags.NOSUID, nodev: MountFlags.NODEV, noexec: MountFlags.NOEXEC,
  sync: MountFlags.SYNCHRONOUS, remount: MountFlags.REMOUNT, mand: MountFlags.MANDLOCK, dirsync: MountFlags.DIRSYNC,
  noatime: MountFlags.NOATIME, nodiratime: MountFlags.NODIRATIME, relatime: MountFlags.RELATIME,
  strictatime: MountFlags.STRICTATIME, nosymfollow: MountFlags.NOSYMFOLLOW, lazytime: MountFlags.LAZYTIME,
  silent: MountFlags.SILENT,
};

const CLEAR: Record<string, number> = {
  rw: MountFlags.RDONLY, suid: MountFlags.NOSUID, dev: MountFlags.NODEV, exec: MountFlags.NOEXEC,
  async: MountFlags.SYNCHRONOUS, nomand: MountFlags.MANDLOCK, atime: MountFlags.NOATIME,
  diratime: MountFlags.NODIRATIME, norelatime: MountFlags.RELATIME, nostrictatime: MountFlags.STRICTATIME,
  symfollow: MountFlags.NOSYMFOLLOW, nolazytime: MountFlags.LAZYTIME, loud: MountFlags.SILENT,
};

const PROPAGATION: Record<string, number> = {
  private: MountFlags.PRIVATE, rprivate: MountFlags.PRIVATE | MountFlags.REC,
  slave: MountFlags.SLAVE, rslave: MountFlags.SLAVE | MountFlags.REC,
  shared: MountFlags.SHARED, rshared: MountFlags.SHARED | MountFlags.REC,
  unbindable: MountFlags.UNBINDABLE, runbindable: MountFlags.UNBINDABLE | MountFlags.REC,
};

/** Every option name parseMountOptions understands (for `tsrun features`). */
export function knownMountOptions(): string[] {
  return [...Object.keys(SET), ...Object.keys(CLEAR), ...Object.keys(PROPAGATION), ...Object.keys(RECURSIVE),
    'bind', 'rbind', 'idmap', 'ridmap', 'tmpcopyup'].sort();
}

export function parseMountOptions(options: readonly string[] | undefined): ParsedMountOptions {
  const parsed: ParsedMountOptions = {
    flags: 0, clearedFlags: 0, propagation: [], bind: false, recursiveBind: false, data: [], idmap: 'none', copyUp: false, recursive: { set: 0, clear: 0 },
  };
  for (const option of options ?? []) {
    if (option === 'bind' || option === 'rbind') {
      parsed.bind = true;
      parsed.recursiveBind ||= option === 'rbind';
    } else if (Object.hasOwn(SET, option)) {
      parsed.flags |= SET[option]!;
      parsed.clearedFlags &= ~SET[option]!;
    } else if (Object.hasOwn(CLEAR, option)) {
      parsed.flags &= ~CLEAR[option]!;
      parsed.clearedFlags |= CLEAR[option]!;
    } else if (Object.hasOwn(PROPAGATION, option)) {
      parsed.propagation.push(PROPAGATION[option]!);
    } else if (option === 'idmap' || option === 'ridmap') {
      parsed.idmap = option;
    } else if (option === 'tmpcopyup') {
      parsed.copyUp = true;
    } else if (Object.hasOwn(RECURSIVE, option)) {
      // A later option wins over an earlier one touching the same bits.
      const { set, clear } = RECURSIVE[option]!;
      parsed.recursive.set = (parsed.recursive.set & ~clear) | set;
      parsed.recursive.clear = (parsed.recursive.clear & ~set) | clear;
    } else if (option !== 'defaults') {
      parsed.data.push(option);
    }
  }
  return parsed;
}
