// Build: compile the JSON Schemas ahead of time, then bundle the CLI into one file (koffi stays external:
// it loads a native module at run time).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const compileSchemas = path.join(root, 'scripts', 'compile-schemas.mjs');
if (existsSync(compileSchemas)) {
  const { compileSchemas: run } = await import(compileSchemas);
  await run(root);
}

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  // not a git checkout
}

// Built into a fresh directory beside dist/, whose files then replace dist/'s one by one with rename(2): a tsrun
// started during a rebuild finds every file whole, never a missing or half-written bundle.
const dist = path.join(root, 'dist');
const staging = mkdtempSync(path.join(root, '.dist-'));
process.on('exit', () => rmSync(staging, { recursive: true, force: true })); // also when the build fails

// Three bundles: cli.cjs parses every plain command line itself (src/cli/fast-path.ts); yargs-cli.cjs, with yargs,
// gives help and the errors for the rest; image-cli.cjs holds the image plugin (tar reader, image-spec
// validators), loaded by `tsrun image` verbs only. The CLI requires the others by their built names: left
// external here.
const separateBundles = {
  name: 'separate-bundles',
  setup(b) {
    b.onResolve({ filter: /^\.\/(yargs|image)-cli\.cjs$/ }, (args) => ({ path: args.path, external: true }));
  },
};

// `import fs from 'node:fs'` in a CommonJS bundle becomes a __toESM() copy of every property of the module, once
// per importing file (~2.5 ms per call for the project's ~40 such imports). This plugin answers those imports
// with one ES module per builtin that re-exports the builtin's plain-value properties: importers bind to it
// directly, no copies. Getters (fs.promises) are left out on purpose: reading one would load its module.
const builtinModules = ['fs', 'path'];
const directBuiltins = {
  name: 'direct-builtins',
  setup(b) {
    const filter = new RegExp(`^node:(${builtinModules.join('|')})$`);
    b.onResolve({ filter }, (args) => (args.kind === 'import-statement' ? { path: args.path, namespace: 'direct-builtin' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'direct-builtin' }, async (args) => {
      const mod = await import(args.path);
      const names = Object.entries(Object.getOwnPropertyDescriptors(mod.default))
        .filter(([name, d]) => 'value' in d && /^[A-Za-z_$][\w$]*$/.test(name) && name !== 'default')
        .map(([name]) => name);
      const contents = [
        `const m = require(${JSON.stringify(args.path)});`,
        'export default m;',
        ...names.map((name) => `export const ${name} = m.${name};`),
      ].join('\n');
      return { contents, loader: 'js', resolveDir: root };
    });
  },
};

await build({
  define: {
    TSRUN_VERSION: JSON.stringify(pkg.version),
    TSRUN_COMMIT: JSON.stringify(commit),
    // src/linux/libc.ts loads koffi's native package directly when it is of this version.
    TSRUN_KOFFI_VERSION: JSON.stringify(JSON.parse(readFileSync(path.join(root, 'node_modules', 'koffi', 'package.json'), 'utf8')).version),
    'import.meta.url': '__tsrunModuleUrl',
  },
  // One CommonJS file: Node loads it with one synchronous read (ES modules are read one by one through the
  // thread pool, which cost ~13 ms of waiting per call with code splitting), and esbuild turns each dynamic
  // import() into a lazy initialiser, so a verb still evaluates only the modules it uses (start no schema
  // validator, state no yargs).
  entryPoints: {
    cli: path.join(root, 'src', 'cli', 'main.ts'),
    'yargs-cli': path.join(root, 'src', 'cli', 'yargs-main.ts'),
    'image-cli': path.join(root, 'src', 'cli', 'image-main.ts'),
  },
  outdir: staging,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node26',
  external: ['koffi', 'koffi/*', '@koromix/*'],
  sourcemap: 'linked',
  legalComments: 'none',
  // Whitespace and syntax only, names kept (stack traces under --debug stay readable): a smaller file is
  // read, hashed for the compile cache and deserialised faster (~3-10 ms of every call).
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  plugins: [directBuiltins, separateBundles],
  banner: { js: "const __tsrunModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});

// The entry bin/tsrun runs: turns on V8's on-disk compile cache before loading the CLI, so later calls skip
// parsing and compiling the bundle.
copyFileSync(path.join(root, 'src', 'cli', 'entry.cjs'), path.join(staging, 'tsrun.cjs'));

mkdirSync(dist, { recursive: true });
const built = new Set(readdirSync(staging));
for (const name of built) renameSync(path.join(staging, name), path.join(dist, name));
for (const name of readdirSync(dist)) if (!built.has(name)) rmSync(path.join(dist, name), { recursive: true, force: true });
