import { describe, expect, it } from 'vitest';
import { formatListJson, formatListTable, formatState, type ListRow } from '../../../src/container/list-format';

const running: ListRow = {
  ociVersion: '1.2.1',
  id: 'c1',
  pid: 4242,
  status: 'running',
  bundle: '/b/c1',
  rootfs: '/b/c1/rootfs',
  created: '2026-11-22T06:14:44.123456789Z',
  owner: 'root',
};

const stopped: ListRow = {
  ociVersion: '1.2.1',
  id: 'a-much-longer-id',
  pid: 0,
  status: 'stopped',
  bundle: '/bundles/x',
  rootfs: '/bundles/x/rootfs',
  created: '2026-11-22T06:14:45Z',
  annotations: { 'org.example/key': 'value' },
  owner: '',
};

describe('formatListTable', () => {
  it('prints only the header for no containers, each column 12 wide', () => {
    expect(formatListTable([])).toBe(
      `${'ID'.padEnd(12)}${'PID'.padEnd(12)}${'STATUS'.padEnd(12)}${'BUNDLE'.padEnd(12)}${'CREATED'.padEnd(12)}OWNER\n`,
    );
  });

  it('widens a column to its widest cell plus 3, left aligned; the last column is not padded', () => {
    // ID: 16+3=19; PID: 12 (min); STATUS: 12; BUNDLE: 10+3=13; CREATED: 30+3=33.
    const line = (...cells: string[]): string =>
      `${cells[0]?.padEnd(19)}${cells[1]?.padEnd(12)}${cells[2]?.padEnd(12)}${cells[3]?.padEnd(13)}${cells[4]?.padEnd(33)}${cells[5]}\n`;
    expect(formatListTable([running, stopped])).toBe(
      line('ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER') +
        line('c1', '4242', 'running', '/b/c1', '2026-11-22T06:14:44.123456789Z', 'root') +
        line('a-much-longer-id', '0', 'stopped', '/bundles/x', '2026-11-22T06:14:45Z', ''),
    );
  });

  it('matches a hand-written table literally', () => {
    const table = formatListTable([{ ...running, bundle: '/b' }]);
    expect(table.split('\n')).toEqual([
      'ID          PID         STATUS      BUNDLE      CREATED                          OWNER',
      'c1          4242        running     /b          2026-11-22T06:14:44.123456789Z   root',
      '',
    ]);
  });

  it('measures cells in code points like Go’s tabwriter', () => {
    const table = formatListTable([{ ...running, bundle: '/tmp/bündle-😀-0123' }]);
    const [header, row] = table.split('\n');
    // '/tmp/bündle-😀-0123' is 18 code points: the column is 21 wide, in code points.
    expect([...(header ?? '')].indexOf('C')).toBe(12 + 12 + 12 + 21);
    expect([...(row ?? '')].slice(36, 36 + 21).join('')).toBe('/tmp/bündle-😀-0123   ');
  });

  it('leaves trailing spaces before an empty owner, as runc does', () => {
    const table = formatListTable([{ ...running, owner: '' }]);
    expect(table.split('\n')[1]).toMatch(/Z {3}$/);
  });
});

describe('formatListJson', () => {
  it('prints null for no containers (a nil slice in runc)', () => {
    expect(formatListJson([])).toBe('null');
  });

  it('prints a compact array in runc’s field order, annotations only when present', () => {
    const text = formatListJson([running, stopped, { ...running, id: 'c3', annotations: {} }]);
    expect(text).toBe(
      '[{"ociVersion":"1.2.1","id":"c1","pid":4242,"status":"running","bundle":"/b/c1","rootfs":"/b/c1/rootfs",' +
        '"created":"2026-11-22T06:14:44.123456789Z","owner":"root"},' +
        '{"ociVersion":"1.2.1","id":"a-much-longer-id","pid":0,"status":"stopped","bundle":"/bundles/x",' +
        '"rootfs":"/bundles/x/rootfs","created":"2026-11-22T06:14:45Z","annotations":{"org.example/key":"value"},' +
        '"owner":""},' +
        '{"ociVersion":"1.2.1","id":"c3","pid":4242,"status":"running","bundle":"/b/c1","rootfs":"/b/c1/rootfs",' +
        '"created":"2026-11-22T06:14:44.123456789Z","owner":"root"}]',
    );
    expect(JSON.parse(text)).toHaveLength(3);
  });

  it('ignores fields that are not part of the state document', () => {
    const extra = { ...running, secret: 'x' } as ListRow;
    expect(formatListJson([extra])).not.toContain('secret');
  });

  it('escapes <, > and & the way Go does', () => {
    const text = formatListJson([{ ...running, bundle: '/a<b>&c', annotations: { k: '\u2028' } }]);
    expect(text).toContain('"bundle":"/a\\u003cb\\u003e\\u0026c"');
    expect(text).toContain('"k":"\\u2028"');
    expect((JSON.parse(text) as ListRow[])[0]?.bundle).toBe('/a<b>&c');
  });
});

describe('formatState', () => {
  it('prints 2-space-indented JSON without a trailing newline, annotations omitted when empty', () => {
    expect(formatState({ ...running, annotations: {} })).toBe(
      [
        '{',
        '  "ociVersion": "1.2.1",',
        '  "id": "c1",',
        '  "pid": 4242,',
        '  "status": "running",',
        '  "bundle": "/b/c1",',
        '  "rootfs": "/b/c1/rootfs",',
        '  "created": "2026-11-22T06:14:44.123456789Z",',
        '  "owner": "root"',
        '}',
      ].join('\n'),
    );
  });

  it('includes annotations when there are some', () => {
    const text = formatState(stopped);
    expect(text).toContain('  "annotations": {\n    "org.example/key": "value"\n  },\n  "owner": ""\n}');
    expect(text.endsWith('\n')).toBe(false);
  });

  it('escapes like Go', () => {
    expect(formatState({ ...running, id: 'a&b' })).toContain('"id": "a\\u0026b"');
  });
});
