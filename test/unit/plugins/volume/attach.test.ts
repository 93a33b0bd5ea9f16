// config.json edits of `tsrun volume attach`: mounts per kind, the populate hook, the annotation naming the
// volumes, replacing earlier mounts at the same destination, and refusals.
import { describe, expect, it } from 'vitest';
import { attachMounts, VOLUMES_ANNOTATION, volumesOf, type AttachContext } from '../../../../src/plugins/volume/attach';
import { parseMountFlag, parseVolumeFlag } from '../../../../src/plugins/volume/mount-spec';
import { defaultSpec } from '../../../../src/spec/default-spec';

const context: AttachContext = {
  volumes: new Map([
    ['data', { mountpoint: '/var/lib/tsrun/volumes/data/_data' }],
    ['scratch', { mountpoint: '/var/lib/tsrun/volumes/scratch/_data', tmpfsOptions: ['size=1048576'] }],
  ]),
  tsrun: '/opt/tsrun/bin/tsrun',
  stateDir: '/var/lib/tsrun/volumes',
};
const base = () => defaultSpec({ rootless: false });

describe('attachMounts', () => {
  it('a volume is a bind mount of its directory with the populate hook and the annotation', () => {
    const spec = attachMounts(base(), [parseVolumeFlag('data:/srv/data:ro')], context);
    expect(spec.mounts?.at(-1)).toEqual({ destination: '/srv/data', type: 'bind', source: '/var/lib/tsrun/volumes/data/_data', options: ['rbind', 'ro'] });
    expect(spec.hooks?.createRuntime).toEqual([{
      path: '/opt/tsrun/bin/tsrun',
      args: ['/opt/tsrun/bin/tsrun', 'volume', 'populate', '--state-dir', '/var/lib/tsrun/volumes', 'data', '/srv/data'],
    }]);
    expect(spec.annotations?.[VOLUMES_ANNOTATION]).toBe('data');
    expect(volumesOf(spec.annotations)).toEqual(['data']);
  });

  it('host paths, tmpfs and tmpfs volumes; nocopy and tmpfs volumes get no populate hook', () => {
    const spec = attachMounts(base(), [
      parseMountFlag('type=bind,source=/srv/www,target=/www,readonly'),
      parseMountFlag('type=tmpfs,target=/tmp/x,tmpfs-size=1m,tmpfs-mode=1777'),
      parseMountFlag('source=scratch,target=/scratch'),
      parseVolumeFlag('data:/d:nocopy'),
    ], context);
    expect(spec.mounts?.slice(-4)).toEqual([
      { destination: '/www', type: 'bind', source: '/srv/www', options: ['rbind', 'ro'] },
      { destination: '/tmp/x', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'rw', 'size=1048576', 'mode=1777'] },
      { destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'rw', 'size=1048576'] },
      { destination: '/d', type: 'bind', source: '/var/lib/tsrun/volumes/data/_data', options: ['rbind', 'rw'] },
    ]);
    expect(spec.hooks?.createRuntime).toBeUndefined();
    expect(spec.annotations?.[VOLUMES_ANNOTATION]).toBe('data,scratch');
  });

  it('attaching again replaces the mount at that destination and adds no second hook; the input is not changed', () => {
    const input = base();
    const once = attachMounts(input, [parseVolumeFlag('data:/d')], context);
    const twice = attachMounts(once, [parseVolumeFlag('data:/d:ro')], context);
    expect(twice.mounts?.filter((m) => m.destination === '/d')).toEqual([{ destination: '/d', type: 'bind', source: '/var/lib/tsrun/volumes/data/_data', options: ['rbind', 'ro'] }]);
    expect(twice.hooks?.createRuntime).toHaveLength(1);
    expect(input.mounts?.some((m) => m.destination === '/d')).toBe(false);
    // A default mount (here /dev/shm) is replaced by a volume at its place.
    const shm = attachMounts(input, [parseVolumeFlag('data:/dev/shm')], context);
    expect(shm.mounts?.filter((m) => m.destination === '/dev/shm')).toHaveLength(1);
  });

  it('two mounts at one destination are refused', () => {
    expect(() => attachMounts(base(), [parseVolumeFlag('data:/d'), parseVolumeFlag('/h:/d')], context)).toThrow('/d: two mounts have this destination');
  });
});
