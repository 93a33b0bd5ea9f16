import type { Argv, CommandModule } from 'yargs';
import { RuntimeError } from '../../errors';
import type { CliContext } from '../cli-context';

interface ExecArgs {
  id: string;
  command?: string[];
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

export function execCommand(cli: CliContext): CommandModule<object, ExecArgs> {
  return {
    command: 'exec <id> [command..]',
    describe: 'run another process in a running container',
    builder: (y) => y
      .positional('id', { type: 'string', demandOption: true })
      .positional('command', { type: 'string', array: true, describe: 'the command and its arguments (unless --process)' })
      .option('process', { alias: 'p', type: 'string', describe: 'a runtime-spec process JSON file' })
      .option('detach', { alias: 'd', type: 'boolean', default: false })
      .option('pid-file', { type: 'string' })
      .option('console-socket', { type: 'string' })
      .option('tty', { alias: 't', type: 'boolean', default: false })
      .option('cwd', { type: 'string' })
      .option('env', { alias: 'e', type: 'string', array: true, default: [] })
      .option('user', { alias: 'u', type: 'string', describe: 'uid[:gid]' })
      .option('additional-gids', { alias: 'g', type: 'number', array: true, default: [] })
      .option('cap', { alias: 'c', type: 'string', array: true, default: [] })
      .option('no-new-privs', { type: 'boolean', default: false })
      .option('ignore-paused', { type: 'boolean', default: false })
      .option('apparmor', { type: 'string' })
      .option('process-label', { type: 'string' })
      .option('preserve-fds', { type: 'number', default: 0 }) as unknown as Argv<ExecArgs>,
    handler: async (args) => {
      const { execInContainer } = await import('../../container/exec');
      const { parseTestPause } = await import('../../container/test-pause');
      cli.checkPassedFds(args.preserveFds, '--preserve-fds');
      try {
        const code = await execInContainer(cli.context(), {
          // After the `--` inserted behind the ID, yargs leaves the command in `_` (after the verb itself).
          id: args.id, processFile: args.process, args: [...(args.command ?? []), ...((args as { _?: unknown[] })._ ?? []).slice(1)].map(String), detach: args.detach, pidFile: args.pidFile,
          consoleSocket: args.consoleSocket, tty: args.tty, cwd: args.cwd, env: args.env, user: args.user,
          additionalGids: args.additionalGids, caps: args.cap, noNewPrivs: args.noNewPrivs, ignorePaused: args.ignorePaused,
          apparmor: args.apparmor, processLabel: args.processLabel, preserveFds: args.preserveFds,
          testPause: parseTestPause(process.env.TSRUN_TEST_PAUSE),
        });
        cli.setExitCode(code);
      } catch (error) {
        // runc exits 255 when exec itself fails (conmon and containerd look at the pid file, not this code).
        if (error instanceof RuntimeError && error.exitCode === 1) throw new RuntimeError(error.code, error.message, { exitCode: 255, cause: error });
        throw error;
      }
    },
  };
}
