import { RuntimeError } from '../../errors';
import { printOut } from '../output';
import type { Verb } from '../verb';

interface PsArgs {
  id: string;
  format: string;
  psArgs: string[];
}

export const psVerb: Verb<PsArgs> = {
  name: 'ps',
  describe: 'list the processes of a container (json: a bare array of host PIDs)',
  positionals: [{ name: 'id' }, { name: 'psArgs', variadic: true, describe: 'arguments for ps(1) in table format (default -ef)' }],
  options: {
    format: { alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table' },
  },
  async handler(cli, args) {
    const { containerPids, filterPsTable } = await import('../../container/ps');
    const pids = containerPids(cli.context(), args.id);
    if (args.format === 'json') {
      printOut(`${JSON.stringify(pids)}\n`);
      return;
    }
    const psArgs = args.psArgs.length > 0 ? args.psArgs : ['-ef'];
    const { spawnSync } = await import('node:child_process');
    const ps = spawnSync('ps', psArgs, { encoding: 'utf8' });
    if (ps.status !== 0) throw new RuntimeError('ps', `ps ${psArgs.join(' ')}: ${ps.stderr.trim() || `exit status ${ps.status}`}`);
    printOut(filterPsTable(ps.stdout, pids));
  },
};
