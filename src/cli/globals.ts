import fs from 'node:fs';
import type { RuntimeContext } from '../container/context';
import { StateStore } from '../container/state-store';
import { parseTestPause } from '../container/test-pause';
import { createFileLock, createTryFileLock } from '../linux/file-lock';
import { createSys } from '../linux/sys';
import { RuntimeError } from '../errors';
import { Logger, type LogFormat } from './logger';

/** The global flags every verb accepts (before the verb, as go-runc and conmon pass them). */
export interface GlobalArgs {
  root?: string;
  log?: string;
  logFormat?: string;
  debug?: boolean;
  systemdCgroup?: boolean;
  rootless?: string;
}

/** runc's rule: /run/<name> for root, $XDG_RUNTIME_DIR/<name> otherwise. */
export function defaultRoot(): string {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0 && process.env.XDG_RUNTIME_DIR) return `${process.env.XDG_RUNTIME_DIR}/tsrun`;
  return '/run/tsrun';
}

/** runc's --rootless: true, false, or auto (the default): rootless when not running as root. */
export function isRootless(flag: string | undefined): boolean {
  if (flag === undefined || flag === 'auto' || flag === '') return (process.geteuid?.() ?? 0) !== 0;
  if (flag === 'true') return true;
  if (flag === 'false') return false;
  throw new RuntimeError('usage', `--rootless ${JSON.stringify(flag)}: must be true, false or auto`);
}

export function makeLogger(args: GlobalArgs): Logger {
  const format: LogFormat = args.logFormat === 'json' ? 'json' : 'text';
  return new Logger(args.log, format, args.debug === true);
}

export function makeContext(args: GlobalArgs, logger: Logger): RuntimeContext {
  if (args.systemdCgroup) {
    throw new RuntimeError('not-supported', '--systemd-cgroup: the systemd cgroup driver is not supported yet');
  }
  const root = args.root ?? defaultRoot();
  if (root === '/' || root === '') throw new RuntimeError('usage', `--root ${JSON.stringify(root)}: must be a directory other than /`);
  const sys = createSys();
  return {
    sys, store: new StateStore(root, createFileLock(sys), createTryFileLock(sys)), warn: (m) => logger.warn(m), rootless: isRootless(args.rootless),
    testPause: parseTestPause(process.env.TSRUN_TEST_PAUSE),
  };
}

export function readTextFile(file: string): string {
  return fs.readFileSync(file, 'utf8');
}
