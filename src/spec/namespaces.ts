import { CloneFlags } from '../linux/constants';
import type { NamespaceType } from './types';

export const NAMESPACE_FLAGS: Readonly<Record<NamespaceType, number>> = {
  pid: CloneFlags.NEWPID,
  network: CloneFlags.NEWNET,
  mount: CloneFlags.NEWNS,
  ipc: CloneFlags.NEWIPC,
  uts: CloneFlags.NEWUTS,
  user: CloneFlags.NEWUSER,
  cgroup: CloneFlags.NEWCGROUP,
  time: CloneFlags.NEWTIME,
};

export const TYPE_BY_FLAG = new Map(Object.entries(NAMESPACE_FLAGS).map(([type, flag]) => [flag, type]));

/** A namespace config.json asks the container to join by path. */
export interface NamespaceJoin {
  type: NamespaceType;
  path: string;
  /** JSON pointer of the entry, for messages. */
  pointer: string;
}

/**
 * The order to setns in: the user namespace first (the others may be owned by it and joining them needs its
 * capabilities), the mount namespace last (after it, host paths are gone); the rest in config order.
 */
export function orderJoins(joins: readonly NamespaceJoin[]): NamespaceJoin[] {
  const rank = (j: NamespaceJoin) => (j.type === 'user' ? 0 : j.type === 'mount' ? 2 : 1);
  return [...joins].sort((a, b) => rank(a) - rank(b));
}
