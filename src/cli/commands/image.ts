import { RuntimeError } from '../../errors';
import { printOut, printTable } from '../output';
import type { FlagSpec, Verb } from '../verb';

/** `tsrun image …`: bundles from OCI images and `docker save` archives, and the layer store (README, Images). */

/** Images and their unpacked layers; declared here, not in the plugin, which only image verbs load. */
const DEFAULT_IMAGE_DIR = '/var/lib/tsrun/image';

const STATE_DIR: Record<string, FlagSpec> = {
  'state-dir': { type: 'string', path: true, default: DEFAULT_IMAGE_DIR, describe: 'the image store (blobs, unpacked layers, refs)' },
};

/**
 * The image plugin, a bundle of its own beside this one (scripts/build.mjs). require, not import(): an import()
 * of a file goes through the ES module loader, which waits on the thread pool.
 */
function imagePlugin(): typeof import('../image-main') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built bundle is CommonJS (see above)
  return require('./image-cli.cjs') as typeof import('../image-main');
}

function needNames(verb: string, names: string[]): void {
  if (names.length === 0) throw new RuntimeError('usage', `image ${verb}: name at least one image`);
}

const shortId = (configDigest: string): string => configDigest.slice(configDigest.indexOf(':') + 1, configDigest.indexOf(':') + 13);

export const imageUnpackVerb: Verb<{ source: string; bundle: string; ref?: string; overlay: boolean; umountOnStop: boolean; stateDir: string }> = {
  name: 'image unpack',
  describe: 'make a bundle (rootfs + config.json) from an image layout, a docker save archive or (--overlay) a stored image',
  positionals: [{ name: 'source' }, { name: 'bundle', path: true }],
  options: {
    ...STATE_DIR,
    ref: { type: 'string', describe: 'which image of the source: its ref name, a RepoTag or a manifest digest' },
    overlay: { type: 'boolean', default: false, describe: 'rootfs = overlay of the store\'s layers + BUNDLE/overlay/upper (SOURCE: a stored image, or a path loaded first)' },
    'umount-on-stop': { type: 'boolean', default: false, describe: 'with --overlay: a poststop hook unmounts the rootfs' },
  },
  async handler(cli, args) {
    const result = await imagePlugin().imageUnpack(args.source, args.bundle, {
      warn: (message) => cli.logger.warn(message),
      ref: args.ref, overlay: args.overlay, umountOnStop: args.umountOnStop, storeDir: args.stateDir,
    });
    printOut(`${result.manifestDigest}\n`);
  },
};

export const imageUmountVerb: Verb<{ bundle: string; stateDir: string }> = {
  name: 'image umount',
  describe: 'unmount the overlay rootfs of a bundle made by unpack --overlay',
  positionals: [{ name: 'bundle', path: true }],
  options: { ...STATE_DIR },
  async handler(_cli, args) {
    imagePlugin().imageUmount(args.stateDir, args.bundle);
  },
};

export const imageLoadVerb: Verb<{ archive: string; ref: string[]; stateDir: string }> = {
  name: 'image load',
  describe: 'import an OCI layout or docker save archive into the store (each layer unpacked once)',
  positionals: [{ name: 'archive', path: true }],
  options: {
    ...STATE_DIR,
    ref: { type: 'string', array: true, default: [], describe: 'name the image (default: its name in the archive)' },
  },
  async handler(_cli, args) {
    const result = await imagePlugin().imageLoad(args.stateDir, args.archive, undefined, args.ref);
    const names = result.image.refs.length > 0 ? result.image.refs.map((ref) => `Loaded image: ${ref}`) : [`Loaded image ID: ${result.image.configDigest}`];
    printOut(`${names.join('\n')}\n`);
  },
};

