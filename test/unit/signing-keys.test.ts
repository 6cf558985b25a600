// Key generation, export and loading: v4 keys with SHA-512 self-signatures,
// passphrase handling, and errors that never carry secrets.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import * as openpgp from 'openpgp';
import { KeyError, hasCode } from '../../repo-layout/errors.js';
import { exportPublicKey, generateKey } from '../../repo-layout/signing/keys.js';
import { loadSigner, OpenPgpSigner } from '../../repo-layout/signing/openpgp-signer.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

/** Lines of the armored secret key body (base64), which must never show up in an error. */
function secretLines(armored: string): string[] {
  return armored
    .split('\n')
    .filter((l) => l.length >= 16 && !l.startsWith('-----'))
    .map((l) => l.trim());
}

/** Asserts the error message and its cause chain contain none of `secrets`. */
function assertNoSecret(err: unknown, secrets: string[]): void {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    for (const s of secrets) assert.ok(!e.message.includes(s), `error message leaks a secret: ${e.message}`);
  }
}

for (const algorithm of ['rsa4096', 'ed25519'] as const) {
  test(`${algorithm} test key is v4 with a SHA-512 self-signature and SHA512,SHA256 preferences`, async () => {
    const { key } = await testKey({ algorithm });
    const pub = await openpgp.readKey({ armoredKey: key.publicArmored });
    assert.equal(pub.keyPacket.version, 4);
    assert.equal(pub.isPrivate(), false);
    assert.equal(pub.getFingerprint().toUpperCase(), key.fingerprint);
    const expectedAlgo = algorithm === 'ed25519' ? 'eddsaLegacy' : 'rsaEncryptSign';
    assert.equal(pub.getAlgorithmInfo().algorithm, expectedAlgo);
    if (algorithm === 'rsa4096') assert.equal(pub.getAlgorithmInfo().bits, 4096);
    const { selfCertification } = await pub.getPrimaryUser();
    assert.equal(selfCertification.hashAlgorithm, openpgp.enums.hash.sha512);
    assert.deepEqual(selfCertification.preferredHashAlgorithms?.slice(0, 2), [openpgp.enums.hash.sha512, openpgp.enums.hash.sha256]);
    // The binary keyring is the same key as the armored one.
    const fromBinary = await openpgp.readKey({ binaryKey: key.publicBinary });
    assert.equal(fromBinary.getFingerprint().toUpperCase(), key.fingerprint);
    assert.ok(!key.publicArmored.includes('PRIVATE'), 'public export must not hold the secret key');
  });
}

