// overlayfs through the new mount API (src/linux/overlay-mount.ts): layer order, writes to the upper directory,
// overlay whiteouts, unmounting, and the kernel's own words when a parameter is refused. Root only.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mknodat } from '../../src/linux/fs-at';
import { mountOverlay, unmount } from '../../src/linux/overlay-mount';
import { hostMountPoints, needsPrivilege } from '../helpers/tsrun';

const [skipRootless, rootlessNote] = needsPrivilege('mounting overlayfs on the host needs root');
const notRoot = process.getuid?.() !== 0;

describe.skipIf(skipRootless || notRoot)(`overlay mounts${rootlessNote}${notRoot ? ' (skipped: needs root)' : ''}`, () => {
  let dir: string;
  const mounted: string[] = [];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-overlay-'));
    for (const sub of ['bottom', 'top', 'upper', 'work', 'merged']) fs.mkdirSync(path.join(dir, sub));
  });
  afterEach(() => {
    for (const target of mounted.splice(0)) {
      try {
        unmount(target);
      } catch {
        // unmounted by the test already
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stacks the layers topmost first, writes to the upper directory, hides what a whiteout names', () => {
    fs.writeFileSync(path.join(dir, 'bottom', 'shared'), 'bottom');
    fs.writeFileSync(path.join(dir, 'bottom', 'hidden'), 'bottom');
    fs.writeFileSync(path.join(dir, 'top', 'shared'), 'top');
    const topFd = fs.openSync(path.join(dir, 'top'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      mknodat(topFd, 'hidden', 0o020000, 0, 0); // overlayfs whiteout: a 0/0 character device
    } finally {
      fs.closeSync(topFd);
    }
    const merged = path.join(dir, 'merged');
    mountOverlay(merged, { lowerDirs: [path.join(dir, 'top'), path.join(dir, 'bottom')], upperDir: path.join(dir, 'upper'), workDir: path.join(dir, 'work') });
    mounted.push(merged);
    expect(hostMountPoints()).toContain(merged);
    expect(fs.readFileSync(path.join(merged, 'shared'), 'utf8')).toBe('top');
    expect(fs.existsSync(path.join(merged, 'hidden'))).toBe(false);
    fs.writeFileSync(path.join(merged, 'new'), 'written');
    expect(fs.readFileSync(path.join(dir, 'upper', 'new'), 'utf8')).toBe('written');
    expect(fs.existsSync(path.join(dir, 'top', 'new'))).toBe(false);
    unmount(merged);
    mounted.pop();
    expect(hostMountPoints()).not.toContain(merged);
    expect(fs.readdirSync(merged)).toEqual([]);
  });

  it('a refused parameter is one error naming it, with overlayfs\'s reason, and nothing is mounted', () => {
    const merged = path.join(dir, 'merged');
    expect(() => mountOverlay(merged, { lowerDirs: [path.join(dir, 'missing')], upperDir: path.join(dir, 'upper'), workDir: path.join(dir, 'work') }))
      .toThrow(/^fsconfig overlay lowerdir\+=".*missing": ENOENT/);
    expect(hostMountPoints()).not.toContain(merged);
    expect(() => unmount(merged)).toThrow(/^umount `.*merged`: EINVAL/);
  });
});
