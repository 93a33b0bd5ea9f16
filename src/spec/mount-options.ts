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
}

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

/**
 * Options that change how a mount is made rather than what the kernel is told and that tsrun does not
 * implement yet. Passing them to the kernel as data would fail obscurely or, worse, succeed without the effect.
 */
const NOT_YET: ReadonlySet<string> = new Set([
  'rro', 'rrw', 'rnosuid', 'rsuid', 'rnodev', 'rdev', 'rnoexec', 'rexec', 'rnodiratime', 'rdiratime',
  'rrelatime', 'rnorelatime', 'rnoatime', 'ratime', 'rstrictatime', 'rnostrictatime', 'rnosymfollow', 'rsymfollow',
  'idmap', 'ridmap', 'tmpcopyup',
]);

export class UnsupportedMountOption extends Error {
  constructor(readonly option: string) {
    super(option);
  }
}

export function parseMountOptions(options: readonly string[] | undefined): ParsedMountOptions {
  const parsed: ParsedMountOptions = { flags: 0, clearedFlags: 0, propagation: [], bind: false, recursiveBind: false, data: [] };
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
    } else if (NOT_YET.has(option)) {
      throw new UnsupportedMountOption(option);
    } else if (option !== 'defaults') {
      parsed.data.push(option);
    }
  }
  return parsed;
}
