import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planGc, runGc } from '../../storage/gc.js';
import { FsStorage } from '../../storage/fs-storage.js';
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../support/tmp.js';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 0, 10);

test('planGc keeps referenced objects and young unreferenced ones, deletes the rest', () => {
  const listing = [
    { key: 'pool/c.deb', size: 1, mtimeMs: NOW - 48 * HOUR },
    { key: 'pool/a.deb', size: 1, mtimeMs: NOW - 48 * HOUR },
    { key: 'pool/b.deb', size: 1, mtimeMs: NOW - 1 * HOUR },
    { key: 'pool/ref-old.deb', size: 1, mtimeMs: NOW - 1000 * HOUR },
    { key: 'pool/edge.deb', size: 1, mtimeMs: NOW - 24 * HOUR },
  ];
  const plan = planGc({ listing, referenced: new Set(['pool/ref-old.deb']), nowMs: NOW, graceMs: 24 * HOUR });
  assert.deepEqual(plan.delete.map((o) => o.key), ['pool/a.deb', 'pool/c.deb', 'pool/edge.deb']);
  assert.deepEqual(plan.waiting.map((o) => o.key), ['pool/b.deb']);
  assert.equal(plan.referenced, 1);
});

test('planGc with grace 0 deletes every unreferenced object; a negative grace is refused', () => {
  const listing = [{ key: 'x', size: 1, mtimeMs: NOW }];
  assert.equal(planGc({ listing, referenced: new Set(), nowMs: NOW, graceMs: 0 }).delete.length, 1);
  assert.throws(() => planGc({ listing, referenced: new Set(), nowMs: NOW, graceMs: -1 }), RangeError);
});

test('runGc deletes only planned objects under the prefix, and dryRun deletes nothing', async () => {
  const root = await tempDir();
  const st = new FsStorage({ root });
  for (const k of ['apt/pool/old.deb', 'apt/pool/new.deb', 'apt/pool/kept.deb', 'apt/dists/x/Release']) await st.put(k, k);
  const old = new Date(Date.now() - 72 * HOUR);
  for (const k of ['apt/pool/old.deb', 'apt/pool/kept.deb', 'apt/dists/x/Release']) await utimes(path.join(root, k), old, old);
  const opts = { prefix: 'apt/pool/', referenced: new Set(['apt/pool/kept.deb']), graceMs: 24 * HOUR };
  const dry = await runGc(st, { ...opts, dryRun: true });
  assert.deepEqual(dry.delete.map((o) => o.key), ['apt/pool/old.deb']);
  assert.ok(await st.head('apt/pool/old.deb'));
  await runGc(st, opts);
  assert.equal(await st.head('apt/pool/old.deb'), undefined);
  for (const k of ['apt/pool/new.deb', 'apt/pool/kept.deb', 'apt/dists/x/Release']) assert.ok(await st.head(k), `${k} kept`);
});