test('exportPublicKey from the secret key gives the same public key', async () => {
  const { key } = await testKey({ algorithm: 'ed25519' });
  const exported = await exportPublicKey(key.secretArmored);
  assert.equal(exported.fingerprint, key.fingerprint);
  assert.deepEqual(Buffer.from(exported.publicBinary), Buffer.from(key.publicBinary));
  assert.match(exported.publicArmored, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
  assert.ok(!exported.publicArmored.includes('PRIVATE'));
});

test('several keys export as one keyring, primary first', async () => {
  const a = await testKey({ algorithm: 'rsa4096' });
  const b = await testKey({ algorithm: 'ed25519' });
  const signer = await OpenPgpSigner.fromArmored([a.key.secretArmored, b.key.secretArmored]);
  assert.deepEqual(signer.fingerprints, [a.key.fingerprint, b.key.fingerprint]);
  const keys = await openpgp.readKeys({ binaryKeys: signer.publicKeyBinary() });
  assert.deepEqual(
    keys.map((k) => k.getFingerprint().toUpperCase()),
    [a.key.fingerprint, b.key.fingerprint],
  );
  const armoredKeys = await openpgp.readKeys({ armoredKeys: signer.publicKeyArmored() });
  assert.equal(armoredKeys.length, 2);
});

test('generateKey rejects an unknown algorithm and a bad e-mail with KeyError', async () => {
  await assert.rejects(generateKey({ name: 'x', email: 'x@example.org', algorithm: 'dsa1024' as never }), (e: unknown) => hasCode(e, 'E_KEY'));
  await assert.rejects(generateKey({ name: 'x', email: 'not an address', algorithm: 'ed25519' }), /not an e-mail address/);
});

test('passphrase-protected key: no passphrase and a wrong one fail with KeyError and no secret', async () => {
  const passphrase = 'correct horse battery staple 7Q';
  const key = await generateKey({ name: 'enc', email: 'enc@example.org', algorithm: 'ed25519', passphrase });
  assert.match(key.secretArmored, /PRIVATE KEY/);
  const secrets = [passphrase, ...secretLines(key.secretArmored)];

  const noPass = await OpenPgpSigner.fromArmored(key.secretArmored).catch((e: unknown) => e);
  assert.ok(noPass instanceof KeyError);
  assert.match(noPass.message, new RegExp(`cannot decrypt signing key ${key.fingerprint}: it is passphrase-protected`));
  assertNoSecret(noPass, secrets);

  const wrongPass = 'wrong-passphrase-XYZ';
  const wrong = await OpenPgpSigner.fromArmored(key.secretArmored, { passphrase: wrongPass }).catch((e: unknown) => e);
  assert.ok(wrong instanceof KeyError);
  assert.equal(wrong.message, `cannot decrypt signing key ${key.fingerprint}: wrong passphrase`);
  assertNoSecret(wrong, [...secrets, wrongPass]);

  const ok = await OpenPgpSigner.fromArmored(key.secretArmored, { passphrase });
  assert.deepEqual(ok.fingerprints, [key.fingerprint]);
});

test('a corrupt secret key fails with KeyError that quotes none of it', async () => {
  const { key } = await testKey({ algorithm: 'ed25519' });
  const lines = key.secretArmored.split('\n');
  // Damage the base64 body: swap one character in the middle of the first body line.
  const bodyIndex = lines.findIndex((l, i) => i > 1 && l.length > 20);
  const line = lines[bodyIndex]!;
  const mid = Math.floor(line.length / 2);
  lines[bodyIndex] = line.slice(0, mid) + (line[mid] === 'A' ? 'B' : 'A') + line.slice(mid + 1);
  const corrupt = lines.join('\n');
  const truncated = key.secretArmored.slice(0, Math.floor(key.secretArmored.length / 2));
  for (const bad of [corrupt, truncated, 'garbage that is no key at all']) {
    const err = await OpenPgpSigner.fromArmored(bad).catch((e: unknown) => e);
    assert.ok(err instanceof KeyError, `expected KeyError, got ${String(err)}`);
    assert.match(err.message, /^cannot (read|use|decrypt) signing key/);
    assertNoSecret(err, secretLines(key.secretArmored));
  }
});

test('a public key given as the signing key is refused with a hint', async () => {
  const { key } = await testKey({ algorithm: 'ed25519' });
  await assert.rejects(OpenPgpSigner.fromArmored(key.publicArmored), /holds a public key only/);
});

test('loadSigner reads the passphrase from an env var and from a file (one trailing newline trimmed)', async () => {
  const dir = await tempDir();
  const passphrase = 'pass with spaces ';
  const key = await generateKey({ name: 'load', email: 'load@example.org', algorithm: 'ed25519', passphrase });
  const keyFile = path.join(dir, 'load.secret.asc');
  await writeFile(keyFile, key.secretArmored);

  process.env.LXL_TEST_SIGNING_PASS = passphrase;
  try {
    const viaEnv = await loadSigner({ keyFile, passphraseEnv: 'LXL_TEST_SIGNING_PASS' });
    assert.deepEqual(viaEnv.fingerprints, [key.fingerprint]);
  } finally {
    delete process.env.LXL_TEST_SIGNING_PASS;
  }
  await assert.rejects(loadSigner({ keyFile, passphraseEnv: 'LXL_TEST_SIGNING_PASS' }), /LXL_TEST_SIGNING_PASS is not set/);

  const passFile = path.join(dir, 'pass');
  await writeFile(passFile, `${passphrase}\n`);
  const viaFile = await loadSigner({ keyFile, passphraseFile: passFile });
  assert.deepEqual(viaFile.fingerprints, [key.fingerprint]);

  await writeFile(passFile, `${passphrase}\n\n`); // only one newline is trimmed: this is a wrong passphrase
  await assert.rejects(loadSigner({ keyFile, passphraseFile: passFile }), /wrong passphrase/);
  await assert.rejects(loadSigner({ keyFile: path.join(dir, 'missing.asc') }), /cannot read signing key .*missing\.asc: ENOENT/);
});

test('a v6 key is refused: apt, rpm and gpgv 2.2 cannot read v6 signatures', async () => {
  const v6 = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ name: 'v6', email: 'v6@example.org' }], config: { v6Keys: true }, format: 'armored' });
  await assert.rejects(OpenPgpSigner.fromArmored(v6.privateKey), /it is a v6 key; apt, rpm and gpgv 2.2 read only v4 keys/);
});
