// Crash safety on the S3 backend (a real s3rver process, served by its own
// HTTP endpoint): ≥50 trials, each SIGKILLs a publish (APT + YUM, new package
// version) at a seeded random point, then apt-get update (bookworm chroot)
// and dnf makecache (--installroot, signed repodata) must show the old or the
// new state, and a rerun must complete the publish. The one exception is S3's
// documented window between the repomd.xml and repomd.xml.asc PUTs (README,
// Storage): a kill there may leave a pair dnf rejects until the rerun; such
// trials are counted and printed apart, with apt and the rerun still checked. LXL_CRASH_TRIALS and
// LXL_CRASH_SEED change the count and the seed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { chrootUnavailable, makeChroot, removeChroot } from '../support/chroot.js';
import { aptClient, buildFixtures, dnfClient, runCrashTrials } from '../support/crash-trials.js';
import { missingTools } from '../support/exec.js';
import { s3Unavailable, startS3Server } from '../support/s3-server.js';
import { testKey } from '../support/test-key.js';
import { tempDir } from '../support/tmp.js';

const TRIALS = Number(process.env.LXL_CRASH_TRIALS ?? 50);
const SEED = Number(process.env.LXL_CRASH_SEED ?? 20261129);
const skip = s3Unavailable() ?? chrootUnavailable() ?? missingTools('dnf', 'rpm', 'xz');

test(`S3: ${TRIALS} SIGKILLed publishes each leave the old or new state served (apt-get, dnf), and a rerun completes`, { skip, timeout: 60 * 60_000 }, async () => {
  const dir = await tempDir('lxl-crash-s3-');
  const srv = await startS3Server('lxl-crash');
  // The in-process rerun and the child both take credentials from the standard chain (env).
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) process.env[k] = srv.env[k];
  const { signer, dir: keyDir } = await testKey();
  const fixtures = await buildFixtures(path.join(dir, 'pkgs'), TRIALS + 2, signer, 512 * 1024);
  const url = `${srv.endpoint}/${srv.bucket}`;
  const storage = `s3://${srv.bucket}?endpoint=${encodeURIComponent(srv.endpoint)}&pathStyle=true&checksums=WHEN_REQUIRED`;
  const c = await makeChroot('bookworm');
  try {
    const report = await runCrashTrials({
      job: { storage, stateDir: path.join(dir, 'state'), keyFile: path.join(keyDir, 'lxl-test-rsa4096.secret.asc'), baseUrl: url },
      fixtures,
      signer,
      env: srv.env,
      apt: await aptClient(c, url, Buffer.from(signer.publicKeyBinary())),
      dnf: await dnfClient(path.join(dir, 'dnf'), url),
      trials: TRIALS,
      seed: SEED,
      log: (l) => console.log(`# ${l}`),
      pairWindow: true,
    });
    console.log(`# S3: ${report.passed}/${TRIALS} crash trials passed in ${Math.round(report.durationMs / 1000)} s (${report.pairWindow} of them killed inside the repomd.xml/.asc pair window, where dnf rejected the pair until the rerun: README, Storage); kill points: ${[...report.points].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    assert.deepEqual(report.failed, []);
    assert.equal(report.passed, TRIALS);
    if (TRIALS >= 20) assert.ok(report.points.size >= 4, 'kills landed in several publish phases');
  } finally {
    await removeChroot(c);
  }
});
