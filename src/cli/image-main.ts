import { imageDocumentValidators } from '../spec/image-validate';
import { defaultSpec } from '../spec/default-spec';
import { hostPlatform } from '../plugins/image/oci-layout';
import { unpackImage, type UnpackResult } from '../plugins/image/unpack';

/**
 * The image plugin's side of the `tsrun image` verbs, built as its own bundle (dist/image-cli.cjs, see
 * scripts/build.mjs): the tar reader, the image-spec validators and the layer code are loaded by image verbs
 * only, never by the container verbs every tsrun call pays for.
 */

export async function imageUnpack(source: string, bundle: string, ref: string | undefined): Promise<UnpackResult> {
  return unpackImage(source, bundle, {
    ref,
    platform: hostPlatform(),
    validators: imageDocumentValidators,
    base: defaultSpec({ rootless: false }),
  });
}
