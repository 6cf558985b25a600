// Our signatures checked by the real verifiers: gpgv (clearsigned InRelease,
// detached armored and binary) and bookworm's sqv (detached only, Sequoia's
// policy), for RSA-4096 and Ed25519 keys; tampered data and foreign keys fail.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { KeyAlgorithm } from '../../repo-layout/signing/keys.js';
import { OpenPgpSigner } from '../../repo-layout/signing/openpgp-signer.js';
import { missingTools, run } from '../support/exec.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const noGpgv = missingTools('gpgv', 'gpg');
const noSqv = missingTools('sqv');

// Text with the cases the cleartext framework must handle: dash lines, "From ",
// blank lines, leading blanks.
const RELEASE = [
  'Origin: lxl',
  'Label: linux-xen-legacy',
  'Suite: stable',
  'Date: Wed, 01 May 2024 12:00:00 UTC',
  '-----BEGIN PGP SIGNATURE----- (a line that looks like armor)',
  '- dash',
  'From the past',
  '',
  ' leading blank',
  'SHA256:',
  ' 0123456789abcdef 42 main/binary-amd64/Packages',
  '',
].join('\n');

/** Runs gpgv with one keyring; resolves to its exit code and the GOODSIG fingerprints it reported. */
async function gpgv(keyring: string, ...files: string[]): Promise<{ code: number; good: number; out: string }> {
  const r = await run('gpgv', ['--status-fd', '1', '--keyring', keyring, ...files], { allowFail: true });
  return { code: r.code, good: (r.stdout.match(/^\[GNUPG:\] GOODSIG /gm) ?? []).length, out: r.stdout + r.stderr };
}

/** Runs sqv; resolves to its exit code and output. */
async function sqv(keyring: string, sig: string, data: string, extra: string[] = []): Promise<{ code: number; out: string }> {
  const r = await run('sqv', [...extra, '--keyring', keyring, sig, data], { allowFail: true });
  return { code: r.code, out: r.stdout + r.stderr };
}

/** Writes a copy of `file` with one byte flipped in the middle. */
async function flipped(file: string): Promise<string> {
  const bytes = await readFile(file);
  bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
  const out = `${file}.flipped`;
  await writeFile(out, bytes);
  return out;
}

interface Fixture {
  dir: string;
  keyring: string;
  otherKeyring: string;
  data: string;
  signer: OpenPgpSigner;
  other: OpenPgpSigner;
}

/** Signing material for one algorithm: our key, a second unrelated key, both keyrings, a data file. */
async function fixture(algorithm: KeyAlgorithm): Promise<Fixture> {
  const dir = await tempDir(`lxl-sign-${algorithm}-`);
  const main = await testKey({ algorithm });
  const other = await testKey({ algorithm, name: `lxl-test-other-${algorithm}` });
  const keyring = path.join(dir, 'key.gpg');
  const otherKeyring = path.join(dir, 'other.gpg');
  await writeFile(keyring, main.signer.publicKeyBinary());
  await writeFile(otherKeyring, other.signer.publicKeyBinary());
  const data = path.join(dir, 'Release');
  await writeFile(data, RELEASE);
  return { dir, keyring, otherKeyring, data, signer: main.signer, other: other.signer };
}

