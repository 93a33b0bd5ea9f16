import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv04 from 'ajv-draft-04';
import { describe, expect, it } from 'vitest';
import { features } from '../../../src/spec/features';
import { parseMountOptions } from '../../../src/spec/mount-options';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const OCI_SCHEMA = path.join(ROOT, '..', 'shared', 'oci-spec', 'v1.2.1', 'schema');

describe('features', () => {
  it.skipIf(!existsSync(OCI_SCHEMA))('is valid against the official runtime-spec v1.2.1 features schema (needs ../shared/oci-spec)', () => {
    const ajv = new Ajv04({ strict: false });
    for (const name of readdirSync(OCI_SCHEMA).filter((n) => n.endsWith('.json'))) {
      ajv.addSchema(JSON.parse(readFileSync(path.join(OCI_SCHEMA, name), 'utf8')) as object, name);
    }
    const validate = ajv.getSchema('features-schema.json')!;
    expect(validate(features('0.1.0')), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(features('0.1.0', { version: '2.5.4', archs: ['SCMP_ARCH_X86_64'] })), JSON.stringify(validate.errors)).toBe(true);
  });

  it('advertises what is implemented: every hook kind, seccomp where libseccomp is, idmap, every listed mount option parses', () => {
    type Features = { hooks: string[]; mountOptions: string[]; annotations: Record<string, string>; linux: { seccomp: { enabled: boolean; actions?: string[]; archs?: string[] }; mountExtensions: { idmap: { enabled: boolean } } } };
    const f = features('0.1.0') as Features;
    expect(f.hooks).toEqual(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
    expect(f.linux.seccomp.enabled).toBe(false);
    const withLib = features('0.1.0', { version: '2.5.4', archs: ['SCMP_ARCH_X86_64'] }) as Features;
    expect(withLib.linux.seccomp).toMatchObject({ enabled: true, archs: ['SCMP_ARCH_X86_64'] });
    expect(withLib.linux.seccomp.actions).toContain('SCMP_ACT_NOTIFY');
    expect(withLib.annotations['io.github.seccomp.libseccomp.version']).toBe('2.5.4');
    expect(f.linux.mountExtensions.idmap.enabled).toBe(true);
    expect(f.mountOptions).toContain('rro');
    for (const option of f.mountOptions) expect(() => parseMountOptions([option])).not.toThrow();
  });
});
