import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuntimeError } from '../../errors';
import type { CliContext } from '../cli-context';
import { printOut, printTable } from '../output';
import type { FlagSpec, Verb } from '../verb';

/** `tsrun volume …`: named volumes, bind mounts and tmpfs for bundles (README, Volumes). */

/** Volumes and their records; declared here, not in the plugin, which only volume verbs load. */
const DEFAULT_VOLUME_DIR = '/var/lib/tsrun/volumes';

const STATE_DIR: Record<string, FlagSpec> = {
  'state-dir': { type: 'string', path: true, default: DEFAULT_VOLUME_DIR, describe: 'where volumes live (<dir>/<name>/_data)' },
};

/**
 * The store, with the users of each volume derived from tsrun's state: the containers under --root whose
 * annotations (copied from config.json at create) name it. No bookkeeping of its own that could drift.
 */
async function openStore(cli: CliContext, stateDir: string) {
  const [{ VolumeStore }, { volumesOf }] = await Promise.all([import('../../plugins/volume/volume-store'), import('../../plugins/volume/attach')]);
  const context = cli.context();
  const usersOf = (name: string): string[] => context.store.list()
    .filter((entry) => entry.state !== undefined && volumesOf(entry.state.annotations).includes(name))
    .map((entry) => entry.id);
  return new VolumeStore(stateDir, { usersOf });
}

export const volumeCreateVerb: Verb<{ name: string; stateDir: string; label: string[]; opt: string[] }> = {
  name: 'volume create',
  describe: 'create a named volume (a random name when none is given)',
  positionals: [{ name: 'name', default: '' }],
  options: {
    ...STATE_DIR,
    label: { type: 'string', array: true, default: [], describe: 'KEY=VALUE' },
    opt: { alias: 'o', type: 'string', array: true, default: [], describe: 'driver options: type=tmpfs, device=tmpfs, o=size=64m,mode=1777' },
  },
  async handler(cli, args) {
    const { parseVolumeLabels, parseVolumeOptions } = await import('../../plugins/volume/volume-options');
    const store = await openStore(cli, args.stateDir);
    const record = store.create({ name: args.name === '' ? undefined : args.name, labels: parseVolumeLabels(args.label), options: parseVolumeOptions(args.opt) });
    printOut(`${record.Name}\n`);
  },
};

