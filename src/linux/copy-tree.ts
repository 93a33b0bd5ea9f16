import { spawnSync } from 'node:child_process';
import { RuntimeError } from '../errors';

/**
 * `cp -a -H --no-target-directory FROM TO`: a directory's content with owners, modes, times, hard links, symlinks
 * (as links), devices and xattrs; TO is made, or when it is an existing directory, FROM's content goes into it and
 * it takes FROM's owner and mode. -H follows FROM itself when it is a link, so FROM may be /proc/<pid>/fd/<n>.
 * coreutils is on every system tsrun runs on; `what` names the copy in errors.
 */
export function copyTree(from: string, to: string, what: string): void {
  const copied = spawnSync('cp', ['-a', '-H', '--no-target-directory', '--', from, to], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (copied.error || copied.status !== 0) {
    const why = copied.error?.message ?? (copied.stderr.trim().split('\n')[0] || `cp: exit status ${copied.status}`);
    throw new RuntimeError('copy', `${what}: ${why}`);
  }
}
