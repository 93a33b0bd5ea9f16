import fs from 'node:fs';
import { RuntimeError } from '../errors';
import { FileType, MountFlags, OpenFlags } from '../linux/constants';
import { Errno, SyscallError } from '../linux/errno';
import { openat2, Resolve, symlinkat, unlinkat } from '../linux/openat2';
import type { Sys } from '../linux/sys';
import { DEFAULT_DEVICES, type DeviceNode } from '../spec/plan';
import { checkMountedOn, openInRoot, openParentInRoot, procFd, reopenMounted, type RootDir } from './secure-path';

/** One component in a directory held by descriptor: never follows a symlink, never leaves the directory. */
const ENTRY_ONLY = Resolve.BENEATH | Resolve.NO_SYMLINKS | Resolve.NO_MAGICLINKS;

function errnoOf(error: unknown): number | undefined {
  return error instanceof SyscallError ? error.errno : undefined;
}

/** unlinkat that accepts a missing entry; a symlink is removed itself, never what it points to. */
function removeEntry(dirFd: number, name: string): void {
  try {
    unlinkat(dirFd, name);
  } catch (error) {
    if (errnoOf(error) !== Errno.ENOENT) throw error;
  }
}

/**
 * One node. Its directory is resolved inside the root (following symlinks there, as a path in the container
 * would) and held by descriptor; the node's own name is then replaced, whatever it was, by the node, so
 * neither a symlinked directory nor a link planted at the name can put it outside the rootfs.
 */
function createDevice(sys: Sys, root: RootDir, device: DeviceNode, bindFromHost: boolean): void {
  const { dirFd, name } = openParentInRoot(root.fd, device.path);
  try {
    removeEntry(dirFd, name);
    if (bindFromHost) {
      fs.closeSync(openat2(dirFd, name, OpenFlags.CREAT | OpenFlags.EXCL | OpenFlags.WRONLY | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC, ENTRY_ONLY, 0o000));
      const target = openat2(dirFd, name, OpenFlags.PATH | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC, ENTRY_ONLY);
      try {
        sys.mount(device.path, procFd(target), null, MountFlags.BIND, null);
        // The bind is checked like a config mount: looked up again, it must be a new mount on that very file.
        const mounted = reopenMounted(root, target);
        try {
          checkMountedOn(mounted, target, root.path);
        } finally {
          fs.closeSync(mounted);
        }
      } finally {
        fs.closeSync(target);
      }
      return;
    }
    const typeBits = device.type === 'b' ? FileType.IFBLK : device.type === 'p' ? FileType.IFIFO : FileType.IFCHR;
    sys.mknodat(dirFd, name, typeBits | (device.fileMode & 0o7777), device.major, device.minor);
    // chown through a descriptor of the new node: a link swapped in at the name would be followed by chown(2).
    const node = openat2(dirFd, name, OpenFlags.PATH | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC, ENTRY_ONLY);
    try {
      fs.chownSync(procFd(node), device.uid, device.gid);
    } finally {
      fs.closeSync(node);
    }
  } finally {
    fs.closeSync(dirFd);
  }
}

/**
 * Creates the default device nodes and linux.devices in the container's /dev (before pivot_root). Inside a user
 * namespace mknod is not allowed: the host's node of the same path is bind-mounted onto an empty file instead,
 * as runc does.
 */
export function createDevices(sys: Sys, root: RootDir, extra: readonly DeviceNode[], bindFromHost = false): void {
  const byPath = new Map<string, DeviceNode>();
  for (const device of [...DEFAULT_DEVICES, ...extra]) byPath.set(device.path, device);
  const oldMask = sys.umask(0);
  try {
    for (const device of byPath.values()) {
      try {
        createDevice(sys, root, device, bindFromHost);
      } catch (error) {
        const index = extra.indexOf(device);
        const where = index >= 0 ? `config.json /linux/devices/${index} ${device.path}` : `default device ${device.path}`;
        if (error instanceof SyscallError) throw new SyscallError(`${error.operation} (${where})`, error.errno);
        if (error instanceof RuntimeError) throw new RuntimeError(error.code, `${where}: ${error.message}`);
        throw new RuntimeError('device', `${where}: ${(error as Error).message}`);
      }
    }
  } finally {
    sys.umask(oldMask);
  }
}

/** The /dev symlinks runtime-spec asks for, plus /dev/ptmx → pts/ptmx when devpts is mounted. */
export function createDevSymlinks(root: RootDir): void {
  const links: Array<[string, string]> = [
    ['/proc/self/fd', 'fd'],
    ['/proc/self/fd/0', 'stdin'],
    ['/proc/self/fd/1', 'stdout'],
    ['/proc/self/fd/2', 'stderr'],
  ];
  if (fs.existsSync('/proc/kcore')) links.push(['/proc/kcore', 'core']);
  const dev = openInRoot(root.fd, '/dev', OpenFlags.DIRECTORY);
  try {
    for (const [target, name] of links) {
      try {
        symlinkat(target, dev, name);
      } catch (error) {
        // The link itself may already exist (and point anywhere): it is left as the image has it.
        if (errnoOf(error) !== Errno.EEXIST) throw error;
      }
    }
    let hasPtmx = false;
    try {
      fs.closeSync(openat2(dev, 'pts/ptmx', OpenFlags.PATH | OpenFlags.NOFOLLOW | OpenFlags.CLOEXEC, Resolve.BENEATH | Resolve.NO_SYMLINKS | Resolve.NO_MAGICLINKS));
      hasPtmx = true;
    } catch (error) {
      if (![Errno.ENOENT, Errno.ENOTDIR, Errno.ELOOP].includes(errnoOf(error) as never)) throw error;
    }
    if (hasPtmx) {
      removeEntry(dev, 'ptmx');
      symlinkat('pts/ptmx', dev, 'ptmx');
    }
  } finally {
    fs.closeSync(dev);
  }
}
