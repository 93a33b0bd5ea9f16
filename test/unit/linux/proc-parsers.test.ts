import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCgroupFile, parseMountInfo, parseProcStat, unescapeMountField } from '../../../src/linux/proc-parsers';
import { errorOf } from '../../helpers/errors';

/** A /proc/<pid>/stat line with the given fields; field 22 (start time) is 987654 unless given. */
function statLine(pid: number, comm: string, state: string, startTime = '987654', ppid = '1'): string {
  // fields 5..21, then 22 = starttime, then a few more
  const middle = '1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0';
  return `${pid} (${comm}) ${state} ${ppid} ${middle} ${startTime} 1234567 123 18446744073709551615 1 1 0 0 0 0 0\n`;
}

describe('parseProcStat', () => {
  it('reads pid, comm, state, ppid and field 22', () => {
    expect(parseProcStat(statLine(42, 'sh', 'S'))).toEqual({ pid: 42, comm: 'sh', state: 'S', ppid: 1, startTime: '987654' });
  });

  it('finds the last ")" when comm contains parentheses and spaces', () => {
    const stat = parseProcStat(statLine(7, 'a) b (c', 'R', '555'));
    expect(stat).toEqual({ pid: 7, comm: 'a) b (c', state: 'R', ppid: 1, startTime: '555' });
  });

  it.each([['a ) R 1 2 3'], [') S 9'], ['))'], ['(x)'], ['  '], ['a b'], ['(']])('keeps a tricky comm %j intact', (comm) => {
    const stat = parseProcStat(statLine(3, comm, 'Z', '77'));
    expect(stat.comm).toBe(comm);
    expect(stat.state).toBe('Z');
    expect(stat.startTime).toBe('77');
  });

  it('handles an empty comm and no trailing newline', () => {
    expect(parseProcStat(statLine(5, '', 'X').trimEnd())).toMatchObject({ pid: 5, comm: '', state: 'X' });
  });

  it('keeps start times beyond 2^53 exact (they are text)', () => {
    expect(parseProcStat(statLine(5, 'x', 'S', '18446744073709551615')).startTime).toBe('18446744073709551615');
  });

  it('reads ppid 0 (children of the kernel)', () => {
    expect(parseProcStat(statLine(2, 'kthreadd', 'S', '1', '0')).ppid).toBe(0);
  });

  it.each([
    ['', 'no "(comm)"'],
    ['42 sh S 1', 'no "(comm)"'],
    ['42 (sh S 1', 'no "(comm)"'],
    ['x (sh) S 1', 'bad pid'],
    [' (sh) S 1', 'bad pid'],
    ['42 (sh)', 'bad state'],
    ['42 (sh) SS 1', 'bad state'],
    ['42 (sh) S x 1', 'bad ppid'],
    ['42 (sh) S 1 2 3', 'bad start time'],
    [statLine(42, 'sh', 'S', 'abc'), 'bad start time'],
  ])('rejects %j', (text, detail) => {
    const error = errorOf(() => parseProcStat(text));
    expect(error.code).toBe('proc-parse');
    expect(error.message).toContain(detail);
  });

  it('parses this process’ own stat', () => {
    const stat = parseProcStat(fs.readFileSync('/proc/self/stat', 'latin1'));
    expect(stat.pid).toBe(process.pid);
    expect(stat.state).toMatch(/^[RS]$/);
    expect(stat.ppid).toBe(process.ppid);
    expect(stat.startTime).toMatch(/^[0-9]+$/);
  });
});

