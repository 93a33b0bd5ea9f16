// Build: compile the JSON Schemas ahead of time, then bundle the CLI into one file (koffi stays external:
// it loads a native module at run time).
import { build } from 'esbuild';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { builtinModules } from 'node:module';
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

/**
 * Node builtins are loaded with require() instead of `import`: an ESM import of a builtin builds a facade that
 * reads every export, and the lazy ones (fs.ReadStream pulls in all of node:stream) cost ~15 ms per start.
 */
const builtinsAsRequire = {
  name: 'builtins-as-require',
  setup(b) {
    const names = builtinModules.filter((m) => !m.startsWith('_')).map((m) => m.replace(/[/]/g, '\\/'));
    const filter = new RegExp(`^(node:)?(${names.join('|')})$`);
    b.onResolve({ filter }, (args) => (args.namespace === 'builtin-require'
      ? { path: args.path, external: true }
      : { path: args.path, namespace: 'builtin-require' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

rmSync(path.join(root, 'dist'), { recursive: true, force: true });

await build({
  define: { TSRUN_VERSION: JSON.stringify(pkg.version), TSRUN_COMMIT: JSON.stringify(commit) },
  // Code splitting: each verb loads only the modules it uses (start needs no schema validator).
  entryPoints: { cli: path.join(root, 'src', 'cli', 'main.ts') },
  outdir: path.join(root, 'dist'),
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node26',
  external: ['koffi'],
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [builtinsAsRequire],
  banner: { js: "import { createRequire as __tsrunCreateRequire } from 'node:module'; const require = __tsrunCreateRequire(import.meta.url);" },
});

// The entry bin/tsrun runs: turns on V8's on-disk compile cache before loading the CLI, so later calls skip
// parsing and compiling the bundle.
copyFileSync(path.join(root, 'src', 'cli', 'entry.mjs'), path.join(root, 'dist', 'tsrun.mjs'));
