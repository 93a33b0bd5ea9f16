/** Long options tsrun knows, for accepting Go-style single-dash spellings (`-bundle x`, `-no-subreaper`). */
const LONG_OPTIONS = new Set([
  'root', 'log', 'log-format', 'debug', 'systemd-cgroup', 'rootless', 'cgroup-manager', 'criu', 'version', 'help',
  'bundle', 'pid-file', 'console-socket', 'no-pivot', 'no-new-keyring', 'preserve-fds', 'detach', 'keep',
  'force', 'all', 'format', 'quiet', 'no-subreaper', 'resources', 'stats', 'interval', 'memory', 'memory-swap',
  'memory-reservation', 'pids-limit', 'cpu-share', 'cpu-quota', 'cpu-period', 'cpuset-cpus', 'cpuset-mems', 'blkio-weight',
]);

/**
 * runc parses flags like Go's flag package, where `-name` and `--name` are the same; go-runc emits at least one
 * such flag. yargs would read `-bundle` as the short flags b, u, n, …, so rewrite known single-dash long
 * options to the double-dash form. Everything after `--` is left alone.
 */
export function normalizeArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const arg of argv) {
    if (passthrough || arg === '--') {
      passthrough = true;
      out.push(arg);
      continue;
    }
    const match = /^-([a-z][a-z-]+)(=.*)?$/.exec(arg);
    out.push(match && LONG_OPTIONS.has(match[1]!) ? `-${arg}` : arg);
  }
  return out;
}
