import fs from 'node:fs';
import { RuntimeError } from '../../errors';
import type { UpdateFlags } from '../../container/update';
import type { Verb } from '../verb';

/** The flags as yargs gives them: the numeric ones of UpdateFlags, sizes still text (`512m`). */
interface UpdateArgs extends Omit<UpdateFlags, 'memory' | 'memoryReservation' | 'memorySwap'> {
  id: string;
  resources?: string;
  memory?: string;
  memoryReservation?: string;
  memorySwap?: string;
}

/** Sizes as runc's update takes them: a number of bytes, or with k/m/g/t (powers of 1024); -1 = unlimited. */
export function parseSize(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(-1|\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(text.trim());
  if (!match) throw new RuntimeError('usage', `--${flag} ${JSON.stringify(text)}: must be bytes, optionally with k, m, g or t`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(match[1]) * unit);
}

export const updateVerb: Verb<UpdateArgs> = {
  name: 'update',
  describe: 'change the resource limits of a container',
  positionals: [{ name: 'id' }],
  options: {
    resources: { alias: 'r', type: 'string', describe: 'linux.resources JSON from FILE, or - for stdin' },
    'blkio-weight': { type: 'number' },
    'cpu-period': { type: 'number' },
    'cpu-quota': { type: 'number' },
    'cpu-share': { type: 'number' },
    'cpu-rt-period': { type: 'number' },
    'cpu-rt-runtime': { type: 'number' },
    'cpuset-cpus': { type: 'string' },
    'cpuset-mems': { type: 'string' },
    memory: { type: 'string', describe: 'memory limit (e.g. 512m)' },
    'memory-reservation': { type: 'string' },
    'memory-swap': { type: 'string', describe: 'memory + swap limit (-1: unlimited)' },
    'pids-limit': { type: 'number' },
  },
  async handler(cli, args) {
    const { parseJsonLossless } = await import('../../spec/json');
    const { resourcesFromFlags, updateContainer } = await import('../../container/update');
    let base: Record<string, unknown> = {};
    if (args.resources !== undefined) {
      const text = args.resources === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(args.resources, 'utf8');
      const parsed = parseJsonLossless(text, args.resources === '-' ? 'resources (stdin)' : args.resources);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new RuntimeError('usage', `--resources ${args.resources}: must be a JSON object (linux.resources)`);
      }
      base = parsed as Record<string, unknown>;
    }
    const resources = resourcesFromFlags(base, {
      blkioWeight: args.blkioWeight, cpuPeriod: args.cpuPeriod, cpuQuota: args.cpuQuota, cpuShare: args.cpuShare,
      cpuRtPeriod: args.cpuRtPeriod, cpuRtRuntime: args.cpuRtRuntime, cpusetCpus: args.cpusetCpus, cpusetMems: args.cpusetMems,
      memory: parseSize(args.memory, 'memory'), memoryReservation: parseSize(args.memoryReservation, 'memory-reservation'),
      memorySwap: parseSize(args.memorySwap, 'memory-swap'), pidsLimit: args.pidsLimit,
    });
    updateContainer(cli.context(), args.id, resources);
  },
};