for (const algorithm of ['rsa4096', 'ed25519'] as const) {
  test(`gpgv accepts our ${algorithm} clearsigned text and rejects a flipped byte and a foreign key`, { skip: noGpgv }, async () => {
    const f = await fixture(algorithm);
    const inRelease = path.join(f.dir, 'InRelease');
    await writeFile(inRelease, await f.signer.clearsign(RELEASE));
    const ok = await gpgv(f.keyring, inRelease);
    assert.equal(ok.code, 0, ok.out);
    assert.equal(ok.good, 1, ok.out);

    // gpgv --output gives back the signed text: the Release file, byte for byte.
    const extracted = path.join(f.dir, 'extracted');
    await run('gpgv', ['--keyring', f.keyring, '--output', extracted, inRelease]);
    assert.equal(await readFile(extracted, 'utf8'), RELEASE);

    const tampered = path.join(f.dir, 'InRelease.tampered');
    await writeFile(tampered, (await readFile(inRelease, 'utf8')).replace('Suite: stable', 'Suite: stabla'));
    assert.notEqual((await gpgv(f.keyring, tampered)).code, 0);
    const foreign = path.join(f.dir, 'InRelease.foreign');
    await writeFile(foreign, await f.other.clearsign(RELEASE));
    assert.notEqual((await gpgv(f.keyring, foreign)).code, 0);
  });

  test(`gpgv accepts our ${algorithm} detached armored and binary signatures, not tampered data`, { skip: noGpgv }, async () => {
    const f = await fixture(algorithm);
    const armored = path.join(f.dir, 'Release.gpg');
    const binary = path.join(f.dir, 'Release.sig');
    await writeFile(armored, await f.signer.detachArmored(RELEASE));
    await writeFile(binary, await f.signer.detachBinary(await readFile(f.data)));
    const bad = await flipped(f.data);
    for (const sig of [armored, binary]) {
      const ok = await gpgv(f.keyring, sig, f.data);
      assert.equal(ok.code, 0, ok.out);
      assert.equal(ok.good, 1);
      assert.notEqual((await gpgv(f.keyring, sig, bad)).code, 0, 'flipped byte must fail');
      assert.notEqual((await gpgv(f.otherKeyring, sig, f.data)).code, 0, 'other key must fail');
    }
  });

  test(`sqv accepts our ${algorithm} detached signatures, not tampered data or a foreign key`, { skip: noSqv }, async () => {
    const f = await fixture(algorithm);
    const armored = path.join(f.dir, 'Release.gpg');
    const binary = path.join(f.dir, 'Release.sig');
    await writeFile(armored, await f.signer.detachArmored(RELEASE));
    await writeFile(binary, await f.signer.detachBinary(RELEASE));
    const bad = await flipped(f.data);
    for (const sig of [armored, binary]) {
      const ok = await sqv(f.keyring, sig, f.data);
      assert.equal(ok.code, 0, ok.out);
      assert.match(ok.out, new RegExp(f.signer.fingerprints[0]!));
      assert.notEqual((await sqv(f.keyring, sig, bad)).code, 0, 'flipped byte must fail');
      assert.notEqual((await sqv(f.otherKeyring, sig, f.data)).code, 0, 'other key must fail');
    }
  });
}

test('gpg --list-packets: SHA-512 (algo 10) data signatures and a non-SHA-1 self-signature', { skip: noGpgv }, async () => {
  const f = await fixture('rsa4096');
  const home = await tempDir('lxl-gnupg-');
  const sig = path.join(f.dir, 'Release.sig');
  await writeFile(sig, await f.signer.detachBinary(RELEASE));
  const sigDump = (await run('gpg', ['--homedir', home, '--list-packets', sig])).stdout;
  assert.match(sigDump, /version 4, created \d+, md5len 0, sigclass 0x00/);
  assert.match(sigDump, /digest algo 10,/);
  const keyDump = (await run('gpg', ['--homedir', home, '--list-packets', f.keyring])).stdout;
  const selfSigAlgos = [...keyDump.matchAll(/digest algo (\d+),/g)].map((m) => Number(m[1]));
  assert.ok(selfSigAlgos.length > 0);
  assert.ok(selfSigAlgos.every((a) => a !== 2), `self-signature uses SHA-1: ${selfSigAlgos.join(',')}`);
  assert.match(keyDump, /pref-hash-algos: 10 8/);
  assert.match(keyDump, /version 4, algo 1,/);
});

