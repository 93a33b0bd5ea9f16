import type { Verb } from '../verb';

export const startVerb: Verb<{ id: string }> = {
  name: 'start',
  describe: 'run the process of a created container',
  positionals: [{ name: 'id' }],
  options: {},
  async handler(cli, args) {
    const { startContainer } = await import('../../container/start');
    startContainer(cli.context(), args.id);
  },
};
