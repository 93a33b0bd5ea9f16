import fs from 'node:fs';
import path from 'node:path';
import { validateContainerId } from '../../spec/container-id';
import { RuntimeError } from '../../errors';
import { ensurePrivateDir, readOwnFile, unlinkDurably, writeJsonAtomic } from './network-store';
import type { PublishSpec } from './publish';

/**
 * What `network setup` made for one container, in `<dir>/containers/<id>.json`: written before the first link or
 * rule exists and completed as setup goes, so `teardown` removes exactly what was made — also after a crash
 * halfway through setup, or a container killed with SIGKILL.
 */
export interface Attachment {
  id: string;
  network: string;
  /** The host end of the veth pair (its alias is `tsrun:<id>`). */
  hostVeth: string;
  publish: PublishSpec[];
  /** Set once the IPAM handed an address out. */
  ip?: string;
}

export class AttachmentStore {
  readonly #dir: string;

  constructor(stateDir: string) {
    this.#dir = path.join(path.resolve(stateDir), 'containers');
  }

  read(id: string): Attachment | undefined {
    validateContainerId(id);
    const text = readOwnFile(this.#dir, `${id}.json`);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as Attachment;
    } catch (error) {
      throw new RuntimeError('corrupt', `${path.join(this.#dir, `${id}.json`)}: not valid JSON (${(error as Error).message})`);
    }
  }

  write(attachment: Attachment): void {
    validateContainerId(attachment.id);
    ensurePrivateDir(this.#dir);
    writeJsonAtomic(this.#dir, `${attachment.id}.json`, attachment);
  }

  remove(id: string): void {
    validateContainerId(id);
    unlinkDurably(this.#dir, `${id}.json`);
  }

  /** Every attachment (records that cannot be read are skipped: they belong to nobody's ports). */
  list(): Attachment[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.#dir);
    } catch {
      return [];
    }
    const out: Attachment[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      try {
        const attachment = this.read(name.slice(0, -'.json'.length));
        if (attachment) out.push(attachment);
      } catch {
        // a corrupt record: teardown of its container reports it
      }
    }
    return out;
  }
}
