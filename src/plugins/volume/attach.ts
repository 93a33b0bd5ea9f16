import { RuntimeError } from '../../errors';
import type { Hook, Mount, Spec } from '../../spec/types';
import type { MountRequest } from './mount-spec';

/**
 * `tsrun volume attach`: a bundle's config.json with the mounts asked for. Pure: the caller has resolved each
 * volume to its directory (or to tmpfs options, for a tmpfs volume) and checked the host paths.
 *  - a volume: a bind mount of the volume's directory, plus (unless nocopy) the createRuntime hook
 *    `tsrun volume populate NAME DEST`, which fills a volume never used before from the image's DEST;
 *  - a host path: a bind mount; tmpfs: a tmpfs mount (nosuid, nodev; size and mode as given).
 * Which containers use which volumes is told by the annotation VOLUMES_ANNOTATION: tsrun's state keeps a
 * container's annotations, so the users of a volume are derived from the containers that exist.
 */

export const VOLUMES_ANNOTATION = 'io.tsrun.volumes';

/** A volume request with what the store knows of the volume. */
export interface ResolvedVolume {
  mountpoint: string;
  /** Set for a volume created with --opt type=tmpfs: each container gets such a tmpfs of its own. */
  tmpfsOptions?: string[];
}

export interface AttachContext {
  /** The volume of each `volume` request, by name. */
  volumes: ReadonlyMap<string, ResolvedVolume>;
  /** The command the populate hook runs: bin/tsrun and the store's directory. */
  tsrun: string;
  stateDir: string;
}

function mountFor(request: MountRequest, context: AttachContext): Mount {
  const access = request.readonly ? 'ro' : 'rw';
  switch (request.kind) {
    case 'bind':
      return { destination: request.target, type: 'bind', source: request.source, options: ['rbind', access] };
    case 'tmpfs': {
      const options = ['nosuid', 'nodev', access];
      if (request.sizeBytes !== undefined) options.push(`size=${request.sizeBytes}`);
      if (request.mode !== undefined) options.push(`mode=${request.mode.toString(8)}`);
      return { destination: request.target, type: 'tmpfs', source: 'tmpfs', options };
    }
    case 'volume': {
      const volume = context.volumes.get(request.name);
      if (volume === undefined) throw new RuntimeError('internal', `volume ${JSON.stringify(request.name)} was not resolved`);
      if (volume.tmpfsOptions) return { destination: request.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', access, ...volume.tmpfsOptions] };
      return { destination: request.target, type: 'bind', source: volume.mountpoint, options: ['rbind', access] };
    }
  }
}

function populateHook(name: string, target: string, context: AttachContext): Hook {
  return { path: context.tsrun, args: [context.tsrun, 'volume', 'populate', '--state-dir', context.stateDir, name, target] };
}

const sameHook = (a: Hook, b: Hook): boolean => a.path === b.path && JSON.stringify(a.args ?? []) === JSON.stringify(b.args ?? []);

export function attachMounts(config: Spec, requests: readonly MountRequest[], context: AttachContext): Spec {
  const seen = new Set<string>();
  for (const request of requests) {
    if (seen.has(request.target)) throw new RuntimeError('usage', `${request.target}: two mounts have this destination`);
    seen.add(request.target);
  }
  const next = structuredClone(config);
  // A mount already at one of the destinations (an earlier attach, the image's volume) is replaced.
  const kept = (next.mounts ?? []).filter((mount) => !seen.has(mount.destination.replace(/\/+$/, '') || '/'));
  next.mounts = [...kept, ...requests.map((request) => mountFor(request, context))];

  const volumeRequests = requests.filter((r): r is Extract<MountRequest, { kind: 'volume' }> => r.kind === 'volume');
  if (volumeRequests.length > 0) {
    const annotations = { ...(next.annotations ?? {}) };
    const names = new Set((annotations[VOLUMES_ANNOTATION] ?? '').split(',').filter((n) => n !== ''));
    for (const request of volumeRequests) names.add(request.name);
    annotations[VOLUMES_ANNOTATION] = [...names].sort().join(',');
    next.annotations = annotations;
  }

  const populate = volumeRequests
    .filter((r) => !r.nocopy && context.volumes.get(r.name)?.tmpfsOptions === undefined)
    .map((r) => populateHook(r.name, r.target, context));
  if (populate.length > 0) {
    const hooks = { ...(next.hooks ?? {}) };
    const existing = (hooks.createRuntime ?? []).filter((hook) => !populate.some((p) => sameHook(p, hook)));
    hooks.createRuntime = [...existing, ...populate];
    next.hooks = hooks;
  }
  return next;
}

/** The volumes a container's annotations say it uses. */
export function volumesOf(annotations: Readonly<Record<string, string>> | undefined): string[] {
  return (annotations?.[VOLUMES_ANNOTATION] ?? '').split(',').filter((name) => name !== '');
}
