// `npm run demo`: builds the embedded busybox bundle under .cache/demo-bundle and runs it with bin/tsrun.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBusyboxBundle } from '../fixtures/make-bundle.mjs';

const repo = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bundle = path.join(repo, '.cache', 'demo-bundle');
makeBusyboxBundle(bundle);
const id = `tsrun-demo-${process.pid}`;
// A state directory of the demo's own, so trying tsrun leaves nothing under the host's /run/tsrun.
const root = path.join(repo, '.cache', 'demo-state');
const args = ['--root', root, 'run', '--bundle', bundle, id, ...process.argv.slice(2)];
console.log(`$ bin/tsrun ${args.join(' ')}`);
const result = spawnSync(path.join(repo, 'bin', 'tsrun'), args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
