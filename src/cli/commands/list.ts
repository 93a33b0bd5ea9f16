import type { CommandModule } from 'yargs';
import { inspectContainer, stateJson } from '../../container/inspect';
import { formatListJson, formatListTable } from '../../container/list-format';
import { userName } from '../../container/user-names';
import type { CliContext } from '../cli-context';
import { printOut } from '../output';

export function listCommand(cli: CliContext): CommandModule<object, { format: string; quiet: boolean }> {
  return {
    command: ['list', 'ls'],
    describe: 'list the containers under --root',
    builder: (y) => y
      .option('format', { alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print only the IDs' }),
    handler: (args) => {
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
          cli.logger.warn(`list: skipping ${entry.id}: ${(error as Error).message}`);
        }
      }
      if (args.quiet) printOut(rows.map((r) => `${r.id}\n`).join(''));
      else if (args.format === 'json') printOut(`${formatListJson(rows)}\n`);
      else printOut(formatListTable(rows));
    },
  };
}
