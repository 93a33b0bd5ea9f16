import type { CreateOptions } from '../../container/create';
import type { CliContext } from '../cli-context';
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

/**
 * What create and run hand to the container layer: the flags, checked (--preserve-fds must name descriptors the
 * caller really passed), plus socket activation's LISTEN_FDS.
 */
export function createOptionsOf(cli: CliContext, args: CreateArgs): CreateOptions {
  cli.refuse(!Number.isInteger(args.preserveFds) || args.preserveFds < 0, `--preserve-fds ${args.preserveFds}: must be a non-negative integer`);
  const listenFds = cli.listenFds();
  cli.checkPassedFds(listenFds + args.preserveFds, listenFds > 0 ? 'LISTEN_FDS/--preserve-fds' : '--preserve-fds');
  return {
    id: args.id, bundle: args.bundle, pidFile: args.pidFile, noPivot: args.noPivot, noNewKeyring: args.noNewKeyring,
    preserveFds: args.preserveFds, listenFds, consoleSocket: args.consoleSocket,
  };
}

export const createVerb: Verb<CreateArgs> = {
  name: 'create',
  describe: 'create a container from a bundle; its process waits until `start`',
  positionals: [{ name: 'id', describe: 'container ID, unique on this --root' }],
  options: CREATE_OPTIONS,
  async handler(cli, args) {
    const options = createOptionsOf(cli, args);
    const { createContainer } = await import('../../container/create');
    createContainer(cli.context(), options);
  },
};
