import path from 'node:path';
import { RuntimeError } from '../../errors';
import { REF_NAME_ANNOTATION, type ImageConfig } from '../../spec/image-types';
import type { Mount, Process, Spec, User } from '../../spec/types';
import type { ImageUser } from './passwd';

/**
 * The conversion of an OCI image configuration into a runtime-spec config.json (image-spec conversion.md). Pure:
 * the caller resolves the user (./passwd.ts), picks the base spec and decides where volumes come from.
 */

/** The implicit annotations conversion.md defines, keyed by the image configuration field they come from. */
export const ImageAnnotations = {
  os: 'org.opencontainers.image.os',
  architecture: 'org.opencontainers.image.architecture',
  variant: 'org.opencontainers.image.variant',
  osVersion: 'org.opencontainers.image.os.version',
  osFeatures: 'org.opencontainers.image.os.features',
  author: 'org.opencontainers.image.author',
  created: 'org.opencontainers.image.created',
  stopSignal: 'org.opencontainers.image.stopSignal',
  exposedPorts: 'org.opencontainers.image.exposedPorts',
  refName: REF_NAME_ANNOTATION,
} as const;

/** PATH when the image sets none: docker's default (moby's DefaultPathEnv), the same as `tsrun spec`'s. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** HOME when the image sets none and the user has no home in /etc/passwd: runc's default exec user's home. */
export const DEFAULT_HOME = '/';

export interface RuntimeConfigInput {
  config: ImageConfig;
  /** The resolved `config.User` (resolveImageUser). */
  user: ImageUser;
  /** The implementation-defined defaults the image's settings go onto: `tsrun spec`'s config (defaultSpec). */
  base: Spec;
  /** The image's name in its source; becomes `org.opencontainers.image.ref.name` (unless a label sets it). */
  refName?: string;
  /**
   * The manifest's annotations. Deliberately not copied: conversion.md says a converter SHOULD NOT extract
   * annotations from manifests or indexes. Accepted so callers hand over what they have and the decision stays here.
   */
  manifestAnnotations?: Record<string, string>;
  /** Told what the conversion had to decide itself (an image without a command). */
  warn?: (message: string) => void;
  /** The mount for one `config.Volumes` path; the caller decides its source and type. */
  volumes: (destination: string, index: number) => Mount;
}

function imageError(message: string): RuntimeError {
  return new RuntimeError('image', `image config: ${message}`);
}

function envName(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

/**
 * process.env: `config.Env` verbatim and in order, then what the process needs that the image did not set
 * (conversion.md: a converter MAY add entries, SHOULD NOT add names present in Env):
 * - PATH=DEFAULT_PATH, as docker adds it (containerd adds it only when Env is empty altogether).
 * - HOME from the user's passwd entry, else "/": runc's init sets exactly that when HOME is unset, and docker and
 *   containerd rely on it; tsrun's init does not, so the converter writes it.
 * No TERM: the process gets no terminal (docker adds TERM=xterm only with a tty; runc's spec template has it
 * because its process has a terminal). No HOSTNAME (docker's own addition; runc does not set it).
 */
function processEnv(env: string[] | undefined, user: ImageUser): string[] {
  const out = [...(env ?? [])];
  const names = new Set(out.map(envName));
  if (!names.has('PATH')) out.push(`PATH=${DEFAULT_PATH}`);
  if (!names.has('HOME')) out.push(`HOME=${user.home ?? DEFAULT_HOME}`);
  return out;
}

/**
 * process.args: Entrypoint followed by Cmd (conversion.md); null counts as absent. An image with neither (one
 * made by `import`, like docker's) gets undefined: the caller keeps the base's command and says so.
 */
function processArgs(config: ImageConfig): string[] | undefined {
  const entrypoint = config.config?.Entrypoint ?? [];
  const cmd = config.config?.Cmd ?? [];
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) return undefined;
  if (args[0] === '') {
    const field = entrypoint.length > 0 ? 'Entrypoint' : 'Cmd';
    throw imageError(`/config/${field} ${JSON.stringify(config.config?.[field])}: the program to run is an empty string`);
  }
  return args;
}

/**
 * process.cwd: WorkingDir verbatim, "/" when unset or empty (docker, containerd, umoci). A relative WorkingDir is
 * an error, as docker refuses it ("the working directory '...' is invalid, it needs to be an absolute path") and
 * the runtime-spec requires an absolute cwd.
 */
