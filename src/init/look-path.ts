import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../errors';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function isExecutableFile(file: string): 'ok' | 'missing' | 'denied' | 'directory' {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return 'missing';
  }
  if (stat.isDirectory()) return 'directory';
  if (!stat.isFile()) return 'denied';
  // Any execute bit: the kernel decides for the final user at execve; runc's lookup does the same.
  return (stat.mode & 0o111) !== 0 ? 'ok' : 'denied';
}

/**
 * Finds the executable for process.args[0] in the container's view (after pivot_root), like a shell would:
 * a name with a slash is used as is, otherwise each entry of the container's PATH is tried. The messages use
 * the phrases podman and docker map to exit codes 127 and 126.
 */
export function lookPath(name: string, env: readonly string[]): string {
  if (name.includes('/')) {
    const result = isExecutableFile(name);
    if (result === 'ok') return name;
    if (result === 'missing') throw new RuntimeError('exec-not-found', `exec: ${JSON.stringify(name)}: stat ${name}: no such file or directory`, { exitCode: 127 });
    throw new RuntimeError('exec-denied', `exec: ${JSON.stringify(name)}: permission denied`, { exitCode: 126 });
  }
  const pathEntry = [...env].reverse().find((e) => e.startsWith('PATH='));
  const searchPath = pathEntry === undefined ? DEFAULT_PATH : pathEntry.slice(5);
  let denied = false;
  for (const dir of searchPath.split(':')) {
    const candidate = path.join(dir === '' ? '.' : dir, name);
    const result = isExecutableFile(candidate);
    if (result === 'ok') return candidate;
    if (result === 'denied') denied = true; // a directory is skipped, as by a shell or Go's LookPath
  }
  if (denied) throw new RuntimeError('exec-denied', `exec: ${JSON.stringify(name)}: permission denied`, { exitCode: 126 });
  throw new RuntimeError('exec-not-found', `exec: ${JSON.stringify(name)}: executable file not found in $PATH`, { exitCode: 127 });
}
