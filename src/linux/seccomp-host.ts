import { SECCOMP_ARCHES } from '../spec/seccomp';
import type { SeccompHost } from '../spec/features';
import { libseccompVersion, seccompArchToken } from './seccomp';

/** What this host's libseccomp can do, for `tsrun features`; undefined when the library is missing. */
export function seccompHost(): SeccompHost | undefined {
  try {
    const version = libseccompVersion();
    const archs = Object.entries(SECCOMP_ARCHES).filter(([, name]) => seccompArchToken(name) !== undefined).map(([spec]) => spec);
    return { version, archs };
  } catch {
    return undefined;
  }
}