function processCwd(config: ImageConfig): string {
  const workingDir = config.config?.WorkingDir;
  if (workingDir === undefined || workingDir === '') return '/';
  if (!workingDir.startsWith('/')) {
    throw imageError(`/config/WorkingDir ${JSON.stringify(workingDir)}: expected an absolute path`);
  }
  return workingDir;
}

function processUser(user: ImageUser): User {
  const out: User = { uid: user.uid, gid: user.gid };
  if (user.additionalGids !== undefined && user.additionalGids.length > 0) out.additionalGids = [...user.additionalGids];
  return out;
}

/**
 * The implicit annotations of conversion.md, each set when its field is present (values verbatim, never
 * reformatted: "MUST NOT modify the values"), then the ref name, then `config.Labels`, which take precedence over
 * all of them. `os.features` is an array in the image and a string in annotations: its items joined with ",",
 * like the exposedPorts annotation conversion.md defines (and as Singularity's and youki's converters do).
 * `exposedPorts` is the keys of `config.ExposedPorts` sorted and joined with "," (umoci sorts them too; the order
 * of a JSON object carries no meaning).
 */
function imageAnnotations(config: ImageConfig, refName: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const set = (key: string, value: string | undefined): void => {
    if (value !== undefined) out[key] = value;
  };
  set(ImageAnnotations.os, config.os);
  set(ImageAnnotations.architecture, config.architecture);
  set(ImageAnnotations.variant, config.variant);
  set(ImageAnnotations.osVersion, config['os.version']);
  set(ImageAnnotations.osFeatures, config['os.features']?.join(','));
  set(ImageAnnotations.author, config.author);
  set(ImageAnnotations.created, config.created);
  set(ImageAnnotations.stopSignal, config.config?.StopSignal);
  const ports = config.config?.ExposedPorts;
  if (ports !== undefined && ports !== null) set(ImageAnnotations.exposedPorts, Object.keys(ports).sort().join(','));
  set(ImageAnnotations.refName, refName);
  Object.assign(out, config.config?.Labels ?? {});
  return out;
}

/** A volume path must be absolute and clean: no ".", "..", repeated or trailing "/", and not "/" itself. */
function checkVolume(destination: string): void {
  const clean = destination.startsWith('/') && destination !== '/' && !destination.endsWith('/')
    && path.posix.normalize(destination) === destination;
  if (!clean) {
    throw imageError(
      `/config/Volumes has ${JSON.stringify(destination)}: expected an absolute path other than "/", without ".", ".." or empty components`,
    );
  }
}

/**
 * mounts: the base's, then one per `config.Volumes` path, in sorted order, made by the caller's `volumes`. A base
 * mount at the same destination as a volume is dropped, as docker drops its default mount where a user or volume
 * mount goes.
 */
function withVolumes(base: Mount[] | undefined, config: ImageConfig, volumes: RuntimeConfigInput['volumes']): Mount[] | undefined {
  const paths = Object.keys(config.config?.Volumes ?? {}).sort();
  if (paths.length === 0) return base;
  paths.forEach(checkVolume);
  const taken = new Set(paths);
  const kept = (base ?? []).filter((mount) => !taken.has(path.posix.normalize(mount.destination).replace(/(.)\/$/, '$1')));
  return [...kept, ...paths.map((destination, index) => volumes(destination, index))];
}

/**
 * The runtime configuration of a container made from an image (conversion.md's "default generated runtime
 * configuration" on top of `base`). `base` is copied, never changed; everything the image does not determine
 * (root, hostname, linux.*, capabilities, rlimits, ...) stays as the base has it. The process gets no terminal.
 */
export function runtimeConfigFromImage(input: RuntimeConfigInput): Spec {
  const { config, user } = input;
  const spec = structuredClone(input.base);

  const args = processArgs(config);
  if (args === undefined) input.warn?.(`the image has no command (neither Entrypoint nor Cmd): config.json runs ${JSON.stringify(spec.process?.args ?? [])} as \`tsrun spec\` does; edit process.args`);
  const cwd = processCwd(config);
  const mounts = withVolumes(spec.mounts, config, input.volumes);

  // Spread over the base's process so its keys keep their order (config.json reads like `tsrun spec`'s).
  const process: Process = {
    ...spec.process,
    terminal: false,
    user: processUser(user),
    args: args ?? spec.process?.args ?? [],
    env: processEnv(config.config?.Env, user),
    cwd,
  };
  delete process.consoleSize; // only meaningful with a terminal
  delete process.commandLine; // Windows only; args is the command
  spec.process = process;

  if (mounts !== undefined) spec.mounts = mounts;
  spec.annotations = { ...spec.annotations, ...imageAnnotations(config, input.refName) };
  return spec;
}
