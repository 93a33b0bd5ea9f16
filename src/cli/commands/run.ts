import type { Verb } from '../verb';
import { CREATE_OPTIONS, createOptionsOf, type CreateArgs } from './create';

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
    const options = createOptionsOf(cli, args);
    cli.refuse(args.keep, '--keep: not supported yet');
    const { runContainer } = await import('../../container/run');
    const code = await runContainer(cli.context(), { ...options, detach: args.detach });
    cli.setExitCode(code);
  },
};
