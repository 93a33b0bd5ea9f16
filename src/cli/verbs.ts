import { createVerb } from './commands/create';
import { deleteVerb } from './commands/delete';
import { eventsVerb } from './commands/events';
import { execVerb } from './commands/exec';
import { featuresVerb } from './commands/features';
import { killVerb } from './commands/kill';
import { listVerb } from './commands/list';
import { pauseVerb, resumeVerb } from './commands/pause';
import { psVerb } from './commands/ps';
import { runVerb } from './commands/run';
import { specVerb } from './commands/spec';
import { startVerb } from './commands/start';
import { stateVerb } from './commands/state';
import { updateVerb } from './commands/update';
import type { Verb } from './verb';

/** Every verb of the runtime, in the order `--help` lists them. Each handler loads what it needs when it runs. */
export const VERBS: readonly Verb<never>[] = [
  createVerb, startVerb, stateVerb, killVerb, deleteVerb, runVerb, listVerb, specVerb, pauseVerb, resumeVerb, psVerb,
  updateVerb, eventsVerb, execVerb, featuresVerb,
].map((verb) => verb as unknown as Verb<never>);

/** The verbs by name and by alias (`ls`). */
export const VERBS_BY_NAME: ReadonlyMap<string, Verb<never>> = new Map(
  VERBS.flatMap((verb) => [verb.name, ...(verb.aliases ?? [])].map((name) => [name, verb] as const)),
);
