// The metadata store, on the store the run selects (LXL_TEST_STORE: SQLite,
// or PostgreSQL in test/run.mjs's second pass): migrations, tokens, job
// leases with expiry and retry (on a fake clock), build logs, the per-repo
// publish lock, promotion, the audit trail of every change, and two store
// handles on one database (two server instances) racing for jobs and locks.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import pg from 'pg';
import { SqliteStore } from '../../server/sqlite-store.js';
import { openSqlite, sqliteDriverName } from '../../server/sqlite-driver.js';
import { PgStore } from '../../server/pg-store.js';
import { defaultRepoSettings, type MetadataStore } from '../../server/metadata-store.js';
import { createToken, verifyToken, allows } from '../../server/tokens.js';
import { loadMigrations } from '../../server/migrations.js';
import { hasCode } from '../../repo-layout/errors.js';
import { tempDir } from '../support/tmp.js';
import { createTestDatabase, pgUnavailable, testStoreKind } from '../support/postgres.js';

const KIND = testStoreKind();
const skip = KIND === 'postgres' ? await pgUnavailable() : undefined;

/** Where a test store lives: the SQLite file or the PostgreSQL URL. */
interface StoreHandle {
  store: MetadataStore;
  /** Opens another store on the same database (another server instance), with its own clock. */
  another(now: () => number): MetadataStore;
  /** Rows of a read-only query on the database itself (bypassing the store). */
  rows(sql: string): Promise<Array<Record<string, unknown>>>;
}

async function freshStore(clock: { t: number }): Promise<StoreHandle> {
  let open: (now: () => number) => MetadataStore;
  let rows: StoreHandle['rows'];
  if (KIND === 'postgres') {
    const url = await createTestDatabase();
    open = (now) => new PgStore({ url, now });
    rows = async (sql) => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        return (await c.query(sql)).rows as Array<Record<string, unknown>>;
      } finally {
        await c.end();
      }
    };
  } else {
    const file = path.join(await tempDir('lxl-store-'), 'lxl.db');
    open = (now) => new SqliteStore({ file, now });
    rows = async (sql) => {
      const db = openSqlite(file, { readonly: true });
      try {
        return db.all(sql);
      } finally {
        db.close();
      }
    };
  }
  const store = open(() => clock.t);
  await store.migrate();
  await store.createRepo('main', defaultRepoSettings({ lines: ['6.1'] }), 'test');
  opened.push(store);
  return {
    store,
    rows,
    another: (now) => {
      const s = open(now);
      opened.push(s);
      return s;
    },
  };
}

const opened: MetadataStore[] = [];
after(async () => {
  for (const s of opened) await s.close();
});

test(`${KIND}: migrations apply once and are recorded in schema_version`, { skip }, async () => {
  const clock = { t: 1_000 };
  const { store, rows, another } = await freshStore(clock);
  const expected = loadMigrations().length;
  assert.equal(await store.migrate(), expected, 'a second migrate is a no-op returning the same version');
  // Two instances starting at once: both migrate, neither fails, nothing is applied twice.
  assert.deepEqual(await Promise.all([another(Date.now).migrate(), another(Date.now).migrate()]), [expected, expected]);
  const versions = (await rows('SELECT version, name FROM schema_version ORDER BY version')).map((r) => Number(r.version));
  assert.deepEqual(versions, Array.from({ length: expected }, (_, i) => i + 1));
  if (KIND === 'sqlite') {
    const file = (store as SqliteStore).file;
    await store.close();
    const db = openSqlite(file, { readonly: true });
    try {
      assert.equal(String(db.get('PRAGMA journal_mode')?.journal_mode).toLowerCase(), 'wal');
    } finally {
      db.close();
    }
  }
});

test(`${KIND}: tokens: only the hash is stored; revoked, expired and forged tokens are refused`, { skip }, async () => {
  const clock = { t: Date.now() };
  const { store, rows } = await freshStore(clock);
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
  // The database never holds the token text.
  const dump = JSON.stringify(await rows('SELECT * FROM tokens')) + JSON.stringify(await rows('SELECT * FROM audit_log'));
  assert.ok(!dump.includes(token.split('.')[2]), 'token secret found in the database');
});

test(`${KIND}: jobs: lease, heartbeat, expiry returns the job to the queue, retries run out`, { skip }, async () => {
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

test(`${KIND}: job logs append while leased and read back from any byte offset`, { skip }, async () => {
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

test(`${KIND}: publish lock: one publish per repo; an expired lock is taken over and its publish marked failed`, { skip }, async () => {
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

test(`${KIND}: packages: identity is immutable, builds promote with their packages`, { skip }, async () => {
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

test(`${KIND}: two instances on one database: every job is leased once, expiry is seen by both, one publish lock winner`, { skip }, async () => {
  const clock = { t: 100_000 };
  const { store: a, another } = await freshStore(clock);
  const b = another(() => clock.t);
  const ids = new Set<string>();
  for (let i = 0; i < 40; i++) ids.add((await a.enqueueJob({ repo: 'main', kind: 'build', params: { i } }, 'admin')).id);
  const leased: string[] = [];
  // 8 workers, half on each instance, leasing and completing as fast as they can.
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      const s = w % 2 ? b : a;
      for (;;) {
        const job = await s.leaseJob({ owner: `w${w}`, ttlMs: 60_000 }, `tok${w}`);
        if (!job) return;
        leased.push(job.id);
        await s.completeJob(job.id, job.leaseId!, { by: w }, `tok${w}`);
      }
    }),
  );
  assert.equal(leased.length, 40, 'no job was handed out twice');
  assert.deepEqual(new Set(leased), ids);
  for (const j of await b.listJobs({ repo: 'main' })) assert.ok(j.state === 'succeeded' && j.attempts === 1, JSON.stringify(j));

  // A lease taken through one instance expires for the other.
  const j = await a.enqueueJob({ repo: 'main', kind: 'build', params: {} }, 'admin');
  const first = await a.leaseJob({ owner: 'dies', ttlMs: 1_000 }, 'tokA');
  assert.equal(first?.id, j.id);
  assert.equal(await b.leaseJob({ owner: 'w2', ttlMs: 1_000 }, 'tokB'), undefined);
  clock.t += 1_001;
  const retry = await b.leaseJob({ owner: 'w2', ttlMs: 1_000 }, 'tokB');
  assert.equal(retry?.id, j.id);
  assert.equal(retry?.attempts, 2);
  await assert.rejects(a.completeJob(j.id, first!.leaseId!, {}, 'tokA'), (e) => hasCode(e, 'E_LOCKED'));

  // 20 publishes of one repo requested at once through both: exactly one takes the lock.
  const tries = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 ? b : a).beginPublish({ id: `pub_${i}`, repo: 'main', owner: `i${i % 2}`, ttlMs: 5_000 }, 'admin')));
  assert.equal(tries.filter((t) => t.status === 'fulfilled').length, 1);
  for (const t of tries) if (t.status === 'rejected') assert.ok(hasCode(t.reason, 'E_LOCKED'), String(t.reason));
});
