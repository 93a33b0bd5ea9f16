import { describe, expect, it } from 'vitest';
import type { ImageUser } from '../../../../src/plugins/image/passwd';
import {
  DEFAULT_PATH,
  ImageAnnotations,
  runtimeConfigFromImage,
  type RuntimeConfigInput,
} from '../../../../src/plugins/image/runtime-config';
import { defaultSpec } from '../../../../src/spec/default-spec';
import type { ExecutionConfig, ImageConfig } from '../../../../src/spec/image-types';
import type { Mount } from '../../../../src/spec/types';
import { errorOf } from '../../../helpers/errors';

const ROOT: ImageUser = { uid: 0, gid: 0, home: '/root' };

function image(config: ExecutionConfig | undefined, extra: Partial<ImageConfig> = {}): ImageConfig {
  return {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
    ...(config === undefined ? {} : { config }),
    ...extra,
  };
}

function volumeMount(destination: string, index: number): Mount {
  return { destination, type: 'bind', source: `/volumes/${index}`, options: ['rbind'] };
}

function convert(config: ImageConfig, overrides: Partial<RuntimeConfigInput> = {}) {
  return runtimeConfigFromImage({
    config,
    user: ROOT,
    base: defaultSpec({ rootless: false }),
    volumes: volumeMount,
    ...overrides,
  });
}

const CMD = { Cmd: ['/bin/app'] };

