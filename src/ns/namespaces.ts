import { RuntimeError } from '../errors';
import { OpenFlags } from '../linux/constants';
import type { Sys } from '../linux/sys';
import { NAMESPACE_FLAGS, orderJoins, TYPE_BY_FLAG, type NamespaceJoin } from '../spec/namespaces';

const NS_GET_NSTYPE = 0xb703;

/**
 * Opens every namespace to join, in the parent and before any fork, so a wrong path fails create before
 * anything exists, and checks each is a namespace of the declared type (NS_GET_NSTYPE).
 */
export function openNamespaceFiles(sys: Sys, joins: readonly NamespaceJoin[]): Array<NamespaceJoin & { fd: number; flag: number }> {
  const opened: Array<NamespaceJoin & { fd: number; flag: number }> = [];
  try {
    for (const join of orderJoins(joins)) {
      let fd: number;
      try {
        fd = sys.open(join.path, OpenFlags.RDONLY | OpenFlags.CLOEXEC);
      } catch (error) {
        throw new RuntimeError('namespace', `config.json: ${join.pointer}/path ${JSON.stringify(join.path)}: ${(error as Error).message.replace(/^open `[^`]*`: /, '')}`);
      }
      opened.push({ ...join, fd, flag: NAMESPACE_FLAGS[join.type] });
      let actual: number;
      try {
        actual = sys.ioctl(fd, NS_GET_NSTYPE, 0);
      } catch {
        throw new RuntimeError('namespace', `config.json: ${join.pointer}/path ${JSON.stringify(join.path)} is not a namespace file (expected a ${join.type} namespace)`);
      }
      if (actual !== NAMESPACE_FLAGS[join.type]) {
        throw new RuntimeError('namespace', `config.json: ${join.pointer}/path ${JSON.stringify(join.path)} is a ${TYPE_BY_FLAG.get(actual) ?? 'different'} namespace, not a ${join.type} namespace`);
      }
    }
    return opened;
  } catch (error) {
    for (const { fd } of opened) sys.close(fd);
    throw error;
  }
}
