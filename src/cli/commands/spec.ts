import path from 'node:path';
import type { CommandModule } from 'yargs';
import type { CliContext } from '../cli-context';

export function specCommand(_cli: CliContext): CommandModule<object, { bundle: string; rootless: boolean }> {
  return {
    command: 'spec',
    describe: 'write a default config.json into the bundle directory',
    builder: (y) => y
      .option('bundle', { alias: 'b', type: 'string', default: '.', describe: 'directory to write config.json into' })
      .option('rootless', { type: 'boolean', default: false, describe: 'a config for a container run by a non-root user' }),
    handler: async (args) => {
      const { defaultSpec, writeDefaultSpec } = await import('../../spec/default-spec');
      const spec = defaultSpec({ rootless: args.rootless, uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 });
      writeDefaultSpec(path.resolve(args.bundle), spec);
    },
  };
}
