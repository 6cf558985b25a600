#!/usr/bin/env node
// Starts the lxl CLI. The compiled JavaScript in dist/ (bin/build.mjs, run by
// `npm ci` and `npm test`) starts about twice as fast as the TypeScript
// sources through tsx; it runs only while it is current: when dist/ is
// missing, or any source file or folder is newer than the build, the sources
// run through tsx, so an edit is never shadowed by stale JS.
// LXL_FROM_SOURCE=1 always runs the sources.
import { existsSync } from 'node:fs';
import module from 'node:module';
import { distIsCurrent } from './dist-current.mjs';

// Node 22.1+ keeps the compiled code of the modules on disk between runs (in the OS temp folder; checked against
// each file's content, NODE_DISABLE_COMPILE_CACHE=1 turns it off), which shortens every later start. Node 20 has no
// such cache and skips this.
module.enableCompileCache?.();

if (process.env.LXL_FROM_SOURCE !== '1' && distIsCurrent()) {
  // The bundled CLI (bin/build.mjs, when esbuild is installed) loads ~20 ms faster than the ~40 modules of dist/cli/.
  await import(existsSync(new URL('../dist/cli-bundle/main.js', import.meta.url)) ? '../dist/cli-bundle/main.js' : '../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
