import fs from 'node:fs';
import { OpenFlags } from './constants';
import { SyscallError } from './errno';
import { check, errno, fn, rawSyscall } from './libc';
import { moveMountFd } from './openat2';

/**
 * An overlayfs mount made with the new mount API: fsopen("overlay"), one `lowerdir+` per layer (Linux 6.8), so
 * no option string has to hold every path (mount(2)'s data is one page, which a few dozen long layer paths
 * fill), then fsmount and move_mount onto the target by descriptor. When the kernel refuses a parameter, the
 * error carries overlayfs's own message from the context's log.
 */

const SYS_FSOPEN = 430;
const SYS_FSCONFIG = 431;
const SYS_FSMOUNT = 432;
const FSOPEN_CLOEXEC = 1;
const FSMOUNT_CLOEXEC = 1;
const FSCONFIG_SET_STRING = 1;
const FSCONFIG_CMD_CREATE = 6;

export interface OverlayLayout {
  /** Read-only layers, the topmost first (the order of overlayfs's lowerdir option). */
  lowerDirs: string[];
  /** Where writes go; with workDir on the same file system. */
  upperDir: string;
  workDir: string;
}

/** The messages the kernel logged on an fs context ("e overlayfs: ..." lines), joined; '' when none. */
function contextLog(context: number): string {
  const lines: string[] = [];
  const buffer = Buffer.alloc(512);
  for (let i = 0; i < 16; i++) {
    let n: number;
    try {
      n = fs.readSync(context, buffer, 0, buffer.length, null);
    } catch {
      break; // ENODATA: the log is empty
    }
    if (n <= 0) break;
    lines.push(buffer.toString('utf8', 0, n).replace(/^[ewi] /, ''));
  }
  return lines.join('; ');
}

function configure(context: number, key: string, value: string | null, cmd = FSCONFIG_SET_STRING): void {
  const result = rawSyscall(SYS_FSCONFIG, 'int', context, 'unsigned int', cmd, 'const char *', cmd === FSCONFIG_SET_STRING ? key : null,
    'const void *', value, 'int', 0);
  if (result < 0) {
    const failure = errno();
    const log = contextLog(context);
    const error = new SyscallError('fsconfig overlay', failure, cmd === FSCONFIG_SET_STRING ? `${key}=${JSON.stringify(value)}` : 'create');
    if (log !== '') error.message += ` (${log})`;
    throw error;
  }
}

/** Mounts an overlay of `layout` on `target` (a directory, not followed if it is a symlink). */
export function mountOverlay(target: string, layout: OverlayLayout): void {
  const context = check(rawSyscall(SYS_FSOPEN, 'const char *', 'overlay', 'unsigned int', FSOPEN_CLOEXEC), 'fsopen', '"overlay"');
  let mount = -1;
  let targetFd = -1;
  try {
    for (const lower of layout.lowerDirs) configure(context, 'lowerdir+', lower);
    configure(context, 'upperdir', layout.upperDir);
    configure(context, 'workdir', layout.workDir);
    configure(context, '', null, FSCONFIG_CMD_CREATE);
    mount = check(rawSyscall(SYS_FSMOUNT, 'int', context, 'unsigned int', FSMOUNT_CLOEXEC, 'unsigned int', 0), 'fsmount', '"overlay"');
    targetFd = fs.openSync(target, OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC);
    moveMountFd(mount, targetFd);
  } finally {
    if (targetFd >= 0) fs.closeSync(targetFd);
    if (mount >= 0) fs.closeSync(mount);
    fs.closeSync(context);
  }
}

/** umount2(target, UMOUNT_NOFOLLOW): EBUSY while a process still uses the mount, EINVAL when it is no mount point. */
export function unmount(target: string): void {
  const UMOUNT_NOFOLLOW = 8;
  check(fn('int umount2(const char *, int)')(target, UMOUNT_NOFOLLOW), 'umount', `\`${target}\``);
}
