// Our rpms against the real rpm tools: query, signature and digest checks,
// install into a root with scriptlets, rpmlint, tamper detection, el5 profile.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { missingTools, run } from '../support/exec.js';
import { tempDir } from '../support/tmp.js';
import { testKey } from '../support/test-key.js';
import { OpenPgpSigner } from '../../repo-layout/signing/openpgp-signer.js';
import { readRpmFile } from '../../repo-layout/rpm/rpm-reader.js';
import { rpmFiles } from '../../repo-layout/rpm/rpm-main-header.js';
import { fixtureSpec, packRpm } from './rpm-fixture.js';

const skip = missingTools('rpm', 'rpmkeys', 'rpmlint', 'busybox');

/** A scratch rpm root with our public key imported (rpm --root keeps its db inside). */
async function keyedRoot(dir: string, keyFile: string): Promise<string> {
  const root = path.join(dir, 'keyring');
  await mkdir(root, { recursive: true });
  await run('rpmkeys', ['--root', root, '--import', keyFile]);
  return root;
}

test('rpm -qpi/-qpl/-K and rpmkeys --checksig accept a signed modern rpm', { skip }, async () => {
  const dir = await tempDir();
  const { signer, key, dir: keyDir } = await testKey();
  const spec = await fixtureSpec(dir, { scripts: true, provides: ['installonlypkg(kernel)', 'kernel (= 6.1.192-1)'] });
  const rpm = await packRpm(spec, path.join(dir, 'out'), { signer });
  const root = await keyedRoot(dir, path.join(keyDir, 'lxl-test-rsa4096.asc'));
  const keyId = key.fingerprint.slice(-8).toLowerCase();

  const qpi = await run('rpm', ['--root', root, '-qpi', rpm]);
  assert.match(qpi.stdout, /^Name\s+: kernel-xen-legacy$/m);
  assert.match(qpi.stdout, /^Version\s+: 6\.1\.192$/m);
  assert.match(qpi.stdout, /^Release\s+: 1$/m);
  assert.match(qpi.stdout, /^Architecture: x86_64$/m);
  assert.match(qpi.stdout, new RegExp(`^Signature\\s+: RSA/SHA256, .*Key ID ${key.fingerprint.slice(-16).toLowerCase()}$`, 'm'));

  const qpl = await run('rpm', ['--root', root, '-qpl', rpm]);
  const expected = rpmFiles(spec).map((f) => `/${f.path}`);
  assert.deepEqual(qpl.stdout.trim().split('\n'), expected);
  assert.ok(!expected.includes('/boot') && !expected.includes('/lib/modules'), 'system directories are not owned');

  const k = await run('rpm', ['--root', root, '-Kv', rpm]);
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
  const cs = await run('rpmkeys', ['--root', root, '--checksig', rpm]);
  assert.match(cs.stdout, /: digests signatures OK$/m);

  const deps = await run('rpm', ['-qp', '--provides', rpm]);
  assert.match(deps.stdout, /^installonlypkg\(kernel\)$/m);
  assert.match(deps.stdout, /^kernel = 6\.1\.192-1$/m);
  assert.match(deps.stdout, /^kernel-xen-legacy\(x86-64\) = 6\.1\.192-1$/m);

  // Our reader agrees with rpm's own view of the header.
  const info = await readRpmFile(rpm, { verify: true });
  const q = await run('rpm', ['-qp', '--qf', '%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SIZE}|%{BUILDTIME}|%{SOURCERPM}', rpm]);
  assert.equal(q.stdout, [info.name, info.version, info.release, info.arch, info.size, info.buildtime, info.sourcerpm].join('|'));
});

