import type { CommandModule } from 'yargs';
import type { CliContext } from '../cli-context';

export function startCommand(cli: CliContext): CommandModule<object, { id: string }> {
  return {
    command: 'start <id>',
    describe: 'run the process of a created container',
    builder: (y) => y.positional('id', { type: 'string', demandOption: true }),
    handler: async (args) => {
      const { startContainer } = await import('../../container/start');
      startContainer(cli.context(), args.id);
    },
  };
}