describe('parseMountInfo', () => {
  it('parses the proc(5) example with one optional field', () => {
    expect(parseMountInfo('36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n')).toEqual([
      {
        mountId: 36, parentId: 35, major: 98, minor: 0, root: '/mnt1', mountPoint: '/mnt2', options: ['rw', 'noatime'],
        optionalFields: ['master:1'], fsType: 'ext3', source: '/dev/root', superOptions: ['rw', 'errors=continue'],
      },
    ]);
  });

  it('parses lines without and with several optional fields', () => {
    const text = [
      '100 25 0:50 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw',
      '25 1 0:22 / / rw,relatime shared:1 master:3 propagate_from:2 unbindable - overlay overlay rw,lowerdir=/a:/b',
      '',
    ].join('\n');
    const [proc, root] = parseMountInfo(text);
    expect(proc?.optionalFields).toEqual([]);
    expect(proc?.fsType).toBe('proc');
    expect(proc?.options).toEqual(['rw', 'nosuid', 'nodev', 'noexec', 'relatime']);
    expect(root?.optionalFields).toEqual(['shared:1', 'master:3', 'propagate_from:2', 'unbindable']);
    expect(root?.superOptions).toEqual(['rw', 'lowerdir=/a:/b']);
    expect(root?.major).toBe(0);
    expect(root?.minor).toBe(22);
  });

  it('unescapes space, tab, newline and backslash in paths and source', () => {
    const [entry] = parseMountInfo(
      '61 25 0:55 /dir\\040one /mnt/with\\040space\\011tab\\012nl\\134bs rw shared:9 - tmpfs my\\040src rw,size=10k\n',
    );
    expect(entry?.root).toBe('/dir one');
    expect(entry?.mountPoint).toBe('/mnt/with space\ttab\nnl\\bs');
    expect(entry?.source).toBe('my src');
  });

  it('splits options before unescaping, so an escaped comma stays inside its value', () => {
    const [entry] = parseMountInfo('1 0 0:1 / / rw - overlay ov rw,lowerdir=/a\\054b,upperdir=/u\n');
    expect(entry?.superOptions).toEqual(['rw', 'lowerdir=/a,b', 'upperdir=/u']);
  });

  it('does not mistake a "-" mount point or source for the separator', () => {
    const [entry] = parseMountInfo('5 1 0:3 - /- rw shared:1 - tmpfs - rw\n');
    expect(entry?.root).toBe('-');
    expect(entry?.mountPoint).toBe('/-');
    expect(entry?.optionalFields).toEqual(['shared:1']);
    expect(entry?.source).toBe('-');
  });

  it('keeps an empty source', () => {
    const [entry] = parseMountInfo('5 1 0:3 / /x rw - tmpfs  rw\n');
    expect(entry?.source).toBe('');
    expect(entry?.superOptions).toEqual(['rw']);
  });

  it('returns nothing for empty text', () => {
    expect(parseMountInfo('')).toEqual([]);
    expect(parseMountInfo('\n\n')).toEqual([]);
  });

  it.each([
    ['36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw'],
    ['36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root'],
    ['36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw extra'],
    ['x 35 98:0 / / rw - ext3 /dev/root rw'],
    ['36 35 98 / / rw - ext3 /dev/root rw'],
    ['36 35 a:b / / rw - ext3 /dev/root rw'],
    ['36 35 98:0'],
  ])('rejects %j naming the line', (line) => {
    const error = errorOf(() => parseMountInfo(`1 0 0:1 / / rw - rootfs rootfs rw\n${line}\n`));
    expect(error.code).toBe('proc-parse');
    expect(error.message).toContain('line 2');
  });

  it('parses this process’ own mountinfo', () => {
    const entries = parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.some((e) => e.mountPoint === '/proc' || e.mountPoint === '/')).toBe(true);
  });

  it('leaves text without escapes alone', () => {
    expect(unescapeMountField('/a\\b\\12x\\0400')).toBe('/a\\b\\12x 0');
  });
});

describe('parseCgroupFile', () => {
  it('parses a hybrid (v1 + v2) file', () => {
    const text = [
      '12:pids:/user.slice',
      '11:cpu,cpuacct:/',
      '1:name=systemd:/user.slice/user-0.slice/session-1.scope',
      '0::/user.slice/user-0.slice/session-1.scope',
      '',
    ].join('\n');
    expect(parseCgroupFile(text)).toEqual([
      { hierarchyId: 12, controllers: ['pids'], path: '/user.slice' },
      { hierarchyId: 11, controllers: ['cpu', 'cpuacct'], path: '/' },
      { hierarchyId: 1, controllers: ['name=systemd'], path: '/user.slice/user-0.slice/session-1.scope' },
      { hierarchyId: 0, controllers: [], path: '/user.slice/user-0.slice/session-1.scope' },
    ]);
  });

  it('keeps colons in the path', () => {
    expect(parseCgroupFile('5:memory:/kubepods/a:b:c\n')).toEqual([
      { hierarchyId: 5, controllers: ['memory'], path: '/kubepods/a:b:c' },
    ]);
  });

  it('reads a cgroup namespace view and an empty text', () => {
    expect(parseCgroupFile('0::/')).toEqual([{ hierarchyId: 0, controllers: [], path: '/' }]);
    expect(parseCgroupFile('')).toEqual([]);
  });

  it.each([['x::/'], ['1:cpu'], ['noseparator'], [':cpu:/'], ['-1::/']])('rejects %j', (line) => {
    const error = errorOf(() => parseCgroupFile(`0::/\n${line}\n`));
    expect(error.code).toBe('proc-parse');
    expect(error.message).toContain('line 2');
  });

  it('parses this process’ own cgroup file', () => {
    const entries = parseCgroupFile(fs.readFileSync('/proc/self/cgroup', 'utf8'));
    expect(entries.length).toBeGreaterThan(0);
    for (const entry of entries) expect(entry.path.startsWith('/')).toBe(true);
  });
});
