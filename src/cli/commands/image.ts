import { printOut } from '../output';
import type { Verb } from '../verb';

/** `tsrun image …`: bundles from OCI images and `docker save` archives (README, Images). */

/**
 * The image plugin, a bundle of its own beside this one (scripts/build.mjs). require, not import(): an import()
 * of a file goes through the ES module loader, which waits on the thread pool.
 */
function imagePlugin(): typeof import('../image-main') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built bundle is CommonJS (see above)
  return require('./image-cli.cjs') as typeof import('../image-main');
}

export const imageUnpackVerb: Verb<{ source: string; bundle: string; ref?: string }> = {
  name: 'image unpack',
  describe: 'make a bundle (rootfs + config.json) from an OCI image layout or a docker save archive',
  positionals: [{ name: 'source' }, { name: 'bundle' }],
  options: {
    ref: { type: 'string', describe: 'which image of the source: its org.opencontainers.image.ref.name, a RepoTag or a manifest digest' },
  },
  async handler(_cli, args) {
    const result = await imagePlugin().imageUnpack(args.source, args.bundle, args.ref);
    printOut(`${result.manifestDigest}\n`);
  },
};

export const IMAGE_VERBS = [imageUnpackVerb];
