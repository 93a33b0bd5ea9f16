import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../src/errors';
import {
  checkHostPortsFree,
  checkPortConflicts,
  formatPublish,
  hostPortInUse,
  parseProcNetSockets,
  parsePublish,
  socketShadowed,
  type PublishSpec,
} from '../../../../src/plugins/network/publish';

function parseError(text: string): string {
  try {
    parsePublish(text);
  } catch (error) {
    expect(error).toBeInstanceOf(RuntimeError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error(`parsePublish(${JSON.stringify(text)}) did not throw`);
}

describe('parsePublish', () => {
  it('reads HOSTPORT:CONTAINERPORT as tcp on every address', () => {
    expect(parsePublish('8080:80')).toEqual({ hostPort: 8080, containerPort: 80, proto: 'tcp' });
  });

  it('reads a host address and a protocol', () => {
    expect(parsePublish('127.0.0.1:8080:80/udp')).toEqual({ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, proto: 'udp' });
    expect(parsePublish('192.168.1.5:53:53/tcp')).toEqual({ hostIp: '192.168.1.5', hostPort: 53, containerPort: 53, proto: 'tcp' });
  });

  it('takes 0.0.0.0 as every address, like no host address', () => {
    expect(parsePublish('0.0.0.0:8080:80')).toEqual({ hostPort: 8080, containerPort: 80, proto: 'tcp' });
  });

  it('accepts the ends of the port range', () => {
    expect(parsePublish('1:65535')).toEqual({ hostPort: 1, containerPort: 65535, proto: 'tcp' });
  });

  it('refuses a missing host port with a message that says why', () => {
    expect(parseError('80')).toBe('--publish "80": needs an explicit host port, e.g. "8080:80" ([HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp])');
    expect(parseError('10.0.0.1::80')).toContain('needs an explicit host port');
  });

  it('refuses what is not the format', () => {
    const format = 'must be [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]';
    expect(parseError('80:http')).toBe(`--publish "80:http": ${format}`);
    expect(parseError('')).toBe(`--publish "": ${format}`);
    expect(parseError('a:b:c:d')).toBe(`--publish "a:b:c:d": ${format}`);
    expect(parseError(':80')).toBe(`--publish ":80": ${format}`);
    expect(parseError('+80:80')).toBe(`--publish "+80:80": ${format}`);
    expect(parseError('0x50:80')).toBe(`--publish "0x50:80": ${format}`);
  });

  it('refuses ports out of range', () => {
    expect(parseError('0:80')).toBe('--publish "0:80": port 0 is out of range 1-65535');
    expect(parseError('8080:65536')).toBe('--publish "8080:65536": port 65536 is out of range 1-65535');
    expect(parseError('123456:80')).toContain('must be');
  });

  it('refuses other protocols, port ranges and IPv6 host addresses', () => {
    expect(parseError('80:80/sctp')).toBe('--publish "80:80/sctp": protocol "sctp" must be tcp or udp');
    expect(parseError('80:80/')).toContain('protocol "" must be tcp or udp');
    expect(parseError('8000-8010:80')).toBe('--publish "8000-8010:80": port ranges are not supported, publish each port on its own');
    expect(parseError('[::1]:80:80')).toContain('IPv6 host addresses are not supported');
    expect(parseError('localhost:80:80')).toBe('--publish "localhost:80:80": host address "localhost" must be an IPv4 address ([HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp])');
    expect(parseError('10.0.0.256:80:80')).toContain('must be an IPv4 address');
  });

  it('formats back what it parsed', () => {
    for (const text of ['8080:80', '127.0.0.1:8080:80/udp', '10.1.2.3:1:2']) expect(formatPublish(parsePublish(text))).toBe(text);
    expect(formatPublish(parsePublish('8080:80/tcp'))).toBe('8080:80');
  });
});

describe('checkPortConflicts', () => {
  const spec = (text: string): PublishSpec => parsePublish(text);
  const existing = [
    { containerId: 'web', spec: spec('8080:80') },
    { containerId: 'dns', spec: spec('10.0.0.1:53:53/udp') },
  ];

  it('accepts ports nobody publishes', () => {
    expect(() => checkPortConflicts(existing, [spec('8081:80'), spec('8080:80/udp'), spec('10.0.0.2:53:53/udp'), spec('10.0.0.1:53:53')])).not.toThrow();
    expect(() => checkPortConflicts([], [])).not.toThrow();
  });

  it('names the container holding the port', () => {
    expect(() => checkPortConflicts(existing, [spec('9000:90'), spec('8080:81')])).toThrow(
      new RuntimeError('port-in-use', '--publish "8080:81": host port 8080/tcp is already published by container web'),
    );
  });

  it('takes "every address" to overlap any one address, both ways', () => {
    expect(() => checkPortConflicts(existing, [spec('10.9.9.9:8080:80')])).toThrow(/already published by container web$/);
    expect(() => checkPortConflicts(existing, [spec('53:5353/udp')])).toThrow('host port 10.0.0.1:53/udp is already published by container dns');
  });

  it('refuses the same host port twice in one request', () => {
    expect(() => checkPortConflicts([], [spec('9000:90'), spec('9000:91')])).toThrow(
      '--publish "9000:91": host port 9000/tcp is also published by --publish "9000:90"',
    );
  });
});

// A machine's /proc/net/tcp as printed on little-endian x86: 0100007F is 127.0.0.1.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0501A8C0:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 100 0 0 10 0
   3: 0501A8C0:B3A2 0A01A8C0:0016 01 00000000:00000000 00:00000000 00000000     0        0 1004 1 0000000000000000 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:2328 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000501A8C0:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2002 1 0000000000000000 100 0 0 10 0
   2: 000080FE00000000FF005452120000FE:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2003 1 0000000000000000 100 0 0 10 0
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3001 2 0000000000000000 0
  101: 0501A8C0:9C40 08080808:0035 01 00000000:00000000 00:00000000 00000000     0        0 3002 2 0000000000000000 0
`;

describe('parseProcNetSockets', () => {
  it('decodes little-endian IPv4 tables', () => {
    expect(parseProcNetSockets(TCP, 'LE')).toEqual([
      { localAddress: '0.0.0.0', localPort: 8080, state: 0x0a },
      { localAddress: '127.0.0.1', localPort: 3306, state: 0x0a },
      { localAddress: '192.168.1.5', localPort: 80, state: 0x0a },
      { localAddress: '192.168.1.5', localPort: 45986, state: 0x01 },
    ]);
  });

  it('decodes big-endian words in order', () => {
    const text = 'header\n   0: 7F000001:0050 00000000:0000 0A 0\n';
    expect(parseProcNetSockets(text, 'BE')).toEqual([{ localAddress: '127.0.0.1', localPort: 80, state: 0x0a }]);
  });

  it('decodes IPv6 tables: any, IPv4-mapped and plain addresses', () => {
    expect(parseProcNetSockets(TCP6, 'LE')).toEqual([
      { localAddress: '::', localPort: 9000, state: 0x0a },
      { localAddress: '::ffff:192.168.1.5', localPort: 8081, state: 0x0a },
      { localAddress: 'fe80:0:0:0:5254:ff:fe00:12', localPort: 8082, state: 0x0a },
    ]);
  });

  it('skips the header and lines it cannot read', () => {
    expect(parseProcNetSockets('', 'LE')).toEqual([]);
    expect(parseProcNetSockets('header\ngarbage\n  1: 0100007F:zz 0\n', 'LE')).toEqual([]);
  });
});

describe('socketShadowed', () => {
  const sockets = parseProcNetSockets(TCP, 'LE');
  const v6 = parseProcNetSockets(TCP6, 'LE');
  const udp = parseProcNetSockets(UDP, 'LE');

  it('a listener on every address or on the published address is shadowed', () => {
    expect(socketShadowed(sockets[0]!, 8080, 'tcp')).toBe(true);
    expect(socketShadowed(sockets[0]!, 8080, 'tcp', '192.168.1.5')).toBe(true);
    expect(socketShadowed(sockets[2]!, 80, 'tcp')).toBe(true);
    expect(socketShadowed(sockets[2]!, 80, 'tcp', '192.168.1.5')).toBe(true);
    expect(socketShadowed(sockets[2]!, 80, 'tcp', '192.168.1.6')).toBe(false);
  });

  it('a loopback listener is not: the rules leave 127.0.0.0/8 alone', () => {
    expect(socketShadowed(sockets[1]!, 3306, 'tcp')).toBe(false);
  });

  it('only listening TCP sockets and bound UDP sockets count, on their own protocol and port', () => {
    expect(socketShadowed(sockets[3]!, 45986, 'tcp')).toBe(false);
    expect(socketShadowed(sockets[0]!, 8081, 'tcp')).toBe(false);
    expect(socketShadowed(udp[0]!, 53, 'udp')).toBe(true);
    expect(socketShadowed(udp[0]!, 53, 'tcp')).toBe(false);
    expect(socketShadowed(udp[1]!, 40000, 'udp')).toBe(false);
  });

  it('IPv6: :: (dual stack) and IPv4-mapped addresses count, plain IPv6 ones do not', () => {
    expect(socketShadowed(v6[0]!, 9000, 'tcp', '10.0.0.1')).toBe(true);
    expect(socketShadowed(v6[1]!, 8081, 'tcp')).toBe(true);
    expect(socketShadowed(v6[1]!, 8081, 'tcp', '10.0.0.1')).toBe(false);
    expect(socketShadowed(v6[2]!, 8082, 'tcp')).toBe(false);
  });
});

describe('hostPortInUse', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('reads the protocol table and its IPv6 twin', () => {
    const files: Record<string, string> = { '/p/tcp': TCP, '/p/tcp6': TCP6, '/p/udp': UDP };
    const read = (file: string) => {
      const text = files[file];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
      return text;
    };
    if (os.endianness() !== 'LE') return; // the fixtures above are little-endian text
    expect(hostPortInUse(8080, 'tcp', undefined, '/p', read)).toBe(true);
    expect(hostPortInUse(9000, 'tcp', undefined, '/p', read)).toBe(true);
    expect(hostPortInUse(3306, 'tcp', undefined, '/p', read)).toBe(false);
    expect(hostPortInUse(53, 'udp', undefined, '/p', read)).toBe(true);
    expect(hostPortInUse(8080, 'udp', undefined, '/p', read)).toBe(false);
  });

  it('reads files from the directory given, and an unreadable table is one error line', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrun-publish-'));
    fs.writeFileSync(path.join(dir, 'tcp'), TCP);
    if (os.endianness() === 'LE') expect(hostPortInUse(80, 'tcp', '192.168.1.5', dir)).toBe(true);
    expect(hostPortInUse(81, 'tcp', undefined, dir)).toBe(false);
    fs.mkdirSync(path.join(dir, 'udp'));
    expect(() => hostPortInUse(53, 'udp', undefined, dir)).toThrow(new RegExp(`^read ${dir}/udp: EISDIR`));
  });

  it('on this machine: a port with no listener is free', () => {
    // /proc/net/tcp is real here; port 1 (tcpmux) is practically never served.
    expect(hostPortInUse(1, 'tcp')).toBe(false);
  });
});

describe('checkHostPortsFree', () => {
  it('names the first spec whose port is in use', () => {
    const inUse = (port: number) => port === 8080;
    expect(() => checkHostPortsFree([parsePublish('9000:90')], inUse)).not.toThrow();
    expect(() => checkHostPortsFree([parsePublish('9000:90'), parsePublish('10.0.0.1:8080:80')], inUse)).toThrow(
      new RuntimeError('port-in-use', '--publish "10.0.0.1:8080:80": host port 10.0.0.1:8080/tcp is in use by a process on the host'),
    );
  });
});
