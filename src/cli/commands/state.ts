import type { Verb } from '../verb';

export const stateVerb: Verb<{ id: string }> = {
  name: 'state',
  describe: 'print the state of a container as OCI state JSON',
  positionals: [{ name: 'id' }],
  options: {},
  async handler(cli, args) {
    const [{ inspectContainer, stateJson }, { formatState }, { printOut }] = await Promise.all([
      import('../../container/inspect'), import('../../container/list-format'), import('../output'),
    ]);
    const view = inspectContainer(cli.context(), args.id);
    printOut(`${formatState(stateJson(view))}\n`);
  },
};
