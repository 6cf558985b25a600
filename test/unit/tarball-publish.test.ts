// The server's tarball publish (RepoPublisher with formats: ['tarballs']) on a
// local folder, against a stub metadata store: each version folder's
// SHA256SUMS and SHA256SUMS.asc change together (gpgv checks the pair), and a
// signer that fails leaves the pair as it was.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { repoSettingsSchema } from '../../server/config.js';
import type { ArtifactStore } from '../../server/artifact-store.js';
import type { MetadataStore, PackageRecord, RepoRecord } from '../../server/metadata-store.js';
import { RepoPublisher } from '../../server/repo-publisher.js';
import type { Signer } from '../../repo-layout/signing/signer.js';
import { missingTools, run } from '../support/exec.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

test('SHA256SUMS and its signature change together; a failing signer leaves the folder as it was', { skip: missingTools('gpgv') }, async () => {
  const dir = await tempDir('lxl-tarball-publish-');
  const { signer, dir: keyDir } = await testKey();
  const krel = '6.1.192-xen-legacy';
  // Two "tarballs" (the publish copies bytes and lists digests; it does not read them as tar) in the artifact folder.
  const tarball = async (arch: string): Promise<PackageRecord> => {
    const bytes = Buffer.from(`tarball ${arch}\n`);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await writeFile(path.join(dir, sha256), bytes);
    const filename = `linux-xen-legacy-${krel}-${arch}.tar.xz`;
    return { id: arch, repo: 'main', kind: 'tarball', name: 'linux-xen-legacy', version: krel, arch, line: '6.1', filename, sha256, size: bytes.length, channel: 'stable', meta: { krel }, uploadedBy: { kind: 'token', id: 't' }, createdAt: 1 } as unknown as PackageRecord;
  };
  const x86 = await tarball('x86_64');
  const i386 = await tarball('i386');
  let listed = [x86];
  const store = { listPackages: async () => listed } as unknown as MetadataStore;
  const artifacts = { localPath: async (sha: string) => path.join(dir, sha) } as unknown as ArtifactStore;
  const repo: RepoRecord = { name: 'main', settings: repoSettingsSchema.parse({ lines: ['6.1'], formats: ['tarballs'] }), createdAt: 0, updatedAt: 0 };
  const publisher = (s: Signer) => new RepoPublisher({ store, artifacts, publicDir: path.join(dir, 'public'), stateDir: path.join(dir, 'state'), signer: s, log: pino({ level: 'silent' }) });
  const folder = path.join(dir, 'public/tarballs/main', krel);
  const pair = async () => [await readFile(path.join(folder, 'SHA256SUMS'), 'utf8'), await readFile(path.join(folder, 'SHA256SUMS.asc'), 'utf8')];
  const verify = () => run('gpgv', ['--keyring', path.join(keyDir, 'lxl-test-rsa4096.gpg'), path.join(folder, 'SHA256SUMS.asc'), path.join(folder, 'SHA256SUMS')]);

  await publisher(signer).publish(repo, new AbortController().signal);
  const first = await pair();
  assert.equal(first[0], `${x86.sha256}  ${x86.filename}\n`);
  await verify();

  // The i386 tarball joins the folder, but the signer fails: the published pair stays the old one and still verifies.
  listed = [x86, i386];
  const broken = Object.create(signer) as Signer;
  broken.detachArmored = async () => {
    throw new Error('the signing service is down');
  };
  await assert.rejects(publisher(broken).publish(repo, new AbortController().signal), /the signing service is down/);
  assert.deepEqual(await pair(), first);
  await verify();

  await publisher(signer).publish(repo, new AbortController().signal);
  const [sums] = await pair();
  assert.deepEqual(sums.trim().split('\n').sort(), [`${i386.sha256}  ${i386.filename}`, `${x86.sha256}  ${x86.filename}`].sort());
  await verify();
});
