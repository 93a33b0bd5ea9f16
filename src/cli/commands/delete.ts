import type { CommandModule } from 'yargs';
import type { CliContext } from '../cli-context';

export function deleteCommand(cli: CliContext): CommandModule<object, { id: string; force: boolean }> {
  return {
    command: 'delete <id>',
    describe: 'delete a stopped (or created) container and everything tsrun made for it',
    builder: (y) => y
      .positional('id', { type: 'string', demandOption: true })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'kill a running container first (SIGKILL)' }),
    handler: async (args) => {
      const { deleteContainer } = await import('../../container/delete');
      deleteContainer(cli.context(), { id: args.id, force: args.force });
    },
  };
}
