import fs from 'node:fs';
import path from 'node:path';
import { FileType, MountFlags } from '../linux/constants';
import type { Sys } from '../linux/sys';
import { DEFAULT_DEVICES, type DeviceNode } from '../spec/plan';
import { mkdirAllInRoot, resolveInRoot } from './secure-path';

/**
 * Creates the default device nodes and linux.devices in the container's /dev (before pivot_root). Inside a user
 * namespace mknod is not allowed: the host's node of the same path is bind-mounted onto an empty file instead,
 * as runc does.
 */
export function createDevices(sys: Sys, rootfs: string, extra: readonly DeviceNode[], bindFromHost = false): void {
  const byPath = new Map<string, DeviceNode>();
  for (const device of [...DEFAULT_DEVICES, ...extra]) byPath.set(device.path, device);
  const oldMask = sys.umask(0);
  try {
    for (const device of byPath.values()) {
      mkdirAllInRoot(rootfs, path.posix.dirname(device.path));
      const target = resolveInRoot(rootfs, device.path);
      try {
        fs.unlinkSync(target);
      } catch {
        // not there yet: the usual case on a fresh tmpfs
      }
      if (bindFromHost) {
        fs.closeSync(fs.openSync(target, 'w', 0o000));
        sys.mount(device.path, target, null, MountFlags.BIND, null);
        continue;
      }
      const typeBits = device.type === 'b' ? FileType.IFBLK : device.type === 'p' ? FileType.IFIFO : FileType.IFCHR;
      sys.mknod(target, typeBits | (device.fileMode & 0o7777), device.major, device.minor);
      fs.chownSync(target, device.uid, device.gid);
    }
  } finally {
    sys.umask(oldMask);
  }
}

/** The /dev symlinks runtime-spec asks for, plus /dev/ptmx → pts/ptmx when devpts is mounted. */
export function createDevSymlinks(rootfs: string): void {
  const links: Array<[string, string]> = [
    ['/proc/self/fd', '/dev/fd'],
    ['/proc/self/fd/0', '/dev/stdin'],
    ['/proc/self/fd/1', '/dev/stdout'],
    ['/proc/self/fd/2', '/dev/stderr'],
  ];
  if (fs.existsSync('/proc/kcore')) links.push(['/proc/kcore', '/dev/core']);
  for (const [target, link] of links) {
    // Resolve the directory only: the link itself may already exist (and point anywhere).
    const where = path.join(resolveInRoot(rootfs, path.posix.dirname(link)), path.posix.basename(link));
    try {
      fs.symlinkSync(target, where);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  const pts = resolveInRoot(rootfs, '/dev/pts/ptmx');
  if (fs.existsSync(pts)) {
    const ptmx = resolveInRoot(rootfs, '/dev/ptmx');
    fs.rmSync(ptmx, { force: true });
    fs.symlinkSync('pts/ptmx', ptmx);
  }
}
