// `lxl keys generate|import|export|show` through the real CLI, checked with gpg
// and gpgv; passphrases from env and file; failures leave nothing and leak nothing.
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadSigner } from '../../repo-layout/signing/openpgp-signer.js';
import { lxl, missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';

const noGpg = missingTools('gpg', 'gpgv');

/** Fingerprints gpg --show-keys reads from a key file. */
async function gpgFingerprints(file: string): Promise<string[]> {
  const home = await tempDir('lxl-gnupg-');
  const out = (await run('gpg', ['--homedir', home, '--with-colons', '--show-keys', file])).stdout;
  return out
    .split('\n')
    .filter((l) => l.startsWith('fpr:'))
    .map((l) => l.split(':')[9]!);
}

for (const algorithm of ['rsa4096', 'ed25519'] as const) {
  test(`lxl keys generate (${algorithm}) writes the three files that gpg reads, secret mode 0600`, { skip: noGpg }, async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'keys');
    const r = await lxl(['keys', 'generate', '--name', 'repo', '--email', 'repo@example.org', '--out', out, '--algorithm', algorithm]);
    const fingerprint = r.stdout.trim();
    assert.match(fingerprint, /^[0-9A-F]{40}$/);
    assert.deepEqual((await readdir(out)).sort(), ['repo.asc', 'repo.gpg', 'repo.secret.asc']);
    assert.equal((await stat(path.join(out, 'repo.secret.asc'))).mode & 0o777, 0o600);
    assert.equal((await stat(path.join(out, 'repo.gpg'))).mode & 0o077, 0o044, 'public keyring is world-readable');
    for (const file of ['repo.asc', 'repo.gpg', 'repo.secret.asc']) {
      assert.deepEqual(await gpgFingerprints(path.join(out, file)), [fingerprint], file);
    }
    const show = await lxl(['keys', 'show', '--key', path.join(out, 'repo.secret.asc')]);
    assert.match(show.stdout, new RegExp(`^sec ${fingerprint} .*repo <repo@example\\.org>`));

    // The generated files work end to end: sign with the secret, verify with the .gpg keyring.
    const signer = await loadSigner({ keyFile: path.join(out, 'repo.secret.asc') });
    await writeFile(path.join(dir, 'data'), 'hello\n');
    await writeFile(path.join(dir, 'data.sig'), await signer.detachBinary('hello\n'));
    await run('gpgv', ['--keyring', path.join(out, 'repo.gpg'), path.join(dir, 'data.sig'), path.join(dir, 'data')]);
  });
}

test('lxl keys generate refuses to overwrite a key; --force replaces it', async () => {
  const out = await tempDir();
  const first = (await lxl(['keys', 'generate', '--name', 'k', '--email', 'k@example.org', '--out', out, '--algorithm', 'ed25519'])).stdout.trim();
  const again = await lxl(['keys', 'generate', '--name', 'k', '--email', 'k@example.org', '--out', out, '--algorithm', 'ed25519'], { allowFail: true });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^lxl: cannot write key file .*k\.secret\.asc: it already exists/);
  assert.equal(again.stderr.trim().split('\n').length, 1, 'one line');
  const forced = (await lxl(['keys', 'generate', '--name', 'k', '--email', 'k@example.org', '--out', out, '--algorithm', 'ed25519', '--force'])).stdout.trim();
  assert.notEqual(forced, first);
  assert.deepEqual((await readdir(out)).sort(), ['k.asc', 'k.gpg', 'k.secret.asc'], 'no temp files left');
});

test('lxl keys generate rejects bad input with one line and leaves nothing at --out', async () => {
  const dir = await tempDir();
  const cases: Array<[string[], RegExp]> = [
    [['--name', '../evil', '--email', 'e@example.org'], /cannot use key name/],
    [['--name', 'ok', '--email', 'no-address'], /not an e-mail address/],
    [['--name', 'ok', '--email', 'e@example.org', '--algorithm', 'dsa'], /Allowed choices are/],
    [['--name', 'ok', '--email', 'e@example.org', '--passphrase-env', 'LXL_TEST_UNSET_VAR'], /LXL_TEST_UNSET_VAR is not set/],
  ];
  for (const [args, message] of cases) {
    const out = path.join(dir, 'out');
    const r = await lxl(['keys', 'generate', '--out', out, ...args], { allowFail: true, env: { ...process.env, LXL_TEST_UNSET_VAR: undefined } });
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, message);
    await assert.rejects(stat(out), /ENOENT/, `nothing at --out for ${args.join(' ')}`);
  }
});

