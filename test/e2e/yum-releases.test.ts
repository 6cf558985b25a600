// Our rpms and YUM repos against the rpm stacks of an older and a newer release
// than the host's (bookworm: rpm 4.18, dnf 4.14, zypper 1.14; rpm-tools and
// yum-clients test those), each in a chroot made with mmdebstrap:
// - bullseye: rpm 4.16 (the version EL9 ships; rpm's own OpenPGP code), dnf
//   4.5, zypper 1.14.42;
// - trixie: rpm 4.20 verifying with rpm-sequoia (as Fedora 38+ and EL10), dnf
//   4.23 with librepo 1.20, zypper 1.14.89.
// Each checks the signed modern rpms (rpm -K, rpmkeys --checksig; an RSA and
// an Ed25519 key), installs and upgrades with dnf (gpgcheck=1,
// repo_gpgcheck=1), refuses a repo signed by an untrusted key, installs with
// zypper, and installs an el5-profile repo: rpm 4.16 accepts its RSA/SHA-1
// signatures, Sequoia's policy refuses them (so el5 repos serve EL5 guests
// only: README, Compatibility profiles).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chrootUnavailable, makeChroot, removeChroot, type Chroot, type Suite } from '../support/chroot.js';
import { missingTools, type RunResult } from '../support/exec.js';
import { serveStatic } from '../support/http-static.js';
import { tempDir } from '../support/tmp.js';
import { testKey } from '../support/test-key.js';
import { fixtureSpec, packRpm } from './rpm-fixture.js';
import { buildSet, dnfArgs, publish } from './yum-scenario.js';

const skip = chrootUnavailable() ?? missingTools('xz', 'busybox');

interface Release {
  suite: Suite;
  rpm: RegExp;
  dnf: RegExp;
  zypper: RegExp;
  /** rpm verifies with rpm-sequoia, whose policy refuses SHA-1 signatures. */
  sequoia: boolean;
}

const RELEASES: Release[] = [
  { suite: 'bullseye', rpm: /^RPM version 4\.16\./, dnf: /^4\.5\./, zypper: /^zypper 1\.14\./, sequoia: false },
  { suite: 'trixie', rpm: /^RPM version 4\.20\./, dnf: /^4\.23\./, zypper: /^zypper 1\.14\./, sequoia: true },
];

const ok = (what: string, r: RunResult): RunResult => {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
};

/** The scenario's rpms, packed once for every release: step 1 and 2 (modern), and step 1 in the el5 profile. */
const rpms = (async () => {
  const dir = await tempDir('lxl-yum-releases-');
  return {
    dir,
    step1: await buildSet(path.join(dir, 'src1'), path.join(dir, 'rpms1'), 1),
    step2: await buildSet(path.join(dir, 'src2'), path.join(dir, 'rpms2'), 2),
    el5: await buildSet(path.join(dir, 'src5'), path.join(dir, 'rpms5'), 1, { profile: 'el5' }),
    // Signed with an Ed25519 key (`lxl keys generate --algorithm ed25519`).
    ed25519: await packRpm(await fixtureSpec(path.join(dir, 'src-ed'), { extras: false }), path.join(dir, 'rpms-ed'), { signer: (await testKey({ algorithm: 'ed25519' })).signer }),
  };
})();
// A rejection is reported by the tests that await it.
rpms.catch(() => {});

/** Copies `files` into the chroot's `dir` (absolute inside it); returns their paths there. */
async function into(c: Chroot, dir: string, files: string[]): Promise<string[]> {
  await mkdir(path.join(c.root, dir), { recursive: true });
  const inside = files.map((f) => path.join(dir, path.basename(f)));
  await Promise.all(files.map((f, i) => cp(f, path.join(c.root, inside[i]))));
  return inside;
}

