import { describe, expect, it } from 'vitest';
import { userName } from '../../../src/container/user-names';

const PASSWD = 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/usr/sbin/nologin\nbroken\n:x::\n';

describe('userName', () => {
  it('finds the name of a uid', () => {
    expect(userName(0, PASSWD)).toBe('root');
    expect(userName(1, PASSWD)).toBe('daemon');
  });
  it('falls back to #uid as runc does', () => {
    expect(userName(1234, PASSWD)).toBe('#1234');
    expect(userName(5, '')).toBe('#5');
  });
});
