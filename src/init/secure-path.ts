import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../errors';

const MAX_SYMLINKS = 255;

/**
 * Resolves `unsafePath` (a path as the container sees it) to a host path under `root`, following symlinks
 * the way the kernel would if `root` were `/`: an absolute link target or `..` can never climb out of `root`.
 * Components that do not exist yet are appended literally. config.json is untrusted input: never open a
 * path built by plain joining.
 */
export function resolveInRoot(root: string, unsafePath: string, lstat = fs.lstatSync, readlink = fs.readlinkSync): string {
  const queue = unsafePath.split('/').filter((c) => c !== '' && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (queue.length > 0) {
    const component = queue.shift()!;
    if (component === '.') continue;
    if (component === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, component);
    let stat: fs.Stats | undefined;
    try {
      stat = lstat(candidate);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (stat?.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) {
        throw new RuntimeError('symlink-loop', `resolve ${JSON.stringify(unsafePath)} in ${root}: too many levels of symbolic links`);
      }
      const target = readlink(candidate, 'utf8');
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
      continue;
    }
    resolved.push(component);
  }
  return path.join(root, ...resolved);
}

/** mkdir -p of a container path, each component resolved inside `root`; returns the host path. */
export function mkdirAllInRoot(root: string, unsafePath: string, mode = 0o755): string {
  const target = resolveInRoot(root, unsafePath);
  fs.mkdirSync(target, { recursive: true, mode });
  return target;
}
