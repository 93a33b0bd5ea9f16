import type { CommandModule } from 'yargs';
import { inspectContainer, stateJson } from '../../container/inspect';
import { formatState } from '../../container/list-format';
import type { CliContext } from '../cli-context';
import { printOut } from '../output';

export function stateCommand(cli: CliContext): CommandModule<object, { id: string }> {
  return {
    command: 'state <id>',
    describe: 'print the state of a container as OCI state JSON',
    builder: (y) => y.positional('id', { type: 'string', demandOption: true }),
    handler: (args) => {
      const view = inspectContainer(cli.context(), args.id);
      printOut(`${formatState(stateJson(view))}\n`);
    },
  };
}
