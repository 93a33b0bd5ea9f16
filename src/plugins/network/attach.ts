import path from 'node:path';
import type { Hook, Mount, Spec } from '../../spec/types';
import { formatNetworkMode, type NetworkMode } from './network-mode';

/**
 * `tsrun network attach BUNDLE`: what it changes in config.json, as a pure function of the config. Re-attaching
 * replaces what an earlier attach added (recognised by the hook arguments and the mount sources), so the
 * command can be run again with other options.
 */

export interface AttachRequest {
  mode: NetworkMode;
  ip?: string;
  publish: readonly string[];
  hostname?: string;
  dns: readonly string[];
  addHost: readonly string[];
}

export interface AttachContext {
  /** Absolute path of the bundle directory (its network/ subdirectory holds the container's files). */
  bundle: string;
  /** Absolute path of the tsrun launcher the hooks run. */
  tsrun: string;
  /** The network state directory the hooks use. */
  stateDir: string;
  /**
   * For container:ID — the other container's init PID (from tsrun's state) and, when it has them, the directory
   * of its network files.
   */
  target?: { pid: number; filesDir?: string };
}

/** The files of a container's name resolution, kept in the bundle and bind-mounted over /etc. */
export const NETWORK_FILES = ['hosts', 'resolv.conf', 'hostname'] as const;

export function networkFilesDir(bundle: string): string {
  return path.join(bundle, 'network');
}

/** Hooks run with exactly the environment given: the tools setup may need (nft, iptables) are found through PATH. */
const HOOK_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

export function attachToConfig(config: Spec, request: AttachRequest, context: AttachContext): Spec {
  const next: Spec = structuredClone(config);
  removeEarlierAttach(next, context);
  const linux = (next.linux ??= {});
  const namespaces = (linux.namespaces ??= []).filter((ns) => ns.type !== 'network');
  switch (request.mode.kind) {
    case 'host':
      // The host's network: no namespace of its own, nothing to set up.
      linux.namespaces = namespaces;
      return next;
    case 'container':
      linux.namespaces = [...namespaces, { type: 'network', path: `/proc/${context.target!.pid}/ns/net` }];
      // The same name resolution as the container whose network it shares, when that one has tsrun's files.
      if (context.target!.filesDir !== undefined) addFileMounts(next, context.target!.filesDir);
      return next;
    case 'none':
    case 'bridge':
      linux.namespaces = [...namespaces, { type: 'network' }];
      break;
  }
  if (request.hostname !== undefined) {
    next.hostname = request.hostname;
    if (!linux.namespaces.some((ns) => ns.type === 'uts')) linux.namespaces.push({ type: 'uts' });
  }
  addFileMounts(next, networkFilesDir(context.bundle));
  const hooks = (next.hooks ??= {});
  const common = ['--state-dir', context.stateDir];
  const setupArgs = ['tsrun', 'network', 'setup', ...common, '--network', formatNetworkMode(request.mode)];
  if (request.ip !== undefined) setupArgs.push('--ip', request.ip);
  for (const spec of request.publish) setupArgs.push('--publish', spec);
  if (request.hostname !== undefined) setupArgs.push('--hostname', request.hostname);
  for (const dns of request.dns) setupArgs.push('--dns', dns);
  for (const entry of request.addHost) setupArgs.push('--add-host', entry);
  hooks.createRuntime = [...(hooks.createRuntime ?? []), { path: context.tsrun, args: setupArgs, env: HOOK_ENV }];
  hooks.poststop = [...(hooks.poststop ?? []), { path: context.tsrun, args: ['tsrun', 'network', 'teardown', ...common], env: HOOK_ENV }];
  return next;
}

function addFileMounts(config: Spec, dir: string): void {
  const mounts: Mount[] = NETWORK_FILES.map((name) => ({
    destination: `/etc/${name}`,
    type: 'bind',
    source: path.join(dir, name),
    options: ['rbind', 'rprivate'],
  }));
  config.mounts = [...(config.mounts ?? []).filter((m) => !NETWORK_FILES.some((name) => m.destination === `/etc/${name}`)), ...mounts];
}

/** Hooks and mounts an earlier attach added: tsrun's `network setup|teardown` hooks and the /etc file mounts. */
function removeEarlierAttach(config: Spec, context: AttachContext): void {
  const ours = (hook: Hook) => hook.path === context.tsrun && hook.args?.[1] === 'network' && (hook.args[2] === 'setup' || hook.args[2] === 'teardown');
  if (config.hooks) {
    for (const kind of ['createRuntime', 'poststop'] as const) {
      const kept = config.hooks[kind]?.filter((hook) => !ours(hook));
      if (kept && kept.length > 0) config.hooks[kind] = kept;
      else delete config.hooks[kind];
    }
  }
  if (config.mounts) {
    config.mounts = config.mounts.filter((m) => !(m.source?.endsWith(`${path.sep}network${path.sep}${path.basename(m.source)}`) && NETWORK_FILES.some((name) => m.destination === `/etc/${name}`)));
  }
}
