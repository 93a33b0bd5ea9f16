import { printOut } from '../output';
import type { Verb } from '../verb';
import { versionNumber } from '../version';

export const featuresVerb: Verb<object> = {
  name: 'features',
  describe: 'print what this tsrun implements, as runtime-spec features JSON',
  positionals: [],
  options: {},
  async handler() {
    const { features } = await import('../../spec/features');
    const { seccompHost } = await import('../../linux/seccomp-host');
    // Pretty-printed like runc's (containerd logs it).
    printOut(`${JSON.stringify(features(versionNumber(), seccompHost()), null, 4)}\n`);
  },
};
