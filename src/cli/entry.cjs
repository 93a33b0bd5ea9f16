// bin/tsrun's entry (copied to dist/ by the build). Enables Node's on-disk compile cache, then loads the CLI.
// The cache lives next to the bundle; where it cannot be written (another user), Node just runs without it.
// CommonJS, like the bundle: every module is read synchronously, nothing waits on the thread pool.
'use strict';
const path = require('node:path');

require('node:module').enableCompileCache(path.join(__dirname, '..', '.cache', 'v8-compile'));
require('./cli.cjs');
