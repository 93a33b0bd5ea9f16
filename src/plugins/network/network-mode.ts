import { RuntimeError } from '../../errors';
import { DEFAULT_NETWORK } from './network-store';

/** Docker's four network modes: a bridge network by name, the host's network, none (loopback only), or another container's. */
export type NetworkMode =
  | { kind: 'bridge'; network: string }
  | { kind: 'host' }
  | { kind: 'none' }
  | { kind: 'container'; id: string };

export function parseNetworkMode(text: string | undefined): NetworkMode {
  if (text === undefined || text === '' || text === 'bridge') return { kind: 'bridge', network: DEFAULT_NETWORK };
  if (text === 'host' || text === 'none') return { kind: text };
  if (text.startsWith('container:')) {
    const id = text.slice('container:'.length);
    if (id === '') throw new RuntimeError('usage', `--network ${JSON.stringify(text)}: container: needs a container ID, e.g. container:web`);
    return { kind: 'container', id };
  }
  return { kind: 'bridge', network: text };
}

export function formatNetworkMode(mode: NetworkMode): string {
  switch (mode.kind) {
    case 'bridge':
      return mode.network;
    case 'container':
      return `container:${mode.id}`;
    default:
      return mode.kind;
  }
}