describe('runtimeConfigFromImage: process', () => {
  it('keeps everything of the base that the image does not determine', () => {
    const base = defaultSpec({ rootless: false });
    const spec = convert(image(CMD), { base });
    expect(spec.ociVersion).toBe(base.ociVersion);
    expect(spec.root).toEqual(base.root);
    expect(spec.hostname).toBe('tsrun');
    expect(spec.linux).toEqual(base.linux);
    expect(spec.mounts).toEqual(base.mounts);
    expect(spec.process?.capabilities).toEqual(base.process?.capabilities);
    expect(spec.process?.rlimits).toEqual(base.process?.rlimits);
    expect(spec.process?.noNewPrivileges).toBe(true);
    expect(spec.process?.terminal).toBe(false);
    // Key order follows the base's process.
    expect(Object.keys(spec.process ?? {})).toEqual(Object.keys(base.process ?? {}));
  });

  it('does not change the base', () => {
    const base = defaultSpec({ rootless: false });
    const before = structuredClone(base);
    const spec = convert(image({ ...CMD, Volumes: { '/data': {} }, Labels: { a: 'b' } }), { base });
    expect(base).toEqual(before);
    spec.linux?.namespaces?.push({ type: 'user' });
    expect(base).toEqual(before);
  });

  it('drops consoleSize and commandLine of the base', () => {
    const base = defaultSpec({ rootless: false });
    base.process = { ...base.process!, consoleSize: { height: 1, width: 2 }, commandLine: 'x' };
    const process = convert(image(CMD), { base }).process;
    expect(process).not.toHaveProperty('consoleSize');
    expect(process).not.toHaveProperty('commandLine');
  });

  it('builds a process from scratch when the base has none', () => {
    const spec = convert(image(CMD), { base: { ociVersion: '1.2.1' } });
    expect(spec.process).toEqual({
      terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/app'], env: [`PATH=${DEFAULT_PATH}`, 'HOME=/root'], cwd: '/',
    });
  });

  describe('args', () => {
    it('Entrypoint only', () => {
      expect(convert(image({ Entrypoint: ['/entry', '-x'] })).process?.args).toEqual(['/entry', '-x']);
    });

    it('Cmd only', () => {
      expect(convert(image({ Cmd: ['sh', '-c', 'echo hi'] })).process?.args).toEqual(['sh', '-c', 'echo hi']);
    });

    it('Entrypoint followed by Cmd', () => {
      expect(convert(image({ Entrypoint: ['/entry'], Cmd: ['--flag', 'x'] })).process?.args).toEqual(['/entry', '--flag', 'x']);
    });

    it('null or empty Entrypoint with a Cmd', () => {
      expect(convert(image({ Entrypoint: null, Cmd: ['/bin/app'] })).process?.args).toEqual(['/bin/app']);
      expect(convert(image({ Entrypoint: [], Cmd: ['/bin/app'] })).process?.args).toEqual(['/bin/app']);
      expect(convert(image({ Entrypoint: ['/e'], Cmd: null })).process?.args).toEqual(['/e']);
    });

    it('neither keeps the base\'s command and warns', () => {
      for (const config of [undefined, {}, { Entrypoint: null, Cmd: null }, { Entrypoint: [], Cmd: [] }]) {
        const warnings: string[] = [];
        const spec = convert(image(config), { warn: (m) => warnings.push(m) });
        expect(spec.process?.args).toEqual(['sh']);
        expect(warnings).toEqual(['the image has no command (neither Entrypoint nor Cmd): config.json runs ["sh"] as `tsrun spec` does; edit process.args']);
      }
    });

    it('an empty program is an error naming the field', () => {
      expect(errorOf(() => convert(image({ Entrypoint: [''], Cmd: ['sh'] }))).message).toBe(
        'image config: /config/Entrypoint [""]: the program to run is an empty string',
      );
      expect(errorOf(() => convert(image({ Cmd: ['', 'x'] }))).message).toBe(
        'image config: /config/Cmd ["","x"]: the program to run is an empty string',
      );
    });
  });

  describe('env', () => {
    it('copies Env verbatim and adds the default PATH and the user\'s HOME', () => {
      const env = convert(image({ ...CMD, Env: ['A=1', 'B=x=y', 'EMPTY='] })).process?.env;
      expect(env).toEqual(['A=1', 'B=x=y', 'EMPTY=', `PATH=${DEFAULT_PATH}`, 'HOME=/root']);
    });

    it('adds no PATH when Env has one, and no HOME when Env has one (even empty)', () => {
      const env = convert(image({ ...CMD, Env: ['PATH=/opt/bin', 'HOME='] })).process?.env;
      expect(env).toEqual(['PATH=/opt/bin', 'HOME=']);
    });

    it('adds no TERM (no terminal) and does not keep the base\'s env', () => {
      const env = convert(image({ ...CMD, Env: ['X=1'] })).process?.env ?? [];
      expect(env.some((entry) => entry.startsWith('TERM='))).toBe(false);
    });

    it('uses "/" for HOME when the user has no home', () => {
      const env = convert(image(CMD), { user: { uid: 4242, gid: 0 } }).process?.env;
      expect(env).toEqual([`PATH=${DEFAULT_PATH}`, 'HOME=/']);
    });

    it('treats an entry without "=" as naming its variable', () => {
      expect(convert(image({ ...CMD, Env: ['PATH', 'HOME'] })).process?.env).toEqual(['PATH', 'HOME']);
    });
  });

  describe('cwd', () => {
    it('is WorkingDir verbatim, "/" when unset or empty', () => {
      expect(convert(image({ ...CMD, WorkingDir: '/srv/app' })).process?.cwd).toBe('/srv/app');
      expect(convert(image({ ...CMD, WorkingDir: '/srv/../app/' })).process?.cwd).toBe('/srv/../app/');
      expect(convert(image({ ...CMD, WorkingDir: '' })).process?.cwd).toBe('/');
      expect(convert(image(CMD)).process?.cwd).toBe('/');
    });

    it('refuses a relative WorkingDir', () => {
      const error = errorOf(() => convert(image({ ...CMD, WorkingDir: 'app' })));
      expect(error.code).toBe('image');
      expect(error.message).toBe('image config: /config/WorkingDir "app": expected an absolute path');
      expect(errorOf(() => convert(image({ ...CMD, WorkingDir: './' }))).message).toBe(
        'image config: /config/WorkingDir "./": expected an absolute path',
      );
    });
  });

  describe('user', () => {
    it('takes uid, gid and additionalGids from the resolved user', () => {
      const spec = convert(image(CMD), { user: { uid: 1000, gid: 1000, additionalGids: [10, 50], home: '/home/app' } });
      expect(spec.process?.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 50] });
      expect(spec.process?.env).toContain('HOME=/home/app');
    });

    it('leaves additionalGids out when there are none', () => {
      expect(convert(image(CMD), { user: { uid: 5, gid: 6, additionalGids: [] } }).process?.user).toEqual({ uid: 5, gid: 6 });
    });

    it('replaces the base user entirely', () => {
      const base = defaultSpec({ rootless: false });
      base.process!.user = { uid: 9, gid: 9, additionalGids: [1, 2], umask: 0o22 };
      expect(convert(image(CMD), { base, user: { uid: 5, gid: 6 } }).process?.user).toEqual({ uid: 5, gid: 6 });
    });
  });
});

