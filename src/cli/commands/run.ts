import type { Verb } from '../verb';
import { CREATE_OPTIONS, type CreateArgs } from './create';

interface RunArgs extends CreateArgs {
  detach: boolean;
  keep: boolean;
}

export const runVerb: Verb<RunArgs> = {
  name: 'run',
  describe: 'create and start a container; wait for it and exit with its status unless --detach',
  positionals: [{ name: 'id' }],
  options: {
    ...CREATE_OPTIONS,
    detach: { alias: 'd', type: 'boolean', default: false, describe: 'return once the process started' },
    keep: { type: 'boolean', default: false, describe: 'do not delete the container after it exits' },
  },
  async handler(cli, args) {
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
