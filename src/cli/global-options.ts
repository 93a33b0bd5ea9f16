import type { FlagSpec } from './verb';

/** The global flags every verb accepts (before the verb, as go-runc and conmon pass them, or anywhere). */
export const GLOBAL_OPTIONS: Readonly<Record<string, FlagSpec>> = {
  root: { type: 'string', describe: 'directory for container state (default /run/tsrun)' },
  log: { type: 'string', describe: 'append log entries to this file instead of stderr' },
  'log-format': { type: 'string', choices: ['text', 'json'], default: 'text' },
  debug: { type: 'boolean', default: false, describe: 'log debug output and error stacks' },
  'systemd-cgroup': { type: 'boolean', default: false, describe: 'use the systemd cgroup driver (not supported yet)' },
  rootless: { type: 'string', describe: 'true, false or auto (default: rootless when not run as root)' },
  'cgroup-manager': { type: 'string', hidden: true },
  criu: { type: 'string', hidden: true },
};