describe('runtimeConfigFromImage: annotations', () => {
  const full = image(
    { ...CMD, StopSignal: 'SIGQUIT', ExposedPorts: { '8080/tcp': {}, '53/udp': {}, '443/tcp': {} } },
    {
      architecture: 'arm64', variant: 'v8', 'os.version': '10.0.1', 'os.features': ['win32k', 'x'],
      author: 'Someone <a@b>', created: '2024-01-02T03:04:05.123456789Z',
    },
  );

  it('sets the implicit annotations verbatim', () => {
    expect(convert(full, { refName: 'v1.0' }).annotations).toEqual({
      [ImageAnnotations.os]: 'linux',
      [ImageAnnotations.architecture]: 'arm64',
      [ImageAnnotations.variant]: 'v8',
      [ImageAnnotations.osVersion]: '10.0.1',
      [ImageAnnotations.osFeatures]: 'win32k,x',
      [ImageAnnotations.author]: 'Someone <a@b>',
      [ImageAnnotations.created]: '2024-01-02T03:04:05.123456789Z',
      [ImageAnnotations.stopSignal]: 'SIGQUIT',
      [ImageAnnotations.exposedPorts]: '443/tcp,53/udp,8080/tcp',
      'org.opencontainers.image.ref.name': 'v1.0',
    });
  });

  it('sets only what the image has', () => {
    expect(convert(image(CMD)).annotations).toEqual({
      'org.opencontainers.image.os': 'linux',
      'org.opencontainers.image.architecture': 'amd64',
    });
  });

  it('an empty ExposedPorts gives an empty list', () => {
    expect(convert(image({ ...CMD, ExposedPorts: {} })).annotations?.[ImageAnnotations.exposedPorts]).toBe('');
  });

  it('lets Labels override implicit annotations and the ref name, and adds the others', () => {
    const config = image(
      {
        ...CMD, StopSignal: 'SIGTERM', ExposedPorts: { '80/tcp': {} },
        Labels: {
          'org.opencontainers.image.os': 'labelled-os',
          'org.opencontainers.image.stopSignal': 'SIGINT',
          'org.opencontainers.image.exposedPorts': '1/tcp',
          'org.opencontainers.image.ref.name': 'from-label',
          'com.example.x': 'y',
        },
      },
    );
    const annotations = convert(config, { refName: 'latest' }).annotations;
    expect(annotations).toEqual({
      'org.opencontainers.image.os': 'labelled-os',
      'org.opencontainers.image.architecture': 'amd64',
      'org.opencontainers.image.stopSignal': 'SIGINT',
      'org.opencontainers.image.exposedPorts': '1/tcp',
      'org.opencontainers.image.ref.name': 'from-label',
      'com.example.x': 'y',
    });
  });

  it('ignores null Labels', () => {
    expect(Object.keys(convert(image({ ...CMD, Labels: null })).annotations ?? {})).toHaveLength(2);
  });

  it('does not copy manifest annotations', () => {
    const annotations = convert(image(CMD), { manifestAnnotations: { 'org.opencontainers.image.title': 'x', a: 'b' } }).annotations;
    expect(annotations).not.toHaveProperty('a');
    expect(annotations).not.toHaveProperty('org.opencontainers.image.title');
  });

  it('keeps annotations of the base, under the image\'s', () => {
    const base = { ...defaultSpec({ rootless: false }), annotations: { keep: '1', 'org.opencontainers.image.os': 'base' } };
    expect(convert(image(CMD), { base }).annotations).toEqual({
      keep: '1', 'org.opencontainers.image.os': 'linux', 'org.opencontainers.image.architecture': 'amd64',
    });
  });
});

describe('runtimeConfigFromImage: volumes', () => {
  it('appends one mount per volume, in sorted order, made by the callback', () => {
    const calls: [string, number][] = [];
    const base = defaultSpec({ rootless: false });
    const spec = convert(image({ ...CMD, Volumes: { '/var/lib/db': {}, '/data': {}, '/cache': {} } }), {
      base,
      volumes: (destination, index) => {
        calls.push([destination, index]);
        return volumeMount(destination, index);
      },
    });
    expect(calls).toEqual([['/cache', 0], ['/data', 1], ['/var/lib/db', 2]]);
    expect(spec.mounts).toEqual([
      ...(base.mounts ?? []),
      volumeMount('/cache', 0), volumeMount('/data', 1), volumeMount('/var/lib/db', 2),
    ]);
  });

  it('replaces a base mount at the same destination', () => {
    const spec = convert(image({ ...CMD, Volumes: { '/dev/shm': {} } }));
    const shm = spec.mounts?.filter((mount) => mount.destination === '/dev/shm');
    expect(shm).toEqual([volumeMount('/dev/shm', 0)]);
  });

  it('null or empty Volumes add nothing', () => {
    const base = defaultSpec({ rootless: false });
    expect(convert(image({ ...CMD, Volumes: null }), { base }).mounts).toEqual(base.mounts);
    expect(convert(image({ ...CMD, Volumes: {} }), { base }).mounts).toEqual(base.mounts);
  });

  it('refuses a relative or unclean destination', () => {
    for (const destination of ['data', './data', '/data/', '/a//b', '/a/./b', '/a/../b', '/', '']) {
      const error = errorOf(() => convert(image({ ...CMD, Volumes: { [destination]: {} } })));
      expect(error.code).toBe('image');
      expect(error.message).toBe(
        `image config: /config/Volumes has ${JSON.stringify(destination)}: expected an absolute path other than "/", without ".", ".." or empty components`,
      );
    }
  });
});
