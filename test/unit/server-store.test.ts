// The SQLite metadata store: migrations, tokens, job leases with expiry and
// retry (on a fake clock), build logs, the per-repo publish lock, promotion,
// and the audit trail of every change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../server/sqlite-store.js';
import { defaultRepoSettings } from '../../server/metadata-store.js';
import { createToken, verifyToken, allows } from '../../server/tokens.js';
import { loadMigrations } from '../../server/migrations.js';
import { hasCode } from '../../repo-layout/errors.js';
import { tempDir } from '../support/tmp.js';

async function freshStore(clock: { t: number }) {
  const dir = await tempDir('lxl-store-');
  const file = path.join(dir, 'lxl.db');
  const store = new SqliteStore({ file, now: () => clock.t });
  await store.migrate();
  await store.createRepo('main', defaultRepoSettings({ lines: ['6.1'] }), 'test');
  return { store, file };
}

test('migrations apply once, are recorded in schema_version, and use WAL', async () => {
  const clock = { t: 1_000 };
  const { store, file } = await freshStore(clock);
  const expected = loadMigrations().length;
  assert.equal(await store.migrate(), expected, 'a second migrate is a no-op returning the same version');
  await store.close();
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT version, name FROM schema_version ORDER BY version').all() as Array<{ version: number }>;
    assert.deepEqual(rows.map((r) => r.version), Array.from({ length: expected }, (_, i) => i + 1));
    assert.equal((db.pragma('journal_mode', { simple: true }) as string).toLowerCase(), 'wal');
  } finally {
    db.close();
  }
});

test('tokens: only the hash is stored; revoked, expired and forged tokens are refused', async () => {
  const clock = { t: Date.now() };
  const { store, file } = await freshStore(clock);
  const { token, record } = await createToken(store, { name: 'w1', scopes: ['builder'] }, 'cli:test');
  const ok = await verifyToken(store, token);
  assert.ok('record' in ok && ok.record.id === record.id);
  assert.ok(allows(record.scopes, 'builder') && !allows(record.scopes, 'admin'));
  // Flip one character of the secret: same id, other hash.
  const forged = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
  assert.deepEqual(await verifyToken(store, forged), { refused: 'unknown' });
  assert.deepEqual(await verifyToken(store, 'Bearer nonsense'), { refused: 'malformed' });
  const expiring = await createToken(store, { name: 'short', scopes: ['admin'], expiresAt: Date.now() - 1 }, 'cli:test');
  assert.deepEqual(await verifyToken(store, expiring.token), { refused: 'expired' });
  await store.revokeToken(record.id, 'cli:test');
  assert.deepEqual(await verifyToken(store, token), { refused: 'revoked' });
  await assert.rejects(store.revokeToken('tok_000000000000000000000000', 'cli:test'), (e) => hasCode(e, 'E_NOT_FOUND'));
  const actions = (await store.listAudit()).map((a) => a.action);
  assert.deepEqual(actions.filter((a) => a.startsWith('token.')).sort(), ['token.create', 'token.create', 'token.revoke']);
  await store.close();
  // The database never holds the token text.
  const db = new Database(file, { readonly: true });
  try {
    const dump = JSON.stringify(db.prepare('SELECT * FROM tokens').all()) + JSON.stringify(db.prepare('SELECT * FROM audit_log').all());
    assert.ok(!dump.includes(token.split('.')[2]), 'token secret found in the database');
  } finally {
    db.close();
  }
});

