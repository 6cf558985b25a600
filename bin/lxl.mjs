#!/usr/bin/env node
// Starts the lxl CLI. The compiled JavaScript in dist/ (bin/build.mjs, run by
// `npm ci` and `npm test`) starts about twice as fast as the TypeScript
// sources through tsx; it runs only while it is current: when dist/ is
// missing, or any source file or folder is newer than the build, the sources
// run through tsx, so an edit is never shadowed by stale JS.
// LXL_FROM_SOURCE=1 always runs the sources.
import { distIsCurrent } from './dist-current.mjs';

if (process.env.LXL_FROM_SOURCE !== '1' && distIsCurrent()) {
  await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