export const volumeListVerb: Verb<{ stateDir: string; format: string; quiet: boolean; filter: string[] }> = {
  name: 'volume list',
  aliases: ['ls'],
  describe: 'list volumes',
  positionals: [],
  options: {
    ...STATE_DIR,
    format: { alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table' },
    quiet: { alias: 'q', type: 'boolean', default: false, describe: 'print only the names' },
    filter: { type: 'string', array: true, default: [], describe: 'dangling=true|false' },
  },
  async handler(cli, args) {
    let dangling: boolean | undefined;
    for (const filter of args.filter) {
      const match = /^dangling=(true|false|1|0)$/.exec(filter);
      if (!match) throw new RuntimeError('usage', `--filter ${JSON.stringify(filter)}: expected dangling=true or dangling=false`);
      dangling = match[1] === 'true' || match[1] === '1';
    }
    const volumes = (await openStore(cli, args.stateDir)).list({ dangling });
    if (args.quiet) return printOut(volumes.map((v) => `${v.Name}\n`).join(''));
    if (args.format === 'json') return printOut(`${JSON.stringify(volumes, null, 2)}\n`);
    printTable([['DRIVER', 'VOLUME NAME'], ...volumes.map((v) => [v.Driver, v.Name])]);
  },
};

export const volumeInspectVerb: Verb<{ names: string[]; stateDir: string }> = {
  name: 'volume inspect',
  describe: 'print volumes as JSON',
  positionals: [{ name: 'names', variadic: true }],
  options: { ...STATE_DIR },
  async handler(cli, args) {
    if (args.names.length === 0) throw new RuntimeError('usage', 'volume inspect: name at least one volume');
    printOut(`${JSON.stringify((await openStore(cli, args.stateDir)).inspect(args.names), null, 2)}\n`);
  },
};

export const volumeRemoveVerb: Verb<{ names: string[]; stateDir: string; force: boolean }> = {
  name: 'volume rm',
  aliases: ['remove'],
  describe: 'remove volumes (refused while a container that mounts one exists, unless --force)',
  positionals: [{ name: 'names', variadic: true }],
  options: { ...STATE_DIR, force: { alias: 'f', type: 'boolean', default: false, describe: 'remove also when in use, and a missing volume is fine' } },
  async handler(cli, args) {
    if (args.names.length === 0) throw new RuntimeError('usage', 'volume rm: name at least one volume');
    const store = await openStore(cli, args.stateDir);
    for (const name of args.names) if (store.remove(name, { force: args.force })) printOut(`${name}\n`);
  },
};

export const volumePruneVerb: Verb<{ stateDir: string }> = {
  name: 'volume prune',
  describe: 'remove every volume no container uses',
  positionals: [],
  options: { ...STATE_DIR },
  async handler(cli, args) {
    const result = (await openStore(cli, args.stateDir)).prune();
    printOut(`${result.removed.map((name) => `${name}\n`).join('')}Total reclaimed space: ${(result.bytes / 1e6).toFixed(1)}MB\n`);
  },
};

/** The launcher hooks run: bin/tsrun of this installation (dist/ is beside bin/). */
function tsrunLauncher(): string {
  return fileURLToPath(new URL('../bin/tsrun', import.meta.url));
}

export const volumeAttachVerb: Verb<{ bundle: string; volumes: string[]; mount: string[]; stateDir: string }> = {
  name: 'volume attach',
  describe: 'mount volumes, host paths or tmpfs into a bundle: NAME:DEST[:ro], /HOST:DEST[:ro], --mount type=…',
  positionals: [{ name: 'bundle', path: true }, { name: 'volumes', variadic: true }],
  options: {
    ...STATE_DIR,
    mount: { type: 'string', array: true, default: [], describe: 'type=volume|bind|tmpfs,source=…,target=…[,readonly][,volume-nocopy][,bind-create-src][,tmpfs-size=…]' },
  },
  async handler(cli, args) {
    const [{ parseMountFlag, parseVolumeFlag }, { attachMounts }, { tmpfsMountOptions, volumeKind }, { parseJsonLossless }, { specToJson }, { writeFileAtomic }] = await Promise.all([
      import('../../plugins/volume/mount-spec'), import('../../plugins/volume/attach'), import('../../plugins/volume/volume-options'),
      import('../../spec/json'), import('../../spec/default-spec'), import('../../linux/atomic-file'),
    ]);
    const requests = [...args.volumes.map(parseVolumeFlag), ...args.mount.map(parseMountFlag)];
    if (requests.length === 0) throw new RuntimeError('usage', 'volume attach: give at least one NAME:DEST, /HOST:DEST or --mount');
    const bundle = path.resolve(args.bundle);
    const configPath = path.join(bundle, 'config.json');
    let text: string;
    try {
      text = fs.readFileSync(configPath, 'utf8');
    } catch (error) {
      throw new RuntimeError('usage', `${configPath}: ${(error as Error).message}`);
    }
    const config = parseJsonLossless(text, configPath) as import('../../spec/types').Spec;
    // Check everything before changing anything: a volume that does not exist is made (as docker run -v does),
    // a missing host path is an error unless bind-create-src asks for it.
    const stateDir = path.resolve(args.stateDir);
    const store = await openStore(cli, stateDir);
    const volumes = new Map<string, { mountpoint: string; tmpfsOptions?: string[] }>();
    const toCreate: string[] = [];
    for (const request of requests) {
      if (request.kind === 'bind' && !request.createSource && !fs.existsSync(request.source)) {
        throw new RuntimeError('usage', `bind source ${request.source}: no such file or directory (add bind-create-src to --mount to create it)`);
      }
    }
    for (const request of requests) {
      if (request.kind !== 'volume' || volumes.has(request.name)) continue;
      // An existing volume keeps its options; a missing one is made with none, as docker run -v does.
      const record = store.list().find((volume) => volume.Name === request.name) ?? store.create({ name: request.name, labels: {}, options: {} });
      const kind = volumeKind(record.Options);
      volumes.set(request.name, { mountpoint: record.Mountpoint, ...(kind.kind === 'tmpfs' ? { tmpfsOptions: tmpfsMountOptions(record.Options) } : {}) });
    }
    for (const request of requests) if (request.kind === 'bind' && request.createSource && !fs.existsSync(request.source)) toCreate.push(request.source);
    const next = attachMounts(config, requests, { volumes, tsrun: tsrunLauncher(), stateDir });
    for (const dir of toCreate) fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileAtomic(bundle, 'config.json', specToJson(next), 0o644);
  },
};

export const volumePopulateVerb: Verb<{ name: string; target: string; stateDir: string }> = {
  name: 'volume populate',
  describe: 'fill a volume never used before from the image (OCI state on stdin): the createRuntime hook attach installs',
  positionals: [{ name: 'name' }, { name: 'target', path: true }],
  options: { ...STATE_DIR },
  async handler(cli, args) {
    const [{ parseHookState }, { bundleRootfs, populateVolume }, { copyTree }] = await Promise.all([
      import('../../spec/hook-state'), import('../../plugins/volume/populate'), import('../../linux/copy-tree'),
    ]);
    const state = parseHookState(fs.readFileSync(0, 'utf8'));
    if (state.bundle === undefined) throw new RuntimeError('usage', 'container state on stdin: "bundle" is missing');
    const { checkTarget } = await import('../../plugins/volume/mount-spec');
    const target = checkTarget(args.target, 'volume populate');
    populateVolume(await openStore(cli, args.stateDir), args.name, target, bundleRootfs(state.bundle), copyTree);
  },
};

export const VOLUME_VERBS = [volumeCreateVerb, volumeListVerb, volumeInspectVerb, volumeRemoveVerb, volumePruneVerb, volumeAttachVerb, volumePopulateVerb];
