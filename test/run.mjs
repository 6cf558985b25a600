#!/usr/bin/env node
// Runs the test suite with node's test runner through tsx.
// `node test/run.mjs` runs everything; `node test/run.mjs unit` (or a path
// fragment such as `apt`) runs only the test files whose path contains it.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sqliteFor } from './support/native-addons.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
/**
 * End-to-end test files that also run on the other Nodes: the server and `npm start` (lxl up) with real clients
 * (apt-get, dnf, gpgv, a browser), its crash and load tests. About a minute each pass; they reuse the chroots and
 * kernel builds the main pass made. Each starts a server, so each is also one of SQLITE_FILES.
 */
const E2E_NAMES = ['server-publish', 'server-crash', 'server-load', 'main-job', 'up'];
const E2E_ON_OTHER_NODES = E2E_NAMES.map((n) => `${path.sep}e2e${path.sep}${n}.test.ts`);
/**
 * Test files that open a SQLite store (the end-to-end ones through the server they start): better-sqlite3's binary is
 * built by npm ci for the Node that ran it, so on another Node whose store uses it (22) they run against a copy built
 * for that Node (test/support/native-addons.mjs), or are left out, with the reason, when it cannot be built.
 */
const SQLITE_FILES = ['server-api', 'server-cli', 'server-fuzz', 'server-store', 'artifact-sweep', 'sqlite-driver', ...E2E_NAMES].map((n) => `${path.sep}${n}.test.ts`);
/**
 * Unit test files never run on the other Nodes: the start-up snapshot's, which is made for the Node that ran the
 * build (on another, bin/lxl runs bin/lxl.mjs, as the other CLI tests of that pass show).
 */
const NOT_ON_OTHER_NODES = ['cli-bundle', 'cli-snapshot'].map((n) => `${path.sep}${n}.test.ts`);
/** The other Node majors the unit tests (and E2E_ON_OTHER_NODES) run on, each named by an environment variable (.ci/run sets them). */
const OTHER_NODES = [
  { major: 22, env: 'LXL_TEST_NODE22' },
  { major: 24, env: 'LXL_TEST_NODE24' },
];
const filters = process.argv.slice(2);

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return name === 'support' || name === 'golden' || name === 'fixtures' ? [] : find(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}

