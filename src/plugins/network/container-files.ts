import { RuntimeError } from '../../errors';

/**
 * The name-resolution files a networked container sees: /etc/hosts, /etc/resolv.conf and /etc/hostname, as Docker
 * writes them. Pure: the caller reads the host's resolv.conf and writes the results.
 */

export interface HostEntry {
  name: string;
  ip: string;
}

/** `--add-host NAME:IP` (Docker's spelling). */
export function parseAddHost(text: string): HostEntry {
  const colon = text.indexOf(':');
  const name = text.slice(0, colon);
  const ip = text.slice(colon + 1);
  if (colon <= 0 || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name) || !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
    throw new RuntimeError('usage', `--add-host ${JSON.stringify(text)}: must be NAME:IPV4, e.g. db:10.88.0.5`);
  }
  return { name, ip };
}

export function renderHosts(options: { hostname: string; ip?: string; extra: readonly HostEntry[] }): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  lines.push(`${options.ip ?? '127.0.1.1'}\t${options.hostname}`);
  for (const entry of options.extra) lines.push(`${entry.ip}\t${entry.name}`);
  return `${lines.join('\n')}\n`;
}

/**
 * With `--dns`, exactly those servers. Otherwise the host's file without nameservers on loopback (127.0.0.0/8,
 * ::1): inside the container those would be the container itself. search/options lines are kept.
 */
export function renderResolvConf(options: { dns: readonly string[]; hostResolvConf: string }): string {
  const kept = options.hostResolvConf.split('\n').filter((line) => {
    const nameserver = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!nameserver) return /^\s*(search|domain|options)\s/.test(line);
    return options.dns.length === 0 && !nameserver[1]!.startsWith('127.') && nameserver[1] !== '::1';
  });
  const servers = options.dns.map((ip) => `nameserver ${ip}`);
  return `${['# written by tsrun network', ...kept, ...servers].join('\n')}\n`;
}

export function renderHostname(hostname: string): string {
  return `${hostname}\n`;
}
