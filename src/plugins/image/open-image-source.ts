import fs from 'node:fs';
import { RuntimeError } from '../../errors';
import { extractArchive } from './archive-extract';
import { openDockerArchive, readDockerManifest } from './docker-archive';
import type { ImageDocumentValidators, ImageSource, TargetPlatform } from './image-source';
import { normalizeImageName } from './image-name';
import { NoSuchRefError, openOciLayout } from './oci-layout';
import { TreeReader } from './tree-reader';

/**
 * Opens what the user named as an image: an OCI image layout directory, or a tar (possibly compressed) of one or
 * of a `docker save` archive, which is extracted into a temporary directory that `close()` removes.
 */

export interface OpenImageSourceOptions {
  ref?: string;
  /** Where an archive's temporary extraction goes. */
  tmpParent: string;
  validators: ImageDocumentValidators;
  platform: TargetPlatform;
}

export async function openImageSource(source: string, options: OpenImageSourceOptions): Promise<ImageSource> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch (error) {
    throw new RuntimeError('image', `${source}: cannot open the image: ${(error as Error).message}`, { cause: error });
  }
  if (stat.isDirectory()) return openExtracted(source, source, options);
  if (!stat.isFile()) throw new RuntimeError('image', `${source}: not an OCI image layout directory nor an image archive file`);
  const dir = await extractArchive(source, options.tmpParent);
  const remove = (): void => fs.rmSync(dir, { recursive: true, force: true });
  let opened: ImageSource;
  try {
    opened = await openExtracted(dir, source, options);
  } catch (error) {
    remove();
    throw error;
  }
  return {
    image: opened.image,
    openBlob: (descriptor) => opened.openBlob(descriptor),
    close() {
      try {
        opened.close();
      } finally {
        remove();
      }
    },
  };
}

/** Picks the reader by the files at the top of `dir`; `display` names the source in errors. */
async function openExtracted(dir: string, display: string, options: OpenImageSourceOptions): Promise<ImageSource> {
  const tree = TreeReader.open(dir, display);
  let hasLayout: boolean;
  let hasIndex: boolean;
  let hasDockerManifest: boolean;
  let dockerTags: { config: string; tags: string[] }[] = [];
  try {
    hasLayout = tree.exists('oci-layout');
    hasIndex = tree.exists('index.json');
    hasDockerManifest = tree.exists('manifest.json');
    // docker 25+ writes both: its manifest.json may know the image's name when index.json does not.
    if (hasLayout && hasIndex && hasDockerManifest) {
      try {
        dockerTags = readDockerManifest(tree).map((entry) => ({ config: entry.Config, tags: entry.RepoTags }));
      } catch {
        // Only a source of names here: the layout is what is read, a broken manifest.json does not matter.
      }
    }
  } finally {
    tree.close();
  }
  const common = { validators: options.validators, displayName: display, ...(options.ref !== undefined ? { ref: options.ref } : {}) };
  if (hasLayout && hasIndex) {
    let layout: ImageSource;
    try {
      layout = openOciLayout(dir, { ...common, platform: options.platform });
    } catch (error) {
      // A ref that only manifest.json knows (an index without name annotations): read it as a docker archive.
      const wanted = options.ref === undefined ? undefined : normalizeImageName(options.ref);
      if (error instanceof NoSuchRefError && dockerTags.some((e) => e.tags.some((t) => normalizeImageName(t) === wanted))) {
        return openDockerArchive(dir, common);
      }
      throw error;
    }
    if (layout.image.refName !== undefined || dockerTags.length === 0) return layout;
    const configPath = `blobs/${layout.image.configDigest.replace(':', '/')}`;
    const tag = dockerTags.find((e) => e.config === configPath)?.tags[0];
    if (tag === undefined) return layout;
    return { image: { ...layout.image, refName: tag }, openBlob: layout.openBlob, close: layout.close };
  }
  if (hasDockerManifest) return openDockerArchive(dir, common);
  if (hasLayout) throw new RuntimeError('image', `${display}: an OCI image layout without index.json`);
  throw new RuntimeError('image', `${display}: not an OCI image layout (no oci-layout file) nor a docker archive`);
}
