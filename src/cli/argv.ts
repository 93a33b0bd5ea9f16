/** Long options tsrun knows, for accepting Go-style single-dash spellings (`-bundle x`, `-no-subreaper`). */
const LONG_OPTIONS = new Set([
  'root', 'log', 'log-format', 'debug', 'systemd-cgroup', 'rootless', 'cgroup-manager', 'criu', 'version', 'help',
  'bundle', 'pid-file', 'console-socket', 'no-pivot', 'no-new-keyring', 'preserve-fds', 'detach', 'keep',
  'force', 'all', 'format', 'quiet', 'no-subreaper', 'resources', 'stats', 'interval', 'memory', 'memory-swap',
  'memory-reservation', 'process', 'tty', 'cwd', 'env', 'user', 'additional-gids', 'cap', 'no-new-privs', 'ignore-paused',
  'apparmor', 'process-label', 'pids-limit', 'cpu-share', 'cpu-quota', 'cpu-period', 'cpuset-cpus', 'cpuset-mems', 'blkio-weight',
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

/** Options that take a value (so the token after them is not the container ID), for exec's argument split. */
const VALUE_OPTIONS = new Set([
  '--root', '--log', '--log-format', '--rootless', '--criu', '--cgroup-manager',
  '--process', '-p', '--pid-file', '--console-socket', '--cwd', '--env', '-e', '--user', '-u', '--additional-gids', '-g',
  '--cap', '-c', '--apparmor', '--process-label', '--preserve-fds',
]);

/**
 * `exec ID COMMAND ARGS…`: like runc, options end at the container ID and everything after it is the command
 * (`sh -c …` must not read `-c` as exec's --cap). Inserts `--` after the ID when the caller did not.
 */
export function separateExecCommand(argv: readonly string[]): string[] {
  const verb = argv.indexOf('exec');
  if (verb < 0 || argv.includes('--')) return [...argv];
  for (let i = verb + 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('-')) {
      if (VALUE_OPTIONS.has(arg)) i++;
      continue;
    }
    return [...argv.slice(0, i + 1), '--', ...argv.slice(i + 1)];
  }
  return [...argv];
}
