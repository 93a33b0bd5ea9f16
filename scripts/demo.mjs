// `npm run demo`: builds the embedded busybox bundle under .cache/demo-bundle and runs it with bin/tsrun.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBusyboxBundle } from '../fixtures/make-bundle.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bundle = path.join(root, '.cache', 'demo-bundle');
makeBusyboxBundle(bundle);
const id = `tsrun-demo-${process.pid}`;
const args = ['run', '--bundle', bundle, id, ...process.argv.slice(2)];
console.log(`$ bin/tsrun ${args.join(' ')}`);
const result = spawnSync(path.join(root, 'bin', 'tsrun'), args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
