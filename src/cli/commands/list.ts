import { inspectContainer, stateJson } from '../../container/inspect';
import { formatListJson, formatListTable } from '../../container/list-format';
import { userName } from '../../container/user-names';
import { RuntimeError } from '../../errors';
import { printOut } from '../output';
import type { Verb } from '../verb';

export const listVerb: Verb<{ format: string; quiet: boolean }> = {
  name: 'list',
  aliases: ['ls'],
  describe: 'list the containers under --root',
  positionals: [],
  options: {
    format: { alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table' },
    quiet: { alias: 'q', type: 'boolean', default: false, describe: 'print only the IDs' },
  },
  handler(cli, args) {
    const ctx = cli.context();
    const rows = [];
    for (const entry of ctx.store.list()) {
      if (entry.error !== undefined || !entry.state) {
        cli.logger.warn(`list: skipping ${entry.id}: ${entry.error ?? 'no state'}`);
        continue;
      }
      try {
        const row = stateJson(inspectContainer(ctx, entry.id));
        if (entry.ownerUid !== undefined) row.owner = userName(entry.ownerUid);
        rows.push(row);
      } catch (error) {
        // Deleted by another tsrun since the store listed it: no longer a container to show or to warn about.
        if (error instanceof RuntimeError && error.code === 'not-found') continue;
        cli.logger.warn(`list: skipping ${entry.id}: ${(error as Error).message}`);
      }
    }
    if (args.quiet) printOut(rows.map((r) => `${r.id}\n`).join(''));
    else if (args.format === 'json') printOut(`${formatListJson(rows)}\n`);
    else printOut(formatListTable(rows));
  },
};
