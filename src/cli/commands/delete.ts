import type { Verb } from '../verb';

export const deleteVerb: Verb<{ id: string; force: boolean }> = {
  name: 'delete',
  describe: 'delete a stopped (or created) container and everything tsrun made for it',
  positionals: [{ name: 'id' }],
  options: {
    force: { alias: 'f', type: 'boolean', default: false, describe: 'kill a running container first (SIGKILL)' },
  },
  async handler(cli, args) {
    const { deleteContainer } = await import('../../container/delete');
    deleteContainer(cli.context(), { id: args.id, force: args.force });
  },
};
