#!/usr/bin/env node
// Runs the test suite with node's test runner through tsx.
// `node test/run.mjs` runs everything; `node test/run.mjs unit` (or a path
// fragment such as `apt`) runs only the test files whose path contains it.
import { readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
const runFiles = (list, env = process.env) => spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...list], { stdio: 'inherit', env }).status ?? 1;
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
process.exit(status);
