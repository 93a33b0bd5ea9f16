import { describe, expect, it } from 'vitest';
import { MAX_ID, parseGroup, parsePasswd, resolveImageUser } from '../../../../src/plugins/image/passwd';
import { errorOf } from '../../../helpers/errors';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/ash',
  'daemon:x:2:2:daemon:/sbin:/sbin/nologin',
  'app:x:1000:1000:App User:/home/app:/bin/sh',
  'nohome:x:1001:1001::',
  'nobody:x:65534:65534:nobody:/:/sbin/nologin',
].join('\n');

const GROUP = [
  'root:x:0:root',
  'wheel:x:10:root,app',
  'app:x:1000:',
  'staff:x:50:app',
  'audio:x:29: app , daemon',
  'video:x:44:daemon',
  'nogroup:x:65534:',
].join('\n');

const FILES = { passwd: PASSWD, group: GROUP };

describe('parsePasswd', () => {
  it('reads every field of well-formed lines', () => {
    expect(parsePasswd('root:x:0:0:root:/root:/bin/bash\napp:*:1000:100:App,,,:/home/app:/usr/bin/zsh\n')).toEqual([
      { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' },
      { name: 'app', uid: 1000, gid: 100, home: '/home/app', shell: '/usr/bin/zsh' },
    ]);
  });

  it('skips blank lines, comments and surrounding blanks, and takes CRLF line ends', () => {
    const text = '\n# comment\n   # indented comment\n  \t\n  app:x:1:2:g:/h:/s  \r\n\n';
    expect(parsePasswd(text)).toEqual([{ name: 'app', uid: 1, gid: 2, home: '/h', shell: '/s' }]);
  });

  it('ignores NIS compat lines (+ and -)', () => {
    expect(parsePasswd('+::::::\n-baduser::::::\n+@netgroup\napp:x:1:1::/h:/s')).toEqual([
      { name: 'app', uid: 1, gid: 1, home: '/h', shell: '/s' },
    ]);
  });

  it('accepts short lines that still have name, password, uid and gid', () => {
    expect(parsePasswd('a:x:1:2\nb:x:3:4:gecos')).toEqual([
      { name: 'a', uid: 1, gid: 2, home: '', shell: '' },
      { name: 'b', uid: 3, gid: 4, home: '', shell: '' },
    ]);
  });

  it('skips malformed lines: too few fields, empty name, non-numeric or out-of-range ids', () => {
    const text = [
      'a', 'b:x', 'c:x:1', ':x:5:5::/:/bin/sh', 'd:x::1::/:/bin/sh', 'e:x:1::/:/bin/sh', 'f:x:abc:1::/:/s',
      'g:x:1:2a::/:/s', 'h:x:-1:1::/:/s', 'i:x: 1:1::/:/s', `j:x:${MAX_ID + 1}:1::/:/s`, 'ok:x:7:7::/:/s',
    ].join('\n');
    expect(parsePasswd(text)).toEqual([{ name: 'ok', uid: 7, gid: 7, home: '/', shell: '/s' }]);
  });

  it('accepts the largest valid id and leading zeros', () => {
    expect(parsePasswd(`big:x:${MAX_ID}:007::/:/s`)).toEqual([{ name: 'big', uid: MAX_ID, gid: 7, home: '/', shell: '/s' }]);
  });

  it('keeps duplicate lines, in order (lookups take the first)', () => {
    expect(parsePasswd('a:x:1:1::/one:/s\na:x:2:2::/two:/s').map((e) => e.uid)).toEqual([1, 2]);
  });

  it('keeps the rest of the line in the shell, as glibc does', () => {
    expect(parsePasswd('a:x:1:1::/h:/bin/sh:extra')[0]?.shell).toBe('/bin/sh:extra');
  });

  it('returns nothing for an empty file', () => {
    expect(parsePasswd('')).toEqual([]);
  });
});

describe('parseGroup', () => {
  it('reads name, gid and members', () => {
    expect(parseGroup('wheel:x:10:root,app\nempty:x:20:\nbare:x:30')).toEqual([
      { name: 'wheel', gid: 10, members: ['root', 'app'] },
      { name: 'empty', gid: 20, members: [] },
      { name: 'bare', gid: 30, members: [] },
    ]);
  });

  it('trims members and drops empty items', () => {
    expect(parseGroup('g:x:1: a ,, b,')[0]?.members).toEqual(['a', 'b']);
  });

  it('skips comments, blank lines, NIS lines and malformed lines', () => {
    const text = ['# c', '', '+:::', '-g2:x:5:', 'short:x', ':x:5:a', 'bad:x:five:a', `big:x:${MAX_ID + 1}:a`, 'ok:x:5:a'].join('\n');
    expect(parseGroup(text)).toEqual([{ name: 'ok', gid: 5, members: ['a'] }]);
  });
});

describe('resolveImageUser', () => {
  describe('no User', () => {
    it('is root with root\'s groups and home, like docker', () => {
      expect(resolveImageUser(undefined, FILES)).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' });
      expect(resolveImageUser('', FILES)).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' });
    });

    it('is 0:0 without /etc/passwd or without a uid-0 entry', () => {
      expect(resolveImageUser(undefined, {})).toEqual({ uid: 0, gid: 0 });
      expect(resolveImageUser('', { passwd: 'app:x:1:1::/h:/s' })).toEqual({ uid: 0, gid: 0 });
    });
  });

  describe('numeric user', () => {
    it('"0" is root, with the gid and home from passwd and no additional gids', () => {
      expect(resolveImageUser('0', FILES)).toEqual({ uid: 0, gid: 0, home: '/root' });
    });

    it('takes the gid of the passwd entry with that uid (runc GetExecUser, containerd WithUserID)', () => {
      expect(resolveImageUser('1000', FILES)).toEqual({ uid: 1000, gid: 1000, home: '/home/app' });
    });

    it('gets gid 0 when passwd has no entry for the uid, or there is no passwd', () => {
      expect(resolveImageUser('4242', FILES)).toEqual({ uid: 4242, gid: 0 });
      expect(resolveImageUser('4242', {})).toEqual({ uid: 4242, gid: 0 });
    });

    it('"1000:1000" copies both verbatim, with no additional gids', () => {
      expect(resolveImageUser('1000:1000', FILES)).toEqual({ uid: 1000, gid: 1000, home: '/home/app' });
      expect(resolveImageUser('1000:50', FILES)).toEqual({ uid: 1000, gid: 50, home: '/home/app' });
      expect(resolveImageUser('5000:6000', FILES)).toEqual({ uid: 5000, gid: 6000 });
      expect(resolveImageUser('5000:6000', {})).toEqual({ uid: 5000, gid: 6000 });
    });

    it('"1000:staff" resolves the group by name', () => {
      expect(resolveImageUser('1000:staff', FILES)).toEqual({ uid: 1000, gid: 50, home: '/home/app' });
      expect(resolveImageUser('4242:staff', FILES)).toEqual({ uid: 4242, gid: 50 });
    });

    it('a numeric name is always an id, never looked up as a name', () => {
      const files = { passwd: '1234:x:99:99::/h:/s', group: '77:x:88:' };
      expect(resolveImageUser('1234:77', files)).toEqual({ uid: 1234, gid: 77 });
    });

    it('accepts leading zeros and the largest id, refuses out-of-range ids', () => {
      expect(resolveImageUser('0010:0020', {})).toEqual({ uid: 10, gid: 20 });
      expect(resolveImageUser(`${MAX_ID}:${MAX_ID}`, {})).toEqual({ uid: MAX_ID, gid: MAX_ID });
      expect(errorOf(() => resolveImageUser(`${MAX_ID + 1}`, {})).message).toBe(
        `image config: /config/User "${MAX_ID + 1}": uid ${MAX_ID + 1} is out of range (0 to ${MAX_ID})`,
      );
      expect(errorOf(() => resolveImageUser('1:99999999999999999999', {})).message).toBe(
        `image config: /config/User "1:99999999999999999999": gid 99999999999999999999 is out of range (0 to ${MAX_ID})`,
      );
      expect(errorOf(() => resolveImageUser('-1', FILES)).message).toBe(
        `image config: /config/User "-1": uid -1 is out of range (0 to ${MAX_ID})`,
      );
    });
  });

  describe('named user', () => {
    it('"app" resolves uid, gid, home and the groups listing the user', () => {
      expect(resolveImageUser('app', FILES)).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 50, 29], home: '/home/app' });
    });

    it('a user in no group gets no additionalGids; an entry without home gets no home', () => {
      expect(resolveImageUser('nohome', FILES)).toEqual({ uid: 1001, gid: 1001 });
    });

    it('keeps the primary gid when a group lists the user and never adds it (runc GetExecUser)', () => {
      const files = { passwd: 'u:x:5:7::/h:/s', group: 'prim:x:7:u\nother:x:8:u' };
      expect(resolveImageUser('u', files).additionalGids).toEqual([7, 8]);
      expect(resolveImageUser('u', { passwd: files.passwd, group: 'other:x:8:u' }).additionalGids).toEqual([8]);
    });

    it('lists each gid once, in file order, even when group lines repeat', () => {
      const files = { passwd: 'u:x:5:5::/h:/s', group: 'b:x:9:u\na:x:3:u\nb:x:9:u\nalias:x:3:x,u' };
      expect(resolveImageUser('u', files).additionalGids).toEqual([9, 3]);
    });

    it('takes the first of duplicate passwd lines', () => {
      const files = { passwd: 'u:x:5:5::/first:/s\nu:x:6:6::/second:/s' };
      expect(resolveImageUser('u', files)).toEqual({ uid: 5, gid: 5, home: '/first' });
    });

    it('works without /etc/group (no additional gids)', () => {
      expect(resolveImageUser('app', { passwd: PASSWD })).toEqual({ uid: 1000, gid: 1000, home: '/home/app' });
    });

    it('"app:staff" takes the group and sets no additional gids', () => {
      expect(resolveImageUser('app:staff', FILES)).toEqual({ uid: 1000, gid: 50, home: '/home/app' });
    });

    it('"app:1234" copies the gid verbatim, without needing /etc/group', () => {
      expect(resolveImageUser('app:1234', FILES)).toEqual({ uid: 1000, gid: 1234, home: '/home/app' });
      expect(resolveImageUser('app:1234', { passwd: PASSWD })).toEqual({ uid: 1000, gid: 1234, home: '/home/app' });
    });

    it('matches names exactly', () => {
      expect(errorOf(() => resolveImageUser('App', FILES)).message).toBe(
        'image config: /config/User "App": no such user in the image\'s /etc/passwd',
      );
    });
  });

  describe('errors', () => {
    it('an unknown user', () => {
      const error = errorOf(() => resolveImageUser('nobody2', FILES));
      expect(error.code).toBe('image');
      expect(error.message).toBe('image config: /config/User "nobody2": no such user in the image\'s /etc/passwd');
      expect(errorOf(() => resolveImageUser('nobody2:staff', FILES)).message).toBe(
        'image config: /config/User "nobody2:staff": no such user in the image\'s /etc/passwd',
      );
    });

    it('an unknown group', () => {
      expect(errorOf(() => resolveImageUser('app:staff2', FILES)).message).toBe(
        'image config: /config/User "app:staff2": no such group in the image\'s /etc/group',
      );
      expect(errorOf(() => resolveImageUser('1000:staff2', FILES)).message).toBe(
        'image config: /config/User "1000:staff2": no such group in the image\'s /etc/group',
      );
    });

    it('a name with a missing file to look it up in', () => {
      expect(errorOf(() => resolveImageUser('app', {})).message).toBe(
        'image config: /config/User "app": the image has no /etc/passwd to look the user up in',
      );
      expect(errorOf(() => resolveImageUser('1000:staff', { passwd: PASSWD })).message).toBe(
        'image config: /config/User "1000:staff": the image has no /etc/group to look the group up in',
      );
    });

    it('a NIS line does not make a name resolvable', () => {
      expect(errorOf(() => resolveImageUser('+app', { passwd: '+app:x:1:1::/:/s' })).message).toBe(
        'image config: /config/User "+app": no such user in the image\'s /etc/passwd',
      );
    });

    it('a malformed User', () => {
      for (const user of ['a:b:c', ':staff', 'app:', ':', '1:2:3']) {
        const error = errorOf(() => resolveImageUser(user, FILES));
        expect(error.message).toBe(
          `image config: /config/User ${JSON.stringify(user)}: expected user, uid, user:group, uid:gid, uid:group or user:gid`,
        );
      }
    });
  });
});
