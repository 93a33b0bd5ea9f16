// Lossless JSON: integers beyond 2^53 survive parsing, validation and printing exactly.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';
import { mapBigInts, parseJsonLossless, stringifyLossless, toPlainNumbers } from '../../../src/spec/json';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type ValidateModule = typeof import('../../../src/spec/validate');

async function freshValidators(): Promise<ValidateModule> {
  const script = pathToFileURL(path.join(ROOT, 'scripts', 'compile-schemas.mjs')).href;
  const { compileSchemas } = (await import(script)) as { compileSchemas(root: string): Promise<string[]> };
  await compileSchemas(ROOT);
  return import('../../../src/spec/validate');
}

describe('parseJsonLossless', () => {
  it('keeps a memory limit of 2^63-1 exactly', () => {
    const parsed = parseJsonLossless('{"linux":{"resources":{"memory":{"limit":9223372036854775807}}}}') as {
      linux: { resources: { memory: { limit: unknown } } };
    };
    expect(parsed.linux.resources.memory.limit).toBe(9223372036854775807n);
  });

  it('turns exactly the integers outside ±(2^53-1) into bigints', () => {
    expect(parseJsonLossless('[9007199254740991, -9007199254740991, 9007199254740992, -9007199254740993, 0, -0, 42]')).toEqual([
      9007199254740991,
      -9007199254740991,
      9007199254740992n,
      -9007199254740993n,
      0,
      -0,
      42,
    ]);
    expect(parseJsonLossless('18446744073709551615')).toBe(18446744073709551615n);
    expect(parseJsonLossless('123456789012345678901234567890')).toBe(123456789012345678901234567890n);
  });

  it('reads integer-valued numerals with a fraction or exponent exactly too', () => {
    expect(parseJsonLossless('[1e20, 1.5E+19, 9223372036854775807.000, -1e19, 1e3]')).toEqual([
      100000000000000000000n,
      15000000000000000000n,
      9223372036854775807n,
      -10000000000000000000n,
      1000,
    ]);
  });

  it('leaves fractions and small numbers alone', () => {
    expect(parseJsonLossless('[1.5, 0.1, 1e-7, 12345678901234567.5, 3.0]')).toEqual([1.5, 0.1, 1e-7, Number('12345678901234567.5'), 3]);
    expect(parseJsonLossless('{"a":"12345678901234567890","b":[true,null]}')).toEqual({ a: '12345678901234567890', b: [true, null] });
  });

  it('does not expand absurd exponents', () => {
    expect(parseJsonLossless('1e999999')).toBe(Infinity);
  });

  it('reports invalid JSON as a one-line ConfigError at /', () => {
    for (const text of ['{]', '', '{"a":1,}', '{\n  "a": \n}']) {
      let error: unknown;
      try {
        parseJsonLossless(text);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).pointer).toBe('');
      expect((error as ConfigError).message).toMatch(/^config\.json: \/ is not valid JSON: \S[^\n]*$/);
    }
    expect(() => parseJsonLossless('{]')).toThrow("config.json: / is not valid JSON: Expected property name or '}' in JSON at position 1 (line 1 column 2)");
    expect(() => parseJsonLossless('nope', 'process.json')).toThrow(/^process\.json: \/ is not valid JSON: Unexpected token/);
  });

  it('keeps __proto__ as an ordinary key', () => {
    const parsed = parseJsonLossless('{"__proto__":{"x":12345678901234567890}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    const plain = toPlainNumbers(parsed) as Record<string, unknown>;
    expect(Object.hasOwn(plain, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(plain)).toBe(Object.prototype);
  });
});

describe('toPlainNumbers / mapBigInts / stringifyLossless', () => {
  it('copies deeply and converts bigints to numbers without touching the input', () => {
    const input = { a: [1n, { b: 9223372036854775807n }], c: 'x', d: null };
    const plain = toPlainNumbers(input);
    expect(plain).toEqual({ a: [1, { b: Number(9223372036854775807n) }], c: 'x', d: null });
    expect(input.a[0]).toBe(1n);
    expect(mapBigInts([5n], (n) => `${n}!`)).toEqual(['5!']);
  });

  it('writes bigints as bare integers and round-trips exactly', () => {
    const text = '{"limit":9223372036854775807,"mask":18446744073709551615,"neg":-9223372036854775808,"n":1.5,"s":"9"}';
    expect(stringifyLossless(parseJsonLossless(text))).toBe(text);
    expect(stringifyLossless({ a: [1n] }, 2)).toBe('{\n  "a": [\n    1\n  ]\n}');
  });
});

describe('64-bit bounds through the validator', () => {
  let v: ValidateModule;
  beforeAll(async () => {
    v = await freshValidators();
  });
  const config = (resources: string, rlimit = '1024') =>
    `{"ociVersion":"1.2.1","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},` +
    `"rlimits":[{"type":"RLIMIT_NOFILE","soft":1024,"hard":${rlimit}}]},"linux":{"resources":${resources}}}`;

  it('accepts 18446744073709551615 at the uint64 maximum and keeps it exact', () => {
    const spec = v.loadConfig(config('{"hugepageLimits":[{"pageSize":"2MB","limit":18446744073709551615}]}', '18446744073709551615'));
    expect(spec.process?.rlimits?.[0]?.hard).toBe(18446744073709551615n);
    expect((spec.linux?.resources?.hugepageLimits as Array<{ limit: unknown }>)[0]?.limit).toBe(18446744073709551615n);
  });

  it('rejects 18446744073709551616 (one above uint64)', () => {
    expect(() => v.loadConfig(config('{}', '18446744073709551616'))).toThrow(
      'config.json: /process/rlimits/0/hard must be an integer between 0 and 18446744073709551615, got 18446744073709551616',
    );
  });

  it('keeps int64 bounds exact: 2^63-1 and -2^63 pass, 2^63 and -2^63-1 fail', () => {
    const limit = (value: string) => config(`{"memory":{"limit":${value}}}`);
    expect(v.loadConfig(limit('9223372036854775807')).linux?.resources?.memory).toEqual({ limit: 9223372036854775807n });
    expect(v.loadConfig(limit('-9223372036854775808')).linux?.resources?.memory).toEqual({ limit: -9223372036854775808n });
    expect(() => v.loadConfig(limit('9223372036854775808'))).toThrow(/\/linux\/resources\/memory\/limit must be an integer between/);
    expect(() => v.loadConfig(limit('-9223372036854775809'))).toThrow(/got -9223372036854775809$/);
    // Still exact a little above the bound, where doubles are 2048 apart.
    expect(() => v.loadConfig(limit('9223372036854776000'))).toThrow(/got 9223372036854776000$/);
  });

  it('returns the lossless object, not the copy the validator saw', () => {
    const text = config('{"memory":{"limit":9007199254740993,"swap":1}}');
    const spec = v.loadConfig(text);
    expect(spec.linux?.resources?.memory).toEqual({ limit: 9007199254740993n, swap: 1 });
  });
});
