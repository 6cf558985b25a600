// The SQLite seam under the embedded store (server/sqlite-driver.ts) on the
// Node running the test: the driver Node's version picks (better-sqlite3 on
// Node 20 and 22, node:sqlite on 24+; test/run.mjs runs this file on each),
// plain-object rows, IMMEDIATE transactions with savepoints, read-only opens.
// The crash that made Node 24 use node:sqlite (better-sqlite3 12's statements
// abort the process when collected outside a JavaScript context) shows in
// test/unit/server-fuzz.test.ts, which died within a second on Node 24.21.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openSqlite, sqliteDriverName } from '../../server/sqlite-driver.js';
import { tempDir } from '../support/tmp.js';

test('the driver follows the Node major: node:sqlite from Node 24, better-sqlite3 before', () => {
  const major = Number(process.versions.node.split('.')[0]);
  assert.equal(sqliteDriverName(), major >= 24 ? 'node:sqlite' : 'better-sqlite3');
  const db = openSqlite(':memory:');
  try {
    assert.equal(db.driver, sqliteDriverName());
  } finally {
    db.close();
  }
});

test('rows are plain objects; numbers, text, NULL and changes come back as written', () => {
  const db = openSqlite(':memory:');
  try {
    db.exec('CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, x REAL, note TEXT)');
    assert.equal(db.run('INSERT INTO t VALUES (?, ?, ?, ?)', 'a', 1_700_000_000_123, 0.5, null), 1);
    assert.equal(db.run('INSERT INTO t VALUES (?, ?, ?, ?)', 'b', 2, 1.5, 'two'), 1);
    const row = db.get('SELECT * FROM t WHERE id = ?', 'a');
    assert.deepEqual(row, { id: 'a', n: 1_700_000_000_123, x: 0.5, note: null });
    assert.equal(Object.getPrototypeOf(row), Object.prototype);
    assert.equal(db.get('SELECT typeof(n) AS t FROM t WHERE id = ?', 'a')?.t, 'integer', 'an INTEGER column stores an integral number as an integer');
    assert.equal(db.get('SELECT * FROM t WHERE id = ?', 'nope'), undefined);
    assert.deepEqual(
      db.all('SELECT id FROM t ORDER BY id LIMIT ?', 5).map((r) => r.id),
      ['a', 'b'],
    );
    assert.equal(db.run('UPDATE t SET n = n + 1'), 2);
  } finally {
    db.close();
  }
});

test('immediate(): commits on return, rolls back on throw, and a nested call is a savepoint', () => {
  const db = openSqlite(':memory:');
  try {
    db.exec('CREATE TABLE t (v INTEGER)');
    assert.equal(
      db.immediate(() => {
        db.run('INSERT INTO t VALUES (1)');
        return 'done';
      }),
      'done',
    );
    assert.throws(() =>
      db.immediate(() => {
        db.run('INSERT INTO t VALUES (2)');
        throw new Error('boom');
      }),
    /boom/);
    db.immediate(() => {
      db.run('INSERT INTO t VALUES (3)');
      assert.throws(() =>
        db.immediate(() => {
          db.run('INSERT INTO t VALUES (4)');
          throw new Error('inner');
        }),
      /inner/);
      db.immediate(() => db.run('INSERT INTO t VALUES (5)'));
    });
    assert.deepEqual(
      db.all('SELECT v FROM t ORDER BY v').map((r) => r.v),
      [1, 3, 5],
    );
    // A constraint error inside ends the transaction too, and the database takes the next one.
    db.exec('CREATE TABLE u (k TEXT PRIMARY KEY)');
    assert.throws(() => db.immediate(() => [db.run("INSERT INTO u VALUES ('k')"), db.run("INSERT INTO u VALUES ('k')")]), /UNIQUE/);
    assert.equal(db.all('SELECT k FROM u').length, 0);
    db.immediate(() => db.run("INSERT INTO u VALUES ('k')"));
    assert.equal(db.all('SELECT k FROM u').length, 1);
  } finally {
    db.close();
    db.close();
  }
});

test('immediate() takes the write lock up front: a second connection waits (busy_timeout) or fails, never interleaves', async () => {
  const file = path.join(await tempDir('lxl-sqlite-driver-'), 'x.db');
  const a = openSqlite(file);
  const b = openSqlite(file);
  try {
    a.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER)');
    b.exec('PRAGMA busy_timeout = 0');
    a.immediate(() => {
      a.run('INSERT INTO t VALUES (1)');
      assert.throws(() => b.immediate(() => b.run('INSERT INTO t VALUES (2)')), /locked|busy/i);
    });
    b.immediate(() => b.run('INSERT INTO t VALUES (2)'));
    assert.deepEqual(
      a.all('SELECT v FROM t ORDER BY v').map((r) => r.v),
      [1, 2],
    );
  } finally {
    a.close();
    b.close();
  }
});

test('a read-only open reads, refuses writes, and needs the file to exist', async () => {
  const dir = await tempDir('lxl-sqlite-driver-');
  const file = path.join(dir, 'x.db');
  const w = openSqlite(file);
  w.exec('CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (7)');
  w.close();
  const r = openSqlite(file, { readonly: true });
  try {
    assert.equal(r.get('SELECT v FROM t')?.v, 7);
    assert.throws(() => r.run('INSERT INTO t VALUES (8)'), /readonly|read-only/i);
  } finally {
    r.close();
  }
  assert.throws(() => openSqlite(path.join(dir, 'missing.db'), { readonly: true }), /unable to open|does not exist|no such file/i);
});
