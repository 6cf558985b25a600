#!/usr/bin/env node
// Compiles the TypeScript sources to dist/ (plain ESM JavaScript) so that
// bin/lxl.mjs starts without tsx. `npm ci` runs it (the `prepare` script),
// `npm test` runs it before the tests. dist/.built records when the compile
// started: bin/lxl.mjs runs dist/ only while no source is newer than that,
// and falls back to tsx otherwise, so stale JS never runs. With esbuild
// installed it also bundles the CLI into dist/cli-bundle/ (bundleCli below).
//   node bin/build.mjs [--if-available]
// --if-available (the `prepare` script): exit 0 when typescript is not installed or tsc
// fails, so `npm ci` still succeeds and bin/lxl.mjs runs the sources through tsx.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, renameSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
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
try {
  await bundleCli(partial);
} catch (err) {
  rmSync(path.join(partial, 'cli-bundle'), { recursive: true, force: true });
  console.error(`lxl build: bundling the CLI failed: ${err.message}`);
  if (!process.argv.includes('--if-available')) {
    rmSync(partial, { recursive: true, force: true });
    process.exit(1);
  }
  console.error('lxl build: bin/lxl.mjs runs dist/cli/ unbundled');
}
const stamp = path.join(partial, '.built');
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
rmSync(dist, { recursive: true, force: true });
renameSync(partial, dist);
console.log(`lxl build: dist/ compiled in ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s`);

/**
 * Bundles the CLI (dist/cli/main.js and everything of lxl's it imports, with commander and OpenPGP.js) into
 * dist/cli-bundle/: a few files to load instead of ~40 modules, which takes 10-20 ms off every `lxl` start (Node 20
 * and 22). Each command group stays its own chunk, loaded only when run. Other packages stay outside the bundle
 * (native addons, the AWS SDK: loaded from node_modules as before). Each module keeps its own import.meta.url (what the
 * server and the builders use to find migrations/, kernel/ and package.json next to their dist/ files). Without
 * esbuild (a production install) bin/lxl.mjs runs dist/cli/main.js.
 */
async function bundleCli(out) {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    console.log('lxl build: esbuild is not installed; bin/lxl.mjs runs dist/cli/ unbundled');
    return;
  }
  const pkg = JSON.parse(readFileSync(path.join(top, 'package.json'), 'utf8'));
  const inBundle = new Set(['commander', 'openpgp']);
  const bundleDir = path.join(out, 'cli-bundle');
  const ownModule = new RegExp(`^${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/.*\\.js$`);
  await esbuild.build({
    entryPoints: [path.join(out, 'cli', 'main.js')],
    outdir: bundleDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.10',
    external: Object.keys(pkg.dependencies).filter((d) => !inBundle.has(d)).flatMap((d) => [d, `${d}/*`]),
    // commander is CommonJS: its require() of Node's modules needs a real require in an ES module.
    banner: { js: "import { createRequire as lxlCreateRequire } from 'node:module';\nconst require = lxlCreateRequire(import.meta.url);" },
    logLevel: 'warning',
    plugins: [
      {
        name: 'own-import-meta-url',
        setup(build) {
          build.onLoad({ filter: ownModule }, (args) => {
            const text = readFileSync(args.path, 'utf8');
            if (!text.includes('import.meta.url')) return undefined;
            const rel = path.relative(bundleDir, args.path).split(path.sep).join('/');
            return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: 'js', resolveDir: path.dirname(args.path) };
          });
        },
      },
    ],
  });
}