for (const rel of RELEASES) {
  test(`${rel.suite}'s rpm, dnf and zypper take our rpms and signed repos`, { skip, timeout: 20 * 60_000 }, async (t) => {
    const set = await rpms;
    const c = await makeChroot(rel.suite, { include: ['rpm', 'dnf', 'zypper'] });
    t.after(() => removeChroot(c));
    const { key, dir: keyDir } = await testKey();
    const keyId = key.fingerprint.slice(-8).toLowerCase();
    await cp(path.join(keyDir, 'lxl-test-rsa4096.asc'), path.join(c.root, 'key.asc'));
    const other = await testKey({ algorithm: 'ed25519' });
    await cp(path.join(other.dir, 'lxl-test-ed25519.asc'), path.join(c.root, 'other.asc'));
    const versions = {
      rpm: ok('rpm --version', await c.run(['rpm', '--version'])).stdout.trim(),
      dnf: ok('dnf --version', await c.run(['dnf', '--version'])).stdout.split('\n')[0].trim(),
      zypper: ok('zypper --version', await c.run(['zypper', '--version'])).stdout.trim(),
    };
    t.diagnostic(`${rel.suite}: ${versions.rpm}, dnf ${versions.dnf}, ${versions.zypper}`);
    assert.match(versions.rpm, rel.rpm);
    assert.match(versions.dnf, rel.dnf);
    assert.match(versions.zypper, rel.zypper);

    // The modern repo (step 1) and the el5 repo, each served on 127.0.0.1 (the chroot shares the host's network).
    const work = await tempDir(`lxl-yum-${rel.suite}-`);
    const modernRepo = path.join(work, 'modern');
    await publish(modernRepo, set.step1);
    const modern = await serveStatic(path.join(modernRepo, 'public'));
    const el5Repo = path.join(work, 'el5');
    await publish(el5Repo, set.el5, ['--profile', 'el5']);
    const el5 = await serveStatic(path.join(el5Repo, 'public'));
    // dnf's empty reposdir, and the install roots.
    for (const d of ['reposd', 'target', 'refused', 'el5']) await mkdir(path.join(c.root, d));

    await t.test('rpm -K and rpmkeys --checksig: modern rpms OK; el5 rpms OK unless Sequoia verifies', async () => {
      ok('rpmkeys --import', await c.run(['sh', '-c', 'mkdir -p /kr && rpmkeys --root /kr --import /key.asc']));
      for (const f of await into(c, '/rpms/modern', set.step1)) {
        const k = ok(`rpm -Kv ${f}`, await c.run(['rpm', '--root', '/kr', '-Kv', f]));
        for (const line of [`Header V4 RSA/SHA256 Signature, key ID ${keyId}: OK`, 'Header SHA256 digest: OK', 'Payload SHA256 digest: OK', `V4 RSA/SHA256 Signature, key ID ${keyId}: OK`]) {
          assert.ok(k.stdout.includes(line), `${rel.suite} rpm -Kv ${f} lacks "${line}":\n${k.stdout}`);
        }
        assert.doesNotMatch(k.stdout + k.stderr, /NOKEY|BAD|NOTTRUSTED|NOTFOUND/);
        assert.match(ok(`rpmkeys --checksig ${f}`, await c.run(['rpmkeys', '--root', '/kr', '--checksig', f])).stdout, /: digests signatures OK$/m);
      }
      const [el5Kernel] = await into(c, '/rpms/el5', set.el5.filter((f) => path.basename(f).startsWith('kernel-')));
      const k = await c.run(['rpm', '--root', '/kr', '-Kv', el5Kernel], { allowFail: true });
      const cs = await c.run(['rpmkeys', '--root', '/kr', '--checksig', el5Kernel], { allowFail: true });
      // The digests hold either way; only the SHA-1 signatures' verdict differs.
      assert.match(k.stdout, /Header SHA1 digest: OK/);
      assert.match(k.stdout, /MD5 digest: OK/);
      if (rel.sequoia) {
        assert.match(k.stdout, new RegExp(`Header V4 RSA/SHA1 Signature, key ID ${keyId}: NOTTRUSTED`));
        assert.match(k.stderr, /SHA1 is not considered secure/);
        assert.notEqual(cs.code, 0);
        assert.match(cs.stdout + cs.stderr, /digests SIGNATURES NOT OK/);
      } else {
        assert.match(k.stdout, new RegExp(`Header V4 RSA/SHA1 Signature, key ID ${keyId}: OK`));
        assert.match(ok('rpmkeys --checksig (el5)', cs).stdout, /: digests signatures OK$/m);
      }
    });

    await t.test('rpm -K: an rpm signed with an Ed25519 key (EdDSA) verifies', async () => {
      ok('rpmkeys --import (ed25519)', await c.run(['sh', '-c', 'mkdir -p /ked && rpmkeys --root /ked --import /other.asc']));
      const [f] = await into(c, '/rpms/ed25519', [set.ed25519]);
      const edId = other.key.fingerprint.slice(-8).toLowerCase();
      const k = ok(`rpm -Kv ${f}`, await c.run(['rpm', '--root', '/ked', '-Kv', f]));
      for (const line of [`Header V4 EdDSA/SHA256 Signature, key ID ${edId}: OK`, `V4 EdDSA/SHA256 Signature, key ID ${edId}: OK`, 'Payload SHA256 digest: OK']) {
        assert.ok(k.stdout.includes(line), `${rel.suite} rpm -Kv ${f} lacks "${line}":\n${k.stdout}`);
      }
      assert.match(ok('rpmkeys --checksig (ed25519)', await c.run(['rpmkeys', '--root', '/ked', '--checksig', f])).stdout, /: digests signatures OK$/m);
    });

    await t.test('dnf installs, upgrades and keeps two installonly kernels, with gpgcheck and repo_gpgcheck', async () => {
      const dnf = (...args: string[]) => c.run(['dnf', ...dnfArgs('/target', modern.url, '/reposd'), ...args], { timeoutMs: 300_000, allowFail: true });
      ok('dnf install', await dnf('install', 'kernel-xen-legacy', 'lxl-tools'));
      assert.ok(modern.requests.includes('/yum/stable/repodata/repomd.xml.asc'), 'dnf fetched repomd.xml.asc (repo_gpgcheck)');
      assert.deepEqual(ok('rpm -q', await c.run(['rpm', '--root', '/target', '-q', 'kernel-xen-legacy', 'lxl-tools'])).stdout.trim().split('\n'), [
        'kernel-xen-legacy-6.1.192-1.x86_64',
        'lxl-tools-1.0-1.x86_64',
      ]);
      assert.equal(await readFile(path.join(c.root, 'target/lxl-postinst-marker'), 'utf8'), 'post 1\n', 'postinst ran under dnf');
      assert.match(ok('rpm -q gpg-pubkey', await c.run(['rpm', '--root', '/target', '-q', 'gpg-pubkey'])).stdout, new RegExp(`^gpg-pubkey-${keyId}-`, 'm'));
      await publish(modernRepo, set.step2);
      ok('dnf upgrade', await dnf('--refresh', 'upgrade'));
      assert.deepEqual(ok('rpm -q', await c.run(['rpm', '--root', '/target', '-q', 'kernel-xen-legacy', 'lxl-tools'])).stdout.trim().split('\n').sort(), [
        'kernel-xen-legacy-6.1.192-1.x86_64',
        'kernel-xen-legacy-6.1.193-1.x86_64',
        'lxl-tools-1.1-1.x86_64',
      ]);
      const boot = await readdir(path.join(c.root, 'target/boot'));
      for (const krel of ['6.1.192-xen-legacy', '6.1.193-xen-legacy']) assert.ok(boot.includes(`vmlinuz-${krel}`), `both kernels' files are present (${krel})`);
    });

    await t.test('dnf refuses the repo when repomd.xml.asc is not from the key it trusts', async () => {
      const r = await c.run(['dnf', ...dnfArgs('/refused', modern.url, '/reposd', 'file:///other.asc'), 'install', 'lxl-tools'], { timeoutMs: 300_000, allowFail: true });
      assert.notEqual(r.code, 0, `dnf accepted a repo signed by an untrusted key:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, /repomd\.xml GPG signature verification error/);
      assert.equal((await c.run(['rpm', '--root', '/refused', '-q', 'lxl-tools'], { allowFail: true })).code, 1, 'nothing was installed');
    });

    await t.test('zypper adds the repo with our key, refreshes and installs', async () => {
      ok('rpm --import', await c.run(['sh', '-c', 'mkdir -p /zt && rpm --root /zt --import /key.asc']));
      const z = async (...args: string[]) => ok(`zypper ${args[0]}`, await c.run(['zypper', '--root', '/zt', '--non-interactive', ...args], { timeoutMs: 300_000, allowFail: true }));
      const before = modern.requests.length;
      await z('addrepo', '--refresh', '--check', '--gpgcheck', `${modern.url}/yum/stable/`, 'lxl');
      await z('refresh', 'lxl');
      assert.ok(modern.requests.slice(before).includes('/yum/stable/repodata/repomd.xml.asc'), 'zypper fetched repomd.xml.asc');
      await z('install', 'lxl-tools', 'kernel-xen-legacy');
      // The repo holds step 2 by now: zypper installs the newest.
      assert.deepEqual(ok('rpm -q', await c.run(['rpm', '--root', '/zt', '-q', 'lxl-tools', 'kernel-xen-legacy'])).stdout.trim().split('\n'), [
        'lxl-tools-1.1-1.x86_64',
        'kernel-xen-legacy-6.1.193-1.x86_64',
      ]);
    });

    await t.test(`the el5 repo (sha1 repodata, RSA/SHA-1 rpm signatures): dnf ${rel.sequoia ? 'refuses its packages' : 'installs'}`, async () => {
      const r = await c.run(['dnf', ...dnfArgs('/el5', el5.url, '/reposd'), 'install', 'kernel-xen-legacy'], { timeoutMs: 300_000, allowFail: true });
      assert.ok(el5.requests.includes('/yum/stable/repodata/repomd.xml.asc'), 'dnf fetched repomd.xml.asc (repo_gpgcheck)');
      const q = await c.run(['rpm', '--root', '/el5', '-q', 'kernel-xen-legacy'], { allowFail: true });
      if (rel.sequoia) {
        // The repo metadata verified (repomd.xml.asc is RSA/SHA-256 in both profiles); the packages' SHA-1 signatures did not.
        assert.notEqual(r.code, 0, `dnf installed an el5 rpm under Sequoia's policy:\n${r.stdout}`);
        assert.match(r.stdout + r.stderr, /Error: GPG check FAILED/);
        assert.match(r.stdout + r.stderr, /SHA1 is not considered secure/);
        assert.equal(q.code, 1, 'nothing was installed');
      } else {
        ok('dnf install (el5)', r);
        assert.equal(q.stdout.trim(), 'kernel-xen-legacy-6.1.192-1.x86_64');
      }
    });
  });
}
