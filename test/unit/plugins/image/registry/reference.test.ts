import { describe, expect, it } from 'vitest';
import { RuntimeError } from '../../../../../src/errors';
import { formatReference, manifestReference, parseReference } from '../../../../../src/plugins/image/registry/reference';
import { errorOf } from '../../../../helpers/errors';

const HEX = 'a'.repeat(64);
const DIGEST = `sha256:${HEX}`;

describe('parseReference: docker defaults', () => {
  it('puts a one-component name on docker.io under library/ with the tag latest', () => {
    expect(parseReference('alpine')).toEqual({ registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/alpine', tag: 'latest' });
    expect(parseReference('library/alpine')).toEqual(parseReference('alpine'));
    expect(parseReference('docker.io/alpine')).toEqual(parseReference('alpine'));
    expect(parseReference('docker.io/library/alpine:latest')).toEqual(parseReference('alpine'));
  });

  it('keeps several components on docker.io as they are', () => {
    expect(parseReference('user/app:1.0')).toEqual({ registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'user/app', tag: '1.0' });
    expect(parseReference('org/team/app').repository).toBe('org/team/app');
  });

  it('treats index.docker.io as docker.io', () => {
    expect(parseReference('index.docker.io/library/busybox:1')).toEqual({ registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/busybox', tag: '1' });
    expect(parseReference('index.docker.io/busybox').repository).toBe('library/busybox');
  });

  it('does not add library/ on other registries', () => {
    expect(parseReference('quay.io/alpine').repository).toBe('alpine');
  });
});

describe('parseReference: which component is a registry', () => {
  it('a first component with a dot, a colon, localhost or an uppercase letter', () => {
    expect(parseReference('example.com/a/b/c:v1')).toEqual({ registry: 'example.com', apiHost: 'example.com', repository: 'a/b/c', tag: 'v1' });
    expect(parseReference('localhost/x')).toEqual({ registry: 'localhost', apiHost: 'localhost', repository: 'x', tag: 'latest' });
    expect(parseReference('localhost:5000/x/y:tag')).toEqual({ registry: 'localhost:5000', apiHost: 'localhost:5000', repository: 'x/y', tag: 'tag' });
    expect(parseReference('127.0.0.1:5000/test/img')).toEqual({ registry: '127.0.0.1:5000', apiHost: '127.0.0.1:5000', repository: 'test/img', tag: 'latest' });
    expect(parseReference('registry:5000/app').registry).toBe('registry:5000');
    expect(parseReference('Registry/app').registry).toBe('Registry');
  });

  it('an IPv6 address in brackets, with or without a port', () => {
    expect(parseReference('[::1]:5000/x:v')).toEqual({ registry: '[::1]:5000', apiHost: '[::1]:5000', repository: 'x', tag: 'v' });
    expect(parseReference('[fe80::1]/x').registry).toBe('[fe80::1]');
  });

  it('a plain first component is part of the repository', () => {
    expect(parseReference('registry/app')).toMatchObject({ registry: 'docker.io', repository: 'registry/app' });
  });

  it('a registry-looking name without a path is a repository with a tag (as docker reads it)', () => {
    expect(parseReference('localhost:5000')).toMatchObject({ registry: 'docker.io', repository: 'library/localhost', tag: '5000' });
    expect(parseReference('a.b')).toMatchObject({ registry: 'docker.io', repository: 'library/a.b', tag: 'latest' });
  });
});

describe('parseReference: tags and digests', () => {
  it('has no tag when only a digest is given', () => {
    expect(parseReference(`alpine@${DIGEST}`)).toEqual({ registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/alpine', digest: DIGEST });
  });

  it('keeps both a tag and a digest', () => {
    expect(parseReference(`localhost:5000/x:3.1@${DIGEST}`)).toEqual({ registry: 'localhost:5000', apiHost: 'localhost:5000', repository: 'x', tag: '3.1', digest: DIGEST });
  });

  it('accepts sha512 digests', () => {
    expect(parseReference(`x@sha512:${'0'.repeat(128)}`).digest).toBe(`sha512:${'0'.repeat(128)}`);
  });

  it('accepts tags of the grammar, up to 128 characters', () => {
    expect(parseReference('x:_Under.score-1').tag).toBe('_Under.score-1');
    expect(parseReference(`x:${'t'.repeat(128)}`).tag).toHaveLength(128);
  });

  it('accepts the separators of the path grammar', () => {
    for (const repository of ['a.b', 'a_b', 'a__b', 'a-b', 'a---b', 'a1/b2.c_d', '0']) {
      expect(parseReference(`example.com/${repository}`).repository).toBe(repository);
    }
  });
});

describe('parseReference: errors name the reference, the part and what was expected', () => {
  const cases: Array<[string, string]> = [
    ['', 'image reference "": empty (expected [registry[:port]/]repository[:tag][@digest])'],
    ['Alpine', 'image reference "Alpine": repository name "Alpine" must be lowercase'],
    ['example.com/Team/app', 'image reference "example.com/Team/app": repository name "Team/app" must be lowercase'],
    ['a//b', 'image reference "a//b": repository "a//b" has an empty path component'],
    ['example.com/a/-b', 'image reference "example.com/a/-b": repository path component "-b" must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*'],
    ['a___b', 'image reference "a___b": repository path component "a___b" must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*'],
    ['a.', 'image reference "a.": repository path component "a." must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*'],
    ['a:b:c', 'image reference "a:b:c": repository path component "a:b" must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*'],
    ['x:', 'image reference "x:": tag "" must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}'],
    ['x:-1', 'image reference "x:-1": tag "-1" must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}'],
    [`x:${'t'.repeat(129)}`, `image reference "x:${'t'.repeat(129)}": tag "${'t'.repeat(129)}" must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`],
    [':tag', 'image reference ":tag": no repository name (expected [registry[:port]/]repository[:tag][@digest])'],
    ['localhost:5000/', 'image reference "localhost:5000/": no repository name after the registry'],
    ['exa_mple.com/x', 'image reference "exa_mple.com/x": registry "exa_mple.com" is not a host name or [IPv6 address] with an optional :port'],
    ['example.com:port/x', 'image reference "example.com:port/x": registry "example.com:port" is not a host name or [IPv6 address] with an optional :port'],
    ['-example.com/x', 'image reference "-example.com/x": registry "-example.com" is not a host name or [IPv6 address] with an optional :port'],
    ['x@sha256:abc', 'image reference "x@sha256:abc": digest "sha256:abc" must have 64 lowercase hex digits after "sha256:"'],
    [`x@md5:${'a'.repeat(32)}`, `image reference "x@md5:${'a'.repeat(32)}": digest "md5:${'a'.repeat(32)}" uses the unsupported algorithm "md5" (expected sha256 or sha512)`],
    ['x@latest', 'image reference "x@latest": digest "latest" is not of the form algorithm:encoded (e.g. sha256:<64 hex digits>)'],
    ['x y', 'image reference "x y": repository path component "x y" must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*'],
  ];
  it.each(cases)('%j', (text, message) => {
    const error = errorOf(() => parseReference(text));
    expect(error.message).toBe(message);
    expect(error.code).toBe('image');
  });

  it('refuses names longer than 255 characters, registry included', () => {
    const long = `example.com/${'a'.repeat(243)}`;
    expect(parseReference(long).repository).toHaveLength(243);
    expect(() => parseReference(`${long}a`)).toThrow(/: the name is 256 characters long \(at most 255\)$/);
    // library/ counts too.
    expect(() => parseReference('a'.repeat(240))).toThrow(/the name is 258 characters long/);
  });

  it('throws RuntimeError only', () => {
    expect(() => parseReference('UPPER')).toThrow(RuntimeError);
  });
});

describe('formatReference / manifestReference', () => {
  it('writes the fully qualified name', () => {
    expect(formatReference(parseReference('alpine'))).toBe('docker.io/library/alpine:latest');
    expect(formatReference(parseReference(`127.0.0.1:5000/x/y@${DIGEST}`))).toBe(`127.0.0.1:5000/x/y@${DIGEST}`);
    expect(formatReference(parseReference(`localhost/x:1@${DIGEST}`))).toBe(`localhost/x:1@${DIGEST}`);
  });

  it('round-trips', () => {
    for (const text of ['docker.io/library/alpine:3', 'example.com:443/a/b:v', `[::1]:5000/x@${DIGEST}`]) {
      expect(formatReference(parseReference(text))).toBe(text);
      expect(parseReference(formatReference(parseReference(text)))).toEqual(parseReference(text));
    }
  });

  it('asks for the digest when there is one, else the tag', () => {
    expect(manifestReference(parseReference('x:1'))).toBe('1');
    expect(manifestReference(parseReference(`x:1@${DIGEST}`))).toBe(DIGEST);
    expect(manifestReference(parseReference('x'))).toBe('latest');
  });
});
