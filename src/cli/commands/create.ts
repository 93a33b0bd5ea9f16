import type { Argv, CommandModule } from 'yargs';
import type { CliContext } from '../cli-context';

export interface CreateArgs {
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot: boolean;
  noNewKeyring: boolean;
  preserveFds: number;
}

export function createCommand(cli: CliContext): CommandModule<object, CreateArgs> {
  return {
    command: 'create <id>',
    describe: 'create a container from a bundle; its process waits until `start`',
    builder: (y) => y
      .positional('id', { type: 'string', demandOption: true, describe: 'container ID, unique on this --root' })
      .option('bundle', { alias: 'b', type: 'string', default: '.', describe: 'path to the bundle directory' })
      .option('pid-file', { type: 'string', describe: 'write the container process PID to this file' })
      .option('console-socket', { type: 'string', describe: 'AF_UNIX socket that receives the pty master' })
      .option('no-pivot', { type: 'boolean', default: false, describe: 'use MS_MOVE + chroot instead of pivot_root' })
      .option('no-new-keyring', { type: 'boolean', default: false, describe: 'keep the session keyring of the caller' })
      .option('preserve-fds', { type: 'number', default: 0, describe: 'pass N additional fds (3..3+N-1) to the container' }) as unknown as Argv<CreateArgs>,
    handler: async (args) => {
      cli.refuse(!Number.isInteger(args.preserveFds) || args.preserveFds < 0, `--preserve-fds ${args.preserveFds}: must be a non-negative integer`);
      cli.checkPassedFds(cli.listenFds() + args.preserveFds, cli.listenFds() > 0 ? 'LISTEN_FDS/--preserve-fds' : '--preserve-fds');
      const { createContainer } = await import('../../container/create');
      createContainer(cli.context(), {
        id: args.id, bundle: args.bundle, pidFile: args.pidFile, noPivot: args.noPivot, noNewKeyring: args.noNewKeyring, preserveFds: args.preserveFds, listenFds: cli.listenFds(), consoleSocket: args.consoleSocket,
      });
    },
  };
}