test('a passphrase-protected key: generate with --passphrase-env, import with env and with file, wrong passphrase fails cleanly', { skip: noGpg }, async () => {
  const dir = await tempDir();
  const passphrase = 'Tr0ub4dor & 3 spaces   ';
  const env = { ...process.env, LXL_TEST_PASS: passphrase };
  const gen = path.join(dir, 'gen');
  const fingerprint = (
    await lxl(['keys', 'generate', '--name', 'enc', '--email', 'enc@example.org', '--out', gen, '--algorithm', 'ed25519', '--passphrase-env', 'LXL_TEST_PASS'], { env })
  ).stdout.trim();
  const secretFile = path.join(gen, 'enc.secret.asc');
  const secret = await readFile(secretFile, 'utf8');
  assert.match(secret, /BEGIN PGP PRIVATE KEY BLOCK/);

  // gpg agrees the key is protected by exactly this passphrase.
  const home = await tempDir('lxl-gnupg-');
  const passFile = path.join(dir, 'pass.txt');
  await writeFile(passFile, `${passphrase}\n`);
  try {
    await run('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase-file', passFile, '--import', secretFile]);
    const listed = (await run('gpg', ['--homedir', home, '--with-colons', '--list-secret-keys'])).stdout;
    assert.match(listed, new RegExp(`fpr:+${fingerprint}:`));
  } finally {
    await run('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { allowFail: true });
  }

  const viaEnv = path.join(dir, 'env');
  const r1 = await lxl(['keys', 'import', '--key', secretFile, '--name', 'repo', '--out', viaEnv, '--passphrase-env', 'LXL_TEST_PASS'], { env });
  assert.equal(r1.stdout.trim(), fingerprint);
  assert.deepEqual((await readdir(viaEnv)).sort(), ['repo.asc', 'repo.gpg', 'repo.secret.asc']);
  assert.equal(await readFile(path.join(viaEnv, 'repo.secret.asc'), 'utf8'), secret, 'stored still encrypted, as given');

  const viaFile = path.join(dir, 'file');
  const r2 = await lxl(['keys', 'import', '--key', secretFile, '--name', 'repo', '--out', viaFile, '--passphrase-file', passFile]);
  assert.equal(r2.stdout.trim(), fingerprint);

  // The imported key signs: loadSigner with the file passphrase, gpgv with the exported keyring.
  const signer = await loadSigner({ keyFile: path.join(viaFile, 'repo.secret.asc'), passphraseFile: passFile });
  const inRelease = path.join(dir, 'InRelease');
  await writeFile(inRelease, await signer.clearsign('Origin: lxl\n'));
  await run('gpgv', ['--keyring', path.join(viaFile, 'repo.gpg'), inRelease]);

  const wrong = path.join(dir, 'wrong');
  const bad = await lxl(['keys', 'import', '--key', secretFile, '--name', 'repo', '--out', wrong, '--passphrase-env', 'LXL_TEST_PASS'], {
    allowFail: true,
    env: { ...process.env, LXL_TEST_PASS: 'not-the-passphrase', LXL_DEBUG: '1' },
  });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, new RegExp(`^lxl: cannot decrypt signing key ${fingerprint}: wrong passphrase \\[E_KEY\\]`));
  assert.ok(!bad.stderr.includes('not-the-passphrase') && !bad.stderr.includes(passphrase.trim()), 'no passphrase in the error');
  for (const line of secret.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) {
    assert.ok(!bad.stderr.includes(line), 'no secret key bytes in the error');
  }
  await assert.rejects(stat(wrong), /ENOENT/, 'nothing written on failure');

  const none = await lxl(['keys', 'import', '--key', secretFile, '--name', 'repo', '--out', wrong], { allowFail: true });
  assert.match(none.stderr, /passphrase-protected and no passphrase was given/);
});

