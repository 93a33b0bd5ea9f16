import fs from 'node:fs';
import { RuntimeError } from '../errors';
import type { IdMapping } from '../spec/types';

/** The text of /proc/PID/{uid,gid}_map: one "inside outside count" line per range. */
export function formatIdMap(mappings: readonly IdMapping[]): string {
  return mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

/**
 * Writes the user namespace's ID maps of process `pid` (stage 1, right after its unshare(CLONE_NEWUSER)).
 * tsrun writes them from the parent, which is privileged in the initial namespace, so multi-range maps work
 * and setgroups stays allowed. Each file takes exactly one write.
 */
export function writeIdMaps(pid: number, uidMappings: readonly IdMapping[], gidMappings: readonly IdMapping[], procRoot = '/proc', pointer = '/linux'): void {
  const write = (file: 'uid_map' | 'gid_map', mappings: readonly IdMapping[]) => {
    const target = `${procRoot}/${pid}/${file}`;
    try {
      fs.writeFileSync(target, formatIdMap(mappings));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      const field = file === 'uid_map' ? 'uidMappings' : 'gidMappings';
      throw new RuntimeError('id-map', `config.json: ${pointer}/${field}: write ${target}: ${code} (overlapping ranges, more than 340 lines, or host IDs tsrun may not map?)`);
    }
  };
  write('uid_map', uidMappings);
  write('gid_map', gidMappings);
}

/**
 * Without privilege the kernel accepts only a map of the writer's own ID (one line, size 1), and a gid map only
 * after `deny` went to /proc/PID/setgroups. Checked before anything is created, naming the field.
 */
export function checkUnprivilegedMaps(uidMappings: readonly IdMapping[], gidMappings: readonly IdMapping[], euid: number, egid: number): void {
  const check = (field: string, mappings: readonly IdMapping[], own: number, what: string) => {
    const ok = mappings.length === 1 && mappings[0]!.hostID === own && mappings[0]!.size === 1;
    if (!ok) {
      throw new RuntimeError('rootless', `config.json: /linux/${field}: rootless tsrun can only map its own ${what} ${own} (one entry of size 1), got ${JSON.stringify(mappings)}`);
    }
  };
  check('uidMappings', uidMappings, euid, 'uid');
  check('gidMappings', gidMappings, egid, 'gid');
}

/** Denies setgroups in the user namespace of `pid`: required before an unprivileged gid_map write. */
export function denySetgroups(pid: number, procRoot = '/proc'): void {
  fs.writeFileSync(`${procRoot}/${pid}/setgroups`, 'deny');
}

/** The host ID that container ID `id` maps to, or undefined when it is not mapped. */
export function hostIdOf(id: number, mappings: readonly IdMapping[]): number | undefined {
  for (const m of mappings) {
    if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + (id - m.containerID);
  }
  return undefined;
}

/** The /proc/self/timens_offsets text for linux.timeOffsets. */
export function formatTimeOffsets(offsets: ReadonlyArray<{ clock: string; secs: bigint; nanosecs: number }>): string {
  return offsets.map((o) => `${o.clock} ${o.secs} ${o.nanosecs}\n`).join('');
}
