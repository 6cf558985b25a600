// Crash safety at EVERY write boundary (complements the random SIGKILL trials
// of publish-crash-fs/-s3): for k = 0, 1, 2, … the publish of a new version
// (APT + YUM) is stopped right after its k-th storage write (later writes
// fail, as if the process died), then apt-get update (bookworm chroot) and
// dnf makecache (--installroot, repo_gpgcheck=1) must show the old or the new
// state, and a rerun must complete the publish. Writes are made one file at a
// time here (no batch), so each boundary is a distinct state on disk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chrootUnavailable, makeChroot, removeChroot } from '../support/chroot.js';
import { publishChange, WRITES, YUM_NAME } from '../support/crash-publish.js';
import { aptClient, buildFixtures, dnfClient, versionOf } from '../support/crash-trials.js';
import { missingTools } from '../support/exec.js';
import { serveStatic } from '../support/http-static.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';
import { FsStorage } from '../../storage/fs-storage.js';
import { openStorage, storageConfigFromUrl } from '../../storage/storage-config.js';
import { run } from '../support/exec.js';
import { s3Unavailable, startS3Server } from '../support/s3-server.js';
import type { PublishedStorage } from '../../storage/storage.js';

const skip = chrootUnavailable() ?? missingTools('dnf', 'rpm', 'xz');
const s3skip = s3Unavailable() ?? missingTools('gpgv', 'xz');

class Stopped extends Error {}

/** A storage that lets the first `limit` writes through (or those before `limit()` turns true) and fails every later one; putMany is hidden so writes go one by one. */
function stopAfter(inner: PublishedStorage, limit: number | (() => boolean), written: string[]): PublishedStorage {
  const done = typeof limit === 'number' ? () => written.length >= limit : limit;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'putMany') return undefined;
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const fn = (v as (...a: unknown[]) => Promise<unknown>).bind(target);
      if (!WRITES.has(prop)) return fn;
      return async (...a: unknown[]) => {
        const key = String(prop === 'copy' ? a[1] : a[0]);
        if (done()) throw new Stopped(`stopped before ${key}`);
        written.push(`${String(prop)} ${key}`);
        return fn(...a);
      };
    },
  });
}

test('a publish stopped after each of its writes leaves the old or new state served (apt-get, dnf), and a rerun completes', { skip, timeout: 30 * 60_000 }, async (t) => {
  const dir = await tempDir('lxl-crash-points-');
  const { signer, dir: keyDir } = await testKey();
  const MAX = 80;
  const fixtures = await buildFixtures(path.join(dir, 'pkgs'), MAX + 1, signer, 64 * 1024);
  const publicDir = path.join(dir, 'public');
  await mkdir(publicDir, { recursive: true });
  const http = await serveStatic(publicDir);
  // YUM grace 0: every publish then makes the same number of writes (with a grace period, each new repodata
  // generation also carries the earlier metadata files, one more write each, and the stop points would never run out).
  const job = (i: number) => ({ storage: publicDir, stateDir: path.join(dir, 'state'), keyFile: path.join(keyDir, 'lxl-test-rsa4096.secret.asc'), baseUrl: http.url, debs: [fixtures.debs[i]!], rpms: [fixtures.rpms[i]!], yumGraceHours: 0 });
  const versions = (n: number): string[] => Array.from({ length: n }, (_, i) => versionOf(i)).sort();
  await publishChange(job(0), { signer });
  const c = await makeChroot('bookworm');
  try {
    const apt = await aptClient(c, http.url, Buffer.from(signer.publicKeyBinary()));
    const dnf = await dnfClient(path.join(dir, 'dnf'), http.url);
    const failures: string[] = [];
    const written0: string[] = [];
    let i = 1;
    for (let k = 0; ; k++, i++) {
      assert.ok(i < MAX, 'publish has fewer writes than fixtures');
      const written: string[] = [];
      const storage = stopAfter(new FsStorage({ root: publicDir }), k, written);
      const stopped = await publishChange(job(i), { signer, storage }).then(() => false, (err: unknown) => {
        if (err instanceof Stopped) return true;
        throw err;
      });
      const at = written.at(-1) ?? '(no write)';
      const ok = (seen: string[]) => [versions(i), versions(i + 1)].some((v) => JSON.stringify(v) === JSON.stringify(seen));
      const state = (seen: string[]) => (seen.length === i ? 'old' : 'new');
      const [a, d] = await Promise.allSettled([apt(), dnf()]);
      const problems = [
        a.status === 'rejected' ? `apt: ${(a.reason as Error).message}` : ok(a.value.versions) ? '' : `apt lists [${a.value.versions.join(' ')}]`,
        d.status === 'rejected' ? `dnf: ${(d.reason as Error).message}` : ok(d.value.versions) ? '' : `dnf lists [${d.value.versions.join(' ')}]`,
      ].filter(Boolean);
      if (problems.length) failures.push(`after write ${k} (${at}): ${problems.join('; ')}`);
      await publishChange(job(i), { signer });
      const [a2, d2] = await Promise.all([apt(), dnf()]);
      assert.deepEqual([a2.versions, d2.versions], [versions(i + 1), versions(i + 1)], `rerun after write ${k} publishes the new state`);
      const shown = (r: PromiseSettledResult<{ versions: string[] }>) => (r.status === 'fulfilled' ? state(r.value.versions) : 'BROKEN');
      console.log(`# stop after write ${k} (${at}): apt ${shown(a)}, dnf ${shown(d)}; rerun ok`);
      if (!stopped) {
        written0.push(...written);
        console.log(`# ${k + 1} stop points checked (${k} writes per publish), ${failures.length} left a broken state`);
        break;
      }
    }
    // The local folder publishes YUM repodata as a generation directory behind a `repodata` symlink swapped in one
    // rename, so no stop point (not even the one between repomd.xml and repomd.xml.asc) leaves a pair dnf rejects.
    assert.ok(written0.some((w) => w.startsWith('linkDirectory ')), 'the YUM publish swaps the repodata link');
    assert.deepEqual(failures, [], 'every stop point leaves the old or the new state served');
  } finally {
    await removeChroot(c);
  }
});

