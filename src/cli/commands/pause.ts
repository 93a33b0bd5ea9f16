import type { CommandModule } from 'yargs';
import type { CliContext } from '../cli-context';

export function pauseCommand(cli: CliContext): CommandModule<object, { id: string }> {
  return {
    command: 'pause <id>',
    describe: 'freeze every process of a container',
    builder: (y) => y.positional('id', { type: 'string', demandOption: true }),
    handler: async (args) => {
      const { pauseContainer } = await import('../../container/pause');
      pauseContainer(cli.context(), args.id);
    },
  };
}

export function resumeCommand(cli: CliContext): CommandModule<object, { id: string }> {
  return {
    command: 'resume <id>',
    describe: 'thaw a paused container',
    builder: (y) => y.positional('id', { type: 'string', demandOption: true }),
    handler: async (args) => {
      const { resumeContainer } = await import('../../container/pause');
      resumeContainer(cli.context(), args.id);
    },
  };
}
