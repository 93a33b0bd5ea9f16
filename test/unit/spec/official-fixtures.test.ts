// The official runtime-spec v1.2.1 fixtures (schema/test/{config,state}/{good,bad}) judged by tsrun's validator.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors';
import { parseJsonLossless } from '../../../src/spec/json';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const OCI_SPEC = path.resolve(ROOT, '../shared/oci-spec/v1.2.1');
const FIXTURES = path.join(OCI_SPEC, 'schema', 'test');

type ValidateModule = typeof import('../../../src/spec/validate');

/** Compile src/spec/schema first, so the tests never run against stale generated validators. */
async function freshValidators(): Promise<ValidateModule> {
  const script = pathToFileURL(path.join(ROOT, 'scripts', 'compile-schemas.mjs')).href;
  const { compileSchemas } = (await import(script)) as { compileSchemas(root: string): Promise<string[]> };
  await compileSchemas(ROOT);
  return import('../../../src/spec/validate');
}

function fixtures(kind: 'config' | 'state', verdict: 'good' | 'bad'): string[] {
  // Called while collecting tests, also when the suite is skipped for lack of ../shared/oci-spec.
  if (!existsSync(FIXTURES)) return [];
  return readdirSync(path.join(FIXTURES, kind, verdict)).filter((n) => n.endsWith('.json')).sort();
}

function fixtureText(kind: 'config' | 'state', verdict: 'good' | 'bad', name: string): string {
  return readFileSync(path.join(FIXTURES, kind, verdict, name), 'utf8');
}

/** Parse + schema only (the official fixtures are judged on the schema level). */
function judge(check: (value: unknown) => void, text: string): string | undefined {
  try {
    check(parseJsonLossless(text));
    return undefined;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message;
  }
}

describe.skipIf(!existsSync(FIXTURES))('official runtime-spec v1.2.1 fixtures (needs ../shared/oci-spec)', () => {
  let v: ValidateModule;
  beforeAll(async () => {
    v = await freshValidators();
  });

  it('has the fixtures this test expects', () => {
    expect(fixtures('config', 'good')).toEqual([
      'linux-rdma.json',
      'minimal-for-start.json',
      'minimal.json',
      'spec-example.json',
      'zos-example.json',
      'zos-minimal.json',
    ]);
    expect(fixtures('config', 'bad')).toEqual(['invalid-json.json', 'linux-hugepage.json', 'linux-rdma.json']);
    expect(fixtures('state', 'good')).toEqual(['spec-example.json']);
    expect(fixtures('state', 'bad')).toEqual(['invalid-json.json']);
  });

  describe('config good fixtures pass the schema', () => {
    for (const name of fixtures('config', 'good')) {
      it(name, () => {
        expect(judge((value) => v.checkConfigSchema(value), fixtureText('config', 'good', name))).toBeUndefined();
      });
    }
  });

  describe('config good fixtures pass loadConfig (schema + semantic checks)', () => {
    for (const name of fixtures('config', 'good').filter((n) => n !== 'zos-example.json')) {
      it(name, () => {
        expect(() => v.loadConfig(fixtureText('config', 'good', name))).not.toThrow();
      });
    }
    it('zos-example.json is a z/OS config: on Linux its hostname needs a UTS namespace (runc rejects it too)', () => {
      expect(() => v.loadConfig(fixtureText('config', 'good', 'zos-example.json'))).toThrow(
        'config.json: /hostname cannot be set without a private UTS namespace in linux.namespaces',
      );
    });
  });

  describe('config bad fixtures fail', () => {
    const expected: Record<string, string> = {
      'invalid-json.json': "config.json: / is not valid JSON: Expected property name or '}' in JSON at position 1 (line 1 column 2)",
      'linux-hugepage.json':
        'config.json: /linux/resources/hugepageLimits/0/pageSize must be a page size such as "2MB" (digits, then KB, MB or GB), got "64kB"',
      'linux-rdma.json':
        'config.json: /linux/resources/rdma/mlx5_1/hcaHandles must be an integer between 0 and 4294967295, got "not a uint32"',
    };
    for (const name of fixtures('config', 'bad')) {
      it(name, () => {
        expect(judge((value) => v.checkConfigSchema(value), fixtureText('config', 'bad', name))).toBe(expected[name]);
        expect(() => v.loadConfig(fixtureText('config', 'bad', name))).toThrow(ConfigError);
      });
    }
  });

  describe('state fixtures', () => {
    for (const name of fixtures('state', 'good')) {
      it(`good/${name} passes`, () => {
        expect(judge((value) => v.validateStateObject(value), fixtureText('state', 'good', name))).toBeUndefined();
        expect(v.loadState(fixtureText('state', 'good', name)).status).toBe('running');
      });
    }
    for (const name of fixtures('state', 'bad')) {
      it(`bad/${name} fails`, () => {
        expect(() => v.loadState(fixtureText('state', 'bad', name))).toThrow(/^state\.json: \/ is not valid JSON: /);
      });
    }
  });
});

describe('state schema (tsrun additions)', () => {
  let v: ValidateModule;
  beforeAll(async () => {
    v = await freshValidators();
  });
  const state = (extra: Record<string, unknown>) => ({ ociVersion: '1.2.1', id: 'c1', status: 'paused', pid: 42, bundle: '/b', ...extra });

  it("accepts runc's paused status and its extra fields", () => {
    const value = state({ rootfs: '/b/rootfs', created: '2024-01-01T00:00:00.000000000Z', owner: '' });
    expect(v.validateStateObject(value)).toBe(value);
  });
  it('needs a pid while the container process exists', () => {
    expect(() => v.validateStateObject(state({ pid: undefined }))).toThrow('state.json: / must have required property "pid"');
    expect(() => v.validateStateObject(state({ status: 'running', pid: 0 }))).toThrow(
      'state.json: /pid must be an integer >= 1, got 0',
    );
    expect(v.validateStateObject(state({ status: 'stopped', pid: 0 })).pid).toBe(0);
    const { pid: _pid, ...withoutPid } = state({ status: 'stopped' });
    expect(() => v.validateStateObject(withoutPid)).not.toThrow();
  });
  it('rejects unknown statuses', () => {
    expect(() => v.validateStateObject(state({ status: 'exited' }))).toThrow(
      'state.json: /status must be one of creating, created, running, paused, stopped, got "exited"',
    );
  });
});
