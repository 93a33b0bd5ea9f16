import path from 'node:path';
import type { CommandModule } from 'yargs';
import type { CliContext } from '../cli-context';

export function specCommand(_cli: CliContext): CommandModule<object, { bundle: string; rootless?: string }> {
  return {
    command: 'spec',
    describe: 'write a default config.json into the bundle directory',
    builder: (y) => y
      // `--rootless` (a config for a container run by a non-root user) is read from the global option of that
      // name: declaring it here too makes yargs merge a boolean with the global string and lose the value.
      .option('bundle', { alias: 'b', type: 'string', default: '.', describe: 'directory to write config.json into' }),
    handler: async (args) => {
      const { defaultSpec, writeDefaultSpec } = await import('../../spec/default-spec');
      const flag = args.rootless as unknown;
      const rootless = flag === '' || flag === 'true';
      const spec = defaultSpec({ rootless, uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 });
      writeDefaultSpec(path.resolve(args.bundle), spec);
    },
  };
}