test('lxl keys export writes .asc and .gpg of a secret or public key, with no secret in them', { skip: noGpg }, async () => {
  const dir = await tempDir();
  const fingerprint = (await lxl(['keys', 'generate', '--name', 'src', '--email', 'src@example.org', '--out', dir, '--algorithm', 'ed25519'])).stdout.trim();
  for (const from of ['src.secret.asc', 'src.asc']) {
    const out = path.join(dir, `export-${from}`);
    const r = await lxl(['keys', 'export', '--key', path.join(dir, from), '--out', out, '--name', 'archive-key']);
    assert.equal(r.stdout.trim(), fingerprint);
    assert.deepEqual((await readdir(out)).sort(), ['archive-key.asc', 'archive-key.gpg']);
    assert.deepEqual(await gpgFingerprints(path.join(out, 'archive-key.gpg')), [fingerprint]);
    const home = await tempDir('lxl-gnupg-');
    const packets = (await run('gpg', ['--homedir', home, '--list-packets', path.join(out, 'archive-key.gpg')])).stdout;
    assert.ok(!/secret key packet/.test(packets), 'public export holds no secret key packet');
    assert.equal(await readFile(path.join(out, 'archive-key.asc'), 'utf8'), await readFile(path.join(dir, 'src.asc'), 'utf8'));
  }
});

test('lxl keys export of a corrupt key fails with one line and quotes none of the key', async () => {
  const dir = await tempDir();
  await lxl(['keys', 'generate', '--name', 'c', '--email', 'c@example.org', '--out', dir, '--algorithm', 'ed25519']);
  const secret = await readFile(path.join(dir, 'c.secret.asc'), 'utf8');
  const corrupt = path.join(dir, 'corrupt.asc');
  await writeFile(corrupt, secret.slice(0, Math.floor(secret.length * 0.6)));
  const out = path.join(dir, 'out');
  const r = await lxl(['keys', 'export', '--key', corrupt, '--out', out, '--name', 'x'], { allowFail: true });
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^lxl: cannot read key: not an OpenPGP key/);
  for (const line of secret.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) assert.ok(!r.stderr.includes(line));
  await assert.rejects(stat(out), /ENOENT/);
});

test('lxl keys --help lists every subcommand', async () => {
  const r = await lxl(['keys', '--help']);
  for (const sub of ['generate', 'import', 'export', 'show']) assert.match(r.stdout, new RegExp(`^  ${sub} `, 'm'));
  for (const sub of ['generate', 'import', 'export', 'show']) {
    const h = await lxl(['keys', sub, '--help']);
    assert.match(h.stdout, /--key|--name/);
  }
});

test('a passphrase-protected key made by gpg (signing subkey) imports, signs, and gpgv and sqv accept it', { skip: noGpg ?? missingTools('sqv') }, async () => {
  const dir = await tempDir();
  const home = await tempDir('lxl-gnupg-');
  const passFile = path.join(dir, 'pass');
  await writeFile(passFile, 'gpg made this\n');
  const gpg = (...args: string[]) => run('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase-file', passFile, ...args]);
  try {
    // Primary certifies only; a separate subkey signs, as many existing archive keys do.
    await gpg('--quick-generate-key', 'Archive <archive@example.org>', 'ed25519', 'cert', 'never');
    const fpr = (await gpg('--with-colons', '--list-keys')).stdout.split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9]!;
    await gpg('--quick-add-key', fpr, 'ed25519', 'sign', 'never');
    const secretFile = path.join(dir, 'gpg.secret.asc');
    await gpg('--armor', '--output', secretFile, '--export-secret-keys', fpr);

    const out = path.join(dir, 'keys');
    const r = await lxl(['keys', 'import', '--key', secretFile, '--name', 'archive', '--out', out, '--passphrase-file', passFile]);
    assert.equal(r.stdout.trim(), fpr);
    const signer = await loadSigner({ keyFile: path.join(out, 'archive.secret.asc'), passphraseFile: passFile });
    const data = path.join(dir, 'Release');
    await writeFile(data, 'Origin: gpg-key\n');
    await writeFile(`${data}.gpg`, await signer.detachArmored('Origin: gpg-key\n'));
    await writeFile(path.join(dir, 'InRelease'), await signer.clearsign('Origin: gpg-key\n'));
    const keyring = path.join(out, 'archive.gpg');
    const v = await run('gpgv', ['--status-fd', '1', '--keyring', keyring, `${data}.gpg`, data]);
    // The signature comes from the subkey, on behalf of the primary.
    assert.match(v.stdout, new RegExp(`VALIDSIG [0-9A-F]{40} .* ${fpr}$`, 'm'));
    assert.doesNotMatch(v.stdout, new RegExp(`VALIDSIG ${fpr} `));
    await run('gpgv', ['--keyring', keyring, path.join(dir, 'InRelease')]);
    await run('sqv', ['--keyring', keyring, `${data}.gpg`, data]);
  } finally {
    await run('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { allowFail: true });
  }
});
