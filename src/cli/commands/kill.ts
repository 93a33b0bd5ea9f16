import type { Verb } from '../verb';

export const killVerb: Verb<{ id: string; signal: string; all: boolean }> = {
  name: 'kill',
  describe: 'send a signal (default SIGTERM) to the container process',
  positionals: [{ name: 'id' }, { name: 'signal', default: 'SIGTERM', describe: 'name (KILL, SIGKILL) or number' }],
  options: {
    all: { alias: 'a', type: 'boolean', default: false, describe: 'signal every process of the container; no error if it stopped' },
  },
  async handler(cli, args) {
    const [{ parseSignal }, { killContainer }] = await Promise.all([import('../../spec/signals'), import('../../container/kill')]);
    killContainer(cli.context(), { id: args.id, signal: parseSignal(String(args.signal)), all: args.all });
  },
};