test('jobs: lease, heartbeat, expiry returns the job to the queue, retries run out', async () => {
  const clock = { t: 10_000 };
  const { store } = await freshStore(clock);
  const job = await store.enqueueJob({ repo: 'main', kind: 'build', params: { line: '6.1', arch: 'x86_64' }, maxAttempts: 2 }, 'admin');
  assert.equal(job.state, 'queued');

  const a = await store.leaseJob({ owner: 'w1', ttlMs: 1_000 }, 'tokA');
  assert.equal(a?.id, job.id);
  assert.equal(a?.attempts, 1);
  assert.equal(await store.leaseJob({ owner: 'w2', ttlMs: 1_000 }, 'tokB'), undefined, 'a leased job is not handed out twice');

  clock.t += 900;
  const hb = await store.heartbeatJob(job.id, a!.leaseId!, 1_000);
  assert.equal(hb.leaseExpiresAt, clock.t + 1_000, 'heartbeat extends the lease');
  clock.t += 900;
  assert.equal(await store.leaseJob({ owner: 'w2', ttlMs: 1_000 }, 'tokB'), undefined, 'still leased after the heartbeat');
  assert.equal(await store.appendJobLog(job.id, a!.leaseId!, 'phase: fetch\n', 1 << 20), 13);

  // w1 dies: after expiry the job goes back to the queue and w2 gets it.
  clock.t += 1_001;
  const b = await store.leaseJob({ owner: 'w2', ttlMs: 1_000 }, 'tokB');
  assert.equal(b?.id, job.id);
  assert.equal(b?.attempts, 2);
  assert.notEqual(b?.leaseId, a?.leaseId);
  await assert.rejects(store.heartbeatJob(job.id, a!.leaseId!, 1_000), (e) => hasCode(e, 'E_LOCKED'), 'the dead worker lost its lease');
  await assert.rejects(store.completeJob(job.id, a!.leaseId!, {}, 'tokA'), (e) => hasCode(e, 'E_LOCKED'));

  // Second attempt also expires: attempts are used up, so the job fails instead of looping.
  clock.t += 1_001;
  assert.equal(await store.expireLeases(), 1);
  const failed = await store.getJob(job.id);
  assert.equal(failed?.state, 'failed');
  assert.match(failed?.error ?? '', /lease of w2 expired \(attempt 2 of 2\)/);

  // fail with retry requeues while attempts remain; complete records the result.
  const j2 = await store.enqueueJob({ repo: 'main', kind: 'build', params: {}, maxAttempts: 3 }, 'admin');
  const l1 = await store.leaseJob({ owner: 'w3', ttlMs: 5_000 }, 'tokC');
  assert.equal((await store.failJob(j2.id, l1!.leaseId!, 'patch reject', { retry: true }, 'tokC')).state, 'queued');
  const l2 = await store.leaseJob({ owner: 'w3', ttlMs: 5_000 }, 'tokC');
  const done = await store.completeJob(j2.id, l2!.leaseId!, { packages: 3 }, 'tokC');
  assert.equal(done.state, 'succeeded');
  assert.deepEqual(done.result, { packages: 3 });
  const actions = (await store.listAudit({ target: `job:${job.id}` })).map((x) => x.action).reverse();
  assert.deepEqual(actions, ['job.enqueue', 'job.lease', 'job.requeue', 'job.lease', 'job.fail']);
});

test('job logs append while leased and read back from any byte offset', async () => {
  const clock = { t: 1 };
  const { store } = await freshStore(clock);
  const job = await store.enqueueJob({ repo: 'main', kind: 'build', params: {} }, 'admin');
  const l = await store.leaseJob({ owner: 'w', ttlMs: 60_000 }, 't');
  const lines = ['one\n', 'two\n', 'three\n', 'ünïcode\n'];
  for (const s of lines) await store.appendJobLog(job.id, l!.leaseId!, s, 1 << 20);
  const all = lines.join('');
  const full = await store.readJobLog(job.id, 0, 1 << 20);
  assert.equal(full.text, all);
  assert.equal(full.next, Buffer.byteLength(all));
  const mid = await store.readJobLog(job.id, 5, 7);
  assert.equal(mid.text, Buffer.from(all).subarray(5, 12).toString());
  assert.equal(mid.next, 12);
  assert.equal((await store.readJobLog(job.id, full.next, 100)).text, '', 'reading at the end gives nothing');
  await assert.rejects(store.appendJobLog(job.id, l!.leaseId!, 'x'.repeat(100), 64), (e) => hasCode(e, 'E_CONFLICT'), 'log size cap');
});

