import { RuntimeError } from '../../errors';
import { printOut } from '../output';
import type { Verb } from '../verb';

/** Go duration syntax as runc's --interval takes it: 5s, 500ms, 1m, 1h30m. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text.trim();
  if (rest === '') throw new RuntimeError('usage', '--interval: empty duration');
  while (rest !== '') {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!match) throw new RuntimeError('usage', `--interval ${JSON.stringify(text)}: must be a duration like 5s or 500ms`);
    total += Number(match[1]) * units[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  if (total <= 0) throw new RuntimeError('usage', `--interval ${JSON.stringify(text)}: must be positive`);
  return total;
}

export const eventsVerb: Verb<{ id: string; stats: boolean; interval: string }> = {
  name: 'events',
  describe: 'print container statistics (and OOM events) as JSON lines',
  positionals: [{ name: 'id' }],
  options: {
    stats: { type: 'boolean', default: false, describe: 'print statistics once and exit' },
    interval: { type: 'string', default: '5s', describe: 'time between statistics' },
  },
  async handler(cli, args) {
    const { containerStats } = await import('../../container/events');
    const ctx = cli.context();
    const emit = () => {
      const { stats, oom } = containerStats(ctx, args.id);
      if (oom) printOut(`${JSON.stringify({ type: 'oom', id: args.id })}\n`);
      printOut(`${JSON.stringify({ type: 'stats', id: args.id, data: stats })}\n`);
    };
    emit();
    if (args.stats) return;
    const interval = parseDuration(args.interval);
    // Until the container stops: then the next sample fails ("is not running") and ends the stream with it,
    // as runc's events does.
    await new Promise<void>((_resolve, reject) => {
      const timer = setInterval(() => {
        try {
          emit();
        } catch (error) {
          clearInterval(timer);
          reject(error);
        }
      }, interval);
    });
  },
};
