import type { CommandModule } from 'yargs';
import { parseSignal } from '../../spec/signals';
import type { CliContext } from '../cli-context';

export function killCommand(cli: CliContext): CommandModule<object, { id: string; signal: string; all: boolean }> {
  return {
    command: 'kill <id> [signal]',
    describe: 'send a signal (default SIGTERM) to the container process',
    builder: (y) => y
      .positional('id', { type: 'string', demandOption: true })
      .positional('signal', { type: 'string', default: 'SIGTERM', describe: 'name (KILL, SIGKILL) or number' })
      .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'signal every process of the container; no error if it stopped' }),
    handler: async (args) => {
      const signal = parseSignal(String(args.signal));
      const { killContainer } = await import('../../container/kill');
      killContainer(cli.context(), { id: args.id, signal, all: args.all });
    },
  };
}
