// Re-signing rpms (the server signs what workers upload): the real rpm tools
// check the signatures with only the repo key imported in a scratch rpmdb;
// the main header and payload stay byte for byte; el5 rpms get SHA-1
// signatures; a damaged file is refused and leaves no output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FormatError } from '../../repo-layout/errors.js';
import { readRpmFile } from '../../repo-layout/rpm/rpm-reader.js';
import { resignRpmFile } from '../../repo-layout/rpm/rpm-resign.js';
import { missingTools, run } from '../support/exec.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';
import { fixtureSpec, packRpm } from '../e2e/rpm-fixture.js';

const skipRpm = missingTools('rpm', 'rpmkeys');

/** A scratch rpmdb holding only the test key. */
async function keyDb(dir: string): Promise<{ db: string; keyId: string }> {
  const { key, dir: keyDir } = await testKey();
  const db = path.join(dir, 'rpmdb');
  await mkdir(db, { recursive: true });
  await run('rpmkeys', ['--dbpath', db, '--import', path.join(keyDir, 'lxl-test-rsa4096.asc')]);
  return { db, keyId: key.fingerprint.slice(-8).toLowerCase() };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('an unsigned modern rpm re-signed: rpm -Kv and rpmkeys --checksig pass with RSA/SHA256; header and payload unchanged', { skip: skipRpm }, async () => {
  const dir = await tempDir();
  const { signer } = await testKey();
  const unsigned = await packRpm(await fixtureSpec(dir, { scripts: true }), path.join(dir, 'in'));
  const before = await readRpmFile(unsigned);
  assert.deepEqual(before.signed, { rsaHeader: false, pgpHeaderPayload: false });
  const out = path.join(dir, 'signed.rpm');
  const r = await resignRpmFile(unsigned, out, { signer });
  assert.equal(r.hash, 'sha256');

  const bytes = await readFile(out);
  assert.equal(r.size, bytes.length);
  assert.equal(r.sha256, sha256(bytes));
  const after = await readRpmFile(out, { verify: true });
  assert.deepEqual(after.signed, { rsaHeader: true, pgpHeaderPayload: true });
  // Everything from the main header on is the uploaded bytes.
  const orig = await readFile(unsigned);
  assert.ok(bytes.subarray(after.headerStart).equals(orig.subarray(before.headerStart)), 'main header + payload changed');
  assert.ok(bytes.subarray(0, 96).equals(orig.subarray(0, 96)), 'lead changed');

  const { db, keyId } = await keyDb(dir);
  const k = await run('rpm', ['--dbpath', db, '-Kv', out]);
  for (const line of [
    `Header V4 RSA/SHA256 Signature, key ID ${keyId}: OK`,
    'Header SHA256 digest: OK',
    'Header SHA1 digest: OK',
    'Payload SHA256 digest: OK',
    `V4 RSA/SHA256 Signature, key ID ${keyId}: OK`,
    'MD5 digest: OK',
  ]) {
    assert.ok(k.stdout.includes(line), `rpm -Kv lacks "${line}":\n${k.stdout}`);
  }
  assert.doesNotMatch(k.stdout + k.stderr, /NOKEY|BAD|NOTFOUND/);
  const cs = await run('rpmkeys', ['--dbpath', db, '--checksig', out]);
  assert.match(cs.stdout, /: digests signatures OK$/m);
  // The unsigned input, by contrast, has no signature to check.
  const plain = await run('rpmkeys', ['--dbpath', db, '--checksig', unsigned], { allowFail: true });
  assert.doesNotMatch(plain.stdout, /signatures OK/);
});

test('an rpm signed by another key is re-signed with ours (old signatures dropped)', { skip: skipRpm }, async () => {
  const dir = await tempDir();
  const { signer } = await testKey();
  const other = await testKey({ name: 'lxl-test-other' });
  const theirs = await packRpm(await fixtureSpec(dir), path.join(dir, 'in'), { signer: other.signer });
  const { db, keyId } = await keyDb(dir);
  const refused = await run('rpmkeys', ['--dbpath', db, '--checksig', theirs], { allowFail: true });
  assert.match(refused.stdout + refused.stderr, /NOKEY|SIGNATURES NOT OK/i);

  const out = path.join(dir, 'ours.rpm');
  await resignRpmFile(theirs, out, { signer });
  const k = await run('rpm', ['--dbpath', db, '-Kv', out]);
  assert.ok(k.stdout.includes(`Header V4 RSA/SHA256 Signature, key ID ${keyId}: OK`), k.stdout);
  assert.doesNotMatch(k.stdout + k.stderr, /NOKEY|BAD/);
  assert.match((await run('rpmkeys', ['--dbpath', db, '--checksig', out])).stdout, /: digests signatures OK$/m);
});

test('an el5 rpm gets SHA-1 signatures rpm 4.4 can read', { skip: skipRpm }, async () => {
  const dir = await tempDir();
  const { signer } = await testKey();
  const unsigned = await packRpm(await fixtureSpec(dir), path.join(dir, 'in'), { profile: 'el5' });
  const out = path.join(dir, 'el5.rpm');
  const r = await resignRpmFile(unsigned, out, { signer });
  assert.equal(r.hash, 'sha1');
  const q = await run('rpm', ['-qp', '--qf', '%{RSAHEADER:pgpsig}|%{SIGPGP:pgpsig}', out]);
  const [rsa, pgp] = q.stdout.split('|');
  assert.match(rsa, /^RSA\/SHA1, /);
  assert.match(pgp, /^RSA\/SHA1, /);
  const { db, keyId } = await keyDb(dir);
  const k = await run('rpm', ['--dbpath', db, '-Kv', out]);
  assert.ok(k.stdout.includes(`Header V4 RSA/SHA1 Signature, key ID ${keyId}: OK`), k.stdout);
  assert.ok(k.stdout.includes(`V4 RSA/SHA1 Signature, key ID ${keyId}: OK`), k.stdout);
  assert.ok(k.stdout.includes('MD5 digest: OK'), k.stdout);
  // The caller may force the modern hash.
  const forced = path.join(dir, 'forced.rpm');
  assert.equal((await resignRpmFile(unsigned, forced, { signer, hash: 'sha256' })).hash, 'sha256');
  assert.match((await run('rpm', ['-qp', '--qf', '%{RSAHEADER:pgpsig}', forced])).stdout, /^RSA\/SHA256, /);
});

test('a damaged payload is refused (MD5 mismatch) and no output is left', async () => {
  const dir = await tempDir();
  const { signer } = await testKey();
  const rpm = await packRpm(await fixtureSpec(dir), path.join(dir, 'in'));
  const bytes = await readFile(rpm);
  bytes[bytes.length - 100] ^= 0xff;
  const bad = path.join(dir, 'bad.rpm');
  await writeFile(bad, bytes);
  const out = path.join(dir, 'out.rpm');
  await assert.rejects(resignRpmFile(bad, out, { signer }), (err: unknown) => err instanceof FormatError && /MD5/.test(err.message));
  assert.equal(existsSync(out), false);
  // Not an rpm at all.
  await writeFile(bad, 'not an rpm');
  await assert.rejects(resignRpmFile(bad, out, { signer }), FormatError);
  assert.equal(existsSync(out), false);
});
