import type { CommandModule } from 'yargs';
import type { CliContext } from '../cli-context';
import { printOut } from '../output';
import { versionNumber } from '../version';

export function featuresCommand(_cli: CliContext): CommandModule {
  return {
    command: 'features',
    describe: 'print what this tsrun implements, as runtime-spec features JSON',
    handler: async () => {
      const { features } = await import('../../spec/features');
      const { seccompHost } = await import('../../linux/seccomp-host');
      // Pretty-printed like runc's (containerd logs it).
      printOut(`${JSON.stringify(features(versionNumber(), seccompHost()), null, 4)}\n`);
    },
  };
}