test('rpm -i --root installs files with their modes and runs the scriptlets', { skip }, async () => {
  const dir = await tempDir();
  const spec = await fixtureSpec(dir, { scripts: true });
  const rpm = await packRpm(spec, path.join(dir, 'out'));
  // The scriptlets run chrooted in the target: give it a static /bin/sh (busybox-static).
  const root = path.join(dir, 'target');
  await mkdir(path.join(root, 'bin'), { recursive: true });
  await copyFile((await run('sh', ['-c', 'command -v busybox'])).stdout.trim(), path.join(root, 'bin/busybox'));
  await run('ln', ['-s', 'busybox', path.join(root, 'bin/sh')]);
  await run('rpm', ['--root', root, '--initdb']);
  await run('rpm', ['--root', root, '-i', '--nodeps', rpm]);

  for (const f of rpmFiles(spec)) {
    const st = await lstat(path.join(root, f.path));
    if (f.type === 'symlink') {
      assert.ok(st.isSymbolicLink(), f.path);
      assert.equal(await readlink(path.join(root, f.path)), f.target);
    } else if (f.type === 'dir') {
      assert.ok(st.isDirectory(), f.path);
      assert.equal(st.mode & 0o7777, f.mode, `${f.path} mode`);
    } else {
      assert.equal(st.mode & 0o7777, f.mode, `${f.path} mode`);
      assert.equal(st.size, f.size, `${f.path} size`);
      assert.equal(st.mtimeMs / 1000, spec.sourceDateEpoch, `${f.path} mtime`);
      assert.deepEqual(await readFile(path.join(root, f.path)), f.content ?? (await readFile(f.source!)));
    }
  }
  assert.equal((await lstat(path.join(root, 'etc/xen-legacy/secret.conf'))).mode & 0o777, 0o600);
  assert.equal((await lstat(path.join(root, 'usr/sbin/xen-legacy-tool'))).mode & 0o777, 0o755);
  // rpm passes the count of installed instances as $1 (1 on first install).
  assert.equal(await readFile(path.join(root, 'lxl-preinst-marker'), 'utf8'), 'pre 1\n');
  assert.equal(await readFile(path.join(root, 'lxl-postinst-marker'), 'utf8'), 'post 1\n');
  const v = await run('rpm', ['--root', root, '-V', '--nodeps', 'kernel-xen-legacy'], { allowFail: true });
  assert.equal(v.stdout.trim(), '', `rpm -V found differences:\n${v.stdout}`);
});

// rpmlint errors we accept, each with its reason.
const EXPECTED_RPMLINT_ERRORS: Record<string, string> = {
  // rpmlint checks signatures against the host's rpm keyring, which does not hold our throwaway test key.
  'unknown-key': 'test key not in the host rpm keyring',
  // The fixture's "modules" are text, not ELF; a real kernel package carries ELF modules.
  'no-binary': 'fixture has no ELF files',
  // The fixture ships /etc/xen-legacy/secret.conf as 0600 on purpose, to check that modes survive.
  'non-readable': 'deliberate 0600 file',
};

test('rpmlint reports no errors except the named, explained ones', { skip }, async () => {
  const dir = await tempDir();
  const { signer } = await testKey();
  const spec = await fixtureSpec(dir, { scripts: true });
  const rpm = await packRpm(spec, path.join(dir, 'out'), { signer });
  const r = await run('rpmlint', [rpm], { allowFail: true });
  const errors = [...r.stdout.matchAll(/: E: (\S+)/g)].map((m) => m[1]);
  const unexpected = errors.filter((e) => !(e in EXPECTED_RPMLINT_ERRORS));
  assert.deepEqual(unexpected, [], `unexpected rpmlint errors:\n${r.stdout}`);
  assert.match(r.stdout, /1 packages and 0 specfiles checked/);
});

async function flip(src: string, dest: string, at: number): Promise<void> {
  const b = await readFile(src);
  b[at] ^= 0x01;
  await writeFile(dest, b);
}

test('one flipped byte in the payload or in the header makes rpm -K fail', { skip }, async () => {
  const dir = await tempDir();
  const { signer, dir: keyDir } = await testKey();
  const spec = await fixtureSpec(dir, {});
  const rpm = await packRpm(spec, path.join(dir, 'out'), { signer });
  const root = await keyedRoot(dir, path.join(keyDir, 'lxl-test-rsa4096.asc'));
  const info = await readRpmFile(rpm);
  const size = (await readFile(rpm)).length;
  assert.equal((await run('rpm', ['--root', root, '-K', rpm])).code, 0);

  const payloadBad = path.join(dir, 'payload-bad.rpm');
  await flip(rpm, payloadBad, info.headerEnd + Math.floor((size - info.headerEnd) / 2));
  const p = await run('rpm', ['--root', root, '-Kv', payloadBad], { allowFail: true });
  assert.notEqual(p.code, 0, `rpm -K accepted a damaged payload:\n${p.stdout}`);
  assert.match(p.stdout + p.stderr, /Payload SHA256 digest: BAD|MD5 digest: BAD/);

  // A byte inside the description string of the main header's data store.
  const bytes = await readFile(rpm);
  const at = bytes.indexOf(Buffer.from('It has two lines.'), info.headerStart);
  assert.ok(at > info.headerStart && at < info.headerEnd);
  const headerBad = path.join(dir, 'header-bad.rpm');
  await flip(rpm, headerBad, at);
  const h = await run('rpm', ['--root', root, '-Kv', headerBad], { allowFail: true });
  assert.notEqual(h.code, 0, `rpm -K accepted a damaged header:\n${h.stdout}`);
  assert.match(h.stdout + h.stderr, /Header SHA256 digest: BAD|BAD/);
});

