#!/usr/bin/env node
// Compiles the TypeScript sources to dist/ (plain ESM JavaScript) so that
// bin/lxl.mjs starts without tsx. `npm ci` runs it (the `prepare` script),
// `npm test` runs it before the tests. dist/.built records when the compile
// started: bin/lxl.mjs runs dist/ only while no source is newer than that,
// and falls back to tsx otherwise, so stale JS never runs. With esbuild
// installed it also bundles the CLI into dist/cli-bundle/ (bundleCli below) and
// makes the CLI's start-up snapshot in dist/snapshot/ (buildSnapshot below).
//   node bin/build.mjs [--if-available]
// --if-available (the `prepare` script): exit 0 when typescript is not installed or tsc
// fails, so `npm ci` still succeeds and bin/lxl.mjs runs the sources through tsx.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SOURCE_DIRS } from './dist-current.mjs';

const top = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(top, 'dist');
/** lxl's runtime dependencies: what the bundles leave outside, but for the few they take in. */
const dependencies = Object.keys(JSON.parse(readFileSync(path.join(top, 'package.json'), 'utf8')).dependencies);
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
try {
  await buildSnapshot(partial);
} catch (err) {
  // Not fatal: bin/lxl runs bin/lxl.mjs without it (Node 22.23's snapshot builder, for one, aborts on OpenPGP.js's
  // heap). The reason stays in dist/snapshot-failed.txt, which bin/lxl names and the tests report (on Node 20, where
  // the snapshot is known to build, test/unit/cli-snapshot.test.ts fails on it).
  rmSync(path.join(partial, 'snapshot'), { recursive: true, force: true });
  writeFileSync(path.join(partial, 'snapshot-failed.txt'), `Node ${process.version}: ${err.message}\n`);
  console.error(`lxl build: making the CLI's start-up snapshot failed on Node ${process.version}: ${err.message}`);
  console.error('lxl build: bin/lxl runs every command through bin/lxl.mjs');
}
const stamp = path.join(partial, '.built');
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
rmSync(dist, { recursive: true, force: true });
renameSync(partial, dist);
console.log(`lxl build: dist/ compiled in ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s`);

/** esbuild (a dev dependency), or undefined after saying what runs without it (a production install). */
async function importEsbuild(without) {
  try {
    return await import('esbuild');
  } catch {
    console.log(`lxl build: esbuild is not installed; ${without}`);
    return undefined;
  }
}

/**
 * Bundles the CLI (dist/cli/main.js and everything of lxl's it imports, with commander and OpenPGP.js) into
 * dist/cli-bundle/: a few files to load instead of ~40 modules, which takes 10-20 ms off every `lxl` start (Node 20
 * and 22). Each command group stays its own chunk, loaded only when run. Other packages stay outside the bundle
 * (native addons, the AWS SDK: loaded from node_modules as before). Each module keeps its own import.meta.url (what the
 * server and the builders use to find migrations/, kernel/ and package.json next to their dist/ files). Without
 * esbuild (a production install) bin/lxl.mjs runs dist/cli/main.js.
 */
