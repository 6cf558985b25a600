import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planGc, runGc } from '../../storage/gc.js';
import { FsStorage } from '../../storage/fs-storage.js';
import { readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../support/tmp.js';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 0, 10);

test('planGc: a key is deleted once it has been unreferenced for the grace period, whatever its mtime', () => {
  const pending = { 'pool/old-drop.deb': NOW - 48 * HOUR, 'pool/young-drop.deb': NOW - 1 * HOUR, 'pool/edge.deb': NOW - 24 * HOUR, 'pool/back.deb': NOW - 30 * HOUR };
  const candidates = [
    // Written long ago, unreferenced only now: its grace period starts now (an mtime rule would delete it at once).
    { key: 'pool/ancient.deb', size: 1, mtimeMs: NOW - 1000 * HOUR },
    { key: 'pool/ref.deb', size: 1, mtimeMs: NOW - 1000 * HOUR },
    'pool/young-drop.deb',
    'pool/old-drop.deb',
  ];
  // back.deb is referenced again: it leaves the pending list. edge.deb is pending but no longer listed: still a candidate.
  const plan = planGc({ candidates, referenced: new Set(['pool/ref.deb', 'pool/back.deb']), pending, nowMs: NOW, graceMs: 24 * HOUR });
  assert.deepEqual(plan.delete, ['pool/edge.deb', 'pool/old-drop.deb']);
  assert.deepEqual(plan.pending, { 'pool/ancient.deb': NOW, 'pool/young-drop.deb': NOW - 1 * HOUR });
  assert.equal(plan.referenced, 2);
});

test('planGc without a pending map (a one-off sweep) uses the mtime; grace 0 deletes every unreferenced key; a negative grace is refused', () => {
  const listing = [
    { key: 'c', size: 1, mtimeMs: NOW - 48 * HOUR },
    { key: 'a', size: 1, mtimeMs: NOW - 48 * HOUR },
    { key: 'b', size: 1, mtimeMs: NOW - 1 * HOUR },
  ];
  const sweep = planGc({ candidates: listing, referenced: new Set(), nowMs: NOW, graceMs: 24 * HOUR });
  assert.deepEqual(sweep.delete, ['a', 'c']);
  assert.deepEqual(Object.keys(sweep.pending), ['b']);
  assert.deepEqual(planGc({ candidates: ['x'], referenced: new Set(), pending: {}, nowMs: NOW, graceMs: 0 }).delete, ['x']);
  assert.throws(() => planGc({ candidates: listing, referenced: new Set(), nowMs: NOW, graceMs: -1 }), RangeError);
});

test('runGc over a local folder: pending keys go after the grace period, referenced ones never; dryRun deletes nothing', async () => {
  const root = await tempDir();
  const st = new FsStorage({ root });
  for (const k of ['apt/pool/old.deb', 'apt/pool/new.deb', 'apt/pool/kept.deb', 'apt/dists/x/Release']) await st.put(k, k);
  const referenced = new Set(['apt/pool/kept.deb']);
  const first = await runGc(st, { prefix: 'apt/pool/', referenced, pending: {}, graceMs: 24 * HOUR, nowMs: NOW });
  assert.deepEqual(first.delete, []);
  assert.deepEqual(first.pending, { 'apt/pool/new.deb': NOW, 'apt/pool/old.deb': NOW });
  const pending = { ...first.pending, 'apt/pool/old.deb': NOW - 30 * HOUR };
  const dry = await runGc(st, { prefix: 'apt/pool/', referenced, pending, graceMs: 24 * HOUR, nowMs: NOW + HOUR, dryRun: true });
  assert.deepEqual(dry.delete, ['apt/pool/old.deb']);
  assert.ok(await st.head('apt/pool/old.deb'));
  const done = await runGc(st, { prefix: 'apt/pool/', referenced, pending, graceMs: 24 * HOUR, nowMs: NOW + HOUR });
  assert.deepEqual(done.pending, { 'apt/pool/new.deb': NOW });
  assert.equal(await st.head('apt/pool/old.deb'), undefined);
  for (const k of ['apt/pool/new.deb', 'apt/pool/kept.deb', 'apt/dists/x/Release']) assert.ok(await st.head(k), `${k} kept`);
  // Candidates without a listing (what the previous publish referenced), and a stateless sweep by mtime.
  const old = new Date(Date.now() - 72 * HOUR);
  await utimes(path.join(root, 'apt/dists/x/Release'), old, old);
  const listed = await runGc(st, { candidates: ['apt/pool/new.deb'], referenced, pending: { 'apt/pool/new.deb': NOW - 25 * HOUR }, graceMs: 24 * HOUR, nowMs: NOW });
  assert.deepEqual(listed.delete, ['apt/pool/new.deb']);
  const sweep = await runGc(st, { prefix: 'apt/dists/', referenced: new Set(), graceMs: 24 * HOUR });
  assert.deepEqual(sweep.delete, ['apt/dists/x/Release']);
  // The local folder drops directories the deletes left empty.
  assert.deepEqual(await readdir(path.join(root, 'apt')), ['pool']);
  // With a pending map only keys are needed: the local folder lists them without a stat per file; a sweep needs mtimes.
  await st.put('apt/pool/extra.deb', 'x');
  const calls: string[] = [];
  const spy: FsStorage = Object.assign(Object.create(st) as FsStorage, {
    list: (p: string) => (calls.push('list'), st.list(p)),
    listKeys: (p: string) => (calls.push('listKeys'), st.listKeys(p)),
  });
  assert.deepEqual((await runGc(spy, { prefix: 'apt/pool/', referenced, pending: {}, graceMs: 0, nowMs: NOW, dryRun: true })).delete, ['apt/pool/extra.deb']);
  await runGc(spy, { prefix: 'apt/pool/', referenced, graceMs: 24 * HOUR, dryRun: true });
  assert.deepEqual(calls, ['listKeys', 'list']);
});

test('FsStorage.linkDirectory swaps a directory alias in one rename; list does not walk the alias; copy hard-links', async () => {
  const root = await tempDir();
  const st = new FsStorage({ root });
  await st.put('r/gen1/a', 'one');
  await st.put('r/gen2/a', 'two');
  await st.linkDirectory('r/cur', 'gen1');
  assert.equal((await st.getBytes('r/cur/a')).toString(), 'one');
  await st.linkDirectory('r/cur', 'gen2');
  assert.equal((await st.getBytes('r/cur/a')).toString(), 'two');
  assert.equal((await st.head('r/cur/a'))?.size, 3);
  const keys: string[] = [];
  for await (const o of st.list('r/')) keys.push(o.key);
  assert.deepEqual(keys, ['r/gen1/a', 'r/gen2/a']);
  await assert.rejects(st.linkDirectory('r/cur', 'nope'), /no such directory/);
  await assert.rejects(st.linkDirectory('r/cur', '../x'), /sibling/);
  // A real directory from an older layout is moved aside first, and stays listed (so GC collects it).
  await st.put('r/real/b', 'old');
  await st.linkDirectory('r/real', 'gen1');
  keys.length = 0;
  for await (const o of st.list('r/')) keys.push(o.key);
  assert.equal(keys.filter((k) => /^r\/real\.pre-link-[0-9a-f]+\/b$/.test(k)).length, 1, keys.join(' '));
  assert.equal((await st.getBytes('r/real/a')).toString(), 'one');
  await st.copy('r/gen1/a', 'r/gen3/a');
  assert.equal((await st.getBytes('r/gen3/a')).toString(), 'one');
  await assert.rejects(st.copy('r/gen1/missing', 'r/gen3/b'), /no object/);
});
