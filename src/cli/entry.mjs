// bin/tsrun's entry (copied to dist/ by the build). Enables Node's on-disk compile cache, then loads the CLI.
// The cache lives next to the bundle; where it cannot be written (another user), Node just runs without it.
import { enableCompileCache } from 'node:module';

enableCompileCache(new URL('../.cache/v8-compile', import.meta.url).pathname);
await import('./cli.js');
