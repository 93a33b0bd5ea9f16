import { describe, expect, it } from 'vitest';
import { findChallenge, parseWwwAuthenticate } from '../../../../../src/plugins/image/registry/www-authenticate';
import { errorOf } from '../../../../helpers/errors';

describe('parseWwwAuthenticate', () => {
  it('reads a distribution Bearer challenge', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual([{
      scheme: 'Bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    }]);
  });

  it('keeps commas, equals signs and spaces inside quoted strings', () => {
    const [challenge] = parseWwwAuthenticate('Bearer realm="http://127.0.0.1:1/token?a=b&c=d",scope="repository:x:pull,push repository:y:pull",error="insufficient_scope"');
    expect(challenge?.params).toEqual({ realm: 'http://127.0.0.1:1/token?a=b&c=d', scope: 'repository:x:pull,push repository:y:pull', error: 'insufficient_scope' });
  });

  it('unescapes quoted pairs', () => {
    expect(parseWwwAuthenticate('Basic realm="say \\"hi\\" \\\\ \\x"')[0]?.params.realm).toBe('say "hi" \\ x');
    expect(parseWwwAuthenticate('Basic realm=""')[0]?.params.realm).toBe('');
  });

  it('reads token values and a Basic challenge', () => {
    expect(parseWwwAuthenticate('Basic realm=registry')).toEqual([{ scheme: 'Basic', params: { realm: 'registry' } }]);
    expect(parseWwwAuthenticate('Basic realm=registry, charset="UTF-8"')[0]?.params).toEqual({ realm: 'registry', charset: 'UTF-8' });
  });

  it('allows white space around "=" and the commas, and empty list elements', () => {
    expect(parseWwwAuthenticate(' Bearer  realm = "r" ,  service=s ,, scope = "x" ')).toEqual([{ scheme: 'Bearer', params: { realm: 'r', service: 's', scope: 'x' } }]);
    expect(parseWwwAuthenticate('Bearer\trealm="r"')[0]?.params.realm).toBe('r');
  });

  it('lowercases parameter names, keeps the scheme as sent and the first of repeated parameters', () => {
    expect(parseWwwAuthenticate('bearer REALM="a", Realm="b"')).toEqual([{ scheme: 'bearer', params: { realm: 'a' } }]);
  });

  it('splits several challenges, as joined header lines arrive', () => {
    expect(parseWwwAuthenticate('Basic realm="x", Bearer realm="y",service="z"')).toEqual([
      { scheme: 'Basic', params: { realm: 'x' } },
      { scheme: 'Bearer', params: { realm: 'y', service: 'z' } },
    ]);
    expect(parseWwwAuthenticate('Bearer realm="y", Basic realm=x, Negotiate')).toEqual([
      { scheme: 'Bearer', params: { realm: 'y' } },
      { scheme: 'Basic', params: { realm: 'x' } },
      { scheme: 'Negotiate', params: {} },
    ]);
  });

  it('reads schemes without parameters and token68 credentials', () => {
    expect(parseWwwAuthenticate('Negotiate')).toEqual([{ scheme: 'Negotiate', params: {} }]);
    expect(parseWwwAuthenticate('Negotiate, Basic realm="r"')).toEqual([
      { scheme: 'Negotiate', params: {} },
      { scheme: 'Basic', params: { realm: 'r' } },
    ]);
    expect(parseWwwAuthenticate('Negotiate a87421000492aa874209af8bc028==')).toEqual([{ scheme: 'Negotiate', params: {}, token68: 'a87421000492aa874209af8bc028==' }]);
    expect(parseWwwAuthenticate('NTLM abc/+.~_-, Basic realm=r')).toEqual([
      { scheme: 'NTLM', params: {}, token68: 'abc/+.~_-' },
      { scheme: 'Basic', params: { realm: 'r' } },
    ]);
    expect(parseWwwAuthenticate('Custom abc=')).toEqual([{ scheme: 'Custom', params: {}, token68: 'abc=' }]);
    expect(parseWwwAuthenticate('Bearer realm=')).toEqual([{ scheme: 'Bearer', params: {}, token68: 'realm=' }]);
  });

  it('returns nothing for an empty header', () => {
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(parseWwwAuthenticate(' , ')).toEqual([]);
  });

  const malformed: Array<[string, string]> = [
    ['Bearer realm="open', 'WWW-Authenticate "Bearer realm=\\"open": a quoted string is not closed (at character 19)'],
    ['Bearer realm="x\\', 'WWW-Authenticate "Bearer realm=\\"x\\\\": a quoted string ends in a lone backslash (at character 17)'],
    ['Bearer realm="r", service=', 'WWW-Authenticate "Bearer realm=\\"r\\", service=": parameter "service" has no value (at character 27)'],
    ['Bearer realm="r",service=,x=y', 'WWW-Authenticate "Bearer realm=\\"r\\",service=,x=y": parameter "service" has no value (at character 26)'],
    // "realm=" alone is a token68 (its grammar ends in "="s); a parameter cannot follow one.
    ['Bearer realm=,x=y', 'WWW-Authenticate "Bearer realm=,x=y": expected a space or a comma after the scheme "x" (at character 16)'],
    ['Bearer realm="x" junk', 'WWW-Authenticate "Bearer realm=\\"x\\" junk": expected a comma after parameter "realm" (at character 18)'],
    ['="x"', 'WWW-Authenticate "=\\"x\\"": expected an auth scheme, found "=" (at character 1)'],
    ['Bearer="x"', 'WWW-Authenticate "Bearer=\\"x\\"": expected a space or a comma after the scheme "Bearer" (at character 7)'],
    ['Bearer realm="x", ="y"', 'WWW-Authenticate "Bearer realm=\\"x\\", =\\"y\\"": expected a parameter name, found "=" (at character 19)'],
  ];
  it.each(malformed)('refuses %j in one line naming the header and the problem', (header, message) => {
    const error = errorOf(() => parseWwwAuthenticate(header));
    expect(error.message).toBe(message);
    expect(error.code).toBe('registry');
  });
});

describe('findChallenge', () => {
  it('finds the first challenge of a scheme, whatever its case', () => {
    const challenges = parseWwwAuthenticate('Basic realm="a", BEARER realm="b", Bearer realm="c"');
    expect(findChallenge(challenges, 'bearer')?.params.realm).toBe('b');
    expect(findChallenge(challenges, 'Basic')?.params.realm).toBe('a');
    expect(findChallenge(challenges, 'digest')).toBeUndefined();
  });
});
