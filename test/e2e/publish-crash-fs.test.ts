// Crash safety on the local-folder backend: ≥50 trials, each SIGKILLs a
// publish (APT + YUM, new package version) at a seeded random point, then
// apt-get update (bookworm chroot) and dnf makecache (--installroot, signed
// repodata) against the folder served over HTTP must show the old or the new
// state, and a rerun must complete the publish. LXL_CRASH_TRIALS and
// LXL_CRASH_SEED change the count and the seed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chrootUnavailable, makeChroot, removeChroot } from '../support/chroot.js';
import { aptClient, buildFixtures, dnfClient, runCrashTrials } from '../support/crash-trials.js';
import { missingTools } from '../support/exec.js';
import { serveStatic } from '../support/http-static.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const TRIALS = Number(process.env.LXL_CRASH_TRIALS ?? 50);
const SEED = Number(process.env.LXL_CRASH_SEED ?? 20261128);
const skip = chrootUnavailable() ?? missingTools('dnf', 'rpm', 'xz');

test(`local folder: ${TRIALS} SIGKILLed publishes each leave the old or new state served (apt-get, dnf), and a rerun completes`, { skip, timeout: 60 * 60_000 }, async () => {
  const dir = await tempDir('lxl-crash-fs-');
  const { signer, dir: keyDir } = await testKey();
  const fixtures = await buildFixtures(path.join(dir, 'pkgs'), TRIALS + 2, signer, 512 * 1024);
  const publicDir = path.join(dir, 'repo', 'public');
  await mkdir(publicDir, { recursive: true });
  const http = await serveStatic(publicDir);
  const keyFile = path.join(keyDir, 'lxl-test-rsa4096.secret.asc');
  const c = await makeChroot('bookworm');
  try {
    const report = await runCrashTrials({
      job: { storage: publicDir, stateDir: path.join(dir, 'repo', 'state'), keyFile, baseUrl: http.url },
      fixtures,
      signer,
      apt: await aptClient(c, http.url, Buffer.from(signer.publicKeyBinary())),
      dnf: await dnfClient(path.join(dir, 'dnf'), http.url),
      trials: TRIALS,
      seed: SEED,
      log: (l) => console.log(`# ${l}`),
    });
    console.log(`# local folder: ${report.passed}/${TRIALS} crash trials passed in ${Math.round(report.durationMs / 1000)} s; kill points: ${[...report.points].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    assert.deepEqual(report.failed, []);
    assert.equal(report.passed, TRIALS);
    if (TRIALS >= 20) assert.ok(report.points.size >= 4, 'kills landed in several publish phases');
    assert.ok(await readFile(path.join(publicDir, 'apt/project/trace/lxl-crash'), 'utf8'));
  } finally {
    await removeChroot(c);
  }
});
