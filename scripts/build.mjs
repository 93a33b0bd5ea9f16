// Build: compile the JSON Schemas ahead of time, then bundle the CLI into one file (koffi stays external:
// it loads a native module at run time).
import { build } from 'esbuild';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
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

rmSync(path.join(root, 'dist'), { recursive: true, force: true });

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
  entryPoints: { cli: path.join(root, 'src', 'cli', 'main.ts') },
  outdir: path.join(root, 'dist'),
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node26',
  external: ['koffi', 'koffi/*', '@koromix/*'],
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  banner: { js: "const __tsrunModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});

// The entry bin/tsrun runs: turns on V8's on-disk compile cache before loading the CLI, so later calls skip
// parsing and compiling the bundle.
copyFileSync(path.join(root, 'src', 'cli', 'entry.cjs'), path.join(root, 'dist', 'tsrun.cjs'));