test('rpm -K and rpmkeys --checksig accept an rpm signed with an Ed25519 key (EdDSA)', { skip }, async () => {
  const dir = await tempDir();
  const { signer, key, dir: keyDir } = await testKey({ algorithm: 'ed25519' });
  const rpm = await packRpm(await fixtureSpec(dir, { extras: false }), path.join(dir, 'out'), { signer });
  const root = await keyedRoot(dir, path.join(keyDir, 'lxl-test-ed25519.asc'));
  const keyId = key.fingerprint.slice(-8).toLowerCase();
  const k = await run('rpm', ['--root', root, '-Kv', rpm]);
  assert.match(k.stdout, new RegExp(`Header V4 EdDSA/SHA256 Signature, key ID ${keyId}: OK`));
  assert.match(k.stdout, new RegExp(`V4 EdDSA/SHA256 Signature, key ID ${keyId}: OK`));
  assert.match((await run('rpmkeys', ['--root', root, '--checksig', rpm])).stdout, /: digests signatures OK$/m);
});

test('el5 profile: gzip payload, MD5 file digests, no rpmlib(FileDigests), SHA-1 signatures', { skip }, async () => {
  const dir = await tempDir();
  const { signer, key, dir: keyDir } = await testKey();
  const spec = await fixtureSpec(dir, { scripts: true });
  const rpm = await packRpm(spec, path.join(dir, 'out'), { signer, profile: 'el5' });
  const root = await keyedRoot(dir, path.join(keyDir, 'lxl-test-rsa4096.asc'));
  const q = await run('rpm', ['-qp', '--qf', '%{PAYLOADCOMPRESSOR}|%{RSAHEADER:pgpsig}|%{SIGPGP:pgpsig}\n[%{FILEDIGESTS}\n]', rpm]);
  const [head, ...digests] = q.stdout.trim().split('\n');
  const [comp, rsa, pgp] = head.split('|');
  assert.equal(comp, 'gzip');
  assert.match(rsa, new RegExp(`^RSA/SHA1, .*Key ID ${key.fingerprint.slice(-16).toLowerCase()}$`));
  assert.match(pgp, /^RSA\/SHA1, /);
  const fileDigests = digests.filter(Boolean);
  assert.ok(fileDigests.length > 0 && fileDigests.every((d) => /^[0-9a-f]{32}$/.test(d)), `MD5 digests expected: ${fileDigests.join(' ')}`);
  const req = await run('rpm', ['-qp', '--requires', rpm]);
  assert.doesNotMatch(req.stdout, /rpmlib\(FileDigests\)|rpmlib\(PayloadIsXz\)/);
  const k = await run('rpm', ['--root', root, '-Kv', rpm]);
  assert.match(k.stdout, /Header V4 RSA\/SHA1 Signature, key ID [0-9a-f]+: OK/);
  assert.match(k.stdout, /MD5 digest: OK/);
  assert.match(k.stdout, /Payload SHA256 digest: OK/);
});

test('output is byte-identical across runs (unsigned, and signed with a pinned clock)', { skip: missingTools('xz') }, async () => {
  const dir = await tempDir();
  const spec = await fixtureSpec(dir, { scripts: true });
  const a = await readFile(await packRpm(spec, path.join(dir, 'a')));
  const b = await readFile(await packRpm(spec, path.join(dir, 'b')));
  assert.ok(a.equals(b), 'unsigned rpms differ');
  const { key } = await testKey();
  const now = (): Date => new Date('2024-01-01T00:00:00Z');
  const s1 = await OpenPgpSigner.fromArmored(key.secretArmored, { now });
  const c = await readFile(await packRpm(spec, path.join(dir, 'c'), { signer: s1 }));
  const d = await readFile(await packRpm(spec, path.join(dir, 'd'), { signer: s1 }));
  assert.ok(c.equals(d), 'signed rpms differ');
});