export const imageListVerb: Verb<{ stateDir: string; format: string; quiet: boolean }> = {
  name: 'image list',
  aliases: ['ls'],
  describe: 'list the stored images',
  positionals: [],
  options: {
    ...STATE_DIR,
    format: { alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table' },
    quiet: { alias: 'q', type: 'boolean', default: false, describe: 'print only the image IDs' },
  },
  async handler(_cli, args) {
    const images = imagePlugin().imageList(args.stateDir);
    if (args.quiet) return printOut(images.map((i) => `${shortId(i.configDigest)}\n`).join(''));
    if (args.format === 'json') return printOut(`${JSON.stringify(images, null, 2)}\n`);
    const rows = [['REF', 'IMAGE ID', 'CREATED', 'LAYERS', 'SIZE']];
    for (const image of images) {
      const size = `${(image.layers.reduce((sum, l) => sum + l.size, 0) / 1e6).toFixed(1)}MB`;
      for (const ref of image.refs.length > 0 ? image.refs : ['<none>']) {
        rows.push([ref, shortId(image.configDigest), image.created ?? '', String(image.layers.length), size]);
      }
    }
    printTable(rows);
  },
};

export const imageInspectVerb: Verb<{ names: string[]; stateDir: string }> = {
  name: 'image inspect',
  describe: 'print stored images as JSON: digests, layers, refs and the image configuration',
  positionals: [{ name: 'names', variadic: true }],
  options: { ...STATE_DIR },
  async handler(_cli, args) {
    needNames('inspect', args.names);
    printOut(`${JSON.stringify(imagePlugin().imageInspect(args.stateDir, args.names), null, 2)}\n`);
  },
};

export const imageRemoveVerb: Verb<{ names: string[]; stateDir: string; force: boolean }> = {
  name: 'image rm',
  aliases: ['remove', 'rmi'],
  describe: 'remove refs, and images no ref names any more (refused while a bundle mounts their layers)',
  positionals: [{ name: 'names', variadic: true }],
  options: { ...STATE_DIR, force: { alias: 'f', type: 'boolean', default: false, describe: 'remove an image ID with several refs' } },
  async handler(_cli, args) {
    needNames('rm', args.names);
    printOut(imagePlugin().imageRemove(args.stateDir, args.names, args.force).map((line) => `${line}\n`).join(''));
  },
};

export const imagePruneVerb: Verb<{ stateDir: string }> = {
  name: 'image prune',
  describe: 'remove images without a ref, and layers and blobs no image uses',
  positionals: [],
  options: { ...STATE_DIR },
  async handler(_cli, args) {
    const result = imagePlugin().imagePrune(args.stateDir);
    printOut(`Removed ${result.images} images, ${result.layers} layers, ${result.blobs} blobs (${(result.bytes / 1e6).toFixed(1)}MB)\n`);
  },
};

const REGISTRY_OPTIONS: Record<string, FlagSpec> = {
  creds: { type: 'string', describe: 'USER:PASSWORD for the registry' },
  'insecure-registry': { type: 'string', array: true, default: [], describe: 'a registry (host[:port]) reached over plain HTTP; loopback ones always are' },
};

export const imagePullVerb: Verb<{ reference: string; stateDir: string; creds?: string; insecureRegistry: string[] }> = {
  name: 'image pull',
  describe: 'pull an image from a registry into the store (the manifest for this platform)',
  positionals: [{ name: 'reference' }],
  options: { ...STATE_DIR, ...REGISTRY_OPTIONS },
  async handler(_cli, args) {
    const result = await imagePlugin().imagePull(args.stateDir, args.reference, { creds: args.creds, insecureRegistry: args.insecureRegistry });
    printOut(`${result.image.refs[0] ?? args.reference}: ${result.image.manifestDigest} (${result.layersUnpacked} layers unpacked, ${result.layersReused} reused)\n`);
  },
};

export const imagePushVerb: Verb<{ name: string; destination: string; stateDir: string; creds?: string; insecureRegistry: string[] }> = {
  name: 'image push',
  describe: 'push a stored image to a registry, as its name or as DESTINATION',
  positionals: [{ name: 'name' }, { name: 'destination', default: '' }],
  options: { ...STATE_DIR, ...REGISTRY_OPTIONS },
  async handler(_cli, args) {
    const result = await imagePlugin().imagePush(args.stateDir, args.name, args.destination === '' ? undefined : args.destination, { creds: args.creds, insecureRegistry: args.insecureRegistry });
    printOut(`${result.reference}: ${result.manifestDigest} (${result.uploaded.length} blobs uploaded, ${result.skipped.length} already there)\n`);
  },
};

export const imageExportVerb: Verb<{ id: string; file: string }> = {
  name: 'image export',
  describe: 'write a container\'s rootfs as a tar (FILE, or - for stdout)',
  positionals: [{ name: 'id' }, { name: 'file', path: true }],
  options: {},
  async handler(cli, args) {
    const { inspectContainer } = await import('../../container/inspect');
    const view = inspectContainer(cli.context(), args.id);
    await imagePlugin().imageExport(view.state.rootfs, args.file);
  },
};

export const imageImportVerb: Verb<{ file: string; ref: string; stateDir: string }> = {
  name: 'image import',
  describe: 'make a one-layer image in the store from a tar of a rootfs',
  positionals: [{ name: 'file', path: true }, { name: 'ref' }],
  options: { ...STATE_DIR },
  async handler(_cli, args) {
    const result = await imagePlugin().imageImport(args.stateDir, args.file, args.ref);
    printOut(`${result.image.configDigest}\n`);
  },
};

export const imageSaveVerb: Verb<{ name: string; file: string; stateDir: string }> = {
  name: 'image save',
  describe: 'write a stored image as an OCI image layout tar (docker load reads it too)',
  positionals: [{ name: 'name' }, { name: 'file', path: true }],
  options: { ...STATE_DIR },
  async handler(_cli, args) {
    await imagePlugin().imageSave(args.stateDir, args.name, args.file);
  },
};

export const IMAGE_VERBS = [
  imageUnpackVerb, imageUmountVerb, imageLoadVerb, imageListVerb, imageInspectVerb, imageRemoveVerb, imagePruneVerb, imagePullVerb, imagePushVerb,
  imageExportVerb, imageImportVerb, imageSaveVerb,
];
