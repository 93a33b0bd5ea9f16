import { spawnSync } from 'node:child_process';
import type { CommandModule } from 'yargs';
import { RuntimeError } from '../../errors';
import type { CliContext } from '../cli-context';
import { printOut } from '../output';

interface PsArgs {
  id: string;
  format: string;
  psArgs?: string[];
}

export function psCommand(cli: CliContext): CommandModule<object, PsArgs> {
  return {
    command: 'ps <id> [psArgs..]',
    describe: 'list the processes of a container (json: a bare array of host PIDs)',
    builder: (y) => y
      .positional('id', { type: 'string', demandOption: true })
      .positional('psArgs', { type: 'string', array: true, describe: 'arguments for ps(1) in table format (default -ef)' })
      .option('format', { alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table' }),
    handler: async (args) => {
      const { containerPids, filterPsTable } = await import('../../container/ps');
      const pids = containerPids(cli.context(), args.id);
      if (args.format === 'json') {
        printOut(`${JSON.stringify(pids)}\n`);
        return;
      }
      const psArgs = args.psArgs && args.psArgs.length > 0 ? args.psArgs : ['-ef'];
      const ps = spawnSync('ps', psArgs, { encoding: 'utf8' });
      if (ps.status !== 0) throw new RuntimeError('ps', `ps ${psArgs.join(' ')}: ${ps.stderr.trim() || `exit status ${ps.status}`}`);
      printOut(filterPsTable(ps.stdout, pids));
    },
  };
}