const files = find(here)
  .sort()
  .filter((f) => filters.length === 0 || filters.some((w) => path.relative(here, f).includes(w)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// Tests share chroots, ports and kernel builds: run files one at a time.
// Besides the TAP on stdout, test/support/failure-reporter.mjs writes each
// failed test to a file; the run ends by listing them (see the end).
const failuresDir = mkdtempSync(path.join(os.tmpdir(), 'lxl-test-failures-'));
let pass = 0;
const passLabels = [];
/** What failed a run besides its tests (a pass that could not start), for the last lines. */
const runProblems = [];
const runFiles = (list, env = process.env, { label = 'main pass', node = process.execPath } = {}) => {
  passLabels.push(label);
  const failures = path.join(failuresDir, `pass-${++pass}.jsonl`);
  const reporters = ['--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${pathToFileURL(path.join(here, 'support/failure-reporter.mjs')).href}`, `--test-reporter-destination=${failures}`];
  return spawnSync(node, ['--import', 'tsx', '--test', '--test-concurrency=1', ...reporters, ...list], { stdio: 'inherit', env }).status ?? 1;
};
let status = runFiles(files);
// The server tests run once per metadata store: SQLite above, then PostgreSQL
// (the harness reads LXL_TEST_STORE) when LXL_TEST_PG_URL names one. Setting
// LXL_TEST_STORE yourself runs only that store.
const serverFiles = files.filter((f) => /(^|[/\\])(server-[^/\\]*|worker-jobs)\.test\.ts$/.test(f));
if (serverFiles.length && !process.env.LXL_TEST_STORE) {
  if (process.env.LXL_TEST_PG_URL) {
    console.log(`# postgres pass: ${serverFiles.length} server test files again with LXL_TEST_STORE=postgres`);
    status = runFiles(serverFiles, { ...process.env, LXL_TEST_STORE: 'postgres' }, { label: 'postgres pass' }) || status;
  } else console.log(`# SKIP postgres pass (${serverFiles.length} server test files): LXL_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)`);
}
// lxl declares node >= 20.10, and Node 20 reached its end of life in April 2026: the unit tests, and the end-to-end
// files E2E_ON_OTHER_NODES names, run again on the Node 22 and the Node 24 that LXL_TEST_NODE22 and LXL_TEST_NODE24
// name (.ci/run gets them from the npm registry with `npx -y node@22` and `npx -y node@24`), each first on PATH so that
// the `node` they start (bin/lxl, the CLI tests, npm start) is that one too; NOT_ON_OTHER_NODES says which unit files
// stay out. Where the metadata store runs on better-sqlite3 (Node 22; Node 24+ has node:sqlite), the SQLite files get
// one built for that Node (before the first of these passes, then cached), through NODE_OPTIONS so that the servers the
// tests start load it too.
const otherNodeFiles = files.filter(
  (f) => (f.includes(`${path.sep}unit${path.sep}`) && !NOT_ON_OTHER_NODES.some((n) => f.endsWith(n))) || E2E_ON_OTHER_NODES.some((n) => f.endsWith(n)),
);
if (otherNodeFiles.length && !process.env.LXL_TEST_STORE) {
  const nodes = [];
  for (const { major, env: name } of OTHER_NODES) {
    const label = `node ${major} pass`;
    const node = process.env[name];
    if (!node) {
      console.log(`# SKIP ${label} (${otherNodeFiles.length} test files): ${name} is not set (.ci/run sets it from npx -y node@${major})`);
      continue;
    }
    const v = spawnSync(node, ['--version'], { encoding: 'utf8' });
    if (v.status !== 0 || !v.stdout.startsWith(`v${major}.`)) {
      const problem = `${label}: ${name}=${node} is not a Node ${major} (${(v.stdout || v.stderr || String(v.error)).trim()})`;
      console.log(`# ${problem}`);
      runProblems.push(problem);
      status ||= 1;
      continue;
    }
    nodes.push({ label, node, version: v.stdout.trim() });
  }
  const wantSqlite = otherNodeFiles.some((f) => SQLITE_FILES.some((n) => f.endsWith(n)));
  const t0 = Date.now();
  const sqlite = wantSqlite ? await Promise.all(nodes.map((n) => sqliteFor(n.node))) : [];
  nodes.forEach(({ label, node, version }, i) => {
    const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ''}` };
    let list = otherNodeFiles;
    const native = sqlite[i];
    if (native?.dir) {
      console.log(`# ${label}: the SQLite test files load a better-sqlite3 built for ${version} (${native.dir}; ${((Date.now() - t0) / 1000).toFixed(0)} s to build or find)`);
      env.LXL_TEST_BETTER_SQLITE3 = native.dir;
      env.NODE_OPTIONS = `${env.NODE_OPTIONS ? `${env.NODE_OPTIONS} ` : ''}--import=${pathToFileURL(path.join(here, 'support', 'better-sqlite3-overlay.mjs')).href}`;
    } else if (native?.why) {
      list = otherNodeFiles.filter((f) => !SQLITE_FILES.some((n) => f.endsWith(n)));
      console.log(`# SKIP ${label}: ${otherNodeFiles.length - list.length} SQLite test files left out: ${native.why}`);
      // CI has the compiler and the registry (.ci/run): there a failed build is a failure, not a skip.
      if (process.env.CI === 'true') {
        runProblems.push(`${label}: ${native.why}`);
        status ||= 1;
      }
    } else if (native?.driver) console.log(`# ${label}: the metadata store runs on ${native.driver} there`);
    // `node --test` with no files would look for test files itself.
    if (list.length === 0) return;
    console.log(`# ${label}: ${list.length} test files again on ${version} (${node})`);
    status = runFiles(list, env, { label, node }) || status;
  });
}
summarise(status);
process.exit(status);

/** The last lines of the run: every failed test of every pass, or why the run failed without one. */
function summarise(code) {
  const failed = readdirSync(failuresDir)
    .sort()
    .flatMap((f) => {
      const label = passLabels[Number(/^pass-(\d+)\.jsonl$/.exec(f)?.[1] ?? 1) - 1] ?? f;
      return readFileSync(path.join(failuresDir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => ({ label, ...JSON.parse(line) }));
    });
  rmSync(failuresDir, { recursive: true, force: true });
  for (const p of runProblems) console.log(`# test/run.mjs: ${p}`);
  if (failed.length === 0) {
    if (code === 0) console.log('# test/run.mjs: no test failed');
    else if (runProblems.length === 0) console.log(`# test/run.mjs: exit ${code} with no failed test recorded (a test file that crashed or timed out before reporting?)`);
    return;
  }
  console.log(`# test/run.mjs: ${failed.length} failed test(s):`);
  for (const f of failed) {
    const where = f.file ? path.relative(path.dirname(here), f.file) : 'unknown file';
    console.log(`#  - [${f.label}] ${where}: ${f.path.join(' > ')}`);
    for (const line of f.message.split('\n')) console.log(`#      ${line}`);
  }
}
