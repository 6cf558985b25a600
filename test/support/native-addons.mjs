// better-sqlite3 for another Node (the tests' Node 22 and 24 passes), where
// the metadata store uses it (server/sqlite-driver.ts says: Node 24+ runs on
// node:sqlite and needs none). npm ci builds its native addon for the Node
// that ran it, and another Node major cannot load it (NODE_MODULE_VERSION).
// Here a copy of the package is built for the other Node with node-gyp,
// against that Node's headers taken from the npm registry
// (node-<platform>-<arch>@<version>, the package `npx node@<major>` installs
// its binary from: the headers are in it), and kept under
// $LXL_TEST_CACHE/native/ for later runs. better-sqlite3-overlay.mjs makes
// the tests' `better-sqlite3` resolve to it.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cacheDir = path.join(process.env.LXL_TEST_CACHE ?? '/var/cache/lxl-test', 'native');
/** better-sqlite3 requires these at run time; the copy carries them so that it resolves them from where it lies. */
const PACKAGES = ['better-sqlite3', 'bindings', 'file-uri-to-path'];

/** Runs a command; resolves with its output, rejects with its last lines of output when it fails. */
function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} ${args.slice(0, 2).join(' ')} exited ${code}: ${out.trim().split('\n').slice(-6).join(' | ')}`))));
  });
}

/** node-gyp as npm bundles it, next to the npm of the Node running this. */
function nodeGyp() {
  const candidates = [path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), path.join(top, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`node-gyp not found (looked at ${candidates.join(', ')})`);
  return found;
}

/** The folder holding include/node/ for `version`, from the npm registry's node-<platform>-<arch> package. */
async function nodeHeaders(version) {
  const dir = path.join(cacheDir, `node-headers-${version}`);
  if (existsSync(path.join(dir, 'include', 'node', 'node.h'))) return dir;
  const work = await mkdtemp(path.join(os.tmpdir(), 'lxl-node-headers-'));
  try {
    const pkg = `node-${process.platform}-${process.arch}@${version}`;
    const tgz = (await run('npm', ['pack', '--silent', pkg], { cwd: work })).trim().split('\n').pop();
    await run('tar', ['-xzf', path.join(work, tgz), '-C', work, 'package/include']);
    await mkdir(cacheDir, { recursive: true });
    await rm(dir, { recursive: true, force: true });
    await rename(path.join(work, 'package'), dir);
    return dir;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Loads the copy with `node` and opens an in-memory database: the proof that this Node can use it. */
function check(node, dir) {
  return run(node, ['-e', 'const D = require(process.argv[1]); new D(":memory:").prepare("select 1").get()', dir]);
}

/** The SQLite driver the metadata store picks on `node` (sqlite-driver.ts, run on that Node). */
async function storeDriver(node) {
  const driver = pathToFileURL(path.join(top, 'server', 'sqlite-driver.ts')).href;
  const out = await run(node, ['--import', 'tsx', '-e', `import(${JSON.stringify(driver)}).then((m) => console.log(m.sqliteDriverName()))`], { cwd: top });
  return out.trim().split('\n').pop();
}

/**
 * What the SQLite test files need on `node`: `{ driver: 'node:sqlite' }` (nothing to build), `{ driver, dir }`, the
 * folder of a better-sqlite3 (node_modules' version) that `node` can load, built on first use, or `{ why }` saying
 * what failed (the caller leaves the SQLite test files out of that Node's pass and says so).
 */
export async function sqliteFor(node) {
  try {
    const driver = await storeDriver(node);
    if (driver !== 'better-sqlite3') return { driver };
    const [version, abi] = (await run(node, ['-p', 'process.versions.node + " " + process.versions.modules'])).trim().split(' ');
    const ours = JSON.parse(readFileSync(path.join(top, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')).version;
    const home = path.join(cacheDir, `better-sqlite3-${ours}-abi${abi}-${process.platform}-${process.arch}`);
    const dir = path.join(home, 'node_modules', 'better-sqlite3');
    if (existsSync(path.join(dir, 'build', 'Release', 'better_sqlite3.node'))) {
      await check(node, dir);
      return { driver, dir };
    }
    const headers = await nodeHeaders(version);
    const part = `${home}.part-${process.pid}`;
    await rm(part, { recursive: true, force: true });
    await build(node, headers, part);
    await rm(home, { recursive: true, force: true });
    await rename(part, home);
    return { driver, dir };
  } catch (err) {
    return { why: `cannot build better-sqlite3 for ${node}: ${err.message}` };
  }
}

/** Copies the packages into `part`/node_modules and builds better-sqlite3 there for `node`; a failed build leaves nothing. */
async function build(node, headers, part) {
  try {
    for (const p of PACKAGES) {
      await cp(path.join(top, 'node_modules', p), path.join(part, 'node_modules', p), { recursive: true, filter: (src) => !src.startsWith(path.join(top, 'node_modules', 'better-sqlite3', 'build')) });
    }
    const partDir = path.join(part, 'node_modules', 'better-sqlite3');
    // node-gyp takes npm_config_* from the environment over its own flags, and `npm test` passes npm's config down
    // (an npmrc's nodedir=/usr would build against this Node 20's headers): the build sees none of it.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_/i.test(k)));
    await run(node, [nodeGyp(), 'rebuild', '--release', `--nodedir=${headers}`, '--jobs=max'], { cwd: partDir, env });
    await check(node, partDir);
  } catch (err) {
    await rm(part, { recursive: true, force: true });
    throw err;
  }
}
