// Crash safety at EVERY write boundary (complements the random SIGKILL trials
// of publish-crash-fs/-s3): for k = 0, 1, 2, … the publish of a new version
// (APT + YUM) is stopped right after its k-th storage write (later writes
// fail, as if the process died), then apt-get update (bookworm chroot) and
// dnf makecache (--installroot, repo_gpgcheck=1) must show the old or the new
// state, and a rerun must complete the publish. Writes are made one file at a
// time here (no batch), so each boundary is a distinct state on disk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chrootUnavailable, makeChroot, removeChroot } from '../support/chroot.js';
import { publishChange } from '../support/crash-publish.js';
import { aptClient, buildFixtures, dnfClient, versionOf } from '../support/crash-trials.js';
import { missingTools } from '../support/exec.js';
import { serveStatic } from '../support/http-static.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';
import { FsStorage } from '../../storage/fs-storage.js';
import type { PublishedStorage } from '../../storage/storage.js';

const skip = chrootUnavailable() ?? missingTools('dnf', 'rpm', 'xz');

class Stopped extends Error {}

/** A storage that lets the first `limit` writes through and fails every later one; putMany is hidden so writes go one by one. */
function stopAfter(inner: PublishedStorage, limit: number, written: string[]): PublishedStorage {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'putMany') return undefined;
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const fn = (v as (...a: unknown[]) => Promise<unknown>).bind(target);
      if (prop !== 'put' && prop !== 'putIfAbsent' && prop !== 'delete') return fn;
      return async (...a: unknown[]) => {
        if (written.length >= limit) throw new Stopped(`stopped before ${String(a[0])}`);
        written.push(`${String(prop)} ${String(a[0])}`);
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
  const job = (i: number) => ({ storage: publicDir, stateDir: path.join(dir, 'state'), keyFile: path.join(keyDir, 'lxl-test-rsa4096.secret.asc'), baseUrl: http.url, debs: [fixtures.debs[i]!], rpms: [fixtures.rpms[i]!] });
  const versions = (n: number): string[] => Array.from({ length: n }, (_, i) => versionOf(i)).sort();
  await publishChange(job(0), { signer });
  const c = await makeChroot('bookworm');
  try {
    const apt = await aptClient(c, http.url, Buffer.from(signer.publicKeyBinary()));
    const dnf = await dnfClient(path.join(dir, 'dnf'), http.url);
    const failures: string[] = [];
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
        console.log(`# ${k + 1} stop points checked (${k} writes per publish), ${failures.length} left a broken state`);
        break;
      }
    }
    // Known gap (issue 5 stays open for it): between the writes of repomd.xml and repomd.xml.asc a
    // stopped YUM publish leaves a pair that dnf rejects ("Bad GPG signature"). It needs an atomic
    // swap of the pair, which the local folder could do with a symlinked repodata generation and S3
    // cannot do at all. It is reported as a TODO subtest, so it stays visible without failing CI.
    const known = failures.filter((f) => /repomd\.xml\)/.test(f) && !/apt:|apt lists/.test(f));
    await t.test('the stop between repomd.xml and repomd.xml.asc (known gap)', { todo: 'needs an atomic swap of the repomd.xml/.asc pair' }, () => {
      assert.deepEqual(known, []);
    });
    assert.deepEqual(failures.filter((f) => !known.includes(f)), [], 'every other stop point leaves the old or the new state served');
  } finally {
    await removeChroot(c);
  }
});
