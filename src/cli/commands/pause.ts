import type { Verb } from '../verb';

export const pauseVerb: Verb<{ id: string }> = {
  name: 'pause',
  describe: 'freeze every process of a container',
  positionals: [{ name: 'id' }],
  options: {},
  async handler(cli, args) {
    const { pauseContainer } = await import('../../container/pause');
    pauseContainer(cli.context(), args.id);
  },
};

export const resumeVerb: Verb<{ id: string }> = {
  name: 'resume',
  describe: 'thaw a paused container',
  positionals: [{ name: 'id' }],
  options: {},
  async handler(cli, args) {
    const { resumeContainer } = await import('../../container/pause');
    resumeContainer(cli.context(), args.id);
  },
};
