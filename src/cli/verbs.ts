import { createVerb } from './commands/create';
import { deleteVerb } from './commands/delete';
import { eventsVerb } from './commands/events';
import { execVerb } from './commands/exec';
import { featuresVerb } from './commands/features';
import { killVerb } from './commands/kill';
import { listVerb } from './commands/list';
import { IMAGE_VERBS } from './commands/image';
import { NETWORK_VERBS } from './commands/network';
import { pauseVerb, resumeVerb } from './commands/pause';
import { psVerb } from './commands/ps';
import { runVerb } from './commands/run';
import { specVerb } from './commands/spec';
import { startVerb } from './commands/start';
import { stateVerb } from './commands/state';
import { updateVerb } from './commands/update';
import { VOLUME_VERBS } from './commands/volume';
import type { Verb } from './verb';

/** Every verb of the runtime, in the order `--help` lists them. Each handler loads what it needs when it runs. */
export const VERBS: readonly Verb<never>[] = [
  createVerb, startVerb, stateVerb, killVerb, deleteVerb, runVerb, listVerb, specVerb, pauseVerb, resumeVerb, psVerb,
  updateVerb, eventsVerb, execVerb, featuresVerb, ...NETWORK_VERBS, ...IMAGE_VERBS, ...VOLUME_VERBS,
].map((verb) => verb as unknown as Verb<never>);

/** Groups of verbs named `<group> <verb>`, with what `--help` says of each group. */
export const VERB_GROUPS: ReadonlyMap<string, string> = new Map([
  ['network', 'bridge networks for containers: create, ls, inspect, rm, prune, attach, setup, teardown'],
  ['volume', 'named volumes, bind mounts and tmpfs for bundles: create, ls, inspect, rm, prune, attach, populate'],
  ['image', 'bundles from OCI images and docker save archives, the layer store and registries: unpack, umount, load, ls, inspect, rm, prune, pull, push, export, import, save'],
]);

/** The verbs by name and by alias (`ls`, `network ls`: a group verb's aliases are within its group). */
export const VERBS_BY_NAME: ReadonlyMap<string, Verb<never>> = new Map(
  VERBS.flatMap((verb) => {
    const group = verb.name.includes(' ') ? `${verb.name.slice(0, verb.name.indexOf(' '))} ` : '';
    return [verb.name, ...(verb.aliases ?? []).map((alias) => group + alias)].map((name) => [name, verb] as const);
  }),
);
