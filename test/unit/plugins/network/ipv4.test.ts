import { describe, expect, it } from 'vitest';
import { errorOf } from '../../../helpers/errors';
import {
  type Cidr,
  blockSize,
  broadcastAddress,
  contains,
  defaultGateway,
  findFreeHost,
  firstHost,
  formatCidr,
  formatIPv4,
  isHostAddress,
  lastHost,
  netmask,
  overlaps,
  parseCidr,
  parseIPv4,
  tryParseCidr,
  tryParseIPv4,
} from '../../../../src/plugins/network/ipv4';

const ip = (text: string): number => parseIPv4(text, 'test');
const cidr = (text: string): Cidr => parseCidr(text, 'test');

describe('IPv4 addresses', () => {
  it('parses dotted quads to uint32 and back', () => {
    expect(tryParseIPv4('0.0.0.0')).toBe(0);
    expect(tryParseIPv4('10.88.0.1')).toBe(0x0a580001);
    expect(tryParseIPv4('255.255.255.255')).toBe(0xffffffff);
    expect(tryParseIPv4('192.168.1.254')).toBe(0xc0a801fe);
    for (const text of ['0.0.0.0', '1.2.3.4', '10.88.0.1', '127.0.0.1', '255.255.255.255', '172.16.254.3']) {
      expect(formatIPv4(ip(text))).toBe(text);
    }
  });

  it('refuses anything but a strict dotted quad', () => {
    for (const text of [
      '', '1', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.256', '1.2.3.999', '01.2.3.4', '1.2.3.04', '1.2.3.00',
      '010.0.0.1', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4\n', '1..2.3', '1.2.3.', '.1.2.3', '1.2.3.-4', '+1.2.3.4',
      '0x1.2.3.4', '1.2.3.4/32', '１.2.3.4', '1e2.0.0.1', '1.2.3.4.', '::1', '1,2,3,4',
    ]) {
      expect(tryParseIPv4(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  it('names the field, the value and what was expected', () => {
    const error = errorOf(() => parseIPv4('10.0.0.256', '--gateway'));
    expect(error.code).toBe('invalid-argument');
    expect(error.message).toBe('--gateway "10.0.0.256": must be an IPv4 address such as 10.88.0.1');
    expect(error.message).not.toContain('\n');
  });

  it('refuses to format what is not a uint32', () => {
    for (const value of [-1, 2 ** 32, 1.5, Number.NaN]) expect(errorOf(() => formatIPv4(value)).code).toBe('internal');
  });
});

describe('CIDR blocks', () => {
  it('parses a.b.c.d/n for n from 0 to 32', () => {
    expect(cidr('10.88.0.0/16')).toEqual({ network: 0x0a580000, prefix: 16 });
    expect(cidr('0.0.0.0/0')).toEqual({ network: 0, prefix: 0 });
    expect(cidr('255.255.255.255/32')).toEqual({ network: 0xffffffff, prefix: 32 });
    expect(cidr('10.1.2.4/30')).toEqual({ network: 0x0a010204, prefix: 30 });
    expect(formatCidr(cidr('172.20.0.0/14'))).toBe('172.20.0.0/14');
  });

  it('refuses malformed blocks with one line naming the field', () => {
    for (const text of ['10.1.0.0/33', '10.1.0.0/', '10.1.0.0', '/16', '10.1.0.0/016', '10.1.0.0/-1', '10.1.0.0/16/16', '10.1.0/16', '10.1.0.0/1 6', 'x/16', '010.1.0.0/16']) {
      const error = errorOf(() => parseCidr(text, '--subnet'));
      expect(error.message, text).toBe(`--subnet ${JSON.stringify(text)}: must be an IPv4 CIDR such as 10.88.0.0/16`);
    }
    expect(tryParseCidr('10.1.0.0/33')).toBeUndefined();
  });

  it('refuses host bits, naming the network address meant', () => {
    expect(errorOf(() => parseCidr('10.1.2.3/16', '--subnet')).message).toBe(
      '--subnet "10.1.2.3/16": host bits are set; the network address is 10.1.0.0/16',
    );
    expect(errorOf(() => parseCidr('192.168.1.1/0', '--subnet')).message).toContain('the network address is 0.0.0.0/0');
    expect(tryParseCidr('10.1.2.3/16')).toEqual({ address: 0x0a010203, prefix: 16 });
  });

  it('computes masks, broadcast and host range', () => {
    expect(netmask(0)).toBe(0);
    expect(netmask(8)).toBe(0xff000000);
    expect(netmask(31)).toBe(0xfffffffe);
    expect(netmask(32)).toBe(0xffffffff);
    expect(errorOf(() => netmask(33)).code).toBe('internal');

    const block = cidr('10.88.0.0/16');
    expect(formatIPv4(broadcastAddress(block))).toBe('10.88.255.255');
    expect(formatIPv4(firstHost(block))).toBe('10.88.0.1');
    expect(formatIPv4(lastHost(block))).toBe('10.88.255.254');
    expect(formatIPv4(defaultGateway(block))).toBe('10.88.0.1');
    expect(blockSize(block)).toBe(65536);

    const all = cidr('0.0.0.0/0');
    expect(broadcastAddress(all)).toBe(0xffffffff);
    expect(blockSize(all)).toBe(2 ** 32);
    expect(formatIPv4(lastHost(all))).toBe('255.255.255.254');

    const tiny = cidr('10.0.0.4/30');
    expect([firstHost(tiny), lastHost(tiny)].map(formatIPv4)).toEqual(['10.0.0.5', '10.0.0.6']);
    // RFC 3021: both addresses of a /31 are hosts; a /32 is its one host.
    const pair = cidr('10.0.0.4/31');
    expect([firstHost(pair), lastHost(pair)].map(formatIPv4)).toEqual(['10.0.0.4', '10.0.0.5']);
    const one = cidr('10.0.0.4/32');
    expect([firstHost(one), lastHost(one)].map(formatIPv4)).toEqual(['10.0.0.4', '10.0.0.4']);
    expect(formatIPv4(broadcastAddress(cidr('255.255.255.0/24')))).toBe('255.255.255.255');
  });

  it('tells membership and host addresses apart', () => {
    const block = cidr('10.1.0.0/16');
    expect(contains(block, ip('10.1.0.0'))).toBe(true);
    expect(contains(block, ip('10.1.255.255'))).toBe(true);
    expect(contains(block, ip('10.2.0.0'))).toBe(false);
    expect(contains(block, ip('10.0.255.255'))).toBe(false);
    expect(isHostAddress(block, ip('10.1.0.0'))).toBe(false);
    expect(isHostAddress(block, ip('10.1.255.255'))).toBe(false);
    expect(isHostAddress(block, ip('10.1.0.1'))).toBe(true);
    expect(isHostAddress(block, ip('10.2.0.1'))).toBe(false);
    expect(contains(cidr('0.0.0.0/0'), 0xffffffff)).toBe(true);
    expect(contains(cidr('255.0.0.0/8'), 0xffffffff)).toBe(true);
  });

  it('overlap matrix: symmetric, nested, adjacent, disjoint', () => {
    const blocks = ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.3.0/24', '10.2.0.0/16', '11.0.0.0/8', '0.0.0.0/0', '10.1.2.128/25', '10.1.2.127/32'];
    // expected[i][j]: do blocks i and j overlap?
    const expected = [
      [1, 1, 1, 1, 1, 0, 1, 1, 1],
      [1, 1, 1, 1, 0, 0, 1, 1, 1],
      [1, 1, 1, 0, 0, 0, 1, 1, 1],
      [1, 1, 0, 1, 0, 0, 1, 0, 0],
      [1, 0, 0, 0, 1, 0, 1, 0, 0],
      [0, 0, 0, 0, 0, 1, 1, 0, 0],
      [1, 1, 1, 1, 1, 1, 1, 1, 1],
      [1, 1, 1, 0, 0, 0, 1, 1, 0],
      [1, 1, 1, 0, 0, 0, 1, 0, 1],
    ];
    blocks.forEach((a, i) => {
      blocks.forEach((b, j) => {
        expect(overlaps(cidr(a), cidr(b)), `${a} vs ${b}`).toBe(expected[i]?.[j] === 1);
      });
    });
  });
});

describe('findFreeHost', () => {
  it('returns the lowest host for which isTaken is false', () => {
    const block = cidr('10.88.0.0/16');
    const taken = new Set([ip('10.88.0.1'), ip('10.88.0.2'), ip('10.88.0.4')]);
    expect(formatIPv4(findFreeHost(block, (a) => taken.has(a)) ?? -1)).toBe('10.88.0.3');
    expect(formatIPv4(findFreeHost(block, () => false) ?? -1)).toBe('10.88.0.1');
  });

  it('never returns the network or broadcast address, and undefined when full', () => {
    const block = cidr('10.0.0.0/30');
    const seen: string[] = [];
    expect(findFreeHost(block, (a) => (seen.push(formatIPv4(a)), true))).toBeUndefined();
    expect(seen).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('stops at the first free address (a /8 costs what is taken, not its size)', () => {
    let calls = 0;
    expect(formatIPv4(findFreeHost(cidr('10.0.0.0/8'), (a) => (calls++, a < ip('10.0.0.10'))) ?? -1)).toBe('10.0.0.10');
    expect(calls).toBe(10);
  });

  it('walks up to 255.255.255.254 without overflowing', () => {
    const block = cidr('255.255.255.252/30');
    expect(formatIPv4(findFreeHost(block, (a) => a === ip('255.255.255.253')) ?? -1)).toBe('255.255.255.254');
  });
});