test('our clearsigned text matches gpg --clearsign byte for byte up to the signature', { skip: noGpgv }, async () => {
  const { key, signer } = await testKey({ algorithm: 'ed25519' });
  const home = await tempDir('lxl-gnupg-');
  const dir = await tempDir();
  const secret = path.join(dir, 'k.asc');
  await writeFile(secret, key.secretArmored);
  await run('gpg', ['--homedir', home, '--batch', '--import', secret]);
  try {
    for (const text of [RELEASE, RELEASE.trimEnd(), `${RELEASE}\n`, 'one line\n', '-\n']) {
      const input = path.join(dir, 'in');
      await writeFile(input, text);
      const theirs = (
        await run('gpg', ['--homedir', home, '--batch', '--yes', '--digest-algo', 'SHA512', '--local-user', key.fingerprint, '--output', '-', '--clearsign', input])
      ).stdout;
      const ours = await signer.clearsign(text);
      const head = (s: string) => s.slice(0, s.indexOf('-----BEGIN PGP SIGNATURE-----'));
      assert.equal(head(ours), head(theirs), `text ${JSON.stringify(text)}`);
    }
  } finally {
    await run('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { allowFail: true });
  }
});

test('trailing blanks are removed from the clearsigned text, and it still verifies', { skip: noGpgv }, async () => {
  const f = await fixture('ed25519');
  const inRelease = path.join(f.dir, 'InRelease');
  await writeFile(inRelease, await f.signer.clearsign('Origin: lxl  \nLabel: x\t\n'));
  assert.equal((await gpgv(f.keyring, inRelease)).code, 0);
  const extracted = path.join(f.dir, 'out');
  await run('gpgv', ['--keyring', f.keyring, '--output', extracted, inRelease]);
  assert.equal(await readFile(extracted, 'utf8'), 'Origin: lxl\nLabel: x\n');
});

test('rotation: gpgv sees two good signatures in InRelease and Release.gpg; sqv -n 2 accepts', { skip: noGpgv ?? noSqv }, async () => {
  const a = await testKey({ algorithm: 'rsa4096' });
  const b = await testKey({ algorithm: 'ed25519' });
  const signer = await OpenPgpSigner.fromArmored([a.key.secretArmored, b.key.secretArmored]);
  const dir = await tempDir();
  const keyring = path.join(dir, 'both.gpg');
  await writeFile(keyring, signer.publicKeyBinary());
  const data = path.join(dir, 'Release');
  await writeFile(data, RELEASE);
  const inRelease = path.join(dir, 'InRelease');
  const releaseGpg = path.join(dir, 'Release.gpg');
  await writeFile(inRelease, await signer.clearsign(RELEASE));
  await writeFile(releaseGpg, await signer.detachArmored(RELEASE));
  const clear = await gpgv(keyring, inRelease);
  assert.equal(clear.code, 0, clear.out);
  assert.equal(clear.good, 2);
  const detached = await gpgv(keyring, releaseGpg, data);
  assert.equal(detached.code, 0, detached.out);
  assert.equal(detached.good, 2);
  const both = await sqv(keyring, releaseGpg, data, ['--signatures', '2']);
  assert.equal(both.code, 0, both.out);
  // Only the old key in the client's keyring: the old key's signature is enough for sqv.
  const oldOnly = path.join(dir, 'old.gpg');
  await writeFile(oldOnly, a.key.publicBinary);
  assert.equal((await sqv(oldOnly, releaseGpg, data)).code, 0);
});

test('SHA-1 and SHA-256 signatures (rpm EL5 profile): gpgv accepts both, sqv rejects SHA-1 by policy', { skip: noGpgv ?? noSqv }, async () => {
  const f = await fixture('rsa4096');
  for (const hash of ['sha1', 'sha256'] as const) {
    const sig = path.join(f.dir, `Release.${hash}.sig`);
    await writeFile(sig, await f.signer.detachBinary(RELEASE, { hash }));
    const g = await gpgv(f.keyring, sig, f.data);
    assert.equal(g.code, 0, g.out);
    const s = await sqv(f.keyring, sig, f.data);
    if (hash === 'sha1') assert.notEqual(s.code, 0, 'sqv must reject SHA-1 data signatures');
    else assert.equal(s.code, 0, s.out);
  }
});

test('gpgv 1.4 (old clients) accepts our RSA-4096 InRelease and Release.gpg; it cannot read Ed25519', { skip: missingTools('gpgv1') }, async () => {
  const rsa = await fixture('rsa4096');
  const inRelease = path.join(rsa.dir, 'InRelease');
  const releaseGpg = path.join(rsa.dir, 'Release.gpg');
  await writeFile(inRelease, await rsa.signer.clearsign(RELEASE));
  await writeFile(releaseGpg, await rsa.signer.detachArmored(RELEASE));
  for (const args of [[inRelease], [releaseGpg, rsa.data]]) {
    const r = await run('gpgv1', ['--status-fd', '1', '--keyring', rsa.keyring, ...args], { allowFail: true });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^\[GNUPG:\] GOODSIG /m);
  }
  const bad = await run('gpgv1', ['--keyring', rsa.keyring, releaseGpg, await flipped(rsa.data)], { allowFail: true });
  assert.notEqual(bad.code, 0);

  const ed = await fixture('ed25519');
  const edSig = path.join(ed.dir, 'Release.gpg');
  await writeFile(edSig, await ed.signer.detachArmored(RELEASE));
  const r = await run('gpgv1', ['--keyring', ed.keyring, edSig, ed.data], { allowFail: true });
  assert.notEqual(r.code, 0, 'gpgv 1.4 has no EdDSA: this is why RSA-4096 is the default');
  assert.match(r.stderr, /unknown pubkey algorithm/);
});
