#!/usr/bin/env node
// Compiles the TypeScript sources to dist/ (plain ESM JavaScript) so that
// bin/lxl.mjs starts without tsx. `npm ci` runs it (the `prepare` script),
// `npm test` runs it before the tests. dist/.built records when the compile
// started: bin/lxl.mjs runs dist/ only while no source is newer than that,
// and falls back to tsx otherwise, so stale JS never runs.
//   node bin/build.mjs [--if-available]
// --if-available (the `prepare` script): exit 0 when typescript is not installed or tsc
// fails, so `npm ci` still succeeds and bin/lxl.mjs runs the sources through tsx.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, renameSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const top = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(top, 'dist');
const partial = path.join(top, 'dist.partial');

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  if (process.argv.includes('--if-available')) {
    console.log('lxl build: typescript is not installed (production install?); bin/lxl.mjs runs the sources through tsx');
    process.exit(0);
  }
  console.error('lxl build: typescript is not installed (npm ci installs it)');
  process.exit(1);
}

// Sources edited while tsc runs are newer than this, so they make the build stale at once.
const started = new Date();
rmSync(partial, { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', path.join(top, 'tsconfig.build.json')], { cwd: top, stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(partial, { recursive: true, force: true });
  console.error(`lxl build: tsc failed (exit ${r.status}); bin/lxl.mjs keeps running the sources through tsx`);
  process.exit(process.argv.includes('--if-available') ? 0 : (r.status ?? 1));
}
// Files the code finds next to itself (import.meta.url): link them so dist/ sees the real ones.
for (const [at, to] of [
  ['package.json', '../package.json'],
  ['kernel', '../kernel'],
  ['patches', '../patches'],
  ['server/migrations', '../../server/migrations'],
]) {
  mkdirSync(path.dirname(path.join(partial, at)), { recursive: true });
  if (existsSync(path.join(top, at))) symlinkSync(to, path.join(partial, at));
}
const stamp = path.join(partial, '.built');
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
rmSync(dist, { recursive: true, force: true });
renameSync(partial, dist);
console.log(`lxl build: dist/ compiled in ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s`);