// S3 has no atomic swap of two objects (and a detached signature holding both the old and the new repomd.xml's
// signatures does not help: librepo checks only the first signature, zypper and gpgv want every one good). The pair is
// written by one parallel batch, so the window is the time between the two PUTs completing; a publish that dies inside
// it leaves a pair dnf rejects until the next publish. This subtest shows that state and stays TODO until S3 can do better.
test('S3: a publish stopped between the repomd.xml and repomd.xml.asc PUTs leaves a verifiable pair', { skip: s3skip, timeout: 10 * 60_000 }, async (t) => {
  const dir = await tempDir('lxl-crash-points-s3-');
  const srv = await startS3Server('lxl-points');
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) process.env[k] = srv.env[k];
  const { signer, dir: keyDir } = await testKey();
  const fixtures = await buildFixtures(path.join(dir, 'pkgs'), 2, signer, 1024);
  const url = `s3://${srv.bucket}?endpoint=${encodeURIComponent(srv.endpoint)}&pathStyle=true&checksums=WHEN_REQUIRED`;
  const job = (i: number) => ({ storage: url, stateDir: path.join(dir, 'state'), keyFile: path.join(keyDir, 'lxl-test-rsa4096.secret.asc'), baseUrl: `${srv.endpoint}/${srv.bucket}`, debs: [fixtures.debs[i]!], rpms: [fixtures.rpms[i]!] });
  await publishChange(job(0), { signer });
  const s3 = openStorage(storageConfigFromUrl(url));
  assert.equal(s3.linkDirectory, undefined, 'S3 has no directory swap');
  // Stop the second publish right after its repomd.xml PUT.
  const written: string[] = [];
  const last = `put yum/${YUM_NAME}/repodata/repomd.xml`;
  await assert.rejects(publishChange(job(1), { signer, storage: stopAfter(s3, () => written.at(-1) === last, written) }), Stopped);
  assert.equal(written.at(-1), `put yum/${YUM_NAME}/repodata/repomd.xml`);
  const pair = path.join(dir, 'pair');
  await mkdir(pair, { recursive: true });
  for (const n of ['repomd.xml', 'repomd.xml.asc']) await writeFile(path.join(pair, n), await s3.getBytes(`yum/${YUM_NAME}/repodata/${n}`));
  const v = await run('gpgv', ['--keyring', path.join(keyDir, 'lxl-test-rsa4096.gpg'), path.join(pair, 'repomd.xml.asc'), path.join(pair, 'repomd.xml')], { allowFail: true });
  await t.test('repomd.xml.asc verifies repomd.xml after the stop (S3 has no atomic pair write)', { todo: 'S3 cannot swap repomd.xml and repomd.xml.asc at once; see README, Storage' }, () => {
    assert.equal(v.code, 0, v.stderr);
  });
  // The rerun completes the publish and the pair verifies again.
  await publishChange(job(1), { signer });
  for (const n of ['repomd.xml', 'repomd.xml.asc']) await writeFile(path.join(pair, n), await s3.getBytes(`yum/${YUM_NAME}/repodata/${n}`));
  await run('gpgv', ['--keyring', path.join(keyDir, 'lxl-test-rsa4096.gpg'), path.join(pair, 'repomd.xml.asc'), path.join(pair, 'repomd.xml')]);
});
