import path from 'node:path';
import type { Verb } from '../verb';

export const specVerb: Verb<{ bundle: string }> = {
  name: 'spec',
  describe: 'write a default config.json into the bundle directory',
  positionals: [],
  // `--rootless` (a config for a container run by a non-root user) is the global option of that name: declaring
  // it here too would make yargs merge a boolean with the global string and lose the value.
  options: {
    bundle: { alias: 'b', type: 'string', default: '.', describe: 'directory to write config.json into' },
  },
  async handler(cli, args) {
    const { defaultSpec, writeDefaultSpec } = await import('../../spec/default-spec');
    const flag = cli.globals.rootless;
    const rootless = flag === '' || flag === 'true';
    const spec = defaultSpec({ rootless, uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 });
    writeDefaultSpec(path.resolve(args.bundle), spec);
  },
};
