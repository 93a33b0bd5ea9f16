// scripts/compile-schemas.mjs: fast, deterministic, and the generated code needs nothing of ajv but its runtime helpers.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GENERATED = path.join(ROOT, 'src', 'spec', 'generated');

async function compiler(): Promise<(root: string) => Promise<string[]>> {
  const script = pathToFileURL(path.join(ROOT, 'scripts', 'compile-schemas.mjs')).href;
  const { compileSchemas } = (await import(script)) as { compileSchemas(root: string): Promise<string[]> };
  return compileSchemas;
}

describe('compileSchemas', () => {
  it('is fast and deterministic: a second run writes nothing', async () => {
    const compileSchemas = await compiler();
    await compileSchemas(ROOT);
    const before = readFileSync(path.join(GENERATED, 'validators.js'), 'utf8');
    const started = performance.now();
    const written = await compileSchemas(ROOT);
    const elapsed = performance.now() - started;
    expect(written).toEqual([]);
    expect(readFileSync(path.join(GENERATED, 'validators.js'), 'utf8')).toBe(before);
    expect(elapsed).toBeLessThan(2000);
  });

  it('generates ESM that imports only ajv runtime helpers', async () => {
    await (await compiler())(ROOT);
    const code = readFileSync(path.join(GENERATED, 'validators.js'), 'utf8');
    const imports = [...code.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    for (const spec of imports) expect(spec).toMatch(/^ajv\/dist\/runtime\/[a-z0-9_]+\.js$/);
    expect(code).not.toMatch(/\brequire\(/);
    expect(code).toMatch(/^export const validateConfig = /m);
    expect(code).toMatch(/export const validateState = /);
    const declarations = readFileSync(path.join(GENERATED, 'validators.d.ts'), 'utf8');
    expect(declarations).toContain('export declare const validateConfig: CompiledValidator;');
    expect(declarations).toContain('export declare const validateState: CompiledValidator;');
  });

  it('compiles every schema file under src/spec/schema, each with its own $id and draft-07', () => {
    const dir = path.join(ROOT, 'src', 'spec', 'schema');
    const names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
    expect(names).toEqual(['config-linux.json', 'config-schema.json', 'defs.json', 'state-schema.json']);
    for (const name of names) {
      const schema = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Record<string, unknown>;
      expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
      expect(schema.$id).toBe(`https://schemas.tsrun.invalid/runtime-spec/v1.2.1/${name}`);
    }
  });

  it('compiles src/spec/schema-image into its own module, leaving the runtime validators without image-spec code', async () => {
    await (await compiler())(ROOT);
    const code = readFileSync(path.join(GENERATED, 'image-validators.js'), 'utf8');
    const imports = [...code.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    for (const spec of imports) expect(spec).toMatch(/^ajv\/dist\/runtime\/[a-z0-9_]+\.js$/);
    expect(code).not.toMatch(/\brequire\(/);
    const names = ['validateImageLayout', 'validateImageIndex', 'validateImageManifest', 'validateImageConfig', 'validateContentDescriptor'];
    for (const name of names) expect(code).toContain(`export const ${name} = `);
    const declarations = readFileSync(path.join(GENERATED, 'image-validators.d.ts'), 'utf8');
    for (const name of names) expect(declarations).toContain(`export declare const ${name}: CompiledValidator;`);
    expect(readFileSync(path.join(GENERATED, 'validators.js'), 'utf8')).not.toContain('image-spec');

    const dir = path.join(ROOT, 'src', 'spec', 'schema-image');
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
      const schema = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Record<string, unknown>;
      expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
      expect(schema.$id).toBe(`https://schemas.tsrun.invalid/image-spec/v1.1.1/${name}`);
    }
  });
});