test('publish lock: one publish per repo; an expired lock is taken over and its publish marked failed', async () => {
  const clock = { t: 50_000 };
  const { store } = await freshStore(clock);
  await store.createRepo('other', defaultRepoSettings(), 'test');
  const p1 = await store.beginPublish({ id: 'pub_1', repo: 'main', owner: 'i1', ttlMs: 1_000 }, 'admin');
  assert.equal(p1.state, 'running');
  await assert.rejects(store.beginPublish({ id: 'pub_2', repo: 'main', owner: 'i2', ttlMs: 1_000 }, 'admin'), (e) => hasCode(e, 'E_LOCKED'));
  await store.beginPublish({ id: 'pub_3', repo: 'other', owner: 'i2', ttlMs: 1_000 }, 'admin');
  clock.t += 900;
  assert.equal(await store.renewPublishLock('pub_1', 1_000), true);
  clock.t += 900;
  await assert.rejects(store.beginPublish({ id: 'pub_2', repo: 'main', owner: 'i2', ttlMs: 1_000 }, 'admin'), (e) => hasCode(e, 'E_LOCKED'), 'renewed lock still held');
  clock.t += 1_001;
  const p2 = await store.beginPublish({ id: 'pub_2', repo: 'main', owner: 'i2', ttlMs: 1_000 }, 'admin');
  assert.equal(p2.state, 'running');
  const old = await store.getPublish('pub_1');
  assert.equal(old?.state, 'failed');
  assert.match(old?.error ?? '', /lock expired/);
  assert.equal(await store.renewPublishLock('pub_1', 1_000), false, 'the dead publisher learns it lost the lock');
  const fin = await store.finishPublish('pub_2', { state: 'succeeded', report: { files: 3 } }, 'admin');
  assert.equal(fin.state, 'succeeded');
  await store.beginPublish({ id: 'pub_4', repo: 'main', owner: 'i1', ttlMs: 1_000 }, 'admin');
  assert.equal(await store.abandonPublishes({ all: true }), 2, 'startup recovery fails pub_3 and pub_4');
  assert.equal((await store.getPublish('pub_4'))?.state, 'failed');
  await store.beginPublish({ id: 'pub_5', repo: 'main', owner: 'i1', ttlMs: 1_000 }, 'admin');
});

test('packages: identity is immutable, builds promote with their packages', async () => {
  const clock = { t: 1 };
  const { store } = await freshStore(clock);
  const build = await store.createBuild({ repo: 'main', line: '6.1', version: '6.1.192-1', flavour: 'minimal', arch: 'x86_64' }, 'b');
  const pkg = { repo: 'main', kind: 'deb' as const, name: 'linux-image-6.1.192-xen-legacy', version: '6.1.192-1', arch: 'amd64', line: '6.1', filename: 'x.deb', sha256: 'a'.repeat(64), size: 10, buildId: build.id, meta: {} };
  const first = await store.addPackage(pkg, 'b');
  assert.equal(first.created, true);
  assert.equal(first.record.channel, 'testing');
  assert.equal((await store.addPackage(pkg, 'b')).created, false, 'same bytes again: idempotent');
  await assert.rejects(store.addPackage({ ...pkg, sha256: 'b'.repeat(64) }, 'b'), (e) => hasCode(e, 'E_CONFLICT'));
  await assert.rejects(store.addPackage({ ...pkg, repo: 'nope' }, 'b'), (e) => hasCode(e, 'E_NOT_FOUND'));
  const promoted = await store.promoteBuild(build.id, 'stable', 'admin');
  assert.equal(promoted.channel, 'stable');
  assert.deepEqual((await store.listPackages({ repo: 'main', channel: 'stable' })).map((p) => p.id), [first.record.id]);
  assert.deepEqual(await store.listPackages({ repo: 'main', channel: 'testing' }), []);
  assert.deepEqual(await store.listArtifactDigests(), ['a'.repeat(64)]);
  const audit = (await store.listAudit({ target: 'repo:main' })).map((a) => a.action);
  assert.ok(audit.includes('build.promote') && audit.includes('package.add') && audit.includes('build.create'));
});
