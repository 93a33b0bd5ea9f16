import type { Argv, CommandModule } from 'yargs';
import type { CliContext } from '../cli-context';

interface RunArgs {
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  detach: boolean;
  noPivot: boolean;
  noNewKeyring: boolean;
  preserveFds: number;
  keep: boolean;
}

export function runCommand(cli: CliContext): CommandModule<object, RunArgs> {
  return {
    command: 'run <id>',
    describe: 'create and start a container; wait for it and exit with its status unless --detach',
    builder: (y) => y
      .positional('id', { type: 'string', demandOption: true })
      .option('bundle', { alias: 'b', type: 'string', default: '.', describe: 'path to the bundle directory' })
      .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'return once the process started' })
      .option('pid-file', { type: 'string', describe: 'write the container process PID to this file' })
      .option('console-socket', { type: 'string' })
      .option('no-pivot', { type: 'boolean', default: false })
      .option('no-new-keyring', { type: 'boolean', default: false })
      .option('preserve-fds', { type: 'number', default: 0 })
      .option('keep', { type: 'boolean', default: false, describe: 'do not delete the container after it exits' }) as unknown as Argv<RunArgs>,
    handler: async (args) => {
      cli.refuse(!Number.isInteger(args.preserveFds) || args.preserveFds < 0, `--preserve-fds ${args.preserveFds}: must be a non-negative integer`);
      cli.checkPassedFds(cli.listenFds() + args.preserveFds, cli.listenFds() > 0 ? 'LISTEN_FDS/--preserve-fds' : '--preserve-fds');
      cli.refuse(args.keep, '--keep: not supported yet');
      const { runContainer } = await import('../../container/run');
      const code = await runContainer(cli.context(), {
        id: args.id, bundle: args.bundle, pidFile: args.pidFile, noPivot: args.noPivot, noNewKeyring: args.noNewKeyring, preserveFds: args.preserveFds, listenFds: cli.listenFds(), consoleSocket: args.consoleSocket, detach: args.detach,
      });
      cli.setExitCode(code);
    },
  };
}
