// A whole APT publish to S3 through a proxy that fails 15% of requests (500,
// 503, dropped connections; seeded). Each publish either succeeds through
// retries or fails with a StorageError; either way apt-get (bookworm chroot)
// updating from the S3 server's own HTTP endpoint sees the old state or the
// new one with no hash mismatch, and a fault-free rerun completes the publish.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { JsonAptCatalog } from '../../repo-layout/apt/apt-catalog.js';
import { addDebs } from '../../repo-layout/apt/apt-changes.js';
import { publishApt } from '../../repo-layout/apt/apt-publish.js';
import { LxlError } from '../../repo-layout/errors.js';
import type { Signer } from '../../repo-layout/signing/signer.js';
import { S3Storage } from '../../storage/s3-storage.js';
import { makeDeb } from '../support/apt-debs.js';
import { chrootUnavailable, makeChroot, removeChroot, type Chroot } from '../support/chroot.js';
import { missingTools } from '../support/exec.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { s3Unavailable, startS3Server, S3RVER_CREDENTIALS } from '../support/s3-server.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const PKG = 'linux-image-6.1.192-xen-legacy';
const META = 'linux-xen-legacy';
const TRIALS = 6;
const skip = s3Unavailable() ?? chrootUnavailable() ?? missingTools('xz');

async function aptUpdate(c: Chroot): Promise<string> {
  const r = await c.run(['apt-get', 'update'], { allowFail: true });
  const bad = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /^(W|E|N|Err):/.test(l.trim()) || /Hash Sum mismatch|File has unexpected size/.test(l));
  assert.deepEqual(bad, [], `apt-get update (exit ${r.code}) printed:\n${r.stdout}${r.stderr}`);
  assert.equal(r.code, 0);
  const policy = await c.run(['apt-cache', 'policy', PKG]);
  return /Candidate: (\S+)/.exec(policy.stdout)?.[1] ?? '(none)';
}

test(`${TRIALS} publishes through a 15% faulty S3 connection (2 attempts per request): apt-get sees old or new, never broken; reruns complete`, { skip }, async () => {
  const srv = await startS3Server('faulty-publish');
  const proxy = await startFaultProxy({ upstream: srv.endpoint, seed: 2026, failRate: 0.15 });
  const opts = { bucket: srv.bucket, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' as const, credentials: S3RVER_CREDENTIALS };
  const direct = new S3Storage({ ...opts, endpoint: srv.endpoint });
  const flaky = new S3Storage({ ...opts, endpoint: proxy.endpoint, maxAttempts: 2 });
  const work = await tempDir('lxl-s3-pubfault-');
  const catalog = new JsonAptCatalog({ stateDir: path.join(work, 'state') });
  const { signer } = await testKey();
  const url = `${srv.endpoint}/${srv.bucket}`;
  const debsFor = async (version: string): Promise<string[]> => {
    const dir = path.join(work, version);
    await mkdir(dir, { recursive: true });
    return Promise.all([
      makeDeb(dir, { name: PKG, version, arch: 'x86_64' }),
      makeDeb(dir, { name: META, version, arch: 'all', depends: [`${PKG} (= ${version})`] }),
    ]);
  };
  const publish = async (storage: S3Storage, s: Signer, files: string[]): Promise<void> => {
    await addDebs({ storage, catalog, suite: 'stable', files });
    await publishApt({ storage, catalog, signer: s, origin: 'lxl-test', label: 'lxl-test', baseUrl: url });
  };

  await publish(direct, signer, await debsFor('6.1.192+0'));
  const c = await makeChroot('bookworm');
  try {
    await rm(path.join(c.root, 'etc/apt/sources.list'), { force: true });
    await rm(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true, force: true });
    await mkdir(path.join(c.root, 'etc/apt/sources.list.d'), { recursive: true });
    await mkdir(path.join(c.root, 'etc/apt/keyrings'), { recursive: true });
    await writeFile(path.join(c.root, 'etc/apt/keyrings/lxl.gpg'), await direct.getBytes('keys/linux-xen-legacy.gpg'));
    await writeFile(
      path.join(c.root, 'etc/apt/sources.list.d/lxl.sources'),
      `Types: deb\nURIs: ${url}/apt\nSuites: stable\nComponents: main\nSigned-By: /etc/apt/keyrings/lxl.gpg\n`,
    );
    assert.equal(await aptUpdate(c), '6.1.192+0');

    let failedPublishes = 0;
    let passed = 0;
    let prev = '6.1.192+0';
    for (let n = 1; n <= TRIALS; n++) {
      const version = `6.1.192+${n}`;
      const files = await debsFor(version);
      proxy.setFailRate(0.15);
      try {
        await publish(flaky, signer, files);
      } catch (err) {
        assert.ok(err instanceof LxlError && err.code === 'E_STORAGE', `publish failed with ${(err as Error).name}: ${(err as Error).message}`);
        failedPublishes++;
      }
      const seen = await aptUpdate(c);
      assert.ok(seen === prev || seen === version, `trial ${n}: apt sees ${seen}, expected ${prev} or ${version}`);
      proxy.setFailRate(0);
      await publish(flaky, signer, files);
      assert.equal(await aptUpdate(c), version, `trial ${n}: the rerun completed the publish`);
      prev = version;
      passed++;
    }
    await c.run(['apt-get', '-o', 'Dpkg::Use-Pty=0', 'install', '-y', META]);
    assert.equal((await c.run(['dpkg-query', '-W', '-f=${Version}', PKG])).stdout.trim(), prev);
    process.stdout.write(`# s3 publish-fault trials passed: ${passed}/${TRIALS} (${failedPublishes} publishes failed cleanly, ${JSON.stringify(proxy.stats.injected)} injected)\n`);
    assert.equal(passed, TRIALS);
    assert.ok(proxy.stats.injected['500'] + proxy.stats.injected['503'] + proxy.stats.injected.drop > 0, 'faults were injected');
  } finally {
    await removeChroot(c);
  }
});
