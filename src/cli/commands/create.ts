import type { Verb } from '../verb';

export interface CreateArgs {
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot: boolean;
  noNewKeyring: boolean;
  preserveFds: number;
}

/** The options create and run share. */
export const CREATE_OPTIONS = {
  bundle: { alias: 'b', type: 'string', default: '.', describe: 'path to the bundle directory' },
  'pid-file': { type: 'string', describe: 'write the container process PID to this file' },
  'console-socket': { type: 'string', describe: 'AF_UNIX socket that receives the pty master' },
  'no-pivot': { type: 'boolean', default: false, describe: 'use MS_MOVE + chroot instead of pivot_root' },
  'no-new-keyring': { type: 'boolean', default: false, describe: 'keep the session keyring of the caller' },
  'preserve-fds': { type: 'number', default: 0, describe: 'pass N additional fds (3..3+N-1) to the container' },
} as const;

export const createVerb: Verb<CreateArgs> = {
  name: 'create',
  describe: 'create a container from a bundle; its process waits until `start`',
  positionals: [{ name: 'id', describe: 'container ID, unique on this --root' }],
  options: CREATE_OPTIONS,
  async handler(cli, args) {
    cli.refuse(!Number.isInteger(args.preserveFds) || args.preserveFds < 0, `--preserve-fds ${args.preserveFds}: must be a non-negative integer`);
    cli.checkPassedFds(cli.listenFds() + args.preserveFds, cli.listenFds() > 0 ? 'LISTEN_FDS/--preserve-fds' : '--preserve-fds');
    const { createContainer } = await import('../../container/create');
    createContainer(cli.context(), {
      id: args.id, bundle: args.bundle, pidFile: args.pidFile, noPivot: args.noPivot, noNewKeyring: args.noNewKeyring, preserveFds: args.preserveFds, listenFds: cli.listenFds(), consoleSocket: args.consoleSocket,
    });
  },
};
