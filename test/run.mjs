#!/usr/bin/env node
// Runs the test suite with node's test runner through tsx.
// `node test/run.mjs` runs everything; `node test/run.mjs unit` (or a path
// fragment such as `apt`) runs only the test files whose path contains it.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
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
const runFiles = (list, env = process.env) => {
  const failures = path.join(failuresDir, `pass-${++pass}.jsonl`);
  const reporters = ['--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${pathToFileURL(path.join(here, 'support/failure-reporter.mjs')).href}`, `--test-reporter-destination=${failures}`];
  return spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...reporters, ...list], { stdio: 'inherit', env }).status ?? 1;
};
let status = runFiles(files);
// The server tests run once per metadata store: SQLite above, then PostgreSQL
// (the harness reads LXL_TEST_STORE) when LXL_TEST_PG_URL names one. Setting
// LXL_TEST_STORE yourself runs only that store.
const serverFiles = files.filter((f) => /(^|[/\\])(server-[^/\\]*|worker-jobs)\.test\.ts$/.test(f));
if (serverFiles.length && !process.env.LXL_TEST_STORE) {
  if (process.env.LXL_TEST_PG_URL) {
    console.log(`# postgres pass: ${serverFiles.length} server test files again with LXL_TEST_STORE=postgres`);
    status = runFiles(serverFiles, { ...process.env, LXL_TEST_STORE: 'postgres' }) || status;
  } else console.log(`# SKIP postgres pass (${serverFiles.length} server test files): LXL_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)`);
}
summarise(status);
process.exit(status);

/** The last lines of the run: every failed test of every pass, or why the run failed without one. */
function summarise(code) {
  const failed = readdirSync(failuresDir)
    .sort()
    .flatMap((f) => {
      const label = f === 'pass-1.jsonl' ? 'main pass' : 'postgres pass';
      return readFileSync(path.join(failuresDir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => ({ label, ...JSON.parse(line) }));
    });
  rmSync(failuresDir, { recursive: true, force: true });
  if (failed.length === 0) {
    console.log(code === 0 ? '# test/run.mjs: no test failed' : `# test/run.mjs: exit ${code} with no failed test recorded (a test file that crashed or timed out before reporting?)`);
    return;
  }
  console.log(`# test/run.mjs: ${failed.length} failed test(s):`);
  for (const f of failed) {
    const where = f.file ? path.relative(path.dirname(here), f.file) : 'unknown file';
    console.log(`#  - [${f.label}] ${where}: ${f.path.join(' > ')}`);
    for (const line of f.message.split('\n')) console.log(`#      ${line}`);
  }
}