async function bundleCli(out) {
  const esbuild = await importEsbuild('bin/lxl.mjs runs dist/cli/ unbundled');
  if (!esbuild) return;
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
    external: dependencies.filter((d) => !inBundle.has(d)).flatMap((d) => [d, `${d}/*`]),
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

/**
 * Makes the CLI's start-up snapshot (cli/snapshot.ts) in dist/snapshot/: lxl.cjs, one CommonJS bundle of the repo
 * commands (apt, yum, keys, pack) with commander, OpenPGP.js, zod and tar-stream; lxl.blob, the heap `node
 * --build-snapshot` saves after running that bundle and its warm-up; and node-id, which Node binary made the blob (a
 * blob runs only on the exact Node that built it: bin/lxl compares, and uses bin/lxl.mjs on any other); and
 * source-dirs, the source folders bin/lxl checks for files newer than the build. Packages left
 * out of the bundle (the AWS SDK, native addons, the server's) are required when first used, from the node_modules
 * next to the blob; loading one while the snapshot is built fails the build.
 */
async function buildSnapshot(out) {
  const esbuild = await importEsbuild('bin/lxl runs every command through bin/lxl.mjs');
  if (!esbuild) return;
  const require = createRequire(import.meta.url);
  const inBundle = new Set(['commander', 'openpgp', 'zod', 'tar-stream']);
  const atRuntime = dependencies.filter((d) => !inBundle.has(d));
  const snapDir = path.join(out, 'snapshot');
  const bundle = path.join(snapDir, 'lxl.cjs');
  const blob = path.join(snapDir, 'lxl.blob');
  await esbuild.build({
    entryPoints: [path.join(out, 'cli', 'snapshot.js')],
    outfile: bundle,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20.10',
    // A snapshot has no import(): dynamic imports of bundled modules become lazy requires.
    supported: { 'dynamic-import': false },
    // The source text stays in the heap (functions compile from it lazily): without whitespace the blob is ~20% smaller.
    minifyWhitespace: true,
    // OpenPGP.js's ES build finds Node's modules through import.meta.url, which a CommonJS bundle does not have.
    alias: { openpgp: require.resolve('openpgp') },
    // Nothing in the bundle may find files next to itself: the snapshot keeps build-time paths.
    logOverride: { 'empty-import-meta': 'error' },
    logLevel: 'warning',
    plugins: [
      {
        // OpenPGP.js (the fflate in it) loads worker_threads as it loads, to see whether it may start threads. Loaded
        // while the snapshot is built, worker_threads can start no thread in the restored process (its SharedArrayBuffer
        // of the working folder's version is not restored: "undefined is not an integer typed array"), and the link
        // thread (storage/link-thread.ts) needs one. So OpenPGP.js gets a createRequire whose require refuses
        // worker_threads during the build (fflate then does without threads; OpenPGP.js starts none anyway).
        name: 'openpgp-without-worker-threads',
        setup(build) {
          const openpgpDir = `${path.sep}node_modules${path.sep}openpgp${path.sep}`;
          build.onResolve({ filter: /^(node:)?module$/ }, (args) => (args.importer.includes(openpgpDir) ? { path: 'module', namespace: 'lxl-openpgp-module' } : undefined));
          build.onLoad({ filter: /.*/, namespace: 'lxl-openpgp-module' }, () => ({
            contents: [
              "const m = require('node:module');",
              "const { startupSnapshot } = require('node:v8');",
              'module.exports = { ...m, createRequire(from) {',
              '  const r = m.createRequire(from);',
              "  const guarded = (id) => { if (/^(node:)?worker_threads$/.test(id) && startupSnapshot.isBuildingSnapshot()) throw new Error('not while the start-up snapshot is built'); return r(id); };",
              '  return Object.assign(guarded, { resolve: r.resolve, cache: r.cache });',
              '} };',
            ].join('\n'),
            loader: 'js',
          }));
        },
      },
      {
        name: 'required-at-runtime',
        setup(build) {
          const names = new RegExp(`^(${atRuntime.map((d) => d.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})(/|$)`);
          build.onResolve({ filter: names }, (args) => ({ path: args.path, namespace: 'lxl-runtime' }));
          build.onLoad({ filter: /.*/, namespace: 'lxl-runtime' }, (args) => ({
            contents: `if (!globalThis.lxlRuntimeRequire) throw new Error(${JSON.stringify(`${args.path} is loaded while the start-up snapshot is built: only bundled packages may be (bin/build.mjs)`)});\nmodule.exports = globalThis.lxlRuntimeRequire(${JSON.stringify(args.path)});`,
            loader: 'js',
          }));
        },
      },
    ],
  });
  const r = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', bundle], { cwd: snapDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0 || !existsSync(blob)) {
    // Node's notes on built-in modules it has not verified in snapshots are noise here (the tests run the snapshot).
    const said = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l && !/not yet fully verified|^It may still work|^To request support|--trace-warnings/.test(l));
    throw new Error(`node --build-snapshot exited ${r.status ?? r.signal}: ${said.join('\n')}`);
  }
  const node = statSync(process.execPath);
  writeFileSync(path.join(snapDir, 'node-id'), `${node.dev}:${node.ino}:${node.size}:${Math.floor(node.mtimeMs / 1000)}\n`);
  // The folders whose sources the blob was built from, for bin/lxl's staleness check (the list bin/lxl.mjs checks).
  writeFileSync(path.join(snapDir, 'source-dirs'), `${SOURCE_DIRS.join(' ')}\n`);
}
