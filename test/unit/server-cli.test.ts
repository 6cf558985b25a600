// `lxl tokens create|list|revoke` on the SQLite file, the audit trail they
// leave, and server config loading (file < env < flags, zod errors by field).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lxl } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { SqliteStore } from '../../server/sqlite-store.js';
import { verifyToken } from '../../server/tokens.js';
import { loadServerConfig } from '../../server/config.js';
import { hasCode } from '../../repo-layout/errors.js';

test('lxl tokens create prints the token once; list never shows it; revoke stops it; all audited', async () => {
  const dir = await tempDir('lxl-tokens-');
  const created = await lxl(['tokens', 'create', '--var', dir, '--name', 'worker-1', '--scope', 'builder']);
  const token = created.stdout.trim();
  assert.match(token, /^lxl\.tok_[0-9a-f]{24}\.[A-Za-z0-9_-]{43}$/);
  assert.match(created.stderr, /shown only now/);
  const id = token.split('.')[1];

  const list = await lxl(['tokens', 'list', '--db', path.join(dir, 'lxl.db'), '--json']);
  const rows = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
  assert.equal(rows.length, 1);
  assert.equal(rows[0].id, id);
  assert.deepEqual(rows[0].scopes, ['builder']);
  assert.equal(rows[0].active, true);
  assert.ok(!list.stdout.includes(token.split('.')[2]) && !('hash' in rows[0]), 'list leaks the secret or its hash');

  const store = new SqliteStore({ file: path.join(dir, 'lxl.db') });
  try {
    assert.ok('record' in (await verifyToken(store, token)));
  } finally {
    await store.close();
  }
  const revoked = await lxl(['tokens', 'revoke', id, '--var', dir]);
  assert.match(revoked.stdout, new RegExp(`revoked ${id} \\(worker-1\\)`));
  const text = await lxl(['tokens', 'list', '--var', dir]);
  assert.match(text.stdout, new RegExp(`^${id}\\trevoked\\tbuilder\\tworker-1`, 'm'));
  const bad = await lxl(['tokens', 'revoke', 'tok_000000000000000000000000', '--var', dir], { allowFail: true });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^lxl: cannot revoke token .*no such token.*\[E_NOT_FOUND\]$/m);
  const noScope = await lxl(['tokens', 'create', '--var', dir, '--name', 'x'], { allowFail: true });
  assert.notEqual(noScope.code, 0);

  const s2 = new SqliteStore({ file: path.join(dir, 'lxl.db') });
  try {
    assert.deepEqual(await verifyToken(s2, token), { refused: 'revoked' });
    const audit = await s2.listAudit({ target: `token:${id}` });
    assert.deepEqual(audit.map((a) => a.action).reverse(), ['token.create', 'token.revoke']);
    assert.ok(audit.every((a) => a.actor.startsWith('cli:')));
  } finally {
    await s2.close();
  }
});

test('server config: file, then env, then flags; bad values are named', async () => {
  const dir = await tempDir('lxl-config-');
  const file = path.join(dir, 'server.json');
  await writeFile(file, JSON.stringify({ var: 'state', listen: '127.0.0.1:9000', limits: { maxUploadBytes: 1000 }, repos: [{ name: 'main', settings: { lines: ['6.1'] } }] }));
  const fromFile = await loadServerConfig({ file, env: {} });
  assert.equal(fromFile.var, path.join(dir, 'state'), 'relative paths in the file are relative to the file');
  assert.equal(fromFile.listen, '127.0.0.1:9000');
  assert.equal(fromFile.limits.maxUploadBytes, 1000);
  assert.equal(fromFile.limits.maxJsonBytes, 1024 * 1024, 'defaults fill the rest');
  assert.equal(fromFile.repos[0].settings.compression, 'gzip');
  const fromEnv = await loadServerConfig({ file, env: { LXL_LISTEN: '127.0.0.1:9001', LXL_MAX_UPLOAD_BYTES: '2000', LXL_SERVE_STATIC: 'false' } });
  assert.equal(fromEnv.listen, '127.0.0.1:9001');
  assert.equal(fromEnv.limits.maxUploadBytes, 2000);
  assert.equal(fromEnv.serveStatic, false);
  const fromFlags = await loadServerConfig({ file, env: { LXL_LISTEN: '127.0.0.1:9001' }, overrides: { listen: '127.0.0.1:9002' } });
  assert.equal(fromFlags.listen, '127.0.0.1:9002');
  await assert.rejects(loadServerConfig({ env: {} }), (e) => hasCode(e, 'E_CONFIG') && /var: is required/.test((e as Error).message));
  await assert.rejects(loadServerConfig({ env: { LXL_VAR: dir, LXL_LISTEN: 'nowhere' } }), (e) => /listen: must be host:port/.test((e as Error).message));
  await assert.rejects(loadServerConfig({ env: { LXL_VAR: dir, LXL_MAX_UPLOAD_BYTES: 'lots' } }), (e) => /LXL_MAX_UPLOAD_BYTES/.test((e as Error).message));
  await assert.rejects(loadServerConfig({ env: { LXL_VAR: dir, LXL_DATABASE: 'mysql://u:secret@db/lxl' } }), (e) => /is not supported/.test((e as Error).message) && !(e as Error).message.includes('secret'));
  assert.equal((await loadServerConfig({ env: { LXL_VAR: dir, LXL_DATABASE: 'postgres://u:secret@db/lxl' } })).database, 'postgres://u:secret@db/lxl');
});
