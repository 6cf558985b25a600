// The CLI runs bundled (bin/build.mjs bundles dist/cli/ into dist/cli-bundle/
// with esbuild): bin/lxl.mjs loads the bundle and none of lxl's separate
// modules, and the modules that find files next to themselves through
// import.meta.url (kernel lines, the server's package.json and migrations)
// still find them from inside the bundle.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { lxl, run } from '../support/exec.js';
import { spawnServer } from '../support/server-harness.js';
import { distCurrent, hasEsbuild } from '../support/dist.js';
import { tempDir } from '../support/tmp.js';

const top = fileURLToPath(new URL('../..', import.meta.url));
const bin = path.join(top, 'bin', 'lxl.mjs');
// With esbuild installed and dist/ current, a missing bundle is a build bug (a failure below), not a skip.
const skip = !distCurrent
  ? 'dist/ is not current (npm run build): bin/lxl.mjs runs the sources through tsx, not the bundle'
  : hasEsbuild
    ? undefined
    : 'esbuild is not installed, so bin/build.mjs made no bundle';

// A module resolve hook (node --import) that appends every URL the process loads to $LXL_TEST_LOADED.
const hooks = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.LXL_TEST_LOADED, r.url + '\\n');
  return r;
}`;
const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;

/** Runs `lxl args` and returns its output and the files it loaded (paths relative to the repo top). */
async function loadedBy(args: string[]): Promise<{ code: number; stdout: string; stderr: string; files: string[] }> {
  const dir = await tempDir('lxl-cli-bundle-');
  const log = path.join(dir, 'loaded');
  const r = await run(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, bin, ...args], {
    env: { ...process.env, LXL_TEST_LOADED: log },
    allowFail: true,
  });
  const urls = existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter((u) => u.startsWith('file:')) : [];
  return { ...r, files: [...new Set(urls.map((u) => path.relative(top, fileURLToPath(u))))] };
}

test('bin/lxl.mjs runs the bundle: lxl apt, lxl yum and lxl build load no separate lxl module and no commander file', { skip }, async () => {
  assert.ok(existsSync(path.join(top, 'dist', 'cli-bundle', 'main.js')), 'bin/build.mjs made no dist/cli-bundle/main.js although esbuild is installed');
  for (const args of [['apt', '--help'], ['yum', '--help'], ['build', '--help']]) {
    const r = await loadedBy(args);
    assert.match(r.stdout, new RegExp(`Usage: lxl ${args[0]}`));
    const own = r.files.filter((f) => f.startsWith('dist/'));
    assert.ok(own.some((f) => f.startsWith('dist/cli-bundle/')), `lxl ${args.join(' ')} loaded no bundle chunk: ${own.join(', ')}`);
    assert.deepEqual(own.filter((f) => !f.startsWith('dist/cli-bundle/')), [], `lxl ${args.join(' ')} loaded lxl modules outside the bundle`);
    assert.deepEqual(r.files.filter((f) => f.includes('node_modules/commander/')), [], 'commander should come from the bundle');
  }
});

test('from inside the bundle, a kernel line is found next to the builders (import.meta.url) as the unbundled modules find it', { skip }, async () => {
  const out = await tempDir('lxl-cli-bundle-out-');
  // A work folder of its own: the default (<tmpdir>/lxl-build) would be left behind in /tmp.
  const args = ['build', '--line', '6.1', '--flavour', 'no-such-flavour', '--out', out, '--work-dir', path.join(out, 'work')];
  const bundled = await loadedBy(args);
  assert.ok(bundled.files.some((f) => f.startsWith('dist/cli-bundle/')), 'the build command did not run from the bundle');
  // Reading kernel/6.1/line.json is how it knows the flavours; a wrong path would say the line is missing.
  assert.match(bundled.stderr, /cannot build flavour no-such-flavour of line 6\.1: known flavours are minimal, full/);
  const unbundled = await run(process.execPath, [path.join(top, 'dist', 'cli', 'main.js'), ...args], { allowFail: true });
  assert.equal(bundled.stderr, unbundled.stderr);
  assert.notEqual(bundled.code, 0);
});

test('the bundled server finds its migrations and package.json: it starts, and its OpenAPI document carries the package version', { skip }, async () => {
  const varDir = await tempDir('lxl-cli-bundle-server-');
  const server = await spawnServer(varDir);
  try {
    const doc = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as { info: { version: string } };
    const version = (JSON.parse(readFileSync(path.join(top, 'package.json'), 'utf8')) as { version: string }).version;
    // server.ts falls back to 0.0.0 when it cannot read ../package.json.
    assert.equal(doc.info.version, version);
  } finally {
    await server.stop();
  }
});

test('lxl --help from the bundle lists every command group', { skip }, async () => {
  const r = await lxl(['--help']);
  for (const group of ['up', 'keys', 'pack', 'apt', 'yum', 'server', 'tokens', 'worker', 'build']) assert.match(r.stdout, new RegExp(`\\n  ${group}\\b`));
});
