import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../../errors';

/**
 * The bundle directory `tsrun image unpack` fills: a new one, or an empty one the caller made. Either way a failed
 * unpack leaves the host as it found it.
 */

/** BUNDLE ready to be filled; returns whether it was created here (and so is removed on failure). */
export function prepareBundle(bundle: string): boolean {
  let stat: fs.Stats | undefined;
  try {
    stat = fs.lstatSync(bundle);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new RuntimeError('image', `${bundle}: ${(error as Error).message}`);
  }
  if (stat === undefined) {
    try {
      fs.mkdirSync(bundle, { mode: 0o755 });
    } catch (error) {
      throw new RuntimeError('image', `bundle ${bundle}: cannot create it: ${(error as Error).message}`);
    }
    return true;
  }
  if (!stat.isDirectory()) throw new RuntimeError('image', `bundle ${bundle}: exists and is not a directory`);
  if (fs.readdirSync(bundle).length > 0) throw new RuntimeError('image', `bundle ${bundle}: exists and is not empty (tsrun image unpack makes a new bundle)`);
  return false;
}

/** Nothing of a failed unpack stays: what it made goes, an empty BUNDLE the caller made stays (empty). */
export function discardBundle(bundleDir: string, created: boolean): void {
  if (created) {
    fs.rmSync(bundleDir, { recursive: true, force: true });
  } else {
    for (const name of fs.readdirSync(bundleDir)) fs.rmSync(path.join(bundleDir, name), { recursive: true, force: true });
  }
}
