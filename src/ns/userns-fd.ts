import { readSync } from 'node:fs';
import { RuntimeError } from '../errors';
import { CloneFlags, OpenFlags, SIGKILL } from '../linux/constants';
import type { Sys } from '../linux/sys';
import type { IdMapping } from '../spec/types';
import { runChild } from './child';
import { closeAllExcept } from './spawn-init';
import { MessageReader, sendMessage } from './sync-channel';
import { writeIdMaps } from './id-maps';

/**
 * A user namespace with the given maps, as an open /proc/PID/ns/user descriptor, for idmapped mounts. A forked
 * helper unshares it and waits; tsrun writes its maps, opens the namespace and kills the helper (the open
 * descriptor keeps the namespace alive).
 */
export function userNamespaceFd(sys: Sys, uidMappings: readonly IdMapping[], gidMappings: readonly IdMapping[], pointer: string): number {
  const [readFd, writeFd] = sys.pipe();
  const [holdRead, holdWrite] = sys.pipe();
  const helper = sys.fork();
  if (helper === 0) {
    runChild(sys, writeFd, () => {
      closeAllExcept(sys, [0, 1, 2, writeFd, holdRead, ...sys.eventLoopWakeupFds()]);
      sys.unshare(CloneFlags.NEWUSER);
      sendMessage(writeFd, { type: 'need-setup' });
      readSync(holdRead, Buffer.alloc(1), 0, 1, null); // until tsrun is done (then it is killed)
    });
  }
  sys.close(writeFd);
  sys.close(holdRead);
  try {
    const message = new MessageReader(readFd).next();
    if (message?.type === 'error') throw new RuntimeError(message.code, `config.json: ${pointer}: user namespace for the idmapped mount: ${message.message}`);
    if (message?.type !== 'need-setup') throw new RuntimeError('userns', `config.json: ${pointer}: the user namespace helper exited early`);
    writeIdMaps(helper, uidMappings, gidMappings, '/proc', pointer);
    return sys.open(`/proc/${helper}/ns/user`, OpenFlags.RDONLY | OpenFlags.CLOEXEC);
  } finally {
    sys.signalIfAlive(helper, SIGKILL);
    sys.waitpid(helper, 0);
    sys.close(readFd);
    sys.close(holdWrite);
  }
}
