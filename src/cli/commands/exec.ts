import { RuntimeError } from '../../errors';
import type { Verb } from '../verb';

interface ExecArgs {
  id: string;
  command: string[];
  process?: string;
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
  tty: boolean;
  cwd?: string;
  env: string[];
  user?: string;
  additionalGids: number[];
  cap: string[];
  noNewPrivs: boolean;
  ignorePaused: boolean;
  apparmor?: string;
  processLabel?: string;
  preserveFds: number;
}

export const execVerb: Verb<ExecArgs> = {
  name: 'exec',
  describe: 'run another process in a running container',
  positionals: [{ name: 'id' }, { name: 'command', variadic: true, describe: 'the command and its arguments (unless --process)' }],
  options: {
    process: { alias: 'p', type: 'string', describe: 'a runtime-spec process JSON file' },
    detach: { alias: 'd', type: 'boolean', default: false },
    'pid-file': { type: 'string' },
    'console-socket': { type: 'string' },
    tty: { alias: 't', type: 'boolean', default: false },
    cwd: { type: 'string' },
    env: { alias: 'e', type: 'string', array: true, default: [] },
    user: { alias: 'u', type: 'string', describe: 'uid[:gid]' },
    'additional-gids': { alias: 'g', type: 'number', array: true, default: [] },
    cap: { alias: 'c', type: 'string', array: true, default: [] },
    'no-new-privs': { type: 'boolean', default: false },
    'ignore-paused': { type: 'boolean', default: false },
    apparmor: { type: 'string' },
    'process-label': { type: 'string' },
    'preserve-fds': { type: 'number', default: 0 },
  },
  async handler(cli, args) {
    const { execInContainer } = await import('../../container/exec');
    cli.checkPassedFds(args.preserveFds, '--preserve-fds');
    try {
      const code = await execInContainer(cli.context(), {
        id: args.id, processFile: args.process, args: args.command, detach: args.detach, pidFile: args.pidFile,
        consoleSocket: args.consoleSocket, tty: args.tty, cwd: args.cwd, env: args.env, user: args.user,
        additionalGids: args.additionalGids, caps: args.cap, noNewPrivs: args.noNewPrivs, ignorePaused: args.ignorePaused,
        apparmor: args.apparmor, processLabel: args.processLabel, preserveFds: args.preserveFds,
      });
      cli.setExitCode(code);
    } catch (error) {
      // runc exits 255 when exec itself fails (conmon and containerd look at the pid file, not this code).
      if (error instanceof RuntimeError && error.exitCode === 1) throw new RuntimeError(error.code, error.message, { exitCode: 255, cause: error });
      throw error;
    }
  },
};
