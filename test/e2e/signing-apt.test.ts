// apt itself verifies our signatures: `apt-get update` in bullseye (apt 2.2,
// gpgv), bookworm (apt 2.6, gpgv) and trixie (apt 3, sqv) chroots, against a
// minimal file: repository whose Release we sign. InRelease alone, and
// Release + Release.gpg alone (the pre-0.8.11 path), must both be accepted;
// a tampered InRelease and a foreign key must be refused.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { OpenPgpSigner } from '../../repo-layout/signing/openpgp-signer.js';
import { chrootUnavailable, makeChroot, removeChroot, type Chroot, type Suite } from '../support/chroot.js';
import { testKey } from '../support/test-key.js';

const unavailable = chrootUnavailable();

/** A Release for one empty Packages index, dated an hour ago (apt refuses future dates). */
function releaseText(packages: Buffer): string {
  const date = new Date(Date.now() - 3600_000).toUTCString().replace('GMT', 'UTC');
  const sha256 = createHash('sha256').update(packages).digest('hex');
  return [
    'Origin: lxl-test',
    'Label: lxl-test',
    'Suite: stable',
    'Codename: stable',
    `Date: ${date}`,
    'Architectures: amd64',
    'Components: main',
    'SHA256:',
    ` ${sha256} ${packages.length} main/binary-amd64/Packages`,
    '',
  ].join('\n');
}

interface Layout {
  inRelease?: boolean;
  releaseGpg?: boolean;
  tamper?: boolean;
}

/** Writes /srv/repo in the chroot, signed by `signer`, and a sources list trusting `keyring` only. */
async function publish(c: Chroot, signer: OpenPgpSigner, keyring: Uint8Array, layout: Layout): Promise<void> {
  const repo = path.join(c.root, 'srv/repo');
  await rm(repo, { recursive: true, force: true });
  const dists = path.join(repo, 'dists/stable');
  await mkdir(path.join(dists, 'main/binary-amd64'), { recursive: true });
  const packages = Buffer.alloc(0);
  await writeFile(path.join(dists, 'main/binary-amd64/Packages'), packages);
  const release = releaseText(packages);
  await writeFile(path.join(dists, 'Release'), release);
  if (layout.inRelease) {
    let signed = await signer.clearsign(release);
    if (layout.tamper) signed = signed.replace('Label: lxl-test', 'Label: lxl-tesT');
    await writeFile(path.join(dists, 'InRelease'), signed);
  }
  if (layout.releaseGpg) await writeFile(path.join(dists, 'Release.gpg'), await signer.detachArmored(release));
  await writeFile(path.join(c.root, 'srv/key.gpg'), keyring);
  await chmod(path.join(c.root, 'srv/key.gpg'), 0o644);
  await writeFile(path.join(c.root, 'srv/test.list'), 'deb [signed-by=/srv/key.gpg] file:/srv/repo stable main\n');
}

/** apt-get update against /srv/test.list only; resolves to exit code and output. */
async function aptUpdate(c: Chroot): Promise<{ code: number; out: string }> {
  await rm(path.join(c.root, 'var/lib/apt/lists'), { recursive: true, force: true });
  await mkdir(path.join(c.root, 'var/lib/apt/lists/partial'), { recursive: true });
  const r = await c.run(
    ['apt-get', 'update', '-o', 'Dir::Etc::SourceList=/srv/test.list', '-o', 'Dir::Etc::SourceParts=/nonexistent', '-o', 'Debug::Acquire::gpgv=0'],
    { allowFail: true },
  );
  return { code: r.code, out: r.stdout + r.stderr };
}

for (const suite of ['bullseye', 'bookworm', 'trixie'] as Suite[]) {
  test(`apt-get update on ${suite} accepts our InRelease and Release.gpg, refuses tampering and a foreign key`, { skip: unavailable }, async () => {
    const rsa = await testKey({ algorithm: 'rsa4096' });
    const ed = await testKey({ algorithm: 'ed25519' });
    const other = await testKey({ algorithm: 'rsa4096', name: 'lxl-test-other-rsa4096' });
    const c = await makeChroot(suite);
    try {
      if (suite === 'trixie') assert.equal((await c.run(['test', '-x', '/usr/bin/sqv'], { allowFail: true })).code, 0, 'trixie apt verifies with sqv');

      for (const { name, key } of [
        { name: 'rsa4096', key: rsa },
        { name: 'ed25519', key: ed },
      ]) {
        await publish(c, key.signer, key.key.publicBinary, { inRelease: true });
        const ok = await aptUpdate(c);
        assert.equal(ok.code, 0, `${name} InRelease:\n${ok.out}`);
        assert.doesNotMatch(ok.out, /^(W|E|Err):/m, `${name} InRelease:\n${ok.out}`);
        assert.match(ok.out, /^Get:\d+ file:\/srv\/repo stable InRelease/m, ok.out);
      }

      await publish(c, rsa.signer, rsa.key.publicBinary, { releaseGpg: true });
      const old = await aptUpdate(c);
      assert.equal(old.code, 0, `Release.gpg:\n${old.out}`);
      assert.doesNotMatch(old.out, /^(W|E|Err):/m, `Release.gpg:\n${old.out}`);

      await publish(c, rsa.signer, rsa.key.publicBinary, { inRelease: true, tamper: true });
      const tampered = await aptUpdate(c);
      assert.notEqual(tampered.code, 0, `tampered InRelease must fail:\n${tampered.out}`);
      assert.match(tampered.out, /BADSIG|Bad signature|not signed|invalid/i, tampered.out);

      await publish(c, other.signer, rsa.key.publicBinary, { inRelease: true });
      const foreign = await aptUpdate(c);
      assert.notEqual(foreign.code, 0, `foreign key must fail:\n${foreign.out}`);
      assert.match(foreign.out, /NO_PUBKEY|not signed|Missing key|missing|signature/i);
    } finally {
      await removeChroot(c);
    }
  });
}